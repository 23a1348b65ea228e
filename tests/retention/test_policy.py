"""Policy resolution and validation, and the downsampling rule on its own (no database)."""

from __future__ import annotations

import numpy as np
import pytest

from hub.errors import ServiceError
from ingest import retention
from ingest.models import RetentionPolicy
from panels.downsample import minmax_indices


def row(**values: int | None) -> RetentionPolicy:
    return RetentionPolicy(**values)


def test_project_values_override_global_ones_field_by_field() -> None:
    glob = row(idle_days=90, max_images_per_tag=10, max_bytes=10**9)
    own = row(idle_days=30, max_images_per_tag=None, max_bytes=0, downsample_after_days=7)
    eff = retention.policy_resolve(glob, own)
    assert eff.idle_days == 30
    assert eff.max_images_per_tag == 10  # inherited
    assert eff.max_bytes is None  # 0 on a project: no limit here
    assert eff.downsample_after_days == 7
    assert eff.downsample_bucket == retention.DEFAULT_BUCKET
    assert eff.origin == {
        "idle_days": "project",
        "max_images_per_tag": "global",
        "downsample_after_days": "project",
        "downsample_bucket": "default",
        "max_bytes": "project",
    }
    assert eff.active


def test_no_rows_mean_no_limits() -> None:
    eff = retention.policy_resolve(None, None)
    assert not eff.active
    assert eff.as_dict() == {
        "idle_days": None,
        "max_images_per_tag": None,
        "downsample_after_days": None,
        "downsample_bucket": 100,
        "max_bytes": None,
    }
    assert not retention.policy_resolve(row(downsample_bucket=50), None).active


def test_validation() -> None:
    assert retention.policy_validate({"idle_days": 0}, project=True) == {"idle_days": 0}
    assert retention.policy_validate({"idle_days": 0}, project=False) == {"idle_days": None}
    assert retention.policy_validate({"max_bytes": None, "idle_days": 3}, project=False) == {
        "max_bytes": None,
        "idle_days": 3,
    }
    for bad, field in (
        ({"idle_days": -1}, "idle_days"),
        ({"idle_days": 1.5}, "idle_days"),
        ({"idle_days": "30"}, "idle_days"),
        ({"idle_days": True}, "idle_days"),
        ({"downsample_bucket": 4}, "downsample_bucket"),
        ({"downsample_bucket": 0}, "downsample_bucket"),
        ({"idle_days": 10**9}, "idle_days"),
        ({"keep_forever": 1}, "keep_forever"),
    ):
        with pytest.raises(ServiceError) as exc:
            retention.policy_validate(bad, project=True)
        assert exc.value.field == field, bad


def test_parse_bytes() -> None:
    assert retention.parse_bytes("") is None
    assert retention.parse_bytes("123") == 123
    assert retention.parse_bytes("2 GiB") == 2 * 1024**3
    assert retention.parse_bytes("500MB") == 500 * 1024**2
    assert retention.parse_bytes("1.5t") == int(1.5 * 1024**4)
    for bad in ("lots", "-1", "1 XB", "nan"):
        with pytest.raises(ValueError):
            retention.parse_bytes(bad)


# ---- the downsampling rule ------------------------------------------------------------------------


def per_bucket_reference(
    walls: np.ndarray, values: np.ndarray, lo: float | None, hi: float, k: int
) -> np.ndarray:
    """What each bucket keeps, with panels.downsample.minmax_indices itself, one bucket at a time."""
    old = walls < hi
    if lo is not None:
        old &= walls >= lo
    keep = ~old
    idx = np.flatnonzero(old)
    for start in range(0, len(idx), k):
        b = idx[start : start + k]
        keep[b[minmax_indices(walls[b], values[b], 4)]] = True
    return keep


@pytest.mark.parametrize("k", [5, 7, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_reduce_keep_matches_minmax_indices_on_every_bucket(k: int, dtype: type) -> None:
    rng = np.random.default_rng(k)
    for trial in range(20):
        n = int(rng.integers(1, 900))
        walls = np.sort(rng.uniform(0, 1000, n))
        if trial % 3 == 0:
            walls = rng.uniform(0, 1000, n)  # wall time going backwards (restarts)
        values = rng.standard_normal(n).astype(dtype)
        values[rng.random(n) < 0.05] = np.nan
        values[rng.random(n) < 0.02] = np.inf
        values[rng.random(n) < 0.02] = -np.inf
        if trial % 4 == 0:
            values[:] = np.round(values * 2) / 2  # many ties
        lo = None if trial % 2 else float(rng.uniform(0, 300))
        hi = float(rng.uniform(300, 1100))
        got = retention.reduce_keep(walls, values, lo=lo, hi=hi, bucket=k)
        want = per_bucket_reference(walls, values, lo, hi, k)
        assert np.array_equal(got, want), (k, trial)


def test_reduce_keep_keeps_extremes_and_everything_newer() -> None:
    walls = np.arange(1000, dtype=np.float64)
    values = np.sin(np.arange(1000) / 7.0)
    values[123] = 50.0
    values[456] = -50.0
    keep = retention.reduce_keep(walls, values, lo=None, hi=800.0, bucket=100)
    assert keep[800:].all()  # newer than the cutoff: untouched
    assert keep[123] and keep[456]
    for b in range(8):  # 8 full buckets of 100 old points: first, last, min and max each
        sl = slice(b * 100, (b + 1) * 100)
        kept = np.flatnonzero(keep[sl]) + b * 100
        assert kept[0] == b * 100 and kept[-1] == b * 100 + 99
        assert 2 <= len(kept) <= 4
        assert values[kept].min() == values[sl].min()
        assert values[kept].max() == values[sl].max()
    assert keep.sum() <= 200 + 8 * 4
    # Already reduced (lo) and small buckets are left alone.
    assert retention.reduce_keep(walls, values, lo=800.0, hi=800.0, bucket=100).all()
    assert retention.reduce_keep(walls, values, lo=None, hi=800.0, bucket=4).all()
