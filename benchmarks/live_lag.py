"""Live lag end to end at default settings: from a writer appending one scalar to the moment a
subscribed client has it. Loopback only.

    .venv/bin/python benchmarks/live_lag.py [--samples 30] [--pause 1.0] [--browser]

A private PostgreSQL cluster and redis-server, moto's S3 server, `tbhub web` + `tbhub worker` +
`tbhub beat` (tests/reliability/stack.py). Two runs: one in a local log directory (the hub polls
a hot local run every 0.5 s) and one in a bucket (every 2 s, one LIST request). For each sample
the writer appends one point (S3: rewrites the object longer) and we time (a) the websocket
notice, (b) the API serving the point, and with --browser (c) a dashboard page in Chromium
(/usr/bin/chromium, headless; logged in, subscribed) showing the new step in the chart legend.

Targets: p95 < 2 s local, < 5 s S3 (TensorBoard's frontend polls every 30 s or more).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    from tests.reliability.stack import free_port, wait_until

    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import requests

    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: requests.get(url + "/moto-api/", timeout=1).ok, 30, "moto_server")
    return proc, url


def browser_lags(base: str, writer: Any, run: str, samples: int, pause: float) -> list[float]:
    """Time until the dashboard page's chart legend shows each appended step."""
    from playwright.sync_api import sync_playwright

    from tests.reliability.livelag import TAG
    from tests.reliability.stack import ADMIN_PASSWORD

    lags = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
        page.goto(base + "/projects/lag/dashboard")
        page.fill("input[name=username]", "admin")
        page.fill("input[name=password]", ADMIN_PASSWORD)
        page.locator("form button[type=submit], form input[type=submit]").first.click()
        page.wait_for_selector(".live.live--live", timeout=30_000)
        card = f".scalar-card[data-tag='{TAG}']"
        page.wait_for_selector(card, timeout=30_000)
        start = writer.next_step
        for step in range(start, start + samples):
            written = time.monotonic()
            writer.append(step)
            item = f"{card} .legend-item[data-run='{run}']:has-text('step {step}')"
            page.wait_for_selector(item, timeout=60_000)
            lags.append(time.monotonic() - written)
            time.sleep(pause)
        browser.close()
    return lags


class Counting:
    """A writer wrapper remembering the next step (the browser phase continues the series)."""

    def __init__(self, writer: Any, first: int) -> None:
        self.writer, self.next_step = writer, first

    def append(self, step: int) -> None:
        self.writer.append(step)
        self.next_step = step + 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--pause", type=float, default=1.0)
    parser.add_argument("--browser", action="store_true")
    args = parser.parse_args()

    import boto3

    from tests.reliability.livelag import LocalRun, S3Run, measure
    from tests.reliability.stack import HubClient, HubProcesses, hub_env, private_services

    workdir = Path(tempfile.mkdtemp(prefix="tbhub-bench-lag-"))
    moto, endpoint = start_moto()
    ok = True
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket="lag")
        with private_services() as (pg, redis):
            env = hub_env(
                database_url=pg.url, redis_url=redis.url, workdir=workdir, endpoints=[endpoint]
            )
            procs = HubProcesses(env, workdir)
            procs.migrate_and_admin()
            try:
                client = HubClient(procs.start_web())
                assert client.login().status_code == 302
                procs.start_worker()
                procs.start_beat()
                client.create_project("lag")
                local = LocalRun(workdir / "logs", "local-run")
                client.add_source("lag", str(workdir / "logs"))
                remote = S3Run(s3, "lag", "logs", "s3-run")
                client.add_source(
                    "lag",
                    "s3://lag/logs",
                    options={"endpoint_url": endpoint},
                    credentials={"key": "testing", "secret": "testing"},
                )
                for kind, run, writer, target in (
                    ("local", "local-run", local, 2.0),
                    ("s3", "s3-run", remote, 5.0),
                ):
                    result = measure(
                        client,
                        "lag",
                        run,
                        writer,
                        kind=kind,
                        samples=args.samples,
                        pause=args.pause,
                    )
                    print(result.summary(target), flush=True)
                    ok = ok and result.percentile("api", 95) < target
                    if args.browser:
                        lags = sorted(
                            browser_lags(
                                client.base,
                                Counting(writer, args.samples + 1),
                                run,
                                min(args.samples, 15),
                                args.pause,
                            )
                        )
                        p95 = lags[min(len(lags) - 1, int(0.95 * len(lags)))]
                        print(
                            f"{kind:<6} browser page n={len(lags)}  p50 {lags[len(lags) // 2]:.2f} s "
                            f"p95 {p95:.2f} s (target p95 < {target:.0f} s: "
                            f"{'PASS' if p95 < target else 'FAIL'})",
                            flush=True,
                        )
                        ok = ok and p95 < target
            finally:
                procs.stop()
    finally:
        moto.terminate()
        moto.wait(10)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
