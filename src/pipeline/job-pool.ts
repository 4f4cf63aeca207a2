/**
 * A fixed pool of workers that run the streaming quantizer's jobs (data-free-job.ts), whatever the
 * workers are: Node's worker threads (data-free.ts) and a page's Web Workers (web/) each wrap theirs
 * in a JobPort. A job waits for an idle worker; `run` resolves with its reply, and a worker that
 * dies answers its pending jobs with an error reply.
 */
import type { JobRunner } from './data-free-stream.js';
import type { WorkerJob, WorkerReply } from './data-free-job.js';

/** One worker as the pool sees it. */
export interface JobPort {
  send(job: WorkerJob): void;
  /** Calls back with each reply, and with a message when the worker fails. */
  listen(onReply: (r: WorkerReply) => void, onError: (message: string) => void): void;
  terminate(): unknown;
}

export class JobPool implements JobRunner {
  private readonly idle: JobPort[];
  private readonly waiting: (() => void)[] = [];
  private readonly pending = new Map<number, (r: WorkerReply) => void>();
  private nextId = 0;
  readonly size: number;

  constructor(private readonly ports: JobPort[]) {
    this.size = ports.length;
    this.idle = [...ports];
    for (const port of ports) {
      port.listen((r) => {
        this.pending.get(r.id)?.(r);
        this.pending.delete(r.id);
        this.idle.push(port);
        this.waiting.shift()?.();
      }, (message) => {
        for (const [id, resolve] of this.pending) resolve({ id, ok: false, message: `a quantizing worker failed: ${message}`, lowbit: false });
        this.pending.clear();
      });
    }
  }

  async run(job: Omit<WorkerJob, 'id'>): Promise<WorkerReply> {
    while (this.idle.length === 0) await new Promise<void>((r) => this.waiting.push(r));
    const port = this.idle.pop()!;
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      port.send({ ...job, id });
    });
  }

  async close(): Promise<void> {
    await Promise.all(this.ports.map((p) => p.terminate()));
  }
}
