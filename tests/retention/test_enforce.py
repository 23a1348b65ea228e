"""Each policy on data ingested from real event files, the dry run against enforcement, bounded
batches, and deleted data staying deleted until a re-ingest."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hub.models import AuditEvent, Project
from hub.services import retention_policy_update
from ingest import retention, services
from ingest.models import (
    EventFile,
    FileState,
    ImagePoint,
    Kind,
    Run,
    ScalarChunk,
    Series,
)
from ingest.store import chunk_arrays
from panels import selectors
from tests.retention.helpers import (
    DAY,
    NOW,
    age,
    ingest_all,
    make_source,
    scalar_points,
    write_images,
    write_mixed,
    write_multi_images,
    write_scalars,
)
from tests.retention.test_policy import per_bucket_reference

pytestmark = pytest.mark.django_db(transaction=True)


def policy(project: Project | None = None, **values: Any) -> None:
    retention_policy_update(project=project, user=None, values=values, via="test")


def enforce(project: Project, *, now: Any = NOW, budget: int | None = None) -> retention.Outcome:
    return retention.RetentionPass(project_ids=[project.pk], now=now, budget=budget).run()[
        project.pk
    ]


def snapshot(project: Project) -> dict[str, Any]:
    """Everything retention could change, to prove a dry run changes nothing."""
    runs = Run.objects.filter(source__project=project)
    return {
        "runs": sorted(runs.values_list("id", "version", "data_deleted_at", "updated_at")),
        "files": sorted(
            EventFile.objects.filter(run__in=runs).values_list("id", "state", "offset")
        ),
        "series": sorted(
            Series.objects.filter(run__in=runs).values_list(
                "id", "count", "chunk_count", "tail_points", "stored_bytes"
            )
        ),
        "chunks": sorted(
            (c.pk, c.count, bytes(c.values), c.reduced_before)
            for c in ScalarChunk.objects.filter(series__run__in=runs)
        ),
        "images": ImagePoint.objects.filter(series__run__in=runs).count(),
    }


# ---- (1) idle runs ---------------------------------------------------------------------------


def test_idle_runs_lose_their_data_and_only_they(tmp_path: Path) -> None:
    for name in ("old", "recent", "fresh"):
        write_mixed(tmp_path / name)
    source = make_source(str(tmp_path))
    ingest_all(source)
    project = source.project
    runs = {r.name: r for r in Run.objects.filter(source=source)}
    age(runs["old"], 40)
    age(runs["recent"], 10)
    old_bytes = retention.run_stored_bytes(run_ids=[runs["old"].pk])[runs["old"].pk]
    assert old_bytes > 0
    policy(idle_days=30)

    before = snapshot(project)
    plan = retention.project_plan(project_id=project.pk, now=NOW)
    assert snapshot(project) == before  # the dry run changes nothing
    assert plan.outcome.dropped == [
        {"id": runs["old"].pk, "name": "old", "reason": "retention", "bytes": old_bytes}
    ]

    out = enforce(project)
    assert out.summary() == plan.outcome.summary()
    assert out.dropped == plan.outcome.dropped
    old = Run.objects.get(pk=runs["old"].pk)
    assert old.data_deleted_at is not None
    assert old.data_deleted_reason == "retention"
    assert not Series.objects.filter(run=old).exists()
    assert set(EventFile.objects.filter(run=old).values_list("state", flat=True)) == {"deleted"}
    for name in ("recent", "fresh"):
        assert Series.objects.filter(run=runs[name], count__gt=0).count() == 4
    stored = retention.project_stored_bytes(project_id=project.pk)
    assert stored == plan.bytes_after
    event = AuditEvent.objects.get(action="retention.run")
    assert event.project_id == project.pk
    assert event.details["runs_dropped_idle"] == 1
    assert event.details["bytes_freed"] == old_bytes
    # A second pass finds nothing to do and records nothing.
    assert not enforce(project).changed
    assert AuditEvent.objects.filter(action="retention.run").count() == 1


def test_runs_with_unread_bytes_are_not_idle(tmp_path: Path) -> None:
    write_mixed(tmp_path / "a")
    source = make_source(str(tmp_path))
    ingest_all(source)
    run = Run.objects.get(source=source)
    age(run, 100)
    Run.objects.filter(pk=run.pk).update(pending=True)
    policy(idle_days=30)
    assert not retention.project_plan(project_id=source.project_id, now=NOW).outcome.changed
    assert not enforce(source.project).changed


# ---- deleted data stays deleted -----------------------------------------------------------------


def test_deleted_data_stays_deleted_until_a_reingest(tmp_path: Path) -> None:
    from tests.ingest.writers import records, scalar_event

    rundir = tmp_path / "src" / "r"
    write_scalars(rundir, "loss", range(50), [NOW.timestamp()] * 50)
    source = make_source(str(tmp_path / "src"))
    ingest_all(source)
    run = Run.objects.get(source=source)
    version = run.version
    assert retention.run_data_drop(run_id=run.pk, reason="owner") > 0
    assert retention.run_data_drop(run_id=run.pk, reason="owner") is None  # once
    run.refresh_from_db()
    assert run.version == version + 1
    assert run.data_deleted_reason == "owner"

    # The existing file grows, a new file appears: listings, polls and tails read none of it.
    (first,) = EventFile.objects.filter(run=run)
    with open(rundir / first.name, "ab") as fh:
        fh.write(records(scalar_event("loss", 1.0, 50 + i) for i in range(20)))
    write_scalars(rundir, "acc", range(10), [NOW.timestamp()] * 10)
    for _ in range(2):
        ingest_all(source)
        assert services.poll_tick()["queued"] == 0
    run.refresh_from_db()
    files = list(EventFile.objects.filter(run=run))
    assert len(files) == 2
    assert {f.state for f in files} == {FileState.DELETED}
    assert not run.pending
    assert not Series.objects.filter(run=run).exists()
    res = services.run_tail(run_id=run.pk, budget_seconds=5)
    assert res.commits == 0 and res.bytes_read == 0

    # The run directory disappears and comes back: still deleted.
    rundir.rename(tmp_path / "away")
    ingest_all(source)
    assert Run.objects.get(pk=run.pk).missing
    (tmp_path / "away").rename(rundir)
    ingest_all(source)
    assert set(EventFile.objects.filter(run=run).values_list("state", flat=True)) == {"deleted"}
    assert not Series.objects.filter(run=run).exists()

    # The run stays listed, marked, without tags; it costs nothing in lag.
    (listed,) = selectors.runs_list(project=source.project)
    assert listed["data_deleted"]["reason"] == "owner"
    assert listed["tags"]["scalars"] == []
    assert listed["status"]["error"] == ""
    from hub.selectors import project_summaries, run_status_list

    assert (
        project_summaries(project_ids=[source.project_id])[source.project_id]["bytes_behind"] == 0
    )
    (status,) = run_status_list(project=source.project)
    assert status["lag_bytes"] == 0 and status["data_deleted_reason"] == "owner"

    # A re-ingest (an owner's request) reads everything again, the new bytes included.
    services.run_reingest(run_id=run.pk)
    ingest_all(source)
    run.refresh_from_db()
    assert run.data_deleted_at is None and run.data_deleted_reason == ""
    steps, _, _ = scalar_points(run, "loss")
    assert steps.tolist() == list(range(70))
    assert scalar_points(run, "acc")[0].tolist() == list(range(10))


def test_a_tail_racing_a_deletion_stores_nothing(tmp_path: Path) -> None:
    write_scalars(tmp_path / "r", "loss", range(10), [NOW.timestamp()] * 10)
    source = make_source(str(tmp_path))
    services.source_list(source_id=source.pk)
    run = Run.objects.get(source=source)
    token = services.lease_acquire(run.pk)
    assert token is not None
    retention.run_data_drop(run_id=run.pk, reason="owner")
    # The tail that held the lease before the deletion loses it at its first commit.
    with pytest.raises(services.LeaseLost):
        services._lease_renew(run.pk, token)
    services.lease_release(run.pk, token)
    # A file a racing listing made readable again is put back by the next tail.
    EventFile.objects.filter(run=run).update(state=FileState.OK)
    res = services.run_tail(run_id=run.pk, budget_seconds=5)
    assert res.commits == 0
    assert set(EventFile.objects.filter(run=run).values_list("state", flat=True)) == {"deleted"}
    assert not Series.objects.filter(run=run).exists()


# ---- (2) images per tag -------------------------------------------------------------------------


def test_images_keep_the_newest_steps_per_tag(tmp_path: Path) -> None:
    write_images(tmp_path / "a", "single", range(12), NOW.timestamp())
    write_multi_images(tmp_path / "a", "multi", [3, 1, 0, 2, 7, 5, 4, 6], samples=3)
    write_images(tmp_path / "b", "few", range(4), NOW.timestamp())
    source = make_source(str(tmp_path))
    ingest_all(source)
    project = source.project
    a = Run.objects.get(source=source, name="a")
    single = Series.objects.get(run=a, tag="single")
    multi = Series.objects.get(run=a, tag="multi")
    assert (single.count, multi.count, multi.max_samples) == (12, 24, 3)
    bytes_before = {
        s.pk: s.stored_bytes for s in Series.objects.filter(run__source=source, kind=Kind.IMAGE)
    }
    drop_single = sum(
        ImagePoint.objects.filter(series=single, step__lt=7).values_list("size", flat=True)
    )
    drop_multi = sum(
        ImagePoint.objects.filter(series=multi, step__lt=3).values_list("size", flat=True)
    )
    policy(project, max_images_per_tag=5)

    plan = retention.project_plan(project_id=project.pk, now=NOW)
    assert plan.outcome.image_series == 2
    assert plan.outcome.images_removed == 7 + 3 * 3
    assert plan.outcome.image_bytes == drop_single + drop_multi
    out = enforce(project)
    assert out.summary() == plan.outcome.summary()

    single.refresh_from_db()
    multi.refresh_from_db()
    rows = list(
        ImagePoint.objects.filter(series=single).order_by("seq").values_list("step", flat=True)
    )
    assert rows == [7, 8, 9, 10, 11]
    got = sorted(ImagePoint.objects.filter(series=multi).values_list("step", "index"))
    assert got == [(s, i) for s in (3, 4, 5, 6, 7) for i in range(3)]
    assert (single.count, single.first_step, single.last_step) == (5, 7, 11)
    assert multi.count == 15
    for s in (single, multi):
        sizes = sum(ImagePoint.objects.filter(series=s).values_list("size", flat=True))
        assert s.stored_bytes == bytes_before[s.pk] - (bytes_before[s.pk] - sizes)
        assert s.stored_bytes == sizes
    few = Series.objects.get(run__name="b", tag="few")
    assert few.count == 4  # under the limit: untouched
    # The API still serves what is left, newest steps.
    assert [r["step"] for r in selectors.image_series_read(series=single)] == [7, 8, 9, 10, 11]
    assert not enforce(project).changed


# ---- (3) downsampling scalars -------------------------------------------------------------------


def chunk_layout(run: Run, tag: str) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    s = Series.objects.get(run=run, tag=tag)
    out = []
    for c in ScalarChunk.objects.filter(series=s).order_by("seq"):
        steps, walls, values = chunk_arrays(c)
        out.append((steps.copy(), walls.copy(), values.copy()))
    return out


def test_downsampling_keeps_bucket_extremes_and_everything_newer(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n_old, n_new = 20_000, 3_000
    now = NOW.timestamp()
    walls = np.concatenate(
        [now - 60 * DAY + np.arange(n_old) * 60.0, now - 2 * DAY + np.arange(n_new)]
    )
    values = np.cumsum(rng.standard_normal(n_old + n_new)).astype(np.float32)
    values[777] = 1e6  # a spike in an old bucket survives
    values[5_555] = -1e6
    write_scalars(tmp_path / "r", "loss", values, walls)
    write_scalars(tmp_path / "r", "recent_only", range(100), [now] * 100)
    source = make_source(str(tmp_path))
    ingest_all(source)
    run = Run.objects.get(source=source)
    layout = chunk_layout(run, "loss")
    assert len(layout) >= 3
    version = Run.objects.get(pk=run.pk).version
    recent_before = Series.objects.get(run=run, tag="recent_only").stored_bytes
    # Warm the all-points JSON cache of sealed chunks: it must not serve the old points after.
    loss = Series.objects.get(run=run, tag="loss")
    assert len(json.loads(b"".join(selectors.scalar_series_json_parts(series=loss)))) == 23_000
    policy(source.project, downsample_after_days=30, downsample_bucket=50)
    cutoff = (NOW - timedelta(days=30)).timestamp()

    plan = retention.project_plan(project_id=source.project_id, now=NOW)
    out = enforce(source.project)
    assert out.summary() == plan.outcome.summary()
    assert plan.outcome.exact

    # Per chunk: exactly what minmax_indices keeps of each bucket of 50 old points.
    expect_s, expect_w, expect_v = [], [], []
    for steps, wl, vals in layout:
        keep = per_bucket_reference(wl, vals, None, cutoff, 50)
        expect_s.append(steps[keep])
        expect_w.append(wl[keep])
        expect_v.append(vals[keep])
    steps, wl, vals = scalar_points(run, "loss")
    assert steps.tolist() == np.concatenate(expect_s).tolist()
    assert wl.tolist() == np.concatenate(expect_w).tolist()
    assert vals.tolist() == np.concatenate(expect_v).tolist()
    # Newer than the cutoff: every point, untouched; older: far fewer, extremes kept.
    newer = wl >= cutoff
    assert newer.sum() == n_new
    assert vals[newer].tolist() == values[n_old:].tolist()
    assert 1e6 in vals and -1e6 in vals
    assert steps[0] == 0 and steps[-1] == n_old + n_new - 1
    assert (~newer).sum() <= n_old * 4 // 50 + 4 * len(layout)
    assert out.points_removed == n_old + n_new - len(steps)

    served = json.loads(b"".join(selectors.scalar_series_json_parts(series=loss)))
    assert [p[0] for p in served] == steps.tolist()

    # The series row tells the truth about its chunks.
    s = Series.objects.get(run=run, tag="loss")
    chunks = list(ScalarChunk.objects.filter(series=s).order_by("seq"))
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert s.count == len(steps) == sum(c.count for c in chunks)
    assert s.chunk_count == len(chunks) and s.tail_points == chunks[-1].count
    assert s.stored_bytes == s.count * 20
    assert s.first_step == 0 and s.last_step == n_old + n_new - 1
    assert all(c.reduced_before == cutoff for c in chunks if c.min_wall < cutoff)
    assert Series.objects.get(run=run, tag="recent_only").stored_bytes == recent_before
    assert Run.objects.get(pk=run.pk).version > version

    # Each point is reduced once: a second pass at the same time changes nothing; a day later
    # only points that crossed the cutoff meanwhile would be (none here).
    before = snapshot(source.project)
    assert not enforce(source.project).changed
    assert snapshot(source.project) == before
    later = enforce(source.project, now=NOW + timedelta(days=1))
    assert later.points_removed == 0

    # Ingest goes on into the reduced series (merging into its last chunk).
    write_scalars(tmp_path / "r", "loss", [1.0] * 100, [now] * 100, start=n_old + n_new)
    ingest_all(source)
    s.refresh_from_db()
    steps2, _, _ = scalar_points(run, "loss")
    assert len(steps2) == len(steps) + 100 == s.count
    assert s.stored_bytes == s.count * 20


# ---- (4) the byte cap ------------------------------------------------------------------------


def test_cap_empties_hidden_then_least_recently_updated_runs_never_active_ones(
    tmp_path: Path,
) -> None:
    for name in ("r1", "r2", "r3", "r4", "r5"):
        write_mixed(tmp_path / name)
    source = make_source(str(tmp_path))
    ingest_all(source)
    runs = {r.name: r for r in Run.objects.filter(source=source)}
    age(runs["r1"], 10)
    age(runs["r2"], 5)
    age(runs["r3"], 3)
    age(runs["r4"], 2)  # r5: updated now (within the grace): never emptied for the cap
    Run.objects.filter(pk=runs["r3"].pk).update(hidden=True)
    size = retention.run_stored_bytes(run_ids=[runs["r1"].pk])[runs["r1"].pk]
    total = retention.project_stored_bytes(project_id=source.project_id)
    assert total == 5 * size  # identical runs
    policy(source.project, max_bytes=int(2.5 * size))

    plan = retention.project_plan(project_id=source.project_id, now=NOW)
    assert [r["name"] for r in plan.outcome.dropped] == ["r3", "r1", "r2"]
    assert {r["reason"] for r in plan.outcome.dropped} == {"quota"}
    assert plan.bytes_after == 2 * size and not plan.over_cap_after

    out = enforce(source.project, budget=1)
    assert out.dropped == plan.outcome.dropped
    assert retention.project_stored_bytes(project_id=source.project_id) == 2 * size
    reasons = dict(Run.objects.filter(source=source).values_list("name", "data_deleted_reason"))
    assert reasons == {"r1": "quota", "r2": "quota", "r3": "quota", "r4": "", "r5": ""}

    # A cap the active runs alone exceed: the project stays over it, and says so.
    policy(source.project, max_bytes=size // 2)
    plan = retention.project_plan(project_id=source.project_id, now=NOW)
    assert [r["name"] for r in plan.outcome.dropped] == ["r4"]
    assert plan.over_cap_after
    enforce(source.project)
    assert Run.objects.get(pk=runs["r5"].pk).data_deleted_at is None


# ---- the dry run is what enforcement does, in bounded batches ---------------------------------


def test_dry_run_reports_exactly_what_bounded_batches_then_do(tmp_path: Path) -> None:
    now = NOW.timestamp()
    for i in range(3):
        write_mixed(tmp_path / f"idle{i}")
    write_images(tmp_path / "imgs", "a", range(9), now)
    write_images(tmp_path / "imgs", "b", range(6), now)
    walls = now - 45 * DAY + np.arange(30_000) * 10.0
    write_scalars(tmp_path / "long", "x", np.sin(np.arange(30_000) / 100.0), walls)
    for i in range(2):
        write_mixed(tmp_path / f"capped{i}")
    source = make_source(str(tmp_path))
    ingest_all(source)
    project = source.project
    runs = {r.name: r for r in Run.objects.filter(source=source)}
    for i in range(3):
        age(runs[f"idle{i}"], 100 + i)
    for name, days in (("imgs", 2), ("long", 3), ("capped0", 6), ("capped1", 5)):
        age(runs[name], days)
    policy(idle_days=60, max_images_per_tag=3, downsample_after_days=30)
    policy(project, max_bytes=50_000)

    before = snapshot(project)
    plan = retention.project_plan(project_id=project.pk, now=NOW)
    assert snapshot(project) == before
    t = plan.outcome
    # imgs: a 9 -> 3, b 6 -> 3; capped0/1: "sample" has 4 steps -> 3.
    assert (t.idle_runs, t.image_series, t.images_removed) == (3, 4, 6 + 3 + 1 + 1)
    assert t.chunks >= 4 and t.points_removed > 20_000 and t.cap_runs >= 1

    batches = 0
    total = retention.Outcome()
    while True:
        res = retention.project_enforce_batch(project_id=project.pk, now=NOW, budget=2)
        o = res.outcome
        assert o.idle_runs + o.image_series + o.chunks + o.cap_runs <= 2
        total.merge(o)
        batches += 1
        if not res.more:
            break
    assert batches >= (3 + 4 + t.chunks + t.cap_runs) // 2
    assert total.summary() == t.summary()
    assert total.dropped == t.dropped
    assert retention.project_stored_bytes(project_id=project.pk) == plan.bytes_after
    # Nothing is left to do.
    assert not retention.project_plan(project_id=project.pk, now=NOW).outcome.changed


def test_estimated_dry_run_says_so(tmp_path: Path) -> None:
    now = NOW.timestamp()
    walls = now - 45 * DAY + np.arange(40_000) * 10.0
    write_scalars(tmp_path / "long", "x", np.arange(40_000, dtype=np.float64), walls)
    source = make_source(str(tmp_path))
    ingest_all(source)
    policy(source.project, downsample_after_days=30)
    exact = retention.project_plan(project_id=source.project_id, now=NOW)
    rough = retention.project_plan(project_id=source.project_id, now=NOW, max_chunks=1)
    assert exact.outcome.exact and not rough.outcome.exact
    assert rough.outcome.chunks == exact.outcome.chunks
    assert (
        abs(rough.outcome.points_removed - exact.outcome.points_removed)
        < 0.1 * exact.outcome.points_removed
    )


# ---- the daily task and the embedded runner ------------------------------------------------------


def test_beat_task_fans_out_bounded_batches_and_records_the_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from django.conf import settings

    from ingest import tasks

    entry = settings.CELERY_BEAT_SCHEDULE["ingest.retention"]
    assert entry["task"] == "ingest.retention"
    assert entry["schedule"].hour == {settings.TBHUB_RETENTION_HOUR}

    for i in range(5):
        write_mixed(tmp_path / f"r{i}")
    source = make_source(str(tmp_path))
    ingest_all(source)
    Run.objects.filter(source=source).update(updated_at=NOW - timedelta(days=90))
    Project.objects.create(slug="no-data", name="No data")
    policy(idle_days=30)
    queue: list[tuple[Any, ...]] = []
    monkeypatch.setattr(tasks.retention_project_task, "delay", lambda *a: queue.append(a))
    monkeypatch.setattr(retention, "batch_budget", lambda: 2)
    caplog.set_level("INFO", logger="ingest")

    assert tasks.retention_task() == 2  # both projects (the global policy applies to all)
    runs = 0
    while queue:
        tasks.retention_project_task(*queue.pop(0))
        runs += 1
    assert runs == 2 + 2  # "p": 3 batches of at most 2 runs, "no-data": 1
    assert Run.objects.filter(source=source, data_deleted_reason="retention").count() == 5
    (event,) = AuditEvent.objects.filter(action="retention.run")
    assert event.via == "system" and event.actor is None
    assert event.details["runs_dropped_idle"] == 5 and event.details["batches"] == 3
    assert event.details["complete"] is True
    done = [r for r in caplog.records if r.getMessage() == "ingest.retention.project"]
    fields = [r.__dict__ for r in done]  # the structured log event's fields
    assert {f["slug"]: f["runs_dropped_idle"] for f in fields} == {"p": 5, "no-data": 0}
    assert all(f["bytes_freed"] >= 0 and "bytes_freed_by_stage" in f for f in fields)


def test_embedded_runner_runs_retention(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from tbhub import embedded

    write_mixed(tmp_path / "old")
    source = make_source(str(tmp_path))
    ingest_all(source)
    run = Run.objects.get(source=source)
    age(run, 90)
    policy(idle_days=30)
    monkeypatch.setattr(embedded, "RETENTION_FIRST_SECONDS", 0.0)
    runner = embedded.IngestRunner(tick_seconds=3600)
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if Run.objects.filter(pk=run.pk, data_deleted_at__isnull=False).exists():
                break
            time.sleep(0.1)
    finally:
        runner.stop()
        runner.join(10)
    assert Run.objects.get(pk=run.pk).data_deleted_reason == "retention"
