/**
 * LAMBADA, OpenAI's version (lm_eval tasks/lambada/lambada_openai.yaml): the text without its last
 * space-separated word is the context, " " + that word the continuation; acc is whether every token
 * of it is the greedy choice, perplexity exp(-mean log-likelihood) over the documents.
 */
import { str, type Task } from './task.js';

export const lambadaOpenai: Task = {
  name: 'lambada_openai', source: 'EleutherAI/lambada_openai, default, test split', version: 1,
  metrics: ['perplexity', 'acc'], fields: { text: 'string' },
  requests: (doc) => {
    const words = str(doc, 'text').split(' ');
    return [{ context: words.slice(0, -1).join(' '), continuation: ` ${words[words.length - 1]}` }];
  },
  score: (_doc, [s]) => ({ perplexity: s.logprob, acc: s.greedy ? 1 : 0 }),
};
