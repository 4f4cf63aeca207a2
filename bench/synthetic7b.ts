/**
 * The Llama-2-7B-shaped bf16 checkpoint the 7B sections (datafree7b, eval7b) run on: the one in
 * --model-dir=DIR (written there when missing), else one written to a temporary folder and removed
 * when the section ends unless --keep is given (13.5 GB).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Checkpoint } from '../src/io/checkpoint.js';
import { writeSyntheticLlama } from '../scripts/make-synthetic-llama.js';
import { benchArg } from './args.js';

export interface Synthetic7b {
  dir: string;
  /** The shard files and their bytes. */
  shards: string[];
  bytes: number;
  /** Parameters of every tensor, and of the token embedding alone. */
  params: number;
  embeddingParams: number;
  /** Removes a checkpoint this section wrote itself (not one named with --model-dir, not with --keep). */
  dispose(): void;
}

export function synthetic7b(): Synthetic7b {
  const named = benchArg('model-dir');
  const dir = named ?? path.join(os.tmpdir(), 'lowbit-llama7b');
  if (!fs.existsSync(path.join(dir, 'config.json'))) {
    console.log(`\nwriting a Llama-2-7B-shaped bf16 checkpoint to ${dir} ...`);
    writeSyntheticLlama(dir);
  }
  const shards = fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors')).map((f) => path.join(dir, f));
  const ckpt = Checkpoint.open(dir);
  const count = (n: string) => ckpt.shape(n).reduce((a, b) => a * b, 1);
  const params = ckpt.names().reduce((s, n) => s + count(n), 0), embeddingParams = count('model.embed_tokens.weight');
  ckpt.close();
  return {
    dir, shards, bytes: shards.reduce((s, f) => s + fs.statSync(f).size, 0), params, embeddingParams,
    dispose: () => {
      if (!process.argv.includes('--keep') && !named) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
