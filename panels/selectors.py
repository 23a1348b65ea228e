"""Every read of stored data. Views call these with a project that the caller may read (resolved
by `hub.access`), never the ORM directly. Documented in docs/ARCHITECTURE.md#selectors.

Reads are shaped like TensorBoard's data provider (runs → tags → series) and return numpy arrays
or plain Python structures; views turn them into JSON/CSV with `tbhub.jsonutil`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt
from django.db import connection
from django.db.models import Count, Max, Q, QuerySet, Sum

from hub.models import Project
from ingest.models import (
    EventFile,
    FileState,
    GraphBlob,
    GraphKind,
    HistogramPoint,
    ImagePoint,
    Kind,
    Run,
    ScalarChunk,
    Series,
    TextPoint,
)
from ingest.store import chunk_arrays
from panels.downsample import blocks_extremes, minmax_indices
from tbhub.cacheutil import cache_get, cache_get_many, cache_set, cache_set_many
from tbhub.jsonutil import points_json

# Tag kinds as the API names them (TensorBoard plugin names), and the series kind behind each.
API_KINDS: dict[str, str] = {
    "scalars": Kind.SCALAR,
    "histograms": Kind.HISTOGRAM,
    "distributions": Kind.HISTOGRAM,
    "images": Kind.IMAGE,
    "text": Kind.TEXT,
}


class NotFound(Exception):
    """Raised for anything that does not exist *for this caller* (→ 404, no existence leak)."""


@dataclass(slots=True)
class ScalarSeriesData:
    steps: npt.NDArray[np.int64]
    wall_times: npt.NDArray[np.float64]
    values: npt.NDArray[np.floating]


def runs_queryset(*, project: Project, include_hidden: bool = True) -> QuerySet[Run]:
    qs = Run.objects.filter(source__project=project)
    if not include_hidden:
        qs = qs.filter(hidden=False)
    return qs


def project_data_version(*, project: Project) -> str:
    """Changes whenever any run of the project commits or runs come and go. Derived from the
    database, so cached entries keyed by it are never stale even if Redis lost an update."""
    agg = runs_queryset(project=project).aggregate(v=Sum("version"), n=Count("id"), m=Max("id"))
    return f"{agg['v'] or 0}.{agg['n']}.{agg['m'] or 0}"


def runs_list(*, project: Project, include_hidden: bool = True) -> list[dict[str, Any]]:
    """All runs of a project with their tags per kind and their ingest status, in TensorBoard's
    order (start time, then name; runs without data last). Cached per data version."""
    key = f"runs:{project.pk}:{int(include_hidden)}:{project_data_version(project=project)}"
    hit = cache_get(key)
    if hit is not None:
        return list(hit)
    out = _runs_list_uncached(project=project, include_hidden=include_hidden)
    cache_set(key, out, timeout=600)
    return out


def _runs_list_uncached(*, project: Project, include_hidden: bool) -> list[dict[str, Any]]:
    runs = list(
        runs_queryset(project=project, include_hidden=include_hidden).values(
            "id",
            "name",
            "source_id",
            "source__url",
            "start_time",
            "last_wall_time",
            "last_step",
            "updated_at",
            "hidden",
            "missing",
            "note",
            "version",
            "data_deleted_at",
            "data_deleted_reason",
        )
    )
    ids = [r["id"] for r in runs]
    tags = _run_tags(cast(list[dict[str, Any]], runs))
    graphs = set(
        GraphBlob.objects.filter(
            run_id__in=ids, kind__in=[GraphKind.GRAPH_DEF, GraphKind.TRACE, GraphKind.KERAS]
        )
        .values_list("run_id", flat=True)
        .distinct()
    )
    status: dict[int, dict[str, Any]] = {}
    for row in (
        EventFile.objects.filter(run_id__in=ids)
        .values("run_id")
        .annotate(
            files=Count("id"),
            bytes_total=Sum("size"),
            bytes_read=Sum("offset"),
            bad_records=Sum("bad_records"),
            errors=Count("id", filter=~Q(state__in=(FileState.OK, FileState.DELETED))),
        )
    ):
        status[row["run_id"]] = row
    errors: dict[int, str] = {}
    for run_id, err in (
        EventFile.objects.filter(run_id__in=ids)
        .exclude(state__in=(FileState.OK, FileState.DELETED))
        .exclude(error="")
        .values_list("run_id", "error")
    ):
        errors.setdefault(run_id, err)
    result = []
    for r in runs:
        st = status.get(r["id"], {})
        kinds = tags.get(r["id"], {})
        result.append(
            {
                "id": r["id"],
                "name": r["name"],
                "source": r["source_id"],
                "start_time": r["start_time"],
                "last_update": r["updated_at"].timestamp() if r["updated_at"] else None,
                "last_step": r["last_step"],
                "hidden": r["hidden"],
                "note": r["note"],
                "tags": {k: kinds.get(k, []) for k in API_KINDS},
                "graph": r["id"] in graphs,
                # Stored data deleted by an owner or by retention (issue #5): null, or
                # {"at": POSIX time, "reason": "owner" | "retention" | "quota"}.
                "data_deleted": {
                    "at": r["data_deleted_at"].timestamp(),
                    "reason": r["data_deleted_reason"],
                }
                if r["data_deleted_at"]
                else None,
                "status": {
                    "files": st.get("files", 0),
                    "bytes_read": st.get("bytes_read") or 0,
                    "bytes_total": st.get("bytes_total") or 0,
                    "bad_records": st.get("bad_records") or 0,
                    "missing": r["missing"],
                    "error": errors.get(r["id"], ""),
                },
            }
        )
    result.sort(
        key=lambda r: (
            r["start_time"] is None,
            r["start_time"] if r["start_time"] is not None else 0.0,
            r["name"],
        )
    )
    return result


def _run_tags(runs: list[dict[str, Any]]) -> dict[int, dict[str, list[str]]]:
    """Tags per run and API kind. Cached per (run, version): after a commit only the runs that
    changed are recomputed, so a live project with thousands of runs stays cheap to list."""
    keys = {f"rtags:{r['id']}:{r['version']}": r["id"] for r in runs}
    hits = cache_get_many(list(keys))
    out: dict[int, dict[str, list[str]]] = {keys[k]: v for k, v in hits.items()}
    missing = [rid for k, rid in keys.items() if k not in hits]
    if missing:
        fresh: dict[int, dict[str, list[str]]] = {rid: {} for rid in missing}
        qs = Series.objects.filter(run_id__in=missing, count__gt=0)
        if connection.vendor == "postgresql":
            from django.contrib.postgres.aggregates import ArrayAgg

            rows = qs.values("run_id", "kind").annotate(tags=ArrayAgg("tag", order_by="tag"))
            for row in rows:
                fresh[row["run_id"]][row["kind"]] = list(row["tags"])
        else:
            for run_id, tag, kind in qs.values_list("run_id", "tag", "kind").order_by("tag"):
                fresh[run_id].setdefault(kind, []).append(tag)
        by_api: dict[int, dict[str, list[str]]] = {}
        for rid, per_kind in fresh.items():
            by_api[rid] = {
                api_kind: per_kind.get(series_kind, [])
                for api_kind, series_kind in API_KINDS.items()
            }
        out.update(by_api)
        versions = {r["id"]: r["version"] for r in runs}
        cache_set_many(
            {f"rtags:{rid}:{versions[rid]}": v for rid, v in by_api.items()}, timeout=86400
        )
    return out


def run_get(*, project: Project, name: str | None = None, run_id: int | None = None) -> Run:
    """One run of the project, by name (must be unique in the project) or by id."""
    qs = runs_queryset(project=project)
    if run_id is not None:
        run = qs.filter(pk=run_id).first()
        if run is None:
            raise NotFound("no such run")
        return run
    matches = list(qs.filter(name=name)[:2])
    if not matches:
        raise NotFound("no such run")
    if len(matches) > 1:
        raise NotFound("run name is ambiguous in this project: pass run_id instead")
    return matches[0]


def series_get(*, run: Run, tag: str, kind: str) -> Series:
    s = Series.objects.filter(run=run, tag=tag, kind=kind).first()
    if s is None:
        raise NotFound("no such tag")
    return s


def scalar_series_read(
    *,
    series: Series,
    x: str = "step",
    start: float | None = None,
    end: float | None = None,
) -> ScalarSeriesData:
    """Every point of a scalar series (optionally only those with start <= x <= end), in load
    order. Chunks entirely outside the range are never fetched."""
    qs = ScalarChunk.objects.filter(series=series)
    col_lo, col_hi = ("min_step", "max_step") if x == "step" else ("min_wall", "max_wall")
    rel0 = 0.0
    if x == "relative":
        rel0 = _relative_origin(series)
        start = None if start is None else start + rel0
        end = None if end is None else end + rel0
    if start is not None:
        qs = qs.filter(**{f"{col_hi}__gte": start})
    if end is not None:
        qs = qs.filter(**{f"{col_lo}__lte": end})
    parts_s, parts_w, parts_v = [], [], []
    for chunk in qs.order_by("seq").only("steps", "wall_times", "values", "dtype"):
        s, w, v = chunk_arrays(chunk)
        parts_s.append(s)
        parts_w.append(w)
        parts_v.append(v)
    if not parts_s:
        return ScalarSeriesData(
            np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.float32)
        )
    steps = np.concatenate(parts_s)
    walls = np.concatenate(parts_w)
    vdt = np.float32 if all(p.dtype == np.float32 for p in parts_v) else np.float64
    values = np.concatenate([p.astype(vdt, copy=False) for p in parts_v])
    if start is not None or end is not None:
        xs = steps if x == "step" else walls
        mask = np.ones(len(xs), dtype=bool)
        if start is not None:
            mask &= xs >= start
        if end is not None:
            mask &= xs <= end
        steps, walls, values = steps[mask], walls[mask], values[mask]
    return ScalarSeriesData(steps, walls, values)


def scalar_series_json_parts(*, series: Series) -> list[bytes]:
    """Every point of a scalar series as the pieces of the JSON array `[[step, wall, value], ...]`
    (join them with b"" — the caller joins once, with its own envelope, to copy 40 MB only once).

    Chunks that can no longer change (full enough never to be merged into) are cached as JSON
    fragments keyed by their extents, so "all points" of a long series is mostly a join of
    cached text: formatting a million floats costs far more than reading them.
    """
    from ingest.store import MERGE_BELOW

    meta = list(
        ScalarChunk.objects.filter(series=series)
        .order_by("seq")
        .values_list(
            "pk", "count", "min_step", "max_step", "min_wall", "max_wall", "min_value", "max_value"
        )
    )
    if not meta:
        return [b"[]"]
    keys = {m[0]: "cj:" + ":".join(str(x) for x in m) for m in meta if m[1] >= MERGE_BELOW}
    cached = cache_get_many(list(keys.values())) if keys else {}
    fragments: dict[int, bytes] = {}
    for pk, key in keys.items():
        hit = cached.get(key)
        if isinstance(hit, bytes):
            fragments[pk] = hit
    missing = [m[0] for m in meta if m[0] not in fragments]
    fresh: dict[str, bytes] = {}
    for chunk in ScalarChunk.objects.filter(pk__in=missing).only(
        "steps", "wall_times", "values", "dtype"
    ):
        steps, walls, values = chunk_arrays(chunk)
        frag = points_json(steps, walls, values)[1:-1]
        fragments[chunk.pk] = frag
        if chunk.pk in keys:
            fresh[keys[chunk.pk]] = frag
    if fresh:
        cache_set_many(fresh, timeout=3600)
    parts = [b"["]
    for m in meta:
        piece = fragments.get(m[0])
        if piece:
            if len(parts) > 1:
                parts.append(b",")
            parts.append(piece)
    parts.append(b"]")
    return parts


def _relative_origin(series: Series) -> float:
    first = ScalarChunk.objects.filter(series=series).order_by("seq").only("wall_times").first()
    if first is None:
        return 0.0
    return float(np.frombuffer(bytes(first.wall_times), dtype="<f8", count=1)[0])


def scalar_series_downsampled(
    *,
    series: Series,
    max_points: int,
    x: str = "step",
    start: float | None = None,
    end: float | None = None,
) -> ScalarSeriesData:
    """At most `max_points` points keeping first, last and every bucket's min and max.

    Long ranges are answered from the chunks' block summaries (ingest/summaries.py) instead of
    their points: a million-point series is read as ~30k block extremes. Buckets are then runs of
    whole blocks, so each bucket's minimum and maximum are still exact.
    """
    buckets = (max_points - 2) // 2
    plan = _summary_plan(series=series, x=x, start=start, end=end, buckets=buckets)
    if plan is None:
        data = scalar_series_read(series=series, x=x, start=start, end=end)
        xs = data.steps if x == "step" else data.wall_times
        idx = minmax_indices(xs, data.values, max_points)
        if len(idx) == len(data.steps):
            return data
        return ScalarSeriesData(data.steps[idx], data.wall_times[idx], data.values[idx])
    vdt = np.float32 if series.dtype == "float32" else np.float64
    return _downsample_from_summaries(plan, x=x, buckets=buckets, dtype=vdt)


@dataclass(slots=True)
class _SummaryPlan:
    metas: list[dict[str, Any]]
    raw_ids: set[int]
    start: float | None
    end: float | None
    origin: float


def _summary_plan(
    *, series: Series, x: str, start: float | None, end: float | None, buckets: int
) -> _SummaryPlan | None:
    """Decide whether block summaries can answer this view; None means read the points."""
    from ingest.summaries import SUMMARY_BLOCK

    if buckets <= 0:
        return None
    origin = _relative_origin(series) if x == "relative" else 0.0
    lo = None if start is None else start + origin
    hi = None if end is None else end + origin
    col_lo, col_hi = ("min_step", "max_step") if x == "step" else ("min_wall", "max_wall")
    qs = ScalarChunk.objects.filter(series=series)
    if lo is not None:
        qs = qs.filter(**{f"{col_hi}__gte": lo})
    if hi is not None:
        qs = qs.filter(**{f"{col_lo}__lte": hi})
    metas = list(qs.order_by("seq").values("pk", "seq", "count", col_lo, col_hi))
    total = sum(m["count"] for m in metas)
    # Summaries pay off when each bucket spans several blocks; short ranges read the points.
    if len(metas) < 3 or total < buckets * 4 * SUMMARY_BLOCK:
        return None
    raw_ids = {metas[0]["pk"], metas[-1]["pk"]}  # the range's first and last points are exact
    for m in metas[1:-1]:
        inside = (lo is None or m[col_lo] >= lo) and (hi is None or m[col_hi] <= hi)
        if not inside:
            raw_ids.add(m["pk"])
    return _SummaryPlan(metas=metas, raw_ids=raw_ids, start=lo, end=hi, origin=origin)


def _downsample_from_summaries(
    plan: _SummaryPlan, *, x: str, buckets: int, dtype: type[np.floating[Any]]
) -> ScalarSeriesData:
    from ingest.summaries import block_summary, summary_bytes, summary_load

    order = {m["pk"]: i for i, m in enumerate(plan.metas)}
    blocks: list[Any] = [None] * len(plan.metas)
    ends: list[tuple[int, int, float, float]] = []  # (key, step, wall, value) of raw chunk ends
    summary_ids = [m["pk"] for m in plan.metas if m["pk"] not in plan.raw_ids]
    for pk, raw in ScalarChunk.objects.filter(pk__in=summary_ids).values_list("pk", "summary"):
        if raw is None:
            plan.raw_ids.add(pk)  # written before summaries existed: read it, and backfill
        else:
            blocks[order[pk]] = summary_load(raw)
    raw_chunks = ScalarChunk.objects.filter(pk__in=plan.raw_ids).only(
        "steps", "wall_times", "values", "dtype", "summary"
    )
    for chunk in raw_chunks:
        i = order[chunk.pk]
        steps, walls, values = chunk_arrays(chunk)
        if chunk.summary is None:
            ScalarChunk.objects.filter(pk=chunk.pk).update(
                summary=summary_bytes(steps, walls, values)
            )
        xs = steps if x == "step" else walls
        mask = np.ones(len(steps), dtype=bool)
        if plan.start is not None:
            mask &= xs >= plan.start
        if plan.end is not None:
            mask &= xs <= plan.end
        steps, walls, values = steps[mask], walls[mask], values[mask]
        if not len(steps):
            continue
        blocks[i] = block_summary(steps, walls, values)
        for j in (0, len(steps) - 1):
            ends.append((i * (1 << 32) + j, int(steps[j]), float(walls[j]), float(values[j])))
    present = [(i, b) for i, b in enumerate(blocks) if b is not None and len(b)]
    if not present:
        empty = np.zeros(0, np.float64)
        return ScalarSeriesData(np.zeros(0, np.int64), empty, empty.astype(dtype))
    allb = np.concatenate([b for _, b in present])
    pos = np.concatenate([np.full(len(b), i, dtype=np.int64) for i, b in present])
    ax = allb["x_step"] if x == "step" else allb["x_wall"]
    imin, imax = blocks_extremes(ax, allb["min_val"], allb["max_val"], buckets)
    # Every point is keyed by (chunk position, index within the chunk's points): load order.
    keys = np.concatenate(
        [pos[imin] * (1 << 32) + allb["min_i"][imin], pos[imax] * (1 << 32) + allb["max_i"][imax]]
    )
    steps_o = np.concatenate([allb["min_step"][imin], allb["max_step"][imax]])
    walls_o = np.concatenate([allb["min_wall"][imin], allb["max_wall"][imax]])
    vals_o = np.concatenate([allb["min_val"][imin], allb["max_val"][imax]])
    # The range's first and last points: the first point of the first raw chunk and the last of
    # the last one (the first and last chunks in range are always read as points).
    if ends:
        ends.sort()
        for key, st, wa, va in (ends[0], ends[-1]):
            keys = np.append(keys, key)
            steps_o = np.append(steps_o, st)
            walls_o = np.append(walls_o, wa)
            vals_o = np.append(vals_o, va)
    keys, uniq = np.unique(keys, return_index=True)
    return ScalarSeriesData(
        steps_o[uniq].astype(np.int64), walls_o[uniq], vals_o[uniq].astype(dtype)
    )


def histogram_series_read(
    *, series: Series
) -> list[tuple[int, float, npt.NDArray[np.float64], npt.NDArray[np.float64]]]:
    """(step, wall_time, buckets (k,3), percentiles (9,)) per event in load order."""
    out = []
    for step, wall, buckets, pct in (
        HistogramPoint.objects.filter(series=series)
        .order_by("seq")
        .values_list("step", "wall_time", "buckets", "percentiles")
    ):
        out.append(
            (
                step,
                wall,
                np.frombuffer(bytes(buckets), dtype="<f8").reshape(-1, 3),
                np.frombuffer(bytes(pct), dtype="<f8"),
            )
        )
    return out


def image_series_read(*, series: Series) -> list[dict[str, Any]]:
    rows = ImagePoint.objects.filter(series=series).order_by("seq")
    fields = (
        "id",
        "step",
        "wall_time",
        "index",
        "width",
        "height",
        "content_type",
        "size",
        "sha256",
    )
    return cast(list[dict[str, Any]], list(rows.values(*fields)))


def image_get(*, project: Project, image_id: int) -> ImagePoint:
    img = (
        ImagePoint.objects.filter(pk=image_id, series__run__source__project=project)
        .only("data", "content_type", "sha256", "size", "width", "height")
        .first()
    )
    if img is None:
        raise NotFound("no such image")
    return img


def image_get_in_runs(*, run_ids: list[int], image_id: int) -> ImagePoint:
    """An image of one of `run_ids` (a comparison's runs, resolved by its scope)."""
    img = (
        ImagePoint.objects.filter(pk=image_id, series__run_id__in=run_ids)
        .only("data", "content_type", "sha256", "size", "width", "height")
        .first()
    )
    if img is None:
        raise NotFound("no such image")
    return img


def text_series_read(*, series: Series) -> list[dict[str, Any]]:
    rows = TextPoint.objects.filter(series=series).order_by("seq")
    return cast(list[dict[str, Any]], list(rows.values("step", "wall_time", "shape", "values")))
