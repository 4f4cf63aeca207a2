/** The block statistics ggml's quantizers start from. */

/** min and max of x[xo .. xo + n). */
export function minMax(x: Float32Array, xo: number, n: number): [number, number] {
  let min = Infinity, max = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = x[xo + j];
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return [min, max];
}

/** The value of largest magnitude, with its sign (the first one on ties), and that magnitude. */
export function signedAbsMax(x: Float32Array, xo: number, n: number): [max: number, amax: number] {
  let amax = 0, max = 0;
  for (let j = 0; j < n; j++) {
    const v = x[xo + j];
    if (amax < Math.abs(v)) { amax = Math.abs(v); max = v; }
  }
  return [max, amax];
}
