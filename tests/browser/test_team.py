"""Team mode: log in, open a project's dashboard (websocket authenticated by the session), save
per-user settings; a non-member gets a 404. Runs `tbhub web` against a private PostgreSQL
database and the test Redis (no data: ingest has its own team-mode tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.browser.conftest import new_context
from tests.conftest import free_port

pytestmark = pytest.mark.browser
BIN = Path(sys.executable).parent

SETUP = """
from django.contrib.auth import get_user_model
from hub.models import Membership, Project
User = get_user_model()
ana = User.objects.create_user("ana", password="ana-secret-pw-1")
User.objects.create_user("eve", password="eve-secret-pw-1")
p = Project.objects.create(name="Vision <team>", slug="vision")
Membership.objects.create(project=p, user=ana, role="viewer")
"""


@pytest.fixture(scope="module")
def team_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = os.environ.get("DATABASE_URL", "")
    redis = os.environ.get("REDIS_URL", "")
    if not base.startswith("postgres") or not redis:
        if os.environ.get("CI"):
            pytest.fail(
                "team-mode browser tests need DATABASE_URL and REDIS_URL (scripts/run_tests.sh sets them)"
            )
        pytest.skip("team mode needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    import psycopg

    name = f"tbhub_browser_{os.getpid()}"
    parts = urlsplit(base)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    env = dict(os.environ)
    env.update(
        DATABASE_URL=urlunsplit(parts._replace(path=f"/{name}")),
        TBHUB_SECRET_KEY=env.get("TBHUB_SECRET_KEY", "browser-test-secret"),
        DJANGO_SETTINGS_MODULE="tbhub.settings.test",
        TBHUB_LOG_LEVEL="WARNING",
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    tbhub = str(BIN / "tbhub")
    subprocess.run([tbhub, "manage", "migrate", "-v", "0"], env=env, check=True)
    subprocess.run([tbhub, "manage", "shell", "-c", SETUP], env=env, check=True)
    port = free_port()
    log = (tmp_path_factory.mktemp("team") / "web.log").open("wb")
    proc = subprocess.Popen(
        [tbhub, "web", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1):
                    break
            except Exception:
                if proc.poll() is not None:
                    raise RuntimeError("tbhub web exited") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def login(page: Any, url: str, user: str, password: str, target: str) -> None:
    page.goto(url + target)
    page.wait_for_selector("input[name=username]")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", password)
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.wait_for_load_state("networkidle")


def test_login_dashboard_live_and_prefs(browser: Any, team_hub: str) -> None:
    ctx = new_context(browser)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    login(page, team_hub, "ana", "ana-secret-pw-1", "/projects/vision/dashboard")
    page.wait_for_selector("#app[aria-busy=false]")
    assert page.url.endswith("/projects/vision/dashboard")
    # The session authenticates the websocket.
    page.wait_for_selector(".live.live--live", timeout=20_000)
    assert page.locator(".project-name").inner_text() == "Vision <team>"
    # Every tab is in the DOM; with no data they are all inactive (the selected one stays).
    assert page.locator("[role=tab]").count() == 7
    assert page.locator(".inactive-list [role=tab]").count() == 6
    with page.expect_response(
        lambda r: r.url.endswith("/prefs") and r.request.method == "PUT"
    ) as resp:
        page.fill("input.num-input[aria-label='Smoothing value']", "0.9")
        page.press("input.num-input[aria-label='Smoothing value']", "Enter")
    assert resp.value.status == 200
    ctx.close()
    # Another browser, same user: the setting followed.
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, team_hub, "ana", "ana-secret-pw-1", "/projects/vision/dashboard")
    page.wait_for_selector("#app[aria-busy=false]")
    assert page.input_value("input.num-input[aria-label='Smoothing value']") == "0.9"
    ctx.close()
    assert not errors, errors


def test_non_member_sees_no_dashboard(browser: Any, team_hub: str) -> None:
    ctx = new_context(browser)
    page = ctx.new_page()
    login(page, team_hub, "eve", "eve-secret-pw-1", "/projects/vision/dashboard")
    assert page.locator("#tbhub-config").count() == 0
    resp = page.goto(team_hub + "/projects/vision/dashboard")
    assert resp is not None
    assert resp.status == 404
    ctx.close()
