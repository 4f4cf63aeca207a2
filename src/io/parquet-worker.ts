/**
 * Decodes one Parquet file in a worker thread (io/records.ts starts it): hyparquet's decoder trusts the
 * file, and a corrupt one can make it loop or leave a rejection unawaited; here either ends this
 * thread only, and the reader reports a one-line error.
 */
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';
import { nodeBuiltin } from './node-files.js';

const { parentPort, workerData } = nodeBuiltin<typeof import('node:worker_threads')>('node:worker_threads')!;

const records = await parquetReadObjects({ file: await asyncBufferFromFile(workerData.file as string) });
parentPort!.postMessage(records);
