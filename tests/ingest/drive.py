"""Ingest in the test process, synchronously: what the workers do, without Celery."""

from __future__ import annotations

from ingest import dispatch, services
from ingest.models import Run, Source


def ingest_all(source: Source) -> None:
    """List the source, then tail every run until nothing is pending. Work the services would
    queue (the next tail, the next listing) is dropped: this loop does it instead."""
    dispatch.local_set(lambda kind, ident: None)
    try:
        services.source_list(source_id=source.pk)
        for run in Run.objects.filter(source=source):
            while services.run_tail(run_id=run.pk, budget_seconds=60).more:
                pass
    finally:
        dispatch.local_set(None)
