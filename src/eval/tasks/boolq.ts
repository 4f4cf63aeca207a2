/** BoolQ (lm_eval tasks/super_glue/boolq/default.yaml): "{passage}\nQuestion: {question}?\nAnswer:", choices no / yes, gold `label`. */
import { multipleChoice, str } from './task.js';

export const boolq = multipleChoice({
  name: 'boolq', source: 'aps/super_glue, boolq, validation split', version: 2, norm: false,
  fields: { passage: 'string', question: 'string', label: 'index' },
  context: (doc) => `${str(doc, 'passage')}\nQuestion: ${str(doc, 'question')}?\nAnswer:`,
  choices: () => ['no', 'yes'],
  gold: (doc) => Number(doc.label),
});
