/**
 * Data-free quantization of a whole 7B model at the speed of the disk? RTN and AdpQ at 4 and 3 bits,
 * and RTN onto llama.cpp's Q4_K_M mix (one GGUF file), of a Llama-2-7B-shaped bf16 checkpoint (13.5
 * GB, sharded as Hugging Face ships it; made by scripts/make-synthetic-llama.ts when missing), each
 * from a cold and from a warm page cache, end to end through `lowbit quantize` (process start to
 * output renamed), against bounds measured in the same run:
 *   - disk read: the checkpoint's bytes read once from a cold cache (the shards' cached pages dropped
 *     with `dd iflag=nocache count=0`), as parameters per second; and the same read from a warm cache;
 *   - memory bandwidth: the bytes a perfect quantizer moves per parameter (read 2 bytes of bf16,
 *     write b/8 bytes of codes) at the measured copy bandwidth.
 * With --llama-quantize=PATH (llama.cpp's llama-quantize binary), the peer's time for the same
 * Q4_K_M on all cores from a BF16 GGUF of the checkpoint (written by lowbit, not timed against it),
 * and whether every tensor of the two files is byte-identical.
 *   npm run bench -- datafree7b [--model-dir=DIR] [--keep] [--llama-quantize=PATH]   (on request: ~15 minutes, 13.5 GB of disk)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { ROOT } from '../src/api/assets.js';
import { benchArg } from './args.js';
import { synthetic7b } from './synthetic7b.js';
import { GgufFile } from '../src/io/gguf.js';
import type { MachineLimits } from './machine.js';


/** Drops the files' pages from the page cache (GNU dd: nocache with count=0 drops the whole file). */
function dropCache(files: string[]): boolean {
  return files.every((f) => spawnSync('dd', [`if=${f}`, 'iflag=nocache', 'count=0', 'status=none']).status === 0);
}

/** Seconds to read the files once, sequentially, in 64 MB reads. */
function readAll(files: string[]): number {
  const buf = Buffer.allocUnsafe(1 << 26);
  const t0 = performance.now();
  for (const f of files) {
    const fd = fs.openSync(f, 'r');
    while (fs.readSync(fd, buf, 0, buf.length, null) > 0);
    fs.closeSync(fd);
  }
  return (performance.now() - t0) / 1000;
}

export async function benchDatafree7b(limits: MachineLimits): Promise<Record<string, number>> {
  const model = synthetic7b();
  const { dir, shards, bytes, params } = model;

  const dropped = dropCache(shards);
  const coldRead = readAll(shards);
  const warmRead = readAll(shards);
  const diskBound = params / coldRead;
  console.log(`\n== data-free quantization of a 7B model: ${(params / 1e9).toFixed(2)}B parameters, ${(bytes / 1e9).toFixed(2)} GB bf16 in ${shards.length} shards (${dir})`);
  console.log(`  read once: cold ${coldRead.toFixed(1)} s (${(bytes / coldRead / 1e9).toFixed(2)} GB/s${dropped ? '' : ', cache could not be dropped'}), warm ${warmRead.toFixed(1)} s (${(bytes / warmRead / 1e9).toFixed(2)} GB/s)`);
  console.log(`  bounds: disk read ${(diskBound / 1e6).toFixed(0)}M params/s (7B in ${(params / diskBound).toFixed(0)} s); memory bandwidth ${limits.copyGBs.toFixed(1)} GB/s`);
  console.log(`  bounds: warm read ${(params / warmRead / 1e6).toFixed(0)}M params/s (7B in ${warmRead.toFixed(1)} s: the floor for a reader on one thread)`);
  console.log('  method  target  cache   wall s   params/s   peak RSS   of disk bound   of memory bound');
  const figures: Record<string, number> = { params, checkpoint_bytes: bytes, cold_read_s: coldRead, warm_read_s: warmRead, disk_bound_params_per_s: diskBound };
  const out = path.join(os.tmpdir(), `lowbit-bench-7b-out-${process.pid}`);
  const runs: { method: string; target: string; args: string[]; bitsPerParam: number }[] = [
    ...['rtn', 'adpq'].flatMap((method) => [4, 3].map((bits) => ({ method, target: `${bits}-bit`, args: ['--bits', String(bits)], bitsPerParam: bits }))),
    { method: 'rtn', target: 'Q4_K_M', args: ['--gguf', 'Q4_K_M'], bitsPerParam: 4.85 },
  ];
  for (const run of runs)
    for (const cache of ['cold', 'warm']) {
      const target = run.target === 'Q4_K_M' ? `${out}.gguf` : out;
      fs.rmSync(target, { recursive: true, force: true });
      if (cache === 'cold') dropCache(shards);
      else readAll(shards);
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'lowbit.js'), 'quantize', dir, '--method', run.method, ...run.args, '--out', target, '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
      const wall = (performance.now() - t0) / 1000;
      if (r.status !== 0) throw new Error(r.stderr);
      const s = JSON.parse(r.stdout);
      const rate = params / wall;
      const memBound = (limits.copyGBs * 1e9) / (2 + run.bitsPerParam / 8);
      const key = `${run.method}_${run.target.replace('-bit', '')}_${cache}`.toLowerCase();
      Object.assign(figures, { [`${key}_wall_s`]: wall, [`${key}_params_per_s`]: rate, [`${key}_peak_rss_mib`]: s.peakRssMiB, [`${key}_of_disk_bound`]: rate / diskBound, [`${key}_of_memory_bound`]: rate / memBound });
      console.log(`  ${run.method.padEnd(6)}  ${run.target.padEnd(6)}  ${cache.padEnd(5)}  ${wall.toFixed(1).padStart(7)}  ${((rate / 1e6).toFixed(1) + 'M').padStart(9)}  ${(s.peakRssMiB.toFixed(0) + ' MiB').padStart(9)}  ${((100 * rate / diskBound).toFixed(1) + '%').padStart(14)}  ${((100 * rate / memBound).toFixed(2) + '%').padStart(16)}`);
    }
  const llamaQuantize = benchArg('llama-quantize');
  if (llamaQuantize) Object.assign(figures, comparePeer(llamaQuantize, dir, `${out}.gguf`, params));
  fs.rmSync(`${out}.gguf`, { force: true });
  fs.rmSync(out, { recursive: true, force: true });
  model.dispose();
  return figures;
}

/**
 * llama-quantize (C, all cores) on the same checkpoint: lowbit writes it as one BF16 GGUF (what
 * llama.cpp's converter would), llama-quantize turns that into Q4_K_M from a warm cache, and every
 * tensor is compared with lowbit's Q4_K_M file.
 */
function comparePeer(binary: string, dir: string, lowbitGguf: string, params: number): Record<string, number> {
  const bf16 = path.join(os.tmpdir(), `lowbit-bench-7b-bf16-${process.pid}.gguf`), theirs = path.join(os.tmpdir(), `lowbit-bench-7b-peer-${process.pid}.gguf`);
  try {
    const w = spawnSync(process.execPath, [path.join(ROOT, 'bin', 'lowbit.js'), 'quantize', dir, '--method', 'rtn', '--gguf', 'BF16', '--out', bf16], { encoding: 'utf8' });
    if (w.status !== 0) throw new Error(w.stderr);
    readAll([bf16]);
    const threads = os.availableParallelism();
    const t0 = performance.now();
    const r = spawnSync(binary, [bf16, theirs, 'Q4_K_M', String(threads)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const wall = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`${binary} failed: ${r.stderr.slice(-500)}`);
    const a = GgufFile.open(lowbitGguf), b = GgufFile.open(theirs);
    let identical = 0;
    for (const [name, t] of b.tensors) {
      const u = a.tensors.get(name);
      if (u && u.type === t.type && Buffer.compare(Buffer.from(a.readBytes(name)), Buffer.from(b.readBytes(name))) === 0) identical++;
    }
    const same = identical === b.tensors.size && a.tensors.size === b.tensors.size;
    console.log(`  llama-quantize Q4_K_M, ${threads} threads, warm BF16 GGUF: ${wall.toFixed(1)} s (${(params / wall / 1e6).toFixed(1)}M params/s); tensors byte-identical to lowbit's: ${identical}/${b.tensors.size}${same ? '' : ' (NOT all)'}`);
    a.close();
    b.close();
    return { llama_quantize_q4_k_m_wall_s: wall, llama_quantize_threads: threads, llama_quantize_tensors_identical: same ? 1 : 0 };
  } finally {
    fs.rmSync(bf16, { force: true });
    fs.rmSync(theirs, { force: true });
  }
}
