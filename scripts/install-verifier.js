// Installs llama.cpp's Node binding (node-llama-cpp, its prebuilt CPU binaries only) into
// .verifier/, for the tests that check lowbit's GGUF files with the real client. It belongs to the
// test path, not to a user's `npm install` (the full package with its CUDA/Vulkan builds is ~700 MB;
// this is ~85 MB). Idempotent; fails loudly when it cannot install (a skipped check would hide breakage).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const VERSION = '3.22.1';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, '.verifier');
const marker = path.join(dir, 'node_modules', 'node-llama-cpp', 'package.json');
const installed = fs.existsSync(marker) && JSON.parse(fs.readFileSync(marker, 'utf8')).version === VERSION;
if (!installed) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'lowbit-verifier', private: true }) + '\n');
  const arch = `${process.platform}-${process.arch}`;
  execFileSync('npm', ['install', '--no-save', '--omit=optional', '--no-audit', '--no-fund', '--ignore-scripts',
    `node-llama-cpp@${VERSION}`, `@node-llama-cpp/${arch}@${VERSION}`], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
}
