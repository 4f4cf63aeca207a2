/**
 * `npm run bench`: prints lowbit's performance figures next to the machine's measured limits.
 *   npm run bench                 all sections
 *   npm run bench -- gemm forward only the named sections
 *   npm run bench -- --json       also print all figures as one JSON object at the end
 *   npm run bench -- race         the per-bit race against llama.cpp's GGUF mixes (long: not in the default run)
 *   npm run bench -- gpu          the WebGPU backend against the CPU's (needs an adapter: not in the default run)
 *   npm run bench -- datafree7b   RTN and AdpQ of a 7B-shaped checkpoint, cold and warm cache (long, 13.5 GB: on request)
 *   npm run bench -- eval7b       `lowbit eval` of the same checkpoint on the CPU within its memory (on request)
 *   npm run bench -- gptq7b       GPTQ of a 7B-shaped checkpoint on the GPU: solver, products, block forward, the whole run (on request)
 *   npm run bench -- int8         a probe of the int8 tensor cores through WebGPU subgroup matrices (needs a GPU offering them)
 *   npm run bench -- split        f32 products by exact int8 slices on those tensor cores: accuracy against f64, TFLOP/s (same)
 *   npm run bench -- integer      activation-quantized linears (W4A4, W8A8) as integer products against fake quantization (needs an adapter)
 *   npm run bench -- browser      the browser page in Chromium: kdoc-6m (and --model-dir: a 7B checkpoint) to GGUF (on request)
 *   npm run bench -- accuracy --task-dir=<dir>   accuracy next to perplexity per method, with harness task files from <dir>
 *   --json-out=<file>             write the figures as JSON to a file
 */
import { measureMachine, printMachine } from './machine.js';
import { benchGemm } from './gemm.js';
import { benchForward } from './forward.js';
import { benchGptq } from './gptq.js';
import { benchAdpq } from './adpq.js';
import { benchQuantease } from './quantease.js';
import { benchLrc } from './lrc.js';
import { benchRace } from './race.js';
import { benchGpu } from './gpu.js';
import { benchAccuracy } from './accuracy.js';
import { benchDatafree7b } from './datafree7b.js';
import { benchEval7b } from './eval7b.js';
import { benchGptq7b } from './gptq7b.js';
import { benchInt8 } from './int8.js';
import { benchSplitProduct } from './split-product.js';
import { benchInteger } from './integer.js';
import fs from 'node:fs';

/** The browser section loads puppeteer-core (a devDependency, absent on the GPU machine) only when it runs. */
const benchBrowser = async () => (await import('./browser.js')).benchBrowser();

const SECTIONS: Record<string, (m: ReturnType<typeof measureMachine>) => Promise<Record<string, number | string>>> = {
  gemm: benchGemm,
  forward: benchForward,
  gptq: benchGptq,
  adpq: benchAdpq,
  quantease: benchQuantease,
  lrc: benchLrc,
  accuracy: benchAccuracy,
  datafree7b: benchDatafree7b,
  eval7b: benchEval7b,
  race: benchRace,
  gpu: benchGpu,
  browser: benchBrowser,
  gptq7b: benchGptq7b,
  int8: benchInt8,
  split: benchSplitProduct,
  integer: benchInteger,
};
/** Sections that run only when named: the race and the 7B run are long, the GPU section needs an adapter. */
const ON_REQUEST = ['race', 'gpu', 'datafree7b', 'eval7b', 'browser', 'gptq7b', 'int8', 'split', 'integer'];

const args = process.argv.slice(2);
const json = args.includes('--json');
const wanted = args.filter((a) => !a.startsWith('--'));
for (const w of wanted) if (!SECTIONS[w]) throw new Error(`unknown section ${w} (sections: ${Object.keys(SECTIONS).join(', ')})`);

const machine = measureMachine();
printMachine(machine);
const figures: Record<string, unknown> = { machine };
for (const [name, run] of Object.entries(SECTIONS)) if (wanted.length === 0 ? !ON_REQUEST.includes(name) : wanted.includes(name)) figures[name] = await run(machine);
if (json) console.log(JSON.stringify(figures));
const jsonOut = args.find((a) => a.startsWith('--json-out='))?.slice('--json-out='.length);
if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify(figures, null, 2) + '\n');
