"""API under load: concurrent dashboards reading scalar charts of a 1,000-run project.

    .venv/bin/python benchmarks/load_api.py [--runs 1000] [--tags 4] [--points 5000]
        [--clients 50] [--seconds 60]

A private PostgreSQL cluster and redis-server (tests/reliability/stack.py, loopback), one
`tbhub web` process (uvicorn). The project is seeded with --runs runs x
--tags scalar tags x --points points, laid out as ingest stores them. Then --clients threads,
each a logged-in dashboard, loop for --seconds: a chart of 20 runs (`scalars/batch`, 1,000
points per run) 60% of the time, one run's downsampled series 20%, the runs list 15%, one
full-resolution series 5%.

Prints: requests and errors (target: 0), p50/p95/p99 per kind, the web process's RSS every
second (start, end, peak; "stable" = the last third grows less than 10% over the middle third),
and database connections held by the web process afterwards.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--tags", type=int, default=4)
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()

    from tests.reliability.loadgen import api_load
    from tests.reliability.stack import HubClient, HubProcesses, hub_env, private_services

    workdir = Path(tempfile.mkdtemp(prefix="tbhub-bench-api-"))
    with private_services() as (pg, redis):
        procs = HubProcesses(
            hub_env(database_url=pg.url, redis_url=redis.url, workdir=workdir), workdir
        )
        procs.migrate_and_admin()
        try:
            base = procs.start_web()
            client = HubClient(base)
            assert client.login().status_code == 302
            client.create_project("load")
            seed = (
                "import django, json, time; django.setup()\n"
                "from hub.models import Project\n"
                "from tests.reliability.support import seed_project\n"
                "t = time.monotonic()\n"
                f"ids = seed_project(Project.objects.get(slug='load'), runs={args.runs}, "
                f"tags={args.tags}, points={args.points})\n"
                "print(json.dumps({'ids': ids, 'seconds': time.monotonic() - t}))\n"
            )
            seeded = json.loads(procs.python(seed).strip().splitlines()[-1])
            points = args.runs * args.tags * args.points
            print(
                f"seeded {args.runs} runs x {args.tags} tags x {args.points} points "
                f"({points:,} points) in {seeded['seconds']:.0f} s"
            )
            tags = ["loss/train", "loss/eval", "accuracy", "lr", "grad_norm", "throughput"]
            result = api_load(
                base,
                client.s.cookies,
                slug="load",
                run_ids=seeded["ids"],
                tags=tags[: args.tags],
                clients=args.clients,
                seconds=args.seconds,
                web_pid=procs.procs["web"].pid,
            )
            connections = procs.db_connections()
        finally:
            procs.stop()
    print(result.summary())
    print(f"  database connections open afterwards: {connections}")
    rss = [m for _, m in result.rss]
    third = max(1, len(rss) // 3)
    middle = max(rss[third : 2 * third] or rss)
    last = max(rss[2 * third :] or rss)
    stable = last <= middle * 1.10
    error_rate = len(result.errors) / max(1, result.requests)
    print(
        f"error rate {error_rate:.4%} (target 0): {'PASS' if not result.errors else 'FAIL'}; "
        f"RSS middle third peak {middle:.0f} MiB, last third peak {last:.0f} MiB: "
        f"{'stable' if stable else 'GROWING'}"
    )
    for kind, status, text in result.errors[:5]:
        print(f"  error: {kind} {status} {text[:120]!r}")
    return 0 if not result.errors and stable else 1


if __name__ == "__main__":
    sys.exit(main())
