/**
 * The model families beyond Llama 2/3, against transformers: tiny checkpoints with random weights
 * made by transformers itself and their logits (scripts/oracle/families_oracle.py on the GPU
 * machine; test/fixtures/families/<case>/), each family's forward pass matching them to 1e-4
 * relative (f32), at a length within and one past every window, original context or RoPE threshold.
 * Then what users do with them: quantize (RTN, GPTQ), evaluate, inspect, export to GGUF.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { GgufFile } from '../src/io/gguf.js';
import { loadModel } from '../src/arch/llama.js';
import { applyRuntime } from '../src/arch/layers.js';
import { architectureOf, forwardLogits } from '../src/arch/architecture.js';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import type { Tensor } from '../src/backend/index.js';
import { openModelDir } from '../src/export/reader.js';
import { RotatedSource, planRotation } from '../src/arch/rotation.js';
import { runtimeSource } from '../src/pipeline/runtime.js';
import { generateWith } from '../src/eval/generate.js';
import { MIN_ROUTED_TOKENS, collectHessians } from '../src/pipeline/calibrated.js';
import type { Checkpoint } from '../src/io/checkpoint.js';
import { ASSETS, ROOT, relDiff, runCli, tmpDir } from './helpers.js';

const FIXTURES = path.join(ROOT, 'test/fixtures/families');

/** The fixture's ids and transformers' logits at its positions, for each length. */
function oracle(name: string): { ids: Int32Array; positions: number[]; logits: Map<number, Float32Array> } {
  const f = SafetensorsFile.open(path.join(FIXTURES, name, 'logits.safetensors'));
  const ids = new Int32Array(f.readBytes('ids').slice().buffer);
  const positions = [...new Int32Array(f.readBytes('positions').slice().buffer)];
  const logits = new Map<number, Float32Array>();
  for (const t of f.tensors.keys()) {
    const m = /^logits(\d+)$/.exec(t);
    if (m) logits.set(Number(m[1]), f.readF32(t));
  }
  f.close();
  return { ids, positions, logits };
}

/** lowbit's logits of the fixture's token sequences against transformers', worst relative difference. */
async function worstLogitDiff(name: string, dir = path.join(FIXTURES, name)): Promise<number> {
  const { ids, positions, logits } = oracle(name);
  const be = new CpuBackend();
  const m = openModelDir(dir);
  try {
    const model = architectureOf(m.config).loadModel(m.config, m.source, be);
    const vocab = m.config.vocabSize;
    let worst = 0;
    for (const [n, want] of logits) {
      const got = await be.read(forwardLogits(be, model, ids.subarray(0, n), { batch: 1, seqLen: n }));
      positions.filter((p) => p < n).forEach((p, i) => {
        worst = Math.max(worst, relDiff(got.subarray(p * vocab, (p + 1) * vocab), want.subarray(i * vocab, (i + 1) * vocab)));
      });
    }
    return worst;
  } finally {
    m.close();
  }
}

/**
 * A fixture with kdoc-6m's tokenizer beside it (its vocabulary is the fixtures'), so text can be
 * evaluated and calibrated on. The folder is not named after the family: GGUF files take their
 * general.name from it, and llama.cpp looks for a real Phi-3 vocabulary's special tokens when that
 * name says phi3.
 */
function withTokenizer(name: string): string {
  const dir = path.join(tmpDir(), `tiny-${name.length}`);
  fs.cpSync(path.join(FIXTURES, name), dir, { recursive: true });
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(ASSETS.model, f), path.join(dir, f));
  return dir;
}

for (const name of ['phi3', 'phi3-longrope', 'qwen2-sliding', 'opt', 'opt-postln', 'mixtral'])
  test(`${name}: logits agree with transformers to 1e-4 relative`, async () => {
    const d = await worstLogitDiff(name);
    assert.ok(d < 1e-4, `worst relative difference ${d}`);
  });

test('the KV-cache path (generation) gives the full forward pass\'s logits: OPT\'s learned positions after the cache, windowed Qwen2, Phi-3, Mixtral', async () => {
  for (const name of ['opt', 'opt-postln', 'qwen2-sliding', 'phi3', 'mixtral']) {
    const { ids } = oracle(name);
    const be = new CpuBackend();
    const m = openModelDir(path.join(FIXTURES, name));
    const model = architectureOf(m.config).loadModel(m.config, m.source, be);
    m.close();
    const all = ids.subarray(0, 40), vocab = m.config.vocabSize;
    const full = await be.read(forwardLogits(be, model, all, { batch: 1, seqLen: all.length }));
    let seen: Float32Array | null = null;
    await generateWith(be, model, all, (l) => ((seen = l.slice()), 0));
    const d = relDiff(seen!, full.subarray((all.length - 1) * vocab));
    assert.ok(d < 1e-5, `${name}: cached vs full ${d}`);
  }
});

test('phi3: the fused qkv_proj and gate_up_proj are read as the seven linears, row ranges of the stored matrices', () => {
  const m = openModelDir(path.join(FIXTURES, 'phi3'));
  try {
    const src = m.source as Checkpoint;
    const { numHeads: nh, numKvHeads: nkv, headDim: hd, intermediateSize: mi, hiddenSize: h } = m.config;
    assert.deepEqual(src.shape('model.layers.1.self_attn.k_proj.weight'), [nkv * hd, h]);
    assert.deepEqual(src.shape('model.layers.1.mlp.up_proj.weight'), [mi, h]);
    assert.equal(src.has('model.layers.1.self_attn.qkv_proj.weight'), false);
    // k_proj is rows nh*hd .. (nh+nkv)*hd of the stored matrix.
    const fused = SafetensorsFile.open(path.join(FIXTURES, 'phi3', 'model.safetensors'));
    const qkv = fused.readF32('model.layers.1.self_attn.qkv_proj.weight');
    fused.close();
    assert.deepEqual(src.readF32('model.layers.1.self_attn.k_proj.weight'), qkv.subarray(nh * hd * h, (nh + nkv) * hd * h));
  } finally {
    m.close();
  }
});

test('qwen2-sliding: only the layers from max_window_layers on attend within the window (layer_types)', async () => {
  const m = openModelDir(path.join(FIXTURES, 'qwen2-sliding'));
  m.close();
  assert.equal(m.config.slidingWindow, 16);
  assert.deepEqual(m.config.slidingLayers, [1]);
  // The same model with the window on every layer is a different model past 16 tokens: the fixture tells them apart.
  const dir = path.join(tmpDir(), 'q');
  fs.cpSync(path.join(FIXTURES, 'qwen2-sliding'), dir, { recursive: true });
  const cfg = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...cfg, layer_types: ['sliding_attention', 'sliding_attention'] }));
  assert.ok(await worstLogitDiff('qwen2-sliding', dir) > 1e-3);
});

test('rotating a model with tied embeddings unties them: the rotated model\'s logits are the original\'s', async () => {
  const m = openModelDir(path.join(FIXTURES, 'qwen2-sliding'));
  try {
    assert.equal(m.config.tieWordEmbeddings, true);
    const be = new CpuBackend();
    const ckpt = m.source as Checkpoint;
    const { config, names } = runtimeSource(ckpt, m.config, { activation: null, rotation: { seed: 3 } });
    assert.equal(config.tieWordEmbeddings, false);
    assert.ok(names.includes('lm_head.weight'));
    const plan = planRotation(m.config, 3);
    const rotated = loadModel(config, new RotatedSource(ckpt, m.config, plan), be);
    for (const b of rotated.blocks) applyRuntime(b, null, plan.down);
    const plain = loadModel(m.config, ckpt, be);
    const ids = Int32Array.from({ length: 40 }, (_, i) => (i * 193) % 4096);
    const a = await be.read(forwardLogits(be, plain, ids, { batch: 1, seqLen: 40 }));
    const b = await be.read(forwardLogits(be, rotated, ids, { batch: 1, seqLen: 40 }));
    assert.ok(relDiff(a, b) < 1e-4, `rotated vs original: ${relDiff(a, b)}`);
  } finally {
    m.close();
  }
});

test('families quantize, evaluate and inspect from the CLI: every method on Phi-3, windowed Qwen2, OPT (both LayerNorm placements) and Mixtral (every expert), a rotated tied model', () => {
  const text = ASSETS.heldout;
  for (const [name, architecture, linears] of [['phi3', 'phi3', 7], ['qwen2-sliding', 'qwen2', 7], ['opt', 'opt', 6], ['opt-postln', 'opt', 6], ['mixtral', 'mixtral', 4 + 3 * 4]] as const) {
    const dir = withTokenizer(name);
    const info = runCli(['inspect', dir, '--json']);
    assert.equal(info.code, 0, info.stderr);
    assert.equal(JSON.parse(info.stdout).architecture, architecture);
    for (const method of ['rtn', 'adpq', 'gptq', 'quantease', 'lrc']) {
      const out = path.join(tmpDir(), `${name}-${method}`);
      const q = runCli(['quantize', dir, '--method', method, '--bits', '4', '--group-size', '32', ...(['gptq', 'quantease', 'lrc'].includes(method) ? ['--calib', text, '--calib-samples', '4', '--calib-seq-len', '64'] : []), '--out', out, '--json']);
      assert.equal(q.code, 0, q.stderr);
      const s = JSON.parse(q.stdout);
      assert.equal(s.summary.quantizedLayers, 2 * linears, `${name} ${method}: ${linears} linears per layer`);
      const e = runCli(['eval', out, '--data', text, '--seq-len', '64', '--max-windows', '4', '--json']);
      assert.equal(e.code, 0, e.stderr);
      assert.ok(Number.isFinite(JSON.parse(e.stdout).ppl));
    }
  }
  const dir = withTokenizer('qwen2-sliding');
  const out = path.join(tmpDir(), 'rotated');
  const q = runCli(['quantize', dir, '--method', 'rtn', '--bits', '8', '--rotate', 'hadamard', '--out', out, '--json']);
  assert.equal(q.code, 0, q.stderr);
  assert.equal(JSON.parse(fs.readFileSync(path.join(out, 'config.json'), 'utf8')).tie_word_embeddings, false);
  const before = JSON.parse(runCli(['eval', dir, '--data', text, '--seq-len', '64', '--max-windows', '4', '--json']).stdout).ppl;
  const after = JSON.parse(runCli(['eval', out, '--data', text, '--seq-len', '64', '--max-windows', '4', '--json']).stdout).ppl;
  assert.ok(Math.abs(after / before - 1) < 0.02, `8-bit rotated ${after} vs ${before}`);
});

test('GGUF: Phi-3 is written as llama.cpp\'s llama architecture with its linears split; with LongRoPE, as llama.cpp\'s phi3 architecture; lowbit runs both', () => {
  const dir = withTokenizer('phi3');
  const out = path.join(tmpDir(), 'phi3.gguf');
  const r = runCli(['quantize', dir, '--method', 'rtn', '--gguf', 'Q8_0', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const e = runCli(['eval', out, '--data', ASSETS.heldout, '--seq-len', '64', '--max-windows', '4', '--json']);
  assert.equal(e.code, 0, e.stderr);
  const long = path.join(tmpDir(), 'long.gguf');
  const q = runCli(['quantize', withTokenizer('phi3-longrope'), '--method', 'rtn', '--gguf', 'Q8_0', '--out', long]);
  assert.equal(q.code, 0, q.stderr);
  const info = runCli(['inspect', long, '--json']);
  assert.equal(info.code, 0, info.stderr);
  const report = JSON.parse(info.stdout);
  assert.equal(report.gguf.architecture, 'phi3');
  assert.equal(report.config.ropeScaling.type, 'longrope');
  assert.equal(report.runnable, true);
  const file = GgufFile.open(long), names = [...file.tensors.keys()];
  file.close();
  for (const t of ['rope_factors_long.weight', 'rope_factors_short.weight', 'blk.0.ffn_up.weight', 'blk.0.attn_q.weight']) assert.ok(names.includes(t), t);
  assert.ok(!names.includes('blk.0.ffn_gate.weight'));
});

test('OPT: GGUF and rotation are refused in one line; Mixtral: rotation is refused', () => {
  const cases: [string, string[]][] = [
    ['opt', ['--gguf', 'Q8_0', '--out', path.join(tmpDir(), 'o.gguf')]], ['opt', ['--rotate', 'hadamard', '--out', path.join(tmpDir(), 'o')]],
    ['mixtral', ['--rotate', 'hadamard', '--out', path.join(tmpDir(), 'm')]],
  ];
  for (const [name, args] of cases) {
    const r = runCli(['quantize', withTokenizer(name), '--method', 'rtn', ...args]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr.trim(), /^[^\n]*(llama.cpp has no OPT|cannot be rotated|not supported yet)[^\n]*$/, `${name} ${args[0]}`);
  }
});

/** llama.cpp's (node-llama-cpp) perplexity of a GGUF over the first `windows` windows of `seqLen` tokens of the held-out text. */
async function llamaCppPerplexity(file: string, seqLen: number, windows: number): Promise<number> {
  const mod = path.join(ROOT, '.verifier/node_modules/node-llama-cpp/dist/index.js');
  assert.ok(fs.existsSync(mod), 'node-llama-cpp is not installed in .verifier (npm test runs scripts/install-verifier.js)');
  const { getLlama } = await import(mod);
  const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
  const model = await llama.loadModel({ modelPath: file });
  const ctx = await model.createContext({ contextSize: seqLen, batchSize: seqLen, threads: 2 });
  const seq = ctx.getSequence();
  const tokens: number[] = model.tokenize(fs.readFileSync(ASSETS.heldout, 'utf8'), false);
  let nll = 0, n = 0;
  for (let w = 0; w < windows; w++) {
    const win = tokens.slice(w * seqLen, (w + 1) * seqLen);
    await seq.clearHistory();
    const res = await seq.controlledEvaluate(win.map((t, i) => (i < seqLen - 1 ? [t, { generateNext: { probabilities: true } }] : t)));
    for (let i = 0; i < seqLen - 1; i++) {
      nll -= Math.log(res[i].next.probabilities.get(win[i + 1]));
      n++;
    }
  }
  await ctx.dispose();
  await model.dispose();
  return Math.exp(nll / n);
}

test('GGUF of Mixtral (experts merged into ffn_*_exps, router F32), Phi-3 (split linears) and Phi-3 with LongRoPE (phi3 architecture): llama.cpp\'s perplexity equals lowbit\'s', async (t) => {
  for (const name of ['mixtral', 'phi3', 'phi3-longrope']) {
    const dir = withTokenizer(name);
    const lowbit = (model: string) => {
      const e = runCli(['eval', model, '--data', ASSETS.heldout, '--seq-len', '64', '--max-windows', '4', '--json']);
      assert.equal(e.code, 0, e.stderr);
      return JSON.parse(e.stdout).ppl as number;
    };
    // F32: the same numbers, so the same perplexity up to the order of f32 sums.
    const f32 = path.join(tmpDir(), `${name}-f32.gguf`);
    const q = runCli(['quantize', dir, '--method', 'rtn', '--gguf', 'F32', '--out', f32]);
    assert.equal(q.code, 0, q.stderr);
    const ours = lowbit(dir), theirs = await llamaCppPerplexity(f32, 64, 4);
    assert.ok(Math.abs(theirs / ours - 1) < 1e-4, `${name} F32: llama.cpp ${theirs} vs lowbit ${ours}`);
    // Q8_0: lowbit's directory on the same grids against llama.cpp's run of the GGUF (8-bit activations inside llama.cpp).
    const q8dir = path.join(tmpDir(), 'q8'), q8 = path.join(tmpDir(), `${name}-q8.gguf`); // general.name comes from the folder (see withTokenizer)
    assert.equal(runCli(['quantize', dir, '--method', 'rtn', '--gguf', 'Q8_0', '--out', q8dir]).code, 0);
    const ex = runCli(['export', q8dir, '--out', q8]);
    assert.equal(ex.code, 0, ex.stderr);
    const ours8 = lowbit(q8dir), theirs8 = await llamaCppPerplexity(q8, 64, 4);
    assert.ok(Math.abs(theirs8 / ours8 - 1) < 0.01, `${name} Q8_0: llama.cpp ${theirs8} vs lowbit ${ours8}`);
    // lowbit reads the file back (merged experts, phi3's fused ffn_up and rope factors) to the same model.
    const back8 = lowbit(q8), back32 = lowbit(f32);
    assert.ok(Math.abs(back8 / ours8 - 1) < 1e-6 && Math.abs(back32 / ours - 1) < 1e-6, `${name}: read back ${back8} / ${back32} vs ${ours8} / ${ours}`);
    t.diagnostic(`${name}: F32 llama.cpp ${theirs.toFixed(4)} vs lowbit ${ours.toFixed(4)}; Q8_0 llama.cpp ${theirs8.toFixed(4)} vs lowbit ${ours8.toFixed(4)}`);
  }
});

test('Mixtral calibration: each expert\'s statistics count the tokens routed to it (top-2 of 4: twice the tokens over all experts), with the fallback for starved experts', async () => {
  const m = openModelDir(path.join(FIXTURES, 'mixtral'));
  try {
    const be = new CpuBackend();
    const arch = architectureOf(m.config);
    const { ids } = oracle('mixtral');
    const shapes = [{ batch: 1, seqLen: 48 }];
    const xs = arch.embedFromSource(m.config, m.source, be, [{ ids, shape: shapes[0] }]);
    const block = arch.loadBlock(m.config, m.source, be, 0);
    const stats = await collectHessians(be, m.config, block, xs, shapes);
    const routed = [0, 1, 2, 3].map((e) => stats[`block_sparse_moe.experts.${e}.w1`]);
    assert.equal(stats['block_sparse_moe.experts.0.w3'], routed[0], 'w1 and w3 share their input statistics');
    const counts = routed.map((a) => a.tokens);
    // Every token is routed to exactly 2 experts; an expert below MIN_ROUTED_TOKENS reports all 48.
    const starved = counts.filter((c) => c === 48).length;
    if (starved === 0) assert.equal(counts.reduce((a, b) => a + b, 0), 2 * 48, `${counts}`);
    assert.ok(counts.every((c) => c >= MIN_ROUTED_TOKENS && c <= 48), `${counts}`);
    // By hand: h = the MLP's input (the router's), routed by the top 2 of h W_router^T on the host;
    // an expert's H is the sum of h h^T over its tokens.
    let h: Float32Array | null = null;
    const xs2 = arch.embedFromSource(m.config, m.source, be, [{ ids, shape: shapes[0] }]);
    const seen: Tensor[] = [];
    be.free(arch.blockForward(be, m.config, block, xs2[0], shapes[0], (name, input) => { if (name === 'block_sparse_moe.gate') seen.push(input); }));
    h = await be.read(seen[0]);
    const d = m.config.hiddenSize, router = m.source.readF32('model.layers.0.block_sparse_moe.gate.weight');
    for (let e = 0; e < 4; e++) {
      if (counts[e] === 48 && starved > 0) continue;
      const want = new Float64Array(d * d);
      let tokens = 0;
      for (let t = 0; t < 48; t++) {
        const row = h.subarray(t * d, (t + 1) * d);
        const logits = [0, 1, 2, 3].map((x) => row.reduce((s, v, j) => s + v * router[x * d + j], 0));
        const top2 = [0, 1, 2, 3].sort((a, b) => logits[b] - logits[a]).slice(0, 2);
        if (!top2.includes(e)) continue;
        tokens++;
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) want[i * d + j] += row[i] * row[j];
      }
      assert.equal(routed[e].tokens, tokens, `expert ${e}: routed tokens`);
      assert.ok(relDiff(routed[e].sum, want) < 1e-5, `expert ${e}: ${relDiff(routed[e].sum, want)}`);
    }
  } finally {
    m.close();
  }
});
