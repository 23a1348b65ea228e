// TensorBoard's scalar smoothing (reference §6.1): a debiased exponential moving average over
// the points in display order. Non-finite values pass through and do not touch the average; a
// constant series is returned as is; the first finite point is reproduced exactly.

export function smooth(ys: ArrayLike<number>, weight: number): Float64Array {
  let w = Number.isFinite(weight) ? Math.min(1, Math.max(0, weight)) : 0;
  const n = ys.length;
  const out = new Float64Array(n);
  if (n === 0) return out;
  const first = ys[0];
  let constant = true;
  for (let i = 0; i < n; i++) {
    if (!(ys[i] === first)) {
      constant = false;
      break;
    }
  }
  if (constant || w === 0) {
    for (let i = 0; i < n; i++) out[i] = ys[i];
    return out;
  }
  let acc = 0;
  let count = 0;
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
