/**
 * All-or-nothing output directories. The work writes into a temporary sibling directory that is
 * renamed onto the final path only when it completed; on any error the temporary directory is
 * removed, so a failed or interrupted run never leaves a half-written model behind.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LowbitError, describeFsError } from '../util/errors.js';

export interface AtomicDirOptions {
  /** Replace an existing directory at the final path. */
  overwrite?: boolean;
}

/** Fails early (before any long work) when `finalPath` cannot be produced. */
export function checkOutputDir(finalPath: string, opts: AtomicDirOptions = {}): void {
  if (fs.existsSync(finalPath) && !opts.overwrite)
    throw new LowbitError('output already exists (pass --force to replace it)', finalPath);
  const parent = path.dirname(path.resolve(finalPath));
  let stat: fs.Stats;
  try {
    stat = fs.statSync(parent);
  } catch (e) {
    throw new LowbitError(`cannot create output: parent directory: ${describeFsError(e)}`, finalPath);
  }
  if (!stat.isDirectory()) throw new LowbitError('cannot create output: parent is not a directory', finalPath);
  try {
    fs.accessSync(parent, fs.constants.W_OK);
  } catch {
    throw new LowbitError('cannot create output: parent directory is not writable', finalPath);
  }
}

const live = new Set<string>();
let hooked = false;

/** Removes temporary directories if the process is interrupted (Ctrl-C) mid-write. */
function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const dir of live) fs.rmSync(dir, { recursive: true, force: true });
      process.exit(130);
    });
  }
}

export async function writeDirAtomically<T>(finalPath: string, work: (tmpDir: string) => Promise<T>, opts: AtomicDirOptions = {}): Promise<T> {
  checkOutputDir(finalPath, opts);
  const abs = path.resolve(finalPath);
  const tmp = `${abs}.tmp-${process.pid}-${Date.now().toString(36)}`;
  try {
    fs.mkdirSync(tmp);
  } catch (e) {
    throw new LowbitError(`cannot create output: ${describeFsError(e)}`, finalPath);
  }
  hookSignals();
  live.add(tmp);
  try {
    const result = await work(tmp);
    if (fs.existsSync(abs)) fs.rmSync(abs, { recursive: true });
    fs.renameSync(tmp, abs);
    return result;
  } finally {
    live.delete(tmp);
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** The same guarantee for a single output file: written under a temporary sibling name, renamed when complete. */
export async function writeFileAtomically<T>(finalPath: string, work: (tmpFile: string) => Promise<T>, opts: AtomicDirOptions = {}): Promise<T> {
  checkOutputDir(finalPath, opts);
  const abs = path.resolve(finalPath);
  if (fs.existsSync(abs) && fs.statSync(abs).isDirectory()) throw new LowbitError('output is a directory; a GGUF output must be a file path', finalPath);
  const tmp = `${abs}.tmp-${process.pid}-${Date.now().toString(36)}`;
  hookSignals();
  live.add(tmp);
  live.add(`${tmp}.body`);
  try {
    const result = await work(tmp);
    fs.renameSync(tmp, abs);
    return result;
  } finally {
    live.delete(tmp);
    live.delete(`${tmp}.body`);
    fs.rmSync(tmp, { force: true });
    fs.rmSync(`${tmp}.body`, { force: true });
  }
}
