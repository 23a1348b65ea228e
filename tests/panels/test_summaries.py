"""Downsampled views answered from per-chunk block summaries: exact bucket extremes, first and
last points, backfill of chunks written without summaries."""

from __future__ import annotations

import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.test import override_settings

from hub.models import Project
from ingest.models import ScalarChunk, Series, Source
from ingest.summaries import SUMMARY_BLOCK, block_summary
from panels import selectors
from panels.downsample import blocks_extremes
from tests.ingest.drive import ingest_all
from tests.ingest.test_services import record, scalar_event, version_event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _local_sources_allowed() -> Iterator[None]:
    with override_settings(TBHUB_LOCAL_ROOTS=[tempfile.gettempdir()]):
        yield


def test_blocks_extremes_match_brute_force() -> None:
    rng = np.random.default_rng(3)
    for trial in range(50):
        m = int(rng.integers(1, 400))
        x = np.sort(rng.integers(0, 1000, m)) if trial % 2 else rng.integers(0, 1000, m)
        lo = rng.standard_normal(m)
        hi = lo + rng.random(m)
        lo[rng.random(m) < 0.05] = np.nan
        buckets = int(rng.integers(1, 60))
        imin, imax = blocks_extremes(x, lo, hi, buckets)
        xf = x.astype(float)
        if m > 1 and np.all(xf[1:] >= xf[:-1]) and xf[-1] > xf[0]:
            edges = np.linspace(xf[0], xf[-1], buckets + 1)
            starts = np.searchsorted(xf, edges[:-1], side="left")
        else:
            starts = (np.arange(buckets) * m) // buckets
        starts = np.unique(starts[starts < m])
        bounds = [*list(starts), m]
        for b, (a, z) in enumerate(itertools.pairwise(bounds)):
            seg_lo = np.where(np.isnan(lo[a:z]), np.inf, lo[a:z])
            assert imin[b] == a + int(np.argmin(seg_lo))
            assert imax[b] == a + int(np.argmax(hi[a:z]))


def test_block_summary_handles_nan_and_partial_blocks() -> None:
    v = np.array([np.nan] * 70, dtype=np.float64)
    v[65] = 2.0
    s = block_summary(np.arange(70, dtype=np.int64), np.arange(70, dtype=np.float64), v)
    assert len(s) == 2
    assert s["min_i"][1] == 65 and s["max_i"][1] == 65
    assert s["x_step"][1] == 64


def _ingest_series(tmp: Path, values: np.ndarray) -> Series:
    run_dir = tmp / "r"
    run_dir.mkdir(parents=True)
    recs = [record(version_event())]
    recs += [record(scalar_event("x", i, float(v), wall=1000.0 + i)) for i, v in enumerate(values)]
    (run_dir / "events.out.tfevents.1.h").write_bytes(b"".join(recs))
    project = Project.objects.create(slug="p", name="P")
    source = Source.objects.create(project=project, url=str(tmp))
    ingest_all(source)
    return Series.objects.get(tag="x")


def _check(series: Series, values: np.ndarray, max_points: int, lo: int, hi: int) -> None:
    got = selectors.scalar_series_downsampled(
        series=series, max_points=max_points, start=lo, end=hi
    )
    window = values[lo : hi + 1]
    steps = got.steps.tolist()
    assert len(steps) <= max_points
    assert steps == sorted(steps)
    assert steps[0] == lo and steps[-1] == hi
    # Every point sent is a real point.
    assert np.array_equal(got.values, window[np.asarray(steps) - lo])
    # Spikes and dips anywhere in the range survive.
    assert int(np.argmax(window)) + lo in steps
    assert int(np.argmin(window)) + lo in steps


def test_summary_path_keeps_extremes_and_backfills(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    values = rng.standard_normal(120_000).astype(np.float32)
    values[77_777] = 40.0
    values[33_333] = -40.0
    series = _ingest_series(tmp_path, values)
    assert ScalarChunk.objects.filter(series=series, summary__isnull=True).count() == 0
    assert selectors._summary_plan(series=series, x="step", start=None, end=None, buckets=99)
    _check(series, values, 200, 0, 119_999)
    _check(series, values, 200, 10_000, 100_000)
    before = selectors.scalar_series_downsampled(series=series, max_points=200)
    ScalarChunk.objects.filter(series=series).update(summary=None)
    after = selectors.scalar_series_downsampled(series=series, max_points=200)
    assert np.array_equal(before.steps, after.steps)  # deterministic, with or without summaries
    assert ScalarChunk.objects.filter(series=series, summary__isnull=True).count() <= 2


def test_short_ranges_read_points(tmp_path: Path) -> None:
    values = np.arange(30_000, dtype=np.float32)
    series = _ingest_series(tmp_path, values)
    assert selectors._summary_plan(series=series, x="step", start=100, end=900, buckets=49) is None
    _check(series, values, 100, 100, 900)
    assert SUMMARY_BLOCK == 64
