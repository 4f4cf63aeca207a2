/**
 * Mixtral's sparse mixture-of-experts MLP (transformers' MixtralSparseMoeBlock), in place of the
 * Llama family's SwiGLU MLP:
 *
 *   p = softmax(router h)                         per token, over the experts
 *   w = the topK largest of p, renormalised to sum 1, 0 for every other expert
 *   y = sum_e w_e * w2_e(silu(w1_e h) * w3_e h)
 *
 * Each expert is computed on every token and weighted by its routing column (zero where the token
 * was not routed to it): the same sum as computing each expert on its own tokens, without moving
 * rows between host and device; it costs experts/topK times the routed work. The router stays in
 * full precision; the experts' w1/w3/w2 are block linears like any other, and calibration sees
 * each expert's input only on the tokens routed to it (the Routing an observer receives).
 */
import type { Backend, Tensor } from '../backend/index.js';
import type { ModelConfig } from './config.js';
import type { Routing } from './layers.js';

export const ROUTER = 'block_sparse_moe.gate';

export function expertLinear(expert: number, which: 'w1' | 'w2' | 'w3'): string {
  return `block_sparse_moe.experts.${expert}.${which}`;
}

/** Every expert's linears in forward order: w1 (gate), w3 (up), w2 (down). */
export function expertLinearNames(cfg: ModelConfig): string[] {
  return Array.from({ length: cfg.moe!.experts }, (_, e) => [expertLinear(e, 'w1'), expertLinear(e, 'w3'), expertLinear(e, 'w2')]).flat();
}

/** [rows, cols] of an expert linear. */
export function expertShape(cfg: ModelConfig, name: string): [number, number] {
  return name.endsWith('.w2') ? [cfg.hiddenSize, cfg.intermediateSize] : [cfg.intermediateSize, cfg.hiddenSize];
}

/** The expert MLP of the (normalised) hidden states h; `run` applies a linear (observing its input). */
export function mixtureOfExperts(be: Backend, cfg: ModelConfig, router: Tensor, h: Tensor,
  run: (name: string, input: Tensor, routing?: Routing) => Tensor, observeRouterInput?: (input: Tensor) => void): Tensor {
  observeRouterInput?.(h);
  const logits = be.linear(h, router);
  const weights = be.routeTopK(logits, cfg.moe!.topK);
  be.free(logits);
  let out: Tensor | null = null;
  for (let e = 0; e < cfg.moe!.experts; e++) {
    const routing = { weights, expert: e };
    const gate = run(expertLinear(e, 'w1'), h, routing), up = run(expertLinear(e, 'w3'), h, routing);
    const act = be.siluMul(gate, up);
    be.free(gate);
    be.free(up);
    const y = run(expertLinear(e, 'w2'), act, routing);
    be.free(act);
    const weighted = be.scaleRows(y, weights, e);
    be.free(y);
    if (out) {
      const sum: Tensor = be.add(out, weighted);
      be.free(out);
      be.free(weighted);
      out = sum;
    } else out = weighted;
  }
  be.free(weights);
  return out!;
}

