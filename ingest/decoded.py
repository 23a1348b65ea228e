"""The normal form of decoded events: what the decoder hands to the store, whatever wrote the file.

Documented in docs/ARCHITECTURE.md#decoding. The decoder (`ingest.events`) turns the bytes of an
event file into a `DecodedBatch`; `ingest.semantics` decides restart purges from it; stores
(`ingest.store` for the database, `ingest.export` in memory) apply both. Keeping one normal form
is what makes `tbhub export` and the hub serve exactly the same data.

Ordering: `seq` is the 0-based ordinal of the record within the batch (records in file order).
Several values of one event share its `seq` and keep their order inside the event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt

# Series kinds; the same values as ingest.models.Kind.
SCALAR = "scalar"
HISTOGRAM = "histogram"
IMAGE = "image"
TEXT = "text"
TENSOR = "tensor"
GRAPH = "graph"

# GraphBlob kinds; the same values as ingest.models.GraphKind.
GRAPH_DEF = "graph_def"
META_GRAPH_DEF = "meta_graph_def"
RUN_METADATA = "run_metadata"
TRACE = "trace"
KERAS = "keras"

SESSION_START = 1
SESSION_STOP = 2
SESSION_CHECKPOINT = 3


@dataclass(slots=True)
class TagInfo:
    """How a tag was classified, from its first value in the run (TensorBoard's rule)."""

    kind: str
    plugin: str = ""
    plugin_content: bytes = b""
    display_name: str = ""
    description: str = ""


@dataclass(slots=True)
class TagRegistry:
    """Per-run classification of tags. `known` is loaded from the store; the decoder adds tags it
    sees for the first time to both `known` and `new` (the store persists `new`)."""

    known: dict[str, TagInfo] = field(default_factory=dict)
    new: dict[str, TagInfo] = field(default_factory=dict)

    def add(self, tag: str, info: TagInfo) -> None:
        self.known[tag] = info
        self.new[tag] = info


@dataclass(slots=True)
class ScalarBlock:
    """Scalar points of one tag, columnar. `values` is float32 (simple_value, DT_FLOAT) or float64
    (DT_DOUBLE and other numeric dtypes); the dtype is the written precision."""

    tag: str
    seq: npt.NDArray[np.int64]
    steps: npt.NDArray[np.int64]
    wall_times: npt.NDArray[np.float64]
    values: npt.NDArray[np.floating]


@dataclass(slots=True)
class HistogramEvent:
    """Buckets as TensorBoard serves them: float64 (k, 3) rows (left, right, count). Legacy
    HistogramProto buckets are already trimmed and rounded to float32 (reference §3.5)."""

    seq: int
    tag: str
    step: int
    wall_time: float
    buckets: npt.NDArray[np.float64]


@dataclass(slots=True)
class ImageEvent:
    seq: int
    tag: str
    step: int
    wall_time: float
    width: int
    height: int
    images: list[bytes]


@dataclass(slots=True)
class TextEvent:
    seq: int
    tag: str
    step: int
    wall_time: float
    shape: list[int]
    values: list[str]


@dataclass(slots=True)
class TensorEvent:
    """A tensor of any other plugin (hparams, pr_curves, audio, unclassified), kept verbatim."""

    seq: int
    tag: str
    step: int
    wall_time: float
    dtype: int
    shape: list[int]
    tensor: bytes


@dataclass(slots=True)
class GraphEvent:
    seq: int
    kind: str
    tag: str
    step: int
    wall_time: float
    data: bytes


@dataclass(slots=True)
class SessionLogEvent:
    seq: int
    step: int
    wall_time: float
    status: int


@dataclass(slots=True)
class FileVersionEvent:
    seq: int
    version: float


ProblemKind = Literal["bad_length_crc", "bad_data_crc", "bad_proto", "too_large", "bad_value"]


@dataclass(slots=True)
class RecordProblem:
    """A record that could not be used. `offset` is the absolute byte offset of its header;
    `message` is for humans and names what was wrong and what was done about it."""

    offset: int
    kind: ProblemKind
    message: str
    bytes_skipped: int = 0


StopReason = Literal["end", "truncated", "too_large"]


@dataclass(slots=True)
class DecodedBatch:
    """Everything decoded from the bytes [start_offset, end_offset) of one file.

    `end_offset` is where the next read must start: after the last complete record, or after a
    corrupt region that was skipped. `stop` says why decoding stopped before the end of the
    buffer: "end" (consumed everything), "truncated" (the last record is incomplete; `need_bytes`
    is the total size of that record when known, so a caller can read a larger window) or
    "too_large" (a record longer than the cap; `skip_to` is the offset after it).
    """

    start_offset: int
    end_offset: int
    records: int = 0
    stop: StopReason = "end"
    need_bytes: int | None = None
    skip_to: int | None = None
    first_wall_time: float | None = None
    last_wall_time: float | None = None
    # Per valid record, in order: its step and whether it carried a summary (for the purge rule of
    # files without file_version >= 2).
    event_steps: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    event_has_summary: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    scalars: list[ScalarBlock] = field(default_factory=list)
    histograms: list[HistogramEvent] = field(default_factory=list)
    images: list[ImageEvent] = field(default_factory=list)
    texts: list[TextEvent] = field(default_factory=list)
    tensors: list[TensorEvent] = field(default_factory=list)
    graphs: list[GraphEvent] = field(default_factory=list)
    session_logs: list[SessionLogEvent] = field(default_factory=list)
    file_versions: list[FileVersionEvent] = field(default_factory=list)
    problems: list[RecordProblem] = field(default_factory=list)
