/** Generation with a KV cache equals the full forward pass; sampling is seeded and respects top-k. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { loadModelDir } from '../src/eval/run.js';
import { generate, generateWith } from '../src/eval/generate.js';
import { forwardLogits } from '../src/arch/architecture.js';
import { GREEDY, argmax, makeSampler } from '../src/eval/sampling.js';
import { ASSETS, relDiff, runCli } from './helpers.js';

test('greedy generation with the KV cache picks the full forward pass\'s argmax at every step', async () => {
  const be = new CpuBackend();
  const { model, info } = loadModelDir(be, ASSETS.model);
  const prompt = info.tokenizer().encode('The kernel scheduler');
  const r = await generate(be, model, { prompt, maxTokens: 24, sampling: GREEDY });
  const all = Int32Array.from([...prompt, ...r.tokens.slice(0, -1)]);
  const logits = await be.read(forwardLogits(be, model, all, { batch: 1, seqLen: all.length }));
  const vocab = model.config.vocabSize;
  for (let i = 0; i < r.tokens.length; i++) {
    const row = logits.subarray((prompt.length - 1 + i) * vocab, (prompt.length + i) * vocab);
    assert.equal(r.tokens[i], argmax(row), `step ${i}`);
  }
  // And the cached logits themselves: the last step's logits equal the full pass's last row.
  let seen: Float32Array | null = null;
  const sampler = (l: Float32Array) => { seen = l.slice(); return argmax(l); };
  await generateWith(be, model, all, sampler);
  assert.ok(relDiff(seen!, logits.subarray((all.length - 1) * vocab)) < 1e-5);
});

test('sampling: the same seed gives the same tokens, top-k 1 is greedy, all draws stay in the top-k', () => {
  const logits = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i) * 3);
  const a = makeSampler({ temperature: 1, topK: 0, topP: 1, seed: 7 }), b = makeSampler({ temperature: 1, topK: 0, topP: 1, seed: 7 });
  const xs = Array.from({ length: 20 }, () => a(logits)), ys = Array.from({ length: 20 }, () => b(logits));
  assert.deepEqual(xs, ys);
  assert.ok(new Set(xs).size > 1, 'a temperature-1 sampler draws more than one token');
  const k1 = makeSampler({ temperature: 1, topK: 1, topP: 1, seed: 3 });
  assert.equal(k1(logits), argmax(logits));
  const top5 = [...logits.keys()].sort((i, j) => logits[j] - logits[i]).slice(0, 5);
  const k5 = makeSampler({ temperature: 2, topK: 5, topP: 1, seed: 4 });
  for (let i = 0; i < 50; i++) assert.ok(top5.includes(k5(logits)));
});

test('lowbit generate: streams text, stops at --max-tokens, rejects a prompt beyond the context', () => {
  const r = runCli(['generate', ASSETS.model, '--prompt', 'The kernel', '--max-tokens', '8', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.tokens.length, 8);
  const bad = runCli(['generate', ASSETS.model, '--prompt', 'x', '--max-tokens', '600']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /^lowbit: .*exceeds the model's context of 512 positions\n$/);
});
