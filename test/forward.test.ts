/**
 * The forward pass against the oracle: Hugging Face transformers' logits and perplexity of
 * kdoc-6m (fixtures made by scripts/oracle/forward_oracle.py on the GPU machine).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { forwardLogits } from '../src/arch/architecture.js';
import { PackedLinear } from '../src/arch/layers.js';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { loadModelDir } from '../src/eval/run.js';
import { perplexity } from '../src/eval/perplexity.js';
import { loadTokenizer, tokenizeFile } from '../src/io/tokenizer.js';
import { ASSETS, ROOT, makeTinyModel, relDiff, tmpDir } from './helpers.js';

const fixtures = path.join(ROOT, 'test/fixtures');
const oracle = JSON.parse(fs.readFileSync(path.join(fixtures, 'oracle-forward.json'), 'utf8'));

test('kdoc-6m logits on a 512-token window agree with transformers to 1e-4 relative', async () => {
  const f = SafetensorsFile.open(path.join(fixtures, 'oracle-logits.safetensors'));
  const ids = new Int32Array(f.readBytes('ids').buffer.slice(0));
  const positions = new Int32Array(f.readBytes('positions').buffer.slice(0));
  const want = f.readF32('logits');
  f.close();
  const be = new CpuBackend();
  const { model } = loadModelDir(be, ASSETS.model);
  const logits = await be.read(forwardLogits(be, model, ids, { batch: 1, seqLen: ids.length }));
  const vocab = model.config.vocabSize;
  positions.forEach((p, i) => {
    const d = relDiff(logits.subarray(p * vocab, (p + 1) * vocab), want.subarray(i * vocab, (i + 1) * vocab));
    assert.ok(d < 1e-4, `position ${p}: relative difference ${d}`);
  });
});

test('kdoc-6m perplexity on kdoc-heldout at seq-len 512 agrees with transformers to 0.1%', async () => {
  const be = new CpuBackend();
  const { model } = loadModelDir(be, ASSETS.model);
  const tokens = tokenizeFile(loadTokenizer(ASSETS.model), ASSETS.heldout);
  const r = await perplexity(be, model, tokens, { seqLen: 512 });
  assert.equal(r.windows, oracle.windows);
  assert.ok(Math.abs(r.ppl / oracle.ppl - 1) < 1e-3, `lowbit ${r.ppl} vs transformers ${oracle.ppl}`);
});

test('a bf16 checkpoint loaded packed (2 bytes a weight, widened per forward pass) gives the logits it gives widened at load', async () => {
  const dir = makeTinyModel(path.join(tmpDir(), 'm'), { dtype: 'BF16' });
  const ids = Int32Array.from({ length: 40 }, (_, i) => (i * 89) % 4096);
  const be = new CpuBackend();
  const run = async (mode: boolean) => {
    const { model } = loadModelDir(be, dir, undefined, mode);
    const packed = Object.values(model.blocks[0].linears).every((l) => l instanceof PackedLinear);
    return { packed, logits: await be.read(forwardLogits(be, model, ids, { batch: 1, seqLen: 40 })) };
  };
  const a = await run(true), b = await run(false);
  assert.deepEqual([a.packed, b.packed], [true, false]);
  assert.deepEqual(a.logits, b.logits);
});

test('TypeScript kernels and native kernels give the same logits (GQA, Qwen2 bias, BF16 weights)', async () => {
  const dir = makeTinyModel(path.join(tmpDir(), 'm'), { family: 'qwen2', dtype: 'BF16' });
  const ids = Int32Array.from({ length: 2 * 40 }, (_, i) => (i * 97) % 4096);
  const run = async (be: CpuBackend) => {
    const { model } = loadModelDir(be, dir);
    return be.read(forwardLogits(be, model, ids, { batch: 2, seqLen: 40 }));
  };
  const a = await run(new CpuBackend()), b = await run(new CpuBackend(null));
  assert.ok(relDiff(a, b) < 1e-5, `native vs TypeScript: ${relDiff(a, b)}`);
});

test('windows are independent: a batch of two equals two single-window runs', async () => {
  const dir = makeTinyModel(path.join(tmpDir(), 'm'));
  const be = new CpuBackend();
  const { model } = loadModelDir(be, dir);
  const ids = Int32Array.from({ length: 64 }, (_, i) => (i * 131) % 4096);
  const both = await be.read(forwardLogits(be, model, ids, { batch: 2, seqLen: 32 }));
  const second = await be.read(forwardLogits(be, model, ids.subarray(32), { batch: 1, seqLen: 32 }));
  assert.ok(relDiff(both.subarray(32 * 4096), second) < 1e-6);
});

test('Mistral sliding window: a window covering the sequence changes nothing, a short one does', async () => {
  const ids = Int32Array.from({ length: 48 }, (_, i) => (i * 31) % 4096);
  const logitsWith = async (window: number | null) => {
    const dir = makeTinyModel(path.join(tmpDir(), 'm'), { family: 'mistral', config: { sliding_window: window } });
    const be = new CpuBackend();
    const { model } = loadModelDir(be, dir);
    return be.read(forwardLogits(be, model, ids, { batch: 1, seqLen: 48 }));
  };
  const full = await logitsWith(null), wide = await logitsWith(48), narrow = await logitsWith(8);
  assert.ok(relDiff(wide, full) < 1e-7);
  assert.ok(relDiff(narrow, full) > 1e-3);
  // The first 8 positions see the same keys either way.
  assert.ok(relDiff(narrow.subarray(0, 8 * 4096), full.subarray(0, 8 * 4096)) < 1e-6);
});
