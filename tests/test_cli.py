"""The `tbhub` command as users run it: `serve` (embedded mode) in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.ingest.test_services import record, scalar_event, version_event

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.slow


def embedded_env() -> dict[str, str]:
    env = dict(os.environ)
    for key in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "TBHUB_SECRET_KEY"):
        env.pop(key, None)
    return env


@contextmanager
def serve(logdir: Path, *extra: str, tmpdir: Path | None = None) -> Iterator[str]:
    port = free_port()
    env = embedded_env()
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    proc = subprocess.Popen(
        [str(BIN / "tbhub"), "serve", "--logdir", str(logdir), "--port", str(port), *extra],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get(base + "/healthz")
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        proc.stderr.read() if proc.stderr else "serve died"
                    ) from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(15)


def get(url: str) -> dict:  # type: ignore[type-arg]
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def eventually(fn, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = fn()
            if value:
                return value
        except (urllib.error.URLError, KeyError, AssertionError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.1)


def write_run(logdir: Path, n: int, start: int = 0) -> Path:
    run = logdir / "r"
    run.mkdir(parents=True, exist_ok=True)
    path = run / "events.out.tfevents.1.host"
    data = b"" if path.exists() else record(version_event())
    data += b"".join(record(scalar_event("x", i, float(i))) for i in range(start, start + n))
    with path.open("ab") as fh:
        fh.write(data)
    return path


def points(base: str) -> list:  # type: ignore[type-arg]
    return get(base + "/api/v1/scalars?run=r&tag=x")["points"]


def test_serve_shows_data_and_follows_appends(tmp_path: Path) -> None:
    write_run(tmp_path, 10)
    with serve(tmp_path) as base:
        eventually(lambda: len(points(base)) == 10)
        runs = get(base + "/api/v1/runs")["runs"]
        assert [r["name"] for r in runs] == ["r"]
        assert runs[0]["tags"]["scalars"] == ["x"]
        write_run(tmp_path, 5, start=10)
        eventually(lambda: len(points(base)) == 15, timeout=10)
        assert points(base)[-1][0] == 14
        with pytest.raises(urllib.error.HTTPError) as exc:
            get(base + "/api/v1/scalars?run=r&tag=nope")
        assert exc.value.code == 404
        assert json.loads(exc.value.read())["error"]


def test_serve_with_db_resumes_from_stored_offsets(tmp_path: Path) -> None:
    logdir = tmp_path / "logs"
    db = tmp_path / "hub.sqlite3"
    write_run(logdir, 10)
    with serve(logdir, "--db", str(db)) as base:
        eventually(lambda: len(points(base)) == 10)
    write_run(logdir, 3, start=10)
    with serve(logdir, "--db", str(db)) as base:
        eventually(lambda: len(points(base)) == 13)
        assert [p[0] for p in points(base)] == list(range(13))  # nothing doubled


def test_serve_without_db_leaves_nothing_behind(tmp_path: Path) -> None:
    write_run(tmp_path / "logs", 3)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    with serve(tmp_path / "logs", tmpdir=private_tmp) as base:
        eventually(lambda: len(points(base)) == 3)
        assert list(private_tmp.iterdir())  # the store lived here while serving
    assert list(private_tmp.iterdir()) == []


def test_serve_refuses_public_bind_without_team_settings(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "tbhub"), "serve", "--logdir", str(tmp_path), "--host", "0.0.0.0"],
        env=embedded_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "refusing to bind" in proc.stderr


def test_serve_missing_logdir_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [str(BIN / "tbhub"), "serve", "--logdir", str(tmp_path / "nope")],
        env=embedded_env(),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    assert "no such directory" in proc.stderr


def test_export_of_an_s3_logdir_honours_the_usual_environment(
    tmp_path: Path, moto_server: str
) -> None:
    """`tbhub export s3://…` with AWS_* keys and S3_ENDPOINT, as TensorBoard reads S3."""
    import s3fs

    admin = s3fs.S3FileSystem(
        key="testing", secret="testing", endpoint_url=moto_server, skip_instance_cache=True
    )
    admin.mkdir("exportbucket")
    body = record(version_event()) + b"".join(
        record(scalar_event("loss", i, float(i) / 4)) for i in range(3)
    )
    admin.pipe("exportbucket/logs/run1/events.out.tfevents.1.h", body)
    env = embedded_env()
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        S3_ENDPOINT=moto_server,
    )
    proc = subprocess.run(
        [str(BIN / "tbhub"), "export", "s3://exportbucket/logs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert lines == [
        {
            "kind": "scalar",
            "run": "run1",
            "tag": "loss",
            "step": i,
            "wall_time": 1.0,
            "value": i / 4,
        }
        for i in range(3)
    ]


def test_ingest_backfills_a_team_project(tmp_path: Path) -> None:
    """`tbhub ingest SOURCE --project SLUG`: team mode, in the foreground."""
    logdir = tmp_path / "logs"
    write_run(logdir, 25)
    env = dict(os.environ)
    env["TBHUB_LOCAL_ROOTS"] = str(tmp_path)
    env["DATABASE_URL"] = env.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tbhub")
    env["DJANGO_SETTINGS_MODULE"] = "tbhub.settings"
    db = f"tbhub_cli_{os.getpid()}"
    base = env["DATABASE_URL"].rsplit("/", 1)[0]
    env["DATABASE_URL"] = f"{base}/{db}"
    subprocess.run(["psql", f"{base}/postgres", "-qc", f"CREATE DATABASE {db}"], check=True)
    try:
        for cmd in (["manage", "migrate", "-v0"], ["ingest", str(logdir), "--project", "bf"]):
            proc = subprocess.run(
                [str(BIN / "tbhub"), *cmd], env=env, capture_output=True, text=True, timeout=300
            )
            assert proc.returncode == 0, proc.stderr
        out = subprocess.run(
            [str(BIN / "tbhub"), "manage", "ingest_status", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        status = json.loads(out.stdout)
        text = json.dumps(status)
        assert '"bf"' in text
        assert '"records": 26' in text  # file_version + 25 scalars, all read
        assert '"pending_bytes": 0' in text
    finally:
        subprocess.run(
            ["psql", f"{base}/postgres", "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"],
            check=False,
        )


def test_each_hub_has_its_own_beat_schedule_file(monkeypatch: pytest.MonkeyPatch) -> None:
    from tbhub import cli

    a = cli.beat_schedule_path({"REDIS_URL": "redis://h:6379/0", "TBHUB_REDIS_PREFIX": "a"})
    b = cli.beat_schedule_path({"REDIS_URL": "redis://h:6379/0", "TBHUB_REDIS_PREFIX": "b"})
    c = cli.beat_schedule_path({"REDIS_URL": "redis://h:6379/1", "TBHUB_REDIS_PREFIX": "a"})
    assert len({a, b, c}) == 3
    assert a == cli.beat_schedule_path({"REDIS_URL": "redis://h:6379/0", "TBHUB_REDIS_PREFIX": "a"})
    assert os.path.basename(a).startswith("tbhub-celerybeat-schedule-")
    # `tbhub beat` passes it to Celery unless the operator chose one with -s/--schedule.
    seen: list[list[str]] = []
    from tbhub.celery import app

    monkeypatch.setattr(app, "start", lambda argv: seen.append(list(argv)))
    monkeypatch.setenv("REDIS_URL", "redis://h:6379/0")
    monkeypatch.setenv("TBHUB_REDIS_PREFIX", "a")
    cli.cmd_beat([])
    cli.cmd_beat(["--schedule=/var/lib/tbhub/beat"])
    cli.cmd_beat(["-s", "/var/lib/tbhub/beat"])
    assert seen[0][:4] == ["beat", "--pidfile=", "-s", a]
    assert seen[1].count("-s") == 0 and "--schedule=/var/lib/tbhub/beat" in seen[1]
    assert seen[2].count("-s") == 1 and seen[2][seen[2].index("-s") + 1] == "/var/lib/tbhub/beat"
