"""Files that change under the reader: appended while being read, rewritten shorter under the
same name, a run directory that disappears (and comes back) — on a local disk and on S3 (moto).
Each gives a clear status on the file or run, never an exception, and keeps every point already
stored. Ingest runs in this process (`ingest.services`, as a worker would run it).

Reproduce: `.venv/bin/pytest tests/reliability/test_file_faults.py` (docs/RELIABILITY.md).
"""

from __future__ import annotations

import random
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hub.crypto import credentials_encrypt
from hub.models import Project
from ingest import dispatch, services
from ingest.models import EventFile, FileState, Run, Source
from tests.reliability.support import (
    dump_diff,
    export_dump,
    frame,
    ingest_all,
    scalar_records,
    store_dump,
    version_payload,
)

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS = "events.out.tfevents.1700000000.host"
CREDS = {"key": "testing", "secret": "testing"}


class Local:
    """A local log directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.url = str(root)

    def write(self, run: str, data: bytes) -> None:
        (self.root / run).mkdir(parents=True, exist_ok=True)
        (self.root / run / EVENTS).write_bytes(data)

    def remove_run(self, run: str) -> None:
        shutil.rmtree(self.root / run)

    def source(self, project: Project) -> Source:
        return Source.objects.create(project=project, url=self.url)

    def export(self) -> Any:
        return export_dump(self.url)


class Bucket:
    """The same on moto's S3 (objects are rewritten whole: that is how S3 "appends")."""

    def __init__(self, s3: Any, endpoint: str, name: str) -> None:
        self.s3, self.endpoint, self.name = s3, endpoint, name
        s3.create_bucket(Bucket=name)
        self.url = f"s3://{name}/logs"

    def write(self, run: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.name, Key=f"logs/{run}/{EVENTS}", Body=data)

    def remove_run(self, run: str) -> None:
        self.s3.delete_object(Bucket=self.name, Key=f"logs/{run}/{EVENTS}")

    def source(self, project: Project) -> Source:
        return Source.objects.create(
            project=project,
            url=self.url,
            options={"endpoint_url": self.endpoint},
            credentials_encrypted=credentials_encrypt(CREDS),
        )

    def export(self) -> Any:
        return export_dump(
            self.url, options={"endpoint_url": self.endpoint}, credentials=CREDS, from_env=False
        )


@pytest.fixture(params=["local", "s3"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "local":
        return Local(tmp_path / "logs")
    s3 = request.getfixturevalue("s3")
    endpoint = request.getfixturevalue("moto_server")
    request.getfixturevalue("settings").TBHUB_ALLOWED_ENDPOINTS = [endpoint]
    return Bucket(s3, endpoint, f"ff-{time.monotonic_ns() % 10**9}")


@pytest.fixture
def project(db: Any) -> Project:
    return Project.objects.create(slug="ff", name="File faults")


def records(start: int, stop: int) -> bytes:
    return scalar_records(["loss", "acc"], range(start, stop))


def head() -> bytes:
    return frame(version_payload())


def assert_equal_to_export(source: Source, where: Any) -> None:
    got, want = store_dump(source.pk), where.export()
    assert got == want, dump_diff(got, want)


# ---- a writer appending while the file is read ----------------------------------------------------


def test_appends_while_reading_store_every_point_once(where: Any, project: Project) -> None:
    """The writer flushes pieces of random length (records cut anywhere) while listings and
    tails run in a loop; at the end every point is stored exactly once."""
    rng = random.Random(7)
    full = head() + records(0, 600)
    written = [0]
    done = threading.Event()

    def writer() -> None:
        while written[0] < len(full):
            written[0] = min(len(full), written[0] + rng.randint(1, 900))
            where.write("r", full[: written[0]])
            time.sleep(rng.uniform(0.0, 0.02))
        done.set()

    where.write("r", full[:1])
    source = where.source(project)
    t = threading.Thread(target=writer, daemon=True)
    t.start()
    reads = 0
    while not done.is_set():
        ingest_all(source.pk)
        reads += 1
    t.join()
    ingest_all(source.pk)
    ingest_all(source.pk)
    assert reads > 3, "the reader should have run while the writer wrote"
    ef = EventFile.objects.get(run__source=source)
    assert (ef.state, ef.offset, ef.size) == (FileState.OK, len(full), len(full))
    assert_equal_to_export(source, where)
    assert [p[0] for p in store_dump(source.pk)[("scalar", "r", "loss")]] == list(range(600))


# ---- a file rewritten shorter under the same name --------------------------------------------------


def test_file_rewritten_shorter_keeps_data_and_says_so(where: Any, project: Project) -> None:
    where.write("r", head() + records(0, 100))
    source = where.source(project)
    ingest_all(source.pk)
    before = store_dump(source.pk)
    old_offset = EventFile.objects.get(run__source=source).offset
    where.write("r", head() + records(1000, 1010))  # a new writer, same file name, shorter
    ingest_all(source.pk)
    ef = EventFile.objects.get(run__source=source)
    assert ef.state == FileState.ERROR
    assert ef.error.startswith(f"file shrank to {ef.size} bytes below the {old_offset} already")
    assert "re-ingest the run to start over" in ef.error
    assert store_dump(source.pk) == before  # stored data kept, nothing mixed in
    runs = services.source_list(source_id=source.pk)
    assert runs == 0  # nothing to read: no retry loop
    source.refresh_from_db()
    assert source.status == "ok"  # one file's trouble, not the source's
    # Re-ingest (what the message suggests) reads the new content from byte 0.
    services.run_reingest(run_id=Run.objects.get(source=source).pk)
    ingest_all(source.pk)
    assert_equal_to_export(source, where)
    assert [p[0] for p in store_dump(source.pk)[("scalar", "r", "loss")]] == list(range(1000, 1010))


def test_rewritten_file_growing_past_the_old_offset_never_crashes(
    where: Any, project: Project
) -> None:
    """Documented behaviour: reading resumes at the old offset if the rewritten file grows
    past it. Those bytes are mid-record in the new file: the framing resyncs at the next good
    record and says how many bytes it skipped; nothing crashes and old data stay."""
    where.write("r", head() + records(0, 100))
    source = where.source(project)
    ingest_all(source.pk)
    old = store_dump(source.pk)
    where.write("r", head() + records(1000, 1010))
    ingest_all(source.pk)
    where.write("r", head() + records(1000, 1300))
    ingest_all(source.pk)
    ef = EventFile.objects.get(run__source=source)
    assert ef.state in (FileState.OK, FileState.CORRUPT)
    assert ef.offset == ef.size
    if ef.state == FileState.CORRUPT:
        assert ef.error.startswith("at byte ")
    got = store_dump(source.pk)
    for key, items in old.items():
        assert got[key][: len(items)] == items


# ---- a run directory that disappears ---------------------------------------------------------------


def test_run_directory_disappearing_and_coming_back(where: Any, project: Project) -> None:
    where.write("gone", head() + records(0, 30))
    where.write("stays", head() + records(0, 30))
    source = where.source(project)
    ingest_all(source.pk)
    where.remove_run("gone")
    ingest_all(source.pk)
    run = Run.objects.get(source=source, name="gone")
    assert run.missing
    ef = EventFile.objects.get(run=run)
    assert (ef.state, ef.error) == (FileState.MISSING, "run directory no longer listed")
    source.refresh_from_db()
    assert (source.status, source.status_message) == ("ok", "1 runs, 1 event files")
    assert len(store_dump(source.pk)[("scalar", "gone", "loss")]) == 30  # still served
    where.write("gone", head() + records(0, 50))  # back, and longer
    ingest_all(source.pk)
    run.refresh_from_db()
    assert not run.missing
    assert EventFile.objects.get(run=run).state == FileState.OK
    assert_equal_to_export(source, where)


def test_file_vanishing_between_listing_and_read(where: Any, project: Project) -> None:
    where.write("r", head() + records(0, 30))
    source = where.source(project)
    ingest_all(source.pk)
    where.write("r", head() + records(0, 60))
    dispatch.local_set(lambda kind, ident: None)
    try:
        services.source_list(source_id=source.pk)  # sees the growth
    finally:
        dispatch.local_set(None)
    where.remove_run("r")  # gone before the tail reads it
    result = services.run_tail(run_id=Run.objects.get(source=source).pk)
    assert result.error.endswith("not found")
    ef = EventFile.objects.get(run__source=source)
    assert ef.state == FileState.MISSING and ef.error.endswith("not found")
    source.refresh_from_db()
    assert source.status == "ok"  # a vanished file is not the source's trouble
    assert len(store_dump(source.pk)[("scalar", "r", "loss")]) == 30
