"""Decode speed: TensorBoard's EventFileLoader vs our protobuf path vs our fast path.

    .venv/bin/python benchmarks/decode.py [--steps 50000] [--tags 20] [--repeat 3]
                                          [--layouts scalars,img500,hist500,hist50,corpus]
                                          [--forms simple_value,tf2_tensor] [--no-tb] [--check]

Writes event files the way training loops do — `tags` scalar events every step, step-major, in
two wire formats: PyTorch/TF1 `simple_value` (plugin metadata on a tag's first value only) and
TF2 tensors (rank-0 DT_FLOAT in tensor_content with `scalars` metadata and data_class on every
value, as TF's C++ writer does) — in several layouts:

    scalars   scalars only
    img500    + a 16x16 PNG image every 500 steps (legacy `image` / TF2 [w, h, png] string tensor)
    hist500   + 2 histograms (30 buckets) every 500 steps (legacy `histo` / TF2 [30, 3] DT_DOUBLE)
    hist50    + 2 histograms every 50 steps
    corpus    + 2 histograms every 50 steps and an image every 500 (benchmarks/ingest.py's runs)

and prints events per second for each decoder on ONE core (the process is pinned to one CPU with
os.sched_setaffinity): medians of --repeat runs, per CPU-second of this process (steady on a
shared machine) and per wall-clock second. "events" are all records of the file (scalars,
histograms, images and the file_version record); the scalar point count is checked.

Our decoders are timed the way the hub ingests: 16 MiB windows through `ingest.events.decode`
(framing + both CRCs + decoding into columnar arrays), one TagRegistry per file. TensorBoard's
loader (only on the scalars layout, on --tb-steps steps: it is slow) is timed iterating
`EventFileLoader(path).Load()` (framing, CRCs, protobuf parsing and its data_compat migration),
once with its own pure-Python CRC32C and once with google-crc32c swapped in (its module-level
`crc32c` function is replaced for the run; the TF-free stub has no other hook). The protobuf
path is timed on the scalars layout only unless --all-paths. --check decodes every file with both
of our paths once (untimed) and fails if their outputs differ in any bit.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import io
import itertools
import os
import statistics
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import google_crc32c
import numpy as np

from ingest import events, tfrecord
from ingest.decoded import TagRegistry
from ingest.proto import event_pb2, summary_pb2

WINDOW = 16 * 1024 * 1024
WALL0 = 1_700_000_000.0
LAYOUTS: dict[str, tuple[int, int]] = {  # name: (histograms every, image every)
    "scalars": (0, 0),
    "img500": (0, 500),
    "hist500": (500, 0),
    "hist50": (50, 0),
    "corpus": (50, 500),
}
DESCRIPTION = {
    "scalars": "scalars only",
    "img500": "+ an image every 500 steps",
    "hist500": "+ 2 histograms every 500 steps",
    "hist50": "+ 2 histograms every 50 steps",
    "corpus": "+ 2 histograms / 50 steps + image / 500",
}
HIST_TAGS = 2
HIST_BUCKETS = 30


# ---- writing -----------------------------------------------------------------------------------

_SENTINEL_F32 = struct.pack("<f", struct.unpack("<f", b"\x5a\xa5\x3c\x3f")[0])
_SENTINEL_WALL = struct.unpack("<d", b"\x11\x22\x33\x44\x55\x66\x77\x41")[0]


def tag_names(tags: int) -> list[str]:
    names = [
        f"metrics/{name}_{i:02d}"
        for i, name in enumerate(["loss", "acc", "lr", "grad_norm", "throughput"] * 4)
    ][:tags]
    return names + [f"extra/tag_{i}" for i in range(len(names), tags)]


def _scalar_payload(
    tag: str, step: int, wall: float, value: bytes, *, tensor: bool, meta: bool
) -> bytes:
    ev = event_pb2.Event(wall_time=wall, step=step)
    v = ev.summary.value.add(tag=tag.encode())
    if tensor:
        v.tensor.dtype = 1  # type: ignore[assignment]  # DT_FLOAT
        v.tensor.tensor_shape.SetInParent()
        v.tensor.tensor_content = value
        v.metadata.plugin_data.plugin_name = b"scalars"
        v.metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    else:
        v.simple_value = struct.unpack("<f", value)[0]
        if meta:
            v.metadata.plugin_data.plugin_name = b"scalars"
    return bytes(ev.SerializeToString())


def _varint_width(n: int) -> int:
    width = 1
    while n >= 0x80:
        n >>= 7
        width += 1
    return width


def _scalar_block(
    tag: str, steps: np.ndarray, walls: np.ndarray, values: np.ndarray, *, tensor: bool
) -> np.ndarray:
    """Framed records (n x (L + 16) bytes) of one tag's events at `steps` (all > 0, one varint
    width): one serialized template with its wall/step/value columns replaced. Checked against
    protobuf serialization of the first and last event."""
    n = len(steps)
    payload = _scalar_payload(
        tag, int(steps[0]), _SENTINEL_WALL, _SENTINEL_F32, tensor=tensor, meta=False
    )
    width = _varint_width(int(steps[0]))
    length = len(payload)
    voff = payload.find(_SENTINEL_F32)
    assert payload[0] == 0x09, "wall_time first"
    assert payload[9] == 0x10, "then the step"
    assert payload.count(_SENTINEL_F32) == 1, "one value"
    body = np.empty((n, length), dtype=np.uint8)
    body[:] = np.frombuffer(payload, dtype=np.uint8)
    body[:, 1:9] = np.ascontiguousarray(walls, dtype="<f8").view(np.uint8).reshape(n, 8)
    s = steps.astype(np.uint64)
    for j in range(width):
        byte = (s >> np.uint64(7 * j)) & np.uint64(0x7F)
        if j < width - 1:
            byte |= np.uint64(0x80)
        body[:, 10 + j] = byte.astype(np.uint8)
    body[:, voff : voff + 4] = (
        np.ascontiguousarray(values, dtype="<f4").view(np.uint8).reshape(n, 4)
    )
    for i in (0, n - 1):
        want = _scalar_payload(
            tag, int(steps[i]), float(walls[i]), values[i].tobytes(), tensor=tensor, meta=False
        )
        assert body[i].tobytes() == want, "template layout mismatch"
    rows = np.empty((n, length + 16), dtype=np.uint8)
    rows[:, :8] = np.frombuffer(struct.pack("<Q", length), dtype=np.uint8)
    rows[:, 8:12] = np.frombuffer(
        struct.pack("<I", tfrecord.masked_crc32c(struct.pack("<Q", length))), dtype=np.uint8
    )
    rows[:, 12 : 12 + length] = body
    # CRCs one by one with the C library (independent of the decoder's column-wise method).
    crc = np.fromiter((_masked_crc(row) for row in body), dtype=np.uint32, count=n)
    rows[:, 12 + length :] = crc.astype("<u4").view(np.uint8).reshape(n, 4)
    return rows


def _masked_crc(data: Any) -> int:
    crc = google_crc32c.value(bytes(data))
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _histogram(tag: str, step: int, wall: float, rng: Any, *, tensor: bool, first: bool) -> bytes:
    sample = rng.standard_normal(256)
    counts, edges = np.histogram(sample, bins=HIST_BUCKETS)
    ev = event_pb2.Event(wall_time=wall, step=step)
    value = ev.summary.value.add(tag=tag.encode())
    if tensor:
        arr = np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)
        value.tensor.dtype = 2  # type: ignore[assignment]  # DT_DOUBLE
        value.tensor.tensor_shape.dim.add(size=HIST_BUCKETS)
        value.tensor.tensor_shape.dim.add(size=3)
        value.tensor.tensor_content = arr.astype("<f8").tobytes()
        value.metadata.plugin_data.plugin_name = b"histograms"
    else:
        h = value.histo
        h.min, h.max = float(sample.min()), float(sample.max())
        h.num, h.sum = float(len(sample)), float(sample.sum())
        h.sum_squares = float((sample * sample).sum())
        h.bucket_limit.extend(edges[1:].tolist())
        h.bucket.extend(counts.astype(float).tolist())
        if first:
            value.metadata.plugin_data.plugin_name = b"histograms"
    return tfrecord.frame_record(ev.SerializeToString())


def _png(seed: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), "RGB")
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _image(step: int, wall: float, png: bytes, *, tensor: bool) -> bytes:
    ev = event_pb2.Event(wall_time=wall, step=step)
    value = ev.summary.value.add(tag=b"samples/input")
    if tensor:
        value.tensor.dtype = 7  # type: ignore[assignment]  # DT_STRING
        value.tensor.tensor_shape.dim.add(size=3)
        value.tensor.string_val.extend([b"16", b"16", png])
        value.metadata.plugin_data.plugin_name = b"images"
    else:
        value.image.height, value.image.width, value.image.colorspace = 16, 16, 3
        value.image.encoded_image_string = png
    return tfrecord.frame_record(ev.SerializeToString())


def make_file(
    path: str, *, steps: int, tags: int, tensor: bool, hist_every: int = 0, image_every: int = 0
) -> tuple[int, int]:
    """Write the file; returns (records, scalar points)."""
    rng = np.random.default_rng(0)
    names = tag_names(tags)
    values = rng.standard_normal((steps, tags)).astype(np.float32)
    walls = WALL0 + np.arange(steps)[:, None] * 0.25 + np.arange(tags)[None, :] * 1e-4
    extras: dict[int, list[bytes]] = {}
    png = _png(0) if image_every else b""
    for step in range(steps):
        got = []
        if hist_every and step % hist_every == 0:
            for h in range(HIST_TAGS):
                wall = WALL0 + step * 0.25 + 0.01 + h * 1e-4
                first = step == 0
                got.append(
                    _histogram(f"weights/layer_{h}", step, wall, rng, tensor=tensor, first=first)
                )
        if image_every and step % image_every == 0:
            got.append(_image(step, WALL0 + step * 0.25 + 0.02, png, tensor=tensor))
        if got:
            extras[step] = got
    parts = [
        tfrecord.frame_record(
            event_pb2.Event(wall_time=WALL0 - 1, file_version=b"brain.Event:2").SerializeToString()
        )
    ]
    # Step 0 (no step field; metadata on the first value) one by one, then one block per varint
    # width, step-major.
    for t, name in enumerate(names):
        payload = _scalar_payload(
            name, 0, float(walls[0, t]), values[0, t].tobytes(), tensor=tensor, meta=True
        )
        parts.append(tfrecord.frame_record(payload))
    parts += extras.get(0, [])
    bounds = [1]
    b = 128
    while b < steps:
        bounds.append(b)
        b <<= 7
    bounds.append(steps)
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            continue
        st = np.arange(lo, hi, dtype=np.int64)
        block = np.hstack(
            [
                _scalar_block(name, st, walls[lo:hi, t], values[lo:hi, t], tensor=tensor)
                for t, name in enumerate(names)
            ]
        )
        cut = lo
        for step in sorted(s for s in extras if lo <= s < hi):
            parts.append(block[cut - lo : step - lo + 1].tobytes())
            parts += extras[step]
            cut = step + 1
        parts.append(block[cut - lo :].tobytes())
    with open(path, "wb") as fh:
        fh.write(b"".join(parts))
    records = 1 + steps * tags + sum(len(x) for x in extras.values())
    return records, steps * tags


# ---- reading -----------------------------------------------------------------------------------


def ours(path: str, *, fast: bool) -> int:
    registry = TagRegistry()
    size = os.path.getsize(path)
    offset = 0
    points = 0
    with open(path, "rb") as fh:
        while offset < size:
            fh.seek(offset)
            buf = fh.read(WINDOW)
            batch = events.decode(buf, base_offset=offset, registry=registry, fast=fast)
            points += sum(len(block.seq) for block in batch.scalars)
            if batch.end_offset == offset:
                break
            offset = batch.end_offset
    return points


def _same(a: Any, b: Any) -> bool:
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(
            _same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    return bool(a == b)


def check_paths(path: str) -> bool:
    """Both of our paths, window by window, must give identical batches and registries."""
    regs = TagRegistry(), TagRegistry()
    size = os.path.getsize(path)
    offset = 0
    with open(path, "rb") as fh:
        while offset < size:
            fh.seek(offset)
            buf = fh.read(WINDOW)
            fast = events.decode(buf, base_offset=offset, registry=regs[0], fast=True)
            slow = events.decode(buf, base_offset=offset, registry=regs[1], fast=False)
            if not _same(fast, slow) or not _same(regs[0], regs[1]):
                return False
            if fast.end_offset == offset:
                break
            offset = fast.end_offset
    return True


def tensorboard_loader(path: str, *, c_crc: bool) -> int:
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow

    original = pywrap_tensorflow.crc32c
    if c_crc:
        pywrap_tensorflow.crc32c = lambda data: google_crc32c.value(bytes(data))
    try:
        loader = event_file_loader.EventFileLoader(path)
        return sum(1 for _ in loader.Load())
    finally:
        pywrap_tensorflow.crc32c = original


def timed(fn: Callable[[], int], repeat: int) -> tuple[float, float, int]:
    """Median wall time and median CPU time of `repeat` runs. On a shared machine the CPU time
    (this process only) is the steadier measure of one core's throughput."""
    walls = []
    cpus = []
    result = 0
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), result


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--tags", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--forms", default="simple_value,tf2_tensor")
    parser.add_argument(
        "--tb-steps", type=int, default=2_000, help="steps for TensorBoard's (slow) loader"
    )
    parser.add_argument("--no-tb", action="store_true", help="skip TensorBoard's loader")
    parser.add_argument("--all-paths", action="store_true", help="time the protobuf path always")
    parser.add_argument("--check", action="store_true", help="compare our two paths (untimed)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    layouts = [name for name in args.layouts.split(",") if name]
    failed = False
    summary: list[tuple[str, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for form in args.forms.split(","):
            tensor = form == "tf2_tensor"
            tb_rate = 0.0
            for layout in layouts:
                hist_every, image_every = LAYOUTS[layout]
                big = os.path.join(tmp, f"big.{form}.{layout}.tfevents")
                n_big, points = make_file(
                    big,
                    steps=args.steps,
                    tags=args.tags,
                    tensor=tensor,
                    hist_every=hist_every,
                    image_every=image_every,
                )
                mb = os.path.getsize(big) / 1e6
                print(
                    f"\n{form}, {DESCRIPTION[layout]}: {args.tags} tags x {args.steps} steps, "
                    f"{n_big} events, {mb:.1f} MB",
                    flush=True,
                )
                if args.check:
                    ok = check_paths(big)
                    failed |= not ok
                    print(f"  fast path == protobuf path: {'yes' if ok else 'NO'}", flush=True)
                cases: list[tuple[str, Callable[[], int], int]] = []
                if layout == "scalars" and not args.no_tb:
                    small = os.path.join(tmp, f"small.{form}.tfevents")
                    n_small, _ = make_file(
                        small, steps=args.tb_steps, tags=args.tags, tensor=tensor
                    )
                    cases += [
                        (
                            "tensorboard EventFileLoader (pure-Python CRC)",
                            functools.partial(tensorboard_loader, small, c_crc=False),
                            n_small,
                        ),
                        (
                            "tensorboard EventFileLoader (google-crc32c)",
                            functools.partial(tensorboard_loader, small, c_crc=True),
                            n_small,
                        ),
                    ]
                if layout == "scalars" or args.all_paths:
                    cases.append(
                        ("tbhub protobuf path", functools.partial(ours, big, fast=False), n_big)
                    )
                cases.append(("tbhub fast path", functools.partial(ours, big, fast=True), n_big))
                rates: dict[str, float] = {}
                for name, fn, n in cases:
                    seconds, cpu, got = timed(fn, args.repeat)
                    if name.startswith("tbhub") and got != points:
                        print(f"  !! {name} returned {got} points, expected {points}")
                        failed = True
                    rate = n / cpu
                    rates[name] = rate
                    print(
                        f"  {name:46s} {rate:>11,.0f} events/CPU-s  "
                        f"{n / seconds:>11,.0f} events/s wall  "
                        f"{cpu / n * 1e9:>7,.0f} ns/event  (medians of {args.repeat}; {n} events)",
                        flush=True,
                    )
                tb_rate = rates.get("tensorboard EventFileLoader (google-crc32c)", tb_rate)
                fast = rates["tbhub fast path"]
                if tb_rate:
                    print(f"  {'tbhub fast path':48s} {fast / tb_rate:>8.1f}x TensorBoard (C CRC)")
                if "tbhub protobuf path" in rates:
                    ratio = fast / rates["tbhub protobuf path"]
                    print(f"  {'tbhub fast path':48s} {ratio:>8.1f}x tbhub protobuf path")
                summary.append((form, layout, fast))
    print("\nfast path, events per CPU-second (medians):")
    for form, layout, rate in summary:
        print(f"  {form:13s} {DESCRIPTION[layout]:42s} {rate:>11,.0f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
