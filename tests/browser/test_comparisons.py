"""A public share link in a fresh browser, without login: the comparison's runs from two projects
are drawn (same run name in both, told apart), the saved view applies (run colour, smoothing), a
run of the same project outside the comparison is not there, and an append to a log shows up live.

Team mode for real: `tbhub web`, `tbhub worker` and `tbhub beat` against a private PostgreSQL
database and the test Redis (own key prefix), two projects reading two local log directories.
The comparison and its link are made through the API with the owner's personal access token.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.browser.conftest import new_context
from tests.conftest import free_port

pytestmark = pytest.mark.browser
BIN = Path(sys.executable).parent

SETUP = """
import os
from django.contrib.auth import get_user_model
from hub.models import Membership, Project
from hub.services import token_create
from ingest.models import Source
User = get_user_model()
olga = User.objects.create_user("olga", password="olga-secret-pw-1")
for slug, path in (("alpha", os.environ["CMP_ALPHA"]), ("beta", os.environ["CMP_BETA"])):
    p = Project.objects.create(name=slug.title(), slug=slug)
    Membership.objects.create(project=p, user=olga, role="owner")
    Source.objects.create(project=p, url=path)
print(token_create(user=olga, name="browser-test")[1])
"""


@dataclass
class Team:
    url: str
    token: str  # olga's personal access token
    logs: dict[str, Path]
    writers: dict[str, Any]

    def api(self, method: str, path: str, body: Any = None) -> Any:
        req = urllib.request.Request(
            self.url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def runs(self, slug: str) -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in self.api("GET", f"/api/v1/projects/{slug}/runs")["runs"]}


def _wait(pred: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as exc:
            last = exc
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}: {last!r}")


@pytest.fixture(scope="module")
def team(tmp_path_factory: pytest.TempPathFactory, bundle_built: None) -> Iterator[Team]:
    base = os.environ.get("DATABASE_URL", "")
    redis = os.environ.get("REDIS_URL", "")
    if not base.startswith("postgres") or not redis:
        if os.environ.get("CI"):
            pytest.fail("team-mode browser tests need DATABASE_URL and REDIS_URL")
        pytest.skip("team mode needs DATABASE_URL (PostgreSQL) and REDIS_URL")
    import psycopg
    from tensorboardX import SummaryWriter

    tmp = tmp_path_factory.mktemp("cmp")
    logs = {"alpha": tmp / "logs-alpha", "beta": tmp / "logs-beta"}
    writers: dict[str, Any] = {}
    # The same run name in both projects, and a run of beta that is not compared.
    for key, path in (
        ("alpha", logs["alpha"] / "baseline"),
        ("beta", logs["beta"] / "baseline"),
        ("beta-other", logs["beta"] / "other"),
    ):
        w = SummaryWriter(str(path), max_queue=1, flush_secs=1)
        for step in range(10):
            w.add_scalar("loss", (1.0 if key == "alpha" else 2.0) / (step + 1), step)
        w.flush()
        writers[key] = w

    name = f"tbhub_cmp_browser_{os.getpid()}"
    parts = urlsplit(base)
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    private_tmp = tmp / "tmp"
    private_tmp.mkdir()
    env = dict(os.environ)
    env.update(
        DATABASE_URL=urlunsplit(parts._replace(path=f"/{name}")),
        TBHUB_SECRET_KEY=env.get("TBHUB_SECRET_KEY", "browser-test-secret"),
        TBHUB_REDIS_PREFIX=f"tbhub-cmp-browser-{os.getpid()}",
        TBHUB_LOCAL_ROOTS=str(tmp),
        DJANGO_SETTINGS_MODULE="tbhub.settings.test",
        TBHUB_LOG_LEVEL="WARNING",
        TMPDIR=str(private_tmp),  # beat's schedule file
    )
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    tbhub = str(BIN / "tbhub")
    subprocess.run([tbhub, "manage", "migrate", "-v", "0"], env=env, check=True)
    out = subprocess.run(
        [tbhub, "manage", "shell", "-c", SETUP],
        env={**env, "CMP_ALPHA": str(logs["alpha"]), "CMP_BETA": str(logs["beta"])},
        check=True,
        capture_output=True,
        text=True,
    )
    token = out.stdout.strip().splitlines()[-1]
    port = free_port()
    log = (tmp / "processes.log").open("wb")
    procs = [
        subprocess.Popen(
            [tbhub, "web", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        ),
        subprocess.Popen(
            [tbhub, "worker", "--concurrency", "2", "-n", f"cmp{os.getpid()}@%h"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp,
        ),
        subprocess.Popen([tbhub, "beat"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp),
    ]
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(
            lambda: urllib.request.urlopen(url + "/healthz", timeout=1).status == 200,
            30,
            "tbhub web",
        )
        yield Team(url=url, token=token, logs=logs, writers=writers)
    finally:
        for w in writers.values():
            w.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        log.close()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_public_link_draws_two_projects_live(browser: Any, team: Team) -> None:
    # Both projects ingested (10 points each).
    _wait(
        lambda: team.runs("alpha").get("baseline", {}).get("last_step") == 9, 60, "alpha ingested"
    )
    _wait(lambda: team.runs("beta").get("baseline", {}).get("last_step") == 9, 60, "beta ingested")
    alpha, beta = team.runs("alpha")["baseline"], team.runs("beta")["baseline"]
    comparison = team.api(
        "POST",
        "/api/v1/comparisons",
        {
            "title": "Baselines, alpha vs beta",
            "runs": [alpha["id"], beta["id"]],
            "state": {"smoothing": 0.0, "run_colors": {str(beta["id"]): "#112233"}},
        },
    )
    link = team.api("POST", f"/api/v1/comparisons/{comparison['id']}/links", {"public": True})
    assert link["url"].endswith(f"/s/{link['token']}")

    ctx = new_context(browser)  # a fresh profile: no session, no cookies
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        resp = page.goto(team.url + f"/s/{link['token']}")
        assert resp is not None and resp.status == 200
        assert "/accounts/login" not in page.url
        page.wait_for_selector("#app[aria-busy=false]")
        page.wait_for_selector(".live.live--live", timeout=20_000)
        assert page.locator(".project-name").inner_text() == "Baselines, alpha vs beta"
        card = ".scalar-card[data-tag='loss']"
        page.wait_for_selector(f"{card}[data-drawn]", timeout=20_000)
        # Both runs, told apart by project; the run outside the comparison is nowhere.
        a_item = f"{card} .legend-item[data-run='alpha/baseline']"
        b_item = f"{card} .legend-item[data-run='beta/baseline']"
        page.wait_for_selector(f"{a_item}:has-text('step 9')", timeout=20_000)
        page.wait_for_selector(f"{b_item}:has-text('step 9')", timeout=20_000)
        assert page.locator(f"{card} .legend-item").count() == 2
        assert page.locator(".run-cb[data-run='other']").count() == 0
        assert page.locator(".run-cb").count() == 2
        # The saved view: beta's colour, no smoothing.
        chip = page.locator(f"{b_item} .chip").get_attribute("style") or ""
        assert "rgb(17, 34, 51)" in chip or "#112233" in chip
        assert page.input_value("input.num-input[aria-label='Smoothing value']") == "0"
        # A live append to beta's log shows up without a reload.
        page.evaluate("window.__noReload = 1")
        w = team.writers["beta"]
        for step in range(10, 16):
            w.add_scalar("loss", 2.0 / (step + 1), step)
        w.flush()
        page.wait_for_selector(f"{b_item}:has-text('step 15')", timeout=30_000)
        assert page.evaluate("window.__noReload") == 1
        # The other run of beta grew too, and still is not shown.
        ow = team.writers["beta-other"]
        ow.add_scalar("loss", 0.1, 99)
        ow.flush()
        time.sleep(2)
        assert page.locator(f"{card} .legend-item").count() == 2
        # Revoked: the page's data is gone at once (the API answers 404).
        req = urllib.request.Request(
            team.url + f"/api/v1/comparisons/{comparison['id']}/links/{link['token']}",
            method="DELETE",
            headers={"Authorization": f"Bearer {team.token}"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 204
        page.wait_for_selector(".live.live--offline", timeout=20_000)
        status = page.evaluate(f"fetch('/api/v1/shared/{link['token']}').then(r => r.status)")
        assert status == 404
    finally:
        ctx.close()
    assert not errors, errors


def test_owner_page_saves_the_view_and_reports_hidden_runs(browser: Any, team: Team) -> None:
    _wait(
        lambda: team.runs("beta").get("other", {}).get("last_step") is not None,
        60,
        "beta/other ingested",
    )
    alpha, other = team.runs("alpha")["baseline"], team.runs("beta")["other"]
    comparison = team.api(
        "POST",
        "/api/v1/comparisons",
        {
            "title": "Owner view",
            "runs": [alpha["id"], {"id": other["id"], "alias": "beta's other"}],
        },
    )
    ctx = new_context(browser)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(team.url + f"/c/{comparison['id']}")
        page.wait_for_selector("input[name=username]")
        page.fill("input[name=username]", "olga")
        page.fill("input[name=password]", "olga-secret-pw-1")
        page.locator("form button[type=submit], form input[type=submit]").first.click()
        page.wait_for_selector("#app[aria-busy=false]")
        assert page.url.endswith(f"/c/{comparison['id']}")
        page.wait_for_selector(".live.live--live", timeout=20_000)
        page.wait_for_selector(
            ".scalar-card[data-tag='loss'] .legend-item[data-run=\"beta's other\"]", timeout=20_000
        )
        assert page.locator("a.share-link").get_attribute("href") == f"/c/{comparison['id']}/links/"
        # Save a view; it is what the page opens with next time (and what links show).
        save = page.locator("button.save-view")
        assert save.is_disabled()
        page.fill("input.num-input[aria-label='Smoothing value']", "0.25")
        page.press("input.num-input[aria-label='Smoothing value']", "Enter")
        page.wait_for_function(
            "!document.querySelector('button.save-view').disabled", timeout=5_000
        )
        with page.expect_response(lambda r: r.request.method == "PATCH") as resp:
            save.click()
        assert resp.value.status == 200
        assert (
            team.api("GET", f"/api/v1/comparisons/{comparison['id']}")["state"]["smoothing"] == 0.25
        )
        # Hidden in its project: the comparison says so instead of breaking, live.
        team.api("PATCH", f"/api/v1/projects/beta/runs/{other['id']}", {"hidden": True})
        page.goto(team.url + f"/c/{comparison['id']}")
        page.wait_for_selector("#app[aria-busy=false]")
        assert page.input_value("input.num-input[aria-label='Smoothing value']") == "0.25"
        item = page.locator(f".run--unavailable[data-run-id='{other['id']}']")
        item.wait_for(timeout=10_000)
        assert item.get_attribute("data-reason") == "hidden"
        assert "beta's other" in item.inner_text()
        assert page.locator(".run-cb").count() == 1
        page.wait_for_selector(".scalar-card[data-tag='loss'][data-drawn]", timeout=20_000)
    finally:
        ctx.close()
    assert not errors, errors


def test_compare_from_a_project_dashboard(browser: Any, team: Team) -> None:
    _wait(
        lambda: team.runs("alpha").get("baseline", {}).get("last_step") is not None,
        60,
        "alpha ingested",
    )
    ctx = new_context(browser)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(team.url + "/projects/alpha/dashboard")
        page.fill("input[name=username]", "olga")
        page.fill("input[name=password]", "olga-secret-pw-1")
        page.locator("form button[type=submit], form input[type=submit]").first.click()
        page.wait_for_selector("#app[aria-busy=false]")
        page.fill("input.num-input[aria-label='Smoothing value']", "0.7")
        page.press("input.num-input[aria-label='Smoothing value']", "Enter")
        page.click("button.compare-btn")
        page.wait_for_url("**/comparisons/new/**")
        # The search box shows its whole placeholder.
        fits = page.evaluate(
            """() => {
              const i = document.querySelector('#run-search'), st = getComputedStyle(i);
              const c = document.createElement('canvas').getContext('2d');
              c.font = `${st.fontSize} ${st.fontFamily}`;
              const room = i.clientWidth - parseFloat(st.paddingLeft) - parseFloat(st.paddingRight);
              return [c.measureText(i.placeholder).width, room];
            }"""
        )
        assert fits[0] < fits[1], fits
        alpha = team.runs("alpha")["baseline"]
        assert page.is_checked(f"#run-{alpha['id']}")
        # Add beta's runs by searching across projects.
        page.fill("#run-search", "^baseline$")
        page.click("form[role=search] button[type=submit]")
        beta = team.runs("beta")["baseline"]
        page.check(f"#run-{beta['id']}")
        page.fill(f"input[name=alias_{beta['id']}]", "beta base")
        page.fill("#cmp-title", "From the dashboard")
        page.click("#pick-form button[type=submit]")
        page.wait_for_url("**/c/*")
        page.wait_for_selector("#app[aria-busy=false]")
        assert page.locator(".project-name").inner_text() == "From the dashboard"
        assert page.input_value("input.num-input[aria-label='Smoothing value']") == "0.7"
        page.wait_for_selector(".run-cb[data-run='beta base']")
        page.wait_for_selector(".run-cb[data-run='baseline']")
    finally:
        ctx.close()
    assert not errors, errors


def test_sharing_page_forms_and_sign_out_pass_the_csrf_check(browser: Any, team: Team) -> None:
    # These pages keep their URL's key/token from other sites; a `no-referrer` policy did that by
    # making the browser send `Origin: null` with their forms, which Django refuses (403).
    alpha = team.runs("alpha")["baseline"]
    comparison = team.api("POST", "/api/v1/comparisons", {"title": "Forms", "runs": [alpha["id"]]})
    ctx = new_context(browser)
    page = ctx.new_page()
    try:
        page.goto(team.url + f"/c/{comparison['id']}/links/")
        page.fill("input[name=username]", "olga")
        page.fill("input[name=password]", "olga-secret-pw-1")
        page.locator("form button[type=submit], form input[type=submit]").first.click()
        page.wait_for_url(f"**/c/{comparison['id']}/links/")
        page.check("#kind-public")
        with page.expect_response(lambda r: r.request.method == "POST") as resp:
            page.click("button:has-text('Create link')")
        assert resp.value.status < 400
        page.wait_for_selector("#new-link")
        assert len(team.api("GET", f"/api/v1/comparisons/{comparison['id']}/links")["links"]) == 1
        page.goto(team.url + f"/c/{comparison['id']}")
        page.wait_for_selector("#app[aria-busy=false]")
        with page.expect_response(lambda r: r.request.method == "POST") as resp:
            page.click("form.logout button[type=submit]")
        assert resp.value.status < 400
        page.wait_for_load_state()
        assert "Not allowed" not in page.content()
    finally:
        ctx.close()
