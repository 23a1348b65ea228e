"""Helpers of the reliability suite: event bytes made fast, and "what the hub stores" vs "what
`tbhub export` prints" in one comparable shape.

A *dump* maps (kind, run, tag) to the list of that series' items in load order:

- scalar: (step, wall_time, value); histogram: (step, wall_time, buckets); image: (step,
  wall_time, index, width, height, sha256); text: (step, wall_time, text); graph (tag ""):
  [node count of the latest GraphDef].

Numbers are normalised the way both sides print them (float32 widened exactly, non-finite values
as "NaN"/"Infinity"/"-Infinity"), so equality means every point, nothing doubled, same order.
"""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import google_crc32c
import numpy as np

Dump = dict[tuple[str, str, str], list[Any]]


# ---- event bytes ---------------------------------------------------------------------------------


def _masked(b: bytes) -> int:
    c = google_crc32c.value(b)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(payload: bytes) -> bytes:
    header = struct.pack("<Q", len(payload))
    return (
        header + struct.pack("<I", _masked(header)) + payload + struct.pack("<I", _masked(payload))
    )


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _ld(field: int, data: bytes) -> bytes:
    return _varint((field << 3) | 2) + _varint(len(data)) + data


def scalar_payload(tag: bytes | str, step: int, value: float, wall: float) -> bytes:
    """A serialized `Event{wall_time, step, summary{value{tag, simple_value}}}`, built by hand
    (byte-identical to protobuf's output) so that millions of records take seconds."""
    raw_tag = tag.encode() if isinstance(tag, str) else tag
    val = _ld(1, raw_tag) + b"\x15" + struct.pack("<f", value)
    summary = _ld(1, val)
    step_field = b"\x10" + _varint(step) if step else b""  # proto3 leaves out zero
    return b"\x09" + struct.pack("<d", wall) + step_field + _ld(5, summary)


def version_payload(wall: float = 1_700_000_000.0) -> bytes:
    return b"\x09" + struct.pack("<d", wall) + _ld(3, b"brain.Event:2")


def scalar_records(
    tags: Iterable[bytes | str], steps: Iterable[int], *, wall0: float = 1_700_000_000.0
) -> bytes:
    """Frames for every (step, tag): value = step * 0.5 + tag index (exact in float32 below
    2**23), wall time = wall0 + step."""
    tag_list = list(tags)
    parts = []
    for step in steps:
        for i, tag in enumerate(tag_list):
            parts.append(frame(scalar_payload(tag, step, step * 0.5 + i, wall0 + step)))
    return b"".join(parts)


BIG_STEP0 = 1 << 14  # steps from here to 2**21 take exactly three varint bytes


def big_scalar_records(
    tags: list[str], start: int, stop: int, *, wall0: float = 1_700_000_000.0
) -> bytes:
    """The same records as `scalar_records(tags, range(start, stop))` for steps within
    [BIG_STEP0, 2**21), built with numpy (about a million records a second): records of one tag
    all have the same length, so they are one 2-D array whose varying columns are filled at
    once."""
    if start < BIG_STEP0 or stop > 1 << 21:
        raise ValueError("steps must take exactly three varint bytes")
    step = np.arange(start, stop, dtype=np.int64)
    steps = len(step)
    parts = []
    for i, tag in enumerate(tags):
        template = frame(scalar_payload(tag, start, 0.0, 0.0))
        width = len(template)
        rows = np.tile(np.frombuffer(template, np.uint8), (steps, 1))
        # payload starts after the 12-byte header: 0x09 wall(8) 0x10 step(3) ...
        rows[:, 13:21] = np.ascontiguousarray(wall0 + step, "<f8").view(np.uint8).reshape(-1, 8)
        rows[:, 22] = (step & 0x7F) | 0x80
        rows[:, 23] = ((step >> 7) & 0x7F) | 0x80
        rows[:, 24] = step >> 14
        value = (step * 0.5 + i).astype("<f4")
        rows[:, width - 8 : width - 4] = np.ascontiguousarray(value).view(np.uint8).reshape(-1, 4)
        crcs = np.fromiter(
            (_masked(r.tobytes()) for r in rows[:, 12 : width - 4]), np.uint32, count=steps
        )
        rows[:, width - 4 :] = crcs.astype("<u4").view(np.uint8).reshape(-1, 4)
        parts.append(rows)
    # step-major, then tag, like a writer logging every tag at every step
    return np.concatenate(parts, axis=1).tobytes()


def write_big_scalar_file(path: Path, *, target_bytes: int, tags: int = 4) -> int:
    """A version record, then scalar records (steps from BIG_STEP0) until the file holds about
    `target_bytes`. Returns the number of steps written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [f"metric/{i}" for i in range(tags)]
    per_step = len(scalar_records(names, [BIG_STEP0]))
    steps = max(1, target_bytes // per_step)
    with path.open("wb") as fh:
        fh.write(frame(version_payload()))
        block = 50_000
        for start in range(BIG_STEP0, BIG_STEP0 + steps, block):
            fh.write(big_scalar_records(names, start, min(start + block, BIG_STEP0 + steps)))
    return steps


# ---- dumps ------------------------------------------------------------------------------------------


def norm(x: Any) -> Any:
    """A number as both sides print it: floats exact, non-finite as TensorBoard's strings."""
    if isinstance(x, str):
        return x
    f = float(x)
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "Infinity" if f > 0 else "-Infinity"
    return f


def export_dump(url: str, **open_kw: Any) -> Dump:
    """What `tbhub export URL` prints, as a dump (same code as the command, in-process)."""
    from ingest.export import export_logdir, iter_lines
    from ingest.sources import open_logdir

    out = io.BytesIO()
    export_logdir(open_logdir(url, **open_kw), out, progress=False)
    return lines_dump(iter_lines(out.getvalue()))


def lines_dump(lines: Iterable[dict[str, Any]]) -> Dump:
    dump: Dump = {}
    for ln in lines:
        kind = ln["kind"]
        if kind == "graph":
            dump[("graph", ln["run"], "")] = [ln["nodes"]]
            continue
        key = (kind, ln["run"], ln["tag"])
        head = (ln["step"], norm(ln["wall_time"]))
        if kind == "scalar":
            item: tuple[Any, ...] = (*head, norm(ln["value"]))
        elif kind == "histogram":
            item = (*head, tuple(tuple(norm(v) for v in b) for b in ln["buckets"]))
        elif kind == "image":
            item = (*head, ln["index"], ln["width"], ln["height"], ln["sha256"])
        else:
            item = (*head, ln["text"])
        dump.setdefault(key, []).append(item)
    return dump


def store_dump(source_id: int) -> Dump:
    """Everything the store holds for one source, read through `panels.selectors`."""
    from ingest.export import render_text
    from ingest.models import GraphBlob, GraphKind, Kind, Run, Series
    from panels import selectors

    dump: Dump = {}
    for run in Run.objects.filter(source_id=source_id).order_by("name"):
        for s in Series.objects.filter(run=run).order_by("tag"):
            key_kind = {
                str(Kind.SCALAR): "scalar",
                str(Kind.HISTOGRAM): "histogram",
                str(Kind.IMAGE): "image",
                str(Kind.TEXT): "text",
            }.get(str(s.kind))
            if key_kind is None:
                continue
            items: list[Any] = []
            if s.kind == Kind.SCALAR:
                d = selectors.scalar_series_read(series=s)
                vals = d.values.astype(np.float64).tolist()
                items = [
                    (st, norm(w), norm(v))
                    for st, w, v in zip(d.steps.tolist(), d.wall_times.tolist(), vals, strict=True)
                ]
            elif s.kind == Kind.HISTOGRAM:
                for st, w, b, _ in selectors.histogram_series_read(series=s):
                    items.append((st, norm(w), tuple(tuple(norm(v) for v in row) for row in b)))
            elif s.kind == Kind.IMAGE:
                for im in selectors.image_series_read(series=s):
                    items.append(
                        (
                            im["step"],
                            norm(im["wall_time"]),
                            im["index"],
                            im["width"],
                            im["height"],
                            im["sha256"],
                        )
                    )
            else:
                for t in selectors.text_series_read(series=s):
                    items.append(
                        (t["step"], norm(t["wall_time"]), render_text(t["shape"], t["values"]))
                    )
            if items:
                dump[(key_kind, run.name, s.tag)] = items
        blob = (
            GraphBlob.objects.filter(run=run, kind=GraphKind.GRAPH_DEF)
            .exclude(node_count=None)
            .order_by("-seq")
            .first()
        )
        if blob is not None:
            dump[("graph", run.name, "")] = [blob.node_count]
    return dump


def dump_diff(got: Dump, want: Dump, limit: int = 6) -> str:
    """A short readable difference ("" when equal)."""
    lines = []
    for key in sorted(set(got) | set(want)):
        a, b = got.get(key, []), want.get(key, [])
        if a == b:
            continue
        if len(a) != len(b):
            lines.append(f"{key}: stored {len(a)} items, export {len(b)}")
        else:
            first = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
            lines.append(f"{key}: item {first}: stored {a[first]!r} != export {b[first]!r}")
        if len(lines) >= limit:
            lines.append("...")
            break
    return "\n".join(lines)


def count_points(dump: Dump) -> int:
    return sum(len(v) for k, v in dump.items() if k[0] != "graph")


# ---- waiting ----------------------------------------------------------------------------------------


def wait_for(pred: Callable[[], Any], timeout: float, what: str, interval: float = 0.1) -> Any:
    """Poll `pred` until it returns something truthy; return it (or fail after `timeout`)."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while True:
        try:
            got = pred()
            if got:
                return got
        except Exception as exc:  # the thing polled may be restarting
            last_exc = exc
        if time.monotonic() > deadline:
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}{extra}")
        time.sleep(interval)


def ingest_all(source_id: int, *, budget: float = 60.0) -> None:
    """List a source, then tail every run until nothing is pending (what the workers do), in
    this process."""
    from ingest import dispatch, services
    from ingest.models import Run

    dispatch.local_set(lambda kind, ident: None)
    try:
        services.source_list(source_id=source_id)
        for run in Run.objects.filter(source_id=source_id):
            while services.run_tail(run_id=run.pk, budget_seconds=budget).more:
                pass
    finally:
        dispatch.local_set(None)


# ---- seeding a big project (load tests and benchmarks) ---------------------------------------------


def seed_project(
    project: Any, *, runs: int, tags: int, points: int, source_url: str = "s3://seed/logs"
) -> list[int]:
    """`runs` runs x `tags` scalar tags x `points` points, written as ingest.store lays them out
    (one chunk per CHUNK_POINTS points), with bulk inserts: 1,000 runs take seconds.
    Returns the run ids."""
    from django.utils import timezone

    from ingest.models import Run, ScalarChunk, Series, Source
    from ingest.store import CHUNK_POINTS

    source = Source.objects.create(
        project=project,
        url=source_url,
        status="ok",
        next_list_at=timezone.now() + timedelta(days=365),
    )
    now = timezone.now()
    run_rows = Run.objects.bulk_create(
        [
            Run(
                source=source,
                name=f"sweep/lr_{i:04d}",
                start_time=1_700_000_000.0 + i,
                last_wall_time=1_700_000_000.0 + i + points,
                last_step=points - 1,
                version=1,
                updated_at=now,
            )
            for i in range(runs)
        ],
        batch_size=1000,
    )
    rng = np.random.default_rng(0)
    steps = np.arange(points, dtype=np.int64)
    walls = 1_700_000_000.0 + steps.astype(np.float64)
    names = ["loss/train", "loss/eval", "accuracy", "lr", "grad_norm", "throughput"][:tags] + [
        f"metric_{k}" for k in range(max(0, tags - 6))
    ]
    for start in range(0, len(run_rows), 100):
        batch = run_rows[start : start + 100]
        series = Series.objects.bulk_create(
            [
                Series(
                    run=run,
                    tag=tag,
                    kind="scalar",
                    dtype="float32",
                    count=points,
                    next_seq=points,
                    first_step=0,
                    last_step=points - 1,
                    last_wall_time=float(walls[-1]),
                    chunk_count=(points + CHUNK_POINTS - 1) // CHUNK_POINTS,
                    tail_points=points - CHUNK_POINTS * ((points - 1) // CHUNK_POINTS),
                )
                for run in batch
                for tag in names
            ]
        )
        chunks = []
        for s in series:
            values = (np.cumsum(rng.standard_normal(points)) * 0.01 + 1.0).astype(np.float32)
            for seq, a in enumerate(range(0, points, CHUNK_POINTS)):
                b = min(points, a + CHUNK_POINTS)
                chunks.append(
                    ScalarChunk(
                        series=s,
                        seq=seq,
                        count=b - a,
                        min_step=int(steps[a]),
                        max_step=int(steps[b - 1]),
                        min_wall=float(walls[a]),
                        max_wall=float(walls[b - 1]),
                        min_value=float(values[a:b].min()),
                        max_value=float(values[a:b].max()),
                        dtype="f4",
                        steps=steps[a:b].astype("<i8").tobytes(),
                        wall_times=walls[a:b].astype("<f8").tobytes(),
                        values=values[a:b].astype("<f4").tobytes(),
                    )
                )
        ScalarChunk.objects.bulk_create(chunks, batch_size=500)
    return [r.pk for r in run_rows]
