/**
 * Streaming: data-free quantization never holds the model. A synthetic sharded checkpoint larger
 * than a hard memory cap (RLIMIT_DATA, which bounds every heap and ArrayBuffer allocation of the
 * process and its worker threads) is quantized under that cap.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { SafetensorsWriter } from '../src/io/safetensors-writer.js';
import { ASSETS, ROOT, tmpDir } from './helpers.js';
import { writeBlock } from '../bench/adpq.js';

const CAP = 500_000_000; // bytes

/** Fast uniform fill (xorshift32) in [-scale, scale]: the test needs size, not realism. */
function fill(n: number, seed: number, scale: number): Float32Array {
  const out = new Float32Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    out[i] = ((x >>> 0) / 4294967296 - 0.5) * 2 * scale;
  }
  return out;
}

function makeShardedModel(dir: string, hidden: number, mlp: number, layers: number, shards: number): number {
  fs.mkdirSync(dir, { recursive: true });
  const tensors: [string, number[]][] = [['model.embed_tokens.weight', [4096, hidden]]];
  for (let l = 0; l < layers; l++) {
    const p = `model.layers.${l}.`;
    tensors.push([p + 'input_layernorm.weight', [hidden]], [p + 'post_attention_layernorm.weight', [hidden]],
      [p + 'self_attn.q_proj.weight', [hidden, hidden]], [p + 'self_attn.k_proj.weight', [hidden, hidden]],
      [p + 'self_attn.v_proj.weight', [hidden, hidden]], [p + 'self_attn.o_proj.weight', [hidden, hidden]],
      [p + 'mlp.gate_proj.weight', [mlp, hidden]], [p + 'mlp.up_proj.weight', [mlp, hidden]], [p + 'mlp.down_proj.weight', [hidden, mlp]]);
  }
  tensors.push(['model.norm.weight', [hidden]], ['lm_head.weight', [4096, hidden]]);
  const weightMap: Record<string, string> = {};
  const per = Math.ceil(tensors.length / shards);
  let bytes = 0;
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const w = new SafetensorsWriter(path.join(dir, file));
    tensors.slice(s * per, (s + 1) * per).forEach(([name, shape], i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      w.add(name, 'F32', shape, name.includes('norm') ? new Float32Array(n).fill(1) : fill(n, s * 1000 + i + 1, 0.05));
      weightMap[name] = file;
      bytes += 4 * n;
    });
    w.finish({ format: 'pt' });
  }
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: bytes }, weight_map: weightMap }));
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({
    architectures: ['LlamaForCausalLM'], hidden_size: hidden, intermediate_size: mlp, num_hidden_layers: layers,
    num_attention_heads: hidden / 64, num_key_value_heads: hidden / 64, vocab_size: 4096, rms_norm_eps: 1e-5, max_position_embeddings: 512,
  }));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) fs.copyFileSync(path.join(ASSETS.model, f), path.join(dir, f));
  return bytes;
}

const capped = (args: string[]) =>
  spawnSync('prlimit', [`--data=${CAP}`, process.execPath, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });

test('AdpQ streams a sharded checkpoint larger than the process memory cap', () => {
  const dir = tmpDir();
  const model = path.join(dir, 'big');
  const bytes = makeShardedModel(model, 1024, 2816, 20, 4);
  assert.ok(bytes > CAP * 2, `model ${bytes} bytes must exceed the ${CAP}-byte cap`);
  // The cap is real: holding the model's weights in one allocation fails under it.
  const hold = capped(['-e', `new Float32Array(${bytes / 4}).fill(1)`]);
  assert.notEqual(hold.status, 0);
  const out = path.join(dir, 'q');
  const r = capped([path.join(ROOT, 'bin', 'lowbit.js'), 'quantize', model, '--method', 'adpq', '--bits', '3', '--out', out, '--json']);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.equal(s.summary.quantizedLayers, 140);
  assert.ok(s.peakRssMiB * 2 ** 20 < bytes, `peak RSS ${s.peakRssMiB} MiB vs model ${bytes / 2 ** 20} MiB`);
  const manifest = JSON.parse(fs.readFileSync(path.join(out, 'lowbit.json'), 'utf8'));
  assert.equal(manifest.method, 'adpq');
});

test('the native quantizers write the same bytes as the TypeScript ones (RTN, AdpQ, Q4_K_M GGUF): kdoc-6m and a Llama-2-7B-shaped block', () => {
  const dir = tmpDir();
  const block = path.join(dir, 'block');
  writeBlock(block);
  const configs = [['--bits', '3'], ['--bits', '4', '--sym', '--group-size', '64'], ['--method', 'adpq', '--bits', '3'], ['--method', 'adpq', '--bits', '4', '--outlier-bits', '16'], ['--gguf', 'Q4_K_M']];
  // Every configuration on kdoc-6m; on the 7B-shaped block (200M parameters) the 3-bit ones, to keep the suite short.
  for (const [model, options] of [...configs.map((c) => [ASSETS.model, c] as const), [block, configs[0]] as const, [block, configs[2]] as const]) {
      const outs = [['native', {}], ['ts', { LOWBIT_NATIVE: '0' }]].map(([label, env]) => {
        const gguf = options.includes('--gguf');
        const out = path.join(dir, `${path.basename(model)}-${options.join('')}-${label}${gguf ? '.gguf' : ''}`);
        const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'lowbit.js'), 'quantize', model, ...(options.includes('--method') ? [] : ['--method', 'rtn']), ...options, '--out', out], { encoding: 'utf8', env: { ...process.env, ...(env as object) } });
        assert.equal(r.status, 0, r.stderr);
        return fs.readFileSync(gguf ? out : path.join(out, 'model.safetensors'));
      });
      assert.ok(outs[0].equals(outs[1]), `${model} ${options.join(' ')}`);
    }
});
