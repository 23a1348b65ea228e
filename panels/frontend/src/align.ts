// "Align runs at step 0" on the STEP axis: each run's x is its step minus the first step of its
// whole series, so a run resumed from a checkpoint (or started at a non-zero global step) is
// drawn from 0 beside the others. The hub still thinks in absolute steps: a zoom window in
// aligned coordinates becomes one absolute range per distinct first step.

/** `steps − firstStep`, the x a run is drawn at when aligned. */
export function alignSteps(steps: ArrayLike<number>, firstStep: number): Float64Array {
  const out = new Float64Array(steps.length);
  for (let i = 0; i < steps.length; i++) out[i] = steps[i] - firstStep;
  return out;
}

export interface RangeRequest {
  start: number;
  end: number;
  runIds: number[];
}

/** The absolute step ranges to fetch for the aligned window [lo, hi]: runs that share a first
 * step share one request (most runs start at 0), in order of first step. */
export function absoluteRanges(window: [number, number], firstSteps: Iterable<[number, number]>): RangeRequest[] {
  const byFirst = new Map<number, number[]>();
  for (const [runId, first] of firstSteps) {
    let ids = byFirst.get(first);
    if (!ids) byFirst.set(first, (ids = []));
    ids.push(runId);
  }
  return [...byFirst.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([first, runIds]) => ({ start: window[0] + first, end: window[1] + first, runIds }));
}
