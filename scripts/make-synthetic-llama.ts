/**
 * Writes a Llama-2-7B-shaped checkpoint with random bf16 weights, sharded as Hugging Face ships it
 * (model-0000N-of-0000M.safetensors + model.safetensors.index.json, shards of at most ~10 GB),
 * with config.json and kdoc-6m's tokenizer: a 13.5 GB input for the data-free benchmark
 * (bench/datafree7b.ts). Weights: sign, 7 random mantissa bits and one of four binades around
 * 0.01-0.1, with one value in 997 about 10x larger (outliers, as trained weights have).
 *
 *   node dist/scripts/make-synthetic-llama.js <dir> [--layers N]     (default 32 layers: 6.74B parameters)
 */
import fs from 'node:fs';
import path from 'node:path';
import { ASSETS } from '../src/api/assets.js';

const HIDDEN = 4096, MLP = 11008, VOCAB = 32000, SHARD_BYTES = 10e9;

export function llama7bTensors(layers: number): [string, number[]][] {
  const t: [string, number[]][] = [['model.embed_tokens.weight', [VOCAB, HIDDEN]]];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    t.push(
      [p + 'self_attn.q_proj.weight', [HIDDEN, HIDDEN]], [p + 'self_attn.k_proj.weight', [HIDDEN, HIDDEN]],
      [p + 'self_attn.v_proj.weight', [HIDDEN, HIDDEN]], [p + 'self_attn.o_proj.weight', [HIDDEN, HIDDEN]],
      [p + 'mlp.gate_proj.weight', [MLP, HIDDEN]], [p + 'mlp.up_proj.weight', [MLP, HIDDEN]], [p + 'mlp.down_proj.weight', [HIDDEN, MLP]],
      [p + 'input_layernorm.weight', [HIDDEN]], [p + 'post_attention_layernorm.weight', [HIDDEN]],
    );
  }
  t.push(['model.norm.weight', [HIDDEN]], ['lm_head.weight', [VOCAB, HIDDEN]]);
  return t;
}

/** Fills `out` with random bf16 weights (xorshift32; norms near 1). */
function fill(out: Uint16Array, norm: boolean, state: { s: number }): void {
  let s = state.s;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    if (norm) { out[i] = 0x3f80 | (s & 0x0f); continue; } // ~1.0-1.1
    const binade = i % 997 === 0 ? 123 : 119 + ((s >>> 8) & 3); // 2^-8..2^-5, outliers 2^-4
    out[i] = ((s >>> 31) << 15) | (binade << 7) | (s & 0x7f);
  }
  state.s = s;
}

export function writeSyntheticLlama(dir: string, layers = 32): { params: number; bytes: number; files: string[] } {
  fs.mkdirSync(dir, { recursive: true });
  const tensors = llama7bTensors(layers);
  // Shards in tensor order, a new one when the current would pass SHARD_BYTES.
  const shards: [string, number[]][][] = [[]];
  let size = 0;
  for (const t of tensors) {
    const bytes = 2 * t[1].reduce((a, b) => a * b, 1);
    if (size + bytes > SHARD_BYTES && shards[shards.length - 1].length) { shards.push([]); size = 0; }
    shards[shards.length - 1].push(t);
    size += bytes;
  }
  const names = shards.map((_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`);
  const weightMap: Record<string, string> = {};
  const state = { s: 2463534242 };
  const chunk = new Uint16Array(1 << 25); // 64 MB
  let params = 0, total = 0;
  shards.forEach((shard, k) => {
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let offset = 0;
    for (const [name, shape] of shard) {
      const n = 2 * shape.reduce((a, b) => a * b, 1);
      header[name] = { dtype: 'BF16', shape, data_offsets: [offset, offset + n] };
      offset += n;
      weightMap[name] = names[k];
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const fd = fs.openSync(path.join(dir, names[k]), 'w');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    fs.writeSync(fd, len);
    fs.writeSync(fd, json);
    for (const [name, shape] of shard) {
      let left = shape.reduce((a, b) => a * b, 1);
      params += left;
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        const view = chunk.subarray(0, n);
        fill(view, shape.length === 1 || name.endsWith('norm.weight'), state);
        fs.writeSync(fd, new Uint8Array(view.buffer, 0, 2 * n));
        left -= n;
      }
    }
    fs.closeSync(fd);
    total += 8 + Buffer.byteLength(json) + offset;
  });
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total - 0 }, weight_map: weightMap }, null, 2));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: HIDDEN, intermediate_size: MLP, num_hidden_layers: layers,
    num_attention_heads: 32, num_key_value_heads: 32, vocab_size: VOCAB, rms_norm_eps: 1e-5, max_position_embeddings: 4096,
    rope_theta: 10000, tie_word_embeddings: false, torch_dtype: 'bfloat16', bos_token_id: 1, eos_token_id: 2,
  }, null, 2));
  fs.copyFileSync(path.join(ASSETS.model, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  return { params, bytes: total, files: names.map((n) => path.join(dir, n)) };
}

if (process.argv[1]?.endsWith('make-synthetic-llama.js')) {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: make-synthetic-llama.js <dir> [--layers N]');
  const at = process.argv.indexOf('--layers');
  const t0 = performance.now();
  const r = writeSyntheticLlama(dir, at > 0 ? Number(process.argv[at + 1]) : 32);
  console.log(`${dir}: ${(r.params / 1e9).toFixed(2)}B parameters, ${(r.bytes / 1e9).toFixed(2)} GB in ${r.files.length} shards, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
