"""Writes to the store: one decoded batch, its purges and the new file offset, atomically.

Documented in docs/ARCHITECTURE.md#store and #exactly-once. Only `ingest.services` calls this
module; it must run inside `transaction.atomic()` (the caller opens it so that the lease check,
the data and the offset share one transaction).
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from django.db import connection
from django.db.models import Count, F, Max, Min, Q, Sum, Value
from django.db.models.functions import Greatest, Length
from django.utils import timezone

from ingest import decoded as d
from ingest.kinds.histograms import compress
from ingest.kinds.images import sniff
from ingest.models import (
    EventFile,
    FileState,
    GraphBlob,
    HistogramPoint,
    ImagePoint,
    Kind,
    Run,
    ScalarChunk,
    Series,
    TensorPoint,
    TextPoint,
)
from ingest.semantics import LoaderState, Purge, keep_mask, kept
from ingest.summaries import summary_bytes

# A scalar chunk holds at most this many points; a trailing chunk smaller than MERGE_BELOW is
# rewritten with the next points instead of leaving many tiny chunks behind a live tail.
CHUNK_POINTS = 8192
MERGE_BELOW = 2048
MAX_ERRORS_KEPT = 20

_KIND_BY_TAGKIND = {
    d.SCALAR: Kind.SCALAR,
    d.HISTOGRAM: Kind.HISTOGRAM,
    d.IMAGE: Kind.IMAGE,
    d.TEXT: Kind.TEXT,
    d.TENSOR: Kind.TENSOR,
    d.GRAPH: Kind.GRAPH,
}


@dataclass(slots=True)
class CommitSummary:
    """What one commit changed: the content of the change notice."""

    run_id: int
    project_id: int
    run_name: str
    version: int
    last_step: int | None
    tags: dict[str, list[str]] = field(default_factory=dict)
    new_tags: bool = False
    purged: bool = False
    points: int = 0
    graph: bool = False


# ---- bulk writes ------------------------------------------------------------------------------
# Django's psycopg backend binds parameters client-side: every MB-sized bytea is quoted into the
# SQL text in Python. On PostgreSQL the data tables are written with binary COPY instead (psycopg's
# C implementation), and the per-series counters with one UPDATE ... FROM (VALUES ...).

_PG_TYPES = {
    "ForeignKey": "int8",
    "BigIntegerField": "int8",
    "IntegerField": "int4",
    "FloatField": "float8",
    "CharField": "text",
    "TextField": "text",
    "BinaryField": "bytea",
}


def bulk_insert(model: Any, rows: list[Any], fields: list[str], batch_size: int = 500) -> None:
    """Insert model instances (ids are not needed afterwards), by COPY on PostgreSQL."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(rows, batch_size=batch_size)
        return
    cols = [model._meta.get_field(f) for f in fields]
    types = [_PG_TYPES[c.get_internal_type()] for c in cols]
    names = ", ".join(connection.ops.quote_name(c.column) for c in cols)
    attnames = [c.attname for c in cols]
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN (FORMAT BINARY)"
    with connection.cursor() as cursor:
        raw = cursor.cursor
        with raw.copy(sql) as copy:
            copy.set_types(types)
            for row in rows:
                values = [getattr(row, a) for a in attnames]
                copy.write_row([bytes(v) if isinstance(v, memoryview) else v for v in values])


_SERIES_COUNTERS = [
    ("count", "int8"),
    ("next_seq", "int8"),
    ("first_step", "int8"),
    ("last_step", "int8"),
    ("last_wall_time", "float8"),
    ("dtype", "text"),
    ("max_samples", "int4"),
    ("stored_bytes", "int8"),
    ("chunk_count", "int4"),
    ("tail_points", "int4"),
]


def _update_series(rows: list[Series]) -> None:
    if connection.vendor != "postgresql":
        # SQLite: one prepared UPDATE per row (Django's bulk_update builds CASE expressions whose
        # compilation costs more than the writes).
        table = connection.ops.quote_name(Series._meta.db_table)
        sets = ", ".join(f"{f} = %s" for f, _ in _SERIES_COUNTERS)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {table} SET {sets} WHERE id = %s",  # noqa: S608 - our own column names
                [[*(getattr(r, f) for f, _ in _SERIES_COUNTERS), r.pk] for r in rows],
            )
        return
    table = connection.ops.quote_name(Series._meta.db_table)
    cols = ", ".join(f for f, _ in _SERIES_COUNTERS)
    sets = ", ".join(f"{f} = v.{f}" for f, _ in _SERIES_COUNTERS)
    casts = ", ".join(f"%s::{t}" for _, t in [("id", "int8"), *_SERIES_COUNTERS])
    for start in range(0, len(rows), 500):
        part = rows[start : start + 500]
        values = ", ".join(f"({casts})" for _ in part)
        params: list[Any] = []
        for r in part:
            params.append(r.pk)
            params.extend(getattr(r, f) for f, _ in _SERIES_COUNTERS)
        # Only our own column names and placeholders are interpolated; values are parameters.
        sql = (
            f"UPDATE {table} AS s SET {sets} FROM (VALUES {values}) AS v(id, {cols}) "  # noqa: S608
            "WHERE s.id = v.id"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


def registry_load(run: Run) -> d.TagRegistry:
    """The run's tag classification, from its Series rows."""
    reg = d.TagRegistry()
    for s in Series.objects.filter(run=run).only(
        "tag", "kind", "plugin", "plugin_content", "display_name", "description"
    ):
        reg.known[s.tag] = d.TagInfo(
            kind=str(s.kind),
            plugin=s.plugin,
            plugin_content=bytes(s.plugin_content or b""),
            display_name=s.display_name,
            description=s.description,
        )
    return reg


def loader_state(run: Run) -> LoaderState:
    return LoaderState(
        file_version=run.file_version,
        seen_session_start=run.seen_session_start,
        most_recent_step=run.most_recent_step,
    )


def _le(arr: npt.NDArray[np.generic], dtype: str) -> bytes:
    return np.ascontiguousarray(arr, dtype=np.dtype(dtype).newbyteorder("<")).tobytes()


def chunk_arrays(
    chunk: ScalarChunk,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.floating]]:
    """Decode a chunk's columns (zero-copy views over the row's bytes)."""
    steps = np.frombuffer(bytes(chunk.steps), dtype="<i8")
    walls = np.frombuffer(bytes(chunk.wall_times), dtype="<f8")
    values = np.frombuffer(bytes(chunk.values), dtype="<" + chunk.dtype)
    return steps, walls, values


def _fill_chunk(
    chunk: ScalarChunk,
    steps: npt.NDArray[np.int64],
    walls: npt.NDArray[np.float64],
    values: npt.NDArray[np.floating],
) -> None:
    dtype = "f4" if values.dtype == np.float32 else "f8"
    chunk.count = len(steps)
    chunk.min_step = int(steps.min())
    chunk.max_step = int(steps.max())
    chunk.min_wall = float(walls.min())
    chunk.max_wall = float(walls.max())
    finite = values[np.isfinite(values)]
    chunk.min_value = float(finite.min()) if len(finite) else None
    chunk.max_value = float(finite.max()) if len(finite) else None
    chunk.dtype = dtype
    chunk.steps = _le(steps, "i8")
    chunk.wall_times = _le(walls, "f8")
    chunk.values = _le(values, dtype)
    chunk.summary = summary_bytes(steps, walls, values)


def _widen(a: npt.NDArray[np.floating], b: npt.NDArray[np.floating]) -> np.dtype[np.floating]:
    return np.dtype(np.float32) if a.dtype == b.dtype == np.float32 else np.dtype(np.float64)


class _SeriesCache:
    """Series rows of one run, created on first use within the transaction."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.by_tag: dict[str, Series] = {}
        self.dirty: set[str] = set()

    def load(self, tags: Iterable[str]) -> None:
        missing = [t for t in tags if t not in self.by_tag]
        if missing:
            for s in Series.objects.filter(run=self.run, tag__in=missing):
                self.by_tag[s.tag] = s

    def get(self, tag: str) -> Series:
        return self.by_tag[tag]

    def create(self, new: dict[str, d.TagInfo]) -> None:
        rows = [
            Series(
                run=self.run,
                tag=tag,
                kind=_KIND_BY_TAGKIND.get(info.kind, Kind.TENSOR),
                plugin=info.plugin,
                plugin_content=info.plugin_content,
                display_name=info.display_name,
                description=info.description,
            )
            for tag, info in new.items()
            if tag not in self.by_tag
        ]
        if rows:
            existing = set(
                Series.objects.filter(run=self.run, tag__in=[r.tag for r in rows]).values_list(
                    "tag", flat=True
                )
            )
            rows = [r for r in rows if r.tag not in existing]
            Series.objects.bulk_create(rows)
            self.load(new.keys())


def _apply_stored_purges(run: Run, purges: list[Purge], cache: _SeriesCache) -> bool:
    """Delete stored data orphaned by restarts; returns whether anything was purged."""
    if not purges:
        return False
    all_step: int | None = None
    tag_step: dict[str, int] = {}
    for p in purges:
        if p.tags is None:
            all_step = p.step if all_step is None else min(all_step, p.step)
        else:
            for t in p.tags:
                tag_step[t] = min(tag_step.get(t, p.step), p.step)
    conditions: list[tuple[Q, int]] = []
    if all_step is not None:
        conditions.append((Q(), all_step))
    for t, s in tag_step.items():
        if all_step is None or s < all_step:
            conditions.append((Q(tag=t), s))
    touched: set[int] = set()
    freed: Counter[int] = Counter()  # bytes per series, as `_touch` counted them when written
    for cond, step in conditions:
        series_qs = Series.objects.filter(cond, run=run)
        ids = list(series_qs.values_list("id", flat=True))
        if not ids:
            continue
        _count_purged_bytes(ids, step, freed)
        for model in (HistogramPoint, ImagePoint, TextPoint, TensorPoint):
            model.objects.filter(series_id__in=ids, step__gte=step).delete()
        chunks = ScalarChunk.objects.filter(series_id__in=ids, max_step__gte=step)
        for chunk in chunks:
            steps, walls, values = chunk_arrays(chunk)
            keep = steps < step
            freed[chunk.series_id] += int((~keep).sum()) * (16 + int(values.dtype.itemsize))
            if chunk.min_step >= step:
                chunk.delete()
                continue
            _fill_chunk(chunk, steps[keep], walls[keep], values[keep])
            chunk.save()
        if cond == Q():
            GraphBlob.objects.filter(run=run, step__gte=step).delete()
        else:
            GraphBlob.objects.filter(run=run, tag__in=tag_step.keys(), step__gte=step).delete()
        touched.update(ids)
    for series_id, nbytes in freed.items():
        if nbytes:
            Series.objects.filter(pk=series_id).update(
                stored_bytes=Greatest(F("stored_bytes") - nbytes, Value(0))
            )
    if touched:
        _recount_series(touched)
        cache.by_tag.clear()
    return bool(touched)


def _count_purged_bytes(ids: list[int], step: int, freed: Counter[int]) -> None:
    """Add what the rows about to be purged were counted for (see the `_touch` calls), so that
    storage accounting and byte caps see restarts as freed space. Graph series are not counted
    here: accounting sums graph blobs directly."""
    rows = {"series_id__in": ids, "step__gte": step}
    for sid, n, nbytes in (
        HistogramPoint.objects.filter(**rows)
        .values("series_id")
        .annotate(n=Count("id"), b=Sum(Length("buckets")))
        .values_list("series_id", "n", "b")
    ):
        freed[sid] += int(nbytes or 0) + 72 * int(n)
    for model, size in ((ImagePoint, Sum("size")), (TensorPoint, Sum(Length("tensor")))):
        for sid, nbytes in (
            model.objects.filter(**rows)
            .values("series_id")
            .annotate(b=size)
            .values_list("series_id", "b")
        ):
            freed[sid] += int(nbytes or 0)
    for sid, values in TextPoint.objects.filter(**rows).values_list("series_id", "values"):
        flat = values if isinstance(values, list) else [values]
        freed[sid] += 32 + sum(len(str(v)) for v in flat)


def _recount_series(ids: Iterable[int]) -> None:
    """Recompute per-series counts and last points after a purge (rare, so plain queries)."""
    for s in Series.objects.filter(id__in=list(ids)):
        if s.kind == Kind.SCALAR:
            # Keep chunk seqs dense (0..n-1) so `chunks`/`tail_points` describe the last chunk.
            chunks = list(
                ScalarChunk.objects.filter(series=s).order_by("seq").only("id", "seq", "count")
            )
            for i, chunk in enumerate(chunks):
                if chunk.seq != i:
                    ScalarChunk.objects.filter(pk=chunk.pk).update(seq=i)
            s.count = sum(c.count for c in chunks)
            s.chunk_count = len(chunks)
            s.tail_points = chunks[-1].count if chunks else 0
            if chunks:
                ls, lw, _ = chunk_arrays(ScalarChunk.objects.get(pk=chunks[-1].pk))
                fs, _, _ = chunk_arrays(ScalarChunk.objects.get(pk=chunks[0].pk))
                s.last_step, s.last_wall_time, s.first_step = int(ls[-1]), float(lw[-1]), int(fs[0])
            else:
                s.last_step = s.last_wall_time = s.first_step = None
        else:
            model: Any = {
                Kind.HISTOGRAM: HistogramPoint,
                Kind.IMAGE: ImagePoint,
                Kind.TEXT: TextPoint,
                Kind.TENSOR: TensorPoint,
            }.get(Kind(s.kind))
            if model is None:
                continue
            qs = model.objects.filter(series=s)
            agg = qs.aggregate(n=Count("id"), lo=Min("seq"), hi=Max("seq"))
            s.count = int(agg["n"] or 0)
            last_row = qs.order_by("-seq").only("step", "wall_time").first()
            first_row = qs.order_by("seq").only("step").first()
            s.last_step = last_row.step if last_row else None
            s.last_wall_time = last_row.wall_time if last_row else None
            s.first_step = first_row.step if first_row else None
        s.save(
            update_fields=[
                "count",
                "last_step",
                "last_wall_time",
                "first_step",
                "chunk_count",
                "tail_points",
            ]
        )


def _append_scalars(
    cache: _SeriesCache, blocks: list[d.ScalarBlock], purges: list[Purge], summary: CommitSummary
) -> None:
    by_tag: dict[str, list[d.ScalarBlock]] = defaultdict(list)
    for b in blocks:
        if len(b.seq):
            by_tag[b.tag].append(b)
    new_chunks: list[ScalarChunk] = []
    for tag, tag_blocks in by_tag.items():
        series = cache.get(tag)
        if len(tag_blocks) == 1:
            blk = tag_blocks[0]
            seq, steps, walls, values = blk.seq, blk.steps, blk.wall_times, blk.values
        else:
            seq = np.concatenate([b.seq for b in tag_blocks])
            order = np.argsort(seq, kind="stable")
            seq = seq[order]
            steps = np.concatenate([b.steps for b in tag_blocks])[order]
            walls = np.concatenate([b.wall_times for b in tag_blocks])[order]
            vdt = (
                np.float32 if all(b.values.dtype == np.float32 for b in tag_blocks) else np.float64
            )
            values = np.concatenate([b.values.astype(vdt, copy=False) for b in tag_blocks])[order]
        if purges:
            keep = keep_mask(seq, steps, tag, purges)
            if not keep.all():
                steps, walls, values = steps[keep], walls[keep], values[keep]
        n = len(steps)
        if n == 0:
            continue
        if values.dtype != np.float32:
            values = values.astype(np.float64, copy=False)
        # Merge into a small trailing chunk so live tails do not leave thousands of tiny rows.
        # The series row knows the last chunk's size, so only a merge costs a query.
        last = None
        if series.chunk_count and series.tail_points < MERGE_BELOW:
            last = ScalarChunk.objects.filter(series=series, seq=series.chunk_count - 1).first()
        next_seq = series.chunk_count
        start = 0
        if last is not None:
            ls, lw, lv = chunk_arrays(last)
            take = min(n, CHUNK_POINTS - last.count)
            wide = _widen(lv, values)
            _fill_chunk(
                last,
                np.concatenate([ls, steps[:take]]),
                np.concatenate([lw, walls[:take]]),
                np.concatenate([lv.astype(wide), values[:take].astype(wide)]),
            )
            last.save()
            start = take
            series.tail_points = last.count
        while start < n:
            stop = min(n, start + CHUNK_POINTS)
            chunk = ScalarChunk(series=series, seq=next_seq)
            _fill_chunk(chunk, steps[start:stop], walls[start:stop], values[start:stop])
            new_chunks.append(chunk)
            next_seq += 1
            series.tail_points = stop - start
            start = stop
        series.chunk_count = next_seq
        if series.first_step is None:
            series.first_step = int(steps[0])
        series.count += n
        series.last_step = int(steps[-1])
        series.last_wall_time = float(walls[-1])
        dtype = "float32" if values.dtype == np.float32 else "float64"
        if series.dtype != "float64":
            series.dtype = dtype
        series.stored_bytes += n * (16 + values.dtype.itemsize)
        cache.dirty.add(tag)
        summary.tags.setdefault("scalars", []).append(tag)
        summary.points += n
    if new_chunks:
        bulk_insert(
            ScalarChunk,
            new_chunks,
            [
                "series",
                "seq",
                "count",
                "min_step",
                "max_step",
                "min_wall",
                "max_wall",
                "min_value",
                "max_value",
                "dtype",
                "steps",
                "wall_times",
                "values",
                "summary",
            ],
        )


def _touch(series: Series, step: int, wall: float, nbytes: int, cache: _SeriesCache) -> int:
    seq = series.next_seq
    series.next_seq += 1
    series.count += 1
    if series.first_step is None:
        series.first_step = step
    series.last_step = step
    series.last_wall_time = wall
    series.stored_bytes += nbytes
    cache.dirty.add(series.tag)
    return seq


def _append_rows(
    run: Run,
    cache: _SeriesCache,
    batch: d.DecodedBatch,
    purges: list[Purge],
    summary: CommitSummary,
) -> None:
    hist_rows: list[HistogramPoint] = []
    for h in batch.histograms:
        if not kept(h.seq, h.step, h.tag, purges):
            continue
        s = cache.get(h.tag)
        buckets = np.ascontiguousarray(h.buckets, dtype="<f8").reshape(-1, 3)
        pct = compress(buckets)
        raw = buckets.tobytes()
        seq = _touch(s, h.step, h.wall_time, len(raw) + 72, cache)
        hist_rows.append(
            HistogramPoint(
                series=s,
                seq=seq,
                step=h.step,
                wall_time=h.wall_time,
                buckets=raw,
                percentiles=_le(np.asarray(pct, dtype=np.float64), "f8"),
            )
        )
        summary.tags.setdefault("histograms", []).append(h.tag)
    if hist_rows:
        bulk_insert(
            HistogramPoint,
            hist_rows,
            ["series", "seq", "step", "wall_time", "buckets", "percentiles"],
        )

    img_rows: list[ImagePoint] = []
    for im in batch.images:
        if not kept(im.seq, im.step, im.tag, purges):
            continue
        s = cache.get(im.tag)
        s.max_samples = max(s.max_samples, len(im.images))
        for i, blob in enumerate(im.images):
            info = sniff(blob)
            seq = _touch(s, im.step, im.wall_time, len(blob), cache)
            img_rows.append(
                ImagePoint(
                    series=s,
                    seq=seq,
                    step=im.step,
                    wall_time=im.wall_time,
                    index=i,
                    # The encoded header is what a browser would allocate: trust it over the
                    # summary's claim (an image "bomb" claims small and decodes huge).
                    width=info.width if info.width is not None else im.width,
                    height=info.height if info.height is not None else im.height,
                    content_type=info.content_type,
                    sha256=hashlib.sha256(blob).hexdigest(),
                    size=len(blob),
                    data=blob,
                )
            )
        summary.tags.setdefault("images", []).append(im.tag)
    if img_rows:
        bulk_insert(
            ImagePoint,
            img_rows,
            [
                "series",
                "seq",
                "step",
                "wall_time",
                "index",
                "width",
                "height",
                "content_type",
                "sha256",
                "size",
                "data",
            ],
        )

    text_rows: list[TextPoint] = []
    for t in batch.texts:
        if not kept(t.seq, t.step, t.tag, purges):
            continue
        s = cache.get(t.tag)
        seq = _touch(s, t.step, t.wall_time, sum(len(v) for v in t.values) + 32, cache)
        text_rows.append(
            TextPoint(
                series=s,
                seq=seq,
                step=t.step,
                wall_time=t.wall_time,
                shape=t.shape,
                values=t.values,
            )
        )
        summary.tags.setdefault("text", []).append(t.tag)
    if text_rows:
        TextPoint.objects.bulk_create(text_rows, batch_size=500)

    tensor_rows: list[TensorPoint] = []
    for te in batch.tensors:
        if not kept(te.seq, te.step, te.tag, purges):
            continue
        s = cache.get(te.tag)
        seq = _touch(s, te.step, te.wall_time, len(te.tensor), cache)
        tensor_rows.append(
            TensorPoint(
                series=s,
                seq=seq,
                step=te.step,
                wall_time=te.wall_time,
                dtype=te.dtype,
                shape=te.shape,
                tensor=te.tensor,
            )
        )
        summary.tags.setdefault("tensors", []).append(te.tag)
    if tensor_rows:
        TensorPoint.objects.bulk_create(tensor_rows, batch_size=500)

    graph_rows: list[GraphBlob] = []
    if batch.graphs:
        base = (GraphBlob.objects.filter(run=run).aggregate(m=Max("seq"))["m"] or -1) + 1
        for i, g in enumerate(batch.graphs):
            if not kept(g.seq, g.step, g.tag, purges):
                continue
            graph_rows.append(
                GraphBlob(
                    run=run,
                    kind=g.kind,
                    tag=g.tag,
                    seq=base + i,
                    step=g.step,
                    wall_time=g.wall_time,
                    node_count=_node_count(g),
                    sha256=hashlib.sha256(g.data).hexdigest(),
                    data=g.data,
                )
            )
            if g.tag and g.tag in cache.by_tag:
                _touch(cache.get(g.tag), g.step, g.wall_time, len(g.data), cache)
    if graph_rows:
        GraphBlob.objects.bulk_create(graph_rows)
        summary.graph = True


def _node_count(g: d.GraphEvent) -> int | None:
    if g.kind != d.GRAPH_DEF:
        return None
    from ingest.graphs import count_nodes

    return count_nodes(g.data)


def _save_series(cache: _SeriesCache) -> None:
    rows = [cache.by_tag[t] for t in cache.dirty if t in cache.by_tag]
    if rows:
        _update_series(rows)
    cache.dirty.clear()


def _file_problems(ef: EventFile, batch: d.DecodedBatch) -> None:
    if not batch.problems:
        return
    ef.bad_records += len(batch.problems)
    ef.bytes_skipped += sum(p.bytes_skipped for p in batch.problems)
    ef.state = FileState.CORRUPT
    last = batch.problems[-1]
    more = f" (+{len(batch.problems) - 1} more in this read)" if len(batch.problems) > 1 else ""
    ef.error = f"at byte {last.offset}: {last.message}{more}"


def batch_commit(
    *,
    run: Run,
    event_file: EventFile,
    batch: d.DecodedBatch,
    registry: d.TagRegistry,
    state: LoaderState,
    purges: list[Purge],
    project_id: int,
) -> CommitSummary:
    """Store one decoded batch and move the file's offset, inside the caller's transaction.

    The caller has already applied `resolve_purges` to `state`; this writes `state` to the run.
    """
    now = timezone.now()
    summary = CommitSummary(
        run_id=run.pk,
        project_id=project_id,
        run_name=run.name,
        version=run.version + 1,
        last_step=None,
    )
    cache = _SeriesCache(run)
    if registry.new:
        cache.create(registry.new)
        summary.new_tags = True
    summary.purged = _apply_stored_purges(run, purges, cache)
    tags: set[str] = set()
    tags.update(b.tag for b in batch.scalars)
    for coll in (batch.histograms, batch.images, batch.texts, batch.tensors):
        tags.update(x.tag for x in coll)
    tags.update(g.tag for g in batch.graphs if g.tag)
    cache.load(tags)
    # A tag whose series is unknown here cannot be classified: the decoder always registers new
    # tags, so this only happens if the registry was stale; create them as plain tensors.
    unknown = {t for t in tags if t not in cache.by_tag and t in registry.known}
    if unknown:
        cache.create({t: registry.known[t] for t in unknown})
    _append_scalars(cache, batch.scalars, purges, summary)
    _append_rows(run, cache, batch, purges, summary)
    _save_series(cache)

    ef = event_file
    ef.offset = batch.end_offset
    ef.records += batch.records
    ef.last_read_at = now
    _file_problems(ef, batch)
    if not batch.problems and ef.state in (FileState.ERROR, FileState.MISSING):
        ef.state = FileState.OK
        ef.error = ""
    ef.save(
        update_fields=[
            "offset",
            "records",
            "last_read_at",
            "bad_records",
            "bytes_skipped",
            "state",
            "error",
        ]
    )

    run.file_version = state.file_version
    run.seen_session_start = state.seen_session_start
    run.most_recent_step = state.most_recent_step
    if run.start_time is None and batch.first_wall_time is not None:
        run.start_time = batch.first_wall_time
    if batch.last_wall_time is not None:
        run.last_wall_time = batch.last_wall_time
    if len(batch.event_steps):
        has = batch.event_has_summary
        steps = batch.event_steps[has] if has.any() else np.zeros(0, np.int64)
        if len(steps):
            run.last_step = int(steps[-1])
    if summary.purged:
        agg = Series.objects.filter(run=run).aggregate(m=Max("last_step"))
        run.last_step = agg["m"]
    summary.last_step = run.last_step
    run.version += 1
    run.updated_at = now
    run.save(
        update_fields=[
            "file_version",
            "seen_session_start",
            "most_recent_step",
            "start_time",
            "last_wall_time",
            "last_step",
            "version",
            "updated_at",
        ]
    )
    for k, v in summary.tags.items():
        summary.tags[k] = sorted(set(v))
    return summary
