/**
 * WinoGrande (lm_eval tasks/winogrande, partial evaluation): each option is put in place of "_" and
 * the sentence up to there is the context; the rest of the sentence is the one continuation scored
 * under each context. gold: answer "1" or "2".
 */
import { LowbitError } from '../../util/errors.js';
import { argmax, str, type Task } from './task.js';

const blank = (doc: Record<string, unknown>): number => {
  const at = str(doc, 'sentence').indexOf('_');
  if (at < 0) throw new LowbitError('the sentence has no "_" to fill');
  return at;
};
const gold = (doc: Record<string, unknown>): number => {
  const g = ({ 1: 0, 2: 1 } as Record<string, number>)[str(doc, 'answer')];
  if (g === undefined) throw new LowbitError(`answer must be "1" or "2", got ${JSON.stringify(doc.answer)}`);
  return g;
};

const contexts = (doc: Record<string, unknown>): string[] => {
  const s = str(doc, 'sentence');
  const at = blank(doc);
  return [str(doc, 'option1'), str(doc, 'option2')].map((o) => s.slice(0, at) + o);
};
const target = (doc: Record<string, unknown>): string => str(doc, 'sentence').slice(blank(doc) + 1).trim();

export const winogrande: Task = {
  name: 'winogrande', source: 'allenai/winogrande, winogrande_xl, validation split', version: 1,
  metrics: ['acc'], fields: { sentence: 'string', option1: 'string', option2: 'string', answer: 'string' },
  requests: (doc) => contexts(doc).map((context) => ({ context, continuation: ` ${target(doc)}` })),
  score: (doc, scores) => ({ acc: argmax(scores.map((s) => s.logprob)) === gold(doc) ? 1 : 0 }),
};
