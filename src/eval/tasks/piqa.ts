/** PIQA (lm_eval tasks/piqa/piqa.yaml): "Question: {goal}\nAnswer:", choices sol1 / sol2, gold `label`. */
import { multipleChoice, str } from './task.js';

export const piqa = multipleChoice({
  name: 'piqa', source: 'baber/piqa (ybisk/piqa), validation split', version: 1, norm: true,
  fields: { goal: 'string', sol1: 'string', sol2: 'string', label: 'index' },
  context: (doc) => `Question: ${str(doc, 'goal')}\nAnswer:`,
  choices: (doc) => [str(doc, 'sol1'), str(doc, 'sol2')],
  gold: (doc) => Number(doc.label),
});
