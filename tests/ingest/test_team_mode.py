"""Team mode for real: `tbhub worker` and `tbhub beat` processes on Redis, data in PostgreSQL,
change notices on the Redis channel layer."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import connection

from hub.models import Project
from ingest.models import EventFile, Run, Source
from ingest.notices import project_group
from panels import selectors
from tests.ingest.test_services import record, scalar_event, version_event

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

BIN = Path(sys.executable).parent


@pytest.fixture
def team_processes(tmp_path: Path) -> Iterator[None]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "tbhub.settings",
        "TBHUB_LOCAL_ROOTS": tempfile.gettempdir(),
        "TBHUB_LOG_LEVEL": os.environ.get("TBHUB_TEST_WORKER_LOG_LEVEL", "WARNING"),
    }
    worker = subprocess.Popen(
        [str(BIN / "tbhub"), "worker", "--concurrency", "2", "-n", f"w{os.getpid()}@%h"],
        env=env,
        cwd=tmp_path,
    )
    beat = subprocess.Popen([str(BIN / "tbhub"), "beat"], env=env, cwd=tmp_path)
    try:
        yield
    finally:
        for p in (beat, worker):
            p.terminate()
        for p in (beat, worker):
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def wait_for(pred, timeout: float, what: str) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def points(run: Run, tag: str) -> list[tuple[int, float]]:
    try:
        s = selectors.series_get(run=run, tag=tag, kind="scalar")
    except selectors.NotFound:
        return []
    d = selectors.scalar_series_read(series=s)
    return list(zip(d.steps.tolist(), d.values.tolist(), strict=True))


def test_workers_and_beat_ingest_live_and_notify(tmp_path: Path, team_processes: None) -> None:
    logdir = tmp_path / "logs"
    (logdir / "run1").mkdir(parents=True)
    path = logdir / "run1" / "events.out.tfevents.1.host"
    path.write_bytes(
        record(version_event())
        + b"".join(record(scalar_event("loss", i, float(i))) for i in range(100))
    )
    project = Project.objects.create(slug="team", name="Team")
    source = Source.objects.create(project=project, url=str(logdir))
    wait_for(lambda: Run.objects.filter(source=source).exists(), 30, "the run to be listed")
    run = Run.objects.get(source=source)
    wait_for(lambda: len(points(run, "loss")) == 100, 30, "the first 100 points")

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)(project_group(project.pk), channel)
    with path.open("ab") as fh:  # a writer flushing ten more points
        fh.write(b"".join(record(scalar_event("loss", i, float(i))) for i in range(100, 110)))
    wait_for(lambda: len(points(run, "loss")) == 110, 30, "the appended points")

    async def receive() -> dict:  # type: ignore[type-arg]
        while True:
            msg = await asyncio.wait_for(layer.receive(channel), 10)
            if msg.get("run_id") == run.pk:
                return msg

    msg = async_to_sync(receive)()
    assert msg["type"] == "ingest.update"
    assert msg["run"] == "run1"
    assert "loss" in msg["kinds"]["scalars"]
    assert points(run, "loss") == [(i, float(i)) for i in range(110)]
    ef = EventFile.objects.get(run=run)
    assert ef.offset == ef.size == path.stat().st_size
