"""Ingest services: the only code that changes stored data. Tasks and the embedded runner call
these; they know nothing about Celery. Documented in docs/ARCHITECTURE.md#polling.

- `source_list`: one recursive listing of a source; creates runs and files, records sizes.
- `poll_tick`: what the beat tick does: due listings, cheap checks of hot runs, re-queues.
- `run_tail`: read every run file's new bytes in bounded chunks under a lease, committing data
  and offsets together.
"""

from __future__ import annotations

import logging
import random
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DataError, transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from ingest import dispatch, store
from ingest.events import decode
from ingest.models import EventFile, FileState, Run, Source, SourceStatus
from ingest.notices import notice_send
from ingest.semantics import resolve_purges
from ingest.sources import FileInfo, LogDir, SourceError, open_logdir

log = logging.getLogger("ingest.services")

READABLE_STATES = (FileState.OK, FileState.CORRUPT, FileState.ERROR)


def _readable_pending() -> Q:
    """Files with bytes we can still read: beyond the offset, and not just the same incomplete
    record we already stopped at."""
    return Q(state__in=READABLE_STATES, size__gt=F("offset")) & ~Q(size=F("stalled_size"))


class LeaseLost(Exception):
    """Another worker owns the run now (ours expired): abandon this transaction."""


@dataclass(slots=True)
class TailResult:
    run_id: int
    claimed: bool = False
    commits: int = 0
    bytes_read: int = 0
    records: int = 0
    more: bool = False
    error: str = ""


# ---- sources --------------------------------------------------------------------------------


def source_logdir(source: Source) -> LogDir:
    """Open a source with its own options and credentials. In team mode the server's ambient
    credentials (environment, instance role) are never lent to a user's source."""
    from hub.crypto import credentials_decrypt

    creds = credentials_decrypt(source.credentials_encrypted)
    embedded = getattr(settings, "TBHUB_MODE", "team") == "embedded"
    return open_logdir(
        source.url,
        options=dict(source.options or {}),
        credentials=creds,
        from_env=embedded,
        follow_symlinks=embedded,
        timeout=float(settings.TBHUB_STORAGE_TIMEOUT_SECONDS),
    )


def source_policy_error(source: Source) -> SourceError | None:
    """Team sources are re-checked against the current policy before every listing and tail, so
    narrowing TBHUB_LOCAL_ROOTS or TBHUB_ALLOWED_ENDPOINTS also stops ingest of existing ones."""
    if getattr(settings, "TBHUB_MODE", "team") == "embedded":
        return None
    from hub.policy import PolicyError, source_recheck

    try:
        source_recheck(url=source.url, options=dict(source.options or {}))
    except PolicyError as exc:
        return SourceError("invalid", f"{source.url}: refused by policy: {exc}")
    return None


def _list_interval(source: Source) -> float:
    return float(
        settings.TBHUB_LIST_SECONDS_REMOTE if source.is_remote else settings.TBHUB_LIST_SECONDS
    )


def _hot_interval(source: Source) -> float:
    return float(
        settings.TBHUB_HOT_POLL_SECONDS_REMOTE
        if source.is_remote
        else settings.TBHUB_HOT_POLL_SECONDS
    )


def _backoff(failures: int, base: float) -> float:
    return min(600.0, base * (2 ** min(failures, 8))) * (0.75 + random.random() / 2)


def _source_failed(source: Source, err: SourceError) -> None:
    failures = source.consecutive_failures + 1
    status = SourceStatus.DEGRADED if err.transient else SourceStatus.ERROR
    Source.objects.filter(pk=source.pk).update(
        status=status,
        status_message=err.message,
        consecutive_failures=failures,
        next_list_at=timezone.now() + timedelta(seconds=_backoff(failures, 2.0)),
    )
    log.warning(
        "ingest.source.error",
        extra={"source": source.pk, "kind": err.kind, "error": err.message},
    )


def _source_trouble(source: Source, err: SourceError) -> None:
    """A read or a hot-run check failed: show it on the source at once, and list the source
    again soon, so that the listing confirms the trouble (with its back-off) or clears it.
    Unlike a failed listing this does not count as a failure: one outage makes every hot run
    fail its check, which must not multiply the back-off. A file or run that is gone is not
    the source's trouble (its own status says so)."""
    if err.kind == "not_found":
        return
    status = SourceStatus.DEGRADED if err.transient else SourceStatus.ERROR
    soon = timezone.now() + timedelta(seconds=_backoff(source.consecutive_failures + 1, 2.0))
    Source.objects.filter(pk=source.pk).update(status=status, status_message=err.message)
    Source.objects.filter(pk=source.pk).filter(
        Q(next_list_at__isnull=True) | Q(next_list_at__gt=soon)
    ).update(next_list_at=soon)


def _source_ok(source: Source, message: str) -> None:
    now = timezone.now()
    Source.objects.filter(pk=source.pk).update(
        status=SourceStatus.OK,
        status_message=message,
        consecutive_failures=0,
        last_listed_at=now,
        next_list_at=now + timedelta(seconds=_list_interval(source)),
    )


def _listing_unchanged(infos: list[FileInfo], existing: dict[str, EventFile]) -> bool:
    """The listing shows exactly the files we know, with the same sizes, etags and times."""
    if len(infos) != len(existing):
        return False
    for info in infos:
        ef = existing.get(info.name)
        if (
            ef is None
            or ef.state == FileState.MISSING
            or ef.size != info.size
            or ef.etag != info.etag
            or ef.mtime != info.mtime
        ):
            return False
    return True


def _apply_file_infos(
    run: Run,
    infos: list[FileInfo],
    *,
    now: Any,
    complete: bool,
    existing: dict[str, EventFile] | None = None,
) -> tuple[bool, bool]:
    """Reconcile one run's EventFile rows with a listing. Returns (grew, pending).

    Files of a run whose stored data was deleted (owner or retention) stay DELETED, and new ones
    are created DELETED: nothing of such a run is read until an owner asks for a re-ingest."""
    if existing is None:
        existing = {f.name: f for f in EventFile.objects.filter(run=run)}
    deleted = run.data_deleted_at is not None
    grew = False
    seen: set[str] = set()
    new_rows: list[EventFile] = []
    for info in infos:
        seen.add(info.name)
        ef = existing.get(info.name)
        if ef is None:
            new_rows.append(
                EventFile(
                    run=run,
                    name=info.name,
                    size=info.size,
                    etag=info.etag,
                    mtime=info.mtime,
                    last_grown_at=now if info.size else None,
                    state=FileState.DELETED if deleted else FileState.OK,
                )
            )
            # A file seen for the first time makes its run hot only if it was written recently:
            # adding a source full of finished runs must not poll each of them every second.
            recent = info.mtime is None or (
                info.mtime > now.timestamp() - settings.TBHUB_HOT_WINDOW_SECONDS
            )
            grew = grew or (info.size > 0 and recent)
            continue
        changed: list[str] = []
        if info.size != ef.size:
            if info.size > ef.size:
                ef.last_grown_at = now
                changed.append("last_grown_at")
                grew = True
            ef.size = info.size
            changed.append("size")
        if info.etag != ef.etag or info.mtime != ef.mtime:
            ef.etag, ef.mtime = info.etag, info.mtime
            changed += ["etag", "mtime"]
        if ef.state == FileState.MISSING:
            ef.state, ef.error = FileState.OK, ""
            changed += ["state", "error"]
        if info.size < ef.offset and ef.state not in (FileState.ERROR, FileState.DELETED):
            ef.state = FileState.ERROR
            ef.error = (
                f"file shrank to {info.size} bytes below the {ef.offset} already read "
                "(rewritten in place?); stored data is kept, reading resumes if it grows past"
                " that offset; re-ingest the run to start over"
            )
            changed += ["state", "error"]
        if changed:
            ef.save(update_fields=sorted(set(changed)))
    if new_rows:
        EventFile.objects.bulk_create(new_rows, ignore_conflicts=True)
    if complete:
        gone = [f for name, f in existing.items() if name not in seen]
        for f in gone:
            if f.state not in (FileState.MISSING, FileState.DELETED):
                f.state = FileState.MISSING
                f.error = "no longer listed in the source"
                f.save(update_fields=["state", "error"])
    pending = EventFile.objects.filter(_readable_pending(), run=run).exists()
    return grew and not deleted, pending


def source_list(*, source_id: int) -> int:
    """List a whole source once; create runs and files; queue runs with unread bytes.

    Returns the number of runs queued. Never raises on storage errors: they become the source's
    status with a readable message and a back-off.
    """
    try:
        source = Source.objects.select_related("project").get(pk=source_id)
    except Source.DoesNotExist:
        return 0
    refused = source_policy_error(source)
    if refused is not None:
        _source_failed(source, refused)
        return 0
    try:
        logdir = source_logdir(source)
        infos = logdir.list_event_files()
    except SourceError as err:
        _source_failed(source, err)
        return 0
    except Exception as exc:  # credentials that cannot be decrypted, bad options, ...
        _source_failed(source, SourceError("error", f"{source.url}: {exc.__class__.__name__}"))
        log.exception("ingest.source.list_failed", extra={"source": source.pk})
        return 0
    now = timezone.now()
    by_run: dict[str, list[FileInfo]] = {}
    for info in infos:
        by_run.setdefault(info.run, []).append(info)
    runs = {r.name: r for r in Run.objects.filter(source=source)}
    new_runs = [Run(source=source, name=name) for name in by_run if name not in runs]
    if new_runs:
        Run.objects.bulk_create(new_runs, ignore_conflicts=True)
        runs = {r.name: r for r in Run.objects.filter(source=source)}
    # One query for every known file of the source; runs whose listing did not change since the
    # last one cost no further query (a large idle source is listed every few seconds).
    stored: dict[int, dict[str, EventFile]] = {}
    for ef in EventFile.objects.filter(run__source=source):
        stored.setdefault(ef.run_id, {})[ef.name] = ef
    queued = 0
    for name, run in runs.items():
        files = by_run.get(name)
        existing = stored.get(run.pk, {})
        if files is not None and not run.missing and _listing_unchanged(files, existing):
            if run.pending and _queue_if_idle(run.pk, now):
                queued += 1
            continue
        if files is None:
            if not run.missing:
                Run.objects.filter(pk=run.pk).update(missing=True)
                EventFile.objects.filter(run=run).exclude(
                    state__in=(FileState.MISSING, FileState.DELETED)
                ).update(state=FileState.MISSING, error="run directory no longer listed")
            continue
        grew, pending = _apply_file_infos(run, files, now=now, complete=True, existing=existing)
        updates: dict[str, Any] = {}
        if run.missing:
            updates["missing"] = False
        if grew:
            updates["hot_until"] = now + timedelta(seconds=settings.TBHUB_HOT_WINDOW_SECONDS)
            updates["next_check_at"] = now + timedelta(seconds=_hot_interval(source))
        if pending != run.pending:
            updates["pending"] = pending
        if updates:
            Run.objects.filter(pk=run.pk).update(**updates)
        if pending and _queue_if_idle(run.pk, now):
            queued += 1
    n_files = len(infos)
    message = f"{len(by_run)} runs, {n_files} event files"
    if logdir.skipped_names:
        message += (
            f"; {logdir.skipped_names} files or directories skipped: their names are not UTF-8"
        )
    _source_ok(source, message)
    if new_runs:
        notice_send(source.project_id, {"run_id": None, "new_run": True, "kinds": {}})
    return queued


def _queue_if_idle(run_id: int, now: Any) -> bool:
    """Queue a tail unless one is running (live lease) or was queued moments ago."""
    requeue_after = now - timedelta(seconds=settings.TBHUB_LEASE_SECONDS)
    n = (
        Run.objects.filter(pk=run_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=requeue_after))
        .update(queued_at=now)
    )
    if n:
        dispatch.tail_enqueue(run_id)
    return bool(n)


def run_check(
    *, run: Run, logdir: LogDir, now: Any, infos: list[FileInfo] | SourceError | None = None
) -> bool:
    """Cheap check of one hot run: one directory listing (one request on object stores), or the
    run's part of a listing the caller already made (`infos`, or the error it raised)."""
    if infos is None:
        try:
            infos = logdir.list_run(run.name)
        except SourceError as err:
            infos = err
    if isinstance(infos, SourceError):
        log.info("ingest.run.check_failed", extra={"run": run.pk, "error": infos.message})
        Run.objects.filter(pk=run.pk).update(
            next_check_at=now + timedelta(seconds=_backoff(1, 2.0))
        )
        _source_trouble(run.source, infos)
        return False
    grew, pending = _apply_file_infos(run, infos, now=now, complete=False)
    hot_interval = _hot_interval(run.source)
    updates: dict[str, Any] = {"next_check_at": now + timedelta(seconds=hot_interval)}
    if grew:
        updates["hot_until"] = now + timedelta(seconds=settings.TBHUB_HOT_WINDOW_SECONDS)
    if pending != run.pending:
        updates["pending"] = pending
    Run.objects.filter(pk=run.pk).update(**updates)
    if pending:
        return _queue_if_idle(run.pk, now)
    return False


# Object-store listings of hot runs run concurrently in this long-lived pool (I/O only: the
# database work stays on the polling thread, so the pool never opens database connections).
_listing_pool: ThreadPoolExecutor | None = None
# A source with at least this many hot runs is checked with one recursive listing of its prefix
# (one request per 1,000 keys) instead of one listing per run.
HOT_RUNS_PER_SOURCE_LISTING = 3


def _pool() -> ThreadPoolExecutor:
    global _listing_pool
    if _listing_pool is None:
        _listing_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="tbhub-list")
    return _listing_pool


def _hot_listings(runs: list[Run], logdirs: dict[int, LogDir]) -> dict[int, Any]:
    """List hot runs: per source, one recursive listing if it has several hot runs, else one
    listing per run. Returns run id -> list[FileInfo] | SourceError."""
    by_source: dict[int, list[Run]] = {}
    for r in runs:
        by_source.setdefault(r.source_id, []).append(r)

    def one_run(run: Run) -> tuple[list[int], Any]:
        try:
            return [run.pk], logdirs[run.source_id].list_run(run.name)
        except SourceError as err:
            return [run.pk], err

    def whole_source(group: list[Run]) -> tuple[list[int], Any]:
        try:
            return [r.pk for r in group], logdirs[group[0].source_id].list_event_files()
        except SourceError as err:
            return [r.pk for r in group], err

    jobs = []
    for group in by_source.values():
        if len(group) >= HOT_RUNS_PER_SOURCE_LISTING:
            jobs.append(_pool().submit(whole_source, group))
        else:
            jobs.extend(_pool().submit(one_run, r) for r in group)
    names = {r.pk: r.name for r in runs}
    out: dict[int, Any] = {}
    for job in jobs:
        ids, result = job.result()
        if isinstance(result, SourceError) or len(ids) == 1:
            for rid in ids:
                out[rid] = result
            continue
        wanted = {names[rid]: rid for rid in ids}
        per_run: dict[int, list[FileInfo]] = {rid: [] for rid in ids}
        for info in result:
            owner = wanted.get(info.run)
            if owner is not None:
                per_run[owner].append(info)
        out.update(per_run)
    return out


def poll_tick(*, max_seconds: float = 5.0) -> dict[str, int]:
    """One scheduler tick: due listings, hot-run checks, recovery of abandoned work."""
    now = timezone.now()
    started = time.monotonic()
    stats = {"listed": 0, "checked": 0, "queued": 0}
    for source_id in Source.objects.filter(
        Q(next_list_at__isnull=True) | Q(next_list_at__lte=now)
    ).values_list("id", flat=True)[:100]:
        # Push the next listing out first so a slow listing is not queued twice.
        Source.objects.filter(pk=source_id).update(next_list_at=now + timedelta(seconds=30))
        dispatch.list_enqueue(source_id)
        stats["listed"] += 1
    hot = list(
        Run.objects.select_related("source")
        .filter(hot_until__gt=now, missing=False, data_deleted_at__isnull=True)
        .filter(Q(next_check_at__isnull=True) | Q(next_check_at__lte=now))
        .order_by("next_check_at")[:500]
    )
    if hot:
        logdirs: dict[int, LogDir] = {}
        for r in hot:  # filesystems are created once per tick, on this thread
            if r.source_id not in logdirs:
                logdirs[r.source_id] = source_logdir(r.source)
        remote = [r for r in hot if r.source.is_remote]
        listed = _hot_listings(remote, logdirs) if remote else {}
        for r in hot:
            queued = run_check(run=r, logdir=logdirs[r.source_id], now=now, infos=listed.get(r.pk))
            stats["queued"] += int(queued)
            stats["checked"] += 1
        if time.monotonic() - started > max_seconds:
            return stats
    # Recovery: pending runs whose tail never started or whose worker died (lease expired).
    stale = now - timedelta(seconds=settings.TBHUB_LEASE_SECONDS)
    for run_id in (
        Run.objects.filter(pending=True)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .filter(Q(queued_at__isnull=True) | Q(queued_at__lt=stale))
        .values_list("id", flat=True)[:200]
    ):
        stats["queued"] += int(_queue_if_idle(run_id, now))
    return stats


# ---- tailing ----------------------------------------------------------------------------------


def lease_acquire(run_id: int) -> str | None:
    now = timezone.now()
    token = secrets.token_hex(16)
    n = (
        Run.objects.filter(pk=run_id)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(
            lease_token=token,
            lease_until=now + timedelta(seconds=settings.TBHUB_LEASE_SECONDS),
            queued_at=None,
        )
    )
    return token if n else None


def _lease_renew(run_id: int, token: str) -> None:
    # A run whose data was deleted meanwhile (owner, retention) loses its lease too: deleting
    # locks the run row, so this UPDATE runs either before it or after it, never beside it.
    n = Run.objects.filter(pk=run_id, lease_token=token, data_deleted_at__isnull=True).update(
        lease_until=timezone.now() + timedelta(seconds=settings.TBHUB_LEASE_SECONDS)
    )
    if not n:
        raise LeaseLost(f"lease on run {run_id} lost")


def lease_release(run_id: int, token: str) -> None:
    Run.objects.filter(pk=run_id, lease_token=token).update(lease_token="", lease_until=None)


def _notify(summary: store.CommitSummary) -> None:
    notice_send(
        summary.project_id,
        {
            "run_id": summary.run_id,
            "run": summary.run_name,
            "version": summary.version,
            "last_step": summary.last_step,
            "kinds": summary.tags,
            "new_run": False,
            "new_tags": summary.new_tags,
            "purged": summary.purged,
            "graph": summary.graph,
        },
    )


def run_tail(
    *,
    run_id: int,
    budget_seconds: float | None = None,
    on_commit_hook: Callable[[store.CommitSummary], None] | None = None,
) -> TailResult:
    """Read all new bytes of a run's files, in file-name order, one bounded chunk per commit.

    Exactly once: each commit stores the decoded data, the file's new offset and the run's
    loader state together, and only if our lease on the run is still valid.
    """
    result = TailResult(run_id=run_id)
    token = lease_acquire(run_id)
    if token is None:
        return result
    result.claimed = True
    budget = settings.TBHUB_TASK_BUDGET_SECONDS if budget_seconds is None else budget_seconds
    deadline = time.monotonic() + budget
    try:
        _tail_files(run_id, token, deadline, result, on_commit_hook)
    except LeaseLost:
        log.warning("ingest.run.lease_lost", extra={"run": run_id})
        return result
    finally:
        lease_release(run_id, token)
    if result.more:
        Run.objects.filter(pk=run_id).update(queued_at=timezone.now())
        dispatch.tail_enqueue(run_id)
    return result


def _tail_files(
    run_id: int,
    token: str,
    deadline: float,
    result: TailResult,
    hook: Callable[[store.CommitSummary], None] | None,
) -> None:
    try:
        run = Run.objects.select_related("source").get(pk=run_id)
    except Run.DoesNotExist:
        return
    source = run.source
    project_id = source.project_id
    if run.data_deleted_at is not None:
        # Deleted data stays deleted: a file that a racing listing set readable again is not.
        EventFile.objects.filter(run=run).exclude(state=FileState.DELETED).update(
            state=FileState.DELETED, error=""
        )
    refused = source_policy_error(source)
    if refused is not None:
        _source_failed(source, refused)
        return
    logdir = source_logdir(source)
    registry = store.registry_load(run)
    state = store.loader_state(run)
    chunk = int(settings.TBHUB_READ_CHUNK_BYTES)
    max_record = int(settings.TBHUB_MAX_RECORD_BYTES)
    files = list(EventFile.objects.filter(_readable_pending(), run=run).order_by("name"))
    prefix = logdir.root if run.name == "." else f"{logdir.root}/{run.name}"
    for ef in files:
        path = f"{prefix}/{ef.name}"
        window = chunk
        while ef.offset < ef.size:
            if time.monotonic() > deadline:
                result.more = True
                return
            want = min(window, ef.size - ef.offset)
            try:
                buf = logdir.read_range(path, ef.offset, ef.offset + want)
            except SourceError as err:
                _file_read_failed(ef, err)
                _source_trouble(source, err)
                result.error = err.message
                if err.transient:
                    result.more = False
                    Run.objects.filter(pk=run.pk).update(
                        queued_at=timezone.now() + timedelta(seconds=_backoff(1, 2.0))
                    )
                return
            result.bytes_read += len(buf)
            if not buf:
                break
            reached_end = ef.offset + len(buf) >= ef.size
            batch = decode(
                buf, base_offset=ef.offset, registry=registry, max_record_bytes=max_record
            )
            if batch.stop == "truncated" and batch.records == 0 and not batch.problems:
                need = batch.need_bytes
                if need and need > len(buf) and ef.offset + need <= ef.size and window < need:
                    window = min(need, max_record + 16)
                    continue  # read the whole big record in one window
                # The writer has not finished the record yet: wait for the file to grow.
                EventFile.objects.filter(pk=ef.pk).update(stalled_size=ef.size)
                break
            too_large = batch.stop == "too_large"
            if too_large:
                # Reported once, by _skip_too_large, not on every retry of the same record.
                batch.problems = [p for p in batch.problems if p.kind != "too_large"]
                if batch.records == 0 and not batch.problems:
                    if not _skip_too_large(ef, batch.skip_to, max_record):
                        break
                    continue
            purges = resolve_purges(batch, state)
            try:
                with transaction.atomic():
                    _lease_renew(run.pk, token)
                    locked = EventFile.objects.select_for_update().get(pk=ef.pk)
                    if locked.offset != ef.offset:
                        raise LeaseLost(f"file {ef.pk} moved under us")
                    locked.size = max(locked.size, ef.size)
                    summary = store.batch_commit(
                        run=run,
                        event_file=locked,
                        batch=batch,
                        registry=registry,
                        state=state,
                        purges=purges,
                        project_id=project_id,
                    )
                    transaction.on_commit(lambda s=summary: _notify(s))  # type: ignore[misc]
            except DataError as exc:
                # The database refuses this data for good (e.g. a NUL character in a tag):
                # retrying would fail forever, so the file stops here with the reason, and the
                # rest of the run goes on (a new tail: the loader state was rolled back).
                _file_unstorable(ef, exc)
                result.error = f"{ef.name}: data the database cannot store"
                result.more = True
                return
            registry.new.clear()
            ef.offset = locked.offset
            ef.records = locked.records
            result.commits += 1
            result.records += batch.records
            if hook is not None:
                hook(summary)
            window = chunk
            if too_large:
                if not _skip_too_large(ef, batch.skip_to, max_record):
                    break
                continue
            if batch.end_offset <= batch.start_offset:
                break  # no progress possible now (never spin on the same bytes)
            if batch.stop == "truncated" and reached_end:
                EventFile.objects.filter(pk=ef.pk).update(stalled_size=ef.size)
                break
    # One statement, so a listing that saw growth a moment ago is not overwritten.
    Run.objects.filter(pk=run_id).update(
        pending=Exists(EventFile.objects.filter(_readable_pending(), run_id=OuterRef("pk")))
    )


def _file_read_failed(ef: EventFile, err: SourceError) -> None:
    state = FileState.MISSING if err.kind == "not_found" else FileState.ERROR
    EventFile.objects.filter(pk=ef.pk).update(state=state, error=err.message)


def _file_unstorable(ef: EventFile, exc: DataError) -> None:
    reason = (str(exc).strip().splitlines() or [exc.__class__.__name__])[0][:300]
    EventFile.objects.filter(pk=ef.pk).update(
        state=FileState.STUCK,
        error=f"at byte {ef.offset}: the database cannot store this data ({reason}); "
        "reading stops here",
    )
    log.error("ingest.file.unstorable", extra={"file": ef.pk, "error": reason})


def _skip_too_large(ef: EventFile, skip_to: int | None, max_record: int) -> bool:
    """A record longer than the cap: skip it once the file is long enough, else park the file."""
    size_msg = "" if skip_to is None else f" ({skip_to - ef.offset - 16} bytes)"
    message = f"at byte {ef.offset}: record{size_msg} exceeds TBHUB_MAX_RECORD_BYTES={max_record}; "
    if skip_to is not None and skip_to <= ef.size:
        with transaction.atomic():
            n = EventFile.objects.filter(pk=ef.pk, offset=ef.offset).update(
                offset=skip_to,
                bad_records=F("bad_records") + 1,
                bytes_skipped=F("bytes_skipped") + (skip_to - ef.offset),
                state=FileState.CORRUPT,
                error=message + "skipped",
            )
        if n:
            ef.offset = skip_to
            return True
        return False
    EventFile.objects.filter(pk=ef.pk).update(
        state=FileState.STUCK, error=message + "reading stops here"
    )
    ef.size = ef.offset  # stop the loop for this file
    return False


def run_reingest(*, run_id: int) -> None:
    """Forget everything stored for a run and read its files again from byte 0 (this is also
    how deleted data comes back: it clears the run's "data deleted" mark)."""
    from ingest.models import GraphBlob, Series

    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        Series.objects.filter(run=run).delete()
        GraphBlob.objects.filter(run=run).delete()
        EventFile.objects.filter(run=run).update(
            offset=0, records=0, bad_records=0, bytes_skipped=0, state=FileState.OK, error=""
        )
        Run.objects.filter(pk=run_id).update(
            file_version=None,
            seen_session_start=False,
            most_recent_step=None,
            start_time=None,
            last_step=None,
            last_wall_time=None,
            version=F("version") + 1,
            pending=True,
            queued_at=None,
            data_deleted_at=None,
            data_deleted_reason="",
        )
    _queue_if_idle(run_id, timezone.now())
