/**
 * The library API (src/api, the package's entry point): the same results as the CLI's --json,
 * progress events that add up to closed-form totals, cancellation that leaves nothing on disk,
 * option checks that name the option, and --help generated from the same specifications.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import {
  ASSETS, EVALUATE_OPTIONS, GENERATE_OPTIONS, LOAD_OPTIONS, LowbitError, QUANTIZE_OPTIONS, TASK_OPTIONS,
  evaluate, exportGguf, generate, inspect, loadModel, quantize, type ProgressEvent,
} from '../src/api/index.js';
import { METHODS } from '../src/quant/registry.js';
import { kebab } from '../src/util/options.js';
import { API_REFERENCE, apiReference } from '../scripts/api-reference.js';
import { ROOT, makeTinyModel, runCli, tmpDir } from './helpers.js';

const heldout = fs.readFileSync(ASSETS.heldout, 'utf8').slice(0, 60_000);

/** Parameters of a Llama-family checkpoint from its config (untied head), the closed form inspect must match. */
function llamaParams(c: { vocabSize: number; hiddenSize: number; intermediateSize: number; numLayers: number; numHeads: number; numKvHeads: number; headDim: number; tieWordEmbeddings: boolean }): number {
  const h = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim;
  const block = h * q + 2 * h * kv + q * h + 3 * h * c.intermediateSize + 2 * h;
  return c.vocabSize * h * (c.tieWordEmbeddings ? 1 : 2) + c.numLayers * block + h;
}

/** Siblings a run may leave next to `out` (temporaries, locks): there must be none. */
function leftovers(out: string): string[] {
  return fs.readdirSync(path.dirname(out)).filter((f) => f.startsWith(path.basename(out)));
}

test('quantize: the result is what the CLI prints with --json, and progress adds up to every parameter of the checkpoint', async () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'model'));
  const events: ProgressEvent[] = [];
  const r = await quantize(model, { out: path.join(dir, 'api'), method: 'rtn', bits: 3, groupSize: 32, onProgress: (e) => events.push(e) });
  const cli = runCli(['quantize', model, '--method', 'rtn', '--bits', '3', '--group-size', '32', '--out', path.join(dir, 'cli'), '--json']);
  assert.equal(cli.code, 0, cli.stderr);
  const c = JSON.parse(cli.stdout);
  assert.deepEqual(Object.keys(r).sort(), Object.keys(c).sort());
  assert.deepEqual(r.options, c.options);
  assert.equal(r.summary.bitsPerWeight, 3 + 19 / 32); // 3-bit codes + a 16-bit scale and a 3-bit zero per 32 weights
  assert.deepEqual(r.summary, JSON.parse(fs.readFileSync(path.join(dir, 'api', 'lowbit.json'), 'utf8')).summary);

  const info = await inspect(model);
  assert.ok(info.runnable);
  assert.equal(info.parameters, llamaParams(info.config));
  assert.ok(events.length > 0 && events.every((e) => e.stage === 'quantize' && e.unit === 'params'));
  for (let i = 1; i < events.length; i++) assert.ok(events[i].done >= events[i - 1].done);
  assert.equal(events.at(-1)!.done, info.parameters);
  assert.equal(events.at(-1)!.total, info.parameters);
});

test('quantize: defaults that depend on other options resolve as the CLI documents them', async () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'model'));
  // Quantized activations make QuaRot's grid (symmetric, per channel) the default ...
  const act = await quantize(model, { out: path.join(dir, 'a8'), aBits: 8 });
  assert.deepEqual([act.options.groupSize, act.options.symmetric], [0, true]);
  // ... unless given; and a method's own options take that method's defaults (recorded).
  const calib = path.join(dir, 'calib.txt');
  fs.writeFileSync(calib, heldout);
  const g = await quantize(model, { out: path.join(dir, 'g'), method: 'gptq', calib, calibSamples: 2, calibSeqLen: 32, aBits: 8, groupSize: 32 });
  assert.deepEqual([g.options.groupSize, g.options.symmetric, g.options.damp, g.options.actOrder, g.options.blockSize], [32, true, 0.01, false, 128]);
  assert.equal(g.method, 'gptq');
  assert.equal(Object.keys(g.layers).length, 2 * 7);
});

test('options are checked against their specifications, with one-line errors that name the option', async () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'model'));
  const out = path.join(dir, 'q');
  const cases: [() => Promise<unknown>, RegExp][] = [
    [() => quantize(model, { out, bits: 9 }), /quantize: option bits \(--bits\) must be an integer from 2 to 8, got 9/],
    [() => quantize(model, { out, bits: 3.5 }), /bits \(--bits\) must be an integer/],
    [() => quantize(model, { out, bitz: 3 } as never), /quantize: unknown option bitz/],
    [() => quantize(model, { out, method: 'gptq', lrcRank: 0.1 } as never), /method gptq has no option lrcRank \(--lrc-rank\) \(it belongs to lrc\)/],
    [() => quantize(model, { out, method: 'lrc', lrcRank: 2, calib: ASSETS.calib }), /lrcRank \(--lrc-rank\) must be a number from 0 to 1/],
    [() => quantize(model, { out, method: 'awq' } as never), /method \(--method\) must be one of rtn, adpq/],
    [() => quantize(model, {} as never), /option out \(--out\) is required/],
    [() => quantize(model, { out, method: 'gptq' }), /needs calibration text: pass calib \(--calib\)/],
    [() => quantize(model, { out, rotate: 'givens' } as never), /rotate \(--rotate\) must be one of none, hadamard/],
    [() => evaluate(model, heldout, { seqLen: 1 }), /evaluate: option seqLen \(--seq-len\) must be an integer >= 2/],
    [() => evaluate(model, heldout, { device: 'tpu' } as never), /device \(--device\) must be one of cpu, gpu, auto/],
    [() => generate(model, 'x', { topP: 0 }), /topP \(--top-p\) must be a number from 0.0001 to 1/],
    [() => loadModel(path.join(dir, 'none')), /none: no such model directory/],
  ];
  for (const [call, message] of cases) await assert.rejects(call, (e: Error) => e instanceof LowbitError && message.test(e.message) && !e.message.includes('\n'), String(message));
  assert.deepEqual(leftovers(out), []);

  // A bad weight found by a quantization worker thread arrives as the same typed error: file and problem.
  const weight = 'model.layers.1.mlp.down_proj.weight';
  const nan = makeTinyModel(path.join(dir, 'nan'), { mutate: (t) => { t.get(weight)!.data[17] = NaN; } });
  await assert.rejects(() => quantize(nan, { out }), (e: Error) => e instanceof LowbitError &&
    e.file === path.join(nan, 'model.safetensors') && e.problem === `tensor ${weight} contains NaN at element 17` && e.message === `${e.file}: ${e.problem}`);
  assert.deepEqual(leftovers(out), []);
});

test('evaluate: text, token ids and a file give the same perplexity as the CLI; a loaded model is reused and disposed', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'text.txt');
  fs.writeFileSync(file, heldout);
  const m = await loadModel(ASSETS.model);
  try {
    const opts = { seqLen: 256, maxWindows: 6 };
    const fromFile = await m.evaluate({ file }, opts);
    const fromText = await m.evaluate(heldout, opts);
    const fromIds = await m.evaluate(m.encode(heldout), opts);
    assert.equal(fromText.ppl, fromFile.ppl);
    assert.equal(fromIds.ppl, fromFile.ppl);
    assert.deepEqual([fromFile.data, fromText.data, fromIds.data], [file, '(text)', '(tokens)']);
    assert.equal(m.decode(m.encode('The kernel scheduler')), 'The kernel scheduler');
    assert.equal(m.config.vocabSize, 4096);
    assert.equal(m.quantization, null);

    const events: ProgressEvent[] = [];
    const oneShot = await evaluate(ASSETS.model, { file }, { ...opts, batch: 3, onProgress: (e) => events.push(e) });
    assert.ok(Math.abs(oneShot.ppl / fromFile.ppl - 1) < 1e-6, `${oneShot.ppl} vs ${fromFile.ppl}`);
    assert.deepEqual([...new Set(events.map((e) => e.stage))], ['load', 'evaluate']);
    assert.deepEqual(events.filter((e) => e.stage === 'evaluate').map((e) => e.done), [3, 6]);

    const cli = runCli(['eval', ASSETS.model, '--data', file, '--seq-len', '256', '--max-windows', '6', '--json']);
    assert.equal(cli.code, 0, cli.stderr);
    const c = JSON.parse(cli.stdout);
    assert.deepEqual(Object.keys(fromFile).sort(), Object.keys(c).sort());
    assert.equal(c.ppl, fromFile.ppl);
  } finally {
    m.dispose();
  }
  await assert.rejects(() => m.evaluate(heldout), /the model was disposed/);
});

test('generate: the CLI\'s greedy tokens, text streamed in pieces that add up to the result', async () => {
  const pieces: string[] = [];
  const events: ProgressEvent[] = [];
  const r = await generate(ASSETS.model, 'The kernel scheduler', { maxTokens: 16, onText: (s) => pieces.push(s), onProgress: (e) => events.push(e) });
  const cli = runCli(['generate', ASSETS.model, '--prompt', 'The kernel scheduler', '--max-tokens', '16', '--json']);
  assert.equal(cli.code, 0, cli.stderr);
  const c = JSON.parse(cli.stdout);
  assert.deepEqual(Object.keys(r).sort(), Object.keys(c).sort());
  assert.deepEqual(r.tokens, c.tokens);
  assert.equal(pieces.join(''), r.text);
  assert.equal(events.filter((e) => e.stage === 'generate').at(-1)?.done, r.tokens.length);
});

test('an AbortSignal stops quantize (data-free and calibrated), evaluate and generate, and nothing is left on disk', async () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'model'));
  const abortAt = (n: number) => {
    const ac = new AbortController();
    let seen = 0;
    return { signal: ac.signal, onProgress: () => void (++seen === n && ac.abort()) };
  };
  const isAbort = (e: Error) => e.name === 'AbortError';

  const rtnOut = path.join(dir, 'rtn');
  await assert.rejects(() => quantize(model, { out: rtnOut, ...abortAt(2) }), isAbort);
  assert.deepEqual(leftovers(rtnOut), []);

  const gguf = path.join(dir, 'q.gguf');
  await assert.rejects(() => quantize(model, { out: gguf, gguf: 'Q8_0', ...abortAt(3) }), isAbort);
  assert.deepEqual(leftovers(gguf), []);

  const gptqOut = path.join(dir, 'gptq');
  await assert.rejects(() => quantize(model, { out: gptqOut, method: 'gptq', calib: ASSETS.calib, calibSamples: 2, calibSeqLen: 32, ...abortAt(4) }), isAbort);
  assert.deepEqual(leftovers(gptqOut), []);

  const reason = new Error('stopped by the user');
  const ac = new AbortController();
  ac.abort(reason);
  await assert.rejects(() => quantize(model, { out: rtnOut, signal: ac.signal }), (e) => e === reason);
  await assert.rejects(() => evaluate(ASSETS.model, heldout, { seqLen: 128, ...abortAt(1) }), isAbort); // during loading
  const m = await loadModel(ASSETS.model);
  try {
    await assert.rejects(() => m.evaluate(heldout, { seqLen: 128, ...abortAt(2) }), isAbort);
    await assert.rejects(() => m.generate('The kernel', { maxTokens: 20, ...abortAt(3) }), isAbort);
    // The model still works after an aborted call.
    assert.equal((await m.generate('The kernel', { maxTokens: 3 })).tokens.length, 3);
  } finally {
    m.dispose();
  }
});

test('a program that handles Ctrl-C itself keeps control: lowbit clears its temporaries, the program aborts the run and goes on', () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'model'));
  const out = path.join(dir, 'q');
  const api = pathToFileURL(path.join(ROOT, 'dist', 'src', 'api', 'index.js')).href;
  const program = `
    import { quantize } from ${JSON.stringify(api)};
    const ac = new AbortController();
    process.on('SIGINT', () => ac.abort());
    let first = true;
    const onProgress = () => { if (first) { first = false; process.kill(process.pid, 'SIGINT'); } };
    await quantize(${JSON.stringify(model)}, { out: ${JSON.stringify(out)}, signal: ac.signal, onProgress }).then(
      () => console.log('finished'), (e) => console.log('stopped:', e.name));
    console.log('still running');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', program], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'stopped: AbortError\nstill running\n');
  assert.deepEqual(leftovers(out), []);
});

test('exportGguf: a directory quantized for GGUF becomes the file quantize would have written', async () => {
  const dir = tmpDir();
  const model = makeTinyModel(path.join(dir, 'model'));
  const direct = await quantize(model, { out: path.join(dir, 'direct.gguf'), gguf: 'Q4_0' });
  await quantize(model, { out: path.join(dir, 'q'), gguf: 'Q4_0' });
  const r = await exportGguf(path.join(dir, 'q'), { out: path.join(dir, 'exported.gguf') });
  assert.deepEqual(Object.keys(r).sort(), ['method', 'out', 'summary']);
  assert.equal(r.summary.bitsPerWeight, 4.5); // Q4_0: 32 4-bit codes and an f16 scale per block
  assert.equal(direct.summary.bitsPerWeight, 4.5);
  const loaded = await loadModel(path.join(dir, 'exported.gguf'));
  try {
    const blockMatrices = loaded.gguf!.tensors.filter((t) => /^blk\.\d+\.(attn_[qkvo]|attn_output|ffn_(gate|up|down))\.weight$/.test(t.name));
    assert.equal(blockMatrices.length, 2 * 7);
    assert.ok(blockMatrices.every((t) => t.type === 'Q4_0'));
  } finally {
    loaded.dispose();
  }
  await assert.rejects(() => exportGguf(path.join(dir, 'q'), { out: path.join(dir, 'x.bin') }), /ending in \.gguf/);
});

test('--help shows a flag for every option of the API, and only CLI-specific flags besides', () => {
  const help = (cmd: string) => {
    const r = runCli([cmd, '--help']);
    assert.equal(r.code, 0, r.stderr);
    return new Set([...r.stdout.matchAll(/^\s+(--[a-z0-9-]+)/gm)].map((m) => m[1]));
  };
  const expect = (flags: Set<string>, names: string[], cliOnly: string[]) =>
    assert.deepEqual([...flags].sort(), [...names.map((n) => `--${kebab(n)}`), ...cliOnly].sort());
  const methodOptions = Object.values(METHODS).flatMap((m) => Object.keys(m.options));
  expect(help('quantize'), [...new Set([...Object.keys(QUANTIZE_OPTIONS), ...methodOptions])], ['--json']);
  expect(help('eval'), [...Object.keys(EVALUATE_OPTIONS), ...Object.keys(TASK_OPTIONS), ...Object.keys(LOAD_OPTIONS)], ['--data', '--json']);
  expect(help('generate'), [...Object.keys(GENERATE_OPTIONS), ...Object.keys(LOAD_OPTIONS)], ['--prompt', '--json']);
  // The README's hand-written option table names every shared option of quantize too.
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  for (const name of Object.keys(QUANTIZE_OPTIONS)) assert.ok(readme.includes(`\`--${kebab(name)}`), `README lacks --${kebab(name)}`);
});

test('docs/API.md is what `npm run docs` writes from the code (signatures, doc comments, option specifications)', () => {
  assert.ok(fs.readFileSync(API_REFERENCE, 'utf8') === apiReference(), 'docs/API.md is stale: run npm run docs');
});
