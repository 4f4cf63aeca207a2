// Runs a command with WebGPU on SwiftShader (installed by install-verifier.js): the Vulkan loader
// and driver from .verifier/swiftshader, Dawn from .verifier/node_modules/webgpu. The variables
// must be set before the process starts (the dynamic loader reads LD_LIBRARY_PATH once), so the
// WebGPU tests run in their own process and the rest of the suite never sees them.
//   node scripts/with-swiftshader.js node --test dist/gpu-test/
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const swiftshader = path.join(root, '.verifier', 'swiftshader');
const webgpu = path.join(root, '.verifier', 'node_modules', 'webgpu');
for (const need of [path.join(swiftshader, 'vk_swiftshader_icd.json'), path.join(webgpu, 'index.js')])
  if (!fs.existsSync(need)) {
    console.error(`with-swiftshader: ${need} is missing; run node scripts/install-verifier.js`);
    process.exit(1);
  }
const [cmd, ...args] = process.argv.slice(2);
const env = {
  ...process.env,
  VK_DRIVER_FILES: path.join(swiftshader, 'vk_swiftshader_icd.json'),
  LD_LIBRARY_PATH: [swiftshader, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':'),
  LOWBIT_WEBGPU: webgpu,
};
const r = spawnSync(cmd, args, { stdio: 'inherit', env });
process.exit(r.status ?? 1);
