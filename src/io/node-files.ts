/**
 * The Node host of io/host.ts: the file system through `node:fs`. The module is reached through
 * process.getBuiltinModule (Node >= 20.16), not an import, so this file loads in a browser too
 * (where it returns null and the page installs its own host): the core imports no Node module.
 */
import type { FileHost, ReadableFile, WritableFile } from './host.js';

type Fs = typeof import('node:fs');
type Path = typeof import('node:path');

/** A Node built-in module when running in Node, else null. */
export function nodeBuiltin<T>(id: string): T | null {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return (proc?.getBuiltinModule?.(id) as T | undefined) ?? null;
}

/** An environment variable of the Node process, or undefined (outside Node too). */
export function hostEnv(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}

export function nodeFileHost(): FileHost | null {
  const fs = nodeBuiltin<Fs>('node:fs'), path = nodeBuiltin<Path>('node:path');
  if (!fs || !path) return null;
  return {
    stat(p) {
      try {
        const s = fs.statSync(p);
        return { kind: s.isDirectory() ? 'directory' : 'file', size: s.size };
      } catch {
        return null;
      }
    },
    list: (dir) => fs.readdirSync(dir),
    readText: (p) => fs.readFileSync(p, 'utf8'),
    openRead(p): ReadableFile {
      const fd = fs.openSync(p, 'r');
      let size: number;
      try {
        const s = fs.fstatSync(fd);
        if (s.isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
        size = s.size;
      } catch (e) {
        fs.closeSync(fd);
        throw e;
      }
      return {
        size,
        read: (into, position) => fs.readSync(fd, into, 0, into.length, position),
        close: () => fs.closeSync(fd),
      };
    },
    createWrite(p): WritableFile {
      const fd = fs.openSync(p, 'w');
      return {
        write(bytes) {
          for (let done = 0; done < bytes.byteLength; ) done += fs.writeSync(fd, bytes, done, bytes.byteLength - done);
        },
        close: () => fs.closeSync(fd),
      };
    },
    remove: (p) => fs.rmSync(p, { recursive: true, force: true }),
    mkdir: (p) => { fs.mkdirSync(p, { recursive: true }); },
    resolve: (p) => path.resolve(p),
  };
}
