"""Per-chunk min/max summaries: what a downsampled view needs of a chunk, without its points.

A chunk's points are cut into blocks of SUMMARY_BLOCK consecutive points; for each block we keep
its first x (step and wall time, which decide its bucket) and its minimum and maximum points.
A downsampled view whose buckets are unions of whole blocks then finds every bucket's exact
minimum and maximum from the summaries alone (panels/downsample.py `minmax_from_blocks`).
NaN never wins a minimum or maximum unless a block holds nothing else, like the raw path.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

SUMMARY_BLOCK = 64

SUMMARY_DTYPE = np.dtype(
    [
        ("x_step", "<i8"),
        ("x_wall", "<f8"),
        ("min_i", "<i4"),
        ("max_i", "<i4"),
        ("min_step", "<i8"),
        ("min_wall", "<f8"),
        ("min_val", "<f8"),
        ("max_step", "<i8"),
        ("max_wall", "<f8"),
        ("max_val", "<f8"),
    ]
)


def block_summary(
    steps: npt.NDArray[np.int64],
    walls: npt.NDArray[np.float64],
    values: npt.NDArray[np.floating],
    block: int = SUMMARY_BLOCK,
) -> npt.NDArray[np.void]:
    """One SUMMARY_DTYPE record per block of `block` consecutive points."""
    n = len(steps)
    nb = (n + block - 1) // block
    out = np.zeros(nb, dtype=SUMMARY_DTYPE)
    if n == 0:
        return out
    v = np.asarray(values, dtype=np.float64)
    pad = nb * block - n
    lo = np.where(np.isnan(v), np.inf, v)
    hi = np.where(np.isnan(v), -np.inf, v)
    if pad:
        lo = np.concatenate([lo, np.full(pad, np.inf)])
        hi = np.concatenate([hi, np.full(pad, -np.inf)])
    base = np.arange(nb, dtype=np.int64) * block
    imin = base + np.argmin(lo.reshape(nb, block), axis=1)
    imax = base + np.argmax(hi.reshape(nb, block), axis=1)
    # A padded last block of all-NaN (or a lone NaN) points: argmin may land on padding.
    imin = np.minimum(imin, n - 1)
    imax = np.minimum(imax, n - 1)
    out["x_step"] = steps[base]
    out["x_wall"] = walls[base]
    out["min_i"] = imin
    out["max_i"] = imax
    out["min_step"] = steps[imin]
    out["min_wall"] = walls[imin]
    out["min_val"] = v[imin]
    out["max_step"] = steps[imax]
    out["max_wall"] = walls[imax]
    out["max_val"] = v[imax]
    return out


def summary_bytes(
    steps: npt.NDArray[np.int64],
    walls: npt.NDArray[np.float64],
    values: npt.NDArray[np.floating],
) -> bytes:
    return block_summary(steps, walls, values).tobytes()


def summary_load(raw: bytes | memoryview) -> npt.NDArray[np.void]:
    return np.frombuffer(bytes(raw), dtype=SUMMARY_DTYPE)
