// `npm install` hook: builds the native CPU kernels (src/native/*.cc) with node-gyp, which npm
// ships. The kernels are optional: when the build fails (no compiler, another OS), lowbit still
// works on its plain-TypeScript kernels, only slower, and says so in `lowbit inspect`/bench.
import { spawnSync } from 'node:child_process';

const gyp = process.platform === 'win32' ? 'node-gyp.cmd' : 'node-gyp';
const r = spawnSync(gyp, ['rebuild'], { stdio: ['ignore', 'ignore', 'pipe'], shell: false });
if (r.status !== 0) {
  const why = r.error ? r.error.message : (r.stderr?.toString().trim().split('\n').slice(-3).join(' | ') ?? '');
  console.warn(`lowbit: native kernels not built (${why}); falling back to TypeScript kernels.`);
}
