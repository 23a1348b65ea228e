"""Hostile input, the long variants of tests/reliability/test_hostile_input.py.

    .venv/bin/python benchmarks/reliability_hostile.py [--fuzz-seconds 120] [--graph-nodes 1000000]
        [--seed N]

1. Fuzzing through the whole ingest path for --fuzz-seconds: each case is a random event stream
   (benchmarks/fuzz_decoder.py's generator: scalars in every wire form, text, histograms, graphs,
   session logs, junk payloads) damaged at random (bit flips, length/CRC corruption, huge
   lengths with valid CRCs, truncation, overwritten bytes), or plain random bytes, written as a
   `*tfevents*` file of a new run; the real services list and tail it into PostgreSQL and the
   store must equal `tbhub export` of that run. Failing inputs are saved to benchmarks/out/.
2. A GraphDef with --graph-nodes nodes: ingest time and memory, then `GET …/graphs` through a
   real `tbhub web`: with the default cap (TBHUB_GRAPH_MAX_NODES=200000) it must answer 413 at
   once; with the cap raised above the graph, the time, body size and web RSS are printed.

A private PostgreSQL cluster and redis-server (tests/reliability/stack.py); this process runs
the ingest services itself. Loopback only.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def fuzz(source_dir: Path, source_id: int, seconds: float, seed: int) -> tuple[int, int, int]:
    import numpy as np

    from benchmarks.fuzz_decoder import damage, random_stream
    from ingest import dispatch, services
    from ingest.models import Run
    from tests.ingest import writers as w
    from tests.reliability.support import dump_diff, export_dump, store_dump

    rng = np.random.default_rng(seed)
    out = ROOT / "benchmarks" / "out"
    cases = failures = known_nul = 0
    deadline = time.monotonic() + seconds
    dispatch.local_set(lambda kind, ident: None)
    while time.monotonic() < deadline:
        pick = rng.integers(0, 3)
        data = w.records(random_stream(rng))
        if pick == 1 and data:
            data, _ = damage(rng, data)
        elif pick == 2:
            data = rng.bytes(int(rng.integers(0, 5000)))
        run = f"case{cases:06d}"
        (source_dir / run).mkdir()
        (source_dir / run / "events.out.tfevents.1.fuzz").write_bytes(data)
        cases += 1
        try:
            services.source_list(source_id=source_id)
            r = Run.objects.get(source_id=source_id, name=run)
            while services.run_tail(run_id=r.pk, budget_seconds=30).more:
                pass
            got = {k: v for k, v in store_dump(source_id).items() if k[1] == run}
            want = {k: v for k, v in export_dump(str(source_dir)).items() if k[1] == run}
            if got != want:
                raise AssertionError(dump_diff(got, want))
        except Exception as exc:
            from ingest.models import EventFile

            stuck = EventFile.objects.filter(
                run__source_id=source_id, run__name=run, error__contains="cannot store this data"
            ).exists()
            if stuck:  # NUL characters: the known bug (docs/RELIABILITY.md, finding 3)
                known_nul += 1
            else:
                failures += 1
                out.mkdir(parents=True, exist_ok=True)
                name = out / f"hostile-{seed}-{cases}.bin"
                name.write_bytes(data)
                print(f"FAILURE ({exc!r:.300}); input saved to {name}", flush=True)
        # Keep the source small: later listings would grow with every case.
        Run.objects.filter(source_id=source_id, name=run).delete()
        (source_dir / run / "events.out.tfevents.1.fuzz").unlink()
        (source_dir / run).rmdir()
    dispatch.local_set(None)
    return cases, failures, known_nul


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fuzz-seconds", type=float, default=120.0)
    parser.add_argument("--graph-nodes", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    import logging

    logging.getLogger("ingest").setLevel(logging.CRITICAL)  # damaged records are expected here

    from tests.reliability.loadgen import rss_mib
    from tests.reliability.stack import HubClient, HubProcesses, hub_env, private_services
    from tests.reliability.support import frame, version_payload

    workdir = Path(tempfile.mkdtemp(prefix="tbhub-bench-hostile-"))
    fuzz_dir = workdir / "fuzz"
    fuzz_dir.mkdir()
    graph_dir = workdir / "graph"
    (graph_dir / "big").mkdir(parents=True)
    ok = True
    with private_services() as (pg, redis):
        env = hub_env(database_url=pg.url, redis_url=redis.url, workdir=workdir)
        procs = HubProcesses(env, workdir)
        procs.migrate_and_admin()
        os.environ.update(env)
        import django

        django.setup()
        from hub.models import Project
        from ingest.models import Source

        project = Project.objects.create(slug="hostile", name="Hostile")
        fuzz_source = Source.objects.create(project=project, url=str(fuzz_dir))
        started = time.monotonic()
        cases, failures, known_nul = fuzz(fuzz_dir, fuzz_source.pk, args.fuzz_seconds, args.seed)
        print(
            f"fuzz (seed {args.seed}): {cases} cases through listing, tail and store in "
            f"{time.monotonic() - started:.0f} s: {failures} failures, {known_nul} files stopped "
            "by a NUL character (the known bug, docs/RELIABILITY.md, finding 3)"
        )
        ok = ok and failures == 0

        # A GraphDef with --graph-nodes nodes.
        from tests.reliability.test_hostile_input import big_graph_def, graph_event

        t = time.monotonic()
        gd = big_graph_def(args.graph_nodes)
        built = time.monotonic() - t
        (graph_dir / "big" / "events.out.tfevents.1.graph").write_bytes(
            frame(version_payload()) + frame(graph_event(gd))
        )
        graph_source = Source.objects.create(project=project, url=str(graph_dir))
        from tests.reliability.support import ingest_all

        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t = time.monotonic()
        ingest_all(graph_source.pk)
        ingested = time.monotonic() - t
        rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        from ingest.models import GraphBlob

        blob = GraphBlob.objects.get(run__source=graph_source)
        print(
            f"graph: {args.graph_nodes:,} nodes, {len(gd) / 1e6:.1f} MB serialized (built in "
            f"{built:.1f} s); ingested in {ingested:.1f} s, node_count={blob.node_count:,}, "
            f"ingest process peak RSS {rss0:.0f} -> {rss1:.0f} MiB"
        )
        ok = ok and blob.node_count == args.graph_nodes
        try:
            client = HubClient(procs.start_web())
            assert client.login().status_code == 302
            t = time.monotonic()
            r = client.get("/api/v1/projects/hostile/graphs", timeout=300, run="big")
            print(
                f"GET graphs with the default cap: {r.status_code} in "
                f"{time.monotonic() - t:.2f} s: {r.json()}"
            )
            ok = ok and r.status_code == 413
            procs.kill("web")
            procs.env = {**procs.env, "TBHUB_GRAPH_MAX_NODES": str(args.graph_nodes * 2)}
            client = HubClient(procs.start_web())
            assert client.login().status_code == 302
            pid = procs.procs["web"].pid
            before = rss_mib(pid)
            t = time.monotonic()
            r = client.get("/api/v1/projects/hostile/graphs", timeout=600, run="big")
            seconds = time.monotonic() - t
            after = rss_mib(pid)
            body = len(r.content)
            nodes = len(r.json().get("nodes", [])) if r.status_code == 200 else None
            print(
                f"GET graphs with the cap raised: {r.status_code} in {seconds:.1f} s, "
                f"{body / 1e6:.1f} MB of JSON ({nodes:,} nodes), web RSS {before:.0f} -> "
                f"{after:.0f} MiB"
            )
            ok = ok and r.status_code == 200 and nodes == args.graph_nodes
        finally:
            procs.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
