/**
 * Streaming data-free quantization throughput (AdpQ and RTN) on one synthetic Llama-2-7B decoder
 * block in bf16 (q/k/v/o 4096x4096, gate/up 11008x4096, down 4096x11008: 202M parameters), end to
 * end through `lowbit quantize` (read bf16, quantize on all cores, write codes), with its peak RSS;
 * extrapolated to 7B and compared with the memory-bandwidth bound for the same bytes.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { SafetensorsWriter } from '../src/io/safetensors-writer.js';
import { f32ToBf16 } from '../src/io/float.js';
import { ASSETS, ROOT } from '../src/api/assets.js';
import type { MachineLimits } from './machine.js';
import { gaussian } from './gptq.js';

const LLAMA2_7B_PARAMS = 6.74e9;

export function writeBlock(dir: string): number {
  fs.mkdirSync(dir, { recursive: true });
  const h = 4096, m = 11008, p = 'model.layers.0.';
  const shapes: [string, number[]][] = [
    ['model.embed_tokens.weight', [256, h]], [p + 'input_layernorm.weight', [h]], [p + 'post_attention_layernorm.weight', [h]],
    [p + 'self_attn.q_proj.weight', [h, h]], [p + 'self_attn.k_proj.weight', [h, h]], [p + 'self_attn.v_proj.weight', [h, h]],
    [p + 'self_attn.o_proj.weight', [h, h]], [p + 'mlp.gate_proj.weight', [m, h]], [p + 'mlp.up_proj.weight', [m, h]],
    [p + 'mlp.down_proj.weight', [h, m]], ['model.norm.weight', [h]], ['lm_head.weight', [256, h]],
  ];
  const w = new SafetensorsWriter(path.join(dir, 'model.safetensors'));
  let linear = 0;
  shapes.forEach(([name, shape], i) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const x = gaussian(n, 0.02, i + 1);
    for (let j = 0; j < n; j += 997) x[j] *= 10; // a sprinkle of outliers, as trained weights have
    w.add(name, 'BF16', shape, f32ToBf16(x));
    if (name.includes('proj')) linear += n;
  });
  w.finish({ format: 'pt' });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], hidden_size: h, intermediate_size: m, num_hidden_layers: 1,
    num_attention_heads: 32, num_key_value_heads: 32, vocab_size: 256, rms_norm_eps: 1e-5, max_position_embeddings: 4096,
  }));
  fs.copyFileSync(path.join(ASSETS.model, 'tokenizer.json'), path.join(dir, 'tokenizer.json'));
  return linear;
}

export async function benchAdpq(limits: MachineLimits): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-bench-'));
  const out: Record<string, number> = {};
  try {
    const params = writeBlock(path.join(dir, 'block'));
    // Bytes a perfect implementation moves per parameter: read bf16 once, write b-bit codes once.
    const bytesPerParam = 2 + 3 / 8;
    const bound = (limits.copyGBs * 1e9) / bytesPerParam;
    console.log(`\nstreaming quantization, one Llama-2-7B-shaped block in bf16 (${(params / 1e6).toFixed(0)}M linear parameters), 3-bit, group 128, ${os.availableParallelism()} workers:`);
    for (const method of ['adpq', 'rtn']) {
      const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'lowbit.js'), 'quantize', path.join(dir, 'block'), '--method', method,
        '--bits', '3', '--group-size', '128', '--out', path.join(dir, method), '--json'], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(r.stderr);
      const s = JSON.parse(r.stdout);
      const rate = params / s.summary.seconds;
      out[`${method}_params_per_s`] = rate;
      out[`${method}_peak_rss_mib`] = s.peakRssMiB;
      out[`${method}_7b_minutes`] = LLAMA2_7B_PARAMS / rate / 60;
      console.log(`  ${method.padEnd(4)}: ${(rate / 1e6).toFixed(1)}M params/s (${s.summary.bitsPerWeight.toFixed(3)} bits/weight), ` +
        `peak RSS ${s.peakRssMiB.toFixed(0)} MiB; Llama-2-7B in ${(LLAMA2_7B_PARAMS / rate / 60).toFixed(1)} min`);
    }
    out.bandwidth_bound_params_per_s = bound;
    console.log(`  memory-bandwidth bound for the same bytes (${bytesPerParam.toFixed(3)} B/param at ${limits.copyGBs.toFixed(1)} GB/s): ${(bound / 1e6).toFixed(0)}M params/s`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}
