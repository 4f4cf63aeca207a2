/**
 * The browser page in a real browser: Debian's Chromium, headless, driven by puppeteer-core, with
 * WebGPU on SwiftShader (chromium-common's Vulkan driver; no GPU here). The page gets kdoc-6m from
 * its folder input as a person would pick it, quantizes it in the page, and the GGUF it downloads
 * must be byte-identical to `quantize()` in Node with the same options; perplexity measured in the
 * page (WebGPU) must equal Node's CPU evaluation. Bad input gets one readable line in the page.
 * Screenshots go to test-artifacts/browser/.
 */
import test, { after, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'puppeteer-core';
import { evaluate, quantize, serveWebPage, type WebServer } from '../src/api/index.js';
import { CHROMIUM, launchChromium, openPage, pageAdapter, quantizeInPage } from '../scripts/page-driver.js';
import { ASSETS, ROOT, tmpDir } from './helpers.js';

const ARTIFACTS = path.join(ROOT, 'test-artifacts', 'browser');

let server: WebServer;
let browser: Browser;

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: node scripts/install-chromium.js installs it`);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  server = await serveWebPage({ port: 0 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

async function waitForFile(file: string): Promise<Buffer> {
  for (let i = 0; i < 200 && !fs.existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(fs.existsSync(file), `${file} was downloaded`);
  return fs.readFileSync(file);
}

test('the page quantizes kdoc-6m to Q4_0 from its folder input: the download equals lowbit quantize, perplexity on WebGPU equals Node\'s', async () => {
  const dir = tmpDir('lowbit-browser-');
  const downloads = path.join(dir, 'downloads');
  fs.mkdirSync(downloads);
  // About 750 tokens of held-out text: one window of 512 (WebGPU on SwiftShader takes ~20 s a window).
  const text = fs.readFileSync(ASSETS.heldout, 'utf8').slice(0, 2500);
  const textFile = path.join(dir, 'text.txt');
  fs.writeFileSync(textFile, text);

  const page = await openPage(browser, server.url, downloads);
  const adapter = await pageAdapter(page);
  assert.ok(adapter !== null, 'Chromium offers a WebGPU adapter (SwiftShader)');
  await page.screenshot({ path: path.join(ARTIFACTS, 'before.png') });
  const run = await quantizeInPage(page, { folder: ASSETS.model, gguf: 'Q4_0', textFile });
  assert.equal(run.error, '');
  assert.match(await page.$eval('#model-info', (e) => e.textContent ?? ''), /^kdoc-6m: 5 files/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'after.png') });
  assert.match(run.stage, /^done: kdoc-6m-Q4_0\.gguf, 3\.9 MiB, 4\.500 bits per weight over 4\.4M quantized parameters/);
  assert.equal(await page.$$eval('#layers tbody tr', (rows) => rows.length), 42, 'a table row per quantized layer');
  await page.click('#download');
  const fromPage = await waitForFile(path.join(downloads, 'kdoc-6m-Q4_0.gguf'));

  const out = path.join(dir, 'node.gguf');
  await quantize(ASSETS.model, { method: 'rtn', gguf: 'Q4_0', out });
  const fromNode = fs.readFileSync(out);
  assert.equal(fromPage.length, fromNode.length);
  assert.ok(fromPage.equals(fromNode), 'the page\'s GGUF is byte-identical to lowbit quantize\'s');

  const shown = run.perplexity;
  assert.equal(shown.length, 2, shown.join(' | '));
  const pplOf = (s: string) => Number(/perplexity (?:before|after): ([\d.]+)/.exec(s)![1]);
  for (const s of shown) assert.match(s, /\(webgpu/, 'perplexity ran on WebGPU');
  const before = await evaluate(ASSETS.model, text, { seqLen: 512 });
  const afterQ = await evaluate(out, text, { seqLen: 512 });
  // The page shows three decimals: equal within that rounding.
  assert.ok(Math.abs(pplOf(shown[0]) - before.ppl) <= 6e-4, `before: page ${shown[0]} vs Node ${before.ppl}`);
  assert.ok(Math.abs(pplOf(shown[1]) - afterQ.ppl) <= 6e-4, `after: page ${shown[1]} vs Node ${afterQ.ppl}`);
  assert.ok(afterQ.ppl > before.ppl);
  assert.deepEqual(page.pageErrors, []);
  console.log(`page: kdoc-6m -> Q4_0 with perplexity before and after on ${adapter}: ${run.seconds.toFixed(1)} s; ${shown.join('; ')}`);
  await page.close();
});

test('GPTQ in the page (calibration text picked in the page, CPU): the GGUF equals Node\'s GPTQ in bits and within 1% in perplexity', async () => {
  const dir = tmpDir('lowbit-browser-gptq-');
  const downloads = path.join(dir, 'downloads');
  fs.mkdirSync(downloads);
  const page = await openPage(browser, server.url, downloads);
  const calib = { file: ASSETS.calib, samples: 8, seqLen: 128 };
  const run = await quantizeInPage(page, { folder: ASSETS.model, gguf: 'Q4_K_M', method: 'gptq', calib, device: 'cpu' });
  assert.equal(run.error, '');
  assert.match(run.stage, /^done: kdoc-6m-Q4_K_M\.gguf/);
  await page.screenshot({ path: path.join(ARTIFACTS, 'gptq.png') });
  await page.click('#download');
  const fromPage = path.join(dir, 'page.gguf');
  fs.writeFileSync(fromPage, await waitForFile(path.join(downloads, 'kdoc-6m-Q4_K_M.gguf')));
  await page.close();

  const out = path.join(dir, 'node.gguf');
  const node = await quantize(ASSETS.model, { method: 'gptq', gguf: 'Q4_K_M', out, calib: ASSETS.calib, calibSamples: calib.samples, calibSeqLen: calib.seqLen });
  const text = fs.readFileSync(ASSETS.heldout, 'utf8').slice(0, 20000);
  const [p, n] = [await evaluate(fromPage, text, { seqLen: 512 }), await evaluate(out, text, { seqLen: 512 })];
  assert.ok(run.stage.includes(`${node.summary.bitsPerWeight.toFixed(3)} bits per weight`), `${run.stage} vs Node's ${node.summary.bitsPerWeight}`);
  assert.equal(fs.statSync(fromPage).size, fs.statSync(out).size, 'the same tensors and types');
  assert.ok(Math.abs(p.ppl - n.ppl) / n.ppl < 0.01, `perplexity: page ${p.ppl} vs Node ${n.ppl}`);
  console.log(`page GPTQ Q4_K_M: ${run.seconds.toFixed(1)} s; perplexity ${p.ppl.toFixed(4)} (Node's GPTQ: ${n.ppl.toFixed(4)})`);
});

test('bad input gives one readable line in the page, and the page stays usable', async () => {
  const dir = tmpDir('lowbit-browser-bad-');
  const downloads = path.join(dir, 'downloads');
  fs.mkdirSync(downloads);
  const copy = (name: string, edit?: (files: string) => void) => {
    const d = path.join(dir, name);
    fs.cpSync(ASSETS.model, d, { recursive: true });
    edit?.(d);
    return d;
  };
  const cases: [string, string, RegExp][] = [
    ['no config.json', copy('no-config', (d) => fs.rmSync(path.join(d, 'config.json'))), /^no-config: no config\.json in the folder/],
    ['a truncated shard', copy('truncated', (d) => {
      const f = path.join(d, 'model.safetensors');
      fs.truncateSync(f, fs.statSync(f).size - 1000);
    }), /^\/truncated\/model\.safetensors: truncated: tensor .* but the file has \d+ bytes$/],
    ['GPTQ without a calibration text', ASSETS.model, /^gptq needs a calibration text: pick one \(never the text you evaluate on\)$/],
    ['an unsupported architecture', copy('gpt2', (d) => {
      const f = path.join(d, 'config.json');
      fs.writeFileSync(f, JSON.stringify({ ...JSON.parse(fs.readFileSync(f, 'utf8')), architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' }));
    }), /^\/gpt2\/config\.json: unsupported architecture GPT2LMHeadModel; lowbit supports /],
  ];
  const page = await openPage(browser, server.url, downloads);
  for (const [what, folder, expected] of cases) {
    const { error } = await quantizeInPage(page, { folder, gguf: 'Q4_0', method: what.startsWith('GPTQ') ? 'gptq' : 'rtn' });
    assert.match(error, expected, what);
    assert.ok(!error.includes('\n'), `${what}: one line`);
    // The page still responds (its work runs in a worker).
    assert.equal(await page.evaluate(() => 1 + 1), 2);
    await page.screenshot({ path: path.join(ARTIFACTS, `error-${path.basename(folder)}.png`) });
  }
  await page.close();

  // Too little memory for the asked evaluation: refused before any work, in one line.
  const small = await openPage(browser, `${server.url}?memory=0.001`, downloads);
  const textFile = path.join(dir, 'text.txt');
  fs.writeFileSync(textFile, 'a short text');
  assert.match((await quantizeInPage(small, { folder: ASSETS.model, gguf: 'Q4_0', textFile })).error, /^not enough memory to evaluate this model in the browser: it needs about 0\.0 GiB, this page may use 0\.001 GiB/);
  await small.close();
});
