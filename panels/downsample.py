"""Min/max-preserving downsampling at query time: we keep every point, and send fewer.

Contract (README.md#api, `max_points`): at most N points, deterministic, always the first and the
last point of the range, and for each of (N - 2) // 2 buckets the point with the minimum and the
point with the maximum value — so a spike is never averaged or sampled away (TensorBoard's
reservoir sampling keeps 1,000 random points and routinely hides them).

Buckets split the x range (step, or wall time) into equal widths when x never decreases (the
usual case; each bucket is then a contiguous index range and everything is O(n) numpy); when x
goes backwards (restarts without purge) they split the index range instead.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]


def _segment_extremes(
    values: npt.NDArray[np.floating], starts: IntArray, n: int
) -> tuple[IntArray, IntArray]:
    """First index of the min and of the max of each non-empty segment [starts[i], starts[i+1])."""
    lengths = np.diff(np.append(starts, n))
    v = values.astype(np.float64, copy=False)
    finite_v = np.where(np.isnan(v), np.inf, v)
    mins = np.minimum.reduceat(finite_v, starts)
    finite_v2 = np.where(np.isnan(v), -np.inf, v)
    maxs = np.maximum.reduceat(finite_v2, starts)
    is_min = np.flatnonzero(finite_v == np.repeat(mins, lengths))
    is_max = np.flatnonzero(finite_v2 == np.repeat(maxs, lengths))
    imin = is_min[np.searchsorted(is_min, starts)]
    imax = is_max[np.searchsorted(is_max, starts)]
    return imin.astype(np.int64), imax.astype(np.int64)


def minmax_indices(
    x: npt.NDArray[np.number], values: npt.NDArray[np.floating], max_points: int
) -> IntArray:
    """Indices (ascending) of the points to send. `x` and `values` have the same length."""
    n = len(values)
    if max_points < 2:
        raise ValueError("max_points must be at least 2")
    if n <= max_points:
        return np.arange(n, dtype=np.int64)
    buckets = (max_points - 2) // 2
    if buckets == 0:
        return np.array([0, n - 1], dtype=np.int64)
    inner = slice(1, n - 1)
    xi = x[inner].astype(np.float64, copy=False)
    vi = values[inner]
    m = n - 2
    if m > 0 and np.all(xi[1:] >= xi[:-1]) and xi[-1] > xi[0]:
        edges = np.linspace(xi[0], xi[-1], buckets + 1)
        starts = np.searchsorted(xi, edges[:-1], side="left")
    else:
        starts = (np.arange(buckets, dtype=np.int64) * m) // buckets
    starts = np.unique(starts[starts < m])
    imin, imax = _segment_extremes(vi, starts.astype(np.int64), m)
    picked = np.concatenate([[0], imin + 1, imax + 1, [n - 1]])
    return np.unique(picked).astype(np.int64)


def blocks_extremes(
    x: npt.NDArray[np.number],
    min_values: npt.NDArray[np.floating],
    max_values: npt.NDArray[np.floating],
    buckets: int,
) -> tuple[IntArray, IntArray]:
    """The same buckets as `minmax_indices`, over blocks of points instead of points.

    `x` is each block's first x; a bucket is a run of whole blocks (equal x widths when x never
    decreases, else equal counts), so the min of the blocks' minima is exactly the bucket's
    minimum. Returns, per non-empty bucket, the index of the block holding its minimum and of the
    block holding its maximum.
    """
    m = len(x)
    if m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    xf = x.astype(np.float64, copy=False)
    if m > 1 and np.all(xf[1:] >= xf[:-1]) and xf[-1] > xf[0]:
        edges = np.linspace(xf[0], xf[-1], buckets + 1)
        starts = np.searchsorted(xf, edges[:-1], side="left")
    else:
        starts = (np.arange(buckets, dtype=np.int64) * m) // buckets
    starts = np.unique(starts[starts < m]).astype(np.int64)
    lengths = np.diff(np.append(starts, m))
    lo = np.where(np.isnan(min_values), np.inf, min_values.astype(np.float64, copy=False))
    hi = np.where(np.isnan(max_values), -np.inf, max_values.astype(np.float64, copy=False))
    mins = np.minimum.reduceat(lo, starts)
    maxs = np.maximum.reduceat(hi, starts)
    is_min = np.flatnonzero(lo == np.repeat(mins, lengths))
    is_max = np.flatnonzero(hi == np.repeat(maxs, lengths))
    return (
        is_min[np.searchsorted(is_min, starts)].astype(np.int64),
        is_max[np.searchsorted(is_max, starts)].astype(np.int64),
    )
