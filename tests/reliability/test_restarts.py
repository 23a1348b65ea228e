"""PostgreSQL and Redis restarted under a live hub: `tbhub web` + `worker` + `beat` against a
private PostgreSQL cluster and a private redis-server (tests/reliability/stack.py), never the
machine's own. While a writer appends to a run, websocket clients are subscribed and readers use
the API (runs list and the chart's scalars, like an open dashboard), the database or Redis is
restarted. Nothing is restarted by the test but the service under test.

Properties:
- the web, worker and beat processes stay up and recover by themselves;
- after the fault, every point the writer wrote is served exactly once (equal to
  `tbhub export` of the same directory);
- API requests fail only while the service is down (and then with a JSON error, quickly), never
  after it is back;
- every websocket client ends up with everything: it either received the notice of the last
  commit, or it reconnected and its catch-up read (what the page does after a reconnection)
  returned every point.

Reproduce: `.venv/bin/pytest tests/reliability/test_restarts.py -m faults` (docs/RELIABILITY.md).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.stack import (
    HubClient,
    HubProcesses,
    PrivatePostgres,
    PrivateRedis,
    WsClient,
    WsFleet,
    hub_env,
    private_services,
)
from tests.reliability.support import (
    dump_diff,
    export_dump,
    frame,
    lines_dump,
    scalar_payload,
    version_payload,
    wait_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.slow, pytest.mark.timeout(600)]

SLUG = "rel"
TAG = "loss"
EVENTS = "events.out.tfevents.1700000000.host"


@dataclass
class Hub:
    pg: PrivatePostgres
    redis: PrivateRedis
    procs: HubProcesses
    client: HubClient
    logdir: Path


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    workdir = tmp_path_factory.mktemp("restarts")
    logdir = workdir / "logs"
    logdir.mkdir()
    with private_services() as (pg, redis):
        env = hub_env(database_url=pg.url, redis_url=redis.url, workdir=workdir)
        procs = HubProcesses(env, workdir)
        procs.migrate_and_admin()
        try:
            url = procs.start_web()
            procs.start_worker()
            procs.start_beat()
            client = HubClient(url)
            assert client.login().status_code == 302
            client.create_project(SLUG)
            client.add_source(SLUG, str(logdir))
            yield Hub(pg, redis, procs, client, logdir)
        finally:
            procs.stop()


class Writer(threading.Thread):
    """Appends `n` scalar points to one event file at `rate` points per second, in bursts; every
    few bursts a record is split over two writes (a flush mid-record), as real writers do."""

    def __init__(self, path: Path, n: int, rate: float) -> None:
        super().__init__(name="writer", daemon=True)
        self.path, self.n, self.rate = path, n, rate

    def run(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("ab", buffering=0) as fh:
            fh.write(frame(version_payload()))
            burst = 10
            for start in range(0, self.n, burst):
                data = b"".join(
                    frame(scalar_payload(TAG, i, i * 0.5, 1_700_000_000.0 + i))
                    for i in range(start, min(self.n, start + burst))
                )
                if (start // burst) % 3 == 1:
                    cut = len(data) - 7
                    fh.write(data[:cut])
                    time.sleep(0.05)
                    fh.write(data[cut:])
                else:
                    fh.write(data)
                time.sleep(burst / self.rate)


@dataclass
class Outcome:
    at: float
    what: str
    status: int  # 0: no answer (connection refused, timeout)
    json_body: bool
    seconds: float


@dataclass
class Readers:
    """Threads reading like an open dashboard: the runs list and the chart's scalars."""

    client: HubClient
    run: str
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self, n: int = 3) -> None:
        for i in range(n):
            t = threading.Thread(target=self._loop, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)

    def _loop(self, i: int) -> None:
        session = HubClient(self.client.base)
        session.s.cookies.update(self.client.s.cookies)
        paths: list[tuple[str, dict[str, Any]]] = [
            (f"/api/v1/projects/{SLUG}/runs", {}),
            (f"/api/v1/projects/{SLUG}/scalars", {"run": self.run, "tag": TAG}),
            (f"/api/v1/projects/{SLUG}/scalars", {"run": self.run, "tag": TAG, "max_points": 200}),
        ]
        k = i
        while not self.stop.is_set():
            path, params = paths[k % len(paths)]
            k += 1
            started = time.monotonic()
            try:
                r = session.get(path, timeout=10, **params)
                is_json = r.headers.get("Content-Type", "").startswith("application/json")
                status = r.status_code
            except Exception:
                status, is_json = 0, False
            self.outcomes.append(
                Outcome(started, path, status, is_json, time.monotonic() - started)
            )
            time.sleep(0.1)

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(15)


def run_scenario(
    hub: Hub, run: str, fault: Callable[[], None], *, n: int = 400, rate: float = 60.0
) -> dict[str, Any]:
    """Writer + readers + websocket clients; `fault()` about 2 s into the writing."""
    path = hub.logdir / run / EVENTS
    points_url = f"/api/v1/projects/{SLUG}/scalars"

    def catch_up(c: WsClient) -> int:
        r = hub.client.get(points_url, timeout=10, run=run, tag=TAG)
        return len(r.json()["points"]) if r.status_code == 200 else -1

    fleet = WsFleet(hub.client.ws_url(SLUG), hub.client.ws_headers(), 10, catch_up=catch_up)
    fleet.start()
    readers = Readers(hub.client, run)
    readers.start()
    writer = Writer(path, n, rate)
    writer.start()
    time.sleep(2.0)
    fault_start = time.monotonic()
    fault()
    fault_end = time.monotonic()
    writer.join(120)
    assert not writer.is_alive()
    written_at = time.monotonic()

    def complete() -> bool:
        return len(hub.client.scalars(SLUG, run, TAG)) >= n

    wait_for(complete, 90, f"all {n} points of {run} to be served\n{hub.procs.tail('worker')}")
    caught_up_after = time.monotonic() - written_at

    # Every client gets the last commit: by a notice, or by reconnecting and reading it all.
    def has_everything(c: WsClient) -> bool:
        notified = any(m.get("run") == run and m.get("last_step") == n - 1 for _, m in c.notices)
        return notified or any(got == n for _, got in c.catch_ups)

    def clients_done() -> bool:
        return all(has_everything(c) for c in fleet.clients)

    try:
        wait_for(clients_done, 60, "every websocket client to have the last commit")
    finally:
        readers.finish()
        fleet.stop()
    clients_after = time.monotonic() - written_at

    # Exactly the writer's points, once each, as `tbhub export` reads the same file.
    served = hub.client.scalars(SLUG, run, TAG)
    got = lines_dump(
        {"kind": "scalar", "run": run, "tag": TAG, "step": s, "wall_time": w, "value": v}
        for s, w, v in served
    )
    want = {k: v for k, v in export_dump(str(hub.logdir)).items() if k[1] == run}
    assert got == want, dump_diff(got, want)
    assert [p[0] for p in served] == list(range(n))

    for name in ("web", "worker", "beat"):
        assert hub.procs.alive(name), f"{name} died\n{hub.procs.tail(name)}"

    # The API fails only while the service is down (plus a short grace), never after. (A 404
    # for the run before its first listing is the right answer, not a failure.)
    first_ok: dict[str, float] = {}
    for o in readers.outcomes:
        if o.status == 200:
            first_ok.setdefault(o.what, o.at)
    outcomes = [
        o
        for o in readers.outcomes
        if not (o.status == 404 and o.at < first_ok.get(o.what, float("inf")))
    ]
    grace = 10.0
    late = [
        o for o in outcomes if o.at > fault_end + grace and (o.status != 200 or not o.json_body)
    ]
    assert not late, late[:5]
    during = [o for o in outcomes if o.status != 200]
    for o in during:
        assert o.status in (0, 500, 502, 503), o
    # JSON bodies of those errors: see test_api_errors_stay_json_while_the_database_is_down.
    assert all(o.seconds < 10.5 for o in readers.outcomes)

    return {
        "fault_seconds": round(fault_end - fault_start, 1),
        "api_errors_during_fault": len(during),
        "non_json_errors": sum(1 for o in during if o.status and not o.json_body),
        "api_requests": len(readers.outcomes),
        "reconnects": sum(c.connects - 1 for c in fleet.clients),
        "closed_after_recovery": sum(
            1 for c in fleet.clients for t, _ in c.closes if t > fault_end
        ),
        "store_caught_up_after_write_s": round(caught_up_after, 1),
        "clients_caught_up_after_write_s": round(clients_after, 1),
    }


def test_postgres_restart_during_ingest_and_use(hub: Hub) -> None:
    def restart() -> None:
        hub.pg.restart(down_seconds=3.0, mode="fast")

    figures = run_scenario(hub, "pg-restart", restart)
    print("postgres restart:", figures)


def test_postgres_crash_during_ingest_and_use(hub: Hub) -> None:
    def crash() -> None:
        hub.pg.restart(down_seconds=2.0, mode="immediate")  # no shutdown checkpoint: recovery

    figures = run_scenario(hub, "pg-crash", crash)
    print("postgres crash:", figures)


def test_redis_restart_during_ingest_and_use(hub: Hub) -> None:
    """Redis restarts empty (no persistence): queued tasks, cache and channel-layer groups are
    gone. The poller re-queues pending runs; websocket consumers must notice and clients
    reconnect."""

    def restart() -> None:
        hub.redis.restart(down_seconds=3.0)

    figures = run_scenario(hub, "redis-restart", restart)
    print("redis restart:", figures)


def test_api_errors_stay_json_while_the_database_is_down(hub: Hub) -> None:
    hub.pg.stop("fast")
    try:
        r = hub.client.get(f"/api/v1/projects/{SLUG}/runs", timeout=10)
    finally:
        hub.pg.start()
    assert r.status_code in (500, 503)
    assert r.headers["Content-Type"].startswith("application/json"), r.text[:200]
    assert "error" in r.json()
