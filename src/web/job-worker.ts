/**
 * A Web Worker that quantizes tensors for the page's streaming quantizer: the browser's twin of
 * pipeline/data-free-worker.ts. It mounts the picked files once, then runs each job it is sent
 * (pipeline/data-free-job.ts's runJob, the same code Node's workers run) and posts the reply back
 * with its buffers transferred.
 */
import { useFileHost } from '../io/host.js';
import { replyBuffers, runJob, type WorkerJob } from '../pipeline/data-free-job.js';
import { BrowserFiles, type MountedFile } from './browser-files.js';

const scope = self as unknown as { onmessage: ((e: MessageEvent) => void) | null; postMessage(m: unknown, transfer: ArrayBuffer[]): void };

scope.onmessage = (e: MessageEvent<{ files: MountedFile[] } | WorkerJob>) => {
  if ('files' in e.data) return useFileHost(new BrowserFiles(e.data.files));
  const reply = runJob(e.data);
  scope.postMessage(reply, replyBuffers(reply));
};
