/**
 * Records of a dataset file: JSON Lines (one object a line), a JSON array, or Parquet (the files
 * the Hugging Face hub serves; read with hyparquet, pure JavaScript: uncompressed and snappy pages,
 * in a worker thread: parquet-worker.ts).
 * Errors name the file and the line or the problem.
 */
import { parquetReadObjects, type AsyncBuffer } from 'hyparquet';
import { LowbitError, describeFsError } from '../util/errors.js';
import { exists, files } from './host.js';
import { openAndParse, readAt } from './read-at.js';
import { nodeBuiltin } from './node-files.js';

export type DataRecord = Record<string, unknown>;

export async function readRecords(file: string): Promise<DataRecord[]> {
  if (!exists(file)) throw new LowbitError('no such file', file);
  if (file.toLowerCase().endsWith('.parquet')) {
    try {
      return await readParquet(file);
    } catch (e) {
      throw new LowbitError(`not a Parquet file lowbit can read (${String((e as Error)?.message ?? e).split('\n')[0]})`, file);
    }
  }
  let text: string;
  try {
    text = files().readText(file);
  } catch (e) {
    throw new LowbitError(describeFsError(e), file);
  }
  if (file.toLowerCase().endsWith('.json')) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new LowbitError(`invalid JSON: ${(e as Error).message}`, file);
    }
    if (!Array.isArray(value) || !value.every(isRecord)) throw new LowbitError('expected a JSON array of objects', file);
    return value;
  }
  const records: DataRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new LowbitError(`line ${i + 1}: invalid JSON: ${(e as Error).message}`, file);
    }
    if (!isRecord(value)) throw new LowbitError(`line ${i + 1}: expected a JSON object`, file);
    records.push(value);
  });
  return records;
}

const isRecord = (v: unknown): v is DataRecord => typeof v === 'object' && v !== null && !Array.isArray(v);

/** How long decoding may take before the file is called corrupt: generous for real evaluation splits (a few MB). */
const PARQUET_SECONDS = (bytes: number) => 5 + bytes / 1e5;

/**
 * Parquet records, decoded in a worker thread (parquet-worker.ts) under a time and memory limit: a
 * corrupt file can send hyparquet's decoder into a loop or end its thread with an unawaited
 * rejection, and either must be an error, not a hung or ended process.
 */
function readParquet(file: string): Promise<DataRecord[]> {
  const threads = nodeBuiltin<typeof import('node:worker_threads')>('node:worker_threads');
  if (!threads) return parquetReadObjects({ file: hostBuffer(file) }) as Promise<DataRecord[]>; // a browser: a corrupt file may hang this page's worker only
  const { Worker } = threads;
  const seconds = PARQUET_SECONDS(files().stat(file)!.size);
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./parquet-worker.js', import.meta.url), { workerData: { file }, resourceLimits: { maxOldGenerationSizeMb: 2048 } });
    const timer = setTimeout(() => {
      void worker.terminate();
      reject(new Error(`decoding did not finish in ${seconds.toFixed(0)} s`));
    }, seconds * 1000);
    const settle = (fn: () => void) => {
      clearTimeout(timer);
      fn();
    };
    worker.once('message', (records: DataRecord[]) => settle(() => resolve(records)));
    worker.once('error', (e) => settle(() => reject(e)));
    worker.once('exit', (code) => settle(() => reject(new Error(`the decoder stopped (exit code ${code})`))));
  });
}

/** hyparquet's view of a file read through the host (what asyncBufferFromFile does with Node's fs): an evaluation split is a few MB, read once. */
function hostBuffer(file: string): AsyncBuffer {
  // On an error openAndParse closes the file; on success it is closed here.
  const bytes = openAndParse(file, (f) => {
    const all = readAt(f, f.size, 0, file, 'the Parquet file');
    f.close();
    return all;
  });
  return { byteLength: bytes.byteLength, slice: (start, end = bytes.byteLength) => bytes.slice(start, end).buffer };
}
