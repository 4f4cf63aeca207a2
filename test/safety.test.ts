/**
 * Never lose the user's model: outputs that would replace or live inside the input are refused
 * (symlinks followed); the output lock makes concurrent runs with one --out fail instead of
 * silently replacing each other; temporaries of killed runs are cleared; option values are checked
 * against what they mean; windows beyond the model's context are refused at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { ASSETS, ROOT, runCli, tmpDir } from './helpers.js';

const hashDir = (d: string) => crypto.createHash('sha256').update(fs.readdirSync(d).sort().map((f) => f + fs.readFileSync(path.join(d, f)).toString('base64')).join()).digest('hex');
const deadPid = () => spawnSync(process.execPath, ['-e', '0']).pid!;

function copyModel(dir: string): string {
  const m = path.join(dir, 'model');
  fs.mkdirSync(m);
  for (const f of fs.readdirSync(ASSETS.model)) fs.copyFileSync(path.join(ASSETS.model, f), path.join(m, f));
  return m;
}

test('an output that is the input, inside it, a symlink to it, or around it is refused; the model is untouched', () => {
  const dir = tmpDir(), m = copyModel(dir), before = hashDir(m);
  fs.symlinkSync(m, path.join(dir, 'link'));
  const cases: [string, RegExp][] = [
    [m, /would replace the input model/],
    [path.join(m, 'sub'), /inside the input model/],
    [path.join(dir, 'link'), /would replace the input model/],
    [dir, /holds the input model/],
  ];
  for (const [out, why] of cases) {
    for (const extra of [[], ['--gguf', 'Q8_0']]) {
      const r = runCli(['quantize', m, '--out', out, '--force', ...extra]);
      assert.notEqual(r.code, 0, out);
      assert.match(r.stderr, why);
    }
  }
  const e = runCli(['export', m, '--out', path.join(m, 'x.gguf')]);
  assert.notEqual(e.code, 0);
  assert.equal(hashDir(m), before);
});

test('the output lock: a live run\'s lock refuses a second run; a killed run\'s lock and temporaries are cleared', () => {
  const dir = tmpDir(), out = path.join(dir, 'q');
  fs.writeFileSync(`${out}.lowbit-lock`, String(process.pid));
  const r = runCli(['quantize', ASSETS.model, '--out', out]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, new RegExp(`another lowbit run \\(pid ${process.pid}\\) is writing this output`));
  assert.ok(!fs.existsSync(out));
  const dead = deadPid();
  fs.writeFileSync(`${out}.lowbit-lock`, String(dead));
  fs.mkdirSync(`${out}.tmp-${dead}-abc`);
  fs.writeFileSync(`${out}.tmp-${dead}-abc/model.safetensors.body`, 'x');
  fs.writeFileSync(`${out}.tmp-${dead}-def.body`, 'x');
  fs.mkdirSync(`${out}.tmp-${process.pid}-live`); // a live run's temporary stays
  fs.mkdirSync(`${out}.tmp-notours`); // not lowbit's naming: untouched
  const ok = runCli(['quantize', ASSETS.model, '--out', out]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(fs.readdirSync(dir).sort(), ['q', `q.tmp-${process.pid}-live`, 'q.tmp-notours']);
});

test('two runs started at once with the same --out: exactly one succeeds, the other fails in one line', async () => {
  const dir = tmpDir(), out = path.join(dir, 'q');
  const run = () => new Promise<{ code: number; stderr: string }>((resolve) => {
    const p = spawn(process.execPath, [path.join(ROOT, 'bin', 'lowbit.js'), 'quantize', ASSETS.model, '--bits', '3', '--out', out], { cwd: ROOT });
    let stderr = '';
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
  const results = await Promise.all([run(), run(), run()]);
  assert.equal(results.filter((r) => r.code === 0).length, 1, JSON.stringify(results));
  for (const r of results.filter((x) => x.code !== 0)) assert.match(r.stderr, /^lowbit: .*(another lowbit run|already exists|appeared while)/);
  assert.ok(fs.existsSync(path.join(out, 'lowbit.json')));
  assert.deepEqual(fs.readdirSync(dir), ['q']);
});

test('option values are checked against what they mean; --seq-len beyond the context is refused at once', () => {
  const bad: [string[], RegExp][] = [
    [['--method', 'lrc', '--lrc-rank', '2', '--calib', ASSETS.calib], /--lrc-rank.*from 0 to 1/],
    [['--method', 'adpq', '--outlier-ratio', '0.9'], /--outlier-ratio.*from 0 to 0.5/],
    [['--method', 'adpq', '--outlier-bits', '5'], /--outlier-bits must be the code width/],
    [['--method', 'quantease', '--iterations', '0', '--calib', ASSETS.calib], /--iterations.*from 1 to 1000/],
    [['--method', 'gptq', '--block-size', '0', '--calib', ASSETS.calib], /--block-size.*from 1/],
    [['--method', 'gptq', '--damp', '-1', '--calib', ASSETS.calib], /--damp.*from 0 to 10/],
    [['--method', 'quantease-outlier', '--outlier-structure', 'row', '--calib', ASSETS.calib], /Allowed choices are entry, column/],
  ];
  const dir = tmpDir();
  for (const [args, why] of bad) {
    const r = runCli(['quantize', ASSETS.model, ...args, '--out', path.join(dir, 'x')]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, why, args.join(' '));
    assert.ok(!fs.existsSync(path.join(dir, 'x')));
  }
  const t0 = Date.now();
  const e = runCli(['eval', ASSETS.model, '--data', ASSETS.heldout, '--seq-len', '100000']);
  assert.notEqual(e.code, 0);
  assert.match(e.stderr, /--seq-len 100000 exceeds the model's context of 512 positions; pass --beyond-context/);
  assert.ok(Date.now() - t0 < 10_000);
});
