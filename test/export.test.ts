/**
 * GGUF outputs around the edges: `lowbit export` is lossless where a ggml type can hold the grid and
 * refuses (with the reason, leaving no file) where it cannot; quantize --gguf refuses what GGUF cannot
 * store; inspect lists GGUFs of architectures lowbit does not run; format v2 stores what it counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ASSETS, makeTinyModel, runCli, tmpDir } from './helpers.js';
import { GgufWriter, gv } from '../src/io/gguf.js';
import { bitsFor, packBits, unpackBits } from '../src/io/bitpack.js';
import { SafetensorsFile } from '../src/io/safetensors.js';
import { SafetensorsWriter } from '../src/io/safetensors-writer.js';
import { rng } from './helpers.js';

const MODEL = ASSETS.model, HELDOUT = ASSETS.heldout;
const ppl = (m: string) => {
  const r = runCli(['eval', m, '--data', HELDOUT, '--max-windows', '4', '--json']);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).ppl as number;
};

test('export is lossless: a GGUF-target directory and a Q4_0-shaped group grid evaluate identically as GGUF', () => {
  const dir = tmpDir();
  for (const [name, args] of [['mix', ['--method', 'gptq', '--gguf', 'Q3_K_M', '--calib', ASSETS.calib, '--calib-samples', '8', '--calib-seq-len', '256']], ['q4_0', ['--bits', '4', '--group-size', '32', '--sym']], ['q8_0', ['--bits', '8', '--group-size', '32', '--sym']]] as const) {
    const out = path.join(dir, name), file = path.join(dir, `${name}.gguf`);
    assert.equal(runCli(['quantize', MODEL, ...args, '--out', out]).code, 0);
    const e = runCli(['export', out, '--gguf', '--out', file]);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(ppl(file), ppl(out), name);
  }
});

test('export and quantize --gguf refuse what GGUF cannot hold, with the reason and no output left behind', () => {
  const dir = tmpDir();
  const cases: [string[], RegExp][] = [
    [['--method', 'adpq', '--bits', '4', '--group-size', '32'], /AdpQ's salient weights/],
    [['--bits', '4', '--group-size', '128'], /groups of 128/],
    [['--bits', '3', '--group-size', '32', '--sym'], /symmetric 3-bit grids have no ggml block type/],
  ];
  for (const [i, [args, why]] of cases.entries()) {
    const out = path.join(dir, `d${i}`), file = path.join(dir, `d${i}.gguf`);
    assert.equal(runCli(['quantize', MODEL, ...args, '--out', out]).code, 0);
    const r = runCli(['export', out, '--gguf', '--out', file]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, why);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.ok(!fs.existsSync(file));
  }
  const refusals: [string[], RegExp][] = [
    [['--method', 'adpq', '--gguf', 'Q4_K_M'], /AdpQ|format adpq|cannot hold/],
    [['--method', 'gptq', '--act-order', '--gguf', 'Q4_K_M', '--calib', ASSETS.calib, '--calib-samples', '4', '--calib-seq-len', '128'], /act-order cannot be stored in GGUF/],
    [['--a-bits', '8', '--gguf', 'Q8_0'], /activation quantization/],
    [['--gguf', 'Q9_K'], /unknown GGUF type Q9_K/],
    [['--gguf', 'Q4_K_M', '--output-tensor-type', 'Q7'], /unknown tensor type Q7/],
  ];
  for (const [i, [args, why]] of refusals.entries()) {
    const file = path.join(dir, `r${i}.gguf`);
    const r = runCli(['quantize', MODEL, ...args, '--out', file]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, why, r.stderr);
    assert.ok(!fs.existsSync(file), `${file} left behind`);
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.startsWith(`r${i}.gguf`)), []);
  }
});

test('inspect lists a GGUF of an architecture lowbit does not run; eval refuses it in one line', () => {
  const file = path.join(tmpDir(), 'gemma2.gguf');
  const w = new GgufWriter(file);
  w.add('token_embd.weight', 0, [4, 2], new Uint8Array(32));
  w.finish([['general.architecture', gv.str('gemma2')], ['gemma2.block_count', gv.u32(1)]]);
  const r = runCli(['inspect', file, '--json']);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.runnable, false);
  assert.equal(j.gguf.architecture, 'gemma2');
  assert.deepEqual(j.gguf.tensors, [{ name: 'token_embd.weight', type: 'F32', shape: [2, 4] }]);
  const e = runCli(['eval', file, '--data', HELDOUT]);
  assert.notEqual(e.code, 0);
  assert.match(e.stderr, /^lowbit: .*gemma2\.gguf: unsupported GGUF architecture gemma2/);
});

test('bit-packing round-trips at every width; format v2 files hold the bits they report (within 2%)', () => {
  const r = rng(5);
  for (let width = 1; width <= 31; width++) {
    const v = Int32Array.from({ length: 97 }, () => Math.floor(r() * 2 ** width));
    assert.deepEqual(unpackBits(packBits(v, width), width, v.length, new Int32Array(v.length)), v, `width ${width}`);
  }
  // The stream by hand: 1,2,3,4,5 at 3 bits, least significant bit first = 0b11010001 0b01011000.
  assert.deepEqual([...packBits([1, 2, 3, 4, 5], 3)], [0xd1, 0x58]);
  // The byte-emitting fast path writes exactly what the field-by-field definition writes (format v2 files unchanged).
  const byFields = (values: ArrayLike<number>, width: number) => {
    const out = new Uint8Array(Math.ceil((values.length * width) / 8));
    for (let i = 0, bit = 0; i < values.length; i++) for (let k = 0; k < width; k++, bit++) out[bit >> 3] |= ((values[i] >> k) & 1) << (bit & 7);
    return out;
  };
  for (let width = 1; width <= 24; width++) {
    const v = Int32Array.from({ length: 1000 + width }, () => Math.floor(r() * 2 ** width));
    assert.deepEqual(packBits(v, width), byFields(v, width), `width ${width}`);
  }
  assert.equal(bitsFor(0), 1);
  assert.equal(bitsFor(15), 4);
  assert.equal(bitsFor(16), 5);
  const dir = tmpDir();
  for (const args of [['--bits', '3'], ['--method', 'adpq', '--bits', '3'], ['--method', 'adpq', '--bits', '4', '--group-size', '0', '--outlier-ratio', '0.3'], ['--bits', '4', '--group-size', '0']]) {
    const out = path.join(dir, args.join('_'));
    assert.equal(runCli(['quantize', MODEL, ...args, '--out', out]).code, 0);
    const m = JSON.parse(fs.readFileSync(path.join(out, 'lowbit.json'), 'utf8'));
    assert.equal(m.lowbit.formatVersion, 2);
    const st = SafetensorsFile.open(path.join(out, 'model.safetensors'));
    let bytes = 0;
    for (const layer of Object.keys(m.layers)) for (const [n, t] of st.tensors) if (n.startsWith(`${layer}.`)) bytes += t.byteLength;
    const stored = (bytes * 8) / m.summary.quantizedParams;
    assert.ok(Math.abs(stored / m.summary.bitsPerWeight - 1) < 0.02, `${args.join(' ')}: stored ${stored} vs reported ${m.summary.bitsPerWeight}`);
  }
});

test('packed evaluation: same perplexity as widened weights, and less memory than the source model', () => {
  const dir = tmpDir();
  const src = makeTinyModel(path.join(dir, 'wide'), { hidden: 512, layers: 6, heads: 8, kvHeads: 4, mlp: 1536, dtype: 'BF16' });
  const file = path.join(dir, 'wide-q4_0.gguf'), lowbitDir = path.join(dir, 'wide-rtn4');
  assert.equal(runCli(['quantize', src, '--gguf', 'Q4_0', '--out', file]).code, 0);
  assert.equal(runCli(['quantize', src, '--bits', '4', '--out', lowbitDir]).code, 0);
  const run = (m: string, ...flags: string[]) => {
    const r = runCli(['eval', m, '--data', HELDOUT, '--max-windows', '2', '--json', ...flags]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as { ppl: number; peakRssMiB: number };
  };
  for (const m of [file, lowbitDir]) assert.equal(run(m, '--packed').ppl, run(m, '--no-packed').ppl, m);
  const source = run(src), packed = run(file, '--packed');
  // The source holds 56M bytes of f32 linears; packed Q4_0 holds 8M and widens one layer (2 MB) at a time.
  assert.ok(packed.peakRssMiB < source.peakRssMiB - 20, `packed Q4_0 ${packed.peakRssMiB} MiB vs source ${source.peakRssMiB} MiB`);
});

test('format v1 directories (codes one U8 per weight, no packing) still load', () => {
  const dir = tmpDir();
  const v2 = path.join(dir, 'v2'), v1 = path.join(dir, 'v1');
  assert.equal(runCli(['quantize', MODEL, '--bits', '3', '--out', v2]).code, 0);
  // Rewrite it as version 1 wrote it: every packed tensor unpacked to its dtype and shape.
  fs.mkdirSync(v1);
  for (const f of fs.readdirSync(v2)) if (f !== 'model.safetensors' && f !== 'lowbit.json') fs.copyFileSync(path.join(v2, f), path.join(v1, f));
  const m = JSON.parse(fs.readFileSync(path.join(v2, 'lowbit.json'), 'utf8'));
  const st = SafetensorsFile.open(path.join(v2, 'model.safetensors'));
  const w = new SafetensorsWriter(path.join(v1, 'model.safetensors'));
  for (const [name, info] of st.tensors) {
    const layer = Object.keys(m.layers).find((l) => name.startsWith(`${l}.`));
    const packed = layer ? m.layers[layer].packed?.[name.slice(layer.length + 1)] : undefined;
    if (!packed) { w.add(name, info.dtype, info.shape, st.readBytes(name)); continue; }
    const n = packed.shape.reduce((a: number, b: number) => a * b, 1);
    const out = packed.dtype === 'U8' ? new Uint8Array(n) : new Int32Array(n);
    w.add(name, packed.dtype, packed.shape, unpackBits(st.readBytes(name), packed.width, n, out));
  }
  w.finish();
  for (const e of Object.values(m.layers) as { packed?: unknown }[]) delete e.packed;
  m.lowbit.formatVersion = 1;
  fs.writeFileSync(path.join(v1, 'lowbit.json'), JSON.stringify(m));
  assert.equal(ppl(v1), ppl(v2));
});
