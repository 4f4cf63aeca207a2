#!/usr/bin/env node
// Builds the browser page into dist/web/: index.html and style.css from web/, and three bundles
// (page.js, the quantizing worker, the job worker) made by esbuild from src/web/. esbuild bundles
// for the browser platform, so a Node module reached from these entry points fails the build.
// Run by `npm run build` and `npm test`; the package ships the result, so users need no esbuild.
import { build } from 'esbuild';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'web');
fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
await build({
  absWorkingDir: root,
  entryPoints: { page: 'src/web/page.ts', 'quantize-worker': 'src/web/quantize-worker.ts', 'job-worker': 'src/web/job-worker.ts' },
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'chrome120',
  sourcemap: true,
  logLevel: 'warning',
  // The Node host of the WebGPU backend imports Dawn's package by a computed name; browsers use navigator.gpu.
  external: ['webgpu'],
});
for (const f of ['index.html', 'style.css']) fs.copyFileSync(path.join(root, 'web', f), path.join(out, f));
console.log(`browser page built in ${path.relative(root, out)}/`);
