"""Chaos, the long variant of tests/reliability/test_{worker_kill,restarts}.py: while writers
append to many runs, workers are SIGKILLed and restarted, and PostgreSQL and Redis are
restarted, again and again; at the end the store must equal `tbhub export` of the same files.

    .venv/bin/python benchmarks/reliability_faults.py [--seconds 180] [--runs 8]
        [--kill-every 15] [--restart-every 45] [--workers 2]

A private PostgreSQL cluster and redis-server; `tbhub beat`, --workers `tbhub worker`
processes and `tbhub web`, all at default settings (TBHUB_LEASE_SECONDS=30, 16 MiB reads, ...).
Each run starts with a 12 MiB file and a writer appends 20 points to it every 0.5 s. Every
--kill-every seconds one worker (its whole process group) is SIGKILLed and a new one started;
every --restart-every seconds PostgreSQL and Redis are restarted in turn (fast shutdown, 2 s
down). Prints the faults, how long after the last write the store caught up, and whether it
equals the export (every point, none doubled). Loopback only.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--kill-every", type=float, default=15.0)
    parser.add_argument("--restart-every", type=float, default=45.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    from tests.reliability.stack import HubClient, HubProcesses, hub_env, private_services
    from tests.reliability.support import (
        BIG_STEP0,
        big_scalar_records,
        count_points,
        dump_diff,
        export_dump,
        frame,
        scalar_payload,
        version_payload,
    )

    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="tbhub-bench-chaos-"))
    logdir = workdir / "logs"
    paths = []
    for r in range(args.runs):
        path = logdir / f"run{r:02d}" / "events.out.tfevents.1700000000.chaos"
        path.parent.mkdir(parents=True)
        head = frame(version_payload())
        path.write_bytes(head + big_scalar_records(["a", "b"], BIG_STEP0, BIG_STEP0 + 65_000))
        paths.append(path)
    faults: list[str] = []
    with private_services() as (pg, redis):
        env = hub_env(database_url=pg.url, redis_url=redis.url, workdir=workdir)
        procs = HubProcesses(env, workdir)
        procs.migrate_and_admin()
        stop = threading.Event()
        try:
            client = HubClient(procs.start_web())
            assert client.login().status_code == 302
            client.create_project("chaos")
            source_id = client.add_source("chaos", str(logdir))["id"]
            procs.start_beat()
            workers = [f"worker{i}" for i in range(args.workers)]
            for name in workers:
                procs.start_worker(name=name)

            def write() -> None:
                step = 0
                while not stop.is_set():
                    for path in paths:
                        with path.open("ab") as fh:
                            fh.write(
                                b"".join(
                                    frame(scalar_payload("live", s, s * 0.5, 1.7e9 + s))
                                    for s in range(step, step + 20)
                                )
                            )
                    step += 20
                    time.sleep(0.5)

            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            started = time.monotonic()
            next_kill = started + args.kill_every
            next_restart = started + args.restart_every
            restart_pg = True
            n = len(workers)
            while time.monotonic() - started < args.seconds:
                now = time.monotonic()
                if now >= next_kill:
                    victim = rng.choice(workers)
                    procs.kill(victim, signal.SIGKILL)
                    new = f"worker{n}"
                    n += 1
                    workers[workers.index(victim)] = new
                    procs.start_worker(name=new)
                    faults.append(f"{now - started:6.1f} s  SIGKILL {victim}, started {new}")
                    next_kill = now + args.kill_every
                if now >= next_restart:
                    which = "PostgreSQL" if restart_pg else "Redis"
                    (pg if restart_pg else redis).restart(down_seconds=2.0)
                    faults.append(f"{now - started:6.1f} s  restarted {which} (2 s down)")
                    restart_pg = not restart_pg
                    next_restart = now + args.restart_every
                time.sleep(0.2)
            stop.set()
            writer.join(10)
            written = time.monotonic()
            os.environ.update(env)
            import django

            django.setup()
            from ingest.models import EventFile

            def done() -> bool:
                rows = EventFile.objects.filter(run__source_id=source_id).values_list(
                    "run__name", "offset"
                )
                read = dict(rows)
                return all(read.get(p.parent.name) == p.stat().st_size for p in paths)

            deadline = written + 180
            while time.monotonic() < deadline and not done():
                time.sleep(0.5)
            caught_up = time.monotonic() - written
            alive = {name: procs.alive(name) for name in ("web", "beat", *workers)}
        finally:
            stop.set()
            procs.stop()
        from tests.reliability.support import store_dump

        got, want = store_dump(source_id), export_dump(str(logdir))
    print("faults:")
    for line in faults:
        print("  " + line)
    print(f"processes alive at the end (never restarted by us except killed workers): {alive}")
    equal = got == want
    print(
        f"{len(paths)} runs, {count_points(want):,} points in the export; store caught up "
        f"{caught_up:.1f} s after the last write; store == export: {equal}"
    )
    if not equal:
        print(dump_diff(got, want))
    return 0 if equal and all(alive.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
