/**
 * The user's own multiple-choice task: JSONL records {"context", "choices", "gold"}, scored as the
 * harness scores its multiple-choice tasks (context + " " + choice; acc and acc_norm).
 */
import { LowbitError } from '../../util/errors.js';
import { multipleChoice, str, type Task } from './task.js';

/** A task named after its file, over records {context, choices: string[], gold: index}. */
export function genericMultipleChoice(name: string): Task {
  return multipleChoice({
    name, source: 'your JSONL file: {"context": string, "choices": [string, ...], "gold": index}', version: 1, norm: true,
    fields: { context: 'string', choices: 'strings', gold: 'index' },
    context: (doc) => str(doc, 'context'),
    choices: (doc) => {
      if ((doc.choices as string[]).length < 2) throw new LowbitError('"choices" must be a list of at least two strings');
      return doc.choices as string[];
    },
    gold: (doc) => {
      const g = Number(doc.gold);
      if (g >= (doc.choices as string[]).length) throw new LowbitError(`"gold" must be the index of the right choice, got ${String(doc.gold)}`);
      return g;
    },
  });
}
