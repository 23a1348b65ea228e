"""Thin Celery tasks (team mode): ids in, a service call, nothing else.

Retry policy: services never raise on storage errors (they become statuses with back-off); a
database outage raises, and the task retries with back-off until the database is back, so no
tick or tail is lost for good (the poller also re-queues pending runs on its own).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.core.cache import cache
from django.db import DatabaseError, InterfaceError

from ingest import services

log = logging.getLogger("ingest.tasks")

_DB_ERRORS = (DatabaseError, InterfaceError, ConnectionError)


def _close_broken_connections() -> None:
    from django.db import close_old_connections, connections

    for conn in connections.all():
        try:
            if conn.connection is not None and not conn.is_usable():
                conn.close()
        except Exception:
            conn.close()
    close_old_connections()


@shared_task(
    name="ingest.tail_run",
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=_DB_ERRORS,
    retry_backoff=1,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=None,
)
def tail_run_task(self: Any, run_id: int) -> dict[str, Any]:
    _close_broken_connections()
    res = services.run_tail(run_id=run_id)
    return {"run": run_id, "commits": res.commits, "records": res.records, "more": res.more}


@shared_task(
    name="ingest.list_source",
    bind=True,
    acks_late=True,
    autoretry_for=_DB_ERRORS,
    retry_backoff=1,
    retry_backoff_max=30,
    max_retries=20,
)
def list_source_task(self: Any, source_id: int) -> int:
    _close_broken_connections()
    return services.source_list(source_id=source_id)


@shared_task(name="ingest.poll", ignore_result=True, acks_late=False)
def poll_task() -> dict[str, int] | None:
    """The beat tick. A short cache lock keeps two ticks from running at once when a worker
    falls behind (ticks expire anyway, see CELERY_BEAT_SCHEDULE)."""
    _close_broken_connections()
    try:
        got = cache.add("tbhub:poll-lock", 1, timeout=10)
    except Exception:  # Redis restarting: poll anyway; leases keep tails exclusive
        got = True
    if not got:
        return None
    try:
        return services.poll_tick()
    finally:
        try:
            cache.delete("tbhub:poll-lock")
        except Exception:
            log.debug("poll lock release failed", exc_info=True)


# ---- retention (docs/RETENTION.md) --------------------------------------------------------------


@shared_task(name="ingest.retention", ignore_result=True, acks_late=False)
def retention_task() -> int:
    """The daily beat entry: one bounded-batch task per project whose policy limits anything.
    Every batch of one pass uses the same `now`, so the cutoffs stay put and the pass ends."""
    import time

    from ingest import retention

    _close_broken_connections()
    now = time.time()
    ids = retention.project_ids_with_policy()
    for project_id in ids:
        retention_project_task.delay(project_id, now)
    log.info("ingest.retention.start", extra={"projects": len(ids)})
    return len(ids)


@shared_task(
    name="ingest.retention_project",
    bind=True,
    acks_late=True,
    ignore_result=True,
    autoretry_for=_DB_ERRORS,
    retry_backoff=1,
    retry_backoff_max=60,
    max_retries=20,
)
def retention_project_task(
    self: Any,
    project_id: int,
    now: float,
    totals: dict[str, Any] | None = None,
    batches: int = 0,
) -> None:
    """One batch of a project's retention; re-enqueues itself while work remains, carrying the
    running totals, and logs/audits the pass when it ends. A retried batch is harmless: every
    unit of work re-checks its candidate under the run's lock."""
    from ingest import retention

    _close_broken_connections()
    res = retention.project_enforce_batch(project_id=project_id, now=retention.from_timestamp(now))
    outcome = retention.Outcome.from_dict(totals) if totals else retention.Outcome()
    outcome.merge(res.outcome)
    batches += 1
    log.info(
        "ingest.retention.batch",
        extra={"project": project_id, "batch": batches, "more": res.more, **res.outcome.summary()},
    )
    if res.more and batches < retention.MAX_BATCHES:
        retention_project_task.delay(project_id, now, outcome.to_dict(), batches)
        return
    retention.project_enforce_finish(
        project_id=project_id, outcome=outcome, batches=batches, complete=not res.more
    )
