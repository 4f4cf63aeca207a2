/** Positioned reads that either fill the buffer or fail with a one-line error naming the file. */
import { LowbitError, describeFsError } from '../util/errors.js';
import { files, type ReadableFile } from './host.js';

/**
 * Opens `file` and hands it to `parse`; a file that cannot be opened is a one-line error naming
 * it, and the file is closed again when `parse` throws (what it returns owns it).
 */
export function openAndParse<T>(file: string, parse: (f: ReadableFile) => T): T {
  let f: ReadableFile;
  try {
    f = files().openRead(file);
  } catch (e) {
    throw new LowbitError(describeFsError(e), file);
  }
  try {
    return parse(f);
  } catch (e) {
    f.close();
    throw e;
  }
}

/** `length` bytes of the file at `position`; `what` names them in the error when the file ends first. */
export function readAt(f: ReadableFile, length: number, position: number, file: string, what: string, buf: Uint8Array = new Uint8Array(length)): Uint8Array {
  for (let done = 0; done < length; ) {
    const n = f.read(buf.subarray(done, length), position + done);
    if (n === 0) throw new LowbitError(`file ended inside ${what}`, file);
    done += n;
  }
  return buf;
}

/** Reads and parses a JSON file, with one-line errors naming it. */
export function readJson(file: string): unknown {
  let text: string;
  try {
    text = files().readText(file);
  } catch (e) {
    throw new LowbitError(describeFsError(e), file);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new LowbitError(`invalid JSON (${(e as Error).message})`, file);
  }
}
