/**
 * Text generation with a KV cache: the prompt runs through the model once (each block keeps its
 * keys and values), then each new token runs alone against the cache. Works for every model lowbit
 * loads (Hugging Face and lowbit directories, GGUF files), with their activation quantization.
 */
import type { LayerCache, Model } from '../arch/layers.js';
import { architectureOf } from '../arch/architecture.js';
import type { Backend } from '../backend/index.js';
import type { TextTokenizer } from '../io/tokenizer.js';
import { LowbitError } from '../util/errors.js';
import { makeSampler, type SamplingOptions } from './sampling.js';

export interface GenerateRequest {
  prompt: Int32Array;
  maxTokens: number;
  sampling: SamplingOptions;
  /** Stop at this token (end of sequence), when given. */
  stopToken?: number;
  /** Called with every new token id as it is chosen. */
  onToken?: (id: number) => void;
  /** Checked before the prompt and every new token: an aborted signal stops with its reason. */
  signal?: AbortSignal;
}

export interface GenerateResult {
  tokens: number[];
  promptTokens: number;
  /** Seconds for the prompt (prefill) and per generated token. */
  prefillSeconds: number;
  tokensPerSecond: number;
}

/** Runs `ids` (the positions after the cached ones) through the model; returns the last row's logits. */
async function step(be: Backend, model: Model, caches: LayerCache[], ids: Int32Array): Promise<Float32Array> {
  const arch = architectureOf(model.config), shape = { batch: 1, seqLen: ids.length };
  let x = arch.embed(be, model, ids, shape, caches[0]?.past ?? 0);
  model.blocks.forEach((block, l) => {
    const next = arch.blockForward(be, model.config, block, x, shape, undefined, caches[l]);
    be.free(x);
    x = next;
  });
  const logits = arch.head(be, model, x);
  be.free(x);
  const all = await be.read(logits);
  be.free(logits);
  const vocab = all.length / ids.length;
  return all.subarray((ids.length - 1) * vocab);
}

/** Logits after `ids` (all positions through the cache path) handed to `pick`; returns its choice (tests, scoring). */
export async function generateWith(be: Backend, model: Model, ids: Int32Array, pick: (logits: Float32Array) => number): Promise<number> {
  const caches: LayerCache[] = model.blocks.map(() => ({ k: null, v: null, past: 0 }));
  // The ids in two parts (when there are two), so the cache's concatenation path runs too.
  const cut = ids.length >> 1;
  if (cut > 0) await step(be, model, caches, ids.subarray(0, cut));
  const logits = await step(be, model, caches, ids.subarray(cut));
  for (const c of caches) for (const t of [c.k, c.v]) if (t) be.free(t);
  return pick(logits);
}

export async function generate(be: Backend, model: Model, req: GenerateRequest): Promise<GenerateResult> {
  if (req.prompt.length === 0) throw new LowbitError('the prompt is empty (it must have at least one token)');
  const maxPositions = model.config.maxPositions;
  if (req.prompt.length + req.maxTokens > maxPositions)
    throw new LowbitError(`prompt (${req.prompt.length} tokens) + --max-tokens ${req.maxTokens} exceeds the model's context of ${maxPositions} positions`);
  const caches: LayerCache[] = model.blocks.map(() => ({ k: null, v: null, past: 0 }));
  const sample = makeSampler(req.sampling);
  const tokens: number[] = [];
  const t0 = performance.now();
  let t1 = t0;
  try {
    req.signal?.throwIfAborted();
    let logits = await step(be, model, caches, req.prompt);
    t1 = performance.now();
    while (tokens.length < req.maxTokens) {
      const id = sample(logits);
      tokens.push(id);
      req.onToken?.(id);
      if (id === req.stopToken || tokens.length === req.maxTokens) break;
      req.signal?.throwIfAborted();
      logits = await step(be, model, caches, Int32Array.of(id));
    }
  } finally {
    for (const c of caches) for (const t of [c.k, c.v]) if (t) be.free(t);
  }
  const t2 = performance.now();
  return { tokens, promptTokens: req.prompt.length, prefillSeconds: (t1 - t0) / 1000, tokensPerSecond: tokens.length / ((t2 - t1) / 1000 || 1e-9) };
}

/** Streams decoded text: prints only what the new token adds to the decoded whole (multi-byte safe). */
export function textStreamer(tok: TextTokenizer, write: (s: string) => void): (id: number) => void {
  const ids: number[] = [];
  let shown = '';
  return (id) => {
    ids.push(id);
    const text = tok.decode(ids);
    // Hold back a trailing replacement character: the rest of its bytes may come with the next token.
    const stable = text.endsWith('\uFFFD') ? text.slice(0, -1) : text;
    if (stable.startsWith(shown) && stable.length > shown.length) {
      write(stable.slice(shown.length));
      shown = stable;
    }
  };
}
