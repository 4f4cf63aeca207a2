/** Model I/O: float conversions, safetensors reading/writing/validation, sharded checkpoints, tokenizer. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, f32ToF16Bits } from '../src/io/float.js';
import { setFloat16 } from '@petamoriken/float16';
import { SafetensorsFile, firstNonFinite } from '../src/io/safetensors.js';
import { SafetensorsWriter } from '../src/io/safetensors-writer.js';
import { Checkpoint } from '../src/io/checkpoint.js';
import { PrefetchedSource } from '../src/io/prefetched-source.js';
import type { TensorSource } from '../src/io/tensor-source.js';
import { loadTokenizer, tokenizeFile } from '../src/io/tokenizer.js';
import { LowbitError } from '../src/util/errors.js';
import { ASSETS, ROOT, tmpDir } from './helpers.js';

test('f16 and bf16 conversions match the IEEE bit patterns', () => {
  // f16: 1.0 = 0x3c00, -2.0 = 0xc000, 65504 = 0x7bff, smallest subnormal 2^-24 = 0x0001
  assert.deepEqual([...f16ToF32(new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001]))], [1, -2, 65504, 2 ** -24]);
  assert.deepEqual([...f32ToF16(new Float32Array([1, -2, 65504, 2 ** -24]))], [0x3c00, 0xc000, 0x7bff, 0x0001]);
  // bf16: 1.0 = 0x3f80; 1 + 2^-8 is a tie between 1 and 1 + 2^-7 and rounds to even (1.0)
  assert.deepEqual([...bf16ToF32(new Uint16Array([0x3f80, 0xc040]))], [1, -3]);
  assert.deepEqual([...f32ToBf16(new Float32Array([1, -3, 1 + 2 ** -8, 1 + 3 * 2 ** -8]))], [0x3f80, 0xc040, 0x3f80, 0x3f82]);
});

test('f32ToF16Bits equals the float16 library bit for bit: every binade near f16\'s range, ties, subnormals, Inf and NaN', () => {
  const view = new DataView(new ArrayBuffer(2)), f = new Float32Array(1), u = new Uint32Array(f.buffer);
  const mismatches: string[] = [];
  const check = (bits: number) => {
    u[0] = bits >>> 0;
    setFloat16(view, 0, f[0], true);
    const want = view.getUint16(0, true), got = f32ToF16Bits(u[0]);
    if (want !== got && mismatches.length < 5) mismatches.push(`${u[0].toString(16)}: ${got.toString(16)} != ${want.toString(16)}`);
  };
  for (let b = 0; b < 2 ** 32; b += 65537) check(b); // a stride through every exponent, both signs, NaN payloads
  // Exponents from below the smallest subnormal's half to past the overflow, with the 13 cut bits
  // at zero, exactly half (a tie: even or odd kept bit), just above half and all ones.
  for (let e = 100; e <= 144; e++)
    for (let m = 0; m < 1 << 10; m += 7)
      for (const cut of [0, 0x1000, 0x1001, 0x1fff]) for (const sign of [0, 0x80000000]) check(sign | (e << 23) | (m << 13) | cut);
  for (const s of [2 ** -25, 2 ** -24, 3 * 2 ** -26, 65504, 65519.99, 65520, Infinity, -Infinity]) check(new Uint32Array(new Float32Array([s]).buffer)[0]);
  assert.deepEqual(mismatches, []);
});

function writeFile(file: string, tensors: [string, 'F32' | 'F16' | 'BF16', number[], Float32Array][]): void {
  const w = new SafetensorsWriter(file);
  for (const [name, dtype, shape, data] of tensors)
    w.add(name, dtype, shape, dtype === 'F32' ? data : dtype === 'F16' ? f32ToF16(data) : f32ToBf16(data));
  w.finish({ note: 'test' });
}

test('safetensors round trip in F32, F16 and BF16', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'a.safetensors');
  const x = new Float32Array([0.5, -1.25, 3, 1024]);
  writeFile(file, [['a', 'F32', [2, 2], x], ['b', 'F16', [4], x], ['c', 'BF16', [1, 4], x]]);
  const f = SafetensorsFile.open(file);
  for (const n of ['a', 'b', 'c']) assert.deepEqual([...f.readF32(n)], [...x]);
  assert.deepEqual(f.info('c').shape, [1, 4]);
  assert.equal(f.metadata.note, 'test');
  assert.ok(!fs.existsSync(`${file}.body`));
  f.close();
});

test('PrefetchedSource serves a tensor read ahead once (bf16 as stored, f32 widened), then reads the checkpoint again', () => {
  const dir = tmpDir();
  const x = new Float32Array([0.5, -1.25, 3, 1024, 7, -0.125]);
  writeFile(path.join(dir, 'model.safetensors'), [['w16', 'BF16', [2, 3], x], ['w32', 'F32', [3, 2], x]]);
  const ckpt = Checkpoint.open(dir);
  const counted = { reads: 0 };
  const source: TensorSource = {
    dir, has: (n) => ckpt.has(n), shape: (n) => ckpt.shape(n), fileOf: (n) => ckpt.fileOf(n),
    readF32: (n) => { counted.reads++; return ckpt.readF32(n); },
    readPacked: (n) => { counted.reads++; return ckpt.readPacked(n); },
  };
  const ahead = new PrefetchedSource(source);
  ahead.prefetch('w16');
  ahead.prefetch('w32');
  const afterPrefetch = counted.reads;
  assert.deepEqual([...ahead.readPacked('w16')!.half!.bits], [...f32ToBf16(x)]);
  assert.equal(ahead.readPacked('w32'), null, 'stored dense: no packed form');
  assert.deepEqual([...ahead.readF32('w32')], [...x]);
  assert.equal(counted.reads, afterPrefetch, 'served from memory');
  assert.deepEqual([...ahead.readF32('w16')], [...x], 'taken once: read from the checkpoint again');
  assert.equal(counted.reads, afterPrefetch + 1);
  ckpt.close();
});

/** Writes raw bytes: [u64 header length][header][data]. */
function rawFile(file: string, header: unknown, dataBytes: number, headerLenOverride?: number): void {
  const h = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLenOverride ?? h.length));
  fs.writeFileSync(file, Buffer.concat([len, h, Buffer.alloc(dataBytes)]));
}

test('firstNonFinite on 16-bit floats (two values a word) finds the first Inf/NaN as a scan of each value would: every length 1..12, even and odd offsets', () => {
  let seed = 7;
  const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16;
  let found = 0;
  for (let trial = 0; trial < 3000; trial++) {
    const values = new Uint16Array(13);
    // Exponents drawn near all ones so that hits, misses and both halves of a word all occur.
    for (let i = 0; i < values.length; i++) values[i] = next() % 4 === 0 ? next() | 0x7f80 : next() & 0xfbff;
    for (const dtype of ['BF16', 'F16'] as const) {
      const mask = dtype === 'BF16' ? 0x7f80 : 0x7c00;
      for (const start of [0, 1]) {
        const view = values.subarray(start, start + 1 + (trial % 12));
        const expected = view.findIndex((x) => (x & mask) === mask);
        if (expected >= 0) found++;
        assert.equal(firstNonFinite(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), dtype), expected, `${dtype} [${[...view]}]`);
      }
    }
  }
  assert.ok(found > 1000, `${found} cases with an Inf/NaN`);
});

test('corrupt safetensors files fail with one-line errors naming the file', () => {
  const dir = tmpDir();
  const f = (n: string) => path.join(dir, n);
  const cases: [string, () => void, RegExp][] = [
    ['missing.safetensors', () => {}, /no such file/],
    ['short.safetensors', () => fs.writeFileSync(f('short.safetensors'), Buffer.alloc(5)), /too short/],
    ['hugelen.safetensors', () => rawFile(f('hugelen.safetensors'), {}, 0, 1e12), /header length .* exceeds/],
    ['badjson.safetensors', () => { const b = Buffer.alloc(8 + 4); b.writeBigUInt64LE(4n); b.write('{{{{', 8); fs.writeFileSync(f('badjson.safetensors'), b); }, /not valid JSON/],
    ['mismatch.safetensors', () => rawFile(f('mismatch.safetensors'), { w: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 20] } }, 20), /has 20 bytes but its shape \[2, 3\] of F32 needs 24/],
    ['dtype.safetensors', () => rawFile(f('dtype.safetensors'), { w: { dtype: 'F8_E4M3', shape: [4], data_offsets: [0, 4] } }, 4), /unsupported dtype F8_E4M3/],
    ['truncated.safetensors', () => rawFile(f('truncated.safetensors'), { w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), /truncated/],
  ];
  for (const [name, make, re] of cases) {
    make();
    assert.throws(() => SafetensorsFile.open(f(name)), (e: unknown) => {
      assert.ok(e instanceof LowbitError, `${name}: not a LowbitError`);
      assert.ok(e.message.startsWith(f(name) + ': '), `${name}: message does not name the file: ${e.message}`);
      assert.match(e.message, re);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
  }
});

test('sharded checkpoints are read through model.safetensors.index.json', () => {
  const dir = tmpDir();
  writeFile(path.join(dir, 'model-00001-of-00002.safetensors'), [['a', 'F32', [2], new Float32Array([1, 2])]]);
  writeFile(path.join(dir, 'model-00002-of-00002.safetensors'), [['b', 'BF16', [1], new Float32Array([3])]]);
  const index = { metadata: {}, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } };
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
  const c = Checkpoint.open(dir);
  assert.deepEqual(c.names().sort(), ['a', 'b']);
  assert.deepEqual([...c.readF32('b')], [3]);
  assert.match(c.fileOf('b'), /00002/);
  c.close();
  // An index that points at a tensor its shard lacks is rejected.
  index.weight_map = { ...index.weight_map, c: 'model-00001-of-00002.safetensors' } as never;
  fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));
  assert.throws(() => Checkpoint.open(dir), /places tensor c here but the file has no such tensor/);
});

test('tokenizer agrees with Hugging Face tokenizers on the whole held-out text', () => {
  // Token count and a rolling checksum of the ids, computed by the Python `tokenizers` library.
  const oracle = JSON.parse(fs.readFileSync(path.join(ROOT, 'test/fixtures/oracle-forward.json'), 'utf8'));
  const ids = tokenizeFile(loadTokenizer(ASSETS.model), ASSETS.heldout);
  assert.equal(ids.length, oracle.tokens);
  let checksum = 0;
  for (const id of ids) checksum = (checksum * 31 + id) % 1_000_000_007;
  assert.equal(checksum, oracle.checksum);
});
