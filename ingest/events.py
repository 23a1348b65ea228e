"""Bytes of an event file → `DecodedBatch` (ingest/decoded.py): the normal form of every writer.

Documented in docs/ARCHITECTURE.md#decoding. Two paths with identical output:

- The protobuf path parses each `Event` with our generated classes and normalises it the way
  TensorBoard's Python loader does (`data_compat` + `dataclass_compat`, reference §3.5).
- The fast path handles the bulk of real files — events holding scalar values — without a
  per-record Python loop. TFRecord lanes (every record of one length and one place in the
  length pattern in the window, however often histograms or images interrupted them, see
  `ingest.tfrecord`) are split into groups of records that share one byte layout: identical
  bytes everywhere except the wall_time double, the step varint (of a fixed length) and the
  value bytes. The layout is parsed once from a group's first record (the template), the other
  records are verified against it with numpy, and the wall/step/value columns are read with a
  few numpy calls per layout and window. Templates are cached for the process, keyed by their
  bytes outside the variable columns. Anything else (histograms, images, text, graphs,
  irregular layouts, failed checks) goes through the protobuf path record by record, in its
  place: the order of records (`seq`) is the file's.

Tag classification follows TensorBoard: the first value of a tag in the run decides its kind
(legacy simple_value/histo/image/audio always; tensors by plugin name); later values without
metadata inherit it. Because the first value decides, the fast path applies the classification
of each group at the position of its first record, interleaved with the protobuf path in file
order, so both paths classify identically.
"""

from __future__ import annotations

import dataclasses
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
# Templates tried per lane (one length in one window) before the rest goes the protobuf way. Each
# covers at least _MIN_FAST_ROWS records, so this bounds the cost of irregular lanes only.
_TEMPLATE_BUDGET: Final = 1024
_MAX_PROBLEM_TAG: Final = 200
# Elements materialised per value: text cells, images per event (TensorBoard writes 3 by default).
_MAX_TEXT_ELEMENTS: Final = 1 << 20
_MAX_IMAGES: Final = 1 << 16


def text(raw: bytes) -> str:
    """User-controlled bytes as str: UTF-8 with invalid sequences replaced (never raises), and
    NUL as U+FFFD too — no database text type can hold it, and a tag must never stop a file."""
    out = raw.decode("utf-8", "replace")
    return out.replace("\x00", "\ufffd") if "\x00" in out else out


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
    columns: npt.NDArray[np.intp]  # the same, as column numbers


class _Reader:
    """The byte reader of `parse_layout`. It notes every position it reads (with the masks of
    the bits that decided something), so that a record the fast path cannot take also says which
    bytes made it so: any other record of the same length equal there fails the same way."""

    __slots__ = ("buf", "reads", "step")

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.reads: list[int] = []
        self.step = (0, 0)  # the step varint: only its continuation bits matter

    def varint(self, pos: int) -> tuple[int, int]:
        """Decode a varint at pos; raises IndexError/ValueError on truncation or > 10 bytes."""
        buf = self.buf
        reads = self.reads
        result = 0
        shift = 0
        while True:
            byte = buf[pos]
            reads.append(pos)
            pos += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result, pos
            shift += 7
            if shift >= 70:
                raise ValueError("varint too long")

    def skip_len(self, pos: int) -> tuple[int, int]:
        length, pos = self.varint(pos)
        end = pos + length
        if end > len(self.buf):
            raise ValueError("truncated field")
        return pos, end

    def signature(self) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.uint8]]:
        """(positions read, mask of the bits that mattered at each)."""
        columns = np.asarray(sorted(set(self.reads)), dtype=np.intp)
        masks = np.full(len(columns), 0xFF, dtype=np.uint8)
        a, b = self.step
        masks[(columns >= a) & (columns < b)] = 0x80
        return columns, masks

    def tensor_slot(self, start: int, end: int) -> _Slot | None:
        """A rank-0 DT_FLOAT/DT_DOUBLE tensor holding one value in tensor_content, float_val or
        double_val; anything else (other dtypes, dims, repeated fields) → None."""
        dtype = None
        value: _Slot | None = None
        seen: set[int] = set()
        pos = start
        while pos < end:
            key, pos = self.varint(pos)
            number, wire = key >> 3, key & 7
            if number in seen:
                return None
            seen.add(number)
            if number == 1 and wire == 0:
                dtype, pos = self.varint(pos)
            elif number == 2 and wire == 2:
                a, pos = self.skip_len(pos)
                if pos != a:  # a shape with dims or unknown_rank: not rank 0
                    return None
            elif number == 4 and wire == 2:
                a, pos = self.skip_len(pos)
                value = _Slot(a, pos - a)
            elif number in (5, 6) and wire == 2:
                a, pos = self.skip_len(pos)
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

    def value_slot(self, start: int, end: int) -> _Slot | None:
        seen: set[int] = set()
        slot: _Slot | None = None
        pos = start
        while pos < end:
            key, pos = self.varint(pos)
            number, wire = key >> 3, key & 7
            if number in seen:
                return None
            seen.add(number)
            if number in (1, 9) and wire == 2:  # tag, metadata: constant bytes
                _, pos = self.skip_len(pos)
            elif number == 2 and wire == 5:  # simple_value
                slot = _Slot(pos, 4)
                pos += 4
            elif number == 8 and wire == 2:  # tensor
                a, pos = self.skip_len(pos)
                slot = self.tensor_slot(a, pos)
                if slot is None:
                    return None
            else:
                return None
        if pos != end or 1 not in seen or len(seen & {2, 8}) != 1:
            return None
        return slot

    def layout(self) -> _Layout | None:
        buf = self.buf
        try:
            seen: set[int] = set()
            wall = None
            step = None
            slots: list[_Slot] = []
            pos = 0
            end = len(buf)
            while pos < end:
                key, pos = self.varint(pos)
                number, wire = key >> 3, key & 7
                if number in seen:
                    return None
                seen.add(number)
                if number == 1 and wire == 1:
                    wall = pos
                    pos += 8
                elif number == 2 and wire == 0:
                    a = pos
                    _, pos = self.varint(pos)
                    self.step = (a, pos)
                    if pos - a > 9:
                        return None
                    step = (a, pos - a)
                elif number == 5 and wire == 2:
                    a, pos = self.skip_len(pos)
                    sub = a
                    while sub < pos:
                        key, sub = self.varint(sub)
                        if key != 0x0A:  # only Summary.value entries
                            return None
                        va, sub = self.skip_len(sub)
                        slot = self.value_slot(va, sub)
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
        return _Layout(wall, step, slots, allowed, np.flatnonzero(allowed))


def parse_layout(buf: bytes) -> _Layout | None:
    """Where the variable bytes of a scalar-only Event are, or None if it is anything else.

    Accepted: wall_time (fixed64), step (varint, at most 9 bytes: non-negative), and a summary
    whose values are each a tag, optional metadata and one float32/float64 scalar. Any other
    field, or a field repeated (protobuf's last-one-wins semantics), sends the record to the
    protobuf path.

    Every record of the same length whose bytes equal the template's outside `allowed` (and
    whose step varint has the same length) has the same layout: the parser reads only varints
    (keys, lengths, the step) and skips the rest, and inside `allowed` it reads nothing but the
    continuation bits of the step.
    """
    return _Reader(buf).layout()


@dataclass(slots=True)
class _Template:
    """What the fast path knows about the records like one template (see `_template`)."""

    layout: _Layout | None  # None: not a scalar-only event
    # The bytes the layout parser read (positions, masks of the bits that mattered): records of
    # the same length equal there have the same layout, or the same lack of one.
    sig_columns: npt.NDArray[np.intp]
    sig_masks: npt.NDArray[np.uint8]
    # With a layout: the tag and classification of each value, from protobuf; `usable` is False
    # when protobuf does not see the values the layout parser saw (never expected).
    tags: list[str] = field(default_factory=list)
    infos: list[TagInfo | None] = field(default_factory=list)
    usable: bool = False


@dataclass(slots=True)
class _Shape:
    """Cached templates of one payload length and one layout's allowed columns, by their bytes
    with those columns zeroed (all that decides the layout, the tags and their classification,
    with the step varint's length)."""

    columns: npt.NDArray[np.intp]
    templates: dict[bytes, _Template]


# Templates by payload length, shared by every decode of this process (a run's windows, other
# runs): a lane re-entered in the next window, or a tag seen in another run, is not parsed again.
_SHAPES: dict[int, list[_Shape]] = {}
_CACHED_TEMPLATES = [0]
_MAX_CACHED_TEMPLATES: Final = 4096


def _step_length_ok(layout: _Layout, row: npt.NDArray[np.uint8]) -> bool:
    if layout.step is None:
        return True
    position, width = layout.step
    raw = row[position : position + width].tobytes()
    return raw[-1] < 0x80 and all(byte >= 0x80 for byte in raw[:-1])


def _template(row: npt.NDArray[np.uint8]) -> _Template:
    """The template of the records like `row` (a payload): from the cache, or parsed."""
    length = len(row)
    shapes = _SHAPES.get(length)
    if shapes:
        for shape in shapes:
            key = row.copy()
            key[shape.columns] = 0
            found = shape.templates.get(key.tobytes())
            if found is None or found.layout is None:
                continue
            if _step_length_ok(found.layout, row):  # the rest of the parse is the same
                return found
    data = row.tobytes()
    reader = _Reader(data)
    layout = reader.layout()
    columns, masks = reader.signature()
    template = _Template(layout, columns, masks)
    if layout is None:
        return template
    event = event_pb2.Event()
    try:
        event.ParseFromString(data)
    except Exception:  # the layout parser accepted it, so this is not expected
        return template
    values = event.summary.value
    if len(values) != len(layout.slots):
        return template
    for value in values:
        tag = text(value.tag) or text(value.node_name)
        template.tags.append(tag)
        template.infos.append(classify(tag, value))
    template.usable = True
    if _CACHED_TEMPLATES[0] >= _MAX_CACHED_TEMPLATES:
        _SHAPES.clear()
        _CACHED_TEMPLATES[0] = 0
    shapes = _SHAPES.setdefault(length, [])
    for shape in shapes:
        if np.array_equal(shape.columns, layout.columns):
            break
    else:
        shape = _Shape(layout.columns, {})
        shapes.append(shape)
    key = row.copy()
    key[layout.columns] = 0
    shape.templates[key.tobytes()] = template
    _CACHED_TEMPLATES[0] += 1
    return template


def _varying(keys: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Columns of `keys` in which some row differs from row 0."""
    return tfrecord._varying_columns(keys)


def _split_by_key(
    keys: npt.NDArray[np.uint8], rows: npt.NDArray[np.intp]
) -> list[npt.NDArray[np.intp]]:
    """`rows` split into parts of equal `keys` rows (bytes), each part in its original order."""
    count, width = keys.shape
    flat: npt.NDArray[Any]
    if width <= 2:  # a 16-bit key: numpy's stable argsort is a radix sort
        packed = np.zeros((count, 2), dtype=np.uint8)
        packed[:, :width] = keys
        flat = packed.view(np.uint16)[:, 0]
    else:
        words = (width + 7) // 8
        packed = np.zeros((count, words * 8), dtype=np.uint8)
        packed[:, :width] = keys
        wide = packed.view(np.uint64)
        flat = wide[:, 0].copy()
        for i in range(1, words):  # a multiplicative hash of the other words
            flat *= np.uint64(0x9E3779B97F4A7C15)
            flat ^= wide[:, i]
    order = np.argsort(flat, kind="stable")
    ordered = flat[order]
    parts = np.split(order, np.flatnonzero(ordered[1:] != ordered[:-1]) + 1)
    out: list[npt.NDArray[np.intp]] = []
    for part in parts:
        while width > 8 and len(part) > 1:
            # Equal hashes of different keys (never expected): peel the exact matches off.
            same = (keys[part] == keys[part[0]]).all(axis=1)
            if same.all():
                break
            out.append(rows[part[same]])
            part = part[~same]
        out.append(rows[part])
    return out


@dataclass(slots=True)
class _FastShape:
    """Rows of one lane with one layout (wall, step and value positions): their groups differ
    only in tags or metadata."""

    layout: _Layout
    payload: npt.NDArray[np.uint8]  # the lane's payloads (lane rows, length)
    rows: npt.NDArray[np.intp] | None  # the shape's rows of `payload` (None: all)
    index: npt.NDArray[np.int64]  # their record indices (not necessarily ascending)
    groups: list[_FastGroup] = field(default_factory=list)


@dataclass(slots=True)
class _FastGroup:
    template: _Template
    rows: npt.NDArray[np.intp] | None  # the group's rows of the shape's `payload` (None: all)
    index: npt.NDArray[np.int64]  # their record indices (not necessarily ascending)
    first: int  # the smallest of them: where the group classifies its tags


def _quiet_nan32(values: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Set the quiet bit of float32 NaNs (in place), as the protobuf path's
    float32→double→float32 trip does, so that both paths give bit-identical arrays."""
    nan = np.isnan(values)
    if nan.any():
        bits = values.view(np.uint32)
        bits[nan] |= np.uint32(0x00400000)
    return values


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
        # Relative payload offsets and lengths (numpy: only protobuf-path records read them).
        self.rel = scan.offsets - scan.base_offset
        self.lengths = scan.lengths
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
        self.shapes: list[_FastShape] = []
        self.slow: list[npt.NDArray[np.int64]] = []

    # -- driver ----------------------------------------------------------------------------------

    def run(self, fast: bool) -> None:
        count = len(self.rel)
        if fast:
            covered = np.zeros(count, dtype=bool)
            for lane in self.scan.lanes:
                covered[lane.index] = True
                self._fast_lane(lane)
            self.slow.append(np.flatnonzero(~covered).astype(np.int64))
        else:
            self.slow.append(np.arange(count, dtype=np.int64))
        slow = np.unique(np.concatenate(self.slow)) if self.slow else np.zeros(0, np.int64)
        # Interleave the groups' classification with the protobuf path in file order: a group
        # classifies its tags at its first record (the first value of a tag decides its kind).
        groups = sorted(self.groups, key=lambda g: g.first)
        gi = 0
        for ri in slow.tolist():
            while gi < len(groups) and groups[gi].first < ri:
                self._register(groups[gi])
                gi += 1
            self._record(ri)
        for group in groups[gi:]:
            self._register(group)
        known = self.registry.known
        for shape in self.shapes:
            chosen: list[_FastGroup] = []
            for group in shape.groups:
                if all(known[tag].kind == SCALAR for tag in group.template.tags):
                    chosen.append(group)
                else:
                    for ri in group.index.tolist():
                        self._record(ri)
            if chosen:
                self._extract(shape, chosen)

    # -- fast path -------------------------------------------------------------------------------

    def _fast_lane(self, lane: tfrecord.Lane) -> None:
        """Split a lane (every valid record of one length in the window) into groups of records
        equal to a template outside its layout's allowed columns.

        The first row of what is left is the template. The rows equal to it in the bytes its
        layout parser read (its signature: field keys, lengths, the step's varint length) have
        the same layout — or, if it has none, go to the protobuf path. Those rows are then
        grouped by their other bytes outside the allowed columns (other tags, metadata), each
        group with its own template: a lane holding many tags costs one sort, not one pass per
        tag. The rest of the lane starts over with its own first row.
        """
        length = lane.length
        payload = lane.rows[:, tfrecord.HEADER_BYTES : tfrecord.HEADER_BYTES + length]
        index = lane.index
        count = len(index)
        varying = np.ones(length, dtype=bool) if lane.varying is None else lane.varying
        todo: list[npt.NDArray[np.intp] | None] = [None]  # row sets; None: every row
        budget = _TEMPLATE_BUDGET
        while todo:
            rows = todo.pop()
            size = count if rows is None else len(rows)
            if size < _MIN_FAST_ROWS or budget <= 0:
                self.slow.append(index if rows is None else index[rows])
                continue
            budget -= 1
            first = 0 if rows is None else int(rows[0])
            template = _template(payload[first])
            # Columns that no row varies in are equal to the template's in every row.
            columns, masks = template.sig_columns, template.sig_masks
            differ = varying[columns]
            shape = rows
            if differ.any():
                columns, masks = columns[differ], masks[differ]
                got = payload[:, columns] if rows is None else payload[rows[:, None], columns]
                same = ((got & masks) == (payload[first, columns] & masks)).all(axis=1)
                if not same.all():
                    hit = np.flatnonzero(same)
                    miss = np.flatnonzero(~same)
                    shape = hit if rows is None else rows[hit]
                    todo.append(miss if rows is None else rows[miss])
            layout = template.layout
            if layout is None:
                self.slow.append(index if shape is None else index[shape])
                continue
            other = varying & ~layout.allowed
            other[template.sig_columns] = False
            keys = np.flatnonzero(other)
            parts: list[npt.NDArray[np.intp]] | None = None
            if len(keys):
                got = payload[:, keys] if shape is None else payload[shape[:, None], keys]
                # Only the columns that vary inside the shape (the others may vary in the lane's
                # other shapes): usually a few bytes of tag names.
                inside = _varying(got)
                if inside.any():
                    every = np.arange(count, dtype=np.intp) if shape is None else shape
                    parts = _split_by_key(np.ascontiguousarray(got[:, inside]), every)
            fast = _FastShape(layout, payload, shape, index if shape is None else index[shape])
            for part in [shape] if parts is None else parts:
                part_index = fast.index if part is shape else index[part]
                if len(part_index) < _MIN_FAST_ROWS:
                    self.slow.append(part_index)
                    continue
                own = template
                if part is not None and int(part[0]) != first:
                    budget -= 1
                    own = _template(payload[int(part[0])])
                    if own.layout is None or not np.array_equal(
                        own.layout.columns, layout.columns
                    ):  # the same signature gives the same layout: not expected
                        todo.append(part)
                        continue
                if own.usable:
                    group = _FastGroup(own, part, part_index, int(part_index.min()))
                    fast.groups.append(group)
                    self.groups.append(group)
                else:
                    self.slow.append(part_index)
            if fast.groups:
                self.shapes.append(fast)

    def _register(self, group: _FastGroup) -> None:
        template = group.template
        for tag, info in zip(template.tags, template.infos, strict=True):
            if tag not in self.registry.known and info is not None:
                # A copy: the cached template is shared by every registry of the process.
                self.registry.add(tag, dataclasses.replace(info))

    def _extract(self, shape: _FastShape, groups: list[_FastGroup]) -> None:
        """Read the columns of `groups` (all of them or some of `shape`'s): wall time and step
        once for the shape, values per group."""
        layout, payload = shape.layout, shape.payload
        rows, index = shape.rows, shape.index
        if len(groups) < len(shape.groups) or sum(len(g.index) for g in groups) < len(index):
            parts = [np.arange(len(payload)) if g.rows is None else g.rows for g in groups]
            rows = np.concatenate(parts)
            index = np.concatenate([g.index for g in groups])
        if layout.wall is not None:
            walls = _numbers(payload, layout.wall, "<f8")
            self.walls[index] = walls if rows is None else walls[rows]
        if layout.step is not None:
            position, width = layout.step
            cut = slice(position, position + width)
            raw = payload[:, cut] if rows is None else payload[rows, cut]
            steps = raw[:, 0].astype(np.uint64)
            if width > 1:
                steps &= np.uint64(0x7F)
                for i in range(1, width):
                    byte = raw[:, i].astype(np.uint64)
                    if i < width - 1:
                        byte &= np.uint64(0x7F)
                    steps |= byte << np.uint64(7 * i)
            self.steps[index] = steps.view(np.int64)
        self.has_summary[index] = True
        for group in groups:
            sel = group.rows
            for tag, slot in zip(group.template.tags, layout.slots, strict=True):
                values: npt.NDArray[np.floating]
                if slot.width == 4:
                    numbers = _numbers(payload, slot.position, "<f4")
                    taken = numbers.astype(np.float32) if sel is None else numbers[sel]
                    values = _quiet_nan32(taken)
                else:
                    numbers = _numbers(payload, slot.position, "<f8")
                    values = numbers.astype(np.float64) if sel is None else numbers[sel]
                acc = self.scalars.setdefault(tag, _ScalarAcc())
                acc.pieces.append((group.index, values))

    # -- protobuf path ---------------------------------------------------------------------------

    def _problem(self, ri: int, kind: ProblemKind, message: str) -> None:
        offset = self.scan.base_offset + int(self.rel[ri]) - tfrecord.HEADER_BYTES
        self.problems.append(RecordProblem(offset=offset, kind=kind, message=message))

    def _record(self, ri: int) -> None:
        start = int(self.rel[ri])
        length = int(self.lengths[ri])
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
        offset = self.scan.base_offset + int(self.rel[ri]) - tfrecord.HEADER_BYTES
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
            why = "" if buckets is not None else _describe(value.tensor) + ", not [k, 3] numbers"
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
        all_decoded = bool(decoded.all())
        if all_decoded:  # the usual case: no copies
            walls, steps, has_summary = self.walls, self.steps, self.has_summary
        else:
            walls, steps = self.walls[decoded], self.steps[decoded]
            has_summary = self.has_summary[decoded]
        batch = DecodedBatch(
            start_offset=scan.base_offset,
            end_offset=scan.end_offset,
            records=int(decoded.sum()),
            stop=scan.stop,
            need_bytes=scan.need_bytes,
            skip_to=scan.skip_to,
            first_wall_time=float(walls[0]) if len(walls) else None,
            last_wall_time=float(walls[-1]) if len(walls) else None,
            event_steps=steps,
            event_has_summary=has_summary,
        )
        blocks: list[tuple[int, ScalarBlock]] = []
        for tag, acc in self.scalars.items():
            block = self._block(tag, acc, None if all_decoded else remap)
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

    def _block(
        self, tag: str, acc: _ScalarAcc, remap: npt.NDArray[np.int64] | None
    ) -> ScalarBlock | None:
        pieces = acc.pieces
        wide = acc.wide or any(v.dtype == np.float64 for _, v in pieces)
        dtype = np.float64 if wide else np.float32
        if acc.records:
            slow = np.asarray(acc.records, dtype=np.int64)
            pieces = [*pieces, (slow, np.asarray(acc.values, dtype=dtype))]
        if not pieces:
            return None
        # Pieces by their first record (a stable sort: the pieces of one group's values, and
        # the values of one event, keep their order); then usually nothing is left to sort.
        pieces = sorted(pieces, key=lambda piece: int(piece[0][0]))
        ri = np.concatenate([piece[0] for piece in pieces])
        vals = np.concatenate([piece[1].astype(dtype, copy=False) for piece in pieces])
        if len(ri) > 1 and bool((ri[1:] < ri[:-1]).any()):
            order = np.argsort(ri, kind="stable")
            ri = ri[order]
            vals = vals[order]
        return ScalarBlock(
            tag=tag,
            seq=ri if remap is None else remap[ri],
            steps=self.steps[ri],
            wall_times=self.walls[ri],
            values=vals,
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
