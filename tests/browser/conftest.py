"""Browser tests: Playwright (sync API) driving Debian's Chromium against the real product path,
`tbhub serve --logdir DIR` (embedded mode, SQLite) started as a subprocess.

Run in their own pytest session (scripts/run_tests.sh): `-m browser -p no:asyncio` with
DJANGO_ALLOW_ASYNC_UNSAFE=true. Chromium is never downloaded: /usr/bin/chromium or skip.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CORPUS, free_port

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
DIST_MANIFEST = REPO / "panels" / "static" / "panels" / "dist" / ".vite" / "manifest.json"


@pytest.fixture(scope="session")
def bundle_built() -> None:
    if not DIST_MANIFEST.is_file():
        if os.environ.get("CI"):
            pytest.fail(
                "the dashboard bundle is not built: run `make setup` (scripts/build_frontend.sh)"
            )
        pytest.skip(
            "the dashboard bundle is not built: run `make setup` (scripts/build_frontend.sh)"
        )


@pytest.fixture(scope="session")
def pw() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(pw: Any, bundle_built: None) -> Iterator[Any]:
    b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    yield b
    b.close()


class Hub:
    """A running `tbhub serve`."""

    def __init__(self, logdir: Path, tmp: Path) -> None:
        self.logdir = logdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
        }
        env["TBHUB_LOG_LEVEL"] = "WARNING"
        self.log = (tmp / f"tbhub-{self.port}.log").open("wb")
        self.proc = subprocess.Popen(
            [
                str(BIN / "tbhub"),
                "serve",
                "--logdir",
                str(logdir),
                "--port",
                str(self.port),
                "--db",
                str(tmp / f"hub-{self.port}.sqlite3"),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"tbhub serve exited: {(tmp / f'tbhub-{self.port}.log').read_text()[-2000:]}"
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    return
            except Exception:
                time.sleep(0.1)
        raise RuntimeError("tbhub serve did not come up")

    def api(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + "/api/v1/projects/local/" + path, timeout=10) as r:
            return json.loads(r.read())

    def wait_runs(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 60
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        runs: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                runs = self.api("runs")["runs"]
                if predicate(runs):
                    return runs
            except Exception:
                pass
            time.sleep(0.2)
        raise AssertionError(f"runs never matched: {[r['name'] for r in runs]}")

    def reset_prefs(self) -> None:
        """Forget the local user's saved dashboard (tests must not inherit each other's)."""
        import http.cookiejar

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        opener.open(self.url + "/", timeout=10).read()
        token = next(c.value for c in jar if c.name == "csrftoken")
        req = urllib.request.Request(
            self.url + "/api/v1/projects/local/prefs?replace=1",
            data=b"{}",
            method="PUT",
            headers={
                "Content-Type": "application/json",
                "X-CSRFToken": token,
                "Referer": self.url + "/",
            },
        )
        opener.open(req, timeout=10).read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()


@pytest.fixture(scope="session")
def start_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[Path], Hub]]:
    hubs: list[Hub] = []

    def start(logdir: Path) -> Hub:
        hub = Hub(logdir, tmp_path_factory.mktemp("hub"))
        hubs.append(hub)
        return hub

    yield start
    for h in hubs:
        h.stop()


def _all_ingested(expected: int) -> Callable[[list[dict[str, Any]]], bool]:
    def ok(runs: list[dict[str, Any]]) -> bool:
        return len(runs) >= expected and all(
            r["status"]["bytes_read"] >= r["status"]["bytes_total"] - 64 for r in runs
        )

    return ok


@pytest.fixture(scope="session")
def small_hub(corpus: Path, start_hub: Callable[[Path], Hub], bundle_built: None) -> Hub:
    hub = start_hub(corpus / "small")
    hub.wait_runs(_all_ingested(4))
    return hub


@pytest.fixture
def small(small_hub: Hub) -> Hub:
    """The small-corpus hub with no saved dashboard."""
    small_hub.reset_prefs()
    return small_hub


@pytest.fixture(scope="session")
def tf_hub(corpus: Path, start_hub: Callable[[Path], Hub], bundle_built: None) -> Hub:
    hub = start_hub(corpus / "tf")
    hub.wait_runs(_all_ingested(2))
    return hub


def new_context(browser: Any, **kw: Any) -> Any:
    """A fresh browser profile. Tests evaluate JS predicates, which the page's CSP forbids."""
    return browser.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True, **kw)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    ctx = new_context(browser)
    pg = ctx.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("dialog", lambda d: (errors.append(f"dialog: {d.message}"), d.dismiss()))
    pg.errors = errors  # type: ignore[attr-defined]
    yield pg
    ctx.close()
    assert not errors, errors


def copy_corpus_run(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    for p in dst.rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)


__all__ = ["CORPUS", "Hub"]
