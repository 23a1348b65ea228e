"""`tbhub serve`: the whole hub in one process, like `tensorboard --logdir`.

One uvicorn server (HTTP + websockets) on the main asyncio loop, and one ingest thread that runs
the same services as the Celery workers (poll ticks, listings, tails) against SQLite. The
in-memory channel layer carries change notices from the ingest thread to websocket consumers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import signal
import sys
import threading
import time
from typing import Any

log = logging.getLogger("tbhub.embedded")

LOCAL_PROJECT_SLUG = "local"


class IngestRunner(threading.Thread):
    """The in-process worker: a tick every TBHUB_TICK_SECONDS, and a queue of tails/listings."""

    def __init__(self, tick_seconds: float) -> None:
        super().__init__(name="tbhub-ingest", daemon=True)
        self.tick_seconds = tick_seconds
        self._queue: queue.Queue[tuple[str, int]] = queue.Queue()
        self._queued: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self.idle = threading.Event()

    def put(self, kind: str, ident: int) -> None:
        with self._lock:
            if (kind, ident) in self._queued:
                return
            self._queued.add((kind, ident))
        self._queue.put((kind, ident))

    def stop(self) -> None:
        self._stop_event.set()
        self._queue.put(("stop", 0))

    def run(self) -> None:
        from django.db import close_old_connections

        from ingest import services

        next_tick = 0.0
        while not self._stop_event.is_set():
            now = time.monotonic()
            if now >= next_tick:
                try:
                    services.poll_tick()
                except Exception:
                    log.exception("embedded poll failed")
                next_tick = time.monotonic() + self.tick_seconds
            try:
                kind, ident = self._queue.get(timeout=max(0.01, next_tick - time.monotonic()))
            except queue.Empty:
                self.idle.set()
                continue
            with self._lock:
                self._queued.discard((kind, ident))
            if kind == "stop":
                break
            self.idle.clear()
            try:
                if kind == "list":
                    services.source_list(source_id=ident)
                elif kind == "tail":
                    services.run_tail(run_id=ident, budget_seconds=2.0)
            except Exception:
                log.exception("embedded %s %s failed", kind, ident)
            finally:
                close_old_connections()


def prepare_database(logdir: str) -> int:
    """Migrate the SQLite store and make sure the local project reads `logdir`. Returns the
    project id."""
    from django.core.management import call_command

    from hub.models import Project
    from ingest.models import Source

    call_command("migrate", verbosity=0, interactive=False)
    project, _ = Project.objects.get_or_create(
        slug=LOCAL_PROJECT_SLUG, defaults={"name": os.path.basename(logdir.rstrip("/")) or logdir}
    )
    source = Source.objects.filter(project=project).first()
    if source is None:
        Source.objects.create(project=project, url=logdir)
    elif source.url != logdir:
        # A persistent --db reused for another log directory: start that project over.
        Source.objects.filter(project=project).delete()
        Source.objects.create(project=project, url=logdir)
    return project.pk


def serve(logdir: str, host: str, port: int) -> int:
    """Run until interrupted. Django must already be configured for embedded mode."""
    import django

    django.setup()
    import uvicorn
    from django.conf import settings

    from ingest import dispatch, notices

    prepare_database(logdir)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into KeyboardInterrupt
    # lets the caller's cleanup (the temporary store) run instead of dying mid-way.
    install_signal_handlers()
    runner = IngestRunner(float(settings.TBHUB_TICK_SECONDS))
    dispatch.local_set(runner.put)

    from tbhub.asgi import application

    config = uvicorn.Config(
        application,
        host=host,
        port=port,
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws_ping_interval=20,
    )
    server = uvicorn.Server(config)

    async def main() -> None:
        notices.SERVER_LOOP = asyncio.get_running_loop()
        runner.start()
        await server.serve()

    def announce() -> None:
        for _ in range(200):
            if server.started:
                sys.stderr.write(
                    f"tbhub serving {logdir} at http://{host}:{port}/ (Press CTRL+C to quit)\n"
                )
                return
            time.sleep(0.05)

    threading.Thread(target=announce, daemon=True).start()
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
        notices.SERVER_LOOP = None
    return 0


def install_signal_handlers() -> None:
    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    signal.signal(signal.SIGINT, _term)
