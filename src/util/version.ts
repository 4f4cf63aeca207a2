/** lowbit's version, read from package.json so there is one source of truth. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

function findVersion(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.name === 'lowbit') return String(pkg.version);
    } catch {
      // keep looking upwards
    }
  }
  return 'unknown';
}

/** The version of the installed lowbit package (package.json). */
export const VERSION = findVersion();
