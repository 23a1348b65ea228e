"""`tbhub token create`, and team mode on the five variables alone: migrate, serve, answer."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
from django.db import connection
from django.test import Client

from hub.cli import token_main
from hub.models import AccessToken, AuditEvent
from tests import factories
from tests.conftest import REPO, free_port
from tests.hub.conftest import call


def test_token_create_prints_the_token_last(world: Any, capsys: pytest.CaptureFixture[str]) -> None:
    rc = token_main(
        ["create", "--user", "vera", "--name", "ci", "--read-only", "--expires-days", "30"]
    )
    assert rc == 0
    out, err = capsys.readouterr()
    raw = out.strip().splitlines()[-1].split()[-1]
    assert raw.startswith("tbh_")
    assert raw not in err
    assert "read-only" in err
    token = AccessToken.objects.get(user=world.viewer)
    assert (token.name, token.read_only) == ("ci", True)
    assert token.expires_at is not None
    resp = call(Client(), "GET", "/api/v1/projects/vision", token=raw)
    assert resp.status_code == 200
    assert call(Client(), "POST", "/api/v1/tokens", {}, token=raw).status_code == 403
    assert AuditEvent.objects.get(action="token.create").via == "cli"


def test_token_cli_errors_and_list_and_revoke(
    world: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert token_main(["create", "--user", "nobody"]) == 1
    assert "no user 'nobody'" in capsys.readouterr().err
    assert token_main(["create", "--user", "vera", "--expires-days", "0"]) == 1
    assert "expires_days" in capsys.readouterr().err
    token, raw = factories.token(user=world.viewer, name="laptop")
    assert token_main(["list", "--user", "vera"]) == 0
    out = capsys.readouterr().out
    assert "laptop" in out
    assert raw not in out
    assert token_main(["revoke", str(token.pk)]) == 0
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert call(Client(), "GET", "/api/v1/me", token=raw).status_code == 401


def _env_for(database_url: str) -> dict[str, str]:
    """Only the five team-mode variables (plus what any process needs to run)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {
        **keep,
        "DATABASE_URL": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/9"),
        "TBHUB_SECRET_KEY": "team-mode-test-" + secrets.token_hex(8),
        "TBHUB_LOCAL_ROOTS": "/tmp",
        "TBHUB_ALLOWED_ENDPOINTS": "http://127.0.0.1:9000",
    }


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty PostgreSQL database next to the test one; dropped afterwards."""
    params = connection.settings_dict
    name = f"tbhub_team_{secrets.token_hex(4)}"
    admin_url = f"postgresql://{params['USER']}@{params['HOST']}:{params['PORT']}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = urlsplit(os.environ["DATABASE_URL"])
    try:
        yield urlunsplit((base.scheme, base.netloc, f"/{name}", "", ""))
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


@pytest.mark.slow
def test_team_mode_runs_on_the_five_variables(fresh_database: str) -> None:
    env = _env_for(fresh_database)
    run = {"cwd": str(REPO), "env": env, "capture_output": True, "text": True, "timeout": 300}
    migrate = subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], **run)
    assert migrate.returncode == 0, migrate.stderr
    check = subprocess.run([sys.executable, "manage.py", "check"], **run)
    assert check.returncode == 0, check.stderr
    su = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model as g; "
            "g().objects.create_user('alice', 'a@example.com', 'pw-long-enough-1')",
        ],
        **run,
    )
    assert su.returncode == 0, su.stderr
    created = subprocess.run(
        [sys.executable, "-m", "tbhub.cli", "token", "create", "--user", "alice"], **run
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1].split()[-1]

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tbhub.cli", "web", "--host", "127.0.0.1", "--port", str(port)],
        cwd=str(REPO),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _ = _get(base + "/healthz")
                if status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail(
                    "tbhub web did not start: " + (server.stderr.read() if server.stderr else "")
                )
            time.sleep(0.2)
        assert _get(base + "/api/v1/projects")[0] == 401
        status, body = _get(base + "/api/v1/me", {"Authorization": f"Bearer {token}"})
        assert status == 200
        assert b'"username":"alice"' in body
        status, body = _get(base + "/accounts/login/")
        assert status == 200
        assert b"Sign in" in body
        status, _ = _get(f"http://localhost:{port}/accounts/login/")
        assert status == 200  # localhost is always an allowed host
        assert _get(base + "/static/hub/hub.css")[0] == 200
    finally:
        server.terminate()
        server.wait(10)


def test_team_mode_refuses_missing_variables() -> None:
    env = _env_for("postgres://postgres@127.0.0.1:5432/unused")
    del env["TBHUB_SECRET_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=str(REPO),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "TBHUB_SECRET_KEY must be set" in result.stderr
