/** The calibration plumbing: the Hessians the pipeline collects are X^T X of the real layer inputs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { embedTokens, loadBlock, loadModel } from '../src/arch/llama.js';
import { openModelDir } from '../src/export/reader.js';
import { collectHessians } from '../src/pipeline/calibrated.js';
import { makeTinyModel, relDiff, runCli, tmpDir, ASSETS } from './helpers.js';

test('attn_in Hessian of block 0 equals sum over tokens of rmsnorm(embedding)^T rmsnorm(embedding)', async () => {
  const dir = makeTinyModel(path.join(tmpDir(), 'm'));
  const be = new CpuBackend();
  const m = openModelDir(dir);
  const model = loadModel(m.config, m.source, be);
  const ids = Int32Array.from({ length: 2 * 24 }, (_, i) => (i * 53) % 4096);
  const shapes = [{ batch: 1, seqLen: 24 }, { batch: 1, seqLen: 24 }];
  const xs = [embedTokens(be, model, ids.subarray(0, 24)), embedTokens(be, model, ids.subarray(24))];
  const h = await collectHessians(be, m.config, loadBlock(m.config, m.source, be, 0), xs, shapes);
  const attnIn = h['self_attn.q_proj'];
  assert.equal(attnIn.tokens, 48);
  assert.equal(h['mlp.down_proj'].dim, 96);
  assert.equal(h['self_attn.k_proj'], attnIn, 'q/k/v share one accumulator');
  // By hand: x = embedding row, h = x / rms(x) * g, H = sum h h^T.
  const d = m.config.hiddenSize, emb = m.source.readF32('model.embed_tokens.weight'), g = m.source.readF32('model.layers.0.input_layernorm.weight');
  const want = new Float64Array(d * d);
  for (const id of ids) {
    const x = emb.subarray(id * d, (id + 1) * d);
    const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / d + m.config.rmsNormEps);
    const hv = Array.from(x, (v, j) => (v / rms) * g[j]);
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) want[i * d + j] += hv[i] * hv[j];
  }
  assert.ok(relDiff(attnIn.sum, want) < 1e-5, `${relDiff(attnIn.sum, want)}`);
});

test('CLI: calibrated methods require --calib, data-free ones refuse it', () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'm'));
  const a = runCli(['quantize', model, '--method', 'gptq', '--out', path.join(dir, 'q')]);
  assert.equal(a.code, 1);
  assert.match(a.stderr, /needs calibration text: pass calib \(--calib\)/);
  const b = runCli(['quantize', model, '--method', 'rtn', '--calib', ASSETS.calib, '--out', path.join(dir, 'q')]);
  assert.match(b.stderr, /uses no calibration data/);
});

test('CLI: GPTQ on a tiny model writes per-layer objectives and an evaluable model', () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'm'));
  const out = path.join(dir, 'q');
  const r = runCli(['quantize', model, '--method', 'gptq', '--bits', '4', '--group-size', '32', '--act-order',
    '--calib', ASSETS.calib, '--calib-samples', '4', '--calib-seq-len', '64', '--out', out, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.options.actOrder, true);
  assert.deepEqual(s.options.calibration, { file: ASSETS.calib, samples: 4, seqLen: 64, seed: 0 });
  const e = runCli(['eval', out, '--data', ASSETS.heldout, '--seq-len', '64', '--max-windows', '2', '--json']);
  assert.equal(e.code, 0, e.stderr);
  assert.ok(JSON.parse(e.stdout).ppl > 1);
});
