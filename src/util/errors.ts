/**
 * The one error type lowbit reports to users. Its message is a single line that names the file
 * (when there is one) and the problem: `<file>: <problem>`. The CLI prints `lowbit: <message>`
 * and exits non-zero; anything else that escapes is a bug and is printed with its stack.
 */
export class LowbitError extends Error {
  /** The file the problem is in, when there is one. */
  readonly file: string | undefined;
  /** The problem, without the file: `message` is `<file>: <problem>`. */
  readonly problem: string;

  constructor(problem: string, file?: string) {
    super(file === undefined ? problem : `${file}: ${problem}`);
    this.name = 'LowbitError';
    this.file = file;
    this.problem = problem;
  }
}

/** Throws a LowbitError unless `cond` holds. */
export function check(cond: unknown, problem: string, file?: string): asserts cond {
  if (!cond) throw new LowbitError(problem, file);
}

/** A one-line description of a filesystem error, without Node's stack-ish decorations. */
export function describeFsError(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  switch (err?.code) {
    case 'ENOENT': return 'no such file or directory';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EISDIR': return 'is a directory, expected a file';
    case 'ENOTDIR': return 'a parent path is not a directory';
    case 'ENOSPC': return 'no space left on device';
    case 'EROFS': return 'read-only file system';
    default: return err?.message ?? String(e);
  }
}
