/**
 * `--device gpu` end to end on kdoc-6m (the CLI in a child process, with this process's WebGPU
 * environment): perplexity equals the CPU's, quantized models evaluate alike, a GPTQ model
 * calibrated on the GPU matches the CPU-made one, and greedy generation gives the same tokens.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ASSETS, relDiff, runCli, tmpDir } from '../test/helpers.js';
import fs from 'node:fs';
import { openModelDir } from '../src/export/reader.js';
import { loadBlock } from '../src/arch/llama.js';
import { IntegerActLinear, uploadTensor } from '../src/arch/layers.js';
import { evaluate, loadModelDir } from '../src/eval/run.js';
import { createBackend, type Backend } from '../src/backend/index.js';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { collectDeviceHessians, collectHessians } from '../src/pipeline/calibrated.js';
import { sampleWindows } from '../src/calib/sample.js';
import { loadTokenizer, tokenizeFile } from '../src/io/tokenizer.js';

/** The adapter is SwiftShader (CI): f32 arithmetic as the CPU's, and slow. */
const onSwiftShader = /swiftshader/i.test(process.env.VK_DRIVER_FILES ?? '');

const evalArgs = (model: string, device: string) => ['eval', model, '--data', ASSETS.heldout, '--seq-len', '128', '--max-windows', '2', '--device', device, '--json'];

function json(args: string[], env: Record<string, string> = {}): Record<string, unknown> {
  const r = runCli(args, env);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

function pplOn(model: string, device: string): { ppl: number; backend: string } {
  const r = json(evalArgs(model, device));
  return { ppl: r.ppl as number, backend: r.backend as string };
}

test('lowbit eval --device gpu: kdoc-6m perplexity within 1e-4 relative of the CPU', () => {
  const gpu = pplOn(ASSETS.model, 'gpu'), cpu = pplOn(ASSETS.model, 'cpu');
  assert.match(gpu.backend, /^webgpu/);
  assert.ok(Math.abs(gpu.ppl / cpu.ppl - 1) < 1e-4, `gpu ${gpu.ppl} vs cpu ${cpu.ppl}`);
});

test('a packed RTN model evaluates on the GPU as on the CPU', () => {
  const out = path.join(tmpDir(), 'rtn4');
  json(['quantize', ASSETS.model, '--method', 'rtn', '--bits', '4', '--out', out, '--json']);
  const gpu = json([...evalArgs(out, 'gpu'), '--packed']).ppl as number, cpu = pplOn(out, 'cpu').ppl;
  assert.ok(Math.abs(gpu / cpu - 1) < 1e-4, `gpu ${gpu} vs cpu ${cpu}`);
});

test('W4A4 models (per-channel RTN; LRC with its low-rank terms) evaluate on the GPU by integer products as on the CPU by fake quantization', async () => {
  const made = [
    { name: 'rtn-w4a4', args: ['--method', 'rtn', '--bits', '4', '--a-bits', '4'], lowRank: false },
    { name: 'lrc', args: ['--method', 'lrc', '--calib', ASSETS.calib, '--calib-samples', '8', '--calib-seq-len', '128', '--lrc-iterations', '1'], lowRank: true },
  ];
  // Evaluated in this process (the GPU's pipelines compiled once for both models), as `lowbit eval` does:
  // one window on SwiftShader (slow there, and exact), two on a real GPU, where the flips below are
  // averaged over more tokens (the LRC model moved 1.2% on two windows of the H100, 2.4% on one).
  const be = await createBackend('gpu');
  const ppl = async (on: Backend, model: string) => (await evaluate(on, { modelDir: model, dataFile: ASSETS.heldout, seqLen: 128, maxWindows: onSwiftShader ? 1 : 2 })).ppl;
  try {
    for (const m of made) {
      const out = path.join(tmpDir(), m.name);
      json(['quantize', ASSETS.model, ...m.args, '--out', out, '--json']);
      const gpu = await ppl(be, out), cpu = await ppl(new CpuBackend(), out);
      // ~1e-7 on SwiftShader, whose f32 arithmetic leaves every activation code as the CPU's. A real
      // GPU's rounding differs in the last bits and flips codes at near-ties, and a 4-bit-activation
      // model of this size amplifies each flip (on the H100: RTN within 1e-5, LRC 1.2%; the GPU's own
      // fake quantization moves as much). The products themselves: the integerLinear kernel test.
      const bar = onSwiftShader ? 1e-5 : 2e-2;
      assert.ok(Math.abs(gpu / cpu - 1) < bar, `${m.name}: gpu ${gpu} vs cpu ${cpu}`);
      // Loaded on the GPU, every block linear is an integer one (with LRC's terms where made).
      const { model } = loadModelDir(be, out);
      const linears = model.blocks.flatMap((b) => Object.values(b.linears));
      assert.ok(linears.every((l) => l instanceof IntegerActLinear && (l.lowRank !== null) === m.lowRank), m.name);
    }
  } finally {
    be.dispose?.();
  }
});

test('a bf16 checkpoint kept in bf16 on the GPU (--packed) evaluates to exactly the perplexity of its f32 widening (f32 products)', () => {
  // The f32 kernel unpacks bf16 exactly; products by int8 slices (the default where the GPU has
  // them) are close to f32 but not bit-equal to it.
  const f32 = { LOWBIT_GPU_PRODUCTS: 'f32' };
  const half = json([...evalArgs(ASSETS.model, 'gpu'), '--packed'], f32).ppl as number;
  const widened = json([...evalArgs(ASSETS.model, 'gpu'), '--no-packed'], f32).ppl as number;
  assert.equal(half, widened);
});

test('calibration statistics on the GPU: every input group\'s Hessian X^T X of a block within 1e-5 of the CPU\'s; with 4-bit activations also X~^T X~ and X^T X~', async () => {
  const model = openModelDir(ASSETS.model);
  const ids = sampleWindows(tokenizeFile(loadTokenizer(ASSETS.model), ASSETS.calib), { samples: 3, seqLen: 128, seed: 0 });
  const act = { bits: 4, symmetric: true, clipRatio: 1 };
  type Sums = Record<string, { sum: Float32Array | Float64Array; qq?: Float32Array | Float64Array; xq?: Float32Array | Float64Array; tokens: number }>;
  const hessians = async (be: Backend, withAct: boolean): Promise<Sums> => {
    const embed = uploadTensor(be, model.source, 'model.embed_tokens.weight');
    const block = loadBlock(model.config, model.source, be, 1);
    const stats = await collectHessians(be, model.config, block, [be.embedding(embed, ids)], [{ batch: 3, seqLen: 128 }], withAct ? act : null);
    return Object.fromEntries(Object.entries(stats).map(([g, acc]) => [g, { sum: acc.sum, qq: acc.quantized?.qq, xq: acc.quantized?.xq, tokens: acc.tokens }]));
  };
  // Kept on the device (what GPTQ on the GPU uses; LRC reads them back): two batches summed by
  // products with beta = 1 on the upper tiles only, then mirrored (X^T X~ whole).
  const deviceHessians = async (be: Backend, withAct: boolean): Promise<Sums> => {
    const embed = uploadTensor(be, model.source, 'model.embed_tokens.weight');
    const block = loadBlock(model.config, model.source, be, 1);
    const xs = [be.embedding(embed, ids.subarray(0, 2 * 128)), be.embedding(embed, ids.subarray(2 * 128))];
    const stats = await collectDeviceHessians(be, be.solvers!, model.config, block, xs, [{ batch: 2, seqLen: 128 }, { batch: 1, seqLen: 128 }], withAct ? act : null);
    return Object.fromEntries(await Promise.all(Object.entries(stats).map(async ([g, h]) => [g, {
      sum: await be.read(h.sum), tokens: h.tokens, ...(h.quantized ? { qq: await be.read(h.quantized.qq), xq: await be.read(h.quantized.xq) } : {}),
    }] as const)));
  };
  const gpu = await createBackend('gpu');
  for (const withAct of [false, true]) {
    const [g, c, d] = [await hessians(gpu, withAct), await hessians(new CpuBackend(), withAct), await deviceHessians(gpu, withAct)];
    for (const group of Object.keys(c)) {
      assert.ok(relDiff(g[group].sum, c[group].sum) < 1e-5, `${group}: ${relDiff(g[group].sum, c[group].sum)}`);
      assert.ok(relDiff(d[group].sum, c[group].sum) < 1e-5, `${group} (on the device): ${relDiff(d[group].sum, c[group].sum)}`);
      for (const what of withAct ? ['qq', 'xq'] as const : []) {
        // The device's sums against the host's of the same GPU forward (the same codes); against the
        // CPU's, a few codes flip at near-ties (inputs that differ in the last bits), each ~1e-3.
        assert.ok(relDiff(d[group][what]!, g[group][what]!) < 1e-5, `${group} ${what} (on the device): ${relDiff(d[group][what]!, g[group][what]!)}`);
        assert.ok(relDiff(g[group][what]!, c[group][what]!) < 2e-2, `${group} ${what}: ${relDiff(g[group][what]!, c[group][what]!)}`);
      }
      if (withAct) assert.ok(relDiff(c[group].qq!, c[group].sum) > 1e-3, `${group}: X~ is not X`);
      assert.equal(d[group].tokens, 3 * 128);
    }
  }
  gpu.dispose?.();
  model.close();
});

// LRC (W4A4) is rotated as the paper runs it, on 32 windows: W4A4 kdoc-6m is chaotic on few
// (CPU-made at 8 windows: ppl 47.2, 33.8, 31.8 for calibration seeds 0, 1, 2 unrotated, 17.5, 16.2,
// 15.5 rotated; at 32 windows rotated 13.69, 13.89, 13.69), so its bar is that seed spread, 2%.
// On SwiftShader LRC's solve waits on ~40 read-backs a layer (its SVD's orthonormalisations), at
// ~0.1 s each there: the whole model took 5 minutes. It runs on a real GPU (npm run gpu-check); on
// SwiftShader, gpu-test/solvers.test.ts checks LRC's device solve against the host's layer by layer.
for (const [method, extra, samples, bar] of [['gptq', [], 8, 0.005], ['quantease', ['--iterations', '2'], 8, 0.005], ['lrc', ['--lrc-iterations', '2', '--rotate', 'hadamard'], 32, 0.02]] as const)
  test(`${method} calibrated with --device gpu: solved on the GPU, perplexity within ${bar * 100}% of the CPU-made model, layer errors alike`, { skip: method === 'lrc' && onSwiftShader && 'slow on SwiftShader (see above)' }, () => {
    const dir = tmpDir();
    const made: Record<string, { out: string; layers: Record<string, { report?: { relError?: number; solvedOnDevice?: boolean } }> }> = {};
    for (const device of ['gpu', 'cpu']) {
      const out = path.join(dir, device);
      // 8 (or 32) x 128 tokens: more than the widest input (704), so every Hessian has full rank.
      json(['quantize', ASSETS.model, '--method', method, '--bits', '4', ...extra, '--calib', ASSETS.calib, '--calib-samples', String(samples), '--calib-seq-len', '128',
        '--device', device, '--out', out, '--json']);
      made[device] = { out, layers: JSON.parse(fs.readFileSync(path.join(out, 'lowbit.json'), 'utf8')).layers };
    }
    // Codes are not expected to agree one for one: Hessians that differ in the last bits flip
    // near-ties, and the solvers' feedback carries each flip along its row and into later blocks.
    const errors = (d: string) => Object.values(made[d].layers).map((e) => e.report!.relError!);
    const [eg, ec] = [errors('gpu'), errors('cpu')];
    assert.equal(eg.length, 42);
    // The GPU run solved every layer on the device (the method's quantizeOnDevice), the CPU run none.
    assert.ok(Object.values(made.gpu.layers).every((e) => e.report!.solvedOnDevice === true), 'every layer solved on the GPU');
    assert.ok(Object.values(made.cpu.layers).every((e) => e.report!.solvedOnDevice === undefined), 'no layer solved on a device on the CPU');
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    assert.ok(Math.abs(mean(eg) / mean(ec) - 1) < 0.02, `mean layer error ${mean(eg)} vs ${mean(ec)}`);
    const ppl = (model: string) => json(['eval', model, '--data', ASSETS.heldout, '--max-windows', '64', '--json']).ppl as number;
    const pg = ppl(made.gpu.out), pc = ppl(made.cpu.out);
    assert.ok(Math.abs(pg / pc - 1) < bar, `gpu-made ${pg} vs cpu-made ${pc}`);
  });

test('lowbit generate --device gpu: the same greedy tokens as the CPU', () => {
  const gen = (device: string) => json(['generate', ASSETS.model, '--prompt', 'The kernel scheduler', '--max-tokens', '12', '--device', device, '--json']).tokens;
  assert.deepEqual(gen('gpu'), gen('cpu'));
});

test('zero-shot tasks on the GPU: the shipped multiple-choice set scores as on the CPU', () => {
  const args = (device: string) => ['eval', ASSETS.model, '--tasks-file', ASSETS.mc, '--limit', '8', '--device', device, '--json'];
  const gpu = json(args('gpu')).results as Record<string, Record<string, number>>, cpu = json(args('cpu')).results as Record<string, Record<string, number>>;
  assert.deepEqual(gpu['kdoc-mc'], cpu['kdoc-mc']);
});
