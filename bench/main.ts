/**
 * `npm run bench`: prints lowbit's performance figures next to the machine's measured limits.
 *   npm run bench                 all sections
 *   npm run bench -- gemm forward only the named sections
 *   npm run bench -- --json       also print all figures as one JSON object at the end
 *   npm run bench -- race         the per-bit race against llama.cpp's GGUF mixes (long: not in the default run)
 */
import { measureMachine, printMachine } from './machine.js';
import { benchGemm } from './gemm.js';
import { benchForward } from './forward.js';
import { benchGptq } from './gptq.js';
import { benchAdpq } from './adpq.js';
import { benchQuantease } from './quantease.js';
import { benchLrc } from './lrc.js';
import { benchRace } from './race.js';

const SECTIONS: Record<string, (m: ReturnType<typeof measureMachine>) => Promise<Record<string, number>>> = {
  gemm: benchGemm,
  forward: benchForward,
  gptq: benchGptq,
  adpq: benchAdpq,
  quantease: benchQuantease,
  lrc: benchLrc,
  race: benchRace,
};

const args = process.argv.slice(2);
const json = args.includes('--json');
const wanted = args.filter((a) => !a.startsWith('--'));
for (const w of wanted) if (!SECTIONS[w]) throw new Error(`unknown section ${w} (sections: ${Object.keys(SECTIONS).join(', ')})`);

const machine = measureMachine();
printMachine(machine);
const figures: Record<string, unknown> = { machine };
// The race takes ~15 minutes: it runs only when named.
for (const [name, run] of Object.entries(SECTIONS)) if (wanted.length === 0 ? name !== 'race' : wanted.includes(name)) figures[name] = await run(machine);
if (json) console.log(JSON.stringify(figures));
