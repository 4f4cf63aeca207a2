/**
 * The package as users get it: `npm pack`, then `npm install <tarball>` into an empty project (the
 * install compiles the native kernels there), then the CLI (`npx lowbit demo`), the README's API
 * examples, and a TypeScript file type-checked against the package's declarations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { ROOT, tmpDir } from './helpers.js';
import { VERSION } from '../src/util/version.js';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function run(cmd: string, args: string[], opts: SpawnSyncOptions): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 600_000, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed:\n${r.stderr}\n${r.stdout}`);
  return String(r.stdout);
}

/** The README's code blocks marked ```js example:<file>, by file name. */
function readmeExamples(): Map<string, string> {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  return new Map([...readme.matchAll(/^```js example:(\S+)\n([\s\S]*?)^```$/gm)].map((m) => [m[1], m[2]]));
}

/** Files the package must hold, and what it must not (tests, benchmarks, build outputs, verifier). */
const MUST_HOLD = [
  'package.json', 'README.md', 'LICENSE', 'bin/lowbit.js', 'dist/src/api/index.js', 'dist/src/api/index.d.ts', 'dist/src/cli/main.js',
  'dist/src/pipeline/data-free-worker.js', 'binding.gyp', 'scripts/build-native.js', 'src/native/gemm.cc', 'src/native/kernels.h',
  'assets/kdoc-6m/config.json', 'assets/kdoc-6m/model.safetensors', 'assets/kdoc-6m/tokenizer.json', 'assets/kdoc-heldout.txt', 'assets/kdoc-calib.txt',
];
const MUST_NOT_HOLD = /^(test|gpu-test|bench|scripts\/oracle|dist\/(test|gpu-test|bench|scripts)|build|node_modules|\.verifier|\.device|\.ci)\/|\.map$|\.ts$(?<!\.d\.ts)/;

/** A TypeScript user of the API: must compile, and each @ts-expect-error must be a real type error. */
const TYPED_USER = `
import { quantize, evaluate, loadModel, LowbitError, type QuantizeResult, type ProgressEvent } from 'lowbit';

const progress = (e: ProgressEvent): void => console.log(e.stage, e.done, e.total);
const r: QuantizeResult = await quantize('model', { out: 'q', method: 'gptq', calib: 'c.txt', damp: 0.02, actOrder: true, onProgress: progress });
const bits: number = r.summary.bitsPerWeight;
const m = await loadModel('q', { device: 'cpu' });
const ppl: number = (await m.evaluate('some text', { seqLen: 128 })).ppl;
const e: unknown = new LowbitError('problem', 'file');
console.log(bits, ppl, e instanceof LowbitError && e.file);
// @ts-expect-error bits is a number
await quantize('model', { out: 'q', bits: '4' });
// @ts-expect-error out is required
await quantize('model', { bits: 4 });
// @ts-expect-error lrcRank is LRC's option, not GPTQ's
await quantize('model', { out: 'q', method: 'gptq', lrcRank: 0.1 });
// @ts-expect-error no such method
await quantize('model', { out: 'q', method: 'awq' });
// @ts-expect-error seqLen, not seq_len
await evaluate('model', 'text', { seq_len: 128 });
`;

test('the package installs from its tarball into an empty project: npx lowbit demo, the README examples and TypeScript all work there', { timeout: 900_000 }, () => {
  const dir = tmpDir('lowbit-package-');
  // npm test has just built dist/, so the pack runs no scripts (prepare would rebuild it under the other tests).
  const [pack] = JSON.parse(run(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: ROOT }));
  const files: string[] = pack.files.map((f: { path: string }) => f.path);
  for (const f of MUST_HOLD) assert.ok(files.includes(f), `the package lacks ${f}`);
  const stray = files.filter((f) => MUST_NOT_HOLD.test(f));
  assert.deepEqual(stray, [], 'files the package must not hold');
  console.log(`npm pack: ${pack.filename}, ${(pack.size / 1e6).toFixed(2)} MB packed, ${(pack.unpackedSize / 1e6).toFixed(2)} MB unpacked, ${pack.entryCount} files`);
  assert.ok(pack.size < 12e6, `package of ${pack.size} bytes`); // 11.2 MB: the embedded model's bf16 weights are 13 MB of the 16 unpacked

  const project = path.join(dir, 'project');
  fs.mkdirSync(project);
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'uses-lowbit', private: true, type: 'module' }));
  const t0 = performance.now();
  run(npm, ['install', path.join(dir, pack.filename), '--no-audit', '--no-fund', '--prefer-offline'], { cwd: project });
  console.log(`npm install <tarball>: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const installed = path.join(project, 'node_modules', 'lowbit');
  assert.ok(fs.existsSync(path.join(installed, 'build', 'Release', 'lowbit_native.node')), 'npm install compiled the native kernels');

  // The CLI.
  assert.equal(run(npm, ['exec', '--', 'lowbit', '--version'], { cwd: project }).trim(), VERSION);
  const demo = JSON.parse(run(npm, ['exec', '--', 'lowbit', 'demo', '--max-windows', '4', '--calib-samples', '4', '--json'], { cwd: project }));
  assert.equal(demo.rows.length, 7);
  const [original, rtn4] = demo.rows;
  assert.ok(original.ppl > 1 && rtn4.ppl > original.ppl && rtn4.ppl < original.ppl * 1.1, JSON.stringify(demo.rows));

  // The README's examples, as written.
  const examples = readmeExamples();
  assert.deepEqual([...examples.keys()], ['data-free.mjs', 'gptq.mjs']);
  for (const [name, code] of examples) fs.writeFileSync(path.join(project, name), code);
  const q4km = run(process.execPath, ['data-free.mjs'], { cwd: project });
  // llama-quantize's Q4_K_M mix on kdoc-6m is 5.019 bits/weight (README, the race table; test/gguf.test.ts checks the bytes).
  assert.match(q4km, /at 5\.019 bits\/weight/);
  assert.ok(fs.statSync(path.join(project, 'kdoc-q4km.gguf')).size > 1e6);
  const gptq = run(process.execPath, ['gptq.mjs'], { cwd: project });
  const [, before, after] = /perplexity ([\d.]+) -> ([\d.]+)/.exec(gptq) ?? [];
  assert.ok(Number(after) > Number(before) && Number(after) < Number(before) * 1.25, gptq);

  // TypeScript against the installed declarations (the repository's compiler and Node types).
  fs.writeFileSync(path.join(project, 'typed.ts'), TYPED_USER);
  run(process.execPath, [
    path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--skipLibCheck', '--target', 'es2022', '--module', 'nodenext',
    '--moduleResolution', 'nodenext', '--typeRoots', path.join(ROOT, 'node_modules', '@types'), '--types', 'node', 'typed.ts',
  ], { cwd: project });
});
