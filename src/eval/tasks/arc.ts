/**
 * ARC-Easy and ARC-Challenge (lm_eval tasks/arc/arc_easy.yaml): "Question: {question}\nAnswer:",
 * choices `choices.text`, gold the index of `answerKey` in `choices.label` (letters, or digits in a
 * few questions).
 */
import { LowbitError } from '../../util/errors.js';
import { multipleChoice, str, type Doc } from './task.js';

const choiceList = (doc: Doc, key: 'text' | 'label'): string[] => {
  const c = doc.choices as Record<string, unknown> | undefined;
  const list = c?.[key];
  if (!Array.isArray(list) || !list.every((x) => typeof x === 'string')) throw new LowbitError(`choices.${key} is not a list of strings`);
  return list;
};

const arc = (name: string, config: string) => multipleChoice({
  name, source: `allenai/ai2_arc, ${config}, test split`, version: 1, norm: true,
  fields: { question: 'string', choices: 'object', answerKey: 'string' },
  context: (doc) => `Question: ${str(doc, 'question')}\nAnswer:`,
  choices: (doc) => choiceList(doc, 'text'),
  gold: (doc) => {
    const i = choiceList(doc, 'label').indexOf(str(doc, 'answerKey'));
    if (i < 0) throw new LowbitError(`answerKey ${str(doc, 'answerKey')} is not among the choice labels`);
    return i;
  },
});

export const arcEasy = arc('arc_easy', 'ARC-Easy');
export const arcChallenge = arc('arc_challenge', 'ARC-Challenge');
