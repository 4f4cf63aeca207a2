/**
 * How lowbit reaches files: one small interface, implemented once per host. In Node it is the file
 * system (io/node-files.ts, the default there); in a browser, the File and Blob objects a person
 * picked plus files the page writes (web/browser-files.ts). Everything below the pipeline layer
 * reads and writes only through `files()` and imports no Node module, so the same quantizers,
 * readers and writers run in a web page's worker: File slices read synchronously there
 * (FileReaderSync), which is why every operation here is synchronous.
 *
 * Paths are strings with '/' separators (Node also accepts the platform's own); errors are thrown
 * as the host's own errors with a Node-style `code` (ENOENT, EISDIR, ...) that describeFsError
 * turns into one line.
 */
import { nodeFileHost } from './node-files.js';

export interface FileStat {
  kind: 'file' | 'directory';
  /** Bytes (files). */
  size: number;
}

/** A file open for positioned reads. */
export interface ReadableFile {
  readonly size: number;
  /** Reads up to `into.length` bytes at `position` into `into`; the count read (0 at the end). */
  read(into: Uint8Array, position: number): number;
  close(): void;
}

/** A file open for appending, from empty. */
export interface WritableFile {
  write(bytes: Uint8Array): void;
  close(): void;
}

export interface FileHost {
  /** What the file is, or null when nothing is there. */
  stat(path: string): FileStat | null;
  /** Names (not paths) in a directory. */
  list(dir: string): string[];
  /** A whole file as UTF-8 text. */
  readText(path: string): string;
  openRead(path: string): ReadableFile;
  /** Creates (or truncates) a file for writing. */
  createWrite(path: string): WritableFile;
  /** Removes a file or directory tree; nothing there is not an error. */
  remove(path: string): void;
  /** Creates a directory (and its parents). */
  mkdir(path: string): void;
  /** The absolute form of a path (Node: against the working directory), for names and reports. */
  resolve(path: string): string;
}

let current: FileHost | null = null;

/** The host every file access goes through: the one installed, else Node's file system when running in Node. */
export function files(): FileHost {
  current ??= nodeFileHost();
  if (!current) throw new Error('lowbit: no file host: outside Node, install one with useFileHost() (the browser build does)');
  return current;
}

/** Installs the host (a browser page's files; tests may install a recording one). */
export function useFileHost(host: FileHost): void {
  current = host;
}

/** A path's last part ('/' or '\' separated, trailing separators ignored). */
export function baseName(p: string): string {
  const parts = p.split(/[\\/]+/).filter((s) => s.length > 0);
  return parts.length ? parts[parts.length - 1] : p;
}

/** A path's parent ('.' for a bare name). */
export function dirName(p: string): string {
  const trimmed = p.replace(/[\\/]+$/, '');
  const i = Math.max(trimmed.lastIndexOf('/'), trimmed.lastIndexOf('\\'));
  return i < 0 ? '.' : i === 0 ? trimmed[0] : trimmed.slice(0, i);
}

/** Joins path parts with '/', which every host (Node on Windows included) accepts. */
export function joinPath(...parts: string[]): string {
  return parts.filter((p) => p.length > 0).map((p, i) => (i === 0 ? p.replace(/[\\/]+$/, '') || p : p.replace(/^[\\/]+|[\\/]+$/g, ''))).join('/').replace(/\/{2,}/g, '/');
}

/** Whether anything (file or directory) exists at `path`. */
export function exists(path: string): boolean {
  return files().stat(path) !== null;
}
