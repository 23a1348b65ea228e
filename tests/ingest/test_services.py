"""Ingest services end to end on the real PostgreSQL: listing, tailing, exactly-once commits.

Event files are written at test time by real writers (tensorboardX, TensorBoard's own writer).
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test import override_settings

from hub.models import Project
from ingest import dispatch, services
from ingest.models import EventFile, FileState, Run, Series, Source
from panels import selectors
from tests.ingest.drive import ingest_all

pytestmark = pytest.mark.django_db(transaction=True)


# ---- helpers ------------------------------------------------------------------------------------


def write_scalars(logdir: Path, tag_values: dict[str, list[float]], start: int = 0) -> None:
    from tensorboardX import SummaryWriter

    w = SummaryWriter(logdir=str(logdir), flush_secs=3600)
    n = max(len(v) for v in tag_values.values())
    for i in range(n):
        for tag, values in tag_values.items():
            if i < len(values):
                w.add_scalar(tag, values[i], start + i)
    w.close()


def make_source(url: str, **kw: Any) -> Source:
    project, _ = Project.objects.get_or_create(slug="p", defaults={"name": "P"})
    return Source.objects.create(project=project, url=url, **kw)


def scalars(source: Source, run: str, tag: str) -> list[tuple[int, float]]:
    r = Run.objects.get(source=source, name=run)
    s = selectors.series_get(run=r, tag=tag, kind="scalar")
    data = selectors.scalar_series_read(series=s)
    return list(zip(data.steps.tolist(), data.values.tolist(), strict=True))


def f32(xs: list[float]) -> list[float]:
    return [float(np.float32(x)) for x in xs]


def only_file(d: Path) -> Path:
    (f,) = [p for p in d.iterdir() if "tfevents" in p.name]
    return f


def record(payload: bytes) -> bytes:
    import google_crc32c

    def masked(b: bytes) -> int:
        c = google_crc32c.value(b)
        return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    header = struct.pack("<Q", len(payload))
    return header + struct.pack("<I", masked(header)) + payload + struct.pack("<I", masked(payload))


def scalar_event(tag: str, step: int, value: float, wall: float = 1.0) -> bytes:
    from tensorboard.compat.proto import event_pb2

    ev = event_pb2.Event(wall_time=wall, step=step)
    ev.summary.value.add(tag=tag, simple_value=value)
    return ev.SerializeToString()


def version_event() -> bytes:
    from tensorboard.compat.proto import event_pb2

    return event_pb2.Event(wall_time=1.0, file_version="brain.Event:2").SerializeToString()


def start_event(step: int) -> bytes:
    from tensorboard.compat.proto import event_pb2

    ev = event_pb2.Event(wall_time=2.0, step=step)
    ev.session_log.status = 1
    return ev.SerializeToString()


# ---- tests ------------------------------------------------------------------------------------


def test_local_source_lists_runs_and_stores_every_point(tmp_path: Path) -> None:
    values = [float(i) * 0.1 for i in range(3000)]
    write_scalars(tmp_path / "a", {"loss": values, "acc": values[:100]})
    write_scalars(tmp_path / "b" / "c", {"loss": values[:10]})
    source = make_source(str(tmp_path))
    ingest_all(source)
    assert sorted(Run.objects.filter(source=source).values_list("name", flat=True)) == ["a", "b/c"]
    assert scalars(source, "a", "loss") == list(zip(range(3000), f32(values), strict=True))
    assert scalars(source, "a", "acc") == list(zip(range(100), f32(values[:100]), strict=True))
    assert scalars(source, "b/c", "loss") == list(zip(range(10), f32(values[:10]), strict=True))
    source.refresh_from_db()
    assert source.status == "ok"
    assert source.status_message == "2 runs, 2 event files"
    ef = EventFile.objects.get(run__name="a")
    assert ef.offset == ef.size
    assert ef.records == 1 + 3000 + 100  # file_version + events


def test_growing_file_is_read_incrementally_without_duplicates(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    path = run / "events.out.tfevents.1.host"
    data = record(version_event()) + b"".join(
        record(scalar_event("x", i, float(i))) for i in range(50)
    )
    path.write_bytes(data)
    source = make_source(str(tmp_path))
    ingest_all(source)
    assert [s for s, _ in scalars(source, "r", "x")] == list(range(50))
    with path.open("ab") as fh:
        fh.write(b"".join(record(scalar_event("x", i, float(i))) for i in range(50, 80)))
    ingest_all(source)
    assert [s for s, _ in scalars(source, "r", "x")] == list(range(80))


def test_truncated_last_record_is_read_exactly_once_when_completed(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    path = run / "events.out.tfevents.1.host"
    head = record(version_event()) + record(scalar_event("x", 0, 1.0))
    last = record(scalar_event("x", 1, 2.0))
    source = make_source(str(tmp_path))
    for cut in (1, 8, 12, len(last) - 4, len(last) - 1):
        path.write_bytes(head + last[:cut])
        ingest_all(source)
        assert scalars(source, "r", "x") == [(0, 1.0)], cut
        ef = EventFile.objects.get(run__source=source)
        assert ef.offset == len(head)
    path.write_bytes(head + last)
    ingest_all(source)
    assert scalars(source, "r", "x") == [(0, 1.0), (1, 2.0)]
    ingest_all(source)
    assert scalars(source, "r", "x") == [(0, 1.0), (1, 2.0)]


def test_restart_purges_orphaned_steps_like_tensorboard(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    f1 = record(version_event()) + record(start_event(0))
    f1 += b"".join(record(scalar_event("x", i, float(i))) for i in range(10))
    (run / "events.out.tfevents.1.host").write_bytes(f1)
    f2 = record(version_event()) + record(start_event(6))
    f2 += b"".join(record(scalar_event("x", i, 100.0 + i)) for i in range(6, 9))
    (run / "events.out.tfevents.2.host").write_bytes(f2)
    source = make_source(str(tmp_path))
    ingest_all(source)
    got = scalars(source, "r", "x")
    assert got == [(i, float(i)) for i in range(6)] + [(i, 100.0 + i) for i in range(6, 9)]


def test_restart_across_separate_tails_purges_stored_chunks(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    f1 = record(version_event()) + record(start_event(0))
    f1 += b"".join(record(scalar_event("x", i, float(i))) for i in range(10))
    (run / "events.out.tfevents.1.host").write_bytes(f1)
    source = make_source(str(tmp_path))
    ingest_all(source)
    assert len(scalars(source, "r", "x")) == 10
    f2 = record(version_event()) + record(start_event(3))
    f2 += b"".join(record(scalar_event("x", i, -1.0)) for i in range(3, 5))
    (run / "events.out.tfevents.2.host").write_bytes(f2)
    ingest_all(source)
    assert scalars(source, "r", "x") == [(0, 0.0), (1, 1.0), (2, 2.0), (3, -1.0), (4, -1.0)]
    s = Series.objects.get(tag="x")
    assert s.count == 5
    assert s.last_step == 4


def _every_kind(step: int, value: float) -> list[bytes]:
    """One event of every stored kind at `step` (values depend on `value`)."""
    from tests.factories import PNG_1X1
    from tests.ingest import writers as w

    buckets = np.array([[0.0, 1.0, value], [1.0, 2.0, 3.0]])
    return [
        w.scalar_event("x", value, step).SerializeToString(),
        w.tensor_event("h", w.histogram_tensor(buckets), step, "histograms").SerializeToString(),
        w.tensor_event(
            "img", w.string_tensor([b"1", b"1", PNG_1X1], [3]), step, "images"
        ).SerializeToString(),
        w.tensor_event(
            "notes", w.string_tensor([f"note {value}".encode()], [1]), step, "text"
        ).SerializeToString(),
        w.tensor_event("pr", w.histogram_tensor(buckets), step, "pr_curves").SerializeToString(),
    ]


def test_restart_purges_free_their_stored_bytes(tmp_path: Path) -> None:
    """Storage accounting (retention caps, project pages) counts what a restart purged as freed:
    after the purge, every series is counted exactly as a fresh ingest of the surviving data."""
    restarted = tmp_path / "restarted" / "r"
    restarted.mkdir(parents=True)
    f1 = record(version_event()) + record(start_event(0))
    f1 += b"".join(record(e) for i in range(10) for e in _every_kind(i, float(i)))
    (restarted / "events.out.tfevents.1.host").write_bytes(f1)
    source = make_source(str(tmp_path / "restarted"))
    ingest_all(source)
    before = dict(Series.objects.filter(run__source=source).values_list("tag", "stored_bytes"))
    f2 = record(version_event()) + record(start_event(3))
    f2 += b"".join(record(e) for i in (3, 4) for e in _every_kind(i, -float(i)))
    (restarted / "events.out.tfevents.2.host").write_bytes(f2)
    ingest_all(source)
    assert [st for st, _ in scalars(source, "r", "x")] == [0, 1, 2, 3, 4]

    fresh = tmp_path / "fresh" / "r"
    fresh.mkdir(parents=True)
    data = record(version_event())
    data += b"".join(record(e) for i in range(3) for e in _every_kind(i, float(i)))
    data += b"".join(record(e) for i in (3, 4) for e in _every_kind(i, -float(i)))
    (fresh / "events.out.tfevents.1.host").write_bytes(data)
    other = Source.objects.create(project=source.project, url=str(tmp_path / "fresh"))
    ingest_all(other)

    def counted(src: Source) -> dict[str, int]:
        return dict(Series.objects.filter(run__source=src).values_list("tag", "stored_bytes"))

    got, want = counted(source), counted(other)
    assert set(got) == {"x", "h", "img", "notes", "pr"}
    assert got == want
    # Ten points of every kind were counted first; five remain.
    assert all(0 < got[t] < before[t] for t in got)
    assert got["x"] == 5 * (16 + 4)  # float32 simple_value: step, wall time, value


def test_corrupt_record_keeps_good_data_and_reports_on_the_file(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    good = [record(scalar_event("x", i, float(i))) for i in range(5)]
    bad = bytearray(record(scalar_event("x", 99, 99.0)))
    bad[-1] ^= 0xFF  # bad data CRC
    tail = [record(scalar_event("x", i, float(i))) for i in range(5, 8)]
    (run / "events.out.tfevents.1.host").write_bytes(
        record(version_event()) + b"".join(good) + bytes(bad) + b"".join(tail)
    )
    source = make_source(str(tmp_path))
    ingest_all(source)
    assert [s for s, _ in scalars(source, "r", "x")] == [0, 1, 2, 3, 4, 5, 6, 7]
    ef = EventFile.objects.get(run__source=source)
    assert ef.state == FileState.CORRUPT
    assert ef.bad_records == 1
    assert "CRC" in ef.error
    assert ef.offset == ef.size


def test_hostile_length_never_allocates_and_is_reported(tmp_path: Path) -> None:
    run = tmp_path / "r"
    run.mkdir()
    import google_crc32c

    header = struct.pack("<Q", 1 << 60)
    c = google_crc32c.value(header)
    hostile = header + struct.pack("<I", (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF)
    (run / "events.out.tfevents.1.host").write_bytes(
        record(version_event()) + record(scalar_event("x", 0, 1.0)) + hostile + b"\0" * 64
    )
    source = make_source(str(tmp_path))
    ingest_all(source)
    assert scalars(source, "r", "x") == [(0, 1.0)]
    ef = EventFile.objects.get(run__source=source)
    assert ef.state in (FileState.STUCK, FileState.CORRUPT)
    assert "TBHUB_MAX_RECORD_BYTES" in ef.error or "too large" in ef.error.lower()


def test_float64_scalars_are_kept(tmp_path: Path) -> None:
    from tensorboard.compat.proto import event_pb2, tensor_pb2

    run = tmp_path / "r"
    run.mkdir()
    recs = [record(version_event())]
    for i, v in enumerate([0.1, 1e300, -2.5]):
        ev = event_pb2.Event(wall_time=5.0, step=i)
        val = ev.summary.value.add(tag="d")
        val.metadata.plugin_data.plugin_name = "scalars"
        val.tensor.CopyFrom(tensor_pb2.TensorProto(dtype=2, double_val=[v]))
        recs.append(record(ev.SerializeToString()))
    (run / "events.out.tfevents.1.host").write_bytes(b"".join(recs))
    source = make_source(str(tmp_path))
    ingest_all(source)
    assert scalars(source, "r", "d") == [(0, 0.1), (1, 1e300), (2, -2.5)]
    assert Series.objects.get(tag="d").dtype == "float64"


def test_run_directory_disappearing_marks_run_missing(tmp_path: Path) -> None:
    write_scalars(tmp_path / "gone", {"x": [1.0, 2.0]})
    source = make_source(str(tmp_path))
    ingest_all(source)
    import shutil

    shutil.rmtree(tmp_path / "gone")
    ingest_all(source)
    run = Run.objects.get(name="gone")
    assert run.missing
    assert scalars(source, "gone", "x") == [(0, 1.0), (1, 2.0)]  # stored data is kept
    assert EventFile.objects.get(run=run).state == FileState.MISSING


def test_unreadable_source_becomes_a_status_not_a_crash(tmp_path: Path) -> None:
    source = make_source(str(tmp_path / "does-not-exist"))
    assert services.source_list(source_id=source.pk) == 0
    source.refresh_from_db()
    assert source.status == "error"
    assert "no such directory" in source.status_message
    assert source.consecutive_failures == 1
    assert source.next_list_at is not None


def test_poll_tick_lists_due_sources_and_queues_hot_runs(tmp_path: Path) -> None:
    write_scalars(tmp_path / "r", {"x": [1.0]})
    source = make_source(str(tmp_path))
    calls: list[tuple[str, int]] = []
    dispatch.local_set(lambda kind, ident: calls.append((kind, ident)))
    try:
        services.poll_tick()
        assert ("list", source.pk) in calls
        services.source_list(source_id=source.pk)
        run = Run.objects.get(name="r")
        assert ("tail", run.pk) in calls
        assert run.pending and run.hot_until is not None
        services.run_tail(run_id=run.pk)
        run.refresh_from_db()
        assert not run.pending
        calls.clear()
        # The file grows: the next check of the hot run sees it with one listing of the run dir.
        with only_file(tmp_path / "r").open("ab") as fh:
            fh.write(record(scalar_event("x", 1, 2.0)))
        Run.objects.filter(pk=run.pk).update(next_check_at=None)
        services.poll_tick()
        assert ("tail", run.pk) in calls
    finally:
        dispatch.local_set(None)


def test_lease_makes_one_worker_at_a_time_and_expires(tmp_path: Path) -> None:
    write_scalars(tmp_path / "r", {"x": [1.0, 2.0]})
    source = make_source(str(tmp_path))
    dispatch.local_set(lambda kind, ident: None)
    try:
        services.source_list(source_id=source.pk)
    finally:
        dispatch.local_set(None)
    run = Run.objects.get(name="r")
    token = services.lease_acquire(run.pk)
    assert token
    assert not services.run_tail(run_id=run.pk).claimed  # held by "another worker"
    with override_settings(TBHUB_LEASE_SECONDS=0.2):
        Run.objects.filter(pk=run.pk).update(
            lease_until=Run.objects.get(pk=run.pk).lease_until.replace(year=2000)
        )
        res = services.run_tail(run_id=run.pk)
    assert res.claimed
    assert scalars(source, "r", "x") == [(0, 1.0), (1, 2.0)]


def test_failure_inside_a_commit_rolls_back_data_and_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = [float(i) for i in range(2000)]
    write_scalars(tmp_path / "r", {"x": values})
    source = make_source(str(tmp_path))
    from ingest import store

    real = store.batch_commit
    calls = {"n": 0}

    def flaky(**kw: Any) -> Any:
        calls["n"] += 1
        out = real(**kw)
        if calls["n"] == 2:
            raise ConnectionError("worker dies after writing, before commit")
        return out

    monkeypatch.setattr(store, "batch_commit", flaky)
    with override_settings(TBHUB_READ_CHUNK_BYTES=4096):
        with pytest.raises(ConnectionError):
            ingest_all(source)
        monkeypatch.setattr(store, "batch_commit", real)
        Run.objects.update(lease_until=None, lease_token="")
        ingest_all(source)
    assert scalars(source, "r", "x") == list(zip(range(2000), values, strict=True))


@pytest.mark.slow
def test_worker_killed_mid_ingest_loses_and_doubles_nothing(tmp_path: Path) -> None:
    """SIGKILL a real worker process in the middle of a large file, then resume."""
    rng = np.random.default_rng(0)
    values = rng.standard_normal(60000).astype(np.float32).tolist()
    write_scalars(tmp_path / "big", {"a": values, "b": values})
    source = make_source(str(tmp_path))
    dispatch.local_set(lambda kind, ident: None)
    try:
        services.source_list(source_id=source.pk)
    finally:
        dispatch.local_set(None)
    run = Run.objects.get(name="big")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TBHUB_READ_CHUNK_BYTES": "65536",
        "DJANGO_SETTINGS_MODULE": "tbhub.settings",
        "TBHUB_LOCAL_ROOTS": tempfile.gettempdir(),
    }
    code = (
        "import django; django.setup();"
        "from ingest import services, dispatch;"
        "dispatch.local_set(lambda k, i: None);"
        f"services.run_tail(run_id={run.pk}, budget_seconds=600)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ef = EventFile.objects.get(run=run)
        if ef.offset > ef.size // 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ef = EventFile.objects.get(run=run)
    assert 0 < ef.offset < ef.size, "the kill should land mid-file"
    # The dead worker's lease expires; the next tail resumes from the committed offset.
    Run.objects.filter(pk=run.pk).update(lease_until=None)
    with override_settings(TBHUB_READ_CHUNK_BYTES=65536):
        while services.run_tail(run_id=run.pk, budget_seconds=60).more:
            pass
    expected = list(zip(range(60000), values, strict=True))
    assert scalars(source, "big", "a") == expected
    assert scalars(source, "big", "b") == expected


def test_runs_list_shape(tmp_path: Path) -> None:
    write_scalars(tmp_path / "r", {"loss/train": [1.0, 2.0]})
    source = make_source(str(tmp_path))
    ingest_all(source)
    (run,) = selectors.runs_list(project=source.project)
    assert run["name"] == "r"
    assert run["tags"]["scalars"] == ["loss/train"]
    assert run["graph"] is False
    assert run["status"]["files"] == 1
    assert run["status"]["bytes_read"] == run["status"]["bytes_total"]


def test_finished_runs_are_not_hot_and_hot_remote_runs_share_one_listing(tmp_path: Path) -> None:
    old = tmp_path / "old"
    write_scalars(old, {"x": [1.0]})
    past = time.time() - 7 * 86400
    os.utime(only_file(old), (past, past))
    write_scalars(tmp_path / "new", {"x": [1.0]})
    source = make_source(str(tmp_path))
    dispatch.local_set(lambda kind, ident: None)
    try:
        services.source_list(source_id=source.pk)
    finally:
        dispatch.local_set(None)
    assert Run.objects.get(name="old").hot_until is None  # a week-old file: not polled per run
    assert Run.objects.get(name="new").hot_until is not None
    assert Run.objects.get(name="old").pending  # but it is still read


def test_hot_listings_use_one_recursive_listing_for_many_runs(tmp_path: Path) -> None:
    for i in range(4):
        write_scalars(tmp_path / f"r{i}", {"x": [1.0]})
    source = make_source(str(tmp_path))
    runs = []
    for i in range(4):
        runs.append(Run.objects.create(source=source, name=f"r{i}"))
    calls = {"find": 0, "run": 0}

    class CountingLogDir:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def list_event_files(self) -> Any:
            calls["find"] += 1
            return self.inner.list_event_files()

        def list_run(self, name: str) -> Any:
            calls["run"] += 1
            return self.inner.list_run(name)

    from ingest.sources import open_logdir

    lds: dict[int, Any] = {source.pk: CountingLogDir(open_logdir(str(tmp_path)))}
    out = services._hot_listings(runs, lds)
    assert calls == {"find": 1, "run": 0}
    assert sorted(len(v) for v in out.values()) == [1, 1, 1, 1]
    out = services._hot_listings(runs[:2], lds)
    assert calls == {"find": 1, "run": 2}
