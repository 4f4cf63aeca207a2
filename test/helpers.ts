/** Shared helpers of the test suite: temporary directories, a tiny random Llama checkpoint, the CLI. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { SafetensorsWriter } from '../src/io/safetensors-writer.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { f32ToBf16 } from '../src/io/float.js';
import { ROOT, ASSETS } from '../src/api/assets.js';
import { seededRandom } from '../src/calib/sample.js';
import { layerRelativeError } from '../src/quant/act-aware.js';

export { ROOT, ASSETS };

const made: string[] = [];
process.on('exit', () => {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the test process exits. */
export function tmpDir(prefix = 'lowbit-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(d);
  return d;
}

/** Deterministic pseudo-random numbers (the calibration sampler's mulberry32), so failures reproduce. */
export const rng = seededRandom;

/** Standard normal samples (Box-Muller). */
export function randn(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(r() + 1e-12)) * Math.cos(2 * Math.PI * r());
  return out;
}

export interface TinyModelOptions {
  family?: 'llama' | 'mistral' | 'qwen2';
  hidden?: number;
  layers?: number;
  heads?: number;
  kvHeads?: number;
  mlp?: number;
  dtype?: 'F32' | 'BF16';
  seed?: number;
  /** Tensors to drop, replace or corrupt after generation. */
  mutate?: (tensors: Map<string, { shape: number[]; data: Float32Array }>) => void;
  config?: Record<string, unknown>;
}

/** Writes a small random Llama-family checkpoint using kdoc-6m's tokenizer (vocab 4096). */
export function makeTinyModel(dir: string, o: TinyModelOptions = {}): string {
  const family = o.family ?? 'llama';
  const hidden = o.hidden ?? 64, layers = o.layers ?? 2, heads = o.heads ?? 4, kv = o.kvHeads ?? 2, mlp = o.mlp ?? 96;
  const hd = hidden / heads, vocab = 4096;
  let seed = o.seed ?? 1;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    const d = randn(shape.reduce((a, b) => a * b, 1), seed++, scale);
    if (offset) for (let i = 0; i < d.length; i++) d[i] += offset;
    tensors.set(name, { shape, data: d });
  };
  add('model.embed_tokens.weight', [vocab, hidden], 0.5);
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    add(p + 'input_layernorm.weight', [hidden], 0.1, 1);
    add(p + 'post_attention_layernorm.weight', [hidden], 0.1, 1);
    add(p + 'self_attn.q_proj.weight', [heads * hd, hidden], 0.15);
    add(p + 'self_attn.k_proj.weight', [kv * hd, hidden], 0.15);
    add(p + 'self_attn.v_proj.weight', [kv * hd, hidden], 0.15);
    add(p + 'self_attn.o_proj.weight', [hidden, heads * hd], 0.15);
    if (family === 'qwen2') for (const n of ['q', 'k', 'v']) add(p + `self_attn.${n}_proj.bias`, [(n === 'q' ? heads : kv) * hd], 0.1);
    add(p + 'mlp.gate_proj.weight', [mlp, hidden], 0.15);
    add(p + 'mlp.up_proj.weight', [mlp, hidden], 0.15);
    add(p + 'mlp.down_proj.weight', [hidden, mlp], 0.15);
  }
  add('model.norm.weight', [hidden], 0.1, 1);
  add('lm_head.weight', [vocab, hidden], 0.1);
  o.mutate?.(tensors);
  fs.mkdirSync(dir, { recursive: true });
  const w = new SafetensorsWriter(path.join(dir, 'model.safetensors'));
  for (const [name, t] of tensors) {
    if (o.dtype === 'BF16') w.add(name, 'BF16', t.shape, f32ToBf16(t.data));
    else w.add(name, 'F32', t.shape, t.data);
  }
  w.finish({ format: 'pt' });
  const arch = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM' }[family];
  const config = {
    architectures: [arch], model_type: family, hidden_size: hidden, intermediate_size: mlp, num_hidden_layers: layers,
    num_attention_heads: heads, num_key_value_heads: kv, head_dim: hd, vocab_size: vocab, rms_norm_eps: 1e-5,
    rope_theta: 10000, max_position_embeddings: 512, tie_word_embeddings: false, hidden_act: 'silu', ...o.config,
  };
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(ASSETS.model, f), path.join(dir, f));
  return dir;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `lowbit <args>` in a child process. */
export function runCli(args: string[], env: Record<string, string> = {}): CliResult {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'lowbit.js'), ...args], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 300_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Max |a - b| / max |b|. */
export function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num = Math.max(num, Math.abs(a[i] - b[i]));
    den = Math.max(den, Math.abs(b[i]));
  }
  return num / den;
}

/** ||W X - W_hat X||^2 / ||W X||^2 from H = X^T X (the layer objective of GPTQ and QuantEase). */
export function relErr(w: Float32Array, wHat: Float32Array, h: Float64Array, rows: number, cols: number): number {
  return layerRelativeError(w, wHat, null, rows, cols, { hessian: h, tokens: 0 });
}

/** The real kdoc-6m layer problems (W and H) of test/fixtures/layer-problems.safetensors. */
export function layerProblems(): { name: string; w: Float32Array; h: Float64Array; rows: number; cols: number }[] {
  const f = SafetensorsFile.open(path.join(ROOT, 'test/fixtures/layer-problems.safetensors'));
  const names = [...new Set([...f.tensors.keys()].map((k) => k.replace(/\.(W|H)$/, '')))];
  const out = names.map((name) => {
    const [rows, cols] = f.info(`${name}.W`).shape;
    return { name, w: f.readF32(`${name}.W`), h: Float64Array.from(f.readF32(`${name}.H`)), rows, cols };
  });
  f.close();
  return out;
}

/**
 * Writes a SentencePiece-style byte-fallback BPE tokenizer (as Llama 2 ships: "▁" for spaces,
 * <0xXX> byte tokens, merges listing every split of every piece) trained by plain BPE on `text`.
 */
export function makeSpmTokenizer(dir: string, text: string, merges = 600, chars = 120): void {
  const norm = '▁' + text.replace(/ /g, '▁');
  const freq = new Map<string, number>();
  for (const w of norm.split(/(?=▁)/u)) freq.set(w, (freq.get(w) ?? 0) + 1);
  const charCount = new Map<string, number>();
  for (const ch of norm) charCount.set(ch, (charCount.get(ch) ?? 0) + 1);
  const alphabet = [...charCount.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, chars).map((e) => e[0]);
  const inAlphabet = new Set(alphabet);
  const words = [...freq.entries()].map(([w, n]) => ({ syms: [...w], n }));
  const pieces: string[] = [];
  for (let m = 0; m < merges; m++) {
    const pairs = new Map<string, number>();
    for (const { syms, n } of words)
      for (let i = 0; i + 1 < syms.length; i++)
        if (inAlphabet.has(syms[i]) || pieces.includes(syms[i])) pairs.set(syms[i] + '\u0000' + syms[i + 1], (pairs.get(syms[i] + '\u0000' + syms[i + 1]) ?? 0) + n);
    let best = '', bestN = 0;
    for (const [p, n] of pairs) if (n > bestN || (n === bestN && p < best)) { best = p; bestN = n; }
    if (bestN < 2) break;
    const [a, b] = best.split('\u0000');
    if (!(inAlphabet.has(a) || pieces.includes(a)) || !(inAlphabet.has(b) || pieces.includes(b))) break;
    pieces.push(a + b);
    for (const w of words) {
      const out: string[] = [];
      for (let i = 0; i < w.syms.length; i++) {
        if (i + 1 < w.syms.length && w.syms[i] === a && w.syms[i + 1] === b) { out.push(a + b); i++; } else out.push(w.syms[i]);
      }
      w.syms = out;
    }
  }
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  for (const p of [...alphabet, ...pieces]) if (!(p in vocab)) vocab[p] = Object.keys(vocab).length;
  // Merges as transformers' SpmConverter lists them: every split of a piece, in piece order.
  const mergeList: [string, string][] = [];
  for (const p of pieces) {
    const cs = [...p];
    for (let k = 1; k < cs.length; k++) {
      const l = cs.slice(0, k).join(''), r = cs.slice(k).join('');
      if (l in vocab && r in vocab) mergeList.push([l, r]);
    }
  }
  const tokenizer = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: ['<unk>', '<s>', '</s>'].map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: { type: 'Sequence', normalizers: [{ type: 'Prepend', prepend: '▁' }, { type: 'Replace', pattern: { String: ' ' }, content: '▁' }] },
    pre_tokenizer: null, post_processor: null,
    decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'ByteFallback' }, { type: 'Fuse' }, { type: 'Strip', content: ' ', start: 1, stop: 0 }] },
    model: { type: 'BPE', dropout: null, unk_token: '<unk>', continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: mergeList },
  };
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({ bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: false }));
}
