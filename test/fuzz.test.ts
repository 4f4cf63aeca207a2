/**
 * The fuzz suite: seeded random mutations (bit flips, truncations, huge counts and lengths, wrong
 * types, deleted and duplicated keys, overlapping offsets) of every file lowbit parses: safetensors
 * (bytes and JSON header), config.json, tokenizer.json, tokenizer_config.json, lowbit.json, GGUF, and
 * zero-shot task files (JSON Lines records, Parquet bytes).
 * Each case opens the model, reads tensors (dense and packed), tokenizes and evaluates a short window.
 * The runner (scripts/fuzz.ts) works under a hard memory cap (RLIMIT_DATA 700 MB for inputs of a
 * few MB), so an allocation trusted from a header kills it; every case must end in a correct result
 * or a one-line LowbitError. Seeded and bounded in time (40 s); the case count is printed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT, makeTinyModel, runCli, tmpDir } from './helpers.js';

test('fuzzed inputs end in a correct result or a one-line error: no crash, no hang, no allocation past the cap', () => {
  const dir = tmpDir();
  const tiny = makeTinyModel(path.join(dir, 'tiny'), { hidden: 64, layers: 1, mlp: 64 });
  assert.equal(runCli(['quantize', tiny, '--bits', '3', '--group-size', '32', '--out', path.join(dir, 'rtn3')]).code, 0);
  assert.equal(runCli(['quantize', tiny, '--gguf', 'Q4_0', '--out', path.join(dir, 'tiny-q4_0.gguf')]).code, 0);
  // Zero-shot task data: JSON Lines and Parquet, in the harness datasets' formats.
  fs.mkdirSync(path.join(dir, 'tasks'));
  for (const f of ['piqa.jsonl', 'hellaswag.jsonl', 'winogrande.jsonl', 'arc_easy.parquet'])
    fs.copyFileSync(path.join(ROOT, 'test', 'fixtures', 'tasks', f), path.join(dir, 'tasks', f));
  const r = spawnSync('prlimit', ['--data=700000000', process.execPath, path.join(ROOT, 'dist/scripts/fuzz.js'), '20261124', '40', dir], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `fuzz runner died: ${r.stderr.slice(-2000)}`);
  const report = JSON.parse(r.stdout);
  console.log(`fuzz: ${report.cases} cases (${report.ok} read correctly, ${report.errors} one-line errors) over ${report.targets.length} files`);
  assert.deepEqual(report.findings, []);
  assert.ok(report.cases > 500, `only ${report.cases} cases ran`);
});
