/**
 * All-or-nothing outputs that never lose a user's model.
 *  - The work writes into a temporary sibling (`<out>.tmp-<pid>-<stamp>`, a directory or a file) that
 *    is renamed onto the final path only when complete; on any error or Ctrl-C it is removed.
 *  - An output that is the input, lies inside it, or contains it is refused (paths resolved,
 *    symlinks followed): `--out ./model --force` cannot replace the model being read.
 *  - The run holds `<out>.lowbit-lock` (created exclusively, holding its pid) from start to rename,
 *    and checks again under it that the output does not exist: two runs with the same --out cannot
 *    both succeed, and without --force nothing is clobbered.
 *  - Temporaries and locks left by killed runs (their pid no longer alive) are removed when the next
 *    run writes the same output. Only lowbit's own, recognisably named siblings are touched.
 */
import fs from 'node:fs';
import path from 'node:path';
import { LowbitError, describeFsError } from '../util/errors.js';

export interface AtomicDirOptions {
  /** Replace an existing output at the final path. */
  overwrite?: boolean;
  /** The run's inputs: the output may not be one of them, lie inside one, or contain one. */
  inputs?: string[];
}

/** The real path of p, whose last parts need not exist yet. */
function realPath(p: string): string {
  const abs = path.resolve(p);
  try {
    return fs.realpathSync(abs);
  } catch {
    const parent = path.dirname(abs);
    return parent === abs ? abs : path.join(realPath(parent), path.basename(abs));
  }
}

const inside = (child: string, parent: string) => child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);

/** Fails early (before any long work) when `finalPath` cannot or must not be produced. */
export function checkOutputDir(finalPath: string, opts: AtomicDirOptions = {}): void {
  const out = realPath(finalPath);
  for (const input of opts.inputs ?? []) {
    const src = realPath(input);
    if (inside(out, src)) throw new LowbitError(`the output would ${out === src ? 'replace' : 'be written inside'} the input model ${input}; choose another --out`, finalPath);
    if (inside(src, out)) throw new LowbitError(`the output would replace a directory that holds the input model ${input}; choose another --out`, finalPath);
  }
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes temporaries of `abs` left by runs that are no longer alive. */
function removeStaleTemporaries(abs: string): void {
  const dir = path.dirname(abs), base = path.basename(abs);
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const e of entries) {
    if (!e.startsWith(`${base}.tmp-`)) continue;
    const m = /^\.tmp-(\d+)-[0-9a-z]+(\.body)?$/.exec(e.slice(base.length));
    if (m && Number(m[1]) !== process.pid && !alive(Number(m[1]))) fs.rmSync(path.join(dir, e), { recursive: true, force: true });
  }
}

/** Takes `<abs>.lowbit-lock` for this process (clearing a dead run's lock); returns its path. */
function lock(abs: string, finalPath: string): string {
  const file = `${abs}.lowbit-lock`;
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      return file;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new LowbitError(`cannot create output: ${describeFsError(e)}`, finalPath);
      const pid = Number(fs.readFileSync(file, 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0 && alive(pid)) throw new LowbitError(`another lowbit run (pid ${pid}) is writing this output (if none is, remove ${file})`, finalPath);
      fs.rmSync(file, { force: true }); // left by a run that was killed
    }
  }
  throw new LowbitError('cannot take the output lock', finalPath);
}

const live = new Set<string>();
let hooked = false;

/**
 * Removes temporaries and locks if the process is interrupted (Ctrl-C) mid-write. Then, if nothing
 * else listens for the signal (the CLI), it exits as the signal would have; a program that uses
 * lowbit as a library and handles the signal itself keeps running its own handler.
 */
function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      for (const p of live) fs.rmSync(p, { recursive: true, force: true });
      live.clear();
      if (process.listenerCount(sig) === 0) process.exit(130);
    });
  }
}

async function writeAtomically<T>(finalPath: string, kind: 'dir' | 'file', work: (tmp: string) => Promise<T>, opts: AtomicDirOptions): Promise<T> {
  checkOutputDir(finalPath, opts);
  const abs = path.resolve(finalPath);
  if (kind === 'file' && fs.existsSync(abs) && fs.statSync(abs).isDirectory()) throw new LowbitError('output is a directory; a GGUF output must be a file path', finalPath);
  hookSignals();
  const lockFile = lock(abs, finalPath);
  live.add(lockFile);
  removeStaleTemporaries(abs);
  const tmp = `${abs}.tmp-${process.pid}-${Date.now().toString(36)}`;
  const temporaries = kind === 'dir' ? [tmp] : [tmp, `${tmp}.body`];
  for (const t of temporaries) live.add(t);
  try {
    if (kind === 'dir') {
      try {
        fs.mkdirSync(tmp);
      } catch (e) {
        throw new LowbitError(`cannot create output: ${describeFsError(e)}`, finalPath);
      }
    }
    const result = await work(tmp);
    // The check that counts, under the lock: nothing appeared at the final path meanwhile.
    if (fs.existsSync(abs)) {
      if (!opts.overwrite) throw new LowbitError('output appeared while this run was writing it (pass --force to replace it)', finalPath);
      fs.rmSync(abs, { recursive: true });
    }
    fs.renameSync(tmp, abs);
    return result;
  } finally {
    for (const t of temporaries) {
      live.delete(t);
      fs.rmSync(t, { recursive: true, force: true });
    }
    live.delete(lockFile);
    fs.rmSync(lockFile, { force: true });
  }
}

/** Runs `work` on a temporary directory that becomes `finalPath` when it completes. */
export function writeDirAtomically<T>(finalPath: string, work: (tmpDir: string) => Promise<T>, opts: AtomicDirOptions = {}): Promise<T> {
  return writeAtomically(finalPath, 'dir', work, opts);
}

/** The same for a single output file (written under a temporary name, renamed when complete). */
export function writeFileAtomically<T>(finalPath: string, work: (tmpFile: string) => Promise<T>, opts: AtomicDirOptions = {}): Promise<T> {
  return writeAtomically(finalPath, 'file', work, opts);
}
