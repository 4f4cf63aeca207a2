/** config.json parsing for Llama, Mistral, Qwen2 and Phi-3, including both RoPE layouts, Llama-3 and LongRoPE scaling. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/arch/config.js';
import { inverseFrequencies } from '../src/arch/rope.js';

const base = {
  architectures: ['LlamaForCausalLM'], hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2,
  num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 100, rms_norm_eps: 1e-6,
};

test('rope_theta is read from transformers-5 rope_parameters and from the top level', () => {
  assert.equal(parseConfig({ ...base, rope_parameters: { rope_theta: 500000, rope_type: 'default' } }).ropeTheta, 500000);
  assert.equal(parseConfig({ ...base, rope_theta: 1e6 }).ropeTheta, 1e6);
  assert.equal(parseConfig(base).ropeTheta, 10000);
  assert.equal(parseConfig(base).headDim, 16);
});

test('Llama-3 rope_scaling follows the published rule', () => {
  // Llama 3.1 8B's values: factor 8, low 1, high 4, original context 8192, theta 500000, head dim 128.
  const cfg = parseConfig({ ...base, hidden_size: 4096, num_attention_heads: 32, num_key_value_heads: 8, rope_theta: 500000,
    rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } });
  const inv = inverseFrequencies(cfg);
  const plain = (i: number) => 1 / Math.pow(500000, (2 * i) / 128);
  // High frequencies (wavelength < 8192/4 = 2048) are untouched: i = 0 has wavelength 2*pi.
  assert.ok(Math.abs(inv[0] - 1) < 1e-7);
  // Low frequencies (wavelength > 8192) are divided by 8: the last one.
  assert.ok(Math.abs(inv[63] / (plain(63) / 8) - 1) < 1e-6);
  // In between, a linear blend in 1/wavelength: check one index by hand.
  const i = 30, wl = (2 * Math.PI) / plain(i);
  assert.ok(wl > 2048 && wl < 8192);
  const smooth = (8192 / wl - 1) / (4 - 1);
  assert.ok(Math.abs(inv[i] / ((1 - smooth) * plain(i) / 8 + smooth * plain(i)) - 1) < 1e-6);
});

test('family details: Qwen2 q/k/v bias, Mistral sliding window, tied embeddings', () => {
  const q = parseConfig({ ...base, architectures: ['Qwen2ForCausalLM'], tie_word_embeddings: true });
  assert.deepEqual(q.bias, { qkv: true, o: false, mlp: false });
  assert.equal(q.tieWordEmbeddings, true);
  assert.equal(parseConfig({ ...base, architectures: ['MistralForCausalLM'], sliding_window: 4096 }).slidingWindow, 4096);
  assert.deepEqual(parseConfig({ ...base, attention_bias: true }).bias, { qkv: true, o: true, mlp: false });
});

test('Qwen2 sliding window: the layers from max_window_layers on (older configs) or as layer_types lists them', () => {
  const q = { ...base, architectures: ['Qwen2ForCausalLM'], num_hidden_layers: 4, use_sliding_window: true, sliding_window: 32 };
  assert.deepEqual(parseConfig({ ...q, max_window_layers: 1 }).slidingLayers, [1, 2, 3]);
  assert.deepEqual(parseConfig({ ...q, max_window_layers: 4 }).slidingLayers, []);
  assert.deepEqual(parseConfig({ ...q, layer_types: ['sliding_attention', 'full_attention', 'full_attention', 'sliding_attention'] }).slidingLayers, [0, 3]);
  assert.equal(parseConfig({ ...q, use_sliding_window: false }).slidingWindow, 0);
  assert.throws(() => parseConfig({ ...q, layer_types: ['full_attention'] }, 'c.json'), /^LowbitError: c.json: layer_types must list .* for each of the 4 layers/);
});

test('LongRoPE (Phi-3 128k): factors by sequence length, attention factor sqrt(1 + ln(s) / ln(original))', () => {
  const short = [1, 1.5, 2, 2.5], long = [2, 3, 4, 5];
  const cfg = parseConfig({ ...base, architectures: ['Phi3ForCausalLM'], hidden_size: 32, num_attention_heads: 4, max_position_embeddings: 1024,
    original_max_position_embeddings: 64, rope_scaling: { type: 'longrope', short_factor: short, long_factor: long } });
  assert.equal(cfg.ropeScaling.type, 'longrope');
  if (cfg.ropeScaling.type !== 'longrope') return;
  assert.ok(Math.abs(cfg.ropeScaling.attentionFactor - Math.sqrt(1 + Math.log(16) / Math.log(64))) < 1e-15);
  const plain = (i: number) => 1 / Math.pow(10000, (2 * i) / 8);
  for (const [n, ext] of [[64, short], [65, long]] as const)
    inverseFrequencies(cfg, n).forEach((v, i) => assert.ok(Math.abs(v / (plain(i) / ext[i]) - 1) < 1e-6, `length ${n}, frequency ${i}`));
  assert.throws(() => parseConfig({ ...base, architectures: ['Phi3ForCausalLM'], rope_scaling: { type: 'longrope', short_factor: [1], long_factor: [1] } }), /short_factor must list 8 positive numbers/);
  assert.throws(() => parseConfig({ ...base, partial_rotary_factor: 0.5 }), /partial_rotary_factor 0.5 is not supported/);
});

test('unsupported or inconsistent configs are rejected with the file named', () => {
  assert.throws(() => parseConfig({ ...base, architectures: ['GPT2LMHeadModel'] }, 'x/config.json'), /^LowbitError: x\/config.json: unsupported architecture GPT2LMHeadModel/);
  assert.throws(() => parseConfig({ ...base, num_key_value_heads: 3 }), /not a multiple/);
  assert.throws(() => parseConfig({ ...base, rope_scaling: { rope_type: 'yarn', factor: 4 } }), /unsupported RoPE scaling type yarn/);
  assert.throws(() => parseConfig({ ...base, hidden_act: 'gelu' }), /unsupported hidden_act/);
});
