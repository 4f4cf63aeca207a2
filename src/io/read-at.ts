/** Positioned reads that either fill the buffer or fail with a one-line error naming the file. */
import fs from 'node:fs';
import { LowbitError } from '../util/errors.js';

/** `length` bytes of the file at `position`; `what` names them in the error when the file ends first. */
export function readAt(fd: number, length: number, position: number, file: string, what: string): Uint8Array {
  const buf = new Uint8Array(length);
  for (let done = 0; done < length; ) {
    const n = fs.readSync(fd, buf, done, length - done, position + done);
    if (n === 0) throw new LowbitError(`file ended inside ${what}`, file);
    done += n;
  }
  return buf;
}
