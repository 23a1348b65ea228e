"""Number formatting shared by `tbhub export` and the JSON/CSV API, so both print the same text.

Rules (TensorBoard's JSON conventions, reference §5.1, and the corpus oracle's canonical form):
- a float is the shortest text that round-trips the *double* (orjson's Ryu formatting, e.g.
  `0.1`, `1e-7`, `1e+22`); a float32 value is first widened exactly to double, so float32 0.1
  prints as `0.10000000149011612`;
- NaN and infinities are the strings "NaN", "Infinity", "-Infinity";
- ints stay ints (steps may exceed 2^53; they are never routed through a double).
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson
from numpy.lib.stride_tricks import sliding_window_view

NAN: Final = "NaN"
INFINITY: Final = "Infinity"
NEG_INFINITY: Final = "-Infinity"
_NUMPY: Final = orjson.OPT_SERIALIZE_NUMPY
_COMMA: Final = ord(",")
# Integral doubles below this print as "<digits>.0" in orjson, which points_json relies on.
_FAST_STEP_LIMIT: Final = 10**15


def nonfinite_text(x: float) -> str:
    """ "NaN", "Infinity" or "-Infinity" for a non-finite float."""
    if math.isnan(x):
        return NAN
    return INFINITY if x > 0 else NEG_INFINITY


def _default(obj: Any) -> Any:
    """orjson fallback for numpy values: float32 widened exactly, arrays as lists."""
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind == "f":
            return obj.astype(np.float64).tolist()
        return obj.tolist()
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, bytes | bytearray):
        return bytes(obj).decode("utf-8", "replace")
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def _sanitize(obj: Any) -> Any:
    if isinstance(obj, float | np.floating):
        value = float(obj)
        return value if math.isfinite(value) else nonfinite_text(value)
    if isinstance(obj, dict):
        return {key: _sanitize(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_sanitize(value) for value in obj]
    if isinstance(obj, np.ndarray):
        return _sanitize(_default(obj))
    return obj


def dumps(obj: Any) -> bytes:
    """JSON bytes with the rules above (dicts, lists, tuples, numbers, strings, numpy values).

    orjson writes non-finite floats as null, so output that contains "null" is re-encoded after
    replacing non-finite floats with their strings (real None values only cost that re-encode).
    """
    out = orjson.dumps(obj, default=_default)
    if b"null" not in out:
        return out
    return orjson.dumps(_sanitize(obj), default=_default)


def number_text(x: float | int | np.number[Any]) -> str:
    """One number as JSON text (for CSV cells): ints as ints, floats per the rules above."""
    if isinstance(x, bool | np.bool_):
        return "true" if x else "false"
    if isinstance(x, int | np.integer):
        return str(int(x))
    value = float(x)
    if not math.isfinite(value):
        return nonfinite_text(value)
    return orjson.dumps(value).decode("ascii")


def _column_list(values: npt.NDArray[Any]) -> list[Any]:
    out: list[Any] = np.asarray(values, dtype=np.float64).tolist()
    for i in np.flatnonzero(~np.isfinite(values)).tolist():
        out[i] = nonfinite_text(out[i])
    return out


def _points_slow(
    steps: npt.NDArray[np.int64], walls: npt.NDArray[np.float64], values: npt.NDArray[Any]
) -> bytes:
    rows = zip(
        np.asarray(steps, dtype=np.int64).tolist(),
        _column_list(walls),
        _column_list(values),
        strict=True,
    )
    return orjson.dumps(list(rows))


def _points_fast(
    steps: npt.NDArray[np.int64], walls: npt.NDArray[np.float64], values: npt.NDArray[Any]
) -> bytes:
    """All finite, |step| < 1e15. Formats the rows as one flat float64 array with orjson (C),
    then turns `s.0,w,v,s.0,w,v` into `[s,w,v],[s,w,v]` with numpy: both have the same length
    (the ".0" of each step makes room for the row's brackets), so the body moves left by one
    byte, the step digits right by one, and the brackets are written in place."""
    n = len(steps)
    flat = np.empty((n, 3), dtype=np.float64)
    flat[:, 0] = steps
    flat[:, 1] = walls
    flat[:, 2] = values
    raw = orjson.dumps(flat.reshape(-1), option=_NUMPY)
    src = np.frombuffer(raw, dtype=np.uint8)
    size = len(src)
    commas = np.flatnonzero(src == _COMMA)
    row_start = np.empty(n, dtype=np.int64)
    row_start[0] = 1
    row_start[1:] = commas[2::3] + 1
    step_len = commas[0::3] - row_start - 2  # without the ".0"
    buf = bytearray(size)
    out = np.frombuffer(buf, dtype=np.uint8)
    out[:-1] = src[1:]
    cuts = np.flatnonzero(np.diff(step_len)) + 1
    bounds = [0, *cuts.tolist(), n]
    with warnings.catch_warnings():
        # Writeable sliding windows overlap; each row writes only its own step's bytes.
        warnings.simplefilter("ignore")
        for a, b in itertools.pairwise(bounds):
            width = int(step_len[a])
            starts = row_start[a:b]
            sliding_window_view(out, width, writeable=True)[starts + 1] = sliding_window_view(
                src, width
            )[starts]
    out[row_start] = ord("[")
    out[row_start[1:] - 2] = ord("]")
    out[row_start[1:] - 1] = _COMMA
    out[0] = ord("[")
    out[-2] = ord("]")
    out[-1] = ord("]")
    return bytes(buf)


def points_json(
    steps: npt.NDArray[np.int64],
    walls: npt.NDArray[np.float64],
    values: npt.NDArray[np.floating[Any]],
) -> bytes:
    """`[[step, wall_time, value], ...]` as JSON bytes, fast enough for a million points.

    Args:
        steps: int64 steps.
        walls: float64 wall times.
        values: float32 (widened exactly) or float64 values.

    Returns:
        The JSON text; non-finite numbers as strings, as everywhere in tbhub.
    """
    steps = np.asarray(steps)
    walls = np.asarray(walls, dtype=np.float64)
    n = len(steps)
    if n == 0:
        return b"[]"
    if len(walls) != n or len(values) != n:
        raise ValueError("steps, walls and values must have the same length")
    values64 = np.asarray(values, dtype=np.float64)
    if steps.dtype.kind not in "iu" or (n and int(np.abs(steps).max()) >= _FAST_STEP_LIMIT):
        return _points_slow(steps, walls, values)
    finite = np.isfinite(walls) & np.isfinite(values64)
    if finite.all():
        return _points_fast(steps, walls, values64)
    bad = np.flatnonzero(~finite)
    if len(bad) * 100 > n:
        return _points_slow(steps, walls, values)
    # Rare non-finite rows: fast runs in between, the odd rows on their own.
    pieces: list[bytes] = []
    start = 0
    for i in bad.tolist():
        if i > start:
            pieces.append(_points_fast(steps[start:i], walls[start:i], values64[start:i])[1:-1])
        pieces.append(_points_slow(steps[i : i + 1], walls[i : i + 1], values[i : i + 1])[1:-1])
        start = i + 1
    if start < n:
        pieces.append(_points_fast(steps[start:], walls[start:], values64[start:])[1:-1])
    return b"[" + b",".join(pieces) + b"]"
