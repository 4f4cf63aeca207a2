/** Positioned reads that either fill the buffer or fail with a one-line error naming the file. */
import fs from 'node:fs';
import { LowbitError, describeFsError } from '../util/errors.js';

/**
 * Opens `file` and hands its descriptor to `parse`; a file that cannot be opened is a one-line
 * error naming it, and the descriptor is closed again when `parse` throws (what it returns owns it).
 */
export function openAndParse<T>(file: string, parse: (fd: number) => T): T {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new LowbitError(describeFsError(e), file);
  }
  try {
    return parse(fd);
  } catch (e) {
    fs.closeSync(fd);
    throw e;
  }
}

/** `length` bytes of the file at `position`; `what` names them in the error when the file ends first. */
export function readAt(fd: number, length: number, position: number, file: string, what: string, buf: Uint8Array = new Uint8Array(length)): Uint8Array {
  for (let done = 0; done < length; ) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new LowbitError(`file ended inside ${what}`, file);
    done += n;
  }
  return buf;
}
