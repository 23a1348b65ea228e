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

# Retention (docs/RETENTION.md): the first pass a few minutes after start, then daily. One
# bounded batch per loop turn, so ingest keeps going during a pass.
RETENTION_FIRST_SECONDS = 300.0
RETENTION_EVERY_SECONDS = 86400.0

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
        from django.db import connections

        try:
            self._loop()
        finally:
            connections.close_all()  # this thread's connections (the server keeps its own)

    def _loop(self) -> None:
        from django.db import close_old_connections

        from ingest import retention, services

        next_tick = 0.0
        next_retention = time.monotonic() + RETENTION_FIRST_SECONDS
        retention_pass: retention.RetentionPass | None = None
        while not self._stop_event.is_set():
            now = time.monotonic()
            if retention_pass is None and now >= next_retention:
                next_retention = now + RETENTION_EVERY_SECONDS
                try:
                    retention_pass = retention.RetentionPass()
                except Exception:
                    log.exception("embedded retention failed")
            if retention_pass is not None:
                try:
                    if not retention_pass.step():
                        retention_pass = None
                except Exception:
                    log.exception("embedded retention failed")
                    retention_pass = None
                finally:
                    close_old_connections()
            if now >= next_tick:
                try:
                    services.poll_tick()
                except Exception:
                    log.exception("embedded poll failed")
                next_tick = time.monotonic() + self.tick_seconds
            wait = 0.0 if retention_pass is not None else next_tick - time.monotonic()
            try:
                kind, ident = self._queue.get(timeout=max(0.01, wait))
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


def _migrations_fingerprint() -> str:
    """Identifies the schema: every migration file of every app, and Django's version."""
    import hashlib

    import django
    from django.apps import apps

    h = hashlib.sha256(django.get_version().encode())
    for config in sorted(apps.get_app_configs(), key=lambda c: c.label):
        mig_dir = os.path.join(config.path, "migrations")
        if not os.path.isdir(mig_dir):
            continue
        for name in sorted(os.listdir(mig_dir)):
            if name.endswith(".py"):
                h.update(f"{config.label}/{name}".encode())
                with open(os.path.join(mig_dir, name), "rb") as fh:
                    h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()[:16]


def _copy_template_database() -> bool:
    """A fresh store starts as a copy of an already migrated one (cached per schema under
    ~/.cache/tbhub), which saves most of `migrate`'s time at every `tbhub serve`. Returns False
    when the caller must migrate instead (persistent --db, or no usable cache)."""
    import shutil

    from django.core.management import call_command
    from django.db import connection

    db_path = str(connection.settings_dict["NAME"])
    if os.path.exists(db_path) and os.path.getsize(db_path) > 0:
        return False
    cache_dir = os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tbhub"
    )
    template = os.path.join(cache_dir, f"embedded-{_migrations_fingerprint()}.sqlite3")
    try:
        if not os.path.exists(template):
            os.makedirs(cache_dir, exist_ok=True)
            call_command("migrate", verbosity=0, interactive=False)
            connection.close()
            tmp = f"{template}.{os.getpid()}.tmp"
            with sqlite3_connect(db_path) as src, sqlite3_connect(tmp) as dst:
                src.backup(dst)
            os.replace(tmp, template)
            return True
        connection.close()
        shutil.copyfile(template, db_path)
        return True
    except OSError:
        log.debug("template database unavailable", exc_info=True)
        return os.path.exists(db_path) and os.path.getsize(db_path) > 0


def sqlite3_connect(path: str) -> Any:
    import sqlite3
    from contextlib import closing

    return closing(sqlite3.connect(path))


def prepare_database(logdir: str) -> int:
    """Migrate the SQLite store and make sure the local project reads `logdir`. Returns the
    project id."""
    from django.core.management import call_command

    from hub.models import Project
    from ingest.models import Source

    if not _copy_template_database():
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
