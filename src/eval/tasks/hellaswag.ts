/**
 * HellaSwag (lm_eval tasks/hellaswag): the task's process_docs builds the query
 * "{activity_label}: {ctx_a} {Ctx_b}" (ctx_b capitalized as Python's str.capitalize does) and cleans
 * it and the endings of WikiHow artefacts; gold is int(label).
 */
import { multipleChoice, str, type Doc } from './task.js';

/** hellaswag/utils.py preprocess(). */
export function preprocess(text: string): string {
  return text.trim().replaceAll(' [title]', '. ').replace(/\[.*?\]/g, '').replaceAll('  ', ' ');
}

/** Python's str.capitalize(): the first character upper-case, the rest lower-case. */
const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1).toLowerCase();

export const hellaswag = multipleChoice({
  name: 'hellaswag', source: 'Rowan/hellaswag, validation split', version: 1, norm: true,
  fields: { activity_label: 'string', ctx_a: 'string', ctx_b: 'string', endings: 'strings', label: 'index' },
  prepare: (doc: Doc) => ({
    ...doc,
    query: preprocess(`${str(doc, 'activity_label')}: ${str(doc, 'ctx_a')} ${capitalize(str(doc, 'ctx_b'))}`),
    choices: (doc.endings as unknown[]).map((e) => preprocess(String(e))),
    gold: Number(doc.label),
  }),
  context: (doc) => str(doc, 'query'),
  choices: (doc) => doc.choices as string[],
  gold: (doc) => doc.gold as number,
});
