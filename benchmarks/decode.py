"""Decode speed: TensorBoard's EventFileLoader vs our protobuf path vs our fast path.

    .venv/bin/python benchmarks/decode.py [--steps 50000] [--tags 20] [--repeat 3]

Writes scalar-heavy event files (tags x steps single-value events, like a training loop logging
20 metrics every step) in two wire formats — PyTorch/TF1 `simple_value` and TF2 tensors (rank-0
DT_FLOAT in tensor_content with `scalars` plugin metadata, as TF's C++ writer does) — and prints
events per second for each decoder on ONE core (the process is pinned to one CPU): medians of
--repeat runs, both per CPU-second of this process (steady on a shared machine) and per
wall-clock second, plus the ratios (computed from the CPU-time rates).

Our decoders are timed the way the hub ingests: 16 MiB windows through `ingest.events.decode`
(framing + both CRCs + decoding into columnar arrays). TensorBoard's loader is timed iterating
`EventFileLoader(path).Load()` (framing, CRCs, protobuf parsing and its data_compat migration),
once with its own pure-Python CRC32C and once with google-crc32c swapped in (its module-level
`crc32c` function is replaced for the run; the TF-free stub has no other hook).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import google_crc32c
import numpy as np

from ingest import events, tfrecord
from ingest.decoded import TagRegistry
from ingest.proto import event_pb2

WINDOW = 16 * 1024 * 1024


def make_file(path: str, *, steps: int, tags: int, tensor: bool) -> int:
    """Write `steps * tags` scalar events (+ the file_version record); returns the event count."""
    rng = np.random.default_rng(0)
    names = [
        f"metrics/{name}_{i:02d}"
        for i, name in enumerate(["loss", "acc", "lr", "grad_norm", "throughput"] * 4)
    ][:tags]
    if len(names) < tags:
        names += [f"extra/tag_{i}" for i in range(len(names), tags)]
    chunks = []
    head = event_pb2.Event(wall_time=1_700_000_000.0, file_version=b"brain.Event:2")
    chunks.append(tfrecord.frame_record(head.SerializeToString()))
    values = rng.standard_normal((steps, tags)).astype(np.float32)
    seen: set[str] = set()
    count = 0
    for step in range(steps):
        wall = 1_700_000_000.0 + step * 0.25
        for t, name in enumerate(names):
            ev = event_pb2.Event(wall_time=wall + t * 1e-4, step=step)
            value = ev.summary.value.add(tag=name.encode())
            if tensor:
                value.tensor.dtype = 1  # type: ignore[assignment]
                value.tensor.tensor_shape.SetInParent()
                value.tensor.tensor_content = values[step, t].tobytes()
                value.metadata.plugin_data.plugin_name = b"scalars"
            else:
                value.simple_value = float(values[step, t])
                if name not in seen:  # TF1/PyTorch writers put metadata on the first value only
                    value.metadata.plugin_data.plugin_name = b"scalars"
                    seen.add(name)
            chunks.append(tfrecord.frame_record(ev.SerializeToString()))
            count += 1
    with open(path, "wb") as fh:
        fh.write(b"".join(chunks))
    return count


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
    parser.add_argument(
        "--tb-steps", type=int, default=2_000, help="steps for TensorBoard's (slow) loader"
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    with tempfile.TemporaryDirectory() as tmp:
        for form in ("simple_value", "tf2_tensor"):
            tensor = form == "tf2_tensor"
            big = os.path.join(tmp, f"big.{form}.tfevents")
            small = os.path.join(tmp, f"small.{form}.tfevents")
            n_big = make_file(big, steps=args.steps, tags=args.tags, tensor=tensor)
            n_small = make_file(small, steps=args.tb_steps, tags=args.tags, tensor=tensor)
            mb = os.path.getsize(big) / 1e6
            print(f"\n{form}: {args.tags} tags x {args.steps} steps = {n_big} events, {mb:.1f} MB")
            rows: list[tuple[str, float]] = []
            for name, fn, n in (
                (
                    "tensorboard EventFileLoader (pure-Python CRC)",
                    lambda small=small: tensorboard_loader(small, c_crc=False),
                    n_small,
                ),
                (
                    "tensorboard EventFileLoader (google-crc32c)",
                    lambda small=small: tensorboard_loader(small, c_crc=True),
                    n_small,
                ),
                ("tbhub protobuf path", lambda big=big: ours(big, fast=False), n_big),
                ("tbhub fast path", lambda big=big: ours(big, fast=True), n_big),
            ):
                seconds, cpu, got = timed(fn, args.repeat)
                if name.startswith("tbhub") and got != n:
                    print(f"  !! {name} returned {got} points, expected {n}")
                rate = n / cpu
                rows.append((name, rate))
                print(
                    f"  {name:46s} {rate:>11,.0f} events/CPU-s  {n / seconds:>11,.0f} events/s wall"
                    f"  (medians of {args.repeat}; {n} events)"
                )
            base = rows[1][1]
            for name, rate in rows[2:]:
                print(f"  {name:48s} {rate / base:>8.1f}x TensorBoard (C CRC)")
            print(f"  {'tbhub fast path':48s} {rows[3][1] / rows[2][1]:>8.1f}x tbhub protobuf path")
    return 0


if __name__ == "__main__":
    sys.exit(main())
