"""Adding a source starts ingest at once: a small local source is listed and served within 10 s.

The Celery worker's part is played by calling the same services the tasks call
(`ingest.services.source_list` / `run_tail`) for the work the hub queued, plus `poll_tick`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ingest import services
from tests.hub.conftest import call, logged_in


def _write_logs(root: Path) -> None:
    from tensorboardX import SummaryWriter

    for run, scale in (("lr_0.1", 1.0), ("lr_0.01", 0.5)):
        with SummaryWriter(str(root / run)) as w:
            for step in range(50):
                w.add_scalar("loss", scale / (step + 1), step)
                w.add_scalar("acc/top1", 0.1 * (step % 10), step)


def _work(queued: list[tuple[str, int]]) -> None:
    """Run what the hub and the services queued, like a worker would, until nothing is left."""
    while queued:
        kind, ident = queued.pop(0)
        if kind == "list":
            services.source_list(source_id=ident)
        elif kind == "tail":
            services.run_tail(run_id=ident, budget_seconds=5.0)


@pytest.mark.django_db(transaction=True)
def test_local_source_is_served_within_ten_seconds(
    roots: Path, queued_work: list[tuple[str, int]]
) -> None:
    from tests import factories

    owner = factories.user(username="olivia")
    factories.project(slug="vision", owner=owner)
    logdir = roots / "exp"
    logdir.mkdir()
    _write_logs(logdir)
    client = logged_in(owner)

    started = time.monotonic()
    resp = call(client, "POST", "/api/v1/projects/vision/sources", {"url": str(logdir)})
    assert resp.status_code == 201, resp.content
    assert resp.json()["status"] == "pending"
    assert ("list", resp.json()["id"]) in queued_work  # queued on commit, not at the next tick

    runs: list[dict[str, Any]] = []
    points: list[Any] = []
    while time.monotonic() - started < 10:
        _work(queued_work)
        runs = call(client, "GET", "/api/v1/projects/vision/runs").json()["runs"]
        if len(runs) == 2 and all(r["tags"]["scalars"] == ["acc/top1", "loss"] for r in runs):
            body = call(client, "GET", "/api/v1/projects/vision/scalars?run=lr_0.1&tag=loss").json()
            points = body["points"]
            if len(points) == 50:
                break
        services.poll_tick()
        time.sleep(0.1)
    elapsed = time.monotonic() - started
    assert sorted(r["name"] for r in runs) == ["lr_0.01", "lr_0.1"]
    assert len(points) == 50, points
    assert points[0][0] == 0
    assert points[0][2] == 1.0
    assert elapsed < 10, f"served after {elapsed:.1f} s"

    source = call(client, "GET", "/api/v1/projects/vision/sources").json()["sources"][0]
    assert source["status"] == "ok"
    assert source["runs"] == 2
    status = call(client, "GET", "/api/v1/projects/vision/runs/status").json()["runs"]
    assert all(r["bytes_read"] == r["bytes_total"] > 0 for r in status)
    assert all(r["last_step"] == 49 for r in status)


@pytest.mark.django_db(transaction=True)
def test_source_errors_show_as_its_status(roots: Path, queued_work: list[tuple[str, int]]) -> None:
    from tests import factories

    owner = factories.user(username="olivia")
    factories.project(slug="vision", owner=owner)
    client = logged_in(owner)
    resp = call(client, "POST", "/api/v1/projects/vision/sources", {"url": str(roots / "nope")})
    assert resp.status_code == 201  # creating never touches the disk
    _work(queued_work)
    source = call(client, "GET", "/api/v1/projects/vision/sources").json()["sources"][0]
    assert source["status"] in ("error", "degraded")
    assert "no such directory" in source["status_message"]
    project = call(client, "GET", "/api/v1/projects/vision").json()
    assert project["health"]["state"] == "error"
    assert "no such directory" in project["health"]["message"]
