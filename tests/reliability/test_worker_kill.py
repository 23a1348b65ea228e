"""SIGKILL a real `tbhub worker` in the middle of ingesting a large file, start another one, and
within 60 s at default settings (TBHUB_LEASE_SECONDS=30, TBHUB_READ_CHUNK_BYTES=16 MiB, ...) the
store holds exactly what `tbhub export` prints for the same files: every point, none doubled.

The workers and `tbhub beat` are real processes on Redis, against the pytest-django test
database. Two ways to die: the whole worker (main process and pool, like a lost machine), or only
the pool process running the task (Celery's WorkerLostError: the task is re-queued while the
dead process's lease still holds the run).

Reproduce: `.venv/bin/pytest tests/reliability/test_worker_kill.py -m faults -s`.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from hub.models import Project
from ingest.models import EventFile, Run, Source
from tests.ingest import writers
from tests.reliability.stack import HubProcesses, hub_env, pytest_db_url
from tests.reliability.support import (
    count_points,
    dump_diff,
    export_dump,
    store_dump,
    wait_for,
    write_big_scalar_file,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.faults,
    pytest.mark.slow,
    pytest.mark.timeout(400),
]

BIG = "events.out.tfevents.1700000000.big"


@pytest.fixture
def team(tmp_path: Path) -> Iterator[HubProcesses]:
    env = hub_env(database_url=pytest_db_url(), redis_url=settings.REDIS_URL, workdir=tmp_path)
    procs = HubProcesses(env, tmp_path)
    try:
        yield procs
    finally:
        procs.stop()


def everything_read(source: Source) -> bool:
    files = list(EventFile.objects.filter(run__source=source).values_list("offset", "size"))
    return bool(files) and all(offset == size for offset, size in files)


@pytest.mark.parametrize("victim", ["whole-worker", "pool-process"])
def test_sigkill_mid_file_then_restart(team: HubProcesses, tmp_path: Path, victim: str) -> None:
    logdir = tmp_path / "logs"
    steps = write_big_scalar_file(logdir / "big" / BIG, target_bytes=48 << 20)
    writers.write_tensorboardx(logdir / "mixed", steps=40)  # histograms, images, text too
    project = Project.objects.create(slug="kill", name="Kill")
    source = Source.objects.create(project=project, url=str(logdir))
    team.start_worker()
    team.start_beat()

    def mid_file() -> EventFile | None:
        ef = EventFile.objects.filter(run__source=source, name=BIG).first()
        return ef if ef is not None and 0 < ef.offset < ef.size else None

    wait_for(mid_file, 120, f"the first commit of the big file\n{team.tail('worker')}", 0.02)
    pids = team.pids("worker")
    if victim == "whole-worker":
        team.kill("worker", signal.SIGKILL)
    else:
        for pid in pids[1:]:  # the prefork pool's processes; the main process survives
            os.kill(pid, signal.SIGKILL)
    killed_at = time.monotonic()
    ef = EventFile.objects.get(run__source=source, name=BIG)
    assert 0 < ef.offset < ef.size, "the kill should land mid-file"
    offset_at_kill = ef.offset
    if victim == "whole-worker":
        team.start_worker(name="worker2")
    else:
        assert team.alive("worker"), team.tail("worker")

    wait_for(
        lambda: everything_read(source),
        60,
        f"every file read after the kill\n{team.tail('worker2' if victim == 'whole-worker' else 'worker')}",
        0.2,
    )
    recovered = time.monotonic() - killed_at
    got, want = store_dump(source.pk), export_dump(str(logdir))
    assert got == want, dump_diff(got, want)
    assert len(got[("scalar", "big", "metric/0")]) == steps
    assert count_points(got) == count_points(want)
    run = Run.objects.get(source=source, name="big")
    assert not run.pending
    print(
        f"{victim}: killed at byte {offset_at_kill:,} of {ef.size:,}; "
        f"everything stored {recovered:.1f} s after the kill "
        f"({count_points(got):,} points, equal to the export)"
    )
    assert recovered < 60
