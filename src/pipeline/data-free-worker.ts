/**
 * Worker thread of the streaming data-free quantizer in Node: runs each job it is sent (runJob) and
 * posts the reply back, its buffers transferred, not copied. Each worker holds one tensor at a time,
 * in buffers it reuses, so memory stays bounded by (workers x largest tensor).
 */
import { parentPort } from 'node:worker_threads';
import v8 from 'node:v8';
import vm from 'node:vm';
import { replyBuffers, runJob, type WorkerJob } from './data-free-job.js';

/**
 * A full GC after each tensor. A tensor's transient buffers (f32 copy, dequantized weight, masks)
 * live outside the JS heap, and V8 lets ~64 MB+ of such garbage pile up per isolate before it
 * collects; with one isolate per core that would double the streaming quantizer's footprint.
 * `gc` is exposed through the documented V8 flag for this worker's own contexts.
 */
v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

parentPort!.on('message', (job: WorkerJob) => {
  const reply = runJob(job);
  parentPort!.postMessage(reply, replyBuffers(reply));
  if (reply.ok) collectGarbage();
});
