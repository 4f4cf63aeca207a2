/**
 * Records of a dataset file: JSON Lines (one object a line), a JSON array, or Parquet (the files
 * the Hugging Face hub serves; read with hyparquet, pure JavaScript: uncompressed and snappy pages).
 * Errors name the file and the line or the problem.
 */
import fs from 'node:fs';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { LowbitError, describeFsError } from '../util/errors.js';

export type DataRecord = Record<string, unknown>;

export async function readRecords(file: string): Promise<DataRecord[]> {
  if (!fs.existsSync(file)) throw new LowbitError('no such file', file);
  if (file.toLowerCase().endsWith('.parquet')) {
    try {
      return await readParquet(file);
    } catch (e) {
      throw new LowbitError(`not a Parquet file lowbit can read (${String((e as Error)?.message ?? e).split('\n')[0]})`, file);
    }
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
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

/**
 * hyparquet starts reading every column chunk at once and awaits them one after another, so a corrupt
 * chunk's rejection can surface before anything awaits it, and Node would end the process for it.
 * While a file is read, such a rejection fails the read instead.
 */
async function readParquet(file: string): Promise<DataRecord[]> {
  let onStray: (reason: unknown) => void = () => {};
  const stray = new Promise<never>((_, reject) => {
    onStray = reject;
  });
  process.on('unhandledRejection', onStray);
  try {
    return await Promise.race([parquetReadObjects({ file: await asyncBufferFromFile(file) }), stray]);
  } finally {
    process.off('unhandledRejection', onStray);
  }
}
