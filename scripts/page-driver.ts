/**
 * Drives lowbit's browser page (src/web/) in a real Chromium through puppeteer-core, as a person
 * would use it: pick a model folder in its file input, choose a GGUF type, optionally a text to
 * measure perplexity on, click Quantize, wait for the download link or the error line. Used by
 * test/browser.test.ts (SwiftShader here) and bench/browser.ts (any machine, a real GPU included).
 */
import puppeteer, { type Browser, type Page } from 'puppeteer-core';

/** Debian's Chromium, or the binary LOWBIT_CHROMIUM names (scripts/install-chromium.js). */
export const CHROMIUM = process.env.LOWBIT_CHROMIUM ?? '/usr/bin/chromium';

export function launchChromium(executablePath = CHROMIUM, extraArgs: string[] = []): Promise<Browser> {
  // LOWBIT_CHROMIUM_LOG=1 passes the browser's own log (GPU process included) to stderr, to see why it has no adapter.
  const dumpio = process.env.LOWBIT_CHROMIUM_LOG === '1';
  return puppeteer.launch({ executablePath, headless: true, dumpio, args: ['--no-sandbox', '--enable-unsafe-webgpu', ...(dumpio ? ['--enable-logging=stderr'] : []), ...extraArgs] });
}

/**
 * An element of the page, for functions that run in the page (page.evaluate serialises them, so
 * they reach it through globalThis; this file is compiled without the DOM's types).
 */
declare function byId(id: string): { hidden: boolean; textContent: string | null };

/** A fresh page at `url`; downloads land in `downloads` when given; errors thrown in the page are collected. */
export async function openPage(browser: Browser, url: string, downloads?: string): Promise<Page & { pageErrors: string[] }> {
  const page = (await browser.newPage()) as Page & { pageErrors: string[] };
  await page.setViewport({ width: 900, height: 1150 });
  page.pageErrors = [];
  page.on('pageerror', (e) => page.pageErrors.push((e as Error).message));
  if (downloads) await (await page.createCDPSession()).send('Browser.setDownloadBehavior', { behavior: 'allow', downloadPath: downloads });
  await page.goto(url);
  await page.evaluate(() => {
    const g = globalThis as unknown as { byId: unknown; document: { getElementById(id: string): unknown } };
    g.byId = (id: string) => g.document.getElementById(id);
  });
  return page;
}

/** The WebGPU adapter the page gets ("vendor architecture description"), or null. */
export function pageAdapter(page: Page): Promise<string | null> {
  return page.evaluate(async () => {
    const a = await (globalThis as unknown as { navigator: { gpu?: GPU } }).navigator.gpu?.requestAdapter();
    return a ? `${a.info.vendor} ${a.info.architecture} ${a.info.description}`.trim() : null;
  });
}

/** The error line the page shows ('' when none). */
export function pageError(page: Page): Promise<string> {
  return page.$eval('#error', (e) => ((e as unknown as { hidden: boolean }).hidden ? '' : e.textContent ?? ''));
}

export interface PageRun {
  /** The page's error line ('' when it finished). */
  error: string;
  /** From the click to the download link (or the error). */
  seconds: number;
  /** The page's closing line (file, size, bits per weight, quantization time). */
  stage: string;
  /** The perplexity lines, before and after, when a text was given. */
  perplexity: string[];
}

/** Picks `folder` (and `textFile`), chooses `gguf`, clicks Quantize and waits for the result. */
export async function quantizeInPage(page: Page, o: {
  folder: string; gguf: string; textFile?: string; device?: 'gpu' | 'cpu'; timeoutMs?: number;
  /** A calibrated method (gptq, quantease) with its calibration text. */
  method?: string; calib?: { file: string; samples: number; seqLen: number };
}): Promise<PageRun> {
  await (await page.$('#folder'))!.uploadFile(o.folder);
  if (o.textFile) await (await page.$('#eval-text'))!.uploadFile(o.textFile);
  await page.select('#gguf', o.gguf);
  if (o.method) await page.select('#method', o.method);
  if (o.calib) {
    await (await page.$('#calib-text'))!.uploadFile(o.calib.file);
    for (const [id, v] of [['#calib-samples', o.calib.samples], ['#calib-seq-len', o.calib.seqLen]] as const) {
      await page.$eval(id, (e, value) => { (e as unknown as { value: string }).value = String(value); }, v);
    }
  }
  if (o.device) await page.select('#device', o.device);
  const error = await pageError(page);
  if (error) return { error, seconds: 0, stage: '', perplexity: [] };
  return clickQuantize(page, o.timeoutMs);
}

/** Clicks Quantize and waits for the download link or the error line. */
export async function clickQuantize(page: Page, timeoutMs = 240_000): Promise<PageRun> {
  const t0 = performance.now();
  await page.click('#start');
  await page.waitForFunction(() => !byId('download').hidden || !byId('error').hidden, { timeout: timeoutMs, polling: 200 });
  return {
    error: await pageError(page),
    seconds: (performance.now() - t0) / 1000,
    stage: await page.$eval('#stage', (e) => e.textContent ?? ''),
    perplexity: await page.$$eval('#ppl p', (ps) => ps.map((p) => p.textContent ?? '')),
  };
}
