"""Runs list and tag list with 1,000 runs and 50,000 tags: tbhub vs TensorBoard, server time.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tbhub REDIS_URL=redis://127.0.0.1:6379/9 \
    TBHUB_SECRET_KEY=bench .venv/bin/python benchmarks/api_runs.py [--runs 1000] [--tags 50] \
        [--steps 5] [--repeat 9] [--no-tensorboard]

1. Writes one log directory: --runs run directories, each with one event file holding --tags
   scalar tags x --steps steps (simple_value events, like a training loop's metrics).
2. tbhub: creates a throwaway PostgreSQL database next to DATABASE_URL's, migrates it, adds the
   directory as a project's local source and ingests it with the same services the workers run
   (source_list, run_tail). Then times, in-process (Django's full request path: middleware,
   authentication, view, JSON; no network), as a project member:
     - `GET /api/v1/projects/{slug}/runs` (every run with its tags per kind, the data API's
       runs *and* tag list) cold (cache cleared before each request) and warm (cached, as
       repeat visits and every other member see it);
     - `GET /api/v1/projects/{slug}/runs/status` (the project page's runs table data);
     - `GET /projects/{slug}/` (the project page, 1,000 table rows of HTML).
3. TensorBoard (`--load_fast=false`, the Python multiplexer every S3 user gets): loads the same
   directory (timed), then times `/data/plugin/scalars/tags` and `/data/runs` through its WSGI
   app in-process.

Prints the medians of --repeat requests and the ratios. The throwaway database is dropped.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


def write_logs(root: Path, *, runs: int, tags: int, steps: int) -> int:
    """One event file per run; returns the number of bytes written."""
    from ingest.proto import event_pb2
    from ingest.tfrecord import frame_record

    total = 0
    names = [f"metrics/group{t % 10}/tag{t:03d}" for t in range(tags)]
    for r in range(runs):
        d = root / f"exp{r // 100:02d}" / f"run{r:04d}"
        d.mkdir(parents=True, exist_ok=True)
        out = bytearray()
        head = event_pb2.Event(wall_time=1.7e9, file_version=b"brain.Event:2")
        out += frame_record(head.SerializeToString())
        for step in range(steps):
            ev = event_pb2.Event(wall_time=1.7e9 + step, step=step)
            for t, name in enumerate(names):
                v = ev.summary.value.add()
                v.tag = name.encode()  # tbhub's own .proto keeps tags as bytes
                v.simple_value = float(t + step * 0.5 + r * 1e-3)
            out += frame_record(ev.SerializeToString())
        (d / f"events.out.tfevents.{1700000000 + r}.bench").write_bytes(out)
        total += len(out)
    return total


def median_ms(
    fn: Callable[[], object], repeat: int, before: Callable[[], None] | None = None
) -> float:
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def make_database() -> tuple[str, str]:
    """A throwaway database on DATABASE_URL's server: (its URL, the admin URL to drop it)."""
    import psycopg

    base = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tbhub"))
    name = f"tbhub_bench_{secrets.token_hex(4)}"
    admin = urlunsplit(("postgresql", base.netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit((base.scheme, base.netloc, f"/{name}", "", "")), admin


def drop_database(url: str, admin: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def bench_tbhub(logdir: Path, args: argparse.Namespace) -> dict[str, float]:
    os.environ["TBHUB_LOCAL_ROOTS"] = str(logdir.parent)
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
    os.environ.setdefault("TBHUB_SECRET_KEY", "bench-" + secrets.token_hex(8))
    os.environ["DJANGO_SETTINGS_MODULE"] = "tbhub.settings"
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.core.management import call_command
    from django.test import Client

    from hub import services as hub_services
    from ingest import dispatch
    from ingest import services as ingest_services

    call_command("migrate", verbosity=0, interactive=False)
    user = get_user_model().objects.create_user("bench", "bench@example.com", "bench-password-1")
    project = hub_services.project_create(user=user, name="Bench", slug="bench")
    dispatch.local_set(lambda kind, ident: None)  # no broker: this process does the work
    source = hub_services.source_create(project=project, user=user, url=str(logdir))
    dispatch.local_set(None)
    t0 = time.perf_counter()
    if args.ingest == "services":
        queued: list[tuple[str, int]] = []
        dispatch.local_set(lambda kind, ident: queued.append((kind, ident)))
        ingest_services.source_list(source_id=source.pk)
        while queued:
            kind, ident = queued.pop()
            if kind == "tail":
                ingest_services.run_tail(run_id=ident, budget_seconds=60.0)
        dispatch.local_set(None)
    else:
        insert_rows(source, args)
    ingest_s = time.perf_counter() - t0
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)

    def get(path: str) -> bytes:
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.status_code, resp.content[:200])
        return bytes(resp.content)

    runs = __import__("json").loads(get("/api/v1/projects/bench/runs"))["runs"]
    n_tags = sum(len(r["tags"]["scalars"]) for r in runs)
    print(
        f"tbhub: {len(runs)} runs, {n_tags} scalar tags stored in {ingest_s:.1f} s ({args.ingest})",
        file=sys.stderr,
    )
    assert len(runs) == args.runs, len(runs)
    assert n_tags == args.runs * args.tags, n_tags
    r = args.repeat
    return {
        "runs+tags cold": median_ms(lambda: get("/api/v1/projects/bench/runs"), r, cache.clear),
        "runs+tags warm": median_ms(lambda: get("/api/v1/projects/bench/runs"), r),
        "run status": median_ms(lambda: get("/api/v1/projects/bench/runs/status"), r),
        "project page": median_ms(lambda: get("/projects/bench/"), r),
        "ingest s": ingest_s,
    }


def insert_rows(source: object, args: argparse.Namespace) -> None:
    """The rows ingest would write for these logs (runs, files, one scalar chunk per series),
    written with bulk inserts: the read side is what this benchmark measures."""
    import numpy as np
    from django.utils import timezone

    from ingest.models import EventFile, Kind, Run, ScalarChunk, Series

    now = timezone.now()
    steps = np.arange(args.steps, dtype="<i8")
    walls = (1.7e9 + steps).astype("<f8")
    runs = Run.objects.bulk_create(
        [
            Run(
                source=source,
                name=f"exp{r // 100:02d}/run{r:04d}",
                start_time=1.7e9,
                last_wall_time=float(walls[-1]),
                last_step=int(steps[-1]),
                updated_at=now,
                file_version=2.0,
                version=1,
            )
            for r in range(args.runs)
        ],
        batch_size=2000,
    )
    EventFile.objects.bulk_create(
        [
            EventFile(
                run=run,
                name=f"events.out.tfevents.{1700000000 + i}.bench",
                size=1000,
                offset=1000,
                records=args.steps + 1,
                last_read_at=now,
            )
            for i, run in enumerate(runs)
        ],
        batch_size=2000,
    )
    names = [f"metrics/group{t % 10}/tag{t:03d}" for t in range(args.tags)]
    series = Series.objects.bulk_create(
        [
            Series(
                run=run,
                tag=name,
                kind=Kind.SCALAR,
                plugin="scalars",
                dtype="float32",
                count=args.steps,
                next_seq=args.steps,
                first_step=0,
                last_step=int(steps[-1]),
                last_wall_time=float(walls[-1]),
            )
            for run in runs
            for name in names
        ],
        batch_size=5000,
    )
    values = np.linspace(0, 1, args.steps).astype("<f4")
    ScalarChunk.objects.bulk_create(
        [
            ScalarChunk(
                series=s,
                seq=0,
                count=args.steps,
                min_step=0,
                max_step=int(steps[-1]),
                min_wall=float(walls[0]),
                max_wall=float(walls[-1]),
                min_value=0.0,
                max_value=1.0,
                dtype="f4",
                steps=steps.tobytes(),
                wall_times=walls.tobytes(),
                values=values.tobytes(),
            )
            for s in series
        ],
        batch_size=5000,
    )


def bench_tensorboard(logdir: Path, args: argparse.Namespace) -> dict[str, float]:
    import json
    import logging

    logging.getLogger("tensorboard").setLevel(logging.WARNING)
    from tensorboard import program
    from tensorboard.backend import application
    from werkzeug.test import Client as WsgiClient

    tb = program.TensorBoard()
    tb.configure(logdir=str(logdir), load_fast="false", reload_interval=0, reload_task="blocking")
    t0 = time.perf_counter()
    provider, mux = tb._make_data_provider()  # blocking: loads every run once
    load_s = time.perf_counter() - t0
    app = application.TensorBoardWSGIApp(
        tb.flags, tb.plugin_loaders, provider, tb.assets_zip_provider, mux
    )
    client = WsgiClient(app)

    def get(path: str) -> bytes:
        resp = client.get(path)
        assert resp.status_code == 200, (path, resp.status_code)
        return bytes(resp.data)

    tags = json.loads(get("/data/plugin/scalars/tags"))
    n_tags = sum(len(v) for v in tags.values())
    print(f"tensorboard: loaded {len(tags)} runs, {n_tags} tags in {load_s:.1f} s", file=sys.stderr)
    r = args.repeat
    return {
        "scalars/tags": median_ms(lambda: get("/data/plugin/scalars/tags"), r),
        "runs": median_ms(lambda: get("/data/runs"), r),
        "load s": load_s,
    }


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--tags", type=int, default=50, help="scalar tags per run")
    p.add_argument("--steps", type=int, default=5, help="points per tag")
    p.add_argument("--repeat", type=int, default=9)
    p.add_argument("--no-tensorboard", action="store_true")
    p.add_argument(
        "--ingest",
        choices=("direct", "services"),
        default="direct",
        help="direct: bulk-insert the rows ingest would write (fast); services: run the real "
        "listing and tail services over the event files (slow at this scale)",
    )
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="tbhub-bench-") as tmp:
        logdir = Path(tmp) / "logs"
        t0 = time.perf_counter()
        size = write_logs(logdir, runs=args.runs, tags=args.tags, steps=args.steps)
        print(
            f"wrote {args.runs} runs x {args.tags} tags x {args.steps} steps "
            f"({size / 1e6:.1f} MB) in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
        db_url, admin = make_database()
        os.environ["DATABASE_URL"] = db_url
        try:
            hub = bench_tbhub(logdir, args)
        finally:
            from django.db import connections

            connections.close_all()
            drop_database(db_url, admin)
        tb = None if args.no_tensorboard else bench_tensorboard(logdir, args)

    print(
        f"\n{args.runs} runs, {args.runs * args.tags} tags; median of {args.repeat} requests, server time"
    )
    print(f"{'':34}{'tbhub':>12}{'TensorBoard':>14}{'TB / tbhub':>12}")
    rows = [
        ("runs + tag list (cold cache)", hub["runs+tags cold"], tb and tb["scalars/tags"]),
        ("runs + tag list (warm cache)", hub["runs+tags warm"], tb and tb["scalars/tags"]),
        ("TB /data/runs (names only)", hub["runs+tags warm"], tb and tb["runs"]),
        ("run status (project page data)", hub["run status"], None),
        ("project page (HTML)", hub["project page"], None),
    ]
    for label, ours, theirs in rows:
        ratio = f"{theirs / ours:10.1f}x" if theirs else ""
        theirs_s = f"{theirs:11.1f} ms" if theirs else f"{'—':>14}"
        print(f"{label:34}{ours:9.1f} ms{theirs_s}{ratio:>12}")
    load = f"{tb['load s']:11.1f} s " if tb else f"{'—':>14}"
    print(f"{'initial load / store (' + args.ingest + ')':34}{hub['ingest s']:9.1f} s {load}")
    target = 200.0
    worst = max(hub["runs+tags cold"], hub["run status"])
    print(
        f"\ntarget < {target:.0f} ms for the runs and tag lists: "
        f"{'met' if worst < target else 'NOT met'} (worst {worst:.1f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
