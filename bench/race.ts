/**
 * The per-bit race against llama.cpp (issue: GGUF). For each llama.cpp mix, kdoc-6m with its token
 * embedding and output tensor kept at F32 (so only the decoder linears are compared), lowbit RTN,
 * GPTQ and QuantEase write the GGUF file and lowbit measures held-out perplexity at seq 512 (all 503
 * windows). lowbit RTN on a mix is byte-identical to llama-quantize without imatrix (test/gguf.test.ts).
 * The yardstick columns are llama.cpp's own llama-quantize with and without an imatrix from 128x512
 * windows of kdoc-calib, measured by the author with the same protocol.
 *   npm run bench -- race            (about 15 minutes on 2 cores)
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CpuBackend } from '../src/backend/cpu/cpu-backend.js';
import { evaluate } from '../src/eval/run.js';
import { quantizeCalibrated } from '../src/pipeline/calibrated.js';
import { quantizeDataFree } from '../src/pipeline/data-free.js';
import { METHODS } from '../src/quant/registry.js';
import { parseGgufTarget } from '../src/export/gguf/plan.js';
import type { CalibratedMethod, DataFreeMethod, QuantOptions } from '../src/quant/method.js';
import { ASSETS } from '../src/api/assets.js';
import type { MachineLimits } from './machine.js';

/** llama.cpp's figures (issue text): bpw of the decoder linears, ppl without / with imatrix. */
const YARDSTICK: Record<string, [number, number | null, number]> = {
  Q4_K_M: [5.02, 11.17, 11.16],
  Q4_0: [4.5, 11.42, 11.38],
  IQ4_XS: [4.31, null, 11.24],
  Q3_K_M: [4.1, 11.67, 11.62],
  Q3_K_S: [3.7, 12.14, 11.98],
  Q2_K: [3.19, 14.46, 13.76],
};

const METHOD_NAMES = ['rtn', 'gptq', 'quantease'] as const;

export async function benchRace(_limits: MachineLimits): Promise<Record<string, number>> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-race-'));
  const be = new CpuBackend();
  const figures: Record<string, number> = {};
  const rows: string[][] = [];
  console.log('\nper-bit race vs llama.cpp, kdoc-6m, held-out ppl (503 windows x 512), embeddings and output F32:');
  try {
    for (const [mix, [bpwRef, noImatrix, imatrix]] of Object.entries(YARDSTICK)) {
      const row = [mix];
      let bpw = 0, bytes = 0;
      for (const name of METHOD_NAMES) {
        const out = path.join(dir, `${mix}-${name}.gguf`);
        const method = METHODS[name];
        const options: QuantOptions = { bits: 4, groupSize: 128, symmetric: false, extra: {} };
        const gguf = { target: parseGgufTarget(mix), overrides: { tokenEmbeddingType: 'F32', outputTensorType: 'F32' } };
        const m = method.kind === 'data-free'
          ? await quantizeDataFree(ASSETS.model, out, { method: method as DataFreeMethod, options, gguf })
          : await quantizeCalibrated(ASSETS.model, out, { method: method as CalibratedMethod, options, gguf, calib: { file: ASSETS.calib, samples: 128, seqLen: 512 } });
        const ev = await evaluate(be, { modelDir: out, dataFile: ASSETS.heldout, seqLen: 512 });
        bpw = m.summary.bitsPerWeight;
        bytes = fs.statSync(out).size;
        figures[`${mix}_${name}_ppl`] = ev.ppl;
        row.push(ev.ppl.toFixed(3));
        fs.rmSync(out);
      }
      figures[`${mix}_bpw`] = bpw;
      rows.push([mix, bpw.toFixed(3), `${(bytes / 1e6).toFixed(2)} MB`, String(bpwRef), noImatrix?.toFixed(2) ?? '-', imatrix.toFixed(2), ...row.slice(1)]);
      console.log(`  ${mix}: RTN ${row[1]}, GPTQ ${row[2]}, QuantEase ${row[3]} (llama.cpp ${noImatrix ?? '-'}, with imatrix ${imatrix})`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const head = ['mix', 'bpw (linears)', 'file', 'llama.cpp bpw', 'llama.cpp', 'llama.cpp+imatrix', 'lowbit RTN', 'lowbit GPTQ', 'lowbit QuantEase'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  for (const r of [head, ...rows]) console.log('  ' + r.map((c, i) => c.padEnd(widths[i])).join('  '));
  return figures;
}
