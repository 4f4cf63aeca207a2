/** Progress reports of the API's long calls, one event type for all of them. */

export type ProgressStage = 'load' | 'quantize' | 'evaluate' | 'generate' | 'inspect';

export interface ProgressEvent {
  /** What is being done: loading weights, quantizing, evaluating, generating, reading statistics. */
  stage: ProgressStage;
  /** Units done so far, of `total` (done === total when the stage ends). */
  done: number;
  total: number;
  /** What is counted: parameters (data-free quantization), layers (calibrated), tensors, windows, tokens or scoring requests (zero-shot tasks). */
  unit: 'params' | 'layers' | 'tensors' | 'windows' | 'tokens' | 'requests';
  /** The tensor or layer being worked on, when there is one. */
  item?: string;
}

/** A progress callback for the lower layers' `(done, total, item)` callbacks. */
export function reporter(onProgress: ((e: ProgressEvent) => void) | undefined, stage: ProgressStage, unit: ProgressEvent['unit']) {
  return (done: number, total: number, item?: string): void => onProgress?.(item === undefined ? { stage, done, total, unit } : { stage, done, total, unit, item });
}
