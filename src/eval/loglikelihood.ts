/**
 * Log-likelihood of a continuation given a context, as lm-evaluation-harness scores it (the basis of
 * every zero-shot task in tasks/):
 *   - tokenization (TemplateLM._encode_pair): trailing spaces of the context move to the
 *     continuation; context + continuation is encoded whole and split where the context's own
 *     encoding ends, so the boundary token is the one the model would see; no BOS. An empty context
 *     is the BOS token (or EOS when there is none).
 *   - scoring (HFLM._loglikelihood_tokens): the tokens, left-truncated to the model's context, run
 *     once; the continuation's log-probabilities are summed (log-softmax in f64), and `greedy` says
 *     whether each continuation token was the argmax.
 */
import type { Model } from '../arch/layers.js';
import { forwardLogits } from '../arch/architecture.js';
import type { Backend } from '../backend/index.js';
import type { TextTokenizer } from '../io/tokenizer.js';

export interface ScoringRequest {
  context: string;
  continuation: string;
}

export interface EncodedRequest {
  context: number[];
  continuation: number[];
}

export interface Score {
  /** log P(continuation | context), natural log. */
  logprob: number;
  /** Every continuation token was the model's most likely one. */
  greedy: boolean;
  /** Continuation tokens scored. */
  tokens: number;
}

/** The harness's split of (context, continuation) into token ids. */
export function encodePair(tok: TextTokenizer, req: ScoringRequest, prefixToken: number): EncodedRequest {
  let { context, continuation } = req;
  if (context === '') {
    const cont = Array.from(tok.encode(continuation));
    return prefixToken !== cont[0] ? { context: [prefixToken], continuation: cont } : { context: cont.slice(0, 1), continuation: cont.slice(1) };
  }
  const trimmed = context.replace(/\s+$/u, '');
  if (trimmed.length < context.length) {
    continuation = context.slice(trimmed.length) + continuation;
    context = trimmed;
  }
  const whole = tok.encode(context + continuation);
  const contextIds = Array.from(tok.encode(context));
  return { context: contextIds, continuation: Array.from(whole.subarray(contextIds.length)) };
}

/** log-softmax of `row` at `target` (in f64), and whether `target` is the argmax (first index on ties). */
export function logSoftmaxAt(row: Float32Array, target: number): { logprob: number; isArgmax: boolean } {
  let max = -Infinity, argmax = 0;
  for (let i = 0; i < row.length; i++) if (row[i] > max) { max = row[i]; argmax = i; }
  let sum = 0;
  for (let i = 0; i < row.length; i++) sum += Math.exp(row[i] - max);
  return { logprob: row[target] - max - Math.log(sum), isArgmax: argmax === target };
}

/** Scores one encoded request: the model sees (context + continuation)[:-1], left-truncated to its context. */
export async function scoreEncoded(be: Backend, model: Model, req: EncodedRequest): Promise<Score> {
  const all = [...req.context, ...req.continuation];
  const ids = Int32Array.from(all.slice(-(model.config.maxPositions + 1)).slice(0, -1));
  const logitsT = forwardLogits(be, model, ids, { batch: 1, seqLen: ids.length });
  const logits = await be.read(logitsT);
  be.free(logitsT);
  const vocab = model.config.vocabSize;
  const n = req.continuation.length;
  let logprob = 0, greedy = true;
  for (let j = 0; j < n; j++) {
    // Row r predicts token r + 1; the continuation's j-th token is predicted by row ids.length - n + j.
    const r = ids.length - n + j;
    const { logprob: lp, isArgmax } = logSoftmaxAt(logits.subarray(r * vocab, (r + 1) * vocab), req.continuation[j]);
    logprob += lp;
    greedy &&= isArgmax;
  }
  return { logprob, greedy, tokens: n };
}
