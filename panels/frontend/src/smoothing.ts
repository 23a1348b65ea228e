// TensorBoard's scalar smoothing (reference §6.1): a debiased exponential moving average over
// the points in display order. Non-finite values pass through and do not touch the average; a
// constant series is returned as is; the first finite point is reproduced exactly.

/** Where the average stands after some points: the accumulator and how many finite points fed
 * it (the debias divisor is 1 − w^count). `{acc: 0, count: 0}` is the start of a series. */
export interface EmaState {
  acc: number;
  count: number;
}

function clampWeight(weight: number): number {
  return Number.isFinite(weight) ? Math.min(1, Math.max(0, weight)) : 0;
}

function isConstant(ys: ArrayLike<number>): boolean {
  const first = ys[0];
  for (let i = 0; i < ys.length; i++) if (!(ys[i] === first)) return false; // NaN breaks it
  return true;
}

export function smooth(ys: ArrayLike<number>, weight: number): Float64Array {
  return smoothFrom(ys, weight, null);
}

/** The smoothing of `ys` as if the points that fed `seed` came right before them, so that a
 * zoomed window continues the full-range curve instead of restarting at its own first point.
 * Without a seed (or an empty one) this is exactly `smooth`, constant-series rule included; with
 * one the rule is skipped: what decides it is the whole series, not the window. */
export function smoothFrom(ys: ArrayLike<number>, weight: number, seed: EmaState | null): Float64Array {
  const w = clampWeight(weight);
  const n = ys.length;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const seeded = seed !== null && seed.count > 0;
  if (w === 0 || (!seeded && isConstant(ys))) {
    for (let i = 0; i < n; i++) out[i] = ys[i];
    return out;
  }
  let acc = seeded ? seed.acc : 0;
  let count = seeded ? seed.count : 0;
  for (let i = 0; i < n; i++) {
    const y = ys[i];
    if (!Number.isFinite(y)) {
      out[i] = y;
      continue;
    }
    acc = w * acc + (1 - w) * y;
    count++;
    const debias = w === 1 ? 1 : 1 - Math.pow(w, count);
    out[i] = acc / debias;
  }
  return out;
}

/** The average's state after the points of (`xs`, `ys`) whose x is below `x0`, in display
 * order (`xs` ascending): the seed for a window that starts at `x0`. */
export function emaStateBefore(xs: ArrayLike<number>, ys: ArrayLike<number>, weight: number, x0: number): EmaState {
  const w = clampWeight(weight);
  let acc = 0;
  let count = 0;
  for (let i = 0; i < xs.length && xs[i] < x0; i++) {
    const y = ys[i];
    if (!Number.isFinite(y)) continue;
    acc = w * acc + (1 - w) * y;
    count++;
  }
  return { acc, count };
}
