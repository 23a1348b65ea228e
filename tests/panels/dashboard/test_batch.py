"""One chart of many runs in one request: GET …/scalars/batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

pytestmark = pytest.mark.django_db
URL = "/api/v1/projects/vision/scalars/batch"


def test_batch_returns_each_run_keyed_by_id(
    client_member: Any, project: Any, other_project: Any, make_run: Any, add_scalars: Any
) -> None:
    a = make_run(project, "a")
    b = make_run(project, "b")
    c = make_run(project, "c")  # no such tag
    foreign = make_run(other_project, "x")
    add_scalars(a, "loss", [0, 1, 2], [0.1, float("nan"), float("inf")])
    add_scalars(b, "loss", [0, 5], [1.0, 2.0], dtype="f8")
    add_scalars(foreign, "loss", [0], [9.0])
    r = client_member.get(
        URL, {"tag": "loss", "run_id": [a.pk, b.pk], "run_ids": f"{c.pk},{foreign.pk}"}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["tag"] == "loss"
    assert set(body["runs"]) == {str(a.pk), str(b.pk)}
    assert body["runs"][str(a.pk)]["run"] == "a"
    # float32 widened exactly, non-finite values as strings
    assert body["runs"][str(a.pk)]["points"] == [
        [0, 1000.0, 0.10000000149011612],
        [1, 1001.0, "NaN"],
        [2, 1002.0, "Infinity"],
    ]
    assert body["runs"][str(b.pk)]["points"] == [[0, 1000.0, 1.0], [5, 1005.0, 2.0]]
    # runs of other projects are never revealed: they are missing like runs without the tag
    assert sorted(body["missing"]) == sorted([c.pk, foreign.pk])


def test_batch_downsampling_keeps_spikes_and_range(
    client_member: Any, project: Any, make_run: Any, add_scalars: Any
) -> None:
    run = make_run(project, "long")
    n = 10_000
    values = np.zeros(n)
    values[4321] = 1e6  # a spike must survive downsampling
    add_scalars(run, "loss", list(range(n)), list(values))
    body = client_member.get(URL, {"tag": "loss", "run_id": run.pk, "max_points": 100}).json()
    pts = body["runs"][str(run.pk)]["points"]
    assert len(pts) <= 100
    assert pts[0][0] == 0
    assert pts[-1][0] == n - 1
    assert any(p[0] == 4321 and p[2] == 1e6 for p in pts)
    zoom = client_member.get(
        URL, {"tag": "loss", "run_id": run.pk, "max_points": 100, "start": 4000, "end": 4100}
    ).json()
    zp = zoom["runs"][str(run.pk)]["points"]
    assert len(zp) <= 100
    assert zp[0][0] == 4000
    assert zp[-1][0] == 4100


def test_batch_validation(client_member: Any, client_stranger: Any) -> None:
    assert client_member.get(URL, {"run_id": 1}).status_code == 400
    assert client_member.get(URL, {"tag": "x"}).status_code == 400
    assert client_member.get(URL, {"tag": "x", "run_id": "abc"}).status_code == 400
    assert client_member.get(URL, {"tag": "x", "run_id": 1, "max_points": 1}).status_code == 400
    assert client_stranger.get(URL, {"tag": "x", "run_id": 1}).status_code == 404
