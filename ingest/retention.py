"""Retention: what tbhub keeps of the data it stored. Sources are never touched (tbhub only reads
them); retention deletes from tbhub's own store only. Documented in docs/RETENTION.md.

Admins set policies (`ingest.models.RetentionPolicy`: one global default row and per-project
overrides). `project_plan` is the dry run; `project_enforce_batch` does one bounded batch of the
same work, found with the same queries and measured with the same arithmetic, so a dry run
reports exactly what enforcement then does (given the same `now` and no ingest in between).

Stages, in this order, per project:

1. idle: runs with no new events stored for `idle_days` (their `updated_at`) lose their stored
   data. The run stays, marked "data deleted" (reason "retention"); its files are not read again
   until an owner asks for a re-ingest. Runs with unread bytes are never idle.
2. images: every image series (run x tag) keeps its newest `max_images_per_tag` events (highest
   step, then latest in load order, with all of their samples); older ones are deleted.
3. downsample: scalar points whose event wall time is older than `downsample_after_days` are
   replaced, per chunk and per bucket of `downsample_bucket` consecutive old points, by the
   bucket's first, last, min and max point (`panels.downsample.minmax_indices(x, v, 4)` on each
   bucket). Newer points are never touched, and a chunk's `reduced_before` watermark makes every
   point reduced at most once.
4. cap: if the project still stores more than `max_bytes`, whole runs lose their data (reason
   "quota"): hidden runs first, then the least recently updated. Runs with events stored within
   TBHUB_RETENTION_CAP_GRACE_HOURS, or with unread bytes, are never dropped for the cap (if they
   alone exceed it, the project stays over its cap and the plan and the log say so).

Every change to a run's data happens under a lock on the run row, like ingest commits, so a tail
and retention never interleave on one run.
"""

from __future__ import annotations

import logging
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce, Length
from django.utils import timezone

from hub.errors import ServiceError
from hub.models import Project
from ingest.models import (
    DataDeletedReason,
    EventFile,
    FileState,
    GraphBlob,
    ImagePoint,
    Kind,
    RetentionPolicy,
    Run,
    ScalarChunk,
    Series,
)
from ingest.notices import notice_send
from ingest.store import _fill_chunk, _recount_series, chunk_arrays
from panels.downsample import minmax_indices

log = logging.getLogger("ingest.retention")

DAY = 86400.0
DEFAULT_BUCKET = 100
# Points per bucket: first, last, min and max are kept, so fewer than 5 would never reduce.
MIN_BUCKET = 5
# A project's enforcement stops after this many batches in one pass (the next pass goes on).
MAX_BATCHES = 10_000
# Dropped runs listed in outcomes and plans (counts are always complete).
LIST_LIMIT = 500
# The dry run of the page and API measures this many chunks to downsample and estimates the rest
# (about 2 s on a 1,000-run project; the CLI and `?exact=true` measure all).
PREVIEW_MAX_CHUNKS = 500

POLICY_FIELDS = (
    "idle_days",
    "max_images_per_tag",
    "downsample_after_days",
    "downsample_bucket",
    "max_bytes",
)
# Accepted values of each field (0 on a project row means "no limit here"; see RetentionPolicy).
POLICY_LIMITS: dict[str, tuple[int, int]] = {
    "idle_days": (1, 36_500),
    "max_images_per_tag": (1, 1_000_000),
    "downsample_after_days": (1, 36_500),
    "downsample_bucket": (MIN_BUCKET, 1_000_000),
    "max_bytes": (1, 2**62),
}
POLICY_LABELS = {
    "idle_days": "Drop the data of runs with no new events for (days)",
    "max_images_per_tag": "Keep at most this many images per tag (newest steps)",
    "downsample_after_days": "Downsample scalars older than (days)",
    "downsample_bucket": "Downsampling bucket (points; first/last/min/max kept)",
    "max_bytes": "Cap on the project's stored bytes",
}

# Storage accounting: series kinds as the API names them; graphs are GraphBlob rows.
KIND_KEYS: dict[str, str] = {
    Kind.SCALAR: "scalars",
    Kind.HISTOGRAM: "histograms",
    Kind.IMAGE: "images",
    Kind.TEXT: "text",
    Kind.TENSOR: "tensors",
}
STORAGE_KINDS = ("scalars", "histograms", "images", "text", "tensors", "graphs")


def cap_grace() -> timedelta:
    return timedelta(hours=float(getattr(settings, "TBHUB_RETENTION_CAP_GRACE_HOURS", 24.0)))


def batch_budget() -> int:
    """Units of work per batch: one run dropped, one image series trimmed or one chunk reduced."""
    return max(1, int(getattr(settings, "TBHUB_RETENTION_BATCH", 200)))


# ---- policies ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EffectivePolicy:
    """A project's policy after resolving its override against the global default.

    `origin` says where each value came from: "project", "global" or "default"."""

    idle_days: int | None = None
    max_images_per_tag: int | None = None
    downsample_after_days: int | None = None
    downsample_bucket: int = DEFAULT_BUCKET
    max_bytes: int | None = None
    origin: dict[str, str] = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return any(
            v is not None
            for v in (
                self.idle_days,
                self.max_images_per_tag,
                self.downsample_after_days,
                self.max_bytes,
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in POLICY_FIELDS}


def policy_values(row: RetentionPolicy | None) -> dict[str, int | None]:
    """A policy row's raw fields (None everywhere for a missing row)."""
    return {name: (getattr(row, name) if row is not None else None) for name in POLICY_FIELDS}


def policy_resolve(
    global_row: RetentionPolicy | None, project_row: RetentionPolicy | None
) -> EffectivePolicy:
    """Project value if set (0 = no limit), else the global value (0 or None = no limit)."""
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for name in POLICY_FIELDS:
        own = getattr(project_row, name) if project_row is not None else None
        glob = getattr(global_row, name) if global_row is not None else None
        if own is not None:
            value, origin[name] = own, "project"
        elif glob is not None:
            value, origin[name] = glob, "global"
        else:
            value, origin[name] = None, "default"
        out[name] = value or None  # 0 means "no limit"
    out["downsample_bucket"] = out["downsample_bucket"] or DEFAULT_BUCKET
    return EffectivePolicy(**out, origin=origin)


def policy_global() -> RetentionPolicy:
    """The global default row (created by the migration; recreated if someone removed it)."""
    row = RetentionPolicy.objects.filter(project__isnull=True).first()
    if row is not None:
        return row
    try:
        with transaction.atomic():
            return RetentionPolicy.objects.create(project=None)
    except IntegrityError:
        return RetentionPolicy.objects.get(project__isnull=True)


def policy_effective(*, project_id: int) -> EffectivePolicy:
    rows = {
        r.project_id: r
        for r in RetentionPolicy.objects.filter(Q(project__isnull=True) | Q(project_id=project_id))
    }
    return policy_resolve(rows.get(None), rows.get(project_id))


def policies_effective(*, project_ids: Iterable[int]) -> dict[int, EffectivePolicy]:
    ids = list(project_ids)
    rows = {
        r.project_id: r
        for r in RetentionPolicy.objects.filter(Q(project__isnull=True) | Q(project_id__in=ids))
    }
    return {pid: policy_resolve(rows.get(None), rows.get(pid)) for pid in ids}


def policy_validate(values: dict[str, Any], *, project: bool) -> dict[str, int | None]:
    """Check a complete or partial set of policy fields. Returns the cleaned values.

    Each value is a whole number in POLICY_LIMITS or None (global: no limit; project: use the
    global value); on a project, 0 means "no limit here". Unknown fields are refused."""
    unknown = sorted(set(values) - set(POLICY_FIELDS))
    if unknown:
        raise ServiceError(f"unknown policy field: {unknown[0]}", field=unknown[0])
    out: dict[str, int | None] = {}
    for name, value in values.items():
        if value is None or value == "":
            out[name] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ServiceError(f"{name} must be a whole number or null", field=name)
        lo, hi = POLICY_LIMITS[name]
        if value == 0:
            if name == "downsample_bucket":
                raise ServiceError(f"{name} must be between {lo} and {hi}", field=name)
            out[name] = 0 if project else None
            continue
        if not lo <= value <= hi:
            raise ServiceError(f"{name} must be between {lo} and {hi}", field=name)
        out[name] = value
    return out


def policy_save(
    *, project: Project | None, values: dict[str, int | None], user: Any = None
) -> tuple[RetentionPolicy, dict[str, tuple[Any, Any]]]:
    """Write validated values (see `policy_validate`) to the global row or a project's override.

    Returns the row and the changes ({field: (old, new)}). The caller records the audit event."""
    if project is None:
        row = policy_global()
    else:
        row, _ = RetentionPolicy.objects.get_or_create(project=project)
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in values.items():
        old = getattr(row, name)
        if old != value:
            changes[name] = (old, value)
            setattr(row, name, value)
    if changes:
        row.updated_by = user if getattr(user, "pk", None) else None
        row.save()
    return row, changes


def parse_bytes(text: str) -> int | None:
    """'500MB', '2 GiB', '1.5T', '123' (bytes) → bytes; '' → None. Raises ValueError."""
    raw = text.strip().replace(" ", "").upper().removesuffix("B").removesuffix("I")
    if not raw:
        return None
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
    mult = 1
    if raw[-1] in units:
        mult = units[raw[-1]]
        raw = raw[:-1]
    value = float(raw)
    if value < 0 or not np.isfinite(value):
        raise ValueError(text)
    return int(value * mult)


# ---- accounting ---------------------------------------------------------------------------------


def storage_by_project(*, project_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Stored bytes per project and kind, plus "total".

    Sums `Series.stored_bytes` (the store's running count of what it wrote: scalars 16 bytes of
    step and wall time plus 4 or 8 of value per point, image bytes, histogram buckets, text,
    tensor protos) and the sizes of the graph blobs (graph-kind series are skipped so graphs are
    not counted twice). Two grouped queries; see docs/RETENTION.md#accounting for timings."""
    ids = list(project_ids)
    out = {pid: dict.fromkeys((*STORAGE_KINDS, "total"), 0) for pid in ids}
    if not ids:
        return out
    for row in (
        Series.objects.filter(run__source__project_id__in=ids)
        .exclude(kind=Kind.GRAPH)
        .values("kind", pid=F("run__source__project_id"))
        .annotate(b=Sum("stored_bytes"))
    ):
        out[row["pid"]][KIND_KEYS.get(row["kind"], "tensors")] += int(row["b"] or 0)
    for row in (
        GraphBlob.objects.filter(run__source__project_id__in=ids)
        .values(pid=F("run__source__project_id"))
        .annotate(b=Sum(Length("data")))
    ):
        out[row["pid"]]["graphs"] += int(row["b"] or 0)
    for per in out.values():
        per["total"] = sum(per[k] for k in STORAGE_KINDS)
    return out


def stored_bytes_annotation(project_ref: str = "pk") -> Any:
    """An expression for annotating projects with their stored bytes (same measure as
    `storage_by_project`), e.g. for admin lists: two correlated sums."""
    series = (
        Series.objects.filter(run__source__project_id=OuterRef(project_ref))
        .exclude(kind=Kind.GRAPH)
        .order_by()
        .values("run__source__project_id")
        .annotate(b=Sum("stored_bytes"))
        .values("b")
    )
    graphs = (
        GraphBlob.objects.filter(run__source__project_id=OuterRef(project_ref))
        .order_by()
        .values("run__source__project_id")
        .annotate(b=Sum(Length("data")))
        .values("b")
    )
    return Coalesce(Subquery(series), 0) + Coalesce(Subquery(graphs), 0)


def project_stored_bytes(*, project_id: int) -> int:
    return storage_by_project(project_ids=[project_id])[project_id]["total"]


def run_stored_bytes(*, run_ids: Iterable[int]) -> dict[int, int]:
    """Stored bytes per run (same measure as `storage_by_project`); runs without data are 0."""
    ids = list(run_ids)
    out = dict.fromkeys(ids, 0)
    if not ids:
        return out
    for i in range(0, len(ids), 5000):
        part = ids[i : i + 5000]
        for run_id, b in (
            Series.objects.filter(run_id__in=part)
            .exclude(kind=Kind.GRAPH)
            .values("run_id")
            .annotate(b=Sum("stored_bytes"))
            .values_list("run_id", "b")
        ):
            out[run_id] += int(b or 0)
        for run_id, b in (
            GraphBlob.objects.filter(run_id__in=part)
            .values("run_id")
            .annotate(b=Sum(Length("data")))
            .values_list("run_id", "b")
        ):
            out[run_id] += int(b or 0)
    return out


def runs_biggest(*, project_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The project's runs storing the most bytes: id, name, bytes (biggest first)."""
    ids = list(Run.objects.filter(source__project_id=project_id).values_list("id", flat=True))
    sizes = run_stored_bytes(run_ids=ids)
    top = sorted((i for i in ids if sizes[i]), key=lambda i: (-sizes[i], i))[:limit]
    names = dict(Run.objects.filter(pk__in=top).values_list("id", "name"))
    return [{"id": i, "name": names.get(i, ""), "bytes": sizes[i]} for i in top]


def run_tag_counts(*, run_id: int) -> dict[str, int]:
    """Tags of a run per storage kind (for the delete confirmation)."""
    out: dict[str, int] = {}
    for kind in Series.objects.filter(run_id=run_id).values_list("kind", flat=True):
        key = KIND_KEYS.get(kind, "graphs")
        out[key] = out.get(key, 0) + 1
    return out


def policy_overrides(*, project_ids: Iterable[int]) -> dict[int, RetentionPolicy]:
    """The override rows of these projects (projects without one are absent)."""
    return {
        r.project_id: r
        for r in RetentionPolicy.objects.filter(project_id__in=list(project_ids))
        if r.project_id is not None
    }


def project_storage(*, project_id: int) -> dict[str, Any]:
    """What the storage endpoint and page show: bytes by kind, runs, and the effective policy."""
    by_kind = storage_by_project(project_ids=[project_id])[project_id]
    runs = Run.objects.filter(source__project_id=project_id).aggregate(
        n=Count("id"), deleted=Count("id", filter=Q(data_deleted_at__isnull=False))
    )
    policy = policy_effective(project_id=project_id)
    total = by_kind["total"]
    return {
        "total_bytes": total,
        "by_kind": {k: by_kind[k] for k in STORAGE_KINDS},
        "runs": int(runs["n"] or 0),
        "runs_data_deleted": int(runs["deleted"] or 0),
        "policy": policy.as_dict(),
        "policy_origin": dict(policy.origin),
        "max_bytes": policy.max_bytes,
        "over_cap": bool(policy.max_bytes is not None and total > policy.max_bytes),
    }


# ---- outcomes -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Outcome:
    """What a pass did, or (in a plan) would do. Counts are complete; `dropped` lists the first
    LIST_LIMIT runs whose data went."""

    idle_runs: int = 0
    idle_bytes: int = 0
    image_series: int = 0
    images_removed: int = 0
    image_bytes: int = 0
    chunks: int = 0
    points_removed: int = 0
    scalar_bytes: int = 0
    cap_runs: int = 0
    cap_bytes: int = 0
    dropped: list[dict[str, Any]] = field(default_factory=list)
    exact: bool = True

    @property
    def bytes_freed(self) -> int:
        return self.idle_bytes + self.image_bytes + self.scalar_bytes + self.cap_bytes

    @property
    def changed(self) -> bool:
        return bool(self.idle_runs or self.images_removed or self.points_removed or self.cap_runs)

    def drop(self, *, run_id: int, name: str, reason: str, nbytes: int) -> None:
        if reason == DataDeletedReason.QUOTA:
            self.cap_runs += 1
            self.cap_bytes += nbytes
        else:
            self.idle_runs += 1
            self.idle_bytes += nbytes
        if len(self.dropped) < LIST_LIMIT:
            self.dropped.append({"id": run_id, "name": name, "reason": reason, "bytes": nbytes})

    def merge(self, other: Outcome) -> None:
        for f in fields(self):
            if f.name in ("dropped", "exact"):
                continue
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        room = LIST_LIMIT - len(self.dropped)
        if room > 0:
            self.dropped.extend(other.dropped[:room])
        self.exact = self.exact and other.exact

    def summary(self) -> dict[str, Any]:
        """Counts only: the structured log event, the audit details, the CLI's totals."""
        return {
            "runs_dropped_idle": self.idle_runs,
            "runs_dropped_cap": self.cap_runs,
            "image_series": self.image_series,
            "images_removed": self.images_removed,
            "chunks_downsampled": self.chunks,
            "points_removed": self.points_removed,
            "bytes_freed": self.bytes_freed,
            "bytes_freed_by_stage": {
                "idle": self.idle_bytes,
                "images": self.image_bytes,
                "downsample": self.scalar_bytes,
                "cap": self.cap_bytes,
            },
        }

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Outcome:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


# ---- candidates (shared by the dry run and enforcement) ----------------------------------------


def _activity() -> Coalesce:
    return Coalesce("updated_at", "created_at")


def _idle_candidates(
    project_id: int, policy: EffectivePolicy, now: datetime
) -> list[tuple[Run, int]]:
    """Runs idle for `idle_days` with stored data and their bytes, least recently updated
    first."""
    if policy.idle_days is None:
        return []
    cutoff = now - timedelta(days=policy.idle_days)
    runs = list(
        Run.objects.filter(
            source__project_id=project_id, data_deleted_at__isnull=True, pending=False
        )
        .annotate(activity=_activity())
        .filter(activity__lt=cutoff)
        .order_by("activity", "id")
        .only("id", "name", "updated_at", "created_at", "hidden")
    )
    sizes = run_stored_bytes(run_ids=[r.pk for r in runs])
    return [(r, sizes[r.pk]) for r in runs if sizes[r.pk] > 0]


def _idle_recheck(policy: EffectivePolicy, now: datetime) -> Callable[[Run], bool]:
    cutoff = now - timedelta(days=policy.idle_days or 0)

    def still_idle(run: Run) -> bool:
        activity = run.updated_at or run.created_at
        return not run.pending and activity is not None and activity < cutoff

    return still_idle


def _image_candidates(project_id: int, policy: EffectivePolicy) -> QuerySet[Series]:
    """Image series with more than `max_images_per_tag` events, in id order."""
    keep = policy.max_images_per_tag
    if keep is None:
        return Series.objects.none()
    events = (
        ImagePoint.objects.filter(series=OuterRef("pk"), index=0)
        .order_by()
        .values("series")
        .annotate(c=Count("id"))
        .values("c")
    )
    return (
        Series.objects.filter(
            run__source__project_id=project_id,
            run__data_deleted_at__isnull=True,
            kind=Kind.IMAGE,
            count__gt=keep,
        )
        .annotate(events=Subquery(events))
        .filter(events__gt=keep)
        .select_related("run")
        .order_by("id")
    )


def _image_excess(series_id: int, keep: int) -> QuerySet[ImagePoint]:
    """The image rows of a series beyond its `keep` newest events (by step, then load order).

    One event's samples have consecutive seqs starting at its index-0 row, so an event is named
    by `seq - index`."""
    newest = list(
        ImagePoint.objects.filter(series_id=series_id, index=0)
        .order_by("-step", "-seq")
        .values_list("seq", flat=True)[:keep]
    )
    return (
        ImagePoint.objects.filter(series_id=series_id)
        .annotate(event=F("seq") - F("index"))
        .exclude(event__in=newest)
    )


def _chunk_candidates(project_id: int, cutoff: float) -> QuerySet[ScalarChunk]:
    """Scalar chunks holding points older than `cutoff` (wall time) not reduced yet."""
    return (
        ScalarChunk.objects.filter(
            series__run__source__project_id=project_id,
            series__run__data_deleted_at__isnull=True,
            series__kind=Kind.SCALAR,
            min_wall__lt=cutoff,
        )
        .filter(
            Q(reduced_before__isnull=True)
            | Q(reduced_before__lt=cutoff, max_wall__gte=F("reduced_before"))
        )
        .order_by("series_id", "seq")
    )


def reduce_keep(
    walls: npt.NDArray[np.float64],
    values: npt.NDArray[np.floating],
    *,
    lo: float | None,
    hi: float,
    bucket: int,
) -> npt.NDArray[np.bool_]:
    """Which points of one chunk survive downsampling the window lo <= wall < hi.

    Points outside the window are all kept. The window's points, in load order, are split into
    buckets of `bucket` consecutive points, and each bucket keeps what
    `panels.downsample.minmax_indices(x, v, 4)` keeps of it: its first and last point and the
    first minimum and first maximum of the points between them (NaN is never a min or max).
    Buckets of at most 4 points are kept whole."""
    old = walls < hi
    if lo is not None:
        old &= walls >= lo
    keep = ~old
    idx = np.flatnonzero(old)
    m = len(idx)
    if m == 0 or bucket <= 4:
        keep[idx] = True
        return keep
    full = m // bucket
    if full:
        grid = idx[: full * bucket].reshape(full, bucket)
        inner = values[grid[:, 1:-1]].astype(np.float64, copy=False)
        lo_v = np.where(np.isnan(inner), np.inf, inner)
        hi_v = np.where(np.isnan(inner), -np.inf, inner)
        rows = np.arange(full)
        keep[grid[:, 0]] = True
        keep[grid[:, -1]] = True
        keep[grid[rows, 1 + np.argmin(lo_v, axis=1)]] = True
        keep[grid[rows, 1 + np.argmax(hi_v, axis=1)]] = True
    rest = idx[full * bucket :]
    if len(rest):
        picked = minmax_indices(walls[rest], values[rest], 4)
        keep[rest[picked]] = True
    return keep


def _point_bytes(values: npt.NDArray[np.floating]) -> int:
    """What the store counts per scalar point (ingest.store._append_scalars)."""
    return 16 + int(values.dtype.itemsize)


def _chunk_walls_values(
    chunk: ScalarChunk,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.floating]]:
    walls = np.frombuffer(bytes(chunk.wall_times), dtype="<f8")
    values = np.frombuffer(bytes(chunk.values), dtype="<" + chunk.dtype)
    return walls, values


def _cap_candidates(project_id: int, now: datetime, exclude: set[int]) -> list[Run]:
    """Runs the cap may empty, in the order it empties them: hidden runs first, then the least
    recently updated. Never a run with unread bytes or with events stored within the grace."""
    grace_end = now - cap_grace()
    return list(
        Run.objects.filter(
            source__project_id=project_id, data_deleted_at__isnull=True, pending=False
        )
        .exclude(pk__in=exclude)
        .annotate(activity=_activity())
        .filter(activity__lt=grace_end)
        .order_by("-hidden", "activity", "id")
        .only("id", "name", "updated_at", "created_at", "hidden")
    )


def _cap_recheck(now: datetime) -> Callable[[Run], bool]:
    grace_end = now - cap_grace()

    def still_eligible(run: Run) -> bool:
        activity = run.updated_at or run.created_at
        return not run.pending and activity is not None and activity < grace_end

    return still_eligible


# ---- changes (each under the run's row lock) -----------------------------------------------------


def _notify(run: Run, project_id: int, version: int) -> None:
    """Tell open dashboards to refetch the run (retention changed or removed its data)."""
    message = {
        "run_id": run.pk,
        "run": run.name,
        "version": version,
        "last_step": run.last_step,
        "kinds": {},
        "new_run": False,
        "new_tags": False,
        "purged": True,
        "graph": False,
    }
    transaction.on_commit(lambda: notice_send(project_id, message))


def run_data_drop(
    *,
    run_id: int,
    reason: str,
    now: datetime | None = None,
    only_if: Callable[[Run], bool] | None = None,
) -> int | None:
    """Delete a run's stored data and stop reading its files until a re-ingest.

    Deletes its series (with every point) and graphs, marks every file of the run DELETED (files
    that appear later are created DELETED by the listing), and records when and why. Returns the
    bytes freed, or None when nothing was done (already deleted, gone, or `only_if` refused the
    run as it is now, under the lock)."""
    now = now or timezone.now()
    with transaction.atomic():
        run = _run_lock(run_id)
        if run is None or (only_if is not None and not only_if(run)):
            return None
        freed = run_stored_bytes(run_ids=[run.pk])[run.pk]
        Series.objects.filter(run=run).delete()
        GraphBlob.objects.filter(run=run).delete()
        EventFile.objects.filter(run=run).update(state=FileState.DELETED, error="")
        Run.objects.filter(pk=run.pk).update(
            data_deleted_at=now,
            data_deleted_reason=reason,
            pending=False,
            hot_until=None,
            queued_at=None,
            version=F("version") + 1,
        )
        _notify(run, run.source.project_id, run.version + 1)
    log.info(
        "ingest.retention.run_dropped",
        extra={"run": run_id, "reason": reason, "bytes_freed": freed},
    )
    return freed


def _run_lock(run_id: int) -> Run | None:
    """Lock a run (like an ingest commit does) unless its data is gone meanwhile."""
    return (
        Run.objects.select_for_update(of=("self",))
        .select_related("source")
        .filter(pk=run_id, data_deleted_at__isnull=True)
        .first()
    )


def _trim_images(run_id: int, series_ids: list[int], keep: int) -> tuple[int, int, int]:
    """Keep the newest `keep` image events of some series of one run.

    Returns (series trimmed, images removed, bytes freed)."""
    with transaction.atomic():
        run = _run_lock(run_id)
        if run is None:
            return 0, 0, 0
        trimmed = removed = freed = 0
        for series_id in Series.objects.filter(pk__in=series_ids, run=run).values_list(
            "pk", flat=True
        ):
            excess = _image_excess(series_id, keep)
            agg = excess.aggregate(n=Count("id"), b=Sum("size"))
            n, nbytes = int(agg["n"] or 0), int(agg["b"] or 0)
            if n == 0:
                continue
            ImagePoint.objects.filter(pk__in=excess.values("pk")).delete()
            Series.objects.filter(pk=series_id).update(stored_bytes=F("stored_bytes") - nbytes)
            _recount_series([series_id])
            trimmed += 1
            removed += n
            freed += nbytes
        if trimmed:
            Run.objects.filter(pk=run.pk).update(version=F("version") + 1)
            _notify(run, run.source.project_id, run.version + 1)
    return trimmed, removed, freed


def _reduce_chunks(
    run_id: int, chunk_ids: list[int], cutoff: float, bucket: int
) -> tuple[int, int, int]:
    """Downsample some chunks of one run. Returns (chunks reduced, points removed, bytes)."""
    with transaction.atomic():
        run = _run_lock(run_id)
        if run is None:
            return 0, 0, 0
        # Re-checked under the lock: another pass may have reduced them meanwhile.
        chunks = list(
            ScalarChunk.objects.filter(
                pk__in=chunk_ids, series__run=run, series__kind=Kind.SCALAR, min_wall__lt=cutoff
            )
            .filter(
                Q(reduced_before__isnull=True)
                | Q(reduced_before__lt=cutoff, max_wall__gte=F("reduced_before"))
            )
            .order_by("series_id", "seq")
        )
        last_seq = dict(
            Series.objects.filter(pk__in={c.series_id for c in chunks}).values_list(
                "pk", "chunk_count"
            )
        )
        done = removed = nbytes = 0
        per_series: dict[int, list[int]] = {}
        for chunk in chunks:
            steps, walls, values = chunk_arrays(chunk)
            keep = reduce_keep(walls, values, lo=chunk.reduced_before, hi=cutoff, bucket=bucket)
            gone = int(len(keep) - keep.sum())
            if gone:
                _fill_chunk(chunk, steps[keep], walls[keep], values[keep])
            chunk.reduced_before = cutoff
            chunk.save()
            done += 1
            if gone:
                removed += gone
                nbytes += gone * _point_bytes(values)
                acc = per_series.setdefault(chunk.series_id, [0, 0, -1])
                acc[0] += gone
                acc[1] += gone * _point_bytes(values)
                if chunk.seq == last_seq[chunk.series_id] - 1:
                    acc[2] = chunk.count
        # Every chunk keeps its first and last point (each bucket keeps its own, newer points
        # stay) and no chunk disappears: the series' first/last step and chunk count stand.
        for series_id, (gone, freed, tail) in per_series.items():
            updates: dict[str, Any] = {
                "count": F("count") - gone,
                "stored_bytes": F("stored_bytes") - freed,
            }
            if tail >= 0:
                updates["tail_points"] = tail
            Series.objects.filter(pk=series_id).update(**updates)
        if removed:
            Run.objects.filter(pk=run.pk).update(version=F("version") + 1)
            _notify(run, run.source.project_id, run.version + 1)
    return done, removed, nbytes


# ---- the dry run -------------------------------------------------------------------------------


@dataclass(slots=True)
class Plan:
    """What enforcing a project's policy now would do (`project_plan`)."""

    project_id: int
    slug: str
    now: datetime
    policy: EffectivePolicy
    stored_bytes: int
    outcome: Outcome
    images: list[dict[str, Any]] = field(default_factory=list)
    downsample: list[dict[str, Any]] = field(default_factory=list)
    bytes_after: int = 0
    over_cap_after: bool = False

    def as_dict(self) -> dict[str, Any]:
        p = self.policy
        return {
            "project": self.slug,
            "now": self.now.isoformat(),
            "policy": p.as_dict(),
            "policy_origin": dict(p.origin),
            "idle_cutoff": (self.now - timedelta(days=p.idle_days)).isoformat()
            if p.idle_days
            else None,
            "downsample_cutoff": (self.now - timedelta(days=p.downsample_after_days)).isoformat()
            if p.downsample_after_days
            else None,
            "stored_bytes": self.stored_bytes,
            "bytes_after": self.bytes_after,
            "over_cap_after": self.over_cap_after,
            "exact": self.outcome.exact,
            "totals": self.outcome.summary(),
            "runs": list(self.outcome.dropped),
            "images": self.images[:LIST_LIMIT],
            "downsample": self.downsample[:LIST_LIMIT],
        }


def project_plan(
    *, project_id: int, now: datetime | None = None, max_chunks: int | None = None
) -> Plan:
    """The dry run: what `project_enforce_batch` would do, batch after batch, at `now`.

    Changes nothing. Exact unless `max_chunks` is given and more chunks than that need
    downsampling: the rest is then estimated from the chunks measured (`outcome.exact` False).
    """
    now = now or timezone.now()
    project = Project.objects.get(pk=project_id)
    policy = policy_effective(project_id=project_id)
    stored = project_stored_bytes(project_id=project_id)
    out = Outcome()
    plan = Plan(project_id, project.slug, now, policy, stored, out, bytes_after=stored)
    if not policy.active:
        plan.over_cap_after = False
        return plan
    freed_in_run: dict[int, int] = defaultdict(int)
    # 1. idle runs
    idle_ids: set[int] = set()
    for run, size in _idle_candidates(project_id, policy, now):
        out.drop(run_id=run.pk, name=run.name, reason=DataDeletedReason.RETENTION, nbytes=size)
        idle_ids.add(run.pk)
    # 2. images
    if policy.max_images_per_tag is not None:
        for series in _image_candidates(project_id, policy):
            if series.run_id in idle_ids:
                continue
            agg = _image_excess(series.pk, policy.max_images_per_tag).aggregate(
                n=Count("id"), b=Sum("size")
            )
            n, nbytes = int(agg["n"] or 0), int(agg["b"] or 0)
            out.image_series += 1
            out.images_removed += n
            out.image_bytes += nbytes
            freed_in_run[series.run_id] += nbytes
            plan.images.append(
                {
                    "run_id": series.run_id,
                    "run": series.run.name,
                    "tag": series.tag,
                    "images_removed": n,
                    "bytes": nbytes,
                }
            )
    # 3. downsampling
    if policy.downsample_after_days is not None:
        cutoff = (now - timedelta(days=policy.downsample_after_days)).timestamp()
        per_series: dict[int, dict[str, Any]] = {}
        measured_points = measured_removed = 0
        estimate_points = estimate_bytes = 0
        qs = _chunk_candidates(project_id, cutoff).exclude(series__run_id__in=idle_ids)
        rows = qs.values_list("id", "series_id", "count", "dtype")
        todo = list(rows)
        exact_ids = [r[0] for r in (todo if max_chunks is None else todo[:max_chunks])]
        names: dict[int, str] = {}
        run_of: dict[int, int] = {}
        for sid, tag, rid in Series.objects.filter(pk__in={r[1] for r in todo}).values_list(
            "pk", "tag", "run_id"
        ):
            names[sid], run_of[sid] = tag, rid
        run_names = dict(Run.objects.filter(pk__in=set(run_of.values())).values_list("pk", "name"))
        for chunk in (
            ScalarChunk.objects.filter(pk__in=exact_ids)
            .only("id", "series_id", "count", "dtype", "wall_times", "values", "reduced_before")
            .order_by("series_id", "seq")
            .iterator(chunk_size=100)
        ):
            walls, values = _chunk_walls_values(chunk)
            keep = reduce_keep(
                walls, values, lo=chunk.reduced_before, hi=cutoff, bucket=policy.downsample_bucket
            )
            gone = int(len(keep) - keep.sum())
            nbytes = gone * _point_bytes(values)
            measured_points += len(keep)
            measured_removed += gone
            out.chunks += 1
            out.points_removed += gone
            out.scalar_bytes += nbytes
            sid = chunk.series_id
            freed_in_run[run_of[sid]] += nbytes
            entry = per_series.setdefault(
                sid,
                {
                    "run_id": run_of[sid],
                    "run": run_names.get(run_of[sid], ""),
                    "tag": names.get(sid, ""),
                    "chunks": 0,
                    "points_removed": 0,
                    "bytes": 0,
                },
            )
            entry["chunks"] += 1
            entry["points_removed"] += gone
            entry["bytes"] += nbytes
        rest = todo[len(exact_ids) :]
        if rest:
            out.exact = False
            ratio = measured_removed / measured_points if measured_points else 0.0
            for _cid, sid, count, dtype in rest:
                gone = int(count * ratio)
                nbytes = gone * (16 + (4 if dtype == "f4" else 8))
                estimate_points += gone
                estimate_bytes += nbytes
                freed_in_run[run_of[sid]] += nbytes
            out.chunks += len(rest)
            out.points_removed += estimate_points
            out.scalar_bytes += estimate_bytes
        plan.downsample = [e for e in per_series.values() if e["points_removed"]]
    # 4. the cap
    projected = stored - out.bytes_freed
    if policy.max_bytes is not None and projected > policy.max_bytes:
        cands = _cap_candidates(project_id, now, idle_ids)
        cand_sizes = run_stored_bytes(run_ids=[r.pk for r in cands])
        for run in cands:
            if projected <= policy.max_bytes:
                break
            size = cand_sizes[run.pk] - freed_in_run.get(run.pk, 0)
            if size <= 0:
                continue
            out.drop(run_id=run.pk, name=run.name, reason=DataDeletedReason.QUOTA, nbytes=size)
            projected -= size
    plan.bytes_after = stored - out.bytes_freed
    plan.over_cap_after = bool(policy.max_bytes is not None and plan.bytes_after > policy.max_bytes)
    return plan


# ---- enforcement ---------------------------------------------------------------------------------


@dataclass(slots=True)
class BatchResult:
    outcome: Outcome
    more: bool


def project_enforce_batch(
    *, project_id: int, now: datetime | None = None, budget: int | None = None
) -> BatchResult:
    """Enforce a project's policy for at most `budget` units of work (one run dropped, one image
    series trimmed, one chunk downsampled). `more` says whether work remains: call again with
    the same `now` (the cutoffs stay put, so a pass always ends)."""
    now = now or timezone.now()
    left = budget if budget is not None else batch_budget()
    out = Outcome()
    if not Project.objects.filter(pk=project_id).exists():
        return BatchResult(out, False)
    policy = policy_effective(project_id=project_id)
    if not policy.active:
        return BatchResult(out, False)
    # 1. idle runs
    if policy.idle_days is not None:
        idle = _idle_candidates(project_id, policy, now)
        recheck = _idle_recheck(policy, now)
        for run, _size in idle[:left]:
            freed = run_data_drop(
                run_id=run.pk, reason=DataDeletedReason.RETENTION, now=now, only_if=recheck
            )
            if freed is not None:
                out.drop(
                    run_id=run.pk, name=run.name, reason=DataDeletedReason.RETENTION, nbytes=freed
                )
        if len(idle) > left:
            return BatchResult(out, True)
        left -= len(idle)
    # 2. images
    if policy.max_images_per_tag is not None:
        ids = list(_image_candidates(project_id, policy).values_list("id", "run_id")[: left + 1])
        by_run: dict[int, list[int]] = {}
        for sid, rid in ids[:left]:
            by_run.setdefault(rid, []).append(sid)
        for rid, sids in by_run.items():
            trimmed, removed, freed = _trim_images(rid, sids, policy.max_images_per_tag)
            out.image_series += trimmed
            out.images_removed += removed
            out.image_bytes += freed
        if len(ids) > left:
            return BatchResult(out, True)
        left -= len(ids)
    # 3. downsampling
    if policy.downsample_after_days is not None:
        cutoff = (now - timedelta(days=policy.downsample_after_days)).timestamp()
        rows = list(
            _chunk_candidates(project_id, cutoff).values_list("id", "series_id", "series__run_id")[
                : left + 1
            ]
        )
        groups: dict[int, list[int]] = {}
        for cid, _sid, rid in rows[:left]:
            groups.setdefault(rid, []).append(cid)
        for rid, cids in groups.items():
            done, removed, nbytes = _reduce_chunks(rid, cids, cutoff, policy.downsample_bucket)
            out.chunks += done
            out.points_removed += removed
            out.scalar_bytes += nbytes
        if len(rows) > left:
            return BatchResult(out, True)
        left -= len(rows)
    # 4. the cap, once everything above is done
    if policy.max_bytes is not None:
        total = project_stored_bytes(project_id=project_id)
        if total > policy.max_bytes:
            cands = _cap_candidates(project_id, now, set())
            sizes = run_stored_bytes(run_ids=[r.pk for r in cands])
            recheck = _cap_recheck(now)
            for run in cands:
                if total <= policy.max_bytes:
                    break
                if sizes[run.pk] <= 0:
                    continue
                if left <= 0:
                    return BatchResult(out, True)
                freed = run_data_drop(
                    run_id=run.pk, reason=DataDeletedReason.QUOTA, now=now, only_if=recheck
                )
                left -= 1
                if freed is not None:
                    out.drop(
                        run_id=run.pk, name=run.name, reason=DataDeletedReason.QUOTA, nbytes=freed
                    )
                    total -= freed
    return BatchResult(out, False)


def project_enforce_finish(
    *,
    project_id: int,
    outcome: Outcome,
    batches: int,
    complete: bool,
    via: str = "system",
    actor: Any = None,
) -> None:
    """Log what a project's pass did (structured: counts and bytes freed) and, if it changed
    anything or an operator asked for it, append it to the audit log."""
    from hub.models import AuditAction
    from hub.services import audit_record

    project = Project.objects.filter(pk=project_id).first()
    summary = outcome.summary()
    stored = project_stored_bytes(project_id=project_id) if project is not None else 0
    log.info(
        "ingest.retention.project",
        extra={
            "project": project_id,
            "slug": project.slug if project is not None else "",
            "batches": batches,
            "complete": complete,
            "stored_bytes": stored,
            **summary,
        },
    )
    if project is not None and (outcome.changed or via == "cli"):
        audit_record(
            actor=actor,
            action=AuditAction.RETENTION_RUN,
            project=project,
            target=project.slug,
            details={**summary, "batches": batches, "complete": complete, "stored_bytes": stored},
            via=via,
        )


def project_ids_with_policy() -> list[int]:
    """Projects whose effective policy limits anything."""
    ids = list(Project.objects.order_by("id").values_list("id", flat=True))
    return [pid for pid, p in policies_effective(project_ids=ids).items() if p.active]


class RetentionPass:
    """One enforcement pass over projects, one bounded batch per `step()`: what the CLI runs to
    completion and the embedded runner interleaves with ingest. (Celery runs one task per
    project batch instead: ingest.tasks.retention_project_task.)"""

    def __init__(
        self,
        *,
        project_ids: list[int] | None = None,
        now: datetime | None = None,
        budget: int | None = None,
        via: str = "system",
        actor: Any = None,
    ) -> None:
        self.now = now or timezone.now()
        self.budget = budget
        self.via = via
        self.actor = actor
        ids = project_ids if project_ids is not None else project_ids_with_policy()
        self.pending: deque[int] = deque(ids)
        self.results: dict[int, Outcome] = {}
        self.batches: dict[int, int] = defaultdict(int)

    def step(self) -> bool:
        """Run one batch; True while work remains."""
        if not self.pending:
            return False
        pid = self.pending[0]
        res = project_enforce_batch(project_id=pid, now=self.now, budget=self.budget)
        self.results.setdefault(pid, Outcome()).merge(res.outcome)
        self.batches[pid] += 1
        if not res.more or self.batches[pid] >= MAX_BATCHES:
            self.pending.popleft()
            project_enforce_finish(
                project_id=pid,
                outcome=self.results[pid],
                batches=self.batches[pid],
                complete=not res.more,
                via=self.via,
                actor=self.actor,
            )
        return bool(self.pending)

    def run(self) -> dict[int, Outcome]:
        while self.step():
            pass
        return self.results


def from_timestamp(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)
