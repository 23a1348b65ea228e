"""Front-end targets of issue #4, measured in Debian's Chromium through the real product path
(`tbhub serve --logdir DIR`):

- "a chart of 100 runs x 10,000 points renders in < 1 s": time from opening the dashboard
  (navigation start) until the chart of one tag with 100 runs is drawn; and the chart alone
  (card activation → drawn: one batch request, JSON parse, smoothing, uPlot).
- "a 10,000-node graph opens, collapsed by scope, in < 2 s": time from opening the GRAPHS tab
  until the graph is drawn (fetch + hierarchy + layout + SVG), and from navigation start.

Prints medians of --repeat runs. Usage:

    .venv/bin/python benchmarks/frontend_bench.py [--runs 100] [--points 10000] [--nodes 10000]
                                                  [--repeat 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import google_crc32c
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ingest.proto import event_pb2, graph_pb2, summary_pb2  # noqa: E402

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


def _masked(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _record(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return (
        header + struct.pack("<I", _masked(header)) + payload + struct.pack("<I", _masked(payload))
    )


def _event(**kw: object) -> bytes:
    return _record(event_pb2.Event(**kw).SerializeToString())  # type: ignore[arg-type]


def write_scalars(logdir: Path, runs: int, points: int) -> None:
    rng = np.random.default_rng(0)
    for r in range(runs):
        d = logdir / f"sweep/run{r:03d}"
        d.mkdir(parents=True)
        vals = (1.0 / (1 + np.arange(points) / 500.0)) + rng.normal(0, 0.05, points) + r * 0.002
        parts = [_event(wall_time=1.7e9, file_version=b"brain.Event:2")]
        for i in range(points):
            s = summary_pb2.Summary()
            v = s.value.add()
            v.tag = b"loss"
            v.simple_value = float(vals[i])
            parts.append(_event(wall_time=1.7e9 + i, step=i, summary=s))
        (d / "events.out.tfevents.1700000000.bench").write_bytes(b"".join(parts))


def write_graph(logdir: Path, nodes: int) -> None:
    """A graph with two levels of name scopes (like a deep model): ~nodes ops."""
    gd = graph_pb2.GraphDef()
    per_block = 50
    blocks = max(1, nodes // per_block)
    prev = b"input"
    n = gd.node.add()
    n.name, n.op = b"input", b"Placeholder"
    for b in range(blocks):
        scope = f"model/layer{b // 10}/block{b % 10}".encode()
        last = prev
        for i in range(per_block - 1 if b == 0 else per_block):
            node = gd.node.add()
            node.name = scope + f"/op_{i}".encode()
            node.op = [b"Conv2D", b"Relu", b"BiasAdd", b"Add", b"MatMul"][i % 5]
            node.input.append(last)
            a = node.attr.add()
            a.key = b"_output_shapes"
            sh = a.value.list.shape.add()
            for dim in (-1, 32, 32, 64):
                sh.dim.add().size = dim
            last = node.name
        prev = last
    d = logdir / "graph"
    d.mkdir(parents=True)
    (d / "events.out.tfevents.1700000000.bench").write_bytes(
        b"".join(
            [
                _event(wall_time=1.7e9, file_version=b"brain.Event:2"),
                _event(wall_time=1.7e9, graph_def=gd.SerializeToString()),
            ]
        )
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ingested(url: str, runs: int, points: int, timeout: float = 900) -> None:
    import json

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/api/v1/runs", timeout=5) as r:
                data = json.loads(r.read())["runs"]
            done = [
                x for x in data if x["name"].startswith("sweep/") and x["last_step"] == points - 1
            ]
            if len(done) >= runs and any(x["graph"] for x in data):
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise SystemExit("ingest did not finish in time")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", default=None, help="keep (or reuse) the generated log directory here")
    args = ap.parse_args()

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="tbhub-febench-"))
    logdir = Path(args.keep) if args.keep else tmp / "logs"
    if not (logdir / "sweep").is_dir():
        t0 = time.perf_counter()
        write_scalars(logdir, args.runs, args.points)
        write_graph(logdir, args.nodes)
        print(
            f"wrote {args.runs} runs x {args.points} points and a {args.nodes}-node graph in {time.perf_counter() - t0:.1f} s",
            file=sys.stderr,
        )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
    }
    proc = subprocess.Popen(
        [
            str(REPO / ".venv/bin/tbhub"),
            "serve",
            "--logdir",
            str(logdir),
            "--port",
            str(port),
            "--db",
            str(tmp / "hub.sqlite3"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    try:
        t0 = time.perf_counter()
        wait_ingested(url, args.runs, args.points)
        print(f"ingested in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        chart_nav: list[float] = []
        chart_own: list[float] = []
        graph_tab: list[float] = []
        graph_nav: list[float] = []
        watch = (
            "window.__t = {}; new MutationObserver(() => {"
            " const c = document.querySelector(\".scalar-card[data-tag='loss'][data-drawn]\");"
            f" if (c && !window.__t.drawn && Number(c.dataset.lines) >= {args.runs}) {{"
            " window.__t.drawn = performance.now(); window.__t.own = Number(c.dataset.loadMs); } })"
            ".observe(document, {subtree: true, attributes: true, attributeFilter: ['data-drawn']});"
        )
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for _ in range(args.repeat):
                ctx = b.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
                page = ctx.new_page()
                page.add_init_script(watch)
                page.goto(url + "/?tagFilter=%5Eloss%24")
                page.wait_for_function("window.__t.drawn", timeout=60_000)
                chart_nav.append(page.evaluate("window.__t.drawn"))
                chart_own.append(page.evaluate("window.__t.own"))
                ctx.close()
                ctx = b.new_context(viewport={"width": 1400, "height": 900}, bypass_csp=True)
                page = ctx.new_page()
                page.goto(url + "/?panel=graphs&grun=graph")
                page.wait_for_selector("#panel-graphs[data-loaded-ms]", timeout=60_000)
                graph_tab.append(
                    float(page.get_attribute("#panel-graphs", "data-loaded-ms") or "nan")
                )
                graph_nav.append(page.evaluate("performance.now()"))
                ctx.close()
            b.close()

        def fmt(xs: list[float]) -> str:
            return (
                f"median {statistics.median(xs):.0f} ms (each: {', '.join(f'{x:.0f}' for x in xs)})"
            )

        print(
            f"chart, {args.runs} runs x {args.points} points, page open -> drawn: {fmt(chart_nav)}"
        )
        print(
            f"chart, {args.runs} runs x {args.points} points, request -> drawn:   {fmt(chart_own)}"
        )
        print(
            f"graph, {args.nodes} nodes collapsed by scope, request -> drawn:    {fmt(graph_tab)}"
        )
        print(
            f"graph, {args.nodes} nodes collapsed by scope, page open -> drawn:  {fmt(graph_nav)}"
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
