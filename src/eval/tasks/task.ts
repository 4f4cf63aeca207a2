/**
 * A zero-shot task as lm-evaluation-harness defines it: how one document of the published dataset
 * becomes scoring requests (context, continuation), and how their scores become the document's
 * metrics. The mean over documents (with its standard error) is the task's result (run.ts).
 */
import type { Score, ScoringRequest } from '../loglikelihood.js';

export type Doc = Record<string, unknown>;

/**
 * The type a document's field must have: text, a list of texts, an index (a non-negative integer,
 * also as a digit string or a boolean, as datasets store labels), or an object.
 */
export type FieldType = 'string' | 'strings' | 'index' | 'object';

/** Whether `value` has the type `type` (the published files are the user's: every field is checked). */
export function hasFieldType(value: unknown, type: FieldType): boolean {
  switch (type) {
    case 'string': return typeof value === 'string';
    case 'strings': return Array.isArray(value) && value.every((v) => typeof v === 'string');
    case 'object': return typeof value === 'object' && value !== null && !Array.isArray(value);
    case 'index':
      return (typeof value === 'number' && Number.isInteger(value) && value >= 0) || (typeof value === 'bigint' && value >= 0n) ||
        (typeof value === 'string' && /^\d{1,9}$/.test(value)) || typeof value === 'boolean';
  }
}

/** What the harness reports: accuracy, length-normalised accuracy, and LAMBADA's perplexity. */
export type MetricName = 'acc' | 'acc_norm' | 'perplexity';

export interface Task {
  /** The harness's task name (lm_eval --tasks). */
  readonly name: string;
  /** The published data it reads, for the README and errors: dataset, configuration, split. */
  readonly source: string;
  /** The harness's version of the task's YAML, reported with the results. */
  readonly version: number;
  readonly metrics: readonly MetricName[];
  /** Fields a document must have, and their types (checked when the file is read). */
  readonly fields: Readonly<Record<string, FieldType>>;
  /** The harness's process_docs, when the task has one. */
  prepare?(doc: Doc): Doc;
  /** The scoring requests of one document, in the harness's order. */
  requests(doc: Doc): ScoringRequest[];
  /**
   * The document's metric values from its requests' scores. Perplexity is carried as the
   * log-likelihood and aggregated as exp(-mean) (the harness's `perplexity` aggregation).
   */
  score(doc: Doc, scores: Score[]): Partial<Record<MetricName, number>>;
}

/** First index of the maximum (numpy's argmax). */
export function argmax(xs: number[]): number {
  let best = 0;
  for (let i = 1; i < xs.length; i++) if (xs[i] > xs[best]) best = i;
  return best;
}

/**
 * The harness's multiple-choice task: one request per choice, context + " " + choice; acc is the
 * argmax of the log-likelihoods, acc_norm the argmax after dividing each by its choice's length in
 * characters (the harness's completion_len).
 */
export function multipleChoice(t: {
  name: string; source: string; version: number; fields: Record<string, FieldType>; norm: boolean;
  prepare?: (doc: Doc) => Doc;
  context: (doc: Doc) => string;
  choices: (doc: Doc) => string[];
  gold: (doc: Doc) => number;
}): Task {
  return {
    name: t.name, source: t.source, version: t.version, fields: t.fields, prepare: t.prepare,
    metrics: t.norm ? ['acc', 'acc_norm'] : ['acc'],
    requests: (doc) => t.choices(doc).map((c) => ({ context: t.context(doc), continuation: ` ${c}` })),
    score(doc, scores) {
      const lls = scores.map((s) => s.logprob);
      const gold = t.gold(doc);
      const choices = t.choices(doc);
      return {
        acc: argmax(lls) === gold ? 1 : 0,
        ...(t.norm ? { acc_norm: argmax(lls.map((ll, i) => ll / [...choices[i]].length)) === gold ? 1 : 0 } : {}),
      };
    },
  };
}

/** A field of a document as a string (checked: the files are the user's). */
export const str = (doc: Doc, key: string): string => String(doc[key]);
