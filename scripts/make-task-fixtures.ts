/**
 * Writes the zero-shot task fixtures (test/fixtures/tasks/<task>.jsonl): a few dozen documents per
 * task in the published dataset's own record format (field names, types, label conventions), made
 * from sentences of kdoc-6m's held-out text so the model sees its kind of language. They test the
 * harness-compatible prompt construction and scoring, not knowledge: the oracle
 * (scripts/oracle/tasks_oracle.py) scores the same documents with the harness's own task files.
 *
 *   npm run build && node dist/scripts/make-task-fixtures.js
 */
import fs from 'node:fs';
import path from 'node:path';
import { seededRandom } from '../src/calib/sample.js';
import { ASSETS, ROOT } from '../src/api/assets.js';

const OUT = path.join(ROOT, 'test', 'fixtures', 'tasks');

/** Prose sentences of the held-out text: plain words, 8 to 30 of them, ending with a full stop. */
function sentences(): string[] {
  const text = fs.readFileSync(ASSETS.heldout, 'utf8');
  const out: string[] = [];
  for (const para of text.split(/\n\s*\n/)) {
    const flat = para.replace(/\s+/g, ' ').trim();
    for (const s of flat.split(/(?<=\.) (?=[A-Z])/)) {
      const words = s.split(' ');
      if (words.length >= 8 && words.length <= 30 && /^[A-Z][A-Za-z ,'()-]+\.$/.test(s)) out.push(s);
    }
  }
  return [...new Set(out)];
}

const all = sentences();
const random = seededRandom(2026);
const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
const shuffled = <T>(xs: T[]): T[] => xs.map((x) => [random(), x] as const).sort((a, b) => a[0] - b[0]).map(([, x]) => x);
let cursor = 0;
const next = () => all[(cursor++ * 7919) % all.length];
/** A sentence cut after `k` of its words: the prefix and the rest. */
function cut(s: string, k: number): [string, string] {
  const w = s.split(' ');
  return [w.slice(0, k).join(' '), w.slice(k).join(' ')];
}
const endings = (n: number) => Array.from({ length: n }, () => cut(next(), 5)[1]);

function write(task: string, docs: object[]): void {
  fs.mkdirSync(OUT, { recursive: true });
  fs.writeFileSync(path.join(OUT, `${task}.jsonl`), docs.map((d) => JSON.stringify(d)).join('\n') + '\n');
  console.log(`${task}: ${docs.length} documents`);
}

// PIQA (baber/piqa, validation): goal, sol1, sol2, label 0|1.
write('piqa', Array.from({ length: 24 }, () => {
  const [goal, rest] = cut(next(), 6);
  const label = random() < 0.5 ? 0 : 1;
  const sols = label === 0 ? [rest, endings(1)[0]] : [endings(1)[0], rest];
  return { goal, sol1: sols[0], sol2: sols[1], label };
}));

// ARC (allenai/ai2_arc, ARC-Easy / ARC-Challenge test): id, question, choices {text, label}, answerKey.
// Some questions have 3 or 5 choices and numeric labels, as a few of ARC's do.
for (const [task, n] of [['arc_easy', 20], ['arc_challenge', 16]] as const)
  write(task, Array.from({ length: n }, (_, i) => {
    const [question, rest] = cut(next(), 7);
    const count = i % 7 === 3 ? 3 : i % 7 === 5 ? 5 : 4;
    const texts = shuffled([rest, ...endings(count - 1)]);
    const labels = i % 5 === 2 ? texts.map((_, j) => String(j + 1)) : texts.map((_, j) => 'ABCDE'[j]);
    return { id: `kdoc-${task}-${i}`, question: `${question}?`, choices: { text: texts, label: labels }, answerKey: labels[texts.indexOf(rest)] };
  }));

// HellaSwag (Rowan/hellaswag, validation): ctx_a, ctx_b (lower-case start: the task capitalizes it), endings,
// label as a string; WikiHow-style "[title]" and "[step]" artefacts in some, which the task's preprocessing removes.
write('hellaswag', Array.from({ length: 20 }, (_, i) => {
  const ctxA = next();
  const [b, rest] = cut(next(), 4);
  const ctxB = b.charAt(0).toLowerCase() + b.slice(1);
  const label = Math.floor(random() * 4);
  const ends = endings(3);
  ends.splice(label, 0, rest);
  const wikihow = i % 4 === 1;
  return {
    ind: 1000 + i, activity_label: wikihow ? 'Computers and Electronics' : pick(['Linux kernel', 'Python', 'Documentation']),
    ctx_a: wikihow ? `[header] How to read the kernel docs [title] ${ctxA}` : ctxA, ctx_b: ctxB, ctx: `${ctxA} ${ctxB}`,
    endings: wikihow ? ends.map((e) => `[step] ${e}`) : ends, source_id: `kdoc~${i}`, split: 'val', split_type: 'indomain', label: String(label),
  };
}));

// WinoGrande (allenai/winogrande, winogrande_xl validation): sentence with one "_", option1, option2, answer "1"|"2".
write('winogrande', Array.from({ length: 24 }, () => {
  for (;;) {
    const words = next().split(' ');
    const at = words.findIndex((w, j) => j >= 3 && j < words.length - 3 && /^[a-z]{5,}$/.test(w));
    if (at < 0) continue;
    const other = pick(next().split(' ').filter((w) => /^[a-z]{5,}$/.test(w) && w !== words[at]));
    if (!other) continue;
    const answer = random() < 0.5 ? '1' : '2';
    const [option1, option2] = answer === '1' ? [words[at], other] : [other, words[at]];
    words[at] = '_';
    return { sentence: words.join(' '), option1, option2, answer };
  }
}));

// BoolQ (aps/super_glue, boolq validation): question (no question mark: the prompt adds one), passage, idx, label 0|1.
write('boolq', Array.from({ length: 24 }, (_, idx) => {
  const passage = `${next()} ${next()}`;
  const [q] = cut(next(), 8);
  return { question: `is it true that ${q.charAt(0).toLowerCase()}${q.slice(1)}`, passage, idx, label: random() < 0.5 ? 0 : 1 };
}));

// LAMBADA (EleutherAI/lambada_openai, test): text, whose last space-separated word is the target.
write('lambada_openai', Array.from({ length: 30 }, () => `${next()} ${next()}`.replace(/\.$/, '')).map((text) => ({ text })));
