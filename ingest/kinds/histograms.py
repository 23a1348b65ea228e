"""Histogram buckets as TensorBoard serves them, and the nine distribution percentiles.

Documented in docs/ARCHITECTURE.md#decoding and reference §3.5 / §5.4. Buckets are float64
arrays of shape (k, 3): rows (left, right, count).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

# Basis points of the normal CDF at -inf, -1.5, -1, -0.5, 0, 0.5, 1, 1.5 sigma, +inf.
BASIS_POINTS: Final = (0, 668, 1587, 3085, 5000, 6915, 8413, 9332, 10000)

EMPTY: Final = np.zeros((0, 3), dtype=np.float64)


def from_legacy(
    minimum: float,
    maximum: float,
    bucket_limit: Sequence[float],
    bucket: Sequence[float],
) -> npt.NDArray[np.float64] | None:
    """Convert a legacy HistogramProto the way TensorBoard's `data_compat` does.

    Empty buckets at both ends are dropped (their limits are often +-DBL_MAX, which would make
    "backwards" buckets once min/max replace the outer edges); the first left edge becomes `min`,
    the last right edge `max`, inner edges are the remaining limits, and everything is rounded to
    float32 as TensorBoard stores it (then held as float64, which is exact). All buckets empty →
    shape (0, 3).

    Returns None when the proto is inconsistent (fewer limits than non-empty buckets need).
    """
    counts = np.asarray(bucket, dtype=np.float64)
    nonempty = np.flatnonzero(counts > 0)
    if not len(nonempty):
        return EMPTY.copy()
    start, end = int(nonempty[0]), int(nonempty[-1])
    if len(bucket_limit) < end:
        return None
    inner = np.asarray(bucket_limit[start:end], dtype=np.float64)
    out = np.empty((end - start + 1, 3), dtype=np.float32)
    with np.errstate(over="ignore"):  # edges beyond float32 become +-inf, as in TensorBoard
        out[0, 0] = minimum
        out[1:, 0] = inner
        out[:-1, 1] = inner
        out[-1, 1] = maximum
        out[:, 2] = counts[start : end + 1]
    return out.astype(np.float64)


def from_tensor(array: npt.NDArray[np.generic]) -> npt.NDArray[np.float64] | None:
    """A TF2 histogram tensor ([k, 3], any real dtype) as float64 buckets; None if not [k, 3]."""
    if array.dtype.kind not in "fiub":
        return None
    if array.size == 0 and array.ndim >= 1:
        return EMPTY.copy()
    if array.ndim != 2 or array.shape[1] != 3:
        return None
    return np.asarray(array, dtype=np.float64)


def compress(buckets: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """The nine distribution values at BASIS_POINTS (TensorBoard's `compress_histogram`).

    Interpolates linearly inside the bucket where the cumulative weight crosses each basis
    point; the arithmetic (scale counts, then cumulative sum) follows TensorBoard's order so the
    results are bit-identical. No buckets → all zeros.
    """
    rows = np.asarray(buckets, dtype=np.float64).reshape(-1, 3)
    result = np.zeros(len(BASIS_POINTS), dtype=np.float64)
    if not len(rows):
        return result
    minmin, maxmax = float(rows[0, 0]), float(rows[-1, 1])
    counts = rows[:, 2]
    rights = rows[:, 1]
    with np.errstate(all="ignore"):  # hostile counts (inf, NaN) give NaN values, not warnings
        weights = (counts * BASIS_POINTS[-1] / (counts.sum() or 1.0)).cumsum()
    n = len(weights)
    bp_index = 0
    while bp_index < len(BASIS_POINTS):
        bp = BASIS_POINTS[bp_index]
        i = int(np.searchsorted(weights, bp, side="right"))
        while i < n:
            cumsum = float(weights[i])
            cumsum_prev = float(weights[i - 1]) if i > 0 else 0.0
            if cumsum == cumsum_prev:
                i += 1
                continue
            # The first non-empty bucket starts at the overall minimum.
            lhs = minmin if not i or not cumsum_prev else max(float(rights[i - 1]), minmin)
            rhs = min(float(rights[i]), maxmax)
            result[bp_index] = lhs + (bp - cumsum_prev) * float(rhs - lhs) / (cumsum - cumsum_prev)
            bp_index += 1
            break
        else:
            break
    result[bp_index:] = maxmax
    return result
