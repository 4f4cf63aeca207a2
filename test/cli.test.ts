/**
 * The CLI end to end: the happy paths on a tiny model and on the embedded default, and every
 * kind of bad input, which must give one line on stderr naming the file, a non-zero exit code,
 * and no output directory (not even a temporary one).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ASSETS, ROOT, makeTinyModel, runCli, tmpDir } from './helpers.js';
import { VERSION } from '../src/util/version.js';

test('quantize then eval a tiny model; lowbit.json says what the directory is', () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'model'));
  const out = path.join(dir, 'q');
  const q = runCli(['quantize', model, '--method', 'rtn', '--bits', '3', '--group-size', '32', '--out', out, '--json']);
  assert.equal(q.code, 0, q.stderr);
  const summary = JSON.parse(q.stdout);
  // 2 layers x (q 64x64 + k,v 32x64 + o 64x64 + gate,up 96x64 + down 64x96) = 2 x 30720 params;
  // per group of 32: 3 bits x 32 + 16-bit scale + 3-bit zero -> 3 + 19/32 bits per weight.
  assert.equal(summary.summary.quantizedParams, 2 * 30720);
  assert.ok(Math.abs(summary.summary.bitsPerWeight - (3 + 19 / 32)) < 1e-12);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'lowbit.json'), 'utf8'));
  assert.equal(manifest.method, 'rtn');
  assert.equal(manifest.options.bits, 3);
  assert.equal(manifest.options.groupSize, 32);
  assert.equal(manifest.lowbit.version, VERSION);
  assert.equal(manifest.source.path, path.resolve(model));
  for (const f of ['config.json', 'tokenizer.json', 'model.safetensors']) assert.ok(fs.existsSync(path.join(out, f)), f);

  const data = path.join(dir, 'text.txt');
  fs.writeFileSync(data, fs.readFileSync(ASSETS.heldout, 'utf8').slice(0, 20000));
  const base = runCli(['eval', model, '--data', data, '--seq-len', '64', '--json']);
  const quant = runCli(['eval', out, '--data', data, '--seq-len', '64', '--json']);
  assert.equal(base.code, 0, base.stderr);
  assert.equal(quant.code, 0, quant.stderr);
  const b = JSON.parse(base.stdout), r = JSON.parse(quant.stdout);
  assert.equal(typeof r.ppl, 'number');
  assert.ok(r.ppl > 1 && Number.isFinite(r.ppl));
  assert.equal(r.quantized, true);
  assert.equal(b.windows, r.windows);
  assert.notEqual(r.ppl, b.ppl);
  assert.ok(r.peakRssMiB > 0);
});

test('inspect reports the architecture and the exact parameter count', () => {
  const model = makeTinyModel(path.join(tmpDir(), 'model'));
  const r = runCli(['inspect', model, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.architecture, 'llama');
  // embed + lm_head 2 x 4096 x 64, final norm 64, per layer 30720 linear + 2 x 64 norms
  assert.equal(info.parameters, 2 * 4096 * 64 + 64 + 2 * (30720 + 128));
  assert.equal(info.tensors.length, 3 + 2 * 9);
});

test('--help explains every command', () => {
  for (const cmd of ['eval', 'quantize', 'generate', 'export', 'demo', 'inspect']) {
    const r = runCli([cmd, '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: lowbit/);
  }
  assert.match(runCli(['quantize', '--help']).stdout, /--group-size/);
});

test('demo prints the before/after table for the embedded model', () => {
  const r = runCli(['demo', '--max-windows', '2', '--calib-samples', '4', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const d = JSON.parse(r.stdout);
  assert.equal(d.rows[0].bitsPerWeight, 16);
  assert.equal(d.rows.length, 7);
  for (const row of d.rows) assert.ok(row.ppl > 1);
});

interface BadCase {
  name: string;
  setup: (dir: string, model: string) => string[];
  /** Regex the single stderr line must match (it must also name `file`). */
  error: RegExp;
  file: (dir: string, model: string) => string;
}

function corruptSafetensors(model: string, f: (buf: Buffer) => Buffer): void {
  const file = path.join(model, 'model.safetensors');
  fs.writeFileSync(file, f(fs.readFileSync(file)));
}

function rewriteHeader(model: string, edit: (h: Record<string, { dtype: string; shape: number[]; data_offsets: number[] }>) => void): void {
  corruptSafetensors(model, (buf) => {
    const len = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + len).toString());
    edit(header);
    const h = Buffer.from(JSON.stringify(header));
    const l = Buffer.alloc(8);
    l.writeBigUInt64LE(BigInt(h.length));
    return Buffer.concat([l, h, buf.subarray(8 + len)]);
  });
}

const weight = 'model.layers.1.mlp.up_proj.weight';
const cases: BadCase[] = [
  { name: 'missing model directory', setup: (d) => ['eval', path.join(d, 'nope'), '--data', ASSETS.heldout], error: /no such model directory/, file: (d) => path.join(d, 'nope') },
  { name: 'missing data file', setup: (d, m) => ['eval', m, '--data', path.join(d, 'none.txt')], error: /no such file/, file: (d) => path.join(d, 'none.txt') },
  { name: 'truncated safetensors', setup: (_d, m) => { corruptSafetensors(m, (b) => b.subarray(0, b.length - 1000)); return ['inspect', m]; }, error: /truncated/, file: (_d, m) => path.join(m, 'model.safetensors') },
  { name: 'corrupt header', setup: (_d, m) => { corruptSafetensors(m, (b) => { const c = Buffer.from(b); c.write('}}}}', 8); return c; }); return ['inspect', m]; }, error: /corrupt safetensors header/, file: (_d, m) => path.join(m, 'model.safetensors') },
  { name: 'byte length disagrees with shape', setup: (_d, m) => { rewriteHeader(m, (h) => { h[weight].shape = [95, 64]; }); return ['inspect', m]; }, error: /needs/, file: (_d, m) => path.join(m, 'model.safetensors') },
  { name: 'unsupported dtype', setup: (_d, m) => { rewriteHeader(m, (h) => { h[weight].dtype = 'F8_E4M3'; h[weight].shape = [96, 256]; }); return ['inspect', m]; }, error: /unsupported dtype F8_E4M3/, file: (_d, m) => path.join(m, 'model.safetensors') },
  { name: 'unsupported architecture', setup: (_d, m) => { const c = path.join(m, 'config.json'); fs.writeFileSync(c, fs.readFileSync(c, 'utf8').replace('LlamaForCausalLM', 'BertModel')); return ['inspect', m]; }, error: /unsupported architecture BertModel/, file: (_d, m) => path.join(m, 'config.json') },
  { name: 'config disagrees with the tensors', setup: (_d, m) => { const c = path.join(m, 'config.json'); fs.writeFileSync(c, fs.readFileSync(c, 'utf8').replace('"intermediate_size": 96', '"intermediate_size": 100')); return ['inspect', m]; }, error: /has shape \[96, 64\] but config.json implies \[100, 64\]/, file: (_d, m) => path.join(m, 'model.safetensors') },
  { name: 'tensor missing', setup: (_d, m) => { rewriteHeader(m, (h) => { delete h['model.norm.weight']; }); return ['inspect', m]; }, error: /no tensor model.norm.weight/, file: (_d, m) => m },
  { name: 'data shorter than one window', setup: (d, m) => { fs.writeFileSync(path.join(d, 'short.txt'), 'a few words'); return ['eval', m, '--data', path.join(d, 'short.txt'), '--seq-len', '512']; }, error: /fewer than one window/, file: (d) => path.join(d, 'short.txt') },
  { name: 'bad option value', setup: (_d, m) => ['quantize', m, '--bits', '9', '--out', '/tmp/x'], error: /--bits/, file: () => '' },
];

for (const c of cases) {
  test(`bad input: ${c.name}`, () => {
    const dir = tmpDir();
    const model = makeTinyModel(path.join(dir, 'model'));
    const r = runCli(c.setup(dir, model));
    assert.notEqual(r.code, 0);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('(run with --help'));
    assert.equal(lines.length, 1, `expected one line, got: ${r.stderr}`);
    assert.match(lines[0], c.error);
    assert.ok(lines[0].includes(c.file(dir, model)), `does not name ${c.file(dir, model)}: ${lines[0]}`);
    assert.doesNotMatch(r.stderr, /internal error|    at /);
  });
}

function assertNoOutput(parent: string, name: string): void {
  const left = fs.readdirSync(parent).filter((f) => f.startsWith(name));
  assert.deepEqual(left, [], `left behind: ${left}`);
}

test('bad input: NaN in a weight aborts quantize and leaves no output directory', () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'model'), { mutate: (t) => { t.get(weight)!.data[17] = NaN; } });
  const r = runCli(['quantize', model, '--out', path.join(dir, 'q')]);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, `lowbit: ${path.join(model, 'model.safetensors')}: tensor ${weight} contains NaN at element 17\n`);
  assertNoOutput(dir, 'q');
});

test('bad input: Inf in a weight is reported by eval', () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'model'), { mutate: (t) => { t.get('model.norm.weight')!.data[3] = Infinity; } });
  const r = runCli(['eval', model, '--data', ASSETS.heldout, '--max-windows', '1']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /model.norm.weight contains Inf/);
});

test('bad input: unwritable output paths fail before any work and leave nothing', () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'model'));
  fs.writeFileSync(path.join(dir, 'afile'), 'x');
  for (const out of [path.join(dir, 'afile', 'q'), path.join(dir, 'no', 'such', 'q')]) {
    const r = runCli(['quantize', model, '--out', out]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^lowbit: .*cannot create output/);
    assert.ok(r.stderr.includes(out));
  }
  fs.mkdirSync(path.join(dir, 'exists'));
  const r = runCli(['quantize', model, '--out', path.join(dir, 'exists')]);
  assert.match(r.stderr, /already exists \(pass --force to replace it\)/);
  assertNoOutput(dir, 'exists.tmp');
});

test('a reader that closes stdout early (| head -c 10) ends lowbit quietly with status 0', () => {
  const s = spawnSync('bash', ['-c', `set -o pipefail; "${process.execPath}" "${path.join(ROOT, 'bin', 'lowbit.js')}" quantize --help | head -c 10 > /dev/null`], { encoding: 'utf8' });
  assert.equal(s.status, 0, s.stderr);
  assert.equal(s.stderr, '');
});

test('--device gpu without Dawn, or without a driver, is a one-line error; auto falls back to the CPU', () => {
  const evalArgs = (device: string) => ['eval', ASSETS.model, '--data', ASSETS.heldout, '--seq-len', '32', '--max-windows', '1', '--device', device, '--json'];
  const missing = runCli(evalArgs('gpu'), { LOWBIT_WEBGPU: path.join(tmpDir(), 'no-webgpu-here') });
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^lowbit: .*no-webgpu-here: the GPU backend needs the npm package webgpu \(Dawn\), which is not installed: npm install webgpu\n$/);
  // Dawn installed (the test path's copy) but no Vulkan driver to find: no adapter.
  const noDriver = { LOWBIT_WEBGPU: path.join(ROOT, '.verifier', 'node_modules', 'webgpu'), VK_DRIVER_FILES: '/nonexistent/icd.json', LD_LIBRARY_PATH: '' };
  const r = runCli(evalArgs('gpu'), noDriver);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^lowbit: no WebGPU adapter: the GPU backend needs a Vulkan, Metal or D3D12 driver/m);
  const auto = runCli(evalArgs('auto'), noDriver);
  assert.equal(auto.code, 0, auto.stderr);
  assert.match(JSON.parse(auto.stdout).backend, /^cpu/);
  assert.match(runCli(evalArgs('tpu')).stderr, /argument 'tpu' is invalid. Allowed choices are cpu, gpu, auto/);
});

test('lowbit web serves the page on the loopback address, only its own files, and stops on Ctrl-C', async () => {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [path.join(ROOT, 'bin', 'lowbit.js'), 'web', '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d) => {
        out += d;
        const m = /lowbit web page at (http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
    });
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(await page.text(), /<title>lowbit: quantize a model in your browser<\/title>/);
    assert.match((await fetch(`${url}page.js`)).headers.get('content-type') ?? '', /^text\/javascript/);
    // Nothing outside dist/web is served, however the path is written.
    for (const p of ['../package.json', '..%2Fpackage.json', '%2e%2e/%2e%2e/package.json', 'missing.js']) assert.equal((await fetch(url + p)).status, 404, p);
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
  }
});

test('lowbit web refuses a bad port in one line', () => {
  const r = runCli(['web', '--port', '70000']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'lowbit: --port must be a port number (0-65535), got 70000\n');
});
