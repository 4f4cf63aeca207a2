/**
 * The embedded default shipped in assets/ (provenance in assets/README.md): the kdoc-6m model,
 * its held-out evaluation text and its calibration text.
 */
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import path from 'node:path';

function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++, dir = path.dirname(dir)) if (existsSync(path.join(dir, 'package.json'))) return dir;
  throw new Error('lowbit: cannot find the package root');
}

export const ROOT = packageRoot();
/**
 * Paths of the embedded model (kdoc-6m, 6.5M parameters), its held-out evaluation text, its calibration
 * text, and a small multiple-choice set about the documents it was trained on (zero-shot accuracy).
 */
export const ASSETS = {
  model: path.join(ROOT, 'assets', 'kdoc-6m'),
  heldout: path.join(ROOT, 'assets', 'kdoc-heldout.txt'),
  calib: path.join(ROOT, 'assets', 'kdoc-calib.txt'),
  mc: path.join(ROOT, 'assets', 'kdoc-mc.jsonl'),
};
