"""Bytes of an event file → `DecodedBatch` (ingest/decoded.py): the normal form of every writer.

Documented in docs/ARCHITECTURE.md#decoding. Two paths with identical output:

- The protobuf path parses each `Event` with our generated classes and normalises it the way
  TensorBoard's Python loader does (`data_compat` + `dataclass_compat`, reference §3.5).
- The fast path handles the bulk of real files — events holding scalar values — without a
  per-record Python loop. TFRecord lanes (equally spaced records of equal length, see
  `ingest.tfrecord`) are split into groups of records that share one byte layout: identical
  bytes everywhere except the wall_time double, the step varint (of a fixed length) and the
  value bytes. The layout is parsed once from the group's first record (the template), the other
  records are verified against it with numpy, and the wall/step/value columns are read as
  numpy views. Anything else (histograms, images, text, graphs, irregular layouts, failed
  checks) goes through the protobuf path record by record.

Tag classification follows TensorBoard: the first value of a tag in the run decides its kind
(legacy simple_value/histo/image/audio always; tensors by plugin name); later values without
metadata inherit it. Because the first value decides, the fast path applies the classification
of each group at the position of its first record, interleaved with the protobuf path in file
order, so both paths classify identically.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from ingest import tfrecord
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
    FileVersionEvent,
    GraphEvent,
    HistogramEvent,
    ImageEvent,
    ProblemKind,
    RecordProblem,
    ScalarBlock,
    SessionLogEvent,
    TagInfo,
    TagRegistry,
    TensorEvent,
    TextEvent,
)
from ingest.kinds import histograms as histogram_kind
from ingest.kinds import tensors as tensor_kind
from ingest.proto import event_pb2, summary_pb2, tensor_pb2

# TensorBoard's names (plugins/*/metadata.py).
RUN_GRAPH_TAG: Final = "__run_graph__"
PLUGIN_SCALARS: Final = "scalars"
PLUGIN_HISTOGRAMS: Final = "histograms"
PLUGIN_IMAGES: Final = "images"
PLUGIN_AUDIO: Final = "audio"
PLUGIN_TEXT: Final = "text"
PLUGIN_HPARAMS: Final = "hparams"
GRAPH_SUB_PLUGINS: Final[dict[str, str]] = {
    "graph_run_metadata": TRACE,
    "graph_run_metadata_graph": TRACE,
    "graph_keras_model": KERAS,
}
# Serialized ImagePluginData(converted_to_tensor=True) and AudioPluginData(encoding=WAV,
# converted_to_tensor=True): the content TensorBoard synthesises for legacy images and audio.
_LEGACY_IMAGE_CONTENT: Final = b"\x10\x01"
_LEGACY_AUDIO_CONTENT: Final = b"\x10\x0b\x18\x01"

_MIN_FAST_ROWS: Final = 8
_TEMPLATE_BUDGET: Final = 64  # layouts tried per lane before the rest goes the protobuf way
_MAX_PROBLEM_TAG: Final = 200
# Elements materialised per value: text cells, images per event (TensorBoard writes 3 by default).
_MAX_TEXT_ELEMENTS: Final = 1 << 20
_MAX_IMAGES: Final = 1 << 16


def text(raw: bytes) -> str:
    """User-controlled bytes as str: UTF-8 with invalid sequences replaced (never raises)."""
    return raw.decode("utf-8", "replace")


def parse_file_version(raw: bytes) -> float:
    """TensorBoard's rule: the float after the last "brain.Event:"; unparseable → -1."""
    try:
        return float(text(raw).split("brain.Event:")[-1])
    except ValueError:
        return -1.0


def _short(tag: str) -> str:
    return tag if len(tag) <= _MAX_PROBLEM_TAG else tag[:_MAX_PROBLEM_TAG] + "…"


# ---- classification ----------------------------------------------------------------------------


def classify(tag: str, value: summary_pb2.Summary.Value) -> TagInfo | None:
    """The kind a tag gets when this value is its first one in the run (TensorBoard's rule).

    Legacy values are always classified by their form (TensorBoard synthesises their metadata);
    tensors by `metadata.plugin_data.plugin_name`; a tensor without metadata is an unclassified
    TENSOR for good. Returns None for a value that carries neither data nor metadata.
    """
    which = value.WhichOneof("value")
    meta = value.metadata
    description = text(meta.summary_description)
    legacy_name = text(meta.display_name) or tag
    if which == "simple_value":
        return TagInfo(SCALAR, PLUGIN_SCALARS, b"", legacy_name, description)
    if which == "histo":
        return TagInfo(HISTOGRAM, PLUGIN_HISTOGRAMS, b"", legacy_name, description)
    if which == "image":
        return TagInfo(IMAGE, PLUGIN_IMAGES, _LEGACY_IMAGE_CONTENT, legacy_name, description)
    if which == "audio":
        return TagInfo(TENSOR, PLUGIN_AUDIO, _LEGACY_AUDIO_CONTENT, legacy_name, description)
    if which == "obsolete_old_style_histogram":
        return None
    if not value.HasField("metadata"):
        return TagInfo(TENSOR) if which == "tensor" else None
    plugin = text(meta.plugin_data.plugin_name)
    content = meta.plugin_data.content
    display_name = text(meta.display_name)
    if plugin == PLUGIN_SCALARS:
        kind = SCALAR
    elif plugin == PLUGIN_HISTOGRAMS:
        kind = HISTOGRAM
    elif plugin == PLUGIN_IMAGES:
        kind = IMAGE
    elif plugin == PLUGIN_TEXT:
        kind = TEXT
    elif plugin in GRAPH_SUB_PLUGINS and content == b"1":
        # TensorBoard's graph plugin ignores other content versions; such tags stay tensors.
        kind = GRAPH
    else:
        kind = TENSOR
    return TagInfo(kind, plugin, content, display_name, description)


# ---- fast-path layouts -------------------------------------------------------------------------


@dataclass(slots=True)
class _Slot:
    """One scalar value of a template: where its bytes are and how wide they are."""

    position: int
    width: int  # 4 = float32, 8 = float64


@dataclass(slots=True)
class _Layout:
    wall: int | None
    step: tuple[int, int] | None  # (position, varint length)
    slots: list[_Slot]
    allowed: npt.NDArray[np.bool_]  # payload columns that may differ from the template


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a varint at pos; raises IndexError/ValueError on truncation or > 10 bytes."""
    result = 0
    shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ValueError("varint too long")


def _skip_len(buf: bytes, pos: int) -> tuple[int, int]:
    length, pos = _varint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise ValueError("truncated field")
    return pos, end


def _tensor_slot(buf: bytes, start: int, end: int) -> _Slot | None:
    """A rank-0 DT_FLOAT/DT_DOUBLE tensor holding one value in tensor_content, float_val or
    double_val; anything else (other dtypes, dims, repeated fields) → None."""
    dtype = None
    value: _Slot | None = None
    seen: set[int] = set()
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number in seen:
            return None
        seen.add(number)
        if number == 1 and wire == 0:
            dtype, pos = _varint(buf, pos)
        elif number == 2 and wire == 2:
            a, pos = _skip_len(buf, pos)
            if pos != a:  # a shape with dims or unknown_rank: not rank 0
                return None
        elif number == 4 and wire == 2:
            a, pos = _skip_len(buf, pos)
            value = _Slot(a, pos - a)
        elif number in (5, 6) and wire == 2:
            a, pos = _skip_len(buf, pos)
            value = _Slot(a, pos - a)
            if value.width != (4 if number == 5 else 8):
                return None
        elif number == 5 and wire == 5:
            value = _Slot(pos, 4)
            pos += 4
        elif number == 6 and wire == 1:
            value = _Slot(pos, 8)
            pos += 8
        else:
            return None
    if pos != end or value is None or len(seen & {4, 5, 6}) != 1:
        return None
    if dtype == 1 and value.width == 4 and 6 not in seen:
        return value
    if dtype == 2 and value.width == 8 and 5 not in seen:
        return value
    return None


def _value_slot(buf: bytes, start: int, end: int) -> _Slot | None:
    seen: set[int] = set()
    slot: _Slot | None = None
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if number in seen:
            return None
        seen.add(number)
        if number in (1, 9) and wire == 2:  # tag, metadata: constant bytes
            _, pos = _skip_len(buf, pos)
        elif number == 2 and wire == 5:  # simple_value
            slot = _Slot(pos, 4)
            pos += 4
        elif number == 8 and wire == 2:  # tensor
            a, pos = _skip_len(buf, pos)
            slot = _tensor_slot(buf, a, pos)
            if slot is None:
                return None
        else:
            return None
    if pos != end or 1 not in seen or len(seen & {2, 8}) != 1:
        return None
    return slot


def parse_layout(buf: bytes) -> _Layout | None:
    """Where the variable bytes of a scalar-only Event are, or None if it is anything else.

    Accepted: wall_time (fixed64), step (varint, at most 9 bytes: non-negative), and a summary
    whose values are each a tag, optional metadata and one float32/float64 scalar. Any other
    field, or a field repeated (protobuf's last-one-wins semantics), sends the record to the
    protobuf path.
    """
    try:
        seen: set[int] = set()
        wall = None
        step = None
        slots: list[_Slot] = []
        pos = 0
        end = len(buf)
        while pos < end:
            key, pos = _varint(buf, pos)
            number, wire = key >> 3, key & 7
            if number in seen:
                return None
            seen.add(number)
            if number == 1 and wire == 1:
                wall = pos
                pos += 8
            elif number == 2 and wire == 0:
                a = pos
                _, pos = _varint(buf, pos)
                if pos - a > 9:
                    return None
                step = (a, pos - a)
            elif number == 5 and wire == 2:
                a, pos = _skip_len(buf, pos)
                sub = a
                while sub < pos:
                    key, sub = _varint(buf, sub)
                    if key != 0x0A:  # only Summary.value entries
                        return None
                    va, sub = _skip_len(buf, sub)
                    slot = _value_slot(buf, va, sub)
                    if slot is None:
                        return None
                    slots.append(slot)
            else:
                return None
        if pos != end or not slots:
            return None
    except (IndexError, ValueError):
        return None
    allowed = np.zeros(end, dtype=bool)
    if wall is not None:
        allowed[wall : wall + 8] = True
    if step is not None:
        allowed[step[0] : step[0] + step[1]] = True
    for slot in slots:
        allowed[slot.position : slot.position + slot.width] = True
    return _Layout(wall, step, slots, allowed)


@dataclass(slots=True)
class _FastGroup:
    layout: _Layout
    payload: npt.NDArray[np.uint8]  # (rows, length)
    index: npt.NDArray[np.int64]  # record indices, ascending
    tags: list[str] = field(default_factory=list)
    infos: list[TagInfo | None] = field(default_factory=list)


def _quiet_nan32(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Set the quiet bit of float32 NaNs, as the protobuf path's float32→double→float32 trip
    does, so that both paths give bit-identical arrays."""
    bits = values.view(np.uint32)
    nan = (bits & np.uint32(0x7F800000)) == np.uint32(0x7F800000)
    nan &= (bits & np.uint32(0x007FFFFF)) != 0
    if nan.any():
        bits[nan] |= np.uint32(0x00400000)
    return values


def _column(payload: npt.NDArray[np.uint8], position: int, width: int) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(payload[:, position : position + width])


def _numbers(payload: npt.NDArray[np.uint8], position: int, dtype: str) -> npt.NDArray[Any]:
    """The little-endian numbers at `position` of every row, as a (strided) view: no copy."""
    width = np.dtype(dtype).itemsize
    out: npt.NDArray[Any] = payload[:, position : position + width].view(dtype)[:, 0]
    return out


# ---- the decoder -------------------------------------------------------------------------------


@dataclass(slots=True)
class _ScalarAcc:
    records: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    wide: bool = False  # some value is float64
    pieces: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.floating]]] = field(
        default_factory=list
    )


class _Decoder:
    def __init__(self, buf: bytes, scan: tfrecord.ScanResult, registry: TagRegistry) -> None:
        self.buf = buf
        self.scan = scan
        self.registry = registry
        count = len(scan.offsets)
        self.rel = (scan.offsets - scan.base_offset).tolist()
        self.lengths = scan.lengths.tolist()
        self.steps = np.zeros(count, dtype=np.int64)
        self.walls = np.zeros(count, dtype=np.float64)
        self.has_summary = np.zeros(count, dtype=bool)
        self.decoded = np.ones(count, dtype=bool)
        self.scalars: dict[str, _ScalarAcc] = {}
        self.histograms: list[HistogramEvent] = []
        self.images: list[ImageEvent] = []
        self.texts: list[TextEvent] = []
        self.tensors: list[TensorEvent] = []
        self.graphs: list[GraphEvent] = []
        self.session_logs: list[SessionLogEvent] = []
        self.file_versions: list[FileVersionEvent] = []
        self.problems: list[RecordProblem] = list(scan.problems)
        self.groups: list[_FastGroup] = []
        self.slow: list[npt.NDArray[np.int64]] = []
        self._budget = 0

    # -- driver ----------------------------------------------------------------------------------

    def run(self, fast: bool) -> None:
        count = len(self.rel)
        if fast:
            covered = np.zeros(count, dtype=bool)
            for lane in self.scan.lanes:
                covered[lane.index] = True
                self._budget = _TEMPLATE_BUDGET
                payload = lane.rows[:, tfrecord.HEADER_BYTES : tfrecord.HEADER_BYTES + lane.length]
                self._fast_rows(payload, lane.index, lane.varying)
            self.slow.append(np.flatnonzero(~covered).astype(np.int64))
            self._prepare_groups()
        else:
            self.slow.append(np.arange(count, dtype=np.int64))
        slow = np.unique(np.concatenate(self.slow)) if self.slow else np.zeros(0, np.int64)
        groups = sorted(self.groups, key=lambda g: int(g.index[0]))
        gi = 0
        for ri in slow.tolist():
            while gi < len(groups) and int(groups[gi].index[0]) < ri:
                self._register(groups[gi])
                gi += 1
            self._record(ri)
        for group in groups[gi:]:
            self._register(group)
        for group in groups:
            if all(self.registry.known[tag].kind == SCALAR for tag in group.tags):
                self._extract(group)
            else:
                for ri in group.index.tolist():
                    self._record(ri)

    # -- fast path -------------------------------------------------------------------------------

    def _fast_rows(
        self,
        payload: npt.NDArray[np.uint8],
        index: npt.NDArray[np.int64],
        varying: npt.NDArray[np.bool_] | None,
    ) -> None:
        rows = len(index)
        if rows < _MIN_FAST_ROWS or self._budget <= 0:
            self.slow.append(index)
            return
        self._budget -= 1
        template = payload[0]
        layout = parse_layout(template.tobytes())
        if layout is None:
            self.slow.append(index)
            return
        # Columns outside `varying` hold the same bytes in every row (the lane's CRC check found
        # them), so only varying columns that the layout does not allow need comparing.
        check = ~layout.allowed if varying is None else varying & ~layout.allowed
        columns = np.flatnonzero(check)
        if len(columns):
            match = ~(payload[:, columns] != template[columns]).any(axis=1)
        else:
            match = np.ones(rows, dtype=bool)
        if layout.step is not None:
            position, width = layout.step
            step_bytes = payload[:, position : position + width]
            match &= step_bytes[:, -1] < 0x80
            if width > 1:
                match &= (step_bytes[:, :-1] >= 0x80).all(axis=1)
        if match.all():
            self.groups.append(_FastGroup(layout, payload, index))
            return
        matched = np.flatnonzero(match)
        # Same-length records of different tags interleave with a fixed period: split them into
        # strided sub-lanes (no copies) when the matches of the template say so.
        if len(matched) >= 2 and matched[0] == 0:
            period = int(matched[1])
            if len(matched) == (rows + period - 1) // period and np.array_equal(
                matched, np.arange(0, rows, period)
            ):
                self._emit(layout, payload[0::period], index[0::period])
                for r in range(1, period):
                    self._fast_rows(payload[r::period], index[r::period], varying)
                return
        self._emit(layout, payload[matched], index[matched])
        rest = np.flatnonzero(~match)
        self._fast_rows(payload[rest], index[rest], varying)

    def _emit(
        self, layout: _Layout, payload: npt.NDArray[np.uint8], index: npt.NDArray[np.int64]
    ) -> None:
        if len(index) >= _MIN_FAST_ROWS:
            self.groups.append(_FastGroup(layout, payload, index))
        else:
            self.slow.append(index)

    def _prepare_groups(self) -> None:
        """Parse each group's template with protobuf once, for its tags and classification."""
        kept: list[_FastGroup] = []
        for group in self.groups:
            event = event_pb2.Event()
            try:
                event.ParseFromString(group.payload[0].tobytes())
            except Exception:  # the layout parser accepted it, so this is not expected
                self.slow.append(group.index)
                continue
            values = event.summary.value
            if len(values) != len(group.layout.slots):
                self.slow.append(group.index)
                continue
            for value in values:
                tag = text(value.tag) or text(value.node_name)
                group.tags.append(tag)
                group.infos.append(classify(tag, value))
            kept.append(group)
        self.groups = kept

    def _register(self, group: _FastGroup) -> None:
        for tag, info in zip(group.tags, group.infos, strict=True):
            if tag not in self.registry.known and info is not None:
                self.registry.add(tag, info)

    def _extract(self, group: _FastGroup) -> None:
        layout, payload, index = group.layout, group.payload, group.index
        rows = len(index)
        if layout.wall is not None:
            self.walls[index] = _numbers(payload, layout.wall, "<f8")
        if layout.step is not None:
            position, width = layout.step
            raw = _column(payload, position, width).astype(np.uint64)
            steps = np.zeros(rows, dtype=np.uint64)
            for i in range(width):
                steps |= (raw[:, i] & np.uint64(0x7F)) << np.uint64(7 * i)
            self.steps[index] = steps.view(np.int64)
        self.has_summary[index] = True
        for tag, slot in zip(group.tags, layout.slots, strict=True):
            values: npt.NDArray[np.floating]
            if slot.width == 4:
                values = _quiet_nan32(_numbers(payload, slot.position, "<f4").astype(np.float32))
            else:
                values = _numbers(payload, slot.position, "<f8").astype(np.float64)
            acc = self.scalars.setdefault(tag, _ScalarAcc())
            acc.pieces.append((index, values))

    # -- protobuf path ---------------------------------------------------------------------------

    def _problem(self, ri: int, kind: ProblemKind, message: str) -> None:
        offset = self.scan.base_offset + self.rel[ri] - tfrecord.HEADER_BYTES
        self.problems.append(RecordProblem(offset=offset, kind=kind, message=message))

    def _record(self, ri: int) -> None:
        start = self.rel[ri]
        length = self.lengths[ri]
        event = event_pb2.Event()
        try:
            event.ParseFromString(self.buf[start : start + length])
        except Exception as exc:  # DecodeError, or upb's recursion limit: never crash
            self.decoded[ri] = False
            offset = self.scan.base_offset + start - tfrecord.HEADER_BYTES
            self._problem(
                ri,
                "bad_proto",
                f"the record at offset {offset} ({length} bytes) has valid CRCs but is not an "
                f"Event protobuf ({type(exc).__name__}: {str(exc)[:200]}): record skipped",
            )
            return
        step = int(event.step)
        wall = float(event.wall_time)
        self.steps[ri] = step
        self.walls[ri] = wall
        what = event.WhichOneof("what")
        if what == "summary":
            self.has_summary[ri] = True
            for value in event.summary.value:
                self._value(ri, step, wall, value)
        elif what == "file_version":
            self.file_versions.append(FileVersionEvent(ri, parse_file_version(event.file_version)))
        elif what == "graph_def":
            # TensorBoard turns it into a summary event with tag __run_graph__ (dataclass_compat),
            # which is what its purge rules then see.
            self.has_summary[ri] = True
            self.graphs.append(
                GraphEvent(ri, GRAPH_DEF, RUN_GRAPH_TAG, step, wall, event.graph_def)
            )
        elif what == "meta_graph_def":
            self.graphs.append(GraphEvent(ri, META_GRAPH_DEF, "", step, wall, event.meta_graph_def))
        elif what == "tagged_run_metadata":
            self.has_summary[ri] = True
            trm = event.tagged_run_metadata
            self.graphs.append(
                GraphEvent(ri, RUN_METADATA, text(trm.tag), step, wall, trm.run_metadata)
            )
        elif what == "session_log":
            self.session_logs.append(SessionLogEvent(ri, step, wall, int(event.session_log.status)))

    def _bad_value(self, ri: int, tag: str, kind: str, why: str) -> None:
        offset = self.scan.base_offset + self.rel[ri] - tfrecord.HEADER_BYTES
        self._problem(
            ri,
            "bad_value",
            f"a value of tag {_short(tag)!r} in the record at offset {offset} does not fit the "
            f"tag's kind {kind!r} ({why}): value skipped, the rest of the event kept",
        )

    def _value(self, ri: int, step: int, wall: float, value: summary_pb2.Summary.Value) -> None:
        tag = text(value.tag) or text(value.node_name)
        info = self.registry.known.get(tag)
        if info is None:
            info = classify(tag, value)
            if info is None:
                return
            self.registry.add(tag, info)
        which = value.WhichOneof("value")
        if which is None:
            if info.kind == TENSOR and info.plugin == PLUGIN_HPARAMS:
                # dataclass_compat gives metadata-only hparams values a null tensor.
                null = tensor_kind.make_tensor(tensor_kind.DT_FLOAT, [0])
                self.tensors.append(
                    TensorEvent(
                        ri, tag, step, wall, tensor_kind.DT_FLOAT, [0], null.SerializeToString()
                    )
                )
            return
        if which == "obsolete_old_style_histogram":
            return
        kind = info.kind
        if kind == SCALAR:
            self._scalar(ri, tag, value, which)
        elif kind == HISTOGRAM:
            self._histogram(ri, tag, step, wall, value, which)
        elif kind == IMAGE:
            self._image(ri, tag, step, wall, value, which)
        elif kind == TEXT:
            self._text(ri, tag, step, wall, value, which)
        elif kind == GRAPH:
            self._graph(ri, tag, step, wall, value, which, info)
        else:
            self._tensor(ri, tag, step, wall, value, which)

    def _scalar(self, ri: int, tag: str, value: summary_pb2.Summary.Value, which: str) -> None:
        if which == "simple_value":
            number, single = float(value.simple_value), True
        elif which == "tensor":
            got = tensor_kind.scalar_value(value.tensor)
            if got is None:
                self._bad_value(ri, tag, SCALAR, _describe(value.tensor) + ", not one real number")
                return
            number, single = got
        else:
            self._bad_value(ri, tag, SCALAR, f"a legacy {which}")
            return
        acc = self.scalars.setdefault(tag, _ScalarAcc())
        acc.records.append(ri)
        if single:
            # Through numpy float32 so NaN payloads match the fast path (_quiet_nan32).
            number = float(np.float32(number))
        else:
            acc.wide = True
        acc.values.append(number)

    def _histogram(
        self,
        ri: int,
        tag: str,
        step: int,
        wall: float,
        value: summary_pb2.Summary.Value,
        which: str,
    ) -> None:
        buckets: npt.NDArray[np.float64] | None
        if which == "histo":
            histo = value.histo
            buckets = histogram_kind.from_legacy(
                histo.min, histo.max, histo.bucket_limit, histo.bucket
            )
            why = "bucket limits do not match the buckets"
        elif which == "tensor":
            array = tensor_kind.to_ndarray(value.tensor)
            buckets = None if array is None else histogram_kind.from_tensor(array)
            why = _describe(value.tensor) + ", not [k, 3] numbers"
        else:
            buckets, why = None, f"a legacy {which}"
        if buckets is None:
            self._bad_value(ri, tag, HISTOGRAM, why)
            return
        self.histograms.append(HistogramEvent(ri, tag, step, wall, buckets))

    def _image(
        self,
        ri: int,
        tag: str,
        step: int,
        wall: float,
        value: summary_pb2.Summary.Value,
        which: str,
    ) -> None:
        if which == "image":
            image = value.image
            self.images.append(
                ImageEvent(
                    ri,
                    tag,
                    step,
                    wall,
                    int(image.width),
                    int(image.height),
                    [image.encoded_image_string],
                )
            )
            return
        if which != "tensor":
            self._bad_value(ri, tag, IMAGE, f"a legacy {which}")
            return
        got = tensor_kind.to_strings(value.tensor, max_elements=_MAX_IMAGES + 2)
        if got is None or len(got[0]) != 1 or len(got[1]) < 2:
            self._bad_value(
                ri, tag, IMAGE, _describe(value.tensor) + ", not [width, height, images...]"
            )
            return
        width, height = _dimension(got[1][0]), _dimension(got[1][1])
        if width is None or height is None:
            self._bad_value(ri, tag, IMAGE, "width/height are not decimal numbers")
            return
        self.images.append(ImageEvent(ri, tag, step, wall, width, height, got[1][2:]))

    def _text(
        self,
        ri: int,
        tag: str,
        step: int,
        wall: float,
        value: summary_pb2.Summary.Value,
        which: str,
    ) -> None:
        got = None
        if which == "tensor":
            got = tensor_kind.to_strings(value.tensor, max_elements=_MAX_TEXT_ELEMENTS)
        if got is None:
            why = _describe(value.tensor) if which == "tensor" else f"a legacy {which}"
            self._bad_value(
                ri, tag, TEXT, why + f", not a string tensor of <= {_MAX_TEXT_ELEMENTS} cells"
            )
            return
        shape, values = got
        self.texts.append(TextEvent(ri, tag, step, wall, shape, [text(v) for v in values]))

    def _graph(
        self,
        ri: int,
        tag: str,
        step: int,
        wall: float,
        value: summary_pb2.Summary.Value,
        which: str,
        info: TagInfo,
    ) -> None:
        tensor = value.tensor
        got = None
        if which == "tensor" and int(tensor.dtype) == tensor_kind.DT_STRING and tensor.string_val:
            # Only the first element is the serialized graph; never materialise the others.
            got = ([1], [tensor.string_val[0]])
        if got is None or not got[1]:
            self._bad_value(ri, tag, GRAPH, "not a string tensor with the serialized graph")
            return
        kind = GRAPH_SUB_PLUGINS.get(info.plugin, TRACE)
        self.graphs.append(GraphEvent(ri, kind, tag, step, wall, got[1][0]))

    def _tensor(
        self,
        ri: int,
        tag: str,
        step: int,
        wall: float,
        value: summary_pb2.Summary.Value,
        which: str,
    ) -> None:
        tensor = _as_tensor(value, which)
        if tensor is None:
            return
        dims = [int(d.size) for d in tensor.tensor_shape.dim]
        self.tensors.append(
            TensorEvent(ri, tag, step, wall, int(tensor.dtype), dims, tensor.SerializeToString())
        )

    # -- result ----------------------------------------------------------------------------------

    def result(self) -> DecodedBatch:
        scan = self.scan
        decoded = self.decoded
        remap = np.cumsum(decoded, dtype=np.int64) - 1
        walls = self.walls[decoded]
        batch = DecodedBatch(
            start_offset=scan.base_offset,
            end_offset=scan.end_offset,
            records=int(decoded.sum()),
            stop=scan.stop,
            need_bytes=scan.need_bytes,
            skip_to=scan.skip_to,
            first_wall_time=float(walls[0]) if len(walls) else None,
            last_wall_time=float(walls[-1]) if len(walls) else None,
            event_steps=self.steps[decoded],
            event_has_summary=self.has_summary[decoded],
        )
        blocks: list[tuple[int, ScalarBlock]] = []
        for tag, acc in self.scalars.items():
            block = self._block(tag, acc, remap)
            if block is not None:
                blocks.append((int(block.seq[0]), block))
        blocks.sort(key=lambda item: item[0])
        batch.scalars = [block for _, block in blocks]
        batch.histograms = _in_order(self.histograms, remap)
        batch.images = _in_order(self.images, remap)
        batch.texts = _in_order(self.texts, remap)
        batch.tensors = _in_order(self.tensors, remap)
        batch.graphs = _in_order(self.graphs, remap)
        batch.session_logs = _in_order(self.session_logs, remap)
        batch.file_versions = _in_order(self.file_versions, remap)
        batch.problems = sorted(self.problems, key=lambda p: p.offset)
        return batch

    def _block(self, tag: str, acc: _ScalarAcc, remap: npt.NDArray[np.int64]) -> ScalarBlock | None:
        records = [piece[0] for piece in acc.pieces]
        values = [piece[1] for piece in acc.pieces]
        wide = acc.wide or any(v.dtype == np.float64 for v in values)
        dtype = np.float64 if wide else np.float32
        if acc.records:
            records.append(np.asarray(acc.records, dtype=np.int64))
            values.append(np.asarray(acc.values, dtype=dtype))
        if not records:
            return None
        ri = np.concatenate(records)
        vals = np.concatenate([v.astype(dtype, copy=False) for v in values])
        order = np.argsort(ri, kind="stable")
        ri = ri[order]
        return ScalarBlock(
            tag=tag,
            seq=remap[ri],
            steps=self.steps[ri],
            wall_times=self.walls[ri],
            values=vals[order],
        )


class _Sequenced(Protocol):
    seq: int


_Item = TypeVar("_Item", bound=_Sequenced)


def _in_order(items: list[_Item], remap: npt.NDArray[np.int64]) -> list[_Item]:
    """Items sorted by record (stable: values of one event keep their order), with `seq`
    turned from a record index into the ordinal among decoded records."""
    items.sort(key=lambda item: item.seq)
    for item in items:
        item.seq = int(remap[item.seq])
    return items


def _dimension(raw: bytes) -> int | None:
    """An image width/height string (ASCII decimal) as an int that fits 31 bits."""
    stripped = raw.strip()
    if not stripped or len(stripped) > 10 or not stripped.isdigit():
        return None
    number = int(stripped)
    return number if number < 1 << 31 else None


def _describe(tensor: tensor_pb2.TensorProto) -> str:
    dims = [int(d.size) for d in tensor.tensor_shape.dim]
    return f"{tensor_kind.dtype_name(int(tensor.dtype))} {dims}"


def _as_tensor(value: summary_pb2.Summary.Value, which: str) -> tensor_pb2.TensorProto | None:
    """Any value in TensorBoard's tensor form (data_compat), for TENSOR-kind tags."""
    if which == "tensor":
        return value.tensor
    if which == "simple_value":
        return tensor_kind.make_tensor(tensor_kind.DT_FLOAT, [], float_val=[value.simple_value])
    if which == "histo":
        histo = value.histo
        buckets = histogram_kind.from_legacy(histo.min, histo.max, histo.bucket_limit, histo.bucket)
        if buckets is None:
            return None
        return tensor_kind.make_tensor(
            tensor_kind.DT_FLOAT, [len(buckets), 3], content=buckets.astype("<f4").tobytes()
        )
    if which == "image":
        image = value.image
        strings = [
            str(image.width).encode(),
            str(image.height).encode(),
            image.encoded_image_string,
        ]
        return tensor_kind.make_tensor(tensor_kind.DT_STRING, [3], strings=strings)
    if which == "audio":
        clip = value.audio.encoded_audio_string
        return tensor_kind.make_tensor(tensor_kind.DT_STRING, [1, 2], strings=[clip, b""])
    return None


def decode(
    buf: bytes,
    *,
    base_offset: int,
    registry: TagRegistry,
    max_record_bytes: int = tfrecord.DEFAULT_MAX_RECORD_BYTES,
    fast: bool = True,
) -> DecodedBatch:
    """Decode the event-file bytes `buf`, which start at absolute file offset `base_offset`.

    Args:
        buf: bytes of one event file (a window of it; the last record may be incomplete).
        base_offset: absolute offset of `buf[0]` in the file; every offset reported is absolute.
        registry: the run's tag classification; tags seen for the first time are added to it.
        max_record_bytes: records declaring more bytes are never allocated (TBHUB_MAX_RECORD_BYTES).
        fast: use the numpy fast path where it applies; False forces the protobuf path for every
            record (same output; used to test the fast path).

    Returns:
        The DecodedBatch of the complete valid records; never raises for any content of `buf`.
    """
    if not isinstance(buf, bytes):
        buf = bytes(buf)
    scan = tfrecord.scan(buf, base_offset=base_offset, max_record_bytes=max_record_bytes)
    decoder = _Decoder(buf, scan, registry)
    decoder.run(fast)
    return decoder.result()


__all__ = ["classify", "decode", "parse_file_version", "parse_layout", "text"]
