// Makes sure the browser test (test/browser.test.ts) has a Chromium: Debian's package `chromium`,
// installed with apt-get when it is missing and this is root (as CI is); the test path only, never
// a user's `npm install`. LOWBIT_CHROMIUM may name another Chromium binary instead.
// Fails loudly when it cannot install: a skipped browser test would hide breakage.
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';

export const CHROMIUM = process.env.LOWBIT_CHROMIUM ?? '/usr/bin/chromium';

if (!fs.existsSync(CHROMIUM)) {
  if (process.env.LOWBIT_CHROMIUM) {
    console.error(`install-chromium: LOWBIT_CHROMIUM=${CHROMIUM} does not exist`);
    process.exit(1);
  }
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!root || spawnSync('apt-get', ['--version']).status !== 0) {
    console.error('install-chromium: the browser test needs Chromium: apt-get install chromium (as root), or set LOWBIT_CHROMIUM to a Chromium binary');
    process.exit(1);
  }
  console.log('install-chromium: apt-get install chromium (for the browser test)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'ignore', 'inherit'], env });
  execFileSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', 'chromium'], { stdio: ['ignore', 'ignore', 'inherit'], env });
}
console.log(`install-chromium: ${execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' }).trim()}`);
