"""Operator commands: `tbhub manage ingest_status | reingest | create_admin`."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone

from ingest import dispatch
from ingest.models import EventFile, FileState, Run, Series
from tests import factories


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def run(*args: str, **kwargs: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **kwargs)
    return out.getvalue()


@pytest.fixture
def world(db: Any) -> dict[str, Any]:
    now = timezone.now()
    vision = factories.project(slug="vision")
    factories.project(slug="empty")
    src = factories.source(project=vision, url="s3://bucket/logs")
    other = factories.source(project=vision, url="s3://other/logs")
    a = factories.run(source=src, name="a")
    b = factories.run(source=src, name="b")
    c = factories.run(source=other, name="c")
    factories.event_file(run=a, name="f1", size=1000, offset=1000, records=50)
    factories.event_file(
        run=a,
        name="f2",
        size=500,
        offset=200,
        records=10,
        last_grown_at=now - timedelta(seconds=90),
    )
    factories.event_file(
        run=b, name="f3", size=300, offset=100, state=FileState.STUCK, bad_records=1,
        error="at byte 100: record exceeds TBHUB_MAX_RECORD_BYTES; reading stops here",
    )  # fmt: skip
    factories.event_file(run=c, name="f4", size=10, offset=10, records=1)
    factories.scalars(run=a, tag="loss")
    factories.scalars(run=c, tag="loss")
    return {"project": vision, "source": src, "other": other, "runs": (a, b, c)}


@pytest.fixture
def queued() -> Any:
    got: list[tuple[str, int]] = []
    dispatch.local_set(lambda kind, ident: got.append((kind, ident)))
    yield got
    dispatch.local_set(None)


# ---- ingest_status -------------------------------------------------------------------------------


def test_ingest_status_json(world: dict[str, Any]) -> None:
    report = json.loads(run("ingest_status", "--json"))
    projects = {p["slug"]: p for p in report["projects"]}
    assert set(projects) == {"vision", "empty"}
    v = projects["vision"]
    assert (v["files"], v["files_read"]) == (4, 2)
    assert (v["bytes_read"], v["bytes_total"]) == (1000 + 200 + 100 + 10, 1810)
    assert v["records"] == 61
    assert v["bad_records"] == 1
    assert v["files_in_error"] == 1
    assert 89 <= v["lag_seconds"] < 150
    src = next(s for s in v["sources"] if s["id"] == world["source"].pk)
    assert src["url"] == "s3://bucket/logs"
    runs = {r["name"]: r for r in src["runs"]}
    assert set(runs) == {"a", "b"}
    assert runs["a"]["pending_bytes"] == 300
    assert runs["b"]["lag_seconds"] == 0  # stuck: not readable, reported as an error instead
    assert runs["b"]["problems"] == [
        {
            "file": "f3",
            "state": "stuck",
            "error": "at byte 100: record exceeds TBHUB_MAX_RECORD_BYTES; reading stops here",
        }
    ]
    assert projects["empty"]["sources"] == []
    assert projects["empty"]["lag_seconds"] == 0


def test_ingest_status_filters_and_text(world: dict[str, Any]) -> None:
    report = json.loads(run("ingest_status", "--json", "--source", str(world["other"].pk)))
    (p,) = report["projects"]
    assert [s["id"] for s in p["sources"]] == [world["other"].pk]
    assert p["records"] == 1  # numbers of the selected source only
    summary = json.loads(run("ingest_status", "--json", "--summary", "--project", "vision"))
    assert "runs" not in summary["projects"][0]["sources"][0]
    text = run("ingest_status", "--project", "vision")
    assert "project vision: files 2/4" in text
    assert " b: files 0/1" in text
    assert "stuck: f3: at byte 100" in text
    with pytest.raises(CommandError, match="no such project: nope"):
        run("ingest_status", "--project", "nope")
    with pytest.raises(CommandError, match="no such source: 999999"):
        run("ingest_status", "--source", "999999")


# ---- reingest ------------------------------------------------------------------------------------


def test_reingest_a_run(world: dict[str, Any], queued: list[tuple[str, int]]) -> None:
    a, _b, c = world["runs"]
    out = run("reingest", "--run", str(a.pk), "--yes")
    assert "re-ingest queued for 1 run (project vision)" in out
    assert not Series.objects.filter(run=a).exists()
    assert Series.objects.filter(run=c).exists()
    assert set(EventFile.objects.filter(run=a).values_list("offset", flat=True)) == {0}
    assert EventFile.objects.get(name="f4").offset == 10
    assert queued == [("tail", a.pk)]
    assert Run.objects.get(pk=a.pk).pending


def test_reingest_a_source(world: dict[str, Any], queued: list[tuple[str, int]]) -> None:
    a, b, c = world["runs"]
    out = run("reingest", "--source", str(world["source"].pk), "--yes")
    assert "2 runs of source" in out
    assert sorted(ident for _, ident in queued) == sorted([a.pk, b.pk])
    assert EventFile.objects.get(name="f3").state == FileState.OK  # re-read from byte 0
    assert Series.objects.filter(run=c).exists()


def test_reingest_asks_first(world: dict[str, Any], queued: list[tuple[str, int]]) -> None:
    a = world["runs"][0]
    with pytest.raises(CommandError, match="pass --yes"):
        run("reingest", "--run", str(a.pk), stdin=io.StringIO(""))
    with pytest.raises(CommandError, match="cancelled"):
        run("reingest", "--run", str(a.pk), stdin=Tty("n\n"))
    assert Series.objects.filter(run=a).exists()
    assert queued == []
    out = run("reingest", "--run", str(a.pk), stdin=Tty("y\n"))
    assert "re-ingest queued" in out
    assert queued == [("tail", a.pk)]


def test_reingest_unknown_ids(world: dict[str, Any]) -> None:
    with pytest.raises(CommandError, match="no such run: 999999"):
        run("reingest", "--run", "999999", "--yes")
    with pytest.raises(CommandError, match="no such source"):
        run("reingest", "--source", "999999", "--yes")
    with pytest.raises(CommandError):
        run("reingest", "--yes")  # --source or --run is required


# ---- create_admin --------------------------------------------------------------------------------


def test_create_admin_from_stdin_is_idempotent(db: Any) -> None:
    out = run(
        "create_admin", "--username", "root", "--email", "root@example.com", "--password-stdin",
        stdin=io.StringIO("A-long-pass-phrase-42\n"),
    )  # fmt: skip
    assert out.strip() == "created admin root"
    user = get_user_model().objects.get(username="root")
    assert user.is_superuser
    assert user.is_staff
    assert user.is_active
    assert user.check_password("A-long-pass-phrase-42")
    assert user.email == "root@example.com"
    again = run(
        "create_admin", "--username", "root", "--email", "root@example.com", "--password-stdin",
        stdin=io.StringIO("Another-pass-phrase-43\n"),
    )  # fmt: skip
    assert again.strip() == "admin root already exists (unchanged)"
    user.refresh_from_db()
    assert user.check_password("A-long-pass-phrase-42")  # kept without --reset-password
    assert get_user_model().objects.filter(username="root").count() == 1


def test_create_admin_from_the_environment(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TBHUB_ADMIN_PASSWORD", "Env-pass-phrase-44")
    assert run("create_admin", "--username", "envadmin").strip() == "created admin envadmin"
    assert get_user_model().objects.get(username="envadmin").check_password("Env-pass-phrase-44")


def test_create_admin_promotes_and_resets(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    factories.user(username="vera", password="old-pass-phrase-1")
    monkeypatch.setenv("TBHUB_ADMIN_PASSWORD", "New-pass-phrase-45")
    out = run("create_admin", "--username", "vera")
    assert out.strip() == "updated admin vera: is_staff, is_superuser"
    vera = get_user_model().objects.get(username="vera")
    assert vera.is_superuser
    assert vera.check_password("old-pass-phrase-1")
    out = run("create_admin", "--username", "vera", "--reset-password")
    assert out.strip() == "updated admin vera: password"
    vera.refresh_from_db()
    assert vera.check_password("New-pass-phrase-45")


def test_create_admin_refuses_without_a_good_password(
    db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TBHUB_ADMIN_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="no password for the new admin"):
        run("create_admin", "--username", "nopw")
    with pytest.raises(CommandError, match="password rejected"):
        run("create_admin", "--username", "weak", "--password-stdin", stdin=io.StringIO("123\n"))
    with pytest.raises(CommandError, match="held no password"):
        run("create_admin", "--username", "empty", "--password-stdin", stdin=io.StringIO(""))
    assert not get_user_model().objects.filter(username__in=["nopw", "weak", "empty"]).exists()
