"""Decoding events: every writer dialect, the fast path against the protobuf path, hostile input."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, graph_pb2, types_pb2

from ingest import events
from ingest.decoded import (
    GRAPH,
    GRAPH_DEF,
    HISTOGRAM,
    IMAGE,
    KERAS,
    META_GRAPH_DEF,
    RUN_METADATA,
    SCALAR,
    TENSOR,
    TEXT,
    TRACE,
    DecodedBatch,
    TagRegistry,
)
from ingest.kinds import tensors as tensor_kind
from ingest.proto import tensor_pb2
from ingest.tfrecord import frame_record
from tests.ingest import writers as w


def same(a: Any, b: Any) -> bool:
    """Deep equality; numpy arrays must match in dtype, shape and bytes."""
    if dataclasses.is_dataclass(a) and not isinstance(a, type):
        return type(a) is type(b) and all(
            same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a)
        )
    if isinstance(a, np.ndarray):
        return (
            isinstance(b, np.ndarray)
            and a.dtype == b.dtype
            and a.shape == b.shape
            and a.tobytes() == b.tobytes()
        )
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    return bool(a == b)


def decode_both(data: bytes, base: int = 0, **kw: Any) -> tuple[DecodedBatch, TagRegistry]:
    """Decode with the fast path and the protobuf path; assert identical output."""
    fast_reg, slow_reg = TagRegistry(), TagRegistry()
    fast = events.decode(data, base_offset=base, registry=fast_reg, fast=True, **kw)
    slow = events.decode(data, base_offset=base, registry=slow_reg, fast=False, **kw)
    assert same(fast, slow), "fast path and protobuf path differ"
    assert same(fast_reg, slow_reg)
    return fast, fast_reg


def scalars(batch: DecodedBatch) -> dict[str, list[tuple[int, float, float]]]:
    return {
        b.tag: list(zip(b.steps.tolist(), b.wall_times.tolist(), b.values.tolist(), strict=True))
        for b in batch.scalars
    }


class CountingDecoder:
    """Counts records that went through the protobuf path."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = events._Decoder._record

        def record(decoder: Any, ri: int) -> None:
            self.calls += 1
            original(decoder, ri)

        monkeypatch.setattr(events._Decoder, "_record", record)


# ---- real writers --------------------------------------------------------------------------------


def test_tensorboardx_file(tmp_path: Path) -> None:
    path = w.write_tensorboardx(tmp_path, steps=30)
    batch, registry = decode_both(Path(path).read_bytes())
    got = scalars(batch)
    assert [s for s, _, _ in got["loss/train"]] == list(range(30))
    assert got["loss/train"][3][2] == float(np.float32(1.0 / 4))
    assert got["loss/train"][3][1] == w.WALL0 + 3
    assert batch.scalars[0].values.dtype == np.float32
    assert registry.known["loss/train"].kind == SCALAR
    assert registry.known["weights"].kind == HISTOGRAM
    assert registry.known["sample"].kind == IMAGE
    assert [h.step for h in batch.histograms] == [0, 10, 20]
    assert all(h.buckets.shape[1] == 3 and h.buckets[:, 2].sum() == 500 for h in batch.histograms)
    assert [(i.width, i.height) for i in batch.images] == [(6, 8)] * 3
    assert all(i.images[0].startswith(b"\x89PNG") for i in batch.images)
    text_tag = next(t for t in registry.known if t.startswith("notes"))
    assert registry.known[text_tag].kind == TEXT
    assert batch.texts[0].values == ["step **0**"]
    assert batch.file_versions[0].version == 2.0
    assert batch.problems == []


def test_tensorboard_writer_file_takes_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = w.write_tensorboard_writer(tmp_path, steps=60, tags=3)
    counter = CountingDecoder(monkeypatch)
    batch = events.decode(Path(path).read_bytes(), base_offset=0, registry=TagRegistry())
    got = scalars(batch)
    assert sorted(got) == ["metric_0", "metric_1", "metric_2"]
    assert got["metric_2"][10] == (10, w.WALL0 + 10, 7.0)
    # Only the file_version record and a few stragglers need protobuf.
    assert counter.calls < 30


@pytest.mark.parametrize(
    ("dtype", "form"),
    [
        (types_pb2.DT_FLOAT, "content"),
        (types_pb2.DT_FLOAT, "typed"),
        (types_pb2.DT_DOUBLE, "content"),
        (types_pb2.DT_DOUBLE, "typed"),
    ],
)
def test_tf2_scalar_forms_take_the_fast_path(
    dtype: int, form: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evs = [w.file_version_event()]
    for step in range(200):
        for tag in ("a/loss", "b/acc"):
            evs.append(w.tensor_scalar_event(tag, step * 0.1, step, dtype=dtype, form=form))
    path = w.write_event_file_writer(tmp_path, evs)
    data = Path(path).read_bytes()
    batch, _ = decode_both(data)
    block = batch.scalars[0]
    want = np.float32 if dtype == types_pb2.DT_FLOAT else np.float64
    assert block.values.dtype == want
    assert block.values.tolist() == [float(want(s * 0.1)) for s in range(200)]
    counter = CountingDecoder(monkeypatch)
    events.decode(data, base_offset=0, registry=TagRegistry())
    assert counter.calls < 20  # file_version, step 0 (no step field), varint changes


def test_simple_value_with_metadata_only_on_the_first_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    evs: list[Any] = [w.file_version_event()]
    for step in range(300):
        evs.append(w.scalar_event("loss", 1.0 / (step + 1), step, metadata=step == 0))
        evs.append(w.scalar_event("acc", step / 300, step, metadata=step == 0))
    data = w.records(evs)
    counter = CountingDecoder(monkeypatch)
    batch, registry = decode_both(data)
    assert registry.known["loss"].kind == SCALAR
    assert registry.known["loss"].display_name == "loss"
    assert len(scalars(batch)["loss"]) == 300
    counter.calls = 0
    events.decode(data, base_offset=0, registry=TagRegistry())
    assert counter.calls < 20


def test_tensor_tag_metadata_only_on_first_value_still_classifies() -> None:
    evs = [w.tensor_scalar_event("t", float(s), s, metadata=s == 0) for s in range(50)]
    batch, registry = decode_both(w.records(evs))
    assert registry.known["t"].kind == SCALAR
    assert len(batch.scalars[0].seq) == 50


def test_tensor_whose_first_value_lacks_metadata_stays_unclassified() -> None:
    evs = [w.tensor_scalar_event("t", float(s), s, metadata=s > 0) for s in range(50)]
    batch, registry = decode_both(w.records(evs))
    assert registry.known["t"].kind == TENSOR
    assert batch.scalars == []
    assert len(batch.tensors) == 50


def test_multi_value_summaries_and_mixed_dtypes() -> None:
    evs = []
    for step in range(100):
        ev = event_pb2.Event(wall_time=w.WALL0 + step, step=step)
        ev.summary.value.add(tag="x", simple_value=step)
        ev.summary.value.add(tag="y", simple_value=-step)
        ev.summary.value.add(tag="x", simple_value=step + 0.5)  # the same tag twice in one event
        evs.append(ev)
    evs.append(w.tensor_scalar_event("x", 1e300, 100, dtype=types_pb2.DT_DOUBLE))
    batch, _ = decode_both(w.records(evs))
    x = next(b for b in batch.scalars if b.tag == "x")
    assert x.values.dtype == np.float64  # widened: a float64 value was written
    assert x.values[:4].tolist() == [0.0, 0.5, 1.0, 1.5]
    assert x.seq[:4].tolist() == [0, 0, 1, 1]
    assert x.values[-1] == 1e300


def test_registry_from_earlier_batches_decides() -> None:
    registry = TagRegistry()
    events.decode(w.records([w.tensor_scalar_event("t", 1.0, 0)]), base_offset=0, registry=registry)
    assert set(registry.new) == {"t"}
    registry.new.clear()
    later = [w.tensor_scalar_event("t", float(s), s, metadata=False) for s in range(1, 40)]
    batch = events.decode(w.records(later), base_offset=0, registry=registry)
    assert len(batch.scalars[0].seq) == 39
    assert registry.new == {}


# ---- every kind ----------------------------------------------------------------------------------


def test_legacy_histogram_is_trimmed_like_tensorboard() -> None:
    ev = event_pb2.Event(step=1, wall_time=w.WALL0)
    h = ev.summary.value.add(tag="h").histo
    h.min, h.max = 0.5, 2.7
    h.bucket_limit.extend([0, 1, 2, 3, 4])
    h.bucket.extend([0, 1, 2, 3, 0])
    batch, registry = decode_both(w.records([ev]))
    (hist,) = batch.histograms
    assert hist.buckets.dtype == np.float64
    assert hist.buckets.tolist() == [
        [0.5, 1.0, 1.0],
        [1.0, 2.0, 2.0],
        [2.0, float(np.float32(2.7)), 3.0],
    ]
    assert registry.known["h"].plugin == "histograms"


def test_empty_histograms() -> None:
    ev = event_pb2.Event(step=1)
    ev.summary.value.add(tag="h").histo.bucket_limit.append(1.0)
    ev2 = w.tensor_event("t", w.histogram_tensor(np.zeros((0, 3))), 2, "histograms")
    batch, _ = decode_both(w.records([ev, ev2]))
    assert [h.buckets.shape for h in batch.histograms] == [(0, 3), (0, 3)]


def test_tf2_histogram_tensor_kept_as_float64() -> None:
    buckets = np.array([[0.5, 1.0, 1.0], [1.0, 2.0, 2.0], [2.0, 2.7, 3.0]])
    batch, _ = decode_both(
        w.records([w.tensor_event("h", w.histogram_tensor(buckets), 3, "histograms")])
    )
    assert batch.histograms[0].buckets.tolist() == buckets.tolist()


def test_legacy_image_and_tf2_image_tensor() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10\x00\x00\x00\x0c" + b"rest"
    ev = event_pb2.Event(step=1)
    img = ev.summary.value.add(tag="legacy").image
    img.height, img.width, img.encoded_image_string = 12, 16, png
    tf2 = w.tensor_event("tf2", w.string_tensor([b"16", b"12", png, png], [4]), 2, "images")
    batch, registry = decode_both(w.records([ev, tf2]))
    assert [(i.tag, i.width, i.height, len(i.images)) for i in batch.images] == [
        ("legacy", 16, 12, 1),
        ("tf2", 16, 12, 2),
    ]
    assert registry.known["legacy"].plugin_content == b"\x10\x01"


def test_image_bomb_header_is_carried_not_decoded() -> None:
    bomb = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x7f\xff\xff\xff\x7f\xff\xff\xff" + b"\x00" * 20
    ev = event_pb2.Event(step=1)
    img = ev.summary.value.add(tag="bomb").image
    img.height, img.width, img.encoded_image_string = 2**31 - 1, 2**31 - 1, bomb
    batch, _ = decode_both(w.records([ev]))
    assert batch.images[0].images == [bomb]
    assert batch.images[0].width == 2**31 - 1


def test_text_any_shape_and_invalid_utf8() -> None:
    evs = [
        w.tensor_event("t", w.string_tensor([b"caf\xe9 \x00\x1b[31m"], []), 0, "text"),
        w.tensor_event(
            "t", w.string_tensor([b"a", b"b", b"c", b"d", b"e", b"f"], [3, 2]), 1, "text"
        ),
        w.tensor_event("t", w.string_tensor([b"x"], [2, 2]), 2, "text"),  # broadcast
    ]
    batch, _ = decode_both(w.records(evs))
    assert batch.texts[0].values == ["caf\ufffd \ufffd\x1b[31m"]  # NUL cannot be stored
    assert batch.texts[1].shape == [3, 2]
    assert batch.texts[1].values == ["a", "b", "c", "d", "e", "f"]
    assert batch.texts[2].values == ["x"] * 4


def test_invalid_utf8_tag_does_not_lose_the_record() -> None:
    ev = event_pb2.Event(step=3)
    v = ev.summary.value.add(simple_value=1.5)
    v.tag = "placeholder"
    payload = ev.SerializeToString().replace(b"placeholder", b"bad\xff\xfetag!!!")
    batch, _ = decode_both(frame_record(payload))
    assert batch.scalars[0].tag == "bad\ufffd\ufffdtag!!!"


def test_empty_tag_uses_node_name() -> None:
    ev = event_pb2.Event(step=1)
    ev.summary.value.add(node_name="old/style", simple_value=2.0)
    batch, _ = decode_both(w.records([ev]))
    assert batch.scalars[0].tag == "old/style"


def test_graphs_run_metadata_traces() -> None:
    graph = graph_pb2.GraphDef()
    graph.node.add(name="a", op="Const")
    graph.node.add(name="b", op="Identity", input=["a"])
    rm = b"\x0a\x00"
    evs = [
        event_pb2.Event(step=0, graph_def=graph.SerializeToString()),
        event_pb2.Event(step=0, meta_graph_def=b"\x12\x00"),
        event_pb2.Event(
            step=5, tagged_run_metadata=event_pb2.TaggedRunMetadata(tag="step5", run_metadata=rm)
        ),
        w.tensor_event(
            "train_step", w.string_tensor([b"RM"], []), 1, "graph_run_metadata_graph", b"1"
        ),
        w.tensor_event("keras", w.string_tensor([b"{}"], []), 1, "graph_keras_model", b"1"),
        w.tensor_event("odd", w.string_tensor([b"RM"], []), 1, "graph_run_metadata", b"2"),
    ]
    batch, registry = decode_both(w.records(evs))
    kinds = [(g.kind, g.tag, g.data) for g in batch.graphs]
    assert kinds == [
        (GRAPH_DEF, events.RUN_GRAPH_TAG, graph.SerializeToString()),
        (META_GRAPH_DEF, "", b"\x12\x00"),
        (RUN_METADATA, "step5", rm),
        (TRACE, "train_step", b"RM"),
        (KERAS, "keras", b"{}"),
    ]
    assert registry.known["train_step"].kind == GRAPH
    assert registry.known["odd"].kind == TENSOR  # unknown content version: kept as a tensor
    assert batch.event_has_summary.tolist() == [True, False, True, True, True, True]


def test_other_plugins_are_tensor_events() -> None:
    pr = tensor_pb2.TensorProto()
    t = w.histogram_tensor(np.ones((6, 3)))
    evs = [
        w.tensor_event("pr", t, 1, "pr_curves", b"\x10\x03"),
        w.tensor_event("audio", w.string_tensor([b"RIFF", b"label"], [1, 2]), 1, "audio"),
    ]
    hp = event_pb2.Event(step=0)
    hp.summary.value.add(tag="_hparams_/experiment").metadata.plugin_data.plugin_name = "hparams"
    evs.append(hp)
    legacy_audio = event_pb2.Event(step=2)
    legacy_audio.summary.value.add(tag="clip").audio.encoded_audio_string = b"RIFFwav"
    evs.append(legacy_audio)
    batch, registry = decode_both(w.records(evs))
    assert [(x.tag, x.dtype, x.shape) for x in batch.tensors] == [
        ("pr", types_pb2.DT_DOUBLE, [6, 3]),
        ("audio", types_pb2.DT_STRING, [1, 2]),
        ("_hparams_/experiment", types_pb2.DT_FLOAT, [0]),
        ("clip", types_pb2.DT_STRING, [1, 2]),
    ]
    pr.ParseFromString(batch.tensors[0].tensor)
    assert pr.tensor_content == t.tensor_content
    assert registry.known["pr"].plugin_content == b"\x10\x03"
    assert registry.known["clip"].plugin == "audio"


def test_value_that_does_not_fit_its_tag_is_a_bad_value() -> None:
    evs = [
        w.tensor_scalar_event("s", 1.0, 0),
        w.tensor_event("s", w.histogram_tensor(np.ones((2, 3))), 1, "scalars"),
        w.tensor_scalar_event("s", 3.0, 2),
        w.tensor_event("img", w.string_tensor([b"x"], []), 3, "images"),
        w.tensor_event("img", w.string_tensor([b"wide", b"1", b"png"], [3]), 4, None),
    ]
    batch, _ = decode_both(w.records(evs))
    assert scalars(batch)["s"] == [(0, w.WALL0, 1.0), (2, w.WALL0 + 2, 3.0)]
    assert [p.kind for p in batch.problems] == ["bad_value"] * 3
    assert "'s'" in batch.problems[0].message
    assert "scalar" in batch.problems[0].message
    assert batch.images == []


def test_session_logs_and_steps() -> None:
    evs = [
        w.file_version_event(),
        w.session_start(0),
        w.scalar_event("x", 1.0, 7),
        w.session_start(5),
    ]
    batch, _ = decode_both(w.records(evs))
    assert [(s.seq, s.step, s.status) for s in batch.session_logs] == [(1, 0, 1), (3, 5, 1)]
    assert batch.event_steps.tolist() == [0, 0, 7, 5]
    assert batch.event_has_summary.tolist() == [False, False, True, False]
    assert batch.first_wall_time == w.WALL0
    assert batch.records == 4


def test_file_version_parsing() -> None:
    assert events.parse_file_version(b"brain.Event:2") == 2.0
    assert events.parse_file_version(b"brain.Event:1.5") == 1.5
    assert events.parse_file_version(b"garbage") == -1.0
    assert events.parse_file_version(b"brain.Event:\xff") == -1.0


def test_large_steps_and_negative_steps() -> None:
    evs = [
        w.scalar_event("x", float(i), step)
        for i, step in enumerate([2**62 + i for i in range(40)] + [-5] * 20)
    ]
    batch, _ = decode_both(w.records(evs))
    assert batch.scalars[0].steps.tolist() == [2**62 + i for i in range(40)] + [-5] * 20


def test_nan_and_infinity_values_identical_in_both_paths() -> None:
    specials = [float("nan"), float("inf"), float("-inf"), -0.0, 1e-45, 3.4e38]
    evs = [w.scalar_event("x", specials[i % 6], i) for i in range(60)]
    raw = w.records(evs)
    # A signalling NaN payload written by hand.
    ev = w.scalar_event("x", 0.0, 99)
    payload = ev.SerializeToString()
    payload = payload[:-4] + bytes.fromhex("0100807f")
    batch, _ = decode_both(raw + frame_record(payload))
    values = batch.scalars[0].values
    assert np.isnan(values[0])
    assert values[1] == np.inf
    assert values[2] == -np.inf
    assert np.isnan(values[-1])


# ---- framing in the decoder ----------------------------------------------------------------------


def test_truncation_at_every_offset_then_completed_exactly_once() -> None:
    evs = [w.file_version_event()] + [w.scalar_event(f"t{s % 3}", s, s // 3) for s in range(60)]
    head = w.records(evs)
    last = w.records([w.scalar_event("t0", 99.0, 50)])
    full = head + last
    for cut in range(len(head), len(full) + 1):
        registry = TagRegistry()
        first = events.decode(full[:cut], base_offset=0, registry=registry)
        second = events.decode(
            full[first.end_offset :], base_offset=first.end_offset, registry=registry
        )
        total = first.records + second.records
        assert total == len(evs) + 1
        steps_t0 = [
            s for b in first.scalars + second.scalars if b.tag == "t0" for s in b.steps.tolist()
        ]
        assert steps_t0.count(50) == 1


def test_growing_file_read_in_windows(tmp_path: Path) -> None:
    evs = [w.file_version_event()] + [
        w.tensor_scalar_event(f"m{s % 4}", s, s // 4) for s in range(2000)
    ]
    data = w.records(evs)
    registry = TagRegistry()
    offset = 0
    seen: list[tuple[str, int]] = []
    rng = np.random.default_rng(0)
    size = 0
    while offset < len(data):
        size = min(len(data), size + int(rng.integers(1, 4000)))
        batch = events.decode(data[offset:size], base_offset=offset, registry=registry)
        seen += [(b.tag, s) for b in batch.scalars for s in b.steps.tolist()]
        offset = batch.end_offset
    assert len(seen) == 2000
    assert sorted(seen) == sorted((f"m{s % 4}", s // 4) for s in range(2000))


def test_corrupt_records_keep_the_good_data_around_them() -> None:
    evs = [w.scalar_event("x", float(s), s) for s in range(100)]
    data = w.records(evs)
    headers = [h for h, _ in w.record_offsets(data)]
    broken = w.corrupt_data_crc(data, headers[10])
    broken = w.corrupt_length_crc(broken, headers[50])
    broken = broken[: headers[80]] + w.bad_proto_record() + broken[headers[80] :]
    batch, _ = decode_both(broken, base=1000)
    steps = batch.scalars[0].steps.tolist()
    assert steps == [s for s in range(100) if s not in (10, 50)]
    kinds = [(p.kind, p.offset) for p in batch.problems]
    assert kinds == [
        ("bad_data_crc", 1000 + headers[10]),
        ("bad_length_crc", 1000 + headers[50]),
        ("bad_proto", 1000 + headers[80]),
    ]
    assert all(p.message for p in batch.problems)
    assert "not an Event protobuf" in batch.problems[2].message
    assert batch.records == 98
    assert len(batch.event_steps) == 98


def test_deeply_nested_and_huge_protobufs_never_crash() -> None:
    nested = b"\x7b" * 50_000 + b"\x7c" * 50_000  # field 15 groups, nested 50k deep
    huge_tag = event_pb2.Event(step=1)
    huge_tag.summary.value.add(tag="t" * 2_000_000, simple_value=1.0)
    shape_bomb = event_pb2.Event(step=2)
    v = shape_bomb.summary.value.add(tag="bomb")
    v.metadata.plugin_data.plugin_name = "text"
    v.tensor.dtype = types_pb2.DT_STRING
    v.tensor.tensor_shape.dim.add(size=2**40)
    v.tensor.tensor_shape.dim.add(size=2**40)
    v.tensor.string_val.append(b"x")
    data = frame_record(nested) + w.records([huge_tag, shape_bomb, w.scalar_event("ok", 1.0, 3)])
    batch, _ = decode_both(data)
    assert [p.kind for p in batch.problems] == ["bad_proto", "bad_value"]
    assert {b.tag[:5] for b in batch.scalars} == {"ttttt", "ok"}


def test_tensor_decoding_rules() -> None:
    t = tensor_pb2.TensorProto(dtype=1)
    t.tensor_shape.dim.add(size=2)
    t.tensor_shape.dim.add(size=3)
    t.float_val.append(1.5)
    assert tensor_kind.to_ndarray(t).tolist() == [[1.5] * 3] * 2  # broadcast
    t.tensor_content = np.arange(6, dtype="<f4").tobytes()
    assert tensor_kind.to_ndarray(t).tolist() == [[0, 1, 2], [3, 4, 5]]  # content wins
    t.tensor_content = b"\x00" * 5
    assert tensor_kind.to_ndarray(t) is None  # size mismatch
    half = tensor_pb2.TensorProto(dtype=19)
    half.half_val.append(int(np.float16(2.5).view(np.uint16)))
    assert tensor_kind.scalar_value(half) == (2.5, False)
    bf = tensor_pb2.TensorProto(dtype=14)
    bf.half_val.append(0x4020)  # bfloat16 2.5
    assert tensor_kind.scalar_value(bf) == (2.5, False)
    i64 = tensor_pb2.TensorProto(dtype=9)
    i64.tensor_shape.dim.add(size=1)
    i64.int64_val.append(7)
    assert tensor_kind.scalar_value(i64) == (7.0, False)
    assert tensor_kind.dtype_name(1) == "DT_FLOAT"


def test_image_sha_and_sizes_survive(tmp_path: Path) -> None:
    path = w.write_tensorboardx(tmp_path, steps=11)
    batch, _ = decode_both(Path(path).read_bytes())
    digests = [hashlib.sha256(i.images[0]).hexdigest() for i in batch.images]
    assert len(set(digests)) == 2


# ---- our .proto subset is wire-compatible with TensorBoard's ------------------------------------


def _tb_messages() -> list[tuple[Any, Any]]:
    """(TensorBoard message, our class) pairs with every field we declare set."""
    from tensorboard.compat.proto import config_pb2, meta_graph_pb2, step_stats_pb2, summary_pb2

    from ingest.proto import event_pb2 as our_event
    from ingest.proto import graph_pb2 as our_graph
    from ingest.proto import meta_graph_pb2 as our_meta
    from ingest.proto import run_metadata_pb2 as our_rm

    graph = graph_pb2.GraphDef(
        versions={"producer": 22, "min_consumer": 1, "bad_consumers": [3]}, version=7
    )
    node = graph.node.add(
        name="scope/op", op="MatMul", input=["a", "b:1", "^c"], device="/device:CPU:0"
    )
    node.attr["T"].type = types_pb2.DT_FLOAT
    node.attr["_output_shapes"].list.shape.add().dim.add(size=3)
    node.attr["s"].s = b"\xff bytes"
    node.attr["f"].func.name = "fn"
    node.attr["f"].func.attr["x"].i = 4
    node.attr["t"].tensor.CopyFrom(w.string_tensor([b"a"], [1]))
    node.experimental_debug_info.original_node_names.append("orig")
    fn = graph.library.function.add()
    fn.signature.name = "fn"
    fn.signature.input_arg.add(name="x", type=types_pb2.DT_FLOAT)
    fn.signature.output_arg.add(name="y", type_attr="T")
    fn.signature.attr.add(name="T", type="type")
    fn.node_def.add(name="inner", op="Identity", input=["x"])
    fn.ret["y"] = "inner:output:0"
    fn.attr["_noinline"].b = True
    fn.arg_attr[0].attr["a"].i = 1
    graph.library.gradient.add(function_name="fn", gradient_func="grad")

    rm = config_pb2.RunMetadata()
    dev = rm.step_stats.dev_stats.add(device="/job:localhost/replica:0/task:0/device:CPU:0")
    dev.thread_names[5] = "worker"
    ns = dev.node_stats.add(
        node_name="scope/op", all_start_micros=10, all_end_rel_micros=7, timeline_label="x"
    )
    ns.memory.add(allocator_name="cpu", total_bytes=64, peak_bytes=64, live_bytes=8)
    out = ns.output.add(slot=0)
    out.tensor_description.dtype = types_pb2.DT_FLOAT
    out.tensor_description.allocation_description.requested_bytes = 12
    rm.partition_graphs.add().CopyFrom(graph)
    rm.function_graphs.add().pre_optimization_graph.CopyFrom(graph)

    meta = meta_graph_pb2.MetaGraphDef()
    meta.meta_info_def.tags.append("serve")
    meta.graph_def.CopyFrom(graph)

    ev = event_pb2.Event(wall_time=1.5, step=3, source_metadata={"writer": "w"})
    value = ev.summary.value.add(tag="t", node_name="n")
    value.metadata.plugin_data.plugin_name = "p"
    value.metadata.plugin_data.content = b"c"
    value.metadata.display_name = "d"
    value.metadata.summary_description = "desc"
    value.metadata.data_class = summary_pb2.DATA_CLASS_TENSOR
    value.histo.bucket_limit.extend([1, 2])
    value.histo.bucket.extend([3, 4])
    value.histo.min, value.histo.max, value.histo.num = 0.5, 2.5, 7
    audio = ev.summary.value.add(tag="a").audio
    audio.sample_rate, audio.num_channels, audio.content_type = 44100.0, 2, "audio/wav"
    tensor = ev.summary.value.add(tag="x").tensor
    tensor.dtype = types_pb2.DT_COMPLEX64
    tensor.scomplex_val.extend([1, 2])
    tensor.half_val.append(5)
    tensor.int64_val.append(2**40)
    tensor.uint64_val.append(2**63)
    step_stats = step_stats_pb2.StepStats()
    step_stats.dev_stats.add(device="d")
    return [
        (graph, our_graph.GraphDef),
        (rm, our_rm.RunMetadata),
        (step_stats, our_rm.StepStats),
        (meta, our_meta.MetaGraphDef),
        (ev, our_event.Event),
        (
            event_pb2.Event(session_log={"status": 1, "checkpoint_path": "p", "msg": "m"}),
            our_event.Event,
        ),
        (event_pb2.Event(log_message={"level": 30, "message": "m"}), our_event.Event),
        (event_pb2.Event(tagged_run_metadata={"tag": "t", "run_metadata": b"x"}), our_event.Event),
    ]


def test_our_protos_round_trip_tensorboards() -> None:
    for theirs, ours_cls in _tb_messages():
        ours = ours_cls()
        ours.ParseFromString(theirs.SerializeToString())
        known_only = ours_cls()
        known_only.CopyFrom(ours)
        known_only.DiscardUnknownFields()
        assert known_only.SerializeToString() == ours.SerializeToString(), "undeclared field"
        again = type(theirs)()
        again.ParseFromString(ours.SerializeToString())
        assert again == theirs, type(theirs).__name__


def test_growing_file_from_a_real_writer(tmp_path: Path) -> None:
    """tensorboardX flushing while we read: every point exactly once, in order."""
    from tensorboardX import SummaryWriter

    writer = SummaryWriter(str(tmp_path), flush_secs=3600)
    registry = TagRegistry()
    offset = 0
    steps: list[int] = []
    path: Path | None = None
    for chunk in range(5):
        for step in range(chunk * 40, chunk * 40 + 40):
            writer.add_scalar("loss", step * 0.5, step, walltime=w.WALL0 + step)
            writer.add_scalar("acc", step * 0.25, step, walltime=w.WALL0 + step)
        writer.flush()
        path = path or Path(w.only_event_file(tmp_path))
        data = path.read_bytes()
        batch = events.decode(data[offset:], base_offset=offset, registry=registry)
        steps += [s for b in batch.scalars if b.tag == "loss" for s in b.steps.tolist()]
        offset = batch.end_offset
    writer.close()  # the writer thread may still have held a few events at the last flush
    assert path is not None
    data = path.read_bytes()
    batch = events.decode(data[offset:], base_offset=offset, registry=registry)
    steps += [s for b in batch.scalars if b.tag == "loss" for s in b.steps.tolist()]
    assert batch.end_offset == len(data)
    assert steps == list(range(200))


# ---- the fast path on mixed files ----------------------------------------------------------------
#
# Real training files interleave scalars with histograms, images and text every few steps. The
# fast path gathers the scalar records of the whole window by length and layout, so these files
# are where it could go wrong: every test compares it bit for bit with the protobuf path.

SNAN32 = struct.unpack("<f", bytes.fromhex("0100807f"))[0]  # a signalling NaN (float32 bits)


def _histogram_event(tag: str, step: int, rng: np.random.Generator, *, tf2: bool) -> Any:
    if tf2:
        edges = np.sort(rng.standard_normal(6))
        buckets = np.stack([edges[:-1], edges[1:], rng.integers(0, 9, 5).astype(float)], axis=1)
        return w.tensor_event(tag, w.histogram_tensor(buckets), step, "histograms")
    ev = event_pb2.Event(wall_time=w.WALL0 + step + 0.5, step=step)
    h = ev.summary.value.add(tag=tag).histo
    h.min, h.max = -1.0, 1.0
    h.bucket_limit.extend([-0.5, 0.0, 0.5, 1.0])
    h.bucket.extend(rng.integers(0, 9, 4).astype(float).tolist())
    return ev


def _image_event(step: int, *, tf2: bool) -> Any:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(40))
    if tf2:
        return w.tensor_event("img", w.string_tensor([b"4", b"3", png], [3]), step, "images")
    ev = event_pb2.Event(wall_time=w.WALL0 + step, step=step)
    img = ev.summary.value.add(tag="img").image
    img.width, img.height, img.encoded_image_string = 4, 3, png
    return ev


def _scalar(tag: str, value: float, step: int, form: str, *, first: bool) -> Any:
    wall = w.WALL0 + step + 0.001 * len(tag)
    if form == "simple":
        return w.scalar_event(tag, value, step, wall, metadata=first)
    dtype = types_pb2.DT_DOUBLE if form.startswith("double") else types_pb2.DT_FLOAT
    kind = "typed" if form.endswith("typed") else "content"
    return w.tensor_scalar_event(tag, value, step, wall, dtype=dtype, form=kind)


def training_file(
    steps: range,
    tags: list[str],
    *,
    form: str = "simple",
    hist_every: int = 0,
    image_every: int = 0,
    text_every: int = 0,
    multi_every: int = 0,
    seed: int = 0,
) -> tuple[list[Any], int]:
    """Events as a training loop writes them: every tag every step (step-major), plus odd
    records every few steps. Returns (events, odd records)."""
    rng = np.random.default_rng(seed)
    specials = [float("nan"), SNAN32, float("inf"), -0.0, 1e-45, -3.4e38]
    evs: list[Any] = [w.file_version_event()]
    odd = 1
    for i, step in enumerate(steps):
        for t, tag in enumerate(tags):
            value = specials[(i + t) % 6] if (i + t) % 11 == 0 else float(rng.standard_normal())
            evs.append(_scalar(tag, value, step, form, first=i == 0))
        tf2 = form != "simple"
        if hist_every and i % hist_every == 0:
            evs += [_histogram_event(f"hist/{h}", step, rng, tf2=tf2) for h in range(2)]
            odd += 2
        if image_every and i % image_every == 0:
            evs.append(_image_event(step, tf2=tf2))
            odd += 1
        if text_every and i % text_every == 0:
            evs.append(
                w.tensor_event("notes", w.string_tensor([b"step %d" % step], []), step, "text")
            )
            odd += 1
        if multi_every and i % multi_every == 0:
            ev = event_pb2.Event(wall_time=w.WALL0 + step, step=step)
            ev.summary.value.add(tag="multi/a", simple_value=float(step))
            ev.summary.value.add(tag="multi/b", simple_value=-float(step))
            evs.append(ev)
    return evs, odd


FORMS = ["simple", "float_content", "float_typed", "double_content", "double_typed"]
STEP_RANGES = {
    "0-300": range(300),
    "127/128": range(100, 160),
    "16383/16384": range(16360, 16420),
    "2^21": range(2**21 - 30, 2**21 + 30),
}


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("steps", list(STEP_RANGES))
@pytest.mark.parametrize(
    "odd",
    [
        {"hist_every": 5},
        {"hist_every": 1},
        {"image_every": 7},
        {"hist_every": 3, "image_every": 10, "text_every": 4, "multi_every": 6},
    ],
    ids=["hist5", "hist1", "img7", "all"],
)
def test_mixed_training_files_fast_equals_protobuf(
    form: str, steps: str, odd: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    tags = ["loss", "acc1", "lr", "metrics/grad_norm", "metrics/weight_norm", "x"]
    evs, n_odd = training_file(STEP_RANGES[steps], tags, form=form, **odd)
    data = w.records(evs)
    batch, registry = decode_both(data)
    got = scalars(batch)
    n_steps = len(STEP_RANGES[steps])
    assert all(len(got[tag]) == n_steps for tag in tags)
    assert [s for s, _, _ in got["loss"]] == list(STEP_RANGES[steps])
    assert all(registry.known[tag].kind == SCALAR for tag in tags)
    if odd.get("hist_every"):
        assert registry.known["hist/0"].kind == HISTOGRAM
    # The fast path really took the scalars: only the odd records (and a few at the start of
    # each varint width, before the walker has seen a period) went the protobuf way.
    counter = CountingDecoder(monkeypatch)
    events.decode(data, base_offset=0, registry=TagRegistry())
    multi = n_steps // odd["multi_every"] + 1 if odd.get("multi_every") else 0
    assert counter.calls <= n_odd + multi + 40 * len(tags)
    assert counter.calls < 0.5 * len(evs)


@pytest.mark.parametrize("form", ["simple", "float_content", "double_typed"])
def test_mixed_file_read_in_windows_equals_protobuf(form: str) -> None:
    """Window by window with one registry per path (the ingest loop): every batch identical."""
    evs, _ = training_file(
        range(120, 400), ["loss", "acc", "lr"], form=form, hist_every=4, image_every=9
    )
    data = w.records(evs)
    rng = np.random.default_rng(7)
    regs = TagRegistry(), TagRegistry()
    offset = 0
    size = 0
    steps: list[int] = []
    while offset < len(data):
        size = min(len(data), max(size, offset) + int(rng.integers(200, 6000)))
        fast = events.decode(data[offset:size], base_offset=offset, registry=regs[0])
        slow = events.decode(data[offset:size], base_offset=offset, registry=regs[1], fast=False)
        assert same(fast, slow)
        assert same(regs[0], regs[1])
        steps += [s for b in fast.scalars if b.tag == "loss" for s in b.steps.tolist()]
        offset = fast.end_offset
    assert steps == list(range(120, 400))


def test_many_tags_of_one_length_with_histograms(monkeypatch: pytest.MonkeyPatch) -> None:
    """40 tags whose records all have the same length: one lane, split by tag in one sort."""
    tags = [f"layer_{i:02d}/norm" for i in range(40)]
    evs, n_odd = training_file(range(300, 360), tags, hist_every=7)
    data = w.records(evs)
    batch, _ = decode_both(data)
    assert sorted(b.tag for b in batch.scalars) == tags
    assert all(len(b.seq) == 60 for b in batch.scalars)
    counter = CountingDecoder(monkeypatch)
    events.decode(data, base_offset=0, registry=TagRegistry())
    # The first step (metadata) and the records walked before the walker learns the period.
    assert counter.calls <= n_odd + 4 * len(tags)


def test_records_of_one_length_with_different_layouts() -> None:
    """A 4-letter tag with a 2-byte step and a 5-letter tag with a 1-byte step have the same
    length: one lane, two layouts."""
    evs: list[Any] = []
    for step in range(100, 140):  # crosses 127/128
        evs.append(w.scalar_event("abcd", float(step), step))
        evs.append(w.scalar_event("abcde", float(-step), step))
        evs.append(w.tensor_scalar_event("tensr", float(step), step))
    data = w.records(evs)
    lengths = {n for _, n in w.record_offsets(data)}
    assert len(lengths) < 6  # some lengths are shared
    batch, _ = decode_both(data)
    assert [s for s, _, _ in scalars(batch)["abcde"]] == list(range(100, 140))


def _padded_scalar(tag: str, value: float, step: int, length: int, *, node_name: bool) -> bytes:
    """A simple_value event of exactly `length` bytes (the tag padded), optionally with a
    node_name field (not a fast-path layout: protobuf path)."""
    for pad in range(200):
        ev = event_pb2.Event(wall_time=w.WALL0 + step, step=step)
        v = ev.summary.value.add(tag=tag + "_" * pad, simple_value=value)
        if node_name:
            v.node_name = "n"
        payload = ev.SerializeToString()
        if len(payload) == length:
            return payload
    raise AssertionError("no padding gives that length")


def test_other_records_of_the_same_length_first_in_the_lane(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Records the layout parser rejects lead a lane of scalar records of the same length: the
    rows that decided it (the same field keys) go the protobuf way, the others stay fast."""
    length = len(w.scalar_event("metric", 1.0, 5).SerializeToString())
    odd = [_padded_scalar("n", float(i), 5 + i, length, node_name=True) for i in range(30)]
    good = [w.scalar_event("metric", float(i), 5 + i) for i in range(100)]
    data = w.records(odd + good + odd[:10])
    batch, _ = decode_both(data)
    assert len(scalars(batch)["metric"]) == 100
    counter = CountingDecoder(monkeypatch)
    events.decode(data, base_offset=0, registry=TagRegistry())
    assert counter.calls <= 45


def test_a_step_varint_of_another_length_is_never_read_with_the_template() -> None:
    """Same length and the same bytes outside the template's wall/step/value columns, but the
    step byte has its continuation bit set: a different event (here not a valid one)."""
    good = [w.scalar_event("t", float(i), 5 + i) for i in range(20)]
    odd = []
    for ev in good[:12]:
        payload = bytearray(ev.SerializeToString())
        assert payload[9] == 0x10  # the step key, then a 1-byte varint
        payload[10] |= 0x80
        odd.append(bytes(payload))
    for order in (good + odd, odd + good, good[:10] + odd + good[10:]):
        events._SHAPES.clear()
        batch, _ = decode_both(w.records(order))
        assert len(batch.scalars[0].seq) == 20


def test_template_cache_is_shared_but_classification_is_per_run() -> None:
    """The layout cache outlives a decode; a tag's kind still comes from its run's registry."""
    events._SHAPES.clear()
    plain = [w.tensor_scalar_event("t", float(s), s, metadata=False) for s in range(1, 60)]
    with_meta = [w.tensor_scalar_event("t", float(s), s) for s in range(1, 60)]
    run_a = w.records(plain + with_meta)  # first value without metadata: TENSOR for good
    run_b = w.records(with_meta + plain)  # first value with scalars metadata: SCALAR
    for _ in range(2):  # cold cache, then warm
        batch_a, reg_a = decode_both(run_a)
        batch_b, reg_b = decode_both(run_b)
        assert reg_a.known["t"].kind == TENSOR
        assert batch_a.scalars == []
        assert len(batch_a.tensors) == 118
        assert reg_b.known["t"].kind == SCALAR
        assert len(batch_b.scalars[0].seq) == 118
        assert reg_a.known["t"] is not reg_b.known["t"]


def test_corrupt_records_inside_a_mixed_file() -> None:
    evs, _ = training_file(range(200), ["loss", "acc", "lr"], hist_every=5, image_every=20)
    data = w.records(evs)
    headers = [h for h, _ in w.record_offsets(data)]
    broken = w.corrupt_data_crc(data, headers[100])
    broken = w.corrupt_data_crc(broken, headers[101])
    broken = w.corrupt_length_crc(broken, headers[400])
    broken = broken[: headers[600]] + w.bad_proto_record() + broken[headers[600] :]
    batch, _ = decode_both(broken, base=77)
    assert [p.kind for p in batch.problems] == [
        "bad_data_crc",
        "bad_data_crc",
        "bad_length_crc",
        "bad_proto",
    ]
    assert batch.records == len(evs) - 3
