"""Data endpoints: exact payloads, number formatting, downsampling rules, errors, caching."""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client, override_settings

from hub.models import Project
from ingest.models import Source
from tests.ingest.drive import ingest_all
from tests.ingest.test_services import record, scalar_event, version_event

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _local_sources_allowed() -> Iterator[None]:
    """These tests read logs from pytest's temporary directories."""
    with override_settings(TBHUB_LOCAL_ROOTS=[tempfile.gettempdir()]):
        yield


@pytest.fixture
def client_and_project(tmp_path: Path) -> tuple[Client, Project, Path]:
    user = get_user_model().objects.create_superuser("admin", "a@example.com", "pw")
    c = Client()
    c.force_login(user)
    project = Project.objects.create(slug="p", name="P")
    return c, project, tmp_path


def ingest(project: Project, logdir: Path) -> Source:
    source = Source.objects.filter(project=project).first() or Source.objects.create(
        project=project, url=str(logdir)
    )
    ingest_all(source)
    return source


def write(
    logdir: Path, run: str, tag: str, values: list[float], walls: list[float] | None = None
) -> None:
    d = logdir / run
    d.mkdir(parents=True, exist_ok=True)
    recs = [record(version_event())]
    for i, v in enumerate(values):
        w = walls[i] if walls else 1000.0 + i
        recs.append(record(scalar_event(tag, i, v, wall=w)))
    (d / "events.out.tfevents.1.h").write_bytes(b"".join(recs))


def test_scalars_payload_is_exact(client_and_project: tuple[Client, Project, Path]) -> None:
    c, project, logdir = client_and_project
    write(logdir, "run one", "loss/train", [0.1, float("nan"), float("inf"), -float("inf"), 2.5])
    ingest(project, logdir)
    resp = c.get("/api/v1/projects/p/scalars", {"run": "run one", "tag": "loss/train"})
    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/json"
    assert resp.content == (
        b'{"run":"run one","tag":"loss/train","points":[[0,1000.0,0.10000000149011612],'
        b'[1,1001.0,"NaN"],[2,1002.0,"Infinity"],[3,1003.0,"-Infinity"],[4,1004.0,2.5]]}'
    )


def test_runs_payload(client_and_project: tuple[Client, Project, Path]) -> None:
    c, project, logdir = client_and_project
    write(logdir, "b", "x", [1.0])
    write(logdir, "a/c", "y/z", [1.0, 2.0])
    ingest(project, logdir)
    body = c.get("/api/v1/projects/p/runs").json()
    names = [r["name"] for r in body["runs"]]
    assert sorted(names) == ["a/c", "b"]
    run = next(r for r in body["runs"] if r["name"] == "a/c")
    assert set(run) >= {
        "id",
        "name",
        "source",
        "start_time",
        "last_update",
        "tags",
        "status",
        "graph",
    }
    assert run["tags"] == {
        "scalars": ["y/z"],
        "histograms": [],
        "distributions": [],
        "images": [],
        "text": [],
    }
    assert run["last_step"] == 1
    assert run["start_time"] == 1.0  # the file_version event's wall time


def test_downsampling_keeps_first_last_and_spikes(
    client_and_project: tuple[Client, Project, Path],
) -> None:
    c, project, logdir = client_and_project
    rng = np.random.default_rng(1)
    values = rng.standard_normal(20000).astype(np.float32)
    values[12345] = 50.0  # a spike
    values[777] = -40.0  # a dip
    write(logdir, "r", "x", values.tolist())
    ingest(project, logdir)
    resp = c.get("/api/v1/projects/p/scalars", {"run": "r", "tag": "x", "max_points": 200})
    pts = resp.json()["points"]
    assert len(pts) <= 200
    steps = [p[0] for p in pts]
    assert steps[0] == 0 and steps[-1] == 19999
    assert steps == sorted(steps)
    assert 12345 in steps and 777 in steps
    again = c.get("/api/v1/projects/p/scalars", {"run": "r", "tag": "x", "max_points": 200})
    assert again.json()["points"] == pts  # deterministic
    # Every bucket's min and max: the global extremes of any window of the range survive.
    zoom = c.get(
        "/api/v1/projects/p/scalars",
        {"run": "r", "tag": "x", "max_points": 50, "start": 12000, "end": 13000},
    ).json()["points"]
    assert zoom[0][0] == 12000 and zoom[-1][0] == 13000
    assert any(p[0] == 12345 for p in zoom)


def test_full_resolution_without_max_points(
    client_and_project: tuple[Client, Project, Path],
) -> None:
    c, project, logdir = client_and_project
    values = [float(i) for i in range(30000)]
    write(logdir, "r", "x", values)
    ingest(project, logdir)
    pts = c.get("/api/v1/projects/p/scalars", {"run": "r", "tag": "x"}).json()["points"]
    assert [p[2] for p in pts] == values


def test_errors_are_json_with_exact_codes(client_and_project: tuple[Client, Project, Path]) -> None:
    c, project, logdir = client_and_project
    write(logdir, "r", "x", [1.0])
    ingest(project, logdir)
    cases = [
        ({"tag": "x"}, 400),
        ({"run": "r"}, 400),
        ({"run": "nope", "tag": "x"}, 404),
        ({"run": "r", "tag": "nope"}, 404),
        ({"run": "r", "tag": "x", "max_points": "abc"}, 400),
        ({"run": "r", "tag": "x", "max_points": "1"}, 400),
        ({"run": "r", "tag": "x", "x": "bogus"}, 400),
        ({"run": "r", "tag": "x" * 5000}, 400),
        ({"run_id": "999999", "tag": "x"}, 404),
    ]
    for params, status in cases:
        resp = c.get("/api/v1/projects/p/scalars", params)
        assert resp.status_code == status, (params, resp.content)
        assert "error" in json.loads(resp.content)
    assert c.get("/api/v1/projects/nope/runs").status_code == 404


def test_downsampled_views_are_cached_and_never_stale(
    client_and_project: tuple[Client, Project, Path],
) -> None:
    c, project, logdir = client_and_project
    write(logdir, "r", "x", [float(i) for i in range(100)])
    ingest(project, logdir)
    q = {"run": "r", "tag": "x", "max_points": 10}
    first = c.get("/api/v1/projects/p/scalars", q).json()["points"]
    assert first[-1][0] == 99
    with (logdir / "r" / "events.out.tfevents.1.h").open("ab") as fh:
        fh.write(record(scalar_event("x", 100, 1e6, wall=5000.0)))
    ingest(project, logdir)
    second = c.get("/api/v1/projects/p/scalars", q).json()["points"]
    assert second[-1] == [100, 5000.0, 1e6]
    cache.clear()  # Redis flushed: still correct
    assert c.get("/api/v1/projects/p/scalars", q).json()["points"] == second


def test_wall_and_relative_axes_select_ranges(
    client_and_project: tuple[Client, Project, Path],
) -> None:
    c, project, logdir = client_and_project
    walls = [500.0 + 10 * i for i in range(50)]
    write(logdir, "r", "x", [float(i) for i in range(50)], walls)
    ingest(project, logdir)
    pts = c.get(
        "/api/v1/projects/p/scalars",
        {"run": "r", "tag": "x", "x": "wall", "start": 600, "end": 650},
    ).json()["points"]
    assert [p[0] for p in pts] == [10, 11, 12, 13, 14, 15]
    rel = c.get(
        "/api/v1/projects/p/scalars",
        {"run": "r", "tag": "x", "x": "relative", "start": 0, "end": 20},
    ).json()["points"]
    assert [p[0] for p in rel] == [0, 1, 2]
    assert not math.isnan(rel[0][1])


def test_all_points_from_cached_chunk_fragments_stay_exact(
    client_and_project: tuple[Client, Project, Path],
) -> None:
    c, project, logdir = client_and_project
    values = [float(i) / 7 for i in range(20000)]
    write(logdir, "r", "x", values)
    ingest(project, logdir)
    q = {"run": "r", "tag": "x"}
    first = c.get("/api/v1/projects/p/scalars", q).content
    second = c.get("/api/v1/projects/p/scalars", q).content  # served from cached fragments
    assert first == second
    pts = json.loads(first)["points"]
    assert [p[2] for p in pts] == [float(np.float32(v)) for v in values]
    with (logdir / "r" / "events.out.tfevents.1.h").open("ab") as fh:
        fh.write(record(scalar_event("x", 20000, 5.0, wall=9e9)))
    ingest(project, logdir)
    third = json.loads(c.get("/api/v1/projects/p/scalars", q).content)["points"]
    assert third[:-1] == pts
    assert third[-1] == [20000, 9e9, 5.0]
    cache.clear()
    assert json.loads(c.get("/api/v1/projects/p/scalars", q).content)["points"] == third
