"""Websocket push under load: N clients on one project while ingest commits points; latency from
commit to client, every notice delivered. Loopback only, bounded.

    .venv/bin/python benchmarks/load_ws.py [--clients 200] [--seconds 30] [--interval 0.2]
        [--settings MODULE]

A private PostgreSQL cluster and redis-server (tests/reliability/stack.py), one `tbhub web`
process (uvicorn, Channels, Redis channel layer). This process plays the worker: a writer appends
10 points to a run's event file every --interval seconds and the same service a worker runs
(`ingest.services.run_tail`) commits them; the change notice's send time is taken right after
the commit (`transaction.on_commit`), so "push latency" is commit -> client, the same clock on
both ends. Prints p50/p95/p99 (target: p95 < 500 ms), notices expected and received per client,
connections the server dropped, and the web process's errors.

--settings runs the web process with another settings module (e.g. one that raises the channel
layer's socket_timeout, to compare: docs/RELIABILITY.md, finding 12).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=0.2)
    parser.add_argument("--settings", default=None, help="DJANGO_SETTINGS_MODULE for tbhub web")
    args = parser.parse_args()

    from tests.reliability.stack import (
        HubClient,
        HubProcesses,
        WsFleet,
        hub_env,
        private_services,
    )
    from tests.reliability.support import frame, scalar_payload, version_payload

    workdir = Path(tempfile.mkdtemp(prefix="tbhub-bench-ws-"))
    logdir = workdir / "logs"
    (logdir / "run").mkdir(parents=True)
    path = logdir / "run" / "events.out.tfevents.1700000000.bench"
    path.write_bytes(frame(version_payload()))
    with private_services() as (pg, redis):
        env = hub_env(database_url=pg.url, redis_url=redis.url, workdir=workdir)
        web_env = dict(env)
        if args.settings:
            web_env["DJANGO_SETTINGS_MODULE"] = args.settings
        procs = HubProcesses(env, workdir)
        procs.migrate_and_admin()
        web = HubProcesses(web_env, workdir)
        try:
            client = HubClient(web.start_web())
            assert client.login().status_code == 302
            client.create_project("ws")
            source_id = client.add_source("ws", str(logdir))["id"]
            # This process becomes the worker: same database, Redis and key prefix.
            os.environ.update(env)
            import django

            django.setup()
            from ingest import dispatch, services
            from ingest.models import Run

            dispatch.local_set(lambda kind, ident: None)
            sent: dict[int, float] = {}
            real_notify = services._notify

            def timed_notify(summary: Any) -> None:
                sent[int(summary.version)] = time.monotonic()
                real_notify(summary)

            services._notify = timed_notify
            services.source_list(source_id=source_id)
            run = Run.objects.get(source_id=source_id, name="run")
            while services.run_tail(run_id=run.pk, budget_seconds=30).more:
                pass
            started = time.monotonic()
            fleet = WsFleet(client.ws_url("ws"), client.ws_headers(), args.clients)
            fleet.start(timeout=120)
            print(
                f"{args.clients} websocket clients connected in {time.monotonic() - started:.1f} s"
            )
            first_version = Run.objects.get(pk=run.pk).version + 1
            step = 0
            started = time.monotonic()
            with path.open("ab", buffering=0) as fh:
                while time.monotonic() - started < args.seconds:
                    tick = time.monotonic()
                    fh.write(
                        b"".join(
                            frame(scalar_payload("loss", i, i * 0.5, 1_700_000_000.0 + i))
                            for i in range(step, step + 10)
                        )
                    )
                    step += 10
                    Run.objects.filter(pk=run.pk).update(pending=True)
                    services.source_list(source_id=source_id)
                    while services.run_tail(run_id=run.pk, budget_seconds=30).more:
                        pass
                    time.sleep(max(0.0, args.interval - (time.monotonic() - tick)))
            last_version = Run.objects.get(pk=run.pk).version
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not all(
                last_version in c.versions(run.pk) for c in fleet.clients
            ):
                time.sleep(0.2)
            # Server errors while the clients were connected (not those of the shutdown).
            log = web.logs["web"].read_text(errors="replace")
            fleet.stop()
        finally:
            web.stop()
            procs.stop()
        expected = list(range(first_version, last_version + 1))
        lat: list[float] = []
        complete = 0
        for c in fleet.clients:
            got = c.versions(run.pk)
            if [v for v in got if v >= first_version] == expected:
                complete += 1
            for t, m in c.notices:
                v = m.get("version")
                if m.get("run_id") == run.pk and v in sent:
                    lat.append(t - sent[v])
        lat.sort()

        def pct(q: float) -> float:
            return lat[min(len(lat) - 1, int(q / 100 * len(lat)))] * 1000 if lat else 0.0

        drops = sum(len(c.closes) for c in fleet.clients)
        crashes = log.count("Exception in ASGI application")
        verdict = "PASS" if pct(95) < 500 else "FAIL"
        print(
            f"{len(expected)} commits ({step} points) in {args.seconds:.0f} s; "
            f"{len(lat)} deliveries of {len(expected) * args.clients} expected\n"
            f"clients with every notice: {complete}/{args.clients}; connections dropped by the "
            f"server: {drops} (consumer crashes logged: {crashes})\n"
            f"push latency commit -> client: p50 {pct(50):.0f} ms, p95 {pct(95):.0f} ms, "
            f"p99 {pct(99):.0f} ms, max {pct(100):.0f} ms (target p95 < 500 ms: {verdict})"
        )
        return 0 if verdict == "PASS" and complete == args.clients else 1


if __name__ == "__main__":
    sys.exit(main())
