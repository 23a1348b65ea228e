"""Load generators shared by tests/reliability/test_load.py (short, asserting correctness) and
benchmarks/load_*.py (long, printing figures): concurrent API readers like open dashboards, and
the RSS of a process sampled while they run. Loopback only."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.reliability.stack import HubClient


def rss_mib(pid: int) -> float:
    """Resident set size of a process (Linux /proc), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class ApiLoadResult:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[tuple[str, int, str]] = field(default_factory=list)
    rss: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, MiB)
    seconds: float = 0.0

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def percentile(self, q: float, kind: str | None = None) -> float:
        values = sorted(
            v for k, vs in self.latencies.items() if kind is None or k == kind for v in vs
        )
        if not values:
            return 0.0
        return values[min(len(values) - 1, int(q / 100 * len(values)))]

    def summary(self) -> str:
        lines = [
            f"{self.requests} requests in {self.seconds:.0f} s "
            f"({self.requests / max(self.seconds, 1e-9):.0f}/s), {len(self.errors)} errors"
        ]
        for kind in sorted(self.latencies):
            lines.append(
                f"  {kind:<14} n={len(self.latencies[kind]):>6}  "
                f"p50={self.percentile(50, kind) * 1000:7.1f} ms  "
                f"p95={self.percentile(95, kind) * 1000:7.1f} ms  "
                f"p99={self.percentile(99, kind) * 1000:7.1f} ms"
            )
        lines.append(
            f"  all            p50={self.percentile(50) * 1000:7.1f} ms  "
            f"p95={self.percentile(95) * 1000:7.1f} ms"
        )
        if self.rss:
            first, last = self.rss[0][1], self.rss[-1][1]
            peak = max(m for _, m in self.rss)
            lines.append(
                f"  web RSS: start {first:.0f} MiB, end {last:.0f} MiB, peak {peak:.0f} MiB"
            )
        return "\n".join(lines)


def api_load(
    base: str,
    cookies: Any,
    *,
    slug: str,
    run_ids: list[int],
    tags: list[str],
    clients: int,
    seconds: float,
    web_pid: int | None = None,
    chart_runs: int = 20,
    seed: int = 0,
) -> ApiLoadResult:
    """`clients` threads, each a dashboard reading charts for `seconds`: a chart of
    `chart_runs` runs (scalars/batch, 1,000 points per run) most of the time, one run's
    downsampled series, the runs list, and now and then one full-resolution series."""
    result = ApiLoadResult()
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    api = f"{base}/api/v1/projects/{slug}"

    def client(i: int) -> None:
        rng = random.Random(seed * 1000 + i)
        session = requests.Session()
        session.trust_env = False
        session.cookies.update(cookies)
        while time.monotonic() < stop:
            pick = rng.random()
            tag = rng.choice(tags)
            params: dict[str, Any]
            if pick < 0.6:
                kind = "chart(batch)"
                ids = rng.sample(run_ids, min(chart_runs, len(run_ids)))
                url, params = (
                    f"{api}/scalars/batch",
                    {"tag": tag, "run_ids": ",".join(map(str, ids)), "max_points": 1000},
                )
            elif pick < 0.8:
                kind = "scalars(1000)"
                url, params = (
                    f"{api}/scalars",
                    {"run_id": rng.choice(run_ids), "tag": tag, "max_points": 1000},
                )
            elif pick < 0.95:
                kind = "runs"
                url, params = f"{api}/runs", {}
            else:
                kind = "scalars(full)"
                url, params = f"{api}/scalars", {"run_id": rng.choice(run_ids), "tag": tag}
            started = time.monotonic()
            try:
                r = session.get(url, params=params, timeout=60)
                status, text = r.status_code, (r.text[:200] if r.status_code != 200 else "")
                if status == 200:
                    r.json()
            except Exception as exc:
                status, text = 0, repr(exc)[:200]
            took = time.monotonic() - started
            with lock:
                result.latencies.setdefault(kind, []).append(took)
                if status != 200:
                    result.errors.append((kind, status, text))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        if web_pid is not None:
            result.rss.append((time.monotonic() - started, rss_mib(web_pid)))
        time.sleep(1.0)
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - started
    return result


def login_cookies(base: str, username: str, password: str) -> Any:
    client = HubClient(base)
    r = client.login(username, password)
    if r.status_code != 302:
        raise RuntimeError(f"login failed: {r.status_code}")
    return client.s.cookies
