"""Property-based fuzzing of framing and decoding (bounded for CI; longer runs:
`benchmarks/fuzz_decoder.py SECONDS`).

Properties: no exception escapes for any input; offsets are monotone and inside the buffer; every
complete record before the first damaged byte survives; the fast path equals the protobuf path.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import event_pb2, types_pb2

from ingest import events, tfrecord
from ingest.decoded import TagRegistry
from tests.ingest import writers as w
from tests.ingest.test_events import same

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TAGS = ["loss", "acc", "metrics/x", "m\u00e9trique", ""]
FLOATS = st.floats(width=32, allow_nan=True, allow_infinity=True)


@st.composite
def event_streams(draw: Any) -> list[Any]:
    """Mostly regular scalar streams (so the fast path engages) with irregular events mixed in."""
    tags = draw(st.lists(st.sampled_from(TAGS), min_size=1, max_size=4, unique=True))
    steps = draw(st.integers(0, 40))
    form = draw(
        st.sampled_from(["simple", "float_content", "float_val", "double_content", "double_val"])
    )
    start = draw(st.integers(0, 2**40))
    evs: list[Any] = [w.file_version_event()] if draw(st.booleans()) else []
    for step in range(start, start + steps):
        for tag in tags:
            value = draw(FLOATS)
            if form == "simple":
                evs.append(w.scalar_event(tag, value, step, metadata=step == start))
            else:
                dtype = types_pb2.DT_FLOAT if form.startswith("float") else types_pb2.DT_DOUBLE
                kind = "content" if form.endswith("content") else "typed"
                evs.append(w.tensor_scalar_event(tag, value, step, dtype=dtype, form=kind))
    extras = draw(st.lists(st.integers(0, 9), max_size=6))
    for pick in extras:
        pos = draw(st.integers(0, len(evs)))
        if pick == 0:
            ev = w.session_start(draw(st.integers(-5, 100)))
        elif pick == 1:
            ev = w.tensor_event(
                "txt", w.string_tensor([draw(st.binary(max_size=20))], []), 1, "text"
            )
        elif pick == 2:
            ev = event_pb2.Event(step=3, graph_def=draw(st.binary(max_size=40)))
        elif pick == 3:
            ev = event_pb2.Event(step=2)
            h = ev.summary.value.add(tag="h").histo
            n = draw(st.integers(0, 5))
            h.bucket_limit.extend(
                draw(st.lists(st.floats(allow_nan=False), min_size=n, max_size=n))
            )
            h.bucket.extend(draw(st.lists(st.floats(0, 100), min_size=n, max_size=n)))
        elif pick == 4:
            ev = draw(st.binary(max_size=30))  # a raw payload: usually not an Event
        else:
            ev = w.scalar_event(
                draw(st.sampled_from(TAGS)), draw(FLOATS), draw(st.integers(-(2**63), 2**63 - 1))
            )
        evs.insert(pos, ev)
    return evs


# Tags of equal and nearly equal lengths: records of different tags (and step varint widths)
# share lengths, so lanes mix tags and layouts.
MIXED_TAGS = ["loss", "acc1", "acc", "lr", "metrics/a", "metrics/b", "metrics/cc", "m\u00e9t"]
SCALAR_FORMS = ["simple", "float_content", "float_val", "double_content", "double_val"]
PLACEHOLDER = struct.pack("<f", 1.2345678)


def _bits32(bits: int) -> bytes:
    return struct.pack("<I", bits)


@st.composite
def scalar_payloads(draw: Any, tag: str, step: int, form: str, first: bool) -> bytes:
    """One scalar event; its value drawn as raw bits, so NaN payloads (signalling ones too)
    reach the bytes exactly as written."""
    if form == "simple":
        ev = w.scalar_event(tag, struct.unpack("<f", PLACEHOLDER)[0], step, metadata=first)
        payload = ev.SerializeToString()
        bits = draw(st.integers(0, 2**32 - 1) | st.sampled_from([0x7F800001, 0xFFC00000]))
        return payload.replace(b"\x15" + PLACEHOLDER, b"\x15" + _bits32(bits), 1)
    dtype = types_pb2.DT_FLOAT if form.startswith("float") else types_pb2.DT_DOUBLE
    if form.endswith("content"):
        width = 4 if dtype == types_pb2.DT_FLOAT else 8
        raw = draw(st.binary(min_size=width, max_size=width))
        ev = w.tensor_scalar_event(
            tag, 0.0, step, dtype=dtype, metadata=first or draw(st.booleans())
        )
        ev.summary.value[0].tensor.tensor_content = raw
        return ev.SerializeToString()
    width = 32 if dtype == types_pb2.DT_FLOAT else 64
    value = draw(st.floats(allow_nan=True, allow_infinity=True, width=width))
    ev = w.tensor_scalar_event(tag, value, step, dtype=dtype, form="typed", metadata=True)
    return ev.SerializeToString()


@st.composite
def training_streams(draw: Any) -> list[Any]:
    """What training loops write: every tag every step, histograms / images / text / multi-value
    events every few steps, steps crossing varint widths, metadata on first values only."""
    tags = draw(st.lists(st.sampled_from(MIXED_TAGS), min_size=1, max_size=5, unique=True))
    forms = [draw(st.sampled_from(SCALAR_FORMS)) for _ in tags]
    start = draw(st.sampled_from([0, 1, 100, 120, 16370, 2**21 - 9, 2**35]) | st.integers(0, 2**62))
    steps = draw(st.integers(0, 40))
    hist_every, image_every, text_every, multi_every = (
        draw(st.sampled_from([0, 0, 1, 2, 3, 5, 8])) for _ in range(4)
    )
    evs: list[Any] = [w.file_version_event()] if draw(st.booleans()) else []
    for i, step in enumerate(range(start, start + steps)):
        for tag, form in zip(tags, forms, strict=True):
            evs.append(draw(scalar_payloads(tag, step, form, i == 0)))
        if hist_every and i % hist_every == 0:
            ev = event_pb2.Event(step=step)
            h = ev.summary.value.add(tag="h").histo
            h.bucket_limit.extend([0.0, 1.0, 2.0])
            h.bucket.extend([float(i % 3), 1.0, 0.0])
            evs.append(ev)
            evs.append(
                w.tensor_event("h2", w.histogram_tensor(np.ones((2, 3)) * i), step, "histograms")
            )
        if image_every and i % image_every == 0:
            evs.append(
                w.tensor_event("img", w.string_tensor([b"1", b"1", b"png"], [3]), step, "images")
            )
        if text_every and i % text_every == 0:
            evs.append(w.tensor_event("txt", w.string_tensor([b"t%d" % i], []), step, "text"))
        if multi_every and i % multi_every == 0:
            ev = event_pb2.Event(step=step)
            ev.summary.value.add(tag=tags[0], simple_value=float(i))
            ev.summary.value.add(tag="other", simple_value=-float(i))
            evs.append(ev)
    return evs


def check(data: bytes, base: int = 0) -> tuple[Any, Any]:
    fast = events.decode(data, base_offset=base, registry=TagRegistry(), max_record_bytes=1 << 16)
    slow = events.decode(
        data, base_offset=base, registry=TagRegistry(), max_record_bytes=1 << 16, fast=False
    )
    assert same(fast, slow)
    assert base <= fast.end_offset <= base + len(data) or fast.stop == "too_large"
    return fast, slow


def complete_records_before(data: bytes, damage: int) -> list[int]:
    return [h + 12 for h, n in w.record_offsets(data) if h + 16 + n <= damage]


@FUZZ
@given(st.binary(max_size=3000), st.integers(0, 2**40))
def test_random_bytes(data: bytes, base: int) -> None:
    result = tfrecord.scan(data, base_offset=base, max_record_bytes=1 << 16)
    offsets = result.offsets.tolist()
    assert offsets == sorted(offsets)
    assert all(base + 12 <= o <= base + len(data) for o in offsets)
    check(data, base)


@FUZZ
@given(event_streams())
def test_valid_streams_fast_equals_protobuf(evs: list[Any]) -> None:
    data = w.records(evs)
    fast, _ = check(data)
    assert fast.stop == "end"
    assert fast.end_offset == len(data)
    assert len(tfrecord.scan(data).offsets) == len(evs)


@FUZZ
@given(st.one_of(event_streams(), training_streams()), st.data())
def test_damage_keeps_the_records_before_it(evs: list[Any], data_strategy: Any) -> None:
    data = bytearray(w.records(evs))
    if not data:
        return
    mode = data_strategy.draw(st.sampled_from(["flip", "length", "crc", "truncate", "huge"]))
    headers = [h for h, _ in w.record_offsets(bytes(data))]
    if mode == "flip":
        pos = data_strategy.draw(st.integers(0, len(data) - 1))
        data[pos] ^= 1 << data_strategy.draw(st.integers(0, 7))
    elif mode in ("length", "crc", "huge"):
        header = data_strategy.draw(st.sampled_from(headers))
        if mode == "length":
            pos = header + data_strategy.draw(st.integers(0, 7))
            data[pos] ^= 0xFF
        elif mode == "crc":
            pos = header + 8 + data_strategy.draw(st.integers(0, 3))
            data[pos] ^= 0xFF
        else:
            pos = header
            huge = data_strategy.draw(st.sampled_from([2**63, 2**60, 2**64 - 1, 1 << 20]))
            data[header : header + 12] = struct.pack("<Q", huge) + struct.pack(
                "<I", tfrecord.masked_crc32c(struct.pack("<Q", huge))
            )
    else:
        pos = data_strategy.draw(st.integers(0, len(data)))
        del data[pos:]
    damaged = bytes(data)
    check(damaged)
    survivors = tfrecord.scan(damaged, max_record_bytes=1 << 16).offsets.tolist()
    before = complete_records_before(bytes(w.records(evs)), pos)
    assert survivors[: len(before)] == before
    assert survivors == sorted(set(survivors))


@FUZZ
@given(training_streams())
def test_training_streams_fast_equals_protobuf(evs: list[Any]) -> None:
    data = w.records(evs)
    fast, _ = check(data)
    assert fast.stop == "end"
    assert fast.records == len(evs)


@FUZZ
@given(training_streams(), st.lists(st.integers(1, 5000), max_size=4))
def test_training_streams_in_windows(evs: list[Any], sizes: list[int]) -> None:
    """Windows of any size, one registry per path across windows (as the ingest loop does)."""
    data = w.records(evs)
    regs = TagRegistry(), TagRegistry()
    offset = 0
    records = 0
    for size in [*sizes, len(data)]:
        window = data[offset : offset + size]
        fast = events.decode(window, base_offset=offset, registry=regs[0])
        slow = events.decode(window, base_offset=offset, registry=regs[1], fast=False)
        assert same(fast, slow)
        assert same(regs[0], regs[1])
        records += fast.records
        offset = fast.end_offset
    assert offset == len(data)
    assert records == len(evs)


def test_fuzz_settings_are_bounded() -> None:
    assert FUZZ.max_examples <= 100
    assert np.isfinite(float(FUZZ.max_examples))
