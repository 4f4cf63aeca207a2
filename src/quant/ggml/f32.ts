/**
 * Single-precision arithmetic as ggml's C reference quantizers do it. JavaScript computes in f64;
 * rounding each +, -, *, /, sqrt of f32 operands back to f32 (Math.fround) gives exactly the f32
 * result (f64 has more than 2p + 2 bits), so these ports choose the same scales and codes as C.
 * ggml-base is compiled without FMA contraction on x86-64, so no fused products are emulated.
 */
export const f = Math.fround;

/** ggml's nearest_int: adding 1.5 * 2^23 in f32 rounds to the nearest integer, ties to even. */
export function nearestInt(x: number): number {
  return f(x + 12582912) - 12582912;
}

/** ggml's GROUP_MAX_EPS: a (sub-)block whose largest |x| is below it is all zero. */
export const GROUP_MAX_EPS = f(1e-15);
