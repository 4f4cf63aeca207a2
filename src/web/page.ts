/**
 * The page (web/index.html): picks a model folder (and, for GPTQ or QuantEase, a calibration text), starts the quantizing worker
 * (quantize-worker.ts) and shows what it reports: progress with rate and ETA, a row per layer as
 * it finishes, perplexity before and after, and the GGUF file to download or stream to disk.
 * Errors are one readable line in the page; the work never runs on this thread, so the tab stays
 * responsive whatever the model's size.
 */
import { MIXES } from '../quant/ggml/mixes.js';
import type { MountedFile } from './browser-files.js';
import type { QuantizeRequest, WorkerMessage } from './protocol.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const folder = $<HTMLInputElement>('folder'), ggufSelect = $<HTMLSelectElement>('gguf'), start = $<HTMLButtonElement>('start');
const errorBox = $<HTMLParagraphElement>('error');

for (const m of MIXES) ggufSelect.add(new Option(m, m, m === 'Q4_K_M', m === 'Q4_K_M'));

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

function showError(message: string): void {
  errorBox.textContent = message;
  errorBox.hidden = false;
  start.disabled = picked().length === 0;
}

function picked(): MountedFile[] {
  return [...(folder.files ?? [])].map((f) => ({ path: f.webkitRelativePath || f.name, file: f }));
}

/** Checks the picked folder before any work: one line naming what is missing. */
function checkFolder(files: MountedFile[]): string | null {
  if (files.length === 0) return 'the folder is empty: pick a model folder';
  const names = new Set(files.map((f) => f.path.split('/').slice(1).join('/')));
  const root = files[0].path.split('/')[0];
  if (!names.has('config.json')) return `${root}: no config.json in the folder: pick a Hugging Face model folder (config.json, *.safetensors, tokenizer.json)`;
  if (![...names].some((n) => n.endsWith('.safetensors'))) return `${root}: no .safetensors weights in the folder`;
  return null;
}

const methodSelect = $<HTMLSelectElement>('method');
methodSelect.addEventListener('change', () => {
  $('calibration').hidden = methodSelect.value === 'rtn';
});

folder.addEventListener('change', () => {
  errorBox.hidden = true;
  const files = picked();
  const problem = checkFolder(files);
  const bytes = files.reduce((s, f) => s + f.file.size, 0);
  $('model-info').textContent = files.length ? `${files[0].path.split('/')[0]}: ${files.length} files, ${mib(bytes)}` : '';
  if (problem) return showError(problem);
  start.disabled = false;
});

/**
 * The memory this run may use: the page's `?memory=<GiB>` when given (a budget, e.g. on a shared
 * machine), else what the browser reports (Chromium: navigator.deviceMemory, GiB, capped at 8).
 */
function memoryBudgetGiB(): number | undefined {
  const asked = Number(new URLSearchParams(location.search).get('memory'));
  return asked > 0 ? asked : (navigator as { deviceMemory?: number }).deviceMemory;
}

function memoryProblem(files: MountedFile[], evaluating: boolean): string | null {
  const deviceGiB = memoryBudgetGiB();
  const weights = files.filter((f) => f.path.endsWith('.safetensors')).reduce((s, f) => s + f.file.size, 0);
  // Evaluation widens the weights to f32 (twice bf16's bytes); quantization holds a few tensors at a time.
  const needed = evaluating ? 2 * weights : 0;
  if (deviceGiB && needed > deviceGiB * 2 ** 30 * 0.75)
    return `not enough memory to evaluate this model in the browser: it needs about ${(needed / 2 ** 30).toFixed(1)} GiB, this page may use ${deviceGiB} GiB; quantize without an evaluation text`;
  return null;
}

start.addEventListener('click', async () => {
  errorBox.hidden = true;
  const files = picked();
  const problem = checkFolder(files);
  if (problem) return showError(problem);
  const textFile = $<HTMLInputElement>('eval-text').files?.[0];
  const memory = memoryProblem(files, textFile !== undefined);
  if (memory) return showError(memory);
  const method = methodSelect.value as QuantizeRequest['method'];
  const calibFile = $<HTMLInputElement>('calib-text').files?.[0];
  if (method !== 'rtn' && !calibFile) return showError(`${method} needs a calibration text: pick one (never the text you evaluate on)`);
  const calibNumber = (id: string, min: number) => {
    const v = Number($<HTMLInputElement>(id).value);
    return Number.isInteger(v) && v >= min ? v : null;
  };
  const samples = calibNumber('calib-samples', 1), seqLen = calibNumber('calib-seq-len', 8);
  if (method !== 'rtn' && (samples === null || seqLen === null)) return showError('calibration windows and tokens a window must be whole numbers (at least 1 and 8)');
  // Asked now, while the click still counts as the person's gesture.
  let saveTo: FileSystemFileHandle | null = null;
  const picker = (window as { showSaveFilePicker?: (o: unknown) => Promise<FileSystemFileHandle> }).showSaveFilePicker;
  if ($<HTMLInputElement>('save-direct').checked && picker) {
    try {
      saveTo = await picker({ suggestedName: `${files[0].path.split('/')[0]}-${ggufSelect.value}.gguf` });
    } catch {
      return; // the person cancelled
    }
  }
  start.disabled = true;
  run({
    kind: 'quantize', files, gguf: ggufSelect.value, method, device: $<HTMLSelectElement>('device').value as 'gpu' | 'cpu',
    calib: method !== 'rtn' && calibFile ? { file: calibFile, name: calibFile.name, samples: samples!, seqLen: seqLen! } : undefined,
    evalText: textFile ? await textFile.text() : undefined,
    workers: Math.max(1, Math.min(8, (navigator.hardwareConcurrency || 2) - 1)),
  }, saveTo);
});

function run(req: QuantizeRequest, saveTo: FileSystemFileHandle | null): void {
  $('run').hidden = false;
  const stage = $('stage'), bar = $<HTMLProgressElement>('bar'), rate = $('rate'), rows = $('layers').querySelector('tbody')!;
  rows.replaceChildren();
  $('ppl').replaceChildren();
  $('download').hidden = true;
  bar.value = 0;
  const worker = new Worker(new URL('./quantize-worker.js', import.meta.url), { type: 'module' });
  let started = 0;
  worker.onerror = (e) => {
    showError(`the quantizing worker stopped: ${e.message || 'out of memory?'}`);
    worker.terminate();
  };
  worker.onmessage = async (e: MessageEvent<WorkerMessage>) => {
    const m = e.data;
    switch (m.kind) {
      case 'stage':
        stage.textContent = m.text;
        break;
      case 'progress': {
        started ||= performance.now();
        bar.value = m.done / m.total;
        const seconds = (performance.now() - started) / 1000, perSecond = m.done / Math.max(seconds, 1e-3);
        // RTN counts parameters; the calibrated methods count layers (and say what they are doing).
        rate.textContent = req.method === 'rtn'
          ? `${(m.done / 1e6).toFixed(1)}M of ${(m.total / 1e6).toFixed(1)}M parameters · ${(perSecond / 1e6).toFixed(1)}M/s · ETA ${((m.total - m.done) / perSecond).toFixed(0)} s`
          : `${m.done} of ${m.total} layers · ${m.tensor} · ${m.done ? `ETA ${((m.total - m.done) / perSecond).toFixed(0)} s` : ''}`;
        break;
      }
      case 'layer': {
        const tr = rows.insertRow();
        const err = m.relError ?? 0;
        tr.innerHTML = `<td></td><td>${m.type}</td><td class="num">${m.bitsPerWeight.toFixed(3)}</td><td class="num">${m.relError === null ? '' : err.toExponential(2)}</td><td><span class="barcell" style="width:${Math.min(200, Math.max(1, 2000 * Math.sqrt(err)))}px"></span></td>`;
        tr.cells[0].textContent = m.layer;
        break;
      }
      case 'perplexity': {
        const p = document.createElement('p');
        p.className = `ppl-${m.which}`;
        p.textContent = `perplexity ${m.which}: ${m.perplexity.toFixed(3)} over ${m.tokens} tokens (${m.backend}, ${m.seconds.toFixed(1)} s)`;
        $('ppl').append(p);
        break;
      }
      case 'done': {
        worker.terminate();
        stage.textContent = `done: ${m.name}, ${mib(m.bytes)}, ${m.bitsPerWeight.toFixed(3)} bits per weight over ${(m.params / 1e6).toFixed(1)}M quantized parameters, in ${m.seconds.toFixed(1)} s`;
        bar.value = 1;
        const a = $<HTMLAnchorElement>('download');
        a.href = URL.createObjectURL(m.gguf);
        a.download = m.name;
        a.textContent = `Download ${m.name} (${mib(m.bytes)})`;
        a.hidden = false;
        if (saveTo) {
          stage.textContent += ' · saving…';
          await m.gguf.stream().pipeTo(await saveTo.createWritable());
          stage.textContent = stage.textContent.replace(' · saving…', ' · saved');
        }
        start.disabled = false;
        break;
      }
      case 'error':
        worker.terminate();
        stage.textContent = 'stopped';
        showError(m.message);
        break;
    }
  };
  worker.postMessage(req);
}
