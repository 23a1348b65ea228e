"""Where work goes: Celery queues in team mode, the in-process runner in embedded mode.

Services call these functions and never import Celery themselves, so the same services run under
`tbhub worker` and inside `tbhub serve`.
"""

from __future__ import annotations

from collections.abc import Callable

# Set by the embedded runner: a callable taking ("tail", run_id) or ("list", source_id).
_local: Callable[[str, int], None] | None = None


def local_set(handler: Callable[[str, int], None] | None) -> None:
    global _local
    _local = handler


def tail_enqueue(run_id: int) -> None:
    if _local is not None:
        _local("tail", run_id)
        return
    from ingest.tasks import tail_run_task

    tail_run_task.delay(run_id)


def list_enqueue(source_id: int) -> None:
    if _local is not None:
        _local("list", source_id)
        return
    from ingest.tasks import list_source_task

    list_source_task.delay(source_id)
