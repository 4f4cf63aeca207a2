/**
 * Progress bars for long work, through cli-progress. They draw on stderr and only when stderr is
 * a terminal, so logs, pipes and --json output stay clean.
 */
import cliProgress from 'cli-progress';
import type { ProgressEvent, ProgressStage } from '../api/progress.js';

export interface Progress {
  update(done: number, total?: number, info?: string): void;
  stop(): void;
}

const quiet: Progress = { update: () => {}, stop: () => {} };

export function progressBar(label: string, total: number, unit: string, enabled = process.stderr.isTTY === true): Progress {
  if (!enabled) return quiet;
  const bar = new cliProgress.SingleBar(
    {
      format: `${label.padEnd(10)} [{bar}] {percentage}% | {value}/{total} ${unit} | {rate} | ETA {eta_formatted} {info}`,
      stream: process.stderr,
      hideCursor: true,
      barsize: 24,
      etaBuffer: 20,
      fps: 5,
    },
    cliProgress.Presets.shades_classic,
  );
  const start = performance.now();
  bar.start(total, 0, { rate: '', info: '' });
  return {
    update(done, newTotal, info = '') {
      if (newTotal !== undefined) bar.setTotal(newTotal);
      const secs = (performance.now() - start) / 1000;
      bar.update(done, { rate: secs > 0 ? `${formatRate(done / secs)} ${unit}/s` : '', info });
    },
    stop() {
      bar.stop();
    },
  };
}

export function formatRate(x: number): string {
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)}G`;
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)}M`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)}k`;
  return x.toFixed(1);
}

/**
 * Progress bars for the API's progress events: one bar per stage (load, quantize, ...), the next
 * replacing the last. `labels` names the bars (default: the stage).
 */
export function progressBars(labels: Partial<Record<ProgressStage, string>> = {}): { onProgress(e: ProgressEvent): void; stop(): void } {
  let stage: ProgressStage | null = null;
  let bar: Progress = quiet;
  return {
    onProgress(e) {
      if (e.stage !== stage) {
        bar.stop();
        stage = e.stage;
        bar = progressBar(labels[e.stage] ?? e.stage, e.total, e.unit);
      }
      bar.update(e.done, e.total, e.item ?? '');
    },
    stop() {
      bar.stop();
    },
  };
}
