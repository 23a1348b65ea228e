"""Long fuzzing run of the framing and the decoder (CI runs a bounded version: tests/ingest/test_fuzz.py).

    .venv/bin/python benchmarks/fuzz_decoder.py SECONDS [--seed N]

Each round builds a random event stream (regular scalar runs in every wire form, plus text,
histograms, graphs, session logs, raw junk payloads and random steps), damages a copy (bit flips,
length/CRC corruption, huge lengths with valid CRCs, truncation), and random bytes, then checks:
no exception escapes; the fast path equals the protobuf path; offsets are monotone; every complete
record before the first damaged byte survives. Failing inputs are written to benchmarks/out/.
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from tensorboard.compat.proto import event_pb2, types_pb2  # noqa: E402

from ingest import events, tfrecord  # noqa: E402
from ingest.decoded import TagRegistry  # noqa: E402
from tests.ingest import writers as w  # noqa: E402
from tests.ingest.test_events import same  # noqa: E402

TAGS = ["loss", "acc", "metrics/x", "m\u00e9trique", "", "a" * 300]
MAX_RECORD = 1 << 16


def random_value(rng: np.random.Generator) -> float:
    pick = rng.integers(0, 8)
    if pick == 0:
        return float("nan")
    if pick == 1:
        return float(rng.choice([np.inf, -np.inf, 0.0, -0.0]))
    return float(rng.standard_normal() * 10.0 ** rng.integers(-30, 30))


def random_stream(rng: np.random.Generator) -> list[Any]:
    tags = list(rng.choice(TAGS, size=int(rng.integers(1, 5)), replace=False))
    form = str(rng.choice(["simple", "float_content", "float_val", "double_content", "double_val"]))
    start = int(rng.integers(0, 2**40)) if rng.random() < 0.3 else int(rng.integers(0, 200))
    evs: list[Any] = [w.file_version_event()] if rng.random() < 0.7 else []
    for step in range(start, start + int(rng.integers(0, 80))):
        for tag in tags:
            value = random_value(rng)
            if form == "simple":
                evs.append(w.scalar_event(tag, value, step, metadata=step == start))
            else:
                dtype = types_pb2.DT_FLOAT if form.startswith("float") else types_pb2.DT_DOUBLE
                kind = "content" if form.endswith("content") else "typed"
                evs.append(w.tensor_scalar_event(tag, value, step, dtype=dtype, form=kind))
    for _ in range(int(rng.integers(0, 8))):
        pick = int(rng.integers(0, 6))
        ev: Any
        if pick == 0:
            ev = w.session_start(int(rng.integers(-5, 300)))
        elif pick == 1:
            ev = w.tensor_event(
                "txt", w.string_tensor([rng.bytes(int(rng.integers(0, 30)))], []), 1, "text"
            )
        elif pick == 2:
            ev = event_pb2.Event(step=3, graph_def=rng.bytes(int(rng.integers(0, 60))))
        elif pick == 3:
            ev = event_pb2.Event(step=2)
            h = ev.summary.value.add(tag="h").histo
            n = int(rng.integers(0, 6))
            h.bucket_limit.extend(np.sort(rng.standard_normal(n)).tolist())
            h.bucket.extend(rng.integers(0, 5, n).astype(float).tolist())
        elif pick == 4:
            ev = rng.bytes(int(rng.integers(0, 40)))
        else:
            ev = w.scalar_event(
                str(rng.choice(TAGS)), random_value(rng), int(rng.integers(-(2**63), 2**63 - 1))
            )
        evs.insert(int(rng.integers(0, len(evs) + 1)), ev)
    return evs


def damage(rng: np.random.Generator, data: bytes) -> tuple[bytes, int]:
    buf = bytearray(data)
    headers = [h for h, _ in w.record_offsets(data)]
    mode = int(rng.integers(0, 5))
    if mode == 0 or not headers:
        pos = int(rng.integers(0, len(buf)))
        buf[pos] ^= 1 << int(rng.integers(0, 8))
    elif mode == 1:
        pos = int(rng.choice(headers)) + int(rng.integers(0, 12))
        buf[pos] ^= 0xFF
    elif mode == 2:
        pos = int(rng.choice(headers))
        huge = [2**63, 2**60, 2**64 - 1, MAX_RECORD + 1][int(rng.integers(0, 4))]
        buf[pos : pos + 12] = struct.pack("<Q", huge) + struct.pack(
            "<I", tfrecord.masked_crc32c(struct.pack("<Q", huge))
        )
    elif mode == 3:
        pos = int(rng.integers(0, len(buf) + 1))
        del buf[pos:]
    else:
        pos = int(rng.integers(0, len(buf)))
        for p in rng.integers(pos, len(buf), 5).tolist():
            buf[p] = int(rng.integers(0, 256))
    return bytes(buf), pos


def check(data: bytes, original: bytes | None = None, pos: int = 0) -> None:
    base = 1234
    fast = events.decode(
        data, base_offset=base, registry=TagRegistry(), max_record_bytes=MAX_RECORD
    )
    slow = events.decode(
        data, base_offset=base, registry=TagRegistry(), max_record_bytes=MAX_RECORD, fast=False
    )
    assert same(fast, slow), "fast path differs from protobuf path"
    offsets = tfrecord.scan(data, base_offset=base, max_record_bytes=MAX_RECORD).offsets.tolist()
    assert offsets == sorted(set(offsets)), "offsets not monotone"
    if original is not None:
        before = [base + h + 12 for h, n in w.record_offsets(original) if h + 16 + n <= pos]
        assert offsets[: len(before)] == before, "a record before the damage was lost"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("seconds", type=float)
    parser.add_argument("--seed", type=int, default=int(time.time()))
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    deadline = time.monotonic() + args.seconds
    rounds = 0
    failures = 0
    out = ROOT / "benchmarks" / "out"
    while time.monotonic() < deadline:
        data = w.records(random_stream(rng))
        cases: list[tuple[bytes, bytes | None, int]] = [(data, None, 0)]
        if data:
            damaged, pos = damage(rng, data)
            cases.append((damaged, data, pos))
        cases.append((rng.bytes(int(rng.integers(0, 4000))), None, 0))
        for case, original, pos in cases:
            try:
                check(case, original, pos)
            except Exception:
                failures += 1
                out.mkdir(parents=True, exist_ok=True)
                name = out / f"fuzz-{args.seed}-{rounds}.bin"
                name.write_bytes(case)
                print(f"FAILURE (input saved to {name}):", file=sys.stderr)
                traceback.print_exc()
        rounds += 1
    print(
        f"seed {args.seed}: {rounds} rounds ({rounds * 3} inputs) in {args.seconds:.0f} s, {failures} failures"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
