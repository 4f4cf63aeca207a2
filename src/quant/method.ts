/**
 * The quantization method interface. A method quantizes one linear layer at a time:
 *   - data-free methods (RTN, AdpQ) see only the weight, so the CLI can stream a checkpoint
 *     tensor by tensor;
 *   - calibrated methods (GPTQ, QuantEase, LRC) also get the layer's input statistics, gathered
 *     by the calibration pipeline (src/calib) block by block.
 * Adding a method = one file implementing this + one line in registry.ts.
 */
import type { QuantizedWeight } from './types.js';
import type { OptionSpecs, OptionValue } from '../util/options.js';
import type { Tensor } from '../backend/backend.js';
import type { DeviceSolvers } from '../backend/solvers.js';

/** Options shared by every method; methods read the fields they document and ignore the rest. */
export interface QuantOptions {
  /** Bits per weight code (2-8). */
  bits: number;
  /** Inputs per group; 0 = per-channel (one grid per output row). */
  groupSize: number;
  /** Symmetric grids (levels -2^(b-1)..2^(b-1)-1) instead of asymmetric min/max. */
  symmetric: boolean;
  /**
   * When set, codes are chosen on this ggml tensor type's grid (GGUF output; quant/ggml) instead of
   * lowbit's group grids, and the result has format "ggml". Methods that cannot target it refuse.
   */
  ggmlType?: string;
  /** Method-specific options, by the names in the method's `options`. */
  extra: Record<string, OptionValue>;
}

/** Calibration statistics of one linear layer's input X ([n, cols] rows of tokens). */
export interface LayerStats {
  /** H = X^T X as a [cols, cols] f64 matrix (sum over all calibration tokens, not mean). */
  hessian: Float64Array;
  /** Number of tokens summed into `hessian`. */
  tokens: number;
  /**
   * When activations are quantized (--a-bits < 16): X~^T X~ and X^T X~ for X~ = Q_a(X), the
   * input the quantized layer actually sees (see act-aware.ts).
   */
  quantizedInput?: { qq: Float64Array; xq: Float64Array };
}

interface MethodBase {
  readonly name: string;
  /** One line for --help. */
  readonly summary: string;
  /**
   * Its own options (camelCase names; the CLI adds `--kebab-case` flags). Several methods may share a
   * name with different defaults: each default is the method's.
   */
  readonly options: OptionSpecs;
}

export interface DataFreeMethod extends MethodBase {
  readonly kind: 'data-free';
  quantize(w: Float32Array, rows: number, cols: number, opts: QuantOptions): QuantizedWeight;
}

export interface CalibratedMethod extends MethodBase {
  readonly kind: 'calibrated';
  quantize(w: Float32Array, rows: number, cols: number, stats: LayerStats, opts: QuantOptions): QuantizedWeight;
  /**
   * The same on the device that holds the layer (optional): null when these options need the host
   * (`quantize`), else the same result within f32 rounding.
   */
  quantizeOnDevice?(layer: DeviceLayer, opts: QuantOptions): Promise<DeviceQuantized> | null;
}

/** A linear layer and its statistics as tensors on a backend with solvers (backend/solvers.ts). */
export interface DeviceLayer {
  solvers: DeviceSolvers;
  /** W [rows, cols] (f32; the method does not modify it). */
  weight: Tensor;
  /** H = X^T X [cols, cols] (f32, summed over `tokens` calibration tokens). */
  hessian: Tensor;
  tokens: number;
  /** With activation quantization: X~^T X~ and X^T X~ (LayerStats.quantizedInput on the device). */
  quantizedInput?: { qq: Tensor; xq: Tensor };
  rows: number;
  cols: number;
}

export interface DeviceQuantized {
  weight: QuantizedWeight;
  /** What `weight` decodes to, on the device (the caller frees it). */
  dequantized: Tensor;
}

export type QuantMethod = DataFreeMethod | CalibratedMethod;
