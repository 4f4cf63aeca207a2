/**
 * The browser's host of io/host.ts, for a page's Web Worker: the files a person picked (File
 * objects, read lazily in slices with FileReaderSync, so a multi-GB shard is never held whole)
 * mounted under their folder's name, and the files lowbit writes, kept as Blobs built from the
 * written chunks (the browser's blob store keeps large ones on disk, not in the page's memory).
 */
import type { FileHost, FileStat, ReadableFile, WritableFile } from '../io/host.js';

/** FileReaderSync exists in workers only (lib.webworker.d.ts); the part used here. */
declare const FileReaderSync: { new (): { readAsArrayBuffer(b: Blob): ArrayBuffer; readAsText(b: Blob): string } };

/** A picked file at its path under the mount point, e.g. "kdoc-6m/config.json". */
export interface MountedFile {
  path: string;
  file: Blob;
}

const notFound = (p: string) => Object.assign(new Error(`${p}: no such file`), { code: 'ENOENT' });

/** Normalises to '/a/b' form: leading slash, no '.', no trailing or doubled slashes. */
export function normalisePath(p: string): string {
  const parts: string[] = [];
  for (const s of p.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') parts.pop();
    else parts.push(s);
  }
  return '/' + parts.join('/');
}

export class BrowserFiles implements FileHost {
  private readonly blobs = new Map<string, Blob>();
  private readonly dirs = new Set<string>(['/']);

  constructor(mounted: MountedFile[] = []) {
    for (const m of mounted) this.put(m.path, m.file);
  }

  /** Adds (or replaces) a file, creating its parent directories. */
  put(path: string, blob: Blob): void {
    const p = normalisePath(path);
    this.blobs.set(p, blob);
    this.mkdir(p.slice(0, p.lastIndexOf('/')) || '/');
  }

  /** The file at `path` as a Blob (an output to download, or evaluate). */
  blob(path: string): Blob {
    const b = this.blobs.get(normalisePath(path));
    if (!b) throw notFound(path);
    return b;
  }

  stat(path: string): FileStat | null {
    const p = normalisePath(path);
    const b = this.blobs.get(p);
    if (b) return { kind: 'file', size: b.size };
    return this.dirs.has(p) ? { kind: 'directory', size: 0 } : null;
  }

  list(dir: string): string[] {
    const d = normalisePath(dir), prefix = d === '/' ? '/' : d + '/';
    const names = new Set<string>();
    for (const p of [...this.blobs.keys(), ...this.dirs]) if (p.startsWith(prefix) && p !== d) names.add(p.slice(prefix.length).split('/')[0]);
    return [...names];
  }

  readText(path: string): string {
    return new FileReaderSync().readAsText(this.blob(path));
  }

  openRead(path: string): ReadableFile {
    if (this.dirs.has(normalisePath(path))) throw Object.assign(new Error(`${path}: is a directory`), { code: 'EISDIR' });
    const blob = this.blob(path), reader = new FileReaderSync();
    return {
      size: blob.size,
      read(into, position) {
        if (position >= blob.size) return 0;
        const bytes = new Uint8Array(reader.readAsArrayBuffer(blob.slice(position, Math.min(blob.size, position + into.length))));
        into.set(bytes);
        return bytes.length;
      },
      close() {},
    };
  }

  createWrite(path: string): WritableFile {
    const p = normalisePath(path);
    if (!this.dirs.has(p.slice(0, p.lastIndexOf('/')) || '/')) throw Object.assign(new Error(`${path}: no parent directory`), { code: 'ENOENT' });
    const parts: Blob[] = [];
    this.blobs.set(p, new Blob([]));
    return {
      // Each chunk becomes a Blob at once: its bytes leave the JS heap for the blob store.
      write: (bytes) => { parts.push(new Blob([bytes.slice()])); },
      close: () => { this.blobs.set(p, new Blob(parts)); },
    };
  }

  remove(path: string): void {
    const p = normalisePath(path);
    for (const k of [...this.blobs.keys()]) if (k === p || k.startsWith(p + '/')) this.blobs.delete(k);
    for (const k of [...this.dirs]) if (k !== '/' && (k === p || k.startsWith(p + '/'))) this.dirs.delete(k);
  }

  mkdir(path: string): void {
    let p = normalisePath(path);
    while (p !== '/' && !this.dirs.has(p)) {
      this.dirs.add(p);
      p = p.slice(0, p.lastIndexOf('/')) || '/';
    }
  }

  resolve(path: string): string {
    return normalisePath(path);
  }
}
