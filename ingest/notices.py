"""Change notices: after each commit, a small message on the project's channel-layer group.

Documented in docs/ARCHITECTURE.md#notices. Only `ingest.services` calls `notice_send`, and only
from `transaction.on_commit`, so a browser never hears about data it cannot read yet. Message
schema (type "ingest.update"):

    {"type": "ingest.update", "project": <project id>, "run_id": <id>, "run": <name>,
     "version": <run version>, "last_step": <int|null>, "kinds": {"scalars": [tags], ...},
     "new_run": bool, "new_tags": bool, "purged": bool}
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from asgiref.sync import async_to_sync

log = logging.getLogger("ingest.notices")

# Set by the embedded runner: the in-memory channel layer lives on the server's event loop, and
# its queues are not thread-safe, so sends from the ingest thread are scheduled onto that loop.
SERVER_LOOP: asyncio.AbstractEventLoop | None = None
_local = threading.local()


def project_group(project_id: int) -> str:
    return f"project.{project_id}"


def notice_send(project_id: int, message: dict[str, Any]) -> None:
    """Best effort: a lost notice costs a browser one refresh after reconnect, never data."""
    from channels.layers import get_channel_layer

    layer = get_channel_layer()
    if layer is None:
        return
    payload = {"type": "ingest.update", "project": project_id, **message}
    group = project_group(project_id)
    try:
        if SERVER_LOOP is not None and SERVER_LOOP.is_running():
            fut = asyncio.run_coroutine_threadsafe(layer.group_send(group, payload), SERVER_LOOP)
            fut.result(timeout=5)
        else:
            async_to_sync(layer.group_send)(group, payload)
    except Exception:
        log.warning("ingest.notice.failed", extra={"project": project_id}, exc_info=True)
