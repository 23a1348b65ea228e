"""CSV/JSON downloads of scalars for one or many runs and tags: every point, exact numbers."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from tests import factories
from tests.hub.conftest import call, logged_in

D = "/api/v1/projects/vision/scalars/download"


@pytest.fixture
def data(world: Any) -> dict[str, Any]:
    src = factories.source(project=world.project)
    a = factories.run(source=src, name="a")
    b = factories.run(source=src, name="b,with comma")
    factories.scalars(
        run=a,
        tag="loss",
        steps=[0, 1, 2],
        values=[0.1, float("nan"), float("inf")],
        walls=[10.0, 11.5, 12.0],
    )
    factories.scalars(run=a, tag="acc", steps=[5], values=[0.5])
    factories.scalars(
        run=b,
        tag="loss",
        steps=list(range(20_000)),
        values=[float(i) for i in range(20_000)],
        dtype="f8",
    )
    return {"a": a, "b": b}


def _body(resp: Any) -> bytes:
    assert resp.status_code == 200, resp.content
    return b"".join(resp.streaming_content)


def test_csv_one_run_one_tag(world: Any, data: dict[str, Any]) -> None:
    resp = call(logged_in(world.viewer), "GET", f"{D}?run=a&tag=loss")
    assert resp["Content-Type"] == "text/csv; charset=utf-8"
    assert resp["Content-Disposition"].startswith('attachment; filename="run-a-tag-loss.csv"')
    rows = list(csv.reader(io.StringIO(_body(resp).decode())))
    assert rows == [
        ["run", "tag", "step", "wall_time", "value"],
        ["a", "loss", "0", "10.0", "0.10000000149011612"],  # float32 widened exactly
        ["a", "loss", "1", "11.5", "NaN"],
        ["a", "loss", "2", "12.0", "Infinity"],
    ]


def test_csv_many_runs_every_tag_every_point(world: Any, data: dict[str, Any]) -> None:
    resp = call(logged_in(world.viewer), "GET", f"{D}?run=a&run_id={data['b'].pk}")
    rows = list(csv.reader(io.StringIO(_body(resp).decode())))[1:]
    assert len(rows) == 3 + 1 + 20_000
    assert {(r[0], r[1]) for r in rows} == {("a", "loss"), ("a", "acc"), ("b,with comma", "loss")}
    assert rows[-1] == ["b,with comma", "loss", "19999", "1700019999.0", "19999.0"]
    assert resp["Content-Disposition"].startswith('attachment; filename="vision-scalars.csv"')


def test_json_download(world: Any, data: dict[str, Any]) -> None:
    resp = call(
        logged_in(world.viewer), "GET", f"{D}?run=a&run=b,with comma&tag=loss&tag=acc&format=json"
    )
    assert resp["Content-Type"] == "application/json"
    body = json.loads(_body(resp))
    series = {(s["run"], s["tag"]): s for s in body["series"]}
    assert set(series) == {("a", "loss"), ("a", "acc"), ("b,with comma", "loss")}
    assert series[("a", "loss")]["points"] == [
        [0, 10.0, 0.10000000149011612],
        [1, 11.5, "NaN"],
        [2, 12.0, "Infinity"],
    ]
    assert series[("a", "loss")]["run_id"] == data["a"].pk
    assert len(series[("b,with comma", "loss")]["points"]) == 20_000


@pytest.mark.parametrize(
    ("query", "status", "error"),
    [
        ("tag=loss", 400, "missing query parameter 'run'"),
        ("run=a&format=xml", 400, "'format' must be one of: csv, json"),
        ("run_id=abc", 400, "'run_id' must be an integer"),
        ("run=nope", 404, "no such run"),
        ("run=a&tag=nope", 404, "no such tag"),
    ],
)
def test_download_errors(
    world: Any, data: dict[str, Any], query: str, status: int, error: str
) -> None:
    resp = call(logged_in(world.viewer), "GET", f"{D}?{query}")
    assert resp.status_code == status
    assert resp.json()["error"].startswith(error)
