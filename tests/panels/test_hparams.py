"""HPARAMS endpoint (panels.api.hparams): event files written by real writers (tensorboardX's
`add_hparams`, TensorBoard's `hparams_pb`/`hparams_config_pb` and its EventFileWriter), ingested
by the real services, read back as exact payloads over every scope (project, comparison owner,
share link), with bad content, access rules and a bounded number of queries."""

from __future__ import annotations

import functools
import importlib.util
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
from tensorboard.plugins.hparams import summary_v2 as hp
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from hub import comparisons
from hub.models import Project, ShareKind
from ingest.models import Run, ScalarChunk, Source
from panels.api.hparams import compare_names, last_points
from tests import factories
from tests.hub.conftest import logged_in
from tests.ingest.drive import ingest_all

pytestmark = pytest.mark.django_db(transaction=True)

T0 = 1_700_000_000.0


@pytest.fixture(autouse=True)
def _local_sources_and_empty_cache() -> Iterator[None]:
    """Logs live in pytest's temporary directories; payloads are cached, so start without any."""
    cache.clear()
    with override_settings(TBHUB_LOCAL_ROOTS=[tempfile.gettempdir()]):
        yield


def f32(x: float) -> float:
    """A float32 value widened exactly, as the API prints scalars written as float32."""
    return float(np.float32(x))


def ingest(project: Project, logdir: Path) -> Source:
    source = Source.objects.filter(project=project).first() or Source.objects.create(
        project=project, url=str(logdir)
    )
    ingest_all(source)
    return source


def write_events(logdir: Path, events: list[event_pb2.Event]) -> None:
    """TensorBoard's own EventFileWriter (the one torch.utils.tensorboard uses)."""
    logdir.mkdir(parents=True, exist_ok=True)
    w = EventFileWriter(str(logdir))
    for ev in events:
        w.add_event(ev)
    w.close()


def summary_event(summary: summary_pb2.Summary, wall: float = T0, step: int = 0) -> event_pb2.Event:
    return event_pb2.Event(wall_time=wall, step=step, summary=summary)


def scalar_events(tag: str, points: list[tuple[int, float]], wall0: float) -> list[event_pb2.Event]:
    out = []
    for step, value in points:
        s = summary_pb2.Summary()
        s.value.add(tag=tag, simple_value=value)
        out.append(summary_event(s, wall0 + step, step))
    return out


def hparams_value(tag: str, data: plugin_data_pb2.HParamsPluginData) -> summary_pb2.Summary:
    """A metadata-only hparams summary, as TensorBoard's hparams summary functions write it."""
    s = summary_pb2.Summary()
    v = s.value.add(tag=tag)
    v.metadata.plugin_data.plugin_name = "hparams"
    v.metadata.plugin_data.content = data.SerializeToString()
    return s


def end_summary(status: int, end_time: float = 0.0) -> summary_pb2.Summary:
    return hparams_value(
        "_hparams_/session_end_info",
        plugin_data_pb2.HParamsPluginData(
            version=0,
            session_end_info=plugin_data_pb2.SessionEndInfo(status=status, end_time_secs=end_time),
        ),
    )


def raw_summary(tag: str, content: bytes) -> summary_pb2.Summary:
    s = summary_pb2.Summary()
    v = s.value.add(tag=tag)
    v.metadata.plugin_data.plugin_name = "hparams"
    v.metadata.plugin_data.content = content
    return s


@pytest.fixture
def admin_client() -> Client:
    return logged_in(factories.user(username="root", superuser=True))


def get(client: Client, path: str) -> Any:
    resp = client.get(path)
    assert resp.status_code == 200, resp.content
    assert resp["Content-Type"] == "application/json"
    return json.loads(resp.content)


def by_run(payload: dict[str, Any]) -> dict[str, int]:
    return {s["run"]: s["run_id"] for s in payload["sessions"]}


def run_ids(project: Project) -> dict[str, int]:
    return dict(Run.objects.filter(source__project=project).values_list("name", "pk"))


# ---- (a) tensorboardX / PyTorch style ---------------------------------------------------------


def test_tensorboardx_add_hparams(
    tmp_path: Path, admin_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three add_hparams calls: one child run per session, each with its own experiment (merged
    by name), end info SUCCESS, the metric as a scalar of the child run at step 0."""
    from tensorboardX import SummaryWriter

    clock = iter(range(10_000))
    monkeypatch.setattr(time, "time", lambda: T0 + next(clock))
    w = SummaryWriter(logdir=str(tmp_path))
    w.add_hparams({"lr": 0.1, "optimizer": "sgd", "bn": True}, {"hparam/acc": 0.5}, name="lr=0.1")
    w.add_hparams(
        {"lr": 0.01, "optimizer": "adam", "bn": True}, {"hparam/acc": 0.9}, name="lr=0.01"
    )
    w.add_hparams(
        {"lr": 0.001, "optimizer": "adam", "bn": True, "bs": 64},
        {"hparam/acc": 0.75, "hparam/loss": float("nan")},
        name="lr=0.001",
    )
    w.close()
    monkeypatch.undo()
    project = factories.project(slug="tbx")
    ingest(project, tmp_path)
    ids = run_ids(project)
    payload = get(admin_client, "/api/v1/projects/tbx/hparams")
    # tensorboardX stamps scalars with time.time() (our fake clock): read the wall times back.
    walls = {s["run"]: s["metrics"][0]["wall_time"] for s in payload["sessions"]}
    assert all(T0 <= t < T0 + 10_000 for t in walls.values())

    def session(run: str, hparams: dict[str, Any], metrics: list[Any]) -> dict[str, Any]:
        return {
            "run_id": ids[run],
            "run": run,
            "group_name": "",
            "status": "success",
            "start_time": None,  # tensorboardX leaves start_time_secs unset
            "end_time": None,
            "model_uri": "",
            "monitor_url": "",
            "hparams": hparams,
            "metrics": metrics,
        }

    def metric(run: str, value: Any, *, wall: float | None = None) -> dict[str, Any]:
        return {"value": value, "step": 0, "wall_time": wall or walls[run], "run_id": ids[run]}

    loss_wall = payload["sessions"][0]["metrics"][1]["wall_time"]
    assert payload == {
        "experiment": {
            "name": "",
            "description": "",
            "user": "",
            "time_created": None,
            "inferred": False,
        },
        # The experiments of lr=0.001 (first in run order), lr=0.01, lr=0.1, unioned by name.
        "hparams": [
            {
                "name": name,
                "display_name": "",
                "description": "",
                "type": kind,
                "domain": None,
                "differs": differs,
            }
            for name, kind, differs in (
                ("lr", "float", True),
                ("optimizer", "string", True),
                ("bn", "bool", False),
                ("bs", "float", True),  # only one session has it: they do not all share it
            )
        ],
        "metrics": [
            {
                "group": "",
                "tag": tag,
                "display_name": "",
                "description": "",
                "dataset": "unknown",
            }
            for tag in ("hparam/acc", "hparam/loss")
        ],
        # Asciinumeric: 0.001 < 0.01 < 0.1.
        "sessions": [
            session(
                "lr=0.001",
                {"bn": True, "bs": 64.0, "lr": 0.001, "optimizer": "adam"},
                [metric("lr=0.001", f32(0.75)), metric("lr=0.001", "NaN", wall=loss_wall)],
            ),
            session(
                "lr=0.01",
                {"bn": True, "lr": 0.01, "optimizer": "adam"},
                [metric("lr=0.01", f32(0.9)), None],
            ),
            session(
                "lr=0.1",
                {"bn": True, "lr": 0.1, "optimizer": "sgd"},
                [metric("lr=0.1", f32(0.5)), None],
            ),
        ],
    }


# ---- (b) TensorBoard: experiment at the root, sessions with metrics in sub-runs ---------------

LR = hp.HParam("lr", hp.RealInterval(0.001, 0.1), display_name="Learning rate")
OPT = hp.HParam("optimizer", hp.Discrete(["adam", "sgd"]), description="which one")
METRICS = [
    hp.Metric("accuracy", group="validation", dataset_type=hp.Metric.VALIDATION),
    hp.Metric(
        "loss",
        group="train",
        display_name="Train loss",
        description="mean",
        dataset_type=hp.Metric.TRAINING,
    ),
    hp.Metric("loss"),  # group "": the session's own run, which has no such tag
]


def write_tensorboard_experiment(root: Path) -> None:
    write_events(root, [summary_event(hp.hparams_config_pb([LR, OPT], METRICS, T0 - 100))])
    write_events(
        root / "s1",
        [
            summary_event(hp.hparams_pb({LR: 0.01, OPT: "adam"}, "trial-1", T0)),
            summary_event(end_summary(api_pb2.STATUS_FAILURE, T0 + 500), T0 + 500),
        ],
    )
    write_events(root / "s2", [summary_event(hp.hparams_pb({LR: 0.1, OPT: "adam"}, "", T0 + 1))])
    # Ties at the highest step: the last written wins.
    write_events(root / "s1" / "train", scalar_events("loss", [(0, 2.0), (10, 1.0), (10, 0.5)], T0))
    # The highest step is not the last point: the chunk is read whole.
    write_events(
        root / "s1" / "validation",
        scalar_events("accuracy", [(0, 0.1), (20, 0.8), (5, 0.3)], T0),
    )
    write_events(root / "s2" / "train", scalar_events("loss", [(0, 1.5), (7, 1.25)], T0 + 1000))


def test_tensorboard_config_at_root_and_metrics_in_sub_runs(
    tmp_path: Path, admin_client: Client
) -> None:
    write_tensorboard_experiment(tmp_path)
    project = factories.project(slug="tb")
    ingest(project, tmp_path)
    ids = run_ids(project)
    assert sorted(ids) == [".", "s1", "s1/train", "s1/validation", "s2", "s2/train"]
    payload = get(admin_client, "/api/v1/projects/tb/hparams")
    base = {"model_uri": "", "monitor_url": ""}
    assert payload == {
        "experiment": {
            "name": "",
            "description": "",
            "user": "",
            "time_created": T0 - 100,
            "inferred": False,
        },
        "hparams": [
            {
                "name": "lr",
                "display_name": "Learning rate",
                "description": "",
                "type": "float",
                "domain": {"min": 0.001, "max": 0.1},
                "differs": True,
            },
            {
                "name": "optimizer",
                "display_name": "",
                "description": "which one",
                "type": "string",
                "domain": {"values": ["adam", "sgd"]},
                "differs": False,
            },
        ],
        "metrics": [
            {
                "group": "validation",
                "tag": "accuracy",
                "display_name": "",
                "description": "",
                "dataset": "validation",
            },
            {
                "group": "train",
                "tag": "loss",
                "display_name": "Train loss",
                "description": "mean",
                "dataset": "training",
            },
            {
                "group": "",
                "tag": "loss",
                "display_name": "",
                "description": "",
                "dataset": "unknown",
            },
        ],
        "sessions": [
            {
                "run_id": ids["s1"],
                "run": "s1",
                "group_name": "trial-1",
                "status": "failure",
                "start_time": T0,
                "end_time": T0 + 500,
                **base,
                "hparams": {"lr": 0.01, "optimizer": "adam"},
                "metrics": [
                    {
                        "value": f32(0.8),
                        "step": 20,
                        "wall_time": T0 + 20,
                        "run_id": ids["s1/validation"],
                    },
                    {"value": 0.5, "step": 10, "wall_time": T0 + 10, "run_id": ids["s1/train"]},
                    None,
                ],
            },
            {
                "run_id": ids["s2"],
                "run": "s2",
                "group_name": "",
                "status": "unknown",
                "start_time": T0 + 1,
                "end_time": None,
                **base,
                "hparams": {"lr": 0.1, "optimizer": "adam"},
                "metrics": [
                    None,
                    {"value": 1.25, "step": 7, "wall_time": T0 + 1007, "run_id": ids["s2/train"]},
                    None,
                ],
            },
        ],
    }


# ---- (c) no experiment: inferred from the sessions ----------------------------------------------


def test_inferred_experiment(tmp_path: Path, admin_client: Client) -> None:
    """Without `_hparams_/experiment`: hparams are the union of the sessions' keys (types from
    the values, mixed → string), metrics every scalar tag of the session runs and their sub-runs
    (nearest session above; group = the path below it), sorted; other runs do not count."""
    sessions = {
        "run10": {"lr": 0.5, "opt": "sgd", "flag": True, "bs": 32},
        "run2": {"lr": 0.25, "opt": "adam", "flag": False, "bs": "large"},
        "run1": {"lr": 2.0, "opt": "adam", "flag": True, "note": "x"},
    }
    for name, values in sessions.items():
        write_events(
            tmp_path / name,
            [summary_event(hp.hparams_pb(values, trial_id=f"t-{name}", start_time_secs=T0))],
        )
    write_events(tmp_path / "run1", scalar_events("loss", [(3, 0.25)], T0))
    write_events(tmp_path / "run1" / "eval" / "deep", scalar_events("acc", [(4, 0.75)], T0))
    write_events(tmp_path / "run2", scalar_events("loss", [(5, 0.5)], T0))
    write_events(tmp_path / "other", scalar_events("unrelated", [(1, 1.0)], T0))
    project = factories.project(slug="inf")
    ingest(project, tmp_path)
    ids = run_ids(project)
    payload = get(admin_client, "/api/v1/projects/inf/hparams")

    def col(name: str, kind: str, domain: Any, differs: bool) -> dict[str, Any]:
        return {
            "name": name,
            "display_name": "",
            "description": "",
            "type": kind,
            "domain": domain,
            "differs": differs,
        }

    def session(run: str, metrics: list[Any]) -> dict[str, Any]:
        return {
            "run_id": ids[run],
            "run": run,
            "group_name": f"t-{run}",
            "status": "unknown",
            "start_time": T0,
            "end_time": None,
            "model_uri": "",
            "monitor_url": "",
            "hparams": {
                k: float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                for k, v in sorted(sessions[run].items())
            },
            "metrics": metrics,
        }

    assert payload == {
        "experiment": {
            "name": "",
            "description": "",
            "user": "",
            "time_created": None,
            "inferred": True,
        },
        "hparams": [
            col("bs", "string", {"values": ["32.0", "large"]}, True),
            col("flag", "bool", {"values": [False, True]}, True),
            col("lr", "float", {"min": 0.25, "max": 2.0}, True),
            col("note", "string", {"values": ["x"]}, True),
            col("opt", "string", {"values": ["adam", "sgd"]}, True),
        ],
        "metrics": [
            {
                "group": "",
                "tag": "loss",
                "display_name": "",
                "description": "",
                "dataset": "unknown",
            },
            {
                "group": "eval/deep",
                "tag": "acc",
                "display_name": "",
                "description": "",
                "dataset": "unknown",
            },
        ],
        "sessions": [
            session(
                "run1",
                [
                    {"value": 0.25, "step": 3, "wall_time": T0 + 3, "run_id": ids["run1"]},
                    {
                        "value": 0.75,
                        "step": 4,
                        "wall_time": T0 + 4,
                        "run_id": ids["run1/eval/deep"],
                    },
                ],
            ),
            session(
                "run2",
                [{"value": 0.5, "step": 5, "wall_time": T0 + 5, "run_id": ids["run2"]}, None],
            ),
            session("run10", [None, None]),
        ],
    }


# ---- (d) end info ----------------------------------------------------------------------------


def test_session_end_info_status(tmp_path: Path, admin_client: Client) -> None:
    statuses = {
        "a": (api_pb2.STATUS_SUCCESS, "success"),
        "b": (api_pb2.STATUS_RUNNING, "running"),
        "c": (api_pb2.STATUS_FAILURE, "failure"),
        "d": (api_pb2.STATUS_UNKNOWN, "unknown"),
        "e": (7, "unknown"),  # a value this version does not know
    }
    for name, (status, _) in statuses.items():
        write_events(
            tmp_path / name,
            [
                summary_event(hp.hparams_pb({"x": 1.0}, trial_id="", start_time_secs=T0)),
                summary_event(end_summary(status, T0 + 9)),
            ],
        )
    write_events(
        tmp_path / "f", [summary_event(hp.hparams_pb({"x": 1.0}, trial_id="", start_time_secs=T0))]
    )
    project = factories.project(slug="end")
    ingest(project, tmp_path)
    payload = get(admin_client, "/api/v1/projects/end/hparams")
    got = [(s["run"], s["status"], s["end_time"]) for s in payload["sessions"]]
    assert got == [
        *((name, label, T0 + 9) for name, (_, label) in statuses.items()),
        ("f", "unknown", None),
    ]
    assert payload["hparams"] == [
        {
            "name": "x",
            "display_name": "",
            "description": "",
            "type": "float",
            "domain": {"min": 1.0, "max": 1.0},
            "differs": False,
        }
    ]


# ---- (e) bad content ---------------------------------------------------------------------------


def test_bad_content_is_skipped_and_counted(
    tmp_path: Path, admin_client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    start = "_hparams_/session_start_info"
    good = hp.hparams_pb({"x": 1.0}, trial_id="", start_time_secs=T0)
    many = hp.hparams_pb({f"h{i}": float(i) for i in range(1001)}, trial_id="", start_time_secs=T0)
    huge = hp.hparams_pb({"x": "y" * (1 << 20)}, trial_id="", start_time_secs=T0)
    wrong = plugin_data_pb2.HParamsPluginData(experiment=api_pb2.Experiment(name="e"))
    write_events(tmp_path, [summary_event(raw_summary("_hparams_/experiment", b"\x12\xff"))])
    write_events(tmp_path / "garbage", [summary_event(raw_summary(start, b"\x1a\xff\xff\xff\x0f"))])
    write_events(tmp_path / "wrong-kind", [summary_event(hparams_value(start, wrong))])
    write_events(tmp_path / "too-many", [summary_event(many)])
    write_events(tmp_path / "too-big", [summary_event(huge)])
    write_events(
        tmp_path / "bad-end",
        [
            summary_event(good),
            summary_event(raw_summary("_hparams_/session_end_info", b"\x22\x05\x08")),
        ],
    )
    write_events(tmp_path / "ok", [summary_event(good)])
    project = factories.project(slug="bad")
    ingest(project, tmp_path)
    ids = run_ids(project)
    with caplog.at_level(logging.WARNING, logger="panels.hparams"):
        payload = get(admin_client, "/api/v1/projects/bad/hparams")
    assert payload["experiment"]["inferred"] is True
    assert [(s["run"], s["status"], s["hparams"]) for s in payload["sessions"]] == [
        ("bad-end", "unknown", {"x": 1.0}),
        ("ok", "unknown", {"x": 1.0}),
    ]
    assert [s["run_id"] for s in payload["sessions"]] == [ids["bad-end"], ids["ok"]]
    [record] = [r for r in caplog.records if r.getMessage() == "panels.hparams.skipped"]
    assert record.__dict__["skipped"] == 6
    assert record.__dict__["reasons"] == [
        f"run '.' ({ids['.']}): undecodable experiment",
        f"run 'bad-end' ({ids['bad-end']}): undecodable session_end_info",
        f"run 'garbage' ({ids['garbage']}): undecodable session_start_info",
        f"run 'too-big' ({ids['too-big']}): session_start_info content of 1048604 bytes",
        f"run 'too-many' ({ids['too-many']}): 1001 hparams in one session",
        f"run 'wrong-kind' ({ids['wrong-kind']}): session_start_info tag without "
        "session_start_info data",
    ]


# ---- (f) comparisons and share links -------------------------------------------------------------


def write_compared(root: Path) -> None:
    config = hp.hparams_config_pb(
        [hp.HParam("lr")], [hp.Metric("accuracy", group="validation"), hp.Metric("loss")]
    )
    for i, name in enumerate(("a", "b", "c")):
        write_events(
            root / name,
            [
                summary_event(config),
                summary_event(
                    hp.hparams_pb({"lr": 0.5 * (i + 1)}, trial_id="", start_time_secs=T0)
                ),
                *scalar_events("loss", [(1, 1.0 + i)], T0),
            ],
        )
    write_events(root / "a" / "validation", scalar_events("accuracy", [(2, 0.75)], T0))


def test_through_a_share_link_only_the_comparisons_runs_exist(tmp_path: Path) -> None:
    write_compared(tmp_path)
    owner = factories.user(username="olga")
    project = factories.project(slug="cmp", owner=owner)
    ingest(project, tmp_path)
    ids = run_ids(project)
    comparison = comparisons.comparison_create(
        user=owner, title="two", runs=[ids["b"], {"id": ids["a"], "alias": "first"}]
    )
    _, token = comparisons.link_create(comparison=comparison, user=owner, kind=ShareKind.PUBLIC)
    loss = {"value": 0.0, "step": 1, "wall_time": T0 + 1}
    shared = get(Client(), f"/api/v1/shared/{token}/hparams")
    assert shared["experiment"]["inferred"] is False
    assert [m["tag"] for m in shared["metrics"]] == ["accuracy", "loss"]
    assert [(s["run"], s["run_id"], s["hparams"], s["metrics"]) for s in shared["sessions"]] == [
        # a/validation is not in the comparison: its accuracy does not exist here.
        ("a", ids["a"], {"lr": 0.5}, [None, {**loss, "value": 1.0, "run_id": ids["a"]}]),
        ("b", ids["b"], {"lr": 1.0}, [None, {**loss, "value": 2.0, "run_id": ids["b"]}]),
    ]
    assert get(logged_in(owner), f"/api/v1/comparisons/{comparison.key}/hparams") == shared
    # The project itself sees every session and the sub-run.
    project_view = get(logged_in(owner), "/api/v1/projects/cmp/hparams")
    assert [s["run"] for s in project_view["sessions"]] == ["a", "b", "c"]
    assert project_view["sessions"][0]["metrics"][0] == {
        "value": 0.75,
        "step": 2,
        "wall_time": T0 + 2,
        "run_id": ids["a/validation"],
    }
    resp = Client().get("/api/v1/shared/" + "x" * 32 + "/hparams")
    assert (resp.status_code, resp.json()) == (404, {"error": "no such link"})
    resp = logged_in(owner).get("/api/v1/comparisons/nope123456/hparams")
    assert (resp.status_code, resp.json()) == (404, {"error": "no such comparison"})
    other = factories.user(username="nosy")
    resp = logged_in(other).get(f"/api/v1/comparisons/{comparison.key}/hparams")
    assert resp.status_code == 404


def test_hidden_runs_are_excluded_and_the_cache_follows(tmp_path: Path) -> None:
    write_compared(tmp_path)
    owner = factories.user(username="olga")
    project = factories.project(slug="hid", owner=owner)
    ingest(project, tmp_path)
    client = logged_in(owner)
    first = get(client, "/api/v1/projects/hid/hparams")
    assert [s["run"] for s in first["sessions"]] == ["a", "b", "c"]
    Run.objects.filter(source__project=project, name__in=["b", "a/validation"]).update(hidden=True)
    second = get(client, "/api/v1/projects/hid/hparams")
    assert [s["run"] for s in second["sessions"]] == ["a", "c"]
    assert second["sessions"][0]["metrics"][0] is None  # a/validation is hidden
    # A commit bumps the run's version: the cached payload is not served any more.
    write_events(tmp_path / "c", scalar_events("loss", [(9, 4.5)], T0))
    ingest(project, tmp_path)
    third = get(client, "/api/v1/projects/hid/hparams")
    assert third["sessions"][1]["metrics"][1]["value"] == 4.5
    assert third["sessions"][1]["metrics"][1]["step"] == 9


# ---- (g) access ------------------------------------------------------------------------------------


def test_access_matches_the_other_data_endpoints(tmp_path: Path) -> None:
    write_compared(tmp_path)
    owner = factories.user(username="olga")
    viewer = factories.user(username="vera")
    outsider = factories.user(username="otto")
    project = factories.project(slug="acl", owner=owner, viewers=(viewer,))
    ingest(project, tmp_path)
    callers = {
        "anonymous": Client(),
        "outsider": logged_in(outsider),
        "viewer": logged_in(viewer),
        "owner": logged_in(owner),
    }
    got = {
        who: (
            c.get("/api/v1/projects/acl/hparams").status_code,
            c.get("/api/v1/projects/acl/runs").status_code,
            c.get("/api/v1/projects/missing/hparams").status_code,
        )
        for who, c in callers.items()
    }
    assert got == {
        "anonymous": (401, 401, 401),
        "outsider": (404, 404, 404),
        "viewer": (200, 200, 404),
        "owner": (200, 200, 404),
    }
    assert callers["outsider"].get("/api/v1/projects/acl/hparams").json() == {"error": "not found"}
    assert callers["viewer"].post("/api/v1/projects/acl/hparams").status_code == 405


# ---- (h) bounded queries -------------------------------------------------------------------------


def write_sessions(root: Path, n: int) -> None:
    config = hp.hparams_config_pb(
        [hp.HParam("lr")], [hp.Metric("accuracy", group="validation"), hp.Metric("loss")]
    )
    write_events(root, [summary_event(config)])
    for i in range(n):
        write_events(
            root / f"trial{i}",
            [
                summary_event(hp.hparams_pb({"lr": float(i)}, trial_id="", start_time_secs=T0)),
                summary_event(end_summary(api_pb2.STATUS_SUCCESS, T0 + 1)),
                *scalar_events("loss", [(0, 1.0), (5, 1.0 / (i + 1))], T0),
            ],
        )
        # Every third session's highest step is not its last point: the whole-chunk path.
        points = [(0, 0.5), (9, 0.25), (3, 0.125)] if i % 3 == 0 else [(0, 0.5), (9, 0.25)]
        write_events(root / f"trial{i}" / "validation", scalar_events("accuracy", points, T0))


@pytest.mark.parametrize("explicit", [True, False], ids=["experiment", "inferred"])
def test_queries_do_not_grow_with_sessions(tmp_path: Path, explicit: bool) -> None:
    owner = factories.user(username="olga")
    counts = {}
    for n in (3, 30):
        root = tmp_path / str(n)
        write_sessions(root, n)
        if not explicit:
            next(root.glob("events.out.tfevents.*")).unlink()
        project = factories.project(slug=f"q{n}", owner=owner)
        ingest(project, root)
        client = logged_in(owner)
        with CaptureQueriesContext(connection) as ctx:
            payload = get(client, f"/api/v1/projects/q{n}/hparams")
        counts[n] = len(ctx.captured_queries)
        assert len(payload["sessions"]) == n
        assert payload["experiment"]["inferred"] is not explicit
        assert [(m["group"], m["tag"]) for m in payload["metrics"]] == (
            [("validation", "accuracy"), ("", "loss")]
            if explicit
            else [("", "loss"), ("validation", "accuracy")]
        )
        acc, loss = (0, 1) if explicit else (1, 0)
        for i, s in enumerate(payload["sessions"]):
            assert s["run"] == f"trial{i}"
            assert s["status"] == "success"
            assert s["metrics"][loss]["value"] == f32(1.0 / (i + 1))
            assert s["metrics"][acc]["value"] == 0.25
            assert s["metrics"][acc]["step"] == 9
        # Cached: the second read is the runs query alone on top of the request's own.
        with CaptureQueriesContext(connection) as cached:
            assert get(client, f"/api/v1/projects/q{n}/hparams") == payload
        assert len(cached.captured_queries) == 4  # session, user, project, runs
    assert counts[3] == counts[30] == 8


def test_asciinumeric_order_matches_the_run_selector() -> None:
    """The expected order is what panels/frontend/src/sort.ts `compareTagNames` gives (run with
    node on this exact list): digit runs compare as numbers, `/`, `_` and digits first."""
    names = ["b", "a10", "a2", "a_b", "a/b", "a+b", "a1.5", "a1e3", "a1e", "A", ".", "run1"]
    names += ["run10", "run2", "lr=0.1", "lr=0.01", "lr=1e-3", "x/y_z", "x_y/z", "x-1", "x.1"]
    assert sorted(names, key=functools.cmp_to_key(compare_names)) == [
        ".", "A", "a1.5", "a2", "a10", "a_b", "a/b", "a1e", "a1e3", "a+b", "b",
        "lr=1e-3", "lr=0.01", "lr=0.1", "run1", "run2", "run10", "x/y_z", "x_y/z", "x-1", "x.1",
    ]  # fmt: skip


def test_demo_log_directory_sweep(tmp_path: Path, admin_client: Client) -> None:
    """`make serve`'s demo sweep (scripts/make_demo_logdir.py) reads back as four sessions."""
    spec = importlib.util.spec_from_file_location(
        "make_demo_logdir", Path(__file__).parents[2] / "scripts" / "make_demo_logdir.py"
    )
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    demo.write_hparams_runs(tmp_path, 100)
    project = factories.project(slug="demo")
    ingest(project, tmp_path)
    payload = get(admin_client, "/api/v1/projects/demo/hparams")
    assert [h["name"] for h in payload["hparams"]] == ["lr", "optimizer", "batch_size", "augment"]
    assert [m["tag"] for m in payload["metrics"]] == ["hparam/accuracy", "hparam/loss"]
    assert [(s["run"], s["status"], s["hparams"]) for s in payload["sessions"]] == [
        (
            "sweep/lr=0.001,opt=adam,batch=64",
            "success",
            {"augment": False, "batch_size": 64.0, "lr": 0.001, "optimizer": "adam"},
        ),
        (
            "sweep/lr=0.01,opt=adam,batch=32",
            "success",
            {"augment": True, "batch_size": 32.0, "lr": 0.01, "optimizer": "adam"},
        ),
        (
            "sweep/lr=0.01,opt=sgd,batch=64",
            "success",
            {"augment": False, "batch_size": 64.0, "lr": 0.01, "optimizer": "sgd"},
        ),
        (
            "sweep/lr=0.1,opt=sgd,batch=32",
            "success",
            {"augment": True, "batch_size": 32.0, "lr": 0.1, "optimizer": "sgd"},
        ),
    ]
    for s in payload["sessions"]:
        assert [m["step"] for m in s["metrics"]] == [99, 99]
        assert 0.0 < s["metrics"][0]["value"] < 1.0


def add_chunk(series: Any, seq: int, steps: list[int], values: list[float]) -> None:
    st = np.asarray(steps, dtype="<i8")
    wl = np.asarray([T0 + 1000 * seq + i for i in range(len(steps))], dtype="<f8")
    ScalarChunk.objects.create(
        series=series,
        seq=seq,
        count=len(steps),
        min_step=int(st.min()),
        max_step=int(st.max()),
        min_wall=float(wl.min()),
        max_wall=float(wl.max()),
        min_value=min(values),
        max_value=max(values),
        dtype="f8",
        steps=st.tobytes(),
        wall_times=wl.tobytes(),
        values=np.asarray(values, dtype="<f8").tobytes(),
    )


def test_last_points_across_chunks() -> None:
    """The highest step over every chunk of a series; ties go to the later chunk, then to the
    later point; one query, plus one for chunks whose highest step is not their last point."""
    run = factories.run(source=factories.source(project=factories.project()))
    earlier = factories.scalars(run=run, tag="earlier", steps=[0, 100], values=[1.0, 2.0])
    add_chunk(earlier, 1, [40, 50], [3.0, 4.0])  # a restart below the first chunk's top
    tie = factories.scalars(run=run, tag="tie", steps=[0, 100], values=[1.0, 2.0])
    add_chunk(tie, 1, [100, 60], [5.0, 6.0])
    last = factories.scalars(run=run, tag="last", steps=[0, 7], values=[1.0, 2.0], dtype="f8")
    add_chunk(last, 1, [8, 9], [7.0, 8.0])
    empty = factories.series(run=run, tag="empty")
    with CaptureQueriesContext(connection) as ctx:
        got = last_points([earlier.pk, tie.pk, last.pk, empty.pk])
    assert len(ctx.captured_queries) == 2
    assert {k: (v.step, v.wall_time, v.value) for k, v in got.items()} == {
        earlier.pk: (100, T0 + 1, f32(2.0)),
        tie.pk: (100, T0 + 1000, 5.0),
        last.pk: (9, T0 + 1001, 8.0),
    }
    with CaptureQueriesContext(connection) as ctx:
        assert last_points([]) == {}
    assert len(ctx.captured_queries) == 0


def test_openapi_schema_lists_the_endpoint(admin_client: Client) -> None:
    resp = admin_client.get("/api/v1/schema", headers={"Accept": "application/json"})
    assert resp.status_code == 200
    op = resp.json()["paths"]["/api/v1/projects/{slug}/hparams"]["get"]
    assert op["operationId"] == "data_hparams"
    assert [p["name"] for p in op["parameters"]] == ["slug"]
    body = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert list(body["properties"]) == ["experiment", "hparams", "metrics", "sessions"]
    session = body["properties"]["sessions"]["items"]["properties"]
    assert list(session) == [
        "run_id",
        "run",
        "group_name",
        "status",
        "start_time",
        "end_time",
        "model_uri",
        "monitor_url",
        "hparams",
        "metrics",
    ]
