/**
 * Decodes one Parquet file in a worker thread (io/records.ts starts it): hyparquet's decoder trusts the
 * file, and a corrupt one can make it loop or leave a rejection unawaited; here either ends this
 * thread only, and the reader reports a one-line error.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';

const records = await parquetReadObjects({ file: await asyncBufferFromFile(workerData.file as string) });
parentPort!.postMessage(records);
