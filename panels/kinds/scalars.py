"""The SCALARS panel, server side: one chart's worth of series in one read, cached per run.

A chart of 100 runs asks for 100 downsampled series at once (`…/scalars/batch`). Each run's JSON
fragment is cached under the run's `version` (bumped on every commit), so a reload, another
member opening the same chart, or a live update of one run recomputes only what changed. The
cache is an accelerator: without it (or when it fails) everything is computed.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import QuerySet

from ingest.models import Kind, Run, Series
from panels import selectors
from tbhub import jsonutil

log = logging.getLogger("panels.scalars")
CACHE_SECONDS = 600


@dataclass(slots=True)
class RunPoints:
    run_id: int
    run: str
    points_json: bytes


def scalar_series_for_runs(
    *, runs: QuerySet[Run], run_ids: list[int], tag: str
) -> dict[int, tuple[str, int, Series]]:
    """run id → (run name, run version, series) for the runs of `runs` (a scope's runs, see
    panels.scopes) among `run_ids` that have the scalar tag `tag`. One query, scoped to those
    runs (a project's hidden ones included, as the single-series endpoint does)."""
    runs = runs.filter(pk__in=run_ids)
    out: dict[int, tuple[str, int, Series]] = {}
    for s in Series.objects.filter(run__in=runs, tag=tag, kind=Kind.SCALAR).select_related("run"):
        out[s.run_id] = (s.run.name, int(s.run.version), s)
    return out


def scalar_batch(
    *,
    runs: QuerySet[Run],
    run_ids: list[int],
    tag: str,
    max_points: int,
    x: str = "step",
    start: float | None = None,
    end: float | None = None,
) -> tuple[list[RunPoints], list[int]]:
    """The downsampled points of `tag` for each run (in `run_ids` order) and the ids of the
    requested runs that have no such tag in this scope."""
    found = scalar_series_for_runs(runs=runs, run_ids=run_ids, tag=tag)
    tag_key = hashlib.sha1(tag.encode(), usedforsecurity=False).hexdigest()[:16]
    keys = {
        rid: f"sbatch:{rid}:{version}:{tag_key}:{max_points}:{x}:{start}:{end}"
        for rid, (_, version, _s) in found.items()
    }
    try:
        hits = cache.get_many(list(keys.values()))
    except Exception:  # the cache is an accelerator; the hub is correct without it
        log.warning("panels.scalars.cache_get_failed", exc_info=True)
        hits = {}
    out: list[RunPoints] = []
    fresh: dict[str, bytes] = {}
    for rid in run_ids:
        if rid not in found or any(r.run_id == rid for r in out):
            continue
        name, _version, series = found[rid]
        body = hits.get(keys[rid])
        if not isinstance(body, bytes):
            data = selectors.scalar_series_downsampled(
                series=series, max_points=max_points, x=x, start=start, end=end
            )
            body = jsonutil.points_json(data.steps, data.wall_times, data.values)
            fresh[keys[rid]] = body
        out.append(RunPoints(rid, name, body))
    if fresh:
        try:
            cache.set_many(fresh, timeout=CACHE_SECONDS)
        except Exception:
            log.warning("panels.scalars.cache_set_failed", exc_info=True)
    missing = [i for i in run_ids if i not in found]
    return out, missing
