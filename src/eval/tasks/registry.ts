/** The harness tasks lowbit runs, by the harness's names. Adding one: a file here and a line below. */
import { arcChallenge, arcEasy } from './arc.js';
import { boolq } from './boolq.js';
import { hellaswag } from './hellaswag.js';
import { lambadaOpenai } from './lambada.js';
import { piqa } from './piqa.js';
import type { Task } from './task.js';
import { winogrande } from './winogrande.js';

export const TASKS: Readonly<Record<string, Task>> = {
  piqa,
  arc_easy: arcEasy,
  arc_challenge: arcChallenge,
  hellaswag,
  winogrande,
  boolq,
  lambada_openai: lambadaOpenai,
};

/** Other names users type for the same tasks. */
export const TASK_ALIASES: Readonly<Record<string, string>> = { lambada: 'lambada_openai' };
