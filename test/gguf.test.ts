/**
 * GGUF: lowbit's ggml block types and mixes against llama.cpp's own llama-quantize (fixture made by
 * scripts/make-llama-quantize-fixture.ts), GGUF files checked by llama.cpp itself (node-llama-cpp,
 * installed by scripts/install-verifier.js), the reader on files made by both, and bad files.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ASSETS, ROOT, makeSpmTokenizer, makeTinyModel, runCli, tmpDir } from './helpers.js';
import { loadTokenizer } from '../src/io/tokenizer.js';
import { openModelDir } from '../src/export/reader.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { Checkpoint } from '../src/io/checkpoint.js';
import { BLOCK_TYPES } from '../src/quant/ggml/registry.js';
import { quantizeBlocks, dequantizeBlocks } from '../src/quant/ggml/block-type.js';
import { MIXES, mixTypeFor, type Mix, type TensorRole } from '../src/quant/ggml/mixes.js';
import { ggufName, permuteRows } from '../src/export/gguf/names.js';
import { GgufFile } from '../src/io/gguf.js';
import { ggmlRtn } from '../src/quant/ggml/ggml-weight.js';
import { loadConfig } from '../src/arch/config.js';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { loadModelDir } from '../src/eval/run.js';
import { generateWith } from '../src/eval/generate.js';

const MODEL = ASSETS.model;
const HELDOUT = ASSETS.heldout;
const fixture = SafetensorsFile.open(path.join(ROOT, 'test/fixtures/llama-quantize.safetensors'));
const fixtureTypes = JSON.parse(fs.readFileSync(path.join(ROOT, 'test/fixtures/llama-quantize.json'), 'utf8')).tensorTypes as Record<string, Record<string, string>>;

test('every ggml block type quantizes byte-identically to llama-quantize (kdoc-6m blk.0.attn_q)', () => {
  const w = Checkpoint.open(MODEL).readF32('model.layers.0.self_attn.q_proj.weight');
  for (const [name, t] of Object.entries(BLOCK_TYPES)) {
    const expected = fixture.readBytes(name);
    const out = new Uint8Array(expected.length);
    quantizeBlocks(t, w, 0, w.length, out, 0);
    // The file stores attn_q's rows in llama.cpp's rope order (names.ts): whole rows move.
    const rows = permuteRows(out, 256, 8, true);
    let diff = 0;
    for (let i = 0; i < rows.length; i++) if (rows[i] !== expected[i]) diff++;
    assert.equal(diff, 0, `${name}: ${diff} of ${out.length} bytes differ from llama-quantize`);
  }
});

test('with an importance matrix, the K-quants quantize byte-identically to llama-quantize --imatrix', () => {
  const w = Checkpoint.open(MODEL).readF32('model.layers.0.self_attn.q_proj.weight');
  const importance = fixture.readF32('imatrix.blk.0.attn_q');
  for (const name of ['Q2_K', 'Q3_K', 'Q4_K', 'Q5_K', 'Q6_K']) {
    const expected = fixture.readBytes(`${name}+imatrix`);
    const rows = permuteRows(ggmlRtn(w, 256, 256, name, importance).tensors.blocks.data as Uint8Array, 256, 8, true);
    assert.deepEqual(rows, expected, name);
    assert.notDeepEqual(rows, fixture.readBytes(name), `${name}: the importance changes the result`);
  }
});

test('block types round-trip: unpack/pack of codes is the identity and decoding matches grids x levels', () => {
  const w = Checkpoint.open(MODEL).readF32('model.layers.0.self_attn.q_proj.weight').subarray(0, 256);
  for (const [name, t] of Object.entries(BLOCK_TYPES)) {
    const bytes = new Uint8Array((256 / t.blockSize) * t.blockBytes);
    quantizeBlocks(t, w, 0, 256, bytes, 0);
    const codes = new Uint8Array(t.blockSize), again = bytes.slice();
    for (let b = 0; b < 256 / t.blockSize; b++) {
      t.unpackCodes(bytes, b * t.blockBytes, codes);
      t.packCodes(codes, again, b * t.blockBytes);
    }
    assert.deepEqual(again, bytes, name);
    // Dequantized weights stay within one sub-block step of the originals.
    const y = new Float32Array(256);
    dequantizeBlocks(t, bytes, 0, 256 / t.blockSize, y, 0);
    let err = 0, norm = 0;
    for (let i = 0; i < 256; i++) { err += (y[i] - w[i]) ** 2; norm += w[i] ** 2; }
    assert.ok(err / norm < (t.codeBits <= 2 ? 0.2 : t.codeBits === 3 ? 0.06 : 0.02), `${name}: relative error ${err / norm}`);
  }
});

test('mix tables for an 8-expert model (Mixtral 8x7B) follow llama-quantize\'s n_expert == 8 rules (llama-quant.cpp, read by hand)', () => {
  const place = (role: TensorRole, layer: number) => ({ role, layer, nLayers: 32, nGqa: 4, rowLength: 4096, tiedEmbeddings: false, nExperts: 8 });
  const cases: [Mix, TensorRole, number, string][] = [
    ['Q4_K_M', 'attn_v', 5, 'Q8_0'], ['Q4_K_M', 'attn_k', 5, 'Q8_0'], ['Q4_K_M', 'attn_output', 5, 'Q5_K'], ['Q4_K_M', 'attn_q', 5, 'Q4_K'],
    ['Q4_K_M', 'ffn_down', 0, 'Q6_K'], ['Q4_K_M', 'ffn_down', 4, 'Q4_K'], ['Q4_K_M', 'ffn_up', 0, 'Q4_K'],
    ['Q2_K', 'attn_output', 9, 'Q5_K'], ['Q5_K_M', 'attn_output', 9, 'Q5_K'], ['Q8_0', 'attn_k', 9, 'Q8_0'], ['Q3_K_M', 'attn_v', 0, 'Q8_0'],
  ];
  for (const [mix, role, layer, want] of cases) assert.equal(mixTypeFor(mix, place(role, layer)), want, `${mix} ${role} layer ${layer}`);
  // Without experts the same places keep the dense rules.
  assert.equal(mixTypeFor('Q4_K_M', { ...place('attn_k', 5), nExperts: 0 }), 'Q4_K');
  assert.equal(mixTypeFor('Q2_K', { ...place('attn_output', 9), nExperts: 0 }), 'Q3_K');
});

test('mix tables give every kdoc-6m tensor the type llama-quantize gives it', () => {
  const cfg = loadConfig(MODEL);
  const ckpt = Checkpoint.open(MODEL);
  for (const mix of MIXES) {
    for (const hf of ckpt.names()) {
      const g = ggufName(hf)!;
      const shape = ckpt.shape(hf);
      const expected = fixtureTypes[mix][g.name];
      const got = shape.length === 1 ? 'F32' : mixTypeFor(mix as Mix, { role: g.role, layer: g.layer, nLayers: cfg.numLayers, nGqa: cfg.numHeads / cfg.numKvHeads, rowLength: shape[1], tiedEmbeddings: false });
      assert.equal(got, expected, `${mix} ${g.name}`);
    }
  }
});

/** llama.cpp (node-llama-cpp) perplexity over the first `windows` windows of 512 tokens. */
async function llamaCppPerplexity(file: string, windows: number): Promise<number> {
  const mod = path.join(ROOT, '.verifier/node_modules/node-llama-cpp/dist/index.js');
  assert.ok(fs.existsSync(mod), 'node-llama-cpp is not installed in .verifier (npm test runs scripts/install-verifier.js)');
  const { getLlama } = await import(mod);
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const model = await llama.loadModel({ modelPath: file });
  const ctx = await model.createContext({ contextSize: 512, batchSize: 512, threads: 2 });
  const seq = ctx.getSequence();
  const tokens: number[] = model.tokenize(fs.readFileSync(HELDOUT, 'utf8'), false);
  let nll = 0, n = 0;
  for (let w = 0; w < windows; w++) {
    const win = tokens.slice(w * 512, (w + 1) * 512);
    await seq.clearHistory();
    const res = await seq.controlledEvaluate(win.map((t, i) => (i < 511 ? [t, { generateNext: { probabilities: true } }] : t)));
    for (let i = 0; i < 511; i++) {
      nll -= Math.log(res[i].next.probabilities.get(win[i + 1]));
      n++;
    }
  }
  await ctx.dispose();
  await model.dispose();
  return Math.exp(nll / n);
}

test('llama.cpp loads lowbit GGUF files and its perplexity matches lowbit\'s on the same file within 1%', async () => {
  const dir = tmpDir();
  for (const target of ['F32', 'Q8_0', 'Q4_0', 'Q4_K_M', 'Q3_K_M', 'Q2_K', 'IQ4_XS', 'Q5_K_S', 'Q6_K']) {
    const file = path.join(dir, `kdoc-${target}.gguf`);
    const q = runCli(['quantize', MODEL, '--gguf', target, '--out', file, '--json']);
    assert.equal(q.code, 0, q.stderr);
    const ev = runCli(['eval', file, '--data', HELDOUT, '--max-windows', '2', '--json']);
    assert.equal(ev.code, 0, ev.stderr);
    const ours = JSON.parse(ev.stdout).ppl;
    const theirs = await llamaCppPerplexity(file, 2);
    // llama.cpp quantizes activations to 8 bits inside its quantized dot products: a small gap remains.
    assert.ok(Math.abs(theirs / ours - 1) < 0.01, `${target}: llama.cpp ${theirs} vs lowbit ${ours}`);
    if (target === 'F32') assert.ok(Math.abs(theirs / ours - 1) < 1e-4, `F32: llama.cpp ${theirs} vs lowbit ${ours}`);
  }
});

test('Qwen2 (q/k/v biases, NEOX rope, no row permutation) as GGUF: llama.cpp agrees with lowbit', async () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'qwen2'), { family: 'qwen2', hidden: 64, layers: 2, heads: 4, kvHeads: 2, mlp: 128 });
  for (const target of ['F32', 'Q8_0']) {
    const file = path.join(dir, `qwen2-${target}.gguf`);
    assert.equal(runCli(['quantize', model, '--gguf', target, '--out', file]).code, 0);
    const ours = JSON.parse(runCli(['eval', file, '--data', HELDOUT, '--max-windows', '2', '--json']).stdout).ppl;
    const theirs = await llamaCppPerplexity(file, 2);
    assert.ok(Math.abs(theirs / ours - 1) < (target === 'F32' ? 1e-4 : 0.01), `qwen2 ${target}: llama.cpp ${theirs} vs lowbit ${ours}`);
    if (target === 'F32') assert.equal(ours, JSON.parse(runCli(['eval', model, '--data', HELDOUT, '--max-windows', '2', '--json']).stdout).ppl);
  }
});

test('Llama-3 rope scaling travels as rope_freqs: llama.cpp and lowbit read it back and agree with the source', async () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'llama3'), {
    hidden: 64, layers: 2, config: { rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } },
  });
  const file = path.join(dir, 'llama3.gguf');
  assert.equal(runCli(['quantize', model, '--gguf', 'F32', '--out', file]).code, 0);
  const ppl = (m: string) => JSON.parse(runCli(['eval', m, '--data', HELDOUT, '--max-windows', '2', '--json']).stdout).ppl as number;
  const source = ppl(model), ours = ppl(file), theirs = await llamaCppPerplexity(file, 2);
  assert.ok(Math.abs(ours / source - 1) < 1e-5, `lowbit on the GGUF ${ours} vs source ${source}`);
  assert.ok(Math.abs(theirs / ours - 1) < 1e-4, `llama.cpp ${theirs} vs lowbit ${ours}`);
  // And the scaling matters here: without it the perplexity moves.
  const plain = makeTinyModel(path.join(dir, 'plain'), { hidden: 64, layers: 2, config: { rope_theta: 500000 } });
  assert.ok(Math.abs(ppl(plain) / source - 1) > 1e-3);
});

test('SentencePiece-style vocabulary (byte fallback, "▁") as GGUF "llama": llama.cpp tokenizes like Hugging Face and agrees on perplexity', async () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'spm'), { hidden: 64, layers: 2 });
  makeSpmTokenizer(model, fs.readFileSync(ASSETS.calib, 'utf8').slice(0, 60_000));
  const file = path.join(dir, 'spm.gguf');
  const q = runCli(['quantize', model, '--gguf', 'F32', '--out', file]);
  assert.equal(q.code, 0, q.stderr);
  const text = fs.readFileSync(HELDOUT, 'utf8').slice(0, 20_000);
  const hf = [...loadTokenizer(model).encode(text)];
  const fromGguf = openModelDir(file);
  assert.deepEqual([...fromGguf.tokenizer().encode(text)], hf, 'lowbit\'s tokenizer rebuilt from the GGUF');
  fromGguf.close();
  const { getLlama } = await import(path.join(ROOT, '.verifier/node_modules/node-llama-cpp/dist/index.js'));
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const m = await llama.loadModel({ modelPath: file });
  assert.deepEqual([...m.tokenize(text, false)], hf, 'llama.cpp\'s SPM tokenizer');
  await m.dispose();
  const ours = JSON.parse(runCli(['eval', file, '--data', HELDOUT, '--max-windows', '2', '--json']).stdout).ppl;
  const theirs = await llamaCppPerplexity(file, 2);
  assert.ok(Math.abs(theirs / ours - 1) < 1e-4, `llama.cpp ${theirs} vs lowbit ${ours}`);
});

/** llama.cpp's greedy continuation of `prompt` (node-llama-cpp, temperature 0). */
async function llamaCppGreedy(file: string, prompt: string, n: number): Promise<number[]> {
  const { getLlama } = await import(path.join(ROOT, '.verifier/node_modules/node-llama-cpp/dist/index.js'));
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const model = await llama.loadModel({ modelPath: file });
  const ctx = await model.createContext({ contextSize: 512, threads: 2 });
  const out: number[] = [];
  for await (const t of ctx.getSequence().evaluate(model.tokenize(prompt, false), { temperature: 0 })) {
    out.push(t);
    if (out.length >= n) break;
  }
  await ctx.dispose();
  await model.dispose();
  return out;
}

test('GPTQ and QuantEase GGUF files: llama.cpp loads them, perplexity within 1%, greedy text as lowbit\'s for 32 tokens (up to a near-tie)', async () => {
  const dir = tmpDir();
  const files: string[] = [];
  for (const [method, target] of [['gptq', 'Q4_K_M'], ['quantease', 'Q3_K_S'], ['rtn', 'F32']]) {
    const file = path.join(dir, `kdoc-${method}-${target}.gguf`);
    const calib = method === 'rtn' ? [] : ['--calib', ASSETS.calib, '--calib-samples', '16', '--calib-seq-len', '256', '--iterations', '6'];
    const q = runCli(['quantize', MODEL, '--method', method, '--gguf', target, ...(method === 'gptq' ? calib.slice(0, 6) : calib), '--out', file, '--json']);
    assert.equal(q.code, 0, q.stderr);
    files.push(file);
  }
  for (const file of files.slice(0, 2)) {
    const ours = JSON.parse(runCli(['eval', file, '--data', HELDOUT, '--max-windows', '2', '--json']).stdout).ppl;
    const theirs = await llamaCppPerplexity(file, 2);
    assert.ok(Math.abs(theirs / ours - 1) < 0.01, `${file}: llama.cpp ${theirs} vs lowbit ${ours}`);
  }
  // Greedy continuations: identical for the F32 file; on quantized files llama.cpp multiplies
  // 8-bit-quantized activations (and keeps an f16 KV cache), so a near-tie may flip: the texts
  // must agree up to the first step where lowbit's logits for the two choices are within 0.25.
  const be = new CpuBackend();
  for (const file of files) {
    const { model, info } = loadModelDir(be, file);
    for (const prompt of ['The kernel scheduler', 'To configure the network device,', 'Memory barriers']) {
      const r = runCli(['generate', file, '--prompt', prompt, '--max-tokens', '32', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const ours: number[] = JSON.parse(r.stdout).tokens, theirs = await llamaCppGreedy(file, prompt, 32);
      const d = ours.findIndex((t, i) => t !== theirs[i]);
      if (d < 0) continue;
      assert.ok(!file.endsWith('F32.gguf'), `F32 file: "${prompt}" differs at token ${d}`);
      const ids = Int32Array.from([...info.tokenizer().encode(prompt), ...ours.slice(0, d)]);
      const gap = await generateWith(be, model, ids, (l) => l[ours[d]] - l[theirs[d]]);
      assert.ok(gap >= 0 && gap < 0.25, `${path.basename(file)} "${prompt}": differs at token ${d} with a logit gap of ${gap}`);
    }
  }
});

test('a float GGUF evaluates exactly as its source checkpoint; a bad GGUF gets a one-line error', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'kdoc.gguf');
  assert.equal(runCli(['quantize', MODEL, '--gguf', 'F32', '--out', file]).code, 0);
  const a = JSON.parse(runCli(['eval', file, '--data', HELDOUT, '--max-windows', '3', '--json']).stdout).ppl;
  const b = JSON.parse(runCli(['eval', MODEL, '--data', HELDOUT, '--max-windows', '3', '--json']).stdout).ppl;
  assert.equal(a, b);
  const bytes = fs.readFileSync(file);
  const cases: [string, Buffer][] = [
    ['truncated', bytes.subarray(0, bytes.length - 1000)],
    ['header cut', bytes.subarray(0, 200)],
    ['bad magic', Buffer.concat([Buffer.from('GGUX'), bytes.subarray(4)])],
    ['huge tensor count', (() => { const c = Buffer.from(bytes); c.writeBigUInt64LE(1n << 40n, 8); return c; })()],
  ];
  for (const [what, data] of cases) {
    const bad = path.join(dir, `bad-${what.replace(/ /g, '-')}.gguf`);
    fs.writeFileSync(bad, data);
    const r = runCli(['eval', bad, '--data', HELDOUT, '--max-windows', '1']);
    assert.notEqual(r.code, 0, what);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `${what}: ${r.stderr}`);
    assert.match(lines[0], /^lowbit: .*bad-.*\.gguf: /, what);
  }
  // The reader's checks hold for a file read directly too (no allocation from untrusted counts).
  assert.throws(() => GgufFile.open(path.join(dir, 'bad-huge-tensor-count.gguf')), /corrupt GGUF/);
});
