"""Event files for tests, written at test time.

Two kinds of helpers:
- real writers (tensorboardX, `tensorboard.summary.Writer`, TensorBoard's `EventFileWriter` with
  TF2-style tensor summaries built the way `tf.summary` builds them), because our decoder must
  read what they write, byte for byte;
- a tiny record builder on TensorBoard's own protobuf classes, for exact control over layouts,
  corruption and growth (still real `Event` messages, never our own classes, so a bug in our
  .proto files cannot hide itself).
"""

from __future__ import annotations

import glob
import os
import struct
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2

from ingest.tfrecord import frame_record, masked_crc32c

WALL0 = 1_700_000_000.0


# ---- TensorBoard-proto events ------------------------------------------------------------------


def file_version_event(wall: float = WALL0, version: str = "brain.Event:2") -> event_pb2.Event:
    return event_pb2.Event(wall_time=wall, file_version=version)


def session_start(step: int, wall: float = WALL0) -> event_pb2.Event:
    return event_pb2.Event(
        wall_time=wall,
        step=step,
        session_log=event_pb2.SessionLog(status=event_pb2.SessionLog.START),
    )


def scalar_event(
    tag: str, value: float, step: int, wall: float | None = None, *, metadata: bool = False
) -> event_pb2.Event:
    """PyTorch/TF1 style: simple_value (float32)."""
    ev = event_pb2.Event(wall_time=WALL0 + step if wall is None else wall, step=step)
    v = ev.summary.value.add(tag=tag, simple_value=value)
    if metadata:
        v.metadata.plugin_data.plugin_name = "scalars"
    return ev


def tensor_scalar_event(
    tag: str,
    value: float,
    step: int,
    wall: float | None = None,
    *,
    dtype: int = types_pb2.DT_FLOAT,
    form: str = "content",
    metadata: bool = True,
) -> event_pb2.Event:
    """TF2 style rank-0 tensor: `form` is "content" (tensor_content, as TF's C++ writer does) or
    "typed" (float_val / double_val, as TensorBoard's Python make_tensor_proto does)."""
    ev = event_pb2.Event(wall_time=WALL0 + step if wall is None else wall, step=step)
    v = ev.summary.value.add(tag=tag)
    t = v.tensor
    t.dtype = dtype
    t.tensor_shape.SetInParent()
    np_type = np.float32 if dtype == types_pb2.DT_FLOAT else np.float64
    if form == "content":
        t.tensor_content = np.asarray(value, dtype=np_type).tobytes()
    elif dtype == types_pb2.DT_FLOAT:
        t.float_val.append(value)
    else:
        t.double_val.append(value)
    if metadata:
        v.metadata.plugin_data.plugin_name = "scalars"
        v.metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    return ev


def string_tensor(values: list[bytes], shape: list[int]) -> tensor_pb2.TensorProto:
    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING)
    for size in shape:
        t.tensor_shape.dim.add(size=size)
    t.string_val.extend(values)
    return t


def tensor_event(
    tag: str, tensor: tensor_pb2.TensorProto, step: int, plugin: str | None, content: bytes = b""
) -> event_pb2.Event:
    ev = event_pb2.Event(wall_time=WALL0 + step, step=step)
    v = ev.summary.value.add(tag=tag)
    v.tensor.CopyFrom(tensor)
    if plugin is not None:
        v.metadata.plugin_data.plugin_name = plugin
        v.metadata.plugin_data.content = content
    return ev


def histogram_tensor(buckets: np.ndarray) -> tensor_pb2.TensorProto:
    t = tensor_pb2.TensorProto(dtype=types_pb2.DT_DOUBLE)
    for size in buckets.shape:
        t.tensor_shape.dim.add(size=size)
    t.tensor_content = np.asarray(buckets, dtype="<f8").tobytes()
    return t


def records(events: Iterable[event_pb2.Event | bytes]) -> bytes:
    """Frame events (or raw payloads) as TFRecords."""
    out = []
    for ev in events:
        payload = ev if isinstance(ev, bytes) else ev.SerializeToString()
        out.append(frame_record(payload))
    return b"".join(out)


def record_offsets(data: bytes) -> list[tuple[int, int]]:
    """(header offset, payload length) of every complete record, by the plain definition."""
    out = []
    pos = 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        if pos + 16 + length > len(data):
            break
        out.append((pos, length))
        pos += 16 + length
    return out


def corrupt_length_crc(data: bytes, header: int) -> bytes:
    buf = bytearray(data)
    buf[header + 8] ^= 0xFF
    return bytes(buf)


def corrupt_data_crc(data: bytes, header: int) -> bytes:
    (length,) = struct.unpack_from("<Q", data, header)
    buf = bytearray(data)
    buf[header + 12 + length] ^= 0xFF
    return bytes(buf)


def bad_proto_record(payload: bytes = b"\x0a\xff\xff\xff\xff\x0f") -> bytes:
    """A record with valid CRCs whose payload is not a valid Event."""
    return frame_record(payload)


def raw_record(length_field: int, payload: bytes = b"", *, valid_length_crc: bool = True) -> bytes:
    header = struct.pack("<Q", length_field)
    crc = masked_crc32c(header) if valid_length_crc else masked_crc32c(header) ^ 1
    return header + struct.pack("<I", crc) + payload


# ---- real writers --------------------------------------------------------------------------------


def only_event_file(logdir: str | Path) -> str:
    files = sorted(glob.glob(os.path.join(str(logdir), "*tfevents*")))
    assert len(files) == 1, files
    return files[0]


def write_tensorboardx(logdir: str | Path, *, steps: int = 30) -> str:
    """tensorboardX: scalars (simple_value), a histogram, an image, a text summary."""
    from tensorboardX import SummaryWriter

    rng = np.random.default_rng(0)
    writer = SummaryWriter(str(logdir))
    for step in range(steps):
        writer.add_scalar("loss/train", float(1.0 / (step + 1)), step, walltime=WALL0 + step)
        writer.add_scalar("lr", 0.1 * 0.9**step, step, walltime=WALL0 + step)
        if step % 10 == 0:
            writer.add_histogram("weights", rng.standard_normal(500), step, walltime=WALL0 + step)
            writer.add_image("sample", rng.random((3, 8, 6)), step, walltime=WALL0 + step)
            writer.add_text("notes", f"step **{step}**", step, walltime=WALL0 + step)
    writer.close()
    return only_event_file(logdir)


def write_tensorboard_writer(logdir: str | Path, *, steps: int = 40, tags: int = 3) -> str:
    """tensorboard.summary.Writer: TF2-style scalar tensors with plugin metadata on every value."""
    from tensorboard.summary import Writer

    writer = Writer(str(logdir))
    for step in range(steps):
        for t in range(tags):
            writer.add_scalar(
                f"metric_{t}", float(step * 0.5 + t), step=step, wall_time=WALL0 + step
            )
    writer.close()
    return only_event_file(logdir)


def write_event_file_writer(logdir: str | Path, events: Iterable[event_pb2.Event]) -> str:
    """TensorBoard's EventFileWriter (what torch.utils.tensorboard uses) with given events."""
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(logdir))
    for ev in events:
        writer.add_event(ev)
    writer.close()
    return only_event_file(logdir)
