/**
 * Phi-3 (Phi3ForCausalLM) is a Llama-family decoder whose checkpoints fuse two groups of linears:
 *   self_attn.qkv_proj = [q_proj; k_proj; v_proj]   (rows stacked: numHeads, numKvHeads, numKvHeads heads)
 *   mlp.gate_up_proj   = [gate_proj; up_proj]      (intermediate rows each)
 * as transformers' modeling_phi3.py splits them (`qkv[..., :query_pos]`, `gate_up.chunk(2)`).
 * lowbit reads each part as the Llama family's linear of that name (row ranges of the stored matrix,
 * Checkpoint.splitRows), so the forward pass, every method and both writers see seven linears.
 *
 * Quantizing the parts rather than the fused matrix: RTN, GPTQ and QuantEase give exactly the
 * codes the fused matrix would get (their groups lie within rows, and rows are solved independently
 * given the shared input's Hessian); AdpQ chooses its salient fraction per part instead of over the
 * fused matrix; bits per weight count the same weights. The GGUF writer stores the parts split, as
 * llama.cpp's llama architecture reads them (Phi-3's RoPE is the Llama family's rotate-half).
 */
import type { Checkpoint } from '../io/checkpoint.js';
import type { ModelConfig } from './config.js';

const LAYER_FUSED = /^model\.layers\.(\d+)\.(self_attn\.qkv_proj|mlp\.gate_up_proj)\.weight$/;

/** Presents a Phi-3 checkpoint's fused linears as their parts (a lowbit-quantized Phi-3 stores them split already). */
export function splitPhi3Linears(ckpt: Checkpoint, cfg: ModelConfig): void {
  const q = cfg.numHeads * cfg.headDim, kv = cfg.numKvHeads * cfg.headDim, m = cfg.intermediateSize;
  for (const name of ckpt.names()) {
    const match = LAYER_FUSED.exec(name);
    if (!match) continue;
    const at = (part: string) => `model.layers.${match[1]}.${part}.weight`;
    if (match[2] === 'self_attn.qkv_proj')
      ckpt.splitRows(name, [{ name: at('self_attn.q_proj'), rows: q }, { name: at('self_attn.k_proj'), rows: kv }, { name: at('self_attn.v_proj'), rows: kv }]);
    else ckpt.splitRows(name, [{ name: at('mlp.gate_proj'), rows: m }, { name: at('mlp.up_proj'), rows: m }]);
  }
}
