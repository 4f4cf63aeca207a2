/**
 * The core runs unchanged in Node and in a browser (issue: one core, two hosts). Checked on the
 * sources: no module below the pipeline layer, and no module the browser build reaches from its
 * entry points (src/web/*), imports a Node built-in or uses Node's globals (Buffer, process);
 * Node's modules are reached only through process.getBuiltinModule (io/node-files.ts). The browser
 * build itself (esbuild, platform browser) fails on such an import too; this test names the file.
 */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { builtinModules } from 'node:module';
import { ROOT } from './helpers.js';
import { VERSION } from '../src/util/version.js';

const SRC = path.join(ROOT, 'src');
/** Folders below pipeline/ (DEVELOPERS.md: cli -> api -> pipeline -> {export, calib, eval} -> {arch, quant} -> {backend, linalg, io} -> {native, util}). */
const CORE = ['util', 'native', 'linalg', 'io', 'backend', 'arch', 'quant', 'calib', 'eval', 'export'];
const WEB_ENTRIES = ['web/page.ts', 'web/quantize-worker.ts', 'web/job-worker.ts'];

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** The code without comments and string contents that are not import specifiers (enough for these checks). */
function code(file: string): string {
  return fs.readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
}

/** Static and dynamic import specifiers of a module. */
function imports(src: string): string[] {
  const found: string[] = [];
  for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/g)) found.push(m[1]);
  for (const m of src.matchAll(/(?:^|\n)\s*import\s+'([^']+)'/g)) found.push(m[1]);
  for (const m of src.matchAll(/(?<!typeof\s*)import\(\s*'([^']+)'\s*\)/g)) found.push(m[1]); // typeof import(...) is a type, erased
  return found;
}

/** Problems of one module: Node imports and Node globals. */
function nodeUses(file: string): string[] {
  const src = code(file);
  const problems = imports(src).filter((s) => builtins.has(s)).map((s) => `imports ${s}`);
  if (/(?<![\w.])Buffer\./.test(src)) problems.push('uses the Buffer global');
  if (/(?<![\w.?])process\.(?!getBuiltinModule)/.test(src)) problems.push('uses the process global (use globalThis.process?. or io/node-files.ts)');
  if (/(?<![\w.])((setImmediate|require)\s*\(|(__dirname|__filename)(?!\w))/.test(src)) problems.push('uses a Node-only global (setImmediate, __dirname, require)');
  return problems;
}

function walk(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
}

/** Every source module reachable from `entries` through relative imports. */
function closure(entries: string[]): string[] {
  const seen = new Set<string>(), todo = entries.map((e) => path.join(SRC, e));
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const s of imports(code(f))) if (s.startsWith('.')) todo.push(path.resolve(path.dirname(f), s).replace(/\.js$/, '.ts'));
  }
  return [...seen];
}

test('no core module (below pipeline/) imports a Node built-in or uses Buffer/process', () => {
  const files = CORE.flatMap((d) => walk(path.join(SRC, d)));
  assert.ok(files.length > 100, `found ${files.length} core modules`);
  const bad = files.flatMap((f) => nodeUses(f).map((p) => `${path.relative(ROOT, f)}: ${p}`));
  assert.deepEqual(bad, []);
});

test('the browser build reaches no Node built-in: every module imported from src/web/ is portable', () => {
  const files = closure(WEB_ENTRIES);
  // The page's worker runs the streaming loop, the GGUF writer, the readers and the evaluation.
  for (const m of ['pipeline/data-free-stream.ts', 'pipeline/data-free-job.ts', 'pipeline/calibrated-blocks.ts', 'export/gguf/writer.ts', 'io/safetensors.ts', 'eval/run.ts', 'api/quantize-options.ts'])
    assert.ok(files.includes(path.join(SRC, m)), `${m} is in the browser build`);
  const bad = files.flatMap((f) => nodeUses(f).map((p) => `${path.relative(ROOT, f)}: ${p}`));
  assert.deepEqual(bad, []);
});

test('the check itself catches a Node import, Buffer and process (so the tests above can fail)', () => {
  const dir = fs.mkdtempSync(path.join(ROOT, 'dist', 'portable-'));
  try {
    const cases: [string, string][] = [
      ["import fs from 'node:fs';\n", 'imports node:fs'],
      ["import { Worker } from 'worker_threads';\n", 'imports worker_threads'],
      ["const os = await import('node:os');\n", 'imports node:os'],
      ['const b = Buffer.alloc(4);\n', 'uses the Buffer global'],
      ['const e = process.env.X;\n', 'uses the process global (use globalThis.process?. or io/node-files.ts)'],
      ['await new Promise((r) => setImmediate(r));\n', 'uses a Node-only global (setImmediate, __dirname, require)'],
    ];
    for (const [text, problem] of cases) {
      const f = path.join(dir, 'm.ts');
      fs.writeFileSync(f, `/** process.env in a comment does not count */\n${text}`);
      assert.deepEqual(nodeUses(f), [problem]);
    }
    fs.writeFileSync(path.join(dir, 'ok.ts'), "const p = (globalThis as any).process?.getBuiltinModule?.('node:fs');\nexport const s = 'Buffer.alloc in a string';\n");
    assert.deepEqual(nodeUses(path.join(dir, 'ok.ts')).filter((p) => !p.includes('Buffer')), []);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('VERSION (written into every output, with no file to read in a browser) is package.json\'s version', () => {
  assert.equal(VERSION, JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
});
