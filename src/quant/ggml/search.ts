/**
 * ggml's scale searches (ggml-quants.c), ported operation by operation in f32 (f32.ts):
 *   - makeQxQuants (make_qx_quants): symmetric grid, codes in [-nmax, nmax), scale chosen among 19
 *     candidates by weighted least squares;
 *   - makeQ3Quants (make_q3_quants): symmetric, then coordinate moves of single codes;
 *   - makeQkx2Quants (make_qkx2_quants): affine grid scale * L - min with L in [0, nmax], min <= 0,
 *     scale and min refitted by weighted least squares over nstep + 1 candidate inverse scales.
 * They return the sub-block scale (and min); the block types quantize those to 4/6/8-bit integers
 * against one f16 super-scale and then round every weight on the stored grid.
 */
import { f, nearestInt, GROUP_MAX_EPS } from './f32.js';
import { signedAbsMax } from './extremes.js';

/** make_qx_quants: returns the scale; L[lo + i] in [0, 2 nmax). rmseType 1 weights by x^2. */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array | Int8Array, lo: number, rmseType: number, qw: Float32Array | null): number {
  const [max, amax] = signedAbsMax(x, xo, n);
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  let iscale = f(-nmax / max);
  const clampL = (l: number) => Math.max(-nmax, Math.min(nmax - 1, l));
  if (rmseType === 0) {
    for (let i = 0; i < n; i++) L[lo + i] = nmax + clampL(nearestInt(f(iscale * x[xo + i])));
    return f(1 / iscale);
  }
  const weight = (i: number): number => {
    const xi = x[xo + i];
    return qw ? qw[i] : rmseType === 1 ? f(xi * xi) : rmseType === 2 ? 1 : rmseType === 3 ? Math.abs(xi) : f(Math.sqrt(Math.abs(xi)));
  };
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = clampL(nearestInt(f(iscale * xi)));
    L[lo + i] = l + nmax;
    const w = weight(i);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  let scale = suml2 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(f(-f(nmax + f(f(0.1) * is))) / max);
    sumlx = suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = clampL(nearestInt(f(iscale * xi)));
      const w = weight(i);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = nmax + clampL(nearestInt(f(iscale * x[xo + i])));
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** make_q3_quants with do_rmse: returns the scale; L[lo + i] in [0, 2 nmax). */
export function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const [max, amax] = signedAbsMax(x, xo, n);
  if (amax < GROUP_MAX_EPS) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return 0;
  }
  const iscale = f(-nmax / max);
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i];
    const l = Math.max(-nmax, Math.min(nmax - 1, nearestInt(f(iscale * xi))));
    L[lo + i] = l;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i], w = f(xi * xi), li = L[lo + i];
      let slx = f(sumlx - f(f(w * xi) * li));
      if (slx > 0) {
        let sl2 = f(suml2 - f(f(w * li) * li));
        let newL = nearestInt(f(f(xi * sl2) / slx));
        newL = Math.max(-nmax, Math.min(nmax - 1, newL));
        if (newL !== li) {
          slx = f(slx + f(f(w * xi) * newL));
          sl2 = f(sl2 + f(f(w * newL) * newL));
          if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[lo + i] = newL;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] += nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

/** Result of makeQkx2Quants: the grid is scale * L - min. */
export interface AffineScale {
  scale: number;
  /** The (non-negative) amount subtracted: value = scale * L - min. */
  min: number;
}

/** make_qkx2_quants: L[lo + i] in [0, nmax]; `weights` has n entries. */
export function makeQkx2Quants(n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array, L: Uint8Array, lo: number, Laux: Uint8Array,
  rmin: number, rdelta: number, nstep: number, useMad: boolean): AffineScale {
  return affineSearch(n, nmax, x, xo, (i) => weights[i], L, lo, Laux, rmin, rdelta, nstep, useMad, false);
}

/**
 * make_qkx3_quants: make_qkx2's search for importance-weighted errors (weights given, or x^2), used
 * by the K-quants when an importance matrix is known. L[lo + i] in [0, nmax].
 */
export function makeQkx3Quants(n: number, nmax: number, x: Float32Array, xo: number, weights: Float32Array | null, L: Uint8Array, lo: number, Laux: Uint8Array,
  rmin: number, rdelta: number, nstep: number, useMad: boolean): AffineScale {
  return affineSearch(n, nmax, x, xo, (i) => (weights ? weights[i] : f(x[xo + i] * x[xo + i])), L, lo, Laux, rmin, rdelta, nstep, useMad, true);
}

/**
 * The body both ggml functions share. They differ in their weights and in when a block counts as
 * empty: qkx2 when max == min, qkx3 when max <= min (which matters for all-negative blocks).
 */
function affineSearch(n: number, nmax: number, x: Float32Array, xo: number, w: (i: number) => number, L: Uint8Array, lo: number, Laux: Uint8Array,
  rmin: number, rdelta: number, nstep: number, useMad: boolean, emptyWhenNotAbove: boolean): AffineScale {
  let min = x[xo], max = x[xo];
  let sumW = w(0);
  let sumX = f(sumW * x[xo]);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i];
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const wi = w(i);
    sumW = f(sumW + wi);
    sumX = f(sumX + f(wi * xi));
  }
  if (min > 0) min = 0;
  if (emptyWhenNotAbove ? max <= min : max === min) {
    for (let i = 0; i < n; i++) L[lo + i] = 0;
    return { scale: 0, min: -min };
  }
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  let bestError = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(x[xo + i] - min)))));
    L[lo + i] = l;
    let diff = f(f(f(scale * l) + min) - x[xo + i]);
    diff = useMad ? Math.abs(diff) : f(diff * diff);
    bestError = f(bestError + f(w(i) * diff));
  }
  if (nstep < 1) return { scale, min: -min };
  for (let is = 0; is <= nstep; is++) {
    // `min` is the best candidate's so far (as in ggml: the search re-centres on it).
    iscale = f(f(f(rmin + f(rdelta * is)) + nmax) / f(max - min));
    let sumL = 0, sumL2 = 0, sumXL = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i];
      const l = Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(xi - min)))));
      Laux[i] = l;
      const wi = w(i);
      sumL = f(sumL + f(wi * l));
      sumL2 = f(sumL2 + f(f(wi * l) * l));
      sumXL = f(sumXL + f(f(wi * l) * xi));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (D > 0) {
      let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
      let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
      if (thisMin > 0) {
        thisMin = 0;
        thisScale = f(sumXL / sumL2);
      }
      let curError = 0;
      for (let i = 0; i < n; i++) {
        let diff = f(f(f(thisScale * Laux[i]) + thisMin) - x[xo + i]);
        diff = useMad ? Math.abs(diff) : f(diff * diff);
        curError = f(curError + f(w(i) * diff));
      }
      if (curError < bestError) {
        for (let i = 0; i < n; i++) L[lo + i] = Laux[i];
        bestError = curError;
        scale = thisScale;
        min = thisMin;
      }
    }
  }
  return { scale, min: -min };
}

/**
 * make_qp_quants: quantizes non-negative values x (sub-block scales or mins) to [0, nmax] against one
 * scale, minimising the importance-weighted error; returns the scale, codes in L.
 */
export function makeQpQuants(n: number, nmax: number, x: Float32Array, L: Uint8Array, qw: Float32Array): number {
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, x[i]);
  if (max < GROUP_MAX_EPS) {
    L.fill(0, 0, n);
    return 0;
  }
  let iscale = f(nmax / max);
  for (let i = 0; i < n; i++) L[i] = nearestInt(f(iscale * x[i]));
  const scale = f(1 / iscale);
  let bestMse = 0;
  for (let i = 0; i < n; i++) {
    const diff = f(x[i] - f(scale * L[i]));
    bestMse = f(bestMse + f(f(qw[i] * diff) * diff));
  }
  for (let is = -4; is <= 4; is++) {
    if (is === 0) continue;
    const iscaleIs = f(f(f(f(0.1) * is) + nmax) / max);
    const scaleIs = f(1 / iscaleIs);
    let mse = 0;
    for (let i = 0; i < n; i++) {
      const l = Math.min(nmax, nearestInt(f(iscaleIs * x[i])));
      const diff = f(x[i] - f(scaleIs * l));
      mse = f(mse + f(f(qw[i] * diff) * diff));
    }
    if (mse < bestMse) {
      bestMse = mse;
      iscale = iscaleIs;
    }
  }
  let sumlx = 0, suml2 = 0;
  for (let i = 0; i < n; i++) {
    const l = Math.min(nmax, nearestInt(f(iscale * x[i])));
    L[i] = l;
    sumlx = f(sumlx + f(f(qw[i] * x[i]) * l));
    suml2 = f(suml2 + f(f(qw[i] * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const w = qw[i], li = L[i];
      let slx = f(sumlx - f(f(w * x[i]) * li));
      let sl2 = f(suml2 - f(f(w * li) * li));
      if (slx > 0 && sl2 > 0) {
        const newL = Math.min(nmax, nearestInt(f(f(x[i] * sl2) / slx)));
        if (newL !== li) {
          slx = f(slx + f(f(w * x[i]) * newL));
          sl2 = f(sl2 + f(f(w * newL) * newL));
          if (f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
            L[i] = newL;
            sumlx = slx;
            suml2 = sl2;
            changed++;
          }
        }
      }
    }
    if (!changed) break;
  }
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}
