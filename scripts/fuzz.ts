/**
 * The fuzz runner: seeded random mutations of every file lowbit parses (task data files included), each opened and read the
 * way lowbit does. test/fuzz.test.ts runs it under a memory cap (it lives in scripts/ so the test
 * runner does not start it on its own). Every case must end in success or a
 * LowbitError whose message is one line; anything else (another exception type, a multi-line
 * message) is a finding. Prints one JSON line: { cases, ok, errors, findings: [...] }.
 *   node dist/scripts/fuzz.js <seed> <seconds> <inputs dir>
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { seededRandom } from '../src/calib/sample.js';
import { openModelDir } from '../src/export/reader.js';
import { GgufFile } from '../src/io/gguf.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { LowbitError } from '../src/util/errors.js';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { evaluate } from '../src/eval/run.js';
import { evaluateTasks } from '../src/api/model.js';
import { taskNameOf } from '../src/eval/tasks/run.js';

const seed = Number(process.argv[2] ?? 1), seconds = Number(process.argv[3] ?? 20);
const rand = seededRandom(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-fuzz-'));
const seedsDir = process.argv[4]!; // prepared inputs: a tiny checkpoint, a quantized directory, a GGUF file
const be = new CpuBackend();
const text = path.join(work, 'text.txt');
fs.writeFileSync(text, 'The kernel scheduler picks the next task to run on each CPU. '.repeat(8));

/** Byte-level mutations: bit flips, truncation, huge little-endian integers, overwritten spans, duplicated spans. */
function mutateBytes(b: Buffer, headerEnd: number): Buffer {
  const out = Buffer.from(b);
  const at = () => Math.floor(rand() * Math.min(out.length, rand() < 0.8 ? headerEnd : out.length));
  switch (pick(['flip', 'truncate', 'huge', 'zero', 'dup'] as const)) {
    case 'flip': for (let k = 1 + Math.floor(rand() * 8); k > 0; k--) out[at()] ^= 1 << Math.floor(rand() * 8); return out;
    case 'truncate': return out.subarray(0, Math.floor(rand() * out.length));
    case 'huge': { const p = at(); out.fill(rand() < 0.5 ? 0xff : 0x7f, p, Math.min(out.length, p + pick([4, 8]))); return out; }
    case 'zero': { const p = at(); out.fill(0, p, Math.min(out.length, p + 1 + Math.floor(rand() * 16))); return out; }
    case 'dup': { const p = at(), n = 1 + Math.floor(rand() * 32); return Buffer.concat([out.subarray(0, p + n), out.subarray(p)]); }
  }
}

/** JSON-level mutations: delete, retype, enlarge, duplicate keys, nest. */
function mutateJson(text: string): string {
  let v: unknown;
  try { v = JSON.parse(text); } catch { return text; }
  const paths: (string | number)[][] = [];
  const walk = (x: unknown, p: (string | number)[]) => {
    if (paths.length > 5000) return;
    paths.push(p);
    if (Array.isArray(x)) x.slice(0, 20).forEach((y, i) => walk(y, [...p, i]));
    else if (x && typeof x === 'object') for (const k of Object.keys(x)) walk((x as Record<string, unknown>)[k], [...p, k]);
  };
  walk(v, []);
  const p = pick(paths.slice(1));
  if (!p) return text;
  let parent = v as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) parent = parent[k] as Record<string | number, unknown>;
  const key = p[p.length - 1];
  const kind = pick(['delete', 'null', 'string', 'huge', 'negative', 'float', 'array', 'object', 'dupkey'] as const);
  if (kind === 'delete') delete parent[key];
  else if (kind === 'null') parent[key] = null;
  else if (kind === 'string') parent[key] = 'x';
  else if (kind === 'huge') parent[key] = pick([2 ** 53, 1e300, 4294967297, Number.MAX_SAFE_INTEGER]);
  else if (kind === 'negative') parent[key] = -1 - Math.floor(rand() * 1000);
  else if (kind === 'float') parent[key] = 0.5;
  else if (kind === 'array') parent[key] = [parent[key], parent[key]];
  else if (kind === 'object') parent[key] = { value: parent[key] };
  else if (kind === 'dupkey') return JSON.stringify(v).replace(/^\{/, `{"${String(key)}": 1, `);
  return JSON.stringify(v);
}

/** safetensors header edits: shapes, dtypes and offsets that disagree or overlap. */
function mutateSafetensorsHeader(b: Buffer): Buffer {
  const n = Number(b.readBigUInt64LE(0));
  const header = b.subarray(8, 8 + n).toString('utf8');
  const mutated = Buffer.from(mutateJson(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(rand() < 0.1 ? n * 1000 : mutated.length));
  return Buffer.concat([len, mutated, b.subarray(8 + n)]);
}

/** Opens a model the way eval does and reads tensors; tokenizes a line; evaluates a short window. */
async function exercise(target: string): Promise<void> {
  await evaluate(be, { modelDir: target, dataFile: text, seqLen: 16, maxWindows: 1, packed: rand() < 0.5 });
  const m = openModelDir(target);
  try {
    for (const name of ['model.embed_tokens.weight', 'model.layers.0.self_attn.q_proj.weight', 'model.layers.0.mlp.down_proj.weight', 'model.norm.weight'])
      if (m.source.has(name)) {
        m.source.readF32(name);
        m.source.readPacked?.(name)?.decode();
      }
    m.tokenizer().encode('The kernel scheduler picks the next task.');
  } finally {
    m.close();
  }
}

/** Task data files (JSONL lines, Parquet bytes): read, checked and scored on the tiny model, as `eval --tasks` does. */
async function exerciseTasks(dir: string, file: string): Promise<void> {
  await evaluateTasks(path.join(seedsDir, 'tiny'), { tasks: [taskNameOf(file)], taskDir: dir, limit: 3 });
}

/** One JSON Lines record mutated as JSON, the others kept. */
function mutateJsonLines(text: string): string {
  const lines = text.split('\n');
  const i = Math.floor(rand() * Math.max(1, lines.length - 1));
  lines[i] = rand() < 0.2 ? lines[i].slice(0, Math.floor(rand() * lines[i].length)) : mutateJson(lines[i]);
  return lines.join('\n');
}

interface Target { name: string; dir: string; file: string; kind: 'bytes' | 'json' | 'jsonl' | 'st-header' | 'gguf'; headerEnd: number; check: (p: string) => Promise<void> }

const targets: Target[] = [];
const copyDir = (from: string, to: string) => { fs.mkdirSync(to, { recursive: true }); for (const f of fs.readdirSync(from)) fs.copyFileSync(path.join(from, f), path.join(to, f)); };
for (const d of fs.readdirSync(seedsDir)) {
  const p = path.join(seedsDir, d);
  if (d.endsWith('.gguf')) {
    const g = GgufFile.open(p);
    const headerEnd = g.dataStart;
    g.close();
    targets.push({ name: d, dir: '', file: p, kind: 'gguf', headerEnd, check: (f) => exercise(f) });
    continue;
  }
  for (const f of fs.readdirSync(p)) {
    const full = path.join(p, f);
    if (d === 'tasks') {
      if (f.endsWith('.jsonl')) targets.push({ name: `${d}/${f}`, dir: p, file: full, kind: 'jsonl', headerEnd: 0, check: (dir) => exerciseTasks(dir, f) });
      if (f.endsWith('.parquet')) targets.push({ name: `${d}/${f}`, dir: p, file: full, kind: 'bytes', headerEnd: fs.statSync(full).size, check: (dir) => exerciseTasks(dir, f) });
      continue;
    }
    if (f.endsWith('.json')) targets.push({ name: `${d}/${f}`, dir: p, file: full, kind: 'json', headerEnd: 0, check: (dir) => exercise(dir) });
    if (f.endsWith('.safetensors')) {
      const st = SafetensorsFile.open(full);
      const headerEnd = 8 + Number(fs.readFileSync(full).readBigUInt64LE(0));
      st.close();
      targets.push({ name: `${d}/${f}`, dir: p, file: full, kind: 'bytes', headerEnd, check: (dir) => exercise(dir) });
      targets.push({ name: `${d}/${f} header`, dir: p, file: full, kind: 'st-header', headerEnd, check: (dir) => exercise(dir) });
    }
  }
}

const findings: { target: string; error: string }[] = [];
let cases = 0, ok = 0, errors = 0;
const deadline = Date.now() + seconds * 1000;
while (Date.now() < deadline) {
  const t = targets[cases % targets.length];
  cases++;
  const original = fs.readFileSync(t.file);
  if (process.env.FUZZ_TRACE) process.stderr.write(`${cases} ${t.name}\n`);
  let subject: string;
  if (t.kind === 'gguf') {
    subject = path.join(work, `case.gguf`);
    fs.writeFileSync(subject, mutateBytes(original, t.headerEnd));
  } else {
    subject = path.join(work, 'case');
    fs.rmSync(subject, { recursive: true, force: true });
    copyDir(t.dir, subject);
    const target = path.join(subject, path.basename(t.file));
    const mutated = t.kind === 'json' ? mutateJson(original.toString('utf8')) : t.kind === 'jsonl' ? mutateJsonLines(original.toString('utf8')) : t.kind === 'st-header' ? mutateSafetensorsHeader(original) : mutateBytes(original, t.headerEnd);
    fs.writeFileSync(target, mutated);
  }
  try {
    await t.check(subject);
    ok++;
  } catch (e) {
    if (e instanceof LowbitError && !e.message.includes('\n')) errors++;
    else findings.push({ target: t.name, error: `${(e as Error)?.constructor?.name}: ${String((e as Error)?.stack ?? e).split('\n').slice(0, 3).join(' | ')}` });
  }
}
fs.rmSync(work, { recursive: true, force: true });
console.log(JSON.stringify({ cases, ok, errors, findings: findings.slice(0, 20), findingCount: findings.length, targets: targets.map((t) => t.name) }));
