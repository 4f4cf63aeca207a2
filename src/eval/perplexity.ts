/**
 * Perplexity by the protocol GPTQ-style papers use (see ../shared/data/README.md): the whole
 * text tokenized without BOS, cut into non-overlapping windows of seqLen tokens (the remainder
 * dropped), each window run independently, and exp(mean NLL) over the seqLen-1 predictions of
 * every window.
 */
import type { Backend } from '../backend/index.js';
import type { Model } from '../arch/layers.js';
import { forwardLogits } from '../arch/architecture.js';
import { LowbitError } from '../util/errors.js';

export interface PerplexityOptions {
  seqLen: number;
  /** Evaluate only the first N windows. */
  maxWindows?: number;
  /** Windows per forward pass. */
  batch?: number;
  /** Name of the text the tokens came from (for errors). */
  source?: string;
  onProgress?: (windowsDone: number, windowsTotal: number) => void;
  /** Checked before every batch: an aborted signal stops the evaluation with its reason. */
  signal?: AbortSignal;
}

export interface PerplexityResult {
  ppl: number;
  /** Mean negative log-likelihood per predicted token (nats). */
  nll: number;
  windows: number;
  seqLen: number;
  predictedTokens: number;
  seconds: number;
  /** Tokens processed by the forward pass per second (windows x seqLen / seconds). */
  tokensPerSecond: number;
}

/** Number of evaluation windows the protocol takes from `tokenCount` tokens. */
export function windowCount(tokenCount: number, seqLen: number, maxWindows?: number): number {
  const n = Math.floor(tokenCount / seqLen);
  return maxWindows === undefined ? n : Math.min(n, maxWindows);
}

export async function perplexity(be: Backend, model: Model, tokens: Int32Array, opts: PerplexityOptions): Promise<PerplexityResult> {
  const { seqLen } = opts;
  if (!Number.isInteger(seqLen) || seqLen < 2) throw new LowbitError(`--seq-len must be an integer >= 2, got ${seqLen}`);
  const windows = windowCount(tokens.length, seqLen, opts.maxWindows);
  if (windows === 0)
    throw new LowbitError(`text has ${tokens.length} tokens, fewer than one window of --seq-len ${seqLen}`, opts.source);
  const batch = Math.max(1, Math.min(opts.batch ?? 1, windows));
  const start = performance.now();
  let nllSum = 0;
  for (let w0 = 0; w0 < windows; w0 += batch) {
    opts.signal?.throwIfAborted();
    const b = Math.min(batch, windows - w0);
    const ids = tokens.subarray(w0 * seqLen, (w0 + b) * seqLen);
    // Row r predicts token r+1 of its window; the last row of each window predicts nothing
    // (target 0 keeps the kernel's input valid and its NLL is skipped below).
    const targets = new Int32Array(ids.length);
    for (let r = 0; r < ids.length; r++) targets[r] = (r + 1) % seqLen === 0 ? 0 : ids[r + 1];
    const logits = forwardLogits(be, model, ids, { batch: b, seqLen });
    const nllT = be.nll(logits, targets);
    be.free(logits);
    const nll = await be.read(nllT);
    be.free(nllT);
    for (let r = 0; r < nll.length; r++) if ((r + 1) % seqLen !== 0) nllSum += nll[r];
    opts.onProgress?.(w0 + b, windows);
  }
  const seconds = (performance.now() - start) / 1000;
  const predictedTokens = windows * (seqLen - 1);
  const nll = nllSum / predictedTokens;
  return { ppl: Math.exp(nll), nll, windows, seqLen, predictedTokens, seconds, tokensPerSecond: (windows * seqLen) / seconds };
}
