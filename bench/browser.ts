/**
 * The browser page in Chromium on this machine (`lowbit web`'s page, driven by puppeteer-core as a
 * person would use it): the time from clicking Quantize to the download link, for kdoc-6m (with
 * perplexity before and after on a 512-token window of its held-out text, on WebGPU) and, with
 * --model-dir, a Llama-2-7B-shaped bf16 checkpoint (bench/synthetic7b.ts; quantization only).
 * Reports the WebGPU adapter the page got, parameters/s, and the GGUF's size.
 *   npm run bench -- browser [--chromium=PATH] [--gguf=Q4_0] [--model-dir=DIR] [--chromium-flags="--a --b"]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { serveWebPage } from '../src/api/web.js';
import { ASSETS } from '../src/api/assets.js';
import { CHROMIUM, launchChromium, openPage, pageAdapter, quantizeInPage, type PageRun } from '../scripts/page-driver.js';
import { benchArg } from './args.js';
import { synthetic7b } from './synthetic7b.js';

export async function benchBrowser(): Promise<Record<string, number | string>> {
  const gguf = benchArg('gguf') ?? 'Q4_0';
  const flags = (benchArg('chromium-flags') ?? '').split(' ').filter(Boolean);
  const server = await serveWebPage({ port: 0 });
  const browser = await launchChromium(benchArg('chromium') ?? CHROMIUM, flags);
  const figures: Record<string, number | string> = {};
  try {
    console.log(`\n== the browser page in ${await browser.version()} (${gguf})`);
    const show = (what: string, params: number, r: PageRun) => {
      if (r.error) throw new Error(`${what}: the page says: ${r.error}`);
      console.log(`  ${what}: ${r.seconds.toFixed(1)} s from click to download link, ${(params / r.seconds / 1e6).toFixed(1)}M params/s end to end`);
      console.log(`    ${r.stage}`);
      for (const p of r.perplexity) console.log(`    ${p}`);
    };
    const page = await openPage(browser, server.url);
    figures.adapter = (await pageAdapter(page)) ?? 'none';
    console.log(`  WebGPU adapter: ${figures.adapter}`);
    const text = path.join(os.tmpdir(), 'lowbit-bench-text.txt');
    fs.writeFileSync(text, fs.readFileSync(ASSETS.heldout, 'utf8').slice(0, 2500));
    const small = await quantizeInPage(page, { folder: ASSETS.model, gguf, textFile: text });
    show('kdoc-6m (6.5M parameters), with perplexity before and after', 6.5e6, small);
    Object.assign(figures, { kdoc_s: small.seconds, kdoc_stage: small.stage, kdoc_ppl: small.perplexity.join('; ') });
    await page.close();
    if (benchArg('model-dir')) {
      const model = synthetic7b();
      const big = await openPage(browser, server.url);
      const r = await quantizeInPage(big, { folder: model.dir, gguf, timeoutMs: 3_600_000 });
      show(`7B-shaped bf16 (${(model.params / 1e9).toFixed(2)}B parameters, ${(model.bytes / 1e9).toFixed(1)} GB)`, model.params, r);
      Object.assign(figures, { llama7b_s: r.seconds, llama7b_params_per_s: model.params / r.seconds, llama7b_stage: r.stage });
      await big.close();
    }
  } finally {
    await browser.close();
    await server.close();
  }
  return figures;
}
