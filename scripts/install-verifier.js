// Installs what the tests check lowbit against, into .verifier/ (the test path, not a user's
// `npm install`). Idempotent; fails loudly when it cannot install (a skipped check would hide breakage).
//  - llama.cpp's Node binding (node-llama-cpp, its prebuilt CPU binaries only): the tests load
//    lowbit's GGUF files with the real client. The full package with its CUDA/Vulkan builds is
//    ~700 MB; this is ~85 MB.
//  - Dawn's WebGPU addon (the npm package webgpu, this platform's build only: ~21 MB of its 132)
//    and SwiftShader, a Vulkan driver that runs on the CPU, from Debian's chromium-common
//    (unpacked with apt-get download + dpkg -x: no system install, no root needed for dpkg -x).
//    scripts/with-swiftshader.js runs the WebGPU tests with them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const LLAMA_VERSION = '3.22.1';
const WEBGPU_VERSION = '0.6.2';
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = path.join(root, '.verifier');
const arch = `${process.platform}-${process.arch}`;

const versionOf = (pkg) => {
  const f = path.join(dir, 'node_modules', pkg, 'package.json');
  return fs.existsSync(f) ? JSON.parse(fs.readFileSync(f, 'utf8')).version : null;
};

if (versionOf('node-llama-cpp') !== LLAMA_VERSION || versionOf('webgpu') !== WEBGPU_VERSION) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'lowbit-verifier', private: true }) + '\n');
  // One npm call: a second `npm install --no-save` here would prune what the first installed.
  execFileSync('npm', ['install', '--no-save', '--omit=optional', '--no-audit', '--no-fund', '--ignore-scripts',
    `node-llama-cpp@${LLAMA_VERSION}`, `@node-llama-cpp/${arch}@${LLAMA_VERSION}`, `webgpu@${WEBGPU_VERSION}`],
  { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  const builds = path.join(dir, 'node_modules', 'webgpu', 'dist');
  for (const b of fs.readdirSync(builds)) if (b !== arch) fs.rmSync(path.join(builds, b), { recursive: true, force: true });
}

const swiftshader = path.join(dir, 'swiftshader');
if (process.platform === 'linux' && !fs.existsSync(path.join(swiftshader, 'vk_swiftshader_icd.json'))) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-swiftshader-'));
  try {
    const download = () => execFileSync('apt-get', ['download', 'chromium-common'], { cwd: tmp, stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      download();
    } catch {
      execFileSync('apt-get', ['update'], { stdio: ['ignore', 'ignore', 'inherit'] }); // a fresh machine has no package lists
      download();
    }
    const deb = fs.readdirSync(tmp).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download chromium-common produced no .deb');
    execFileSync('dpkg', ['-x', deb, 'x'], { cwd: tmp });
    // Only the driver, its manifest and the Vulkan loader (the package is ~100 MB unpacked).
    fs.mkdirSync(swiftshader, { recursive: true });
    for (const f of ['libvk_swiftshader.so', 'libvulkan.so.1', 'vk_swiftshader_icd.json'])
      fs.copyFileSync(path.join(tmp, 'x', 'usr', 'lib', 'chromium', f), path.join(swiftshader, f));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
