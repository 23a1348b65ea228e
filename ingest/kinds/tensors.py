"""TensorProto → numpy, following TensorBoard's `tensor_util.make_ndarray` (reference §2).

Rules: a non-empty `tensor_content` holds the raw little-endian row-major buffer and takes
precedence; otherwise the typed field is read, and a single typed value is broadcast to the whole
shape; DT_STRING always comes from `string_val`. Every function here returns None instead of
raising on malformed or hostile input (negative or absurd dims, sizes that do not match), and
refuses to broadcast beyond `MAX_ELEMENTS`, so a 2^60-element shape never allocates.
"""

from __future__ import annotations

import struct
from typing import Final

import numpy as np
import numpy.typing as npt

from ingest.proto import tensor_pb2

MAX_ELEMENTS: Final = 1 << 22
_UNPACK_F32: Final = struct.Struct("<f").unpack
_UNPACK_F64: Final = struct.Struct("<d").unpack

DT_FLOAT: Final = 1
DT_DOUBLE: Final = 2
DT_INT32: Final = 3
DT_UINT8: Final = 4
DT_INT16: Final = 5
DT_INT8: Final = 6
DT_STRING: Final = 7
DT_COMPLEX64: Final = 8
DT_INT64: Final = 9
DT_BOOL: Final = 10
DT_QINT8: Final = 11
DT_QUINT8: Final = 12
DT_QINT32: Final = 13
DT_BFLOAT16: Final = 14
DT_QINT16: Final = 15
DT_QUINT16: Final = 16
DT_UINT16: Final = 17
DT_COMPLEX128: Final = 18
DT_HALF: Final = 19
DT_UINT32: Final = 22
DT_UINT64: Final = 23

# Numeric dtypes and their little-endian numpy storage type. bfloat16 is stored as its uint16 bit
# pattern (numpy has no bfloat16) and widened to float32 by `_widen_bfloat16`.
NUMPY_DTYPES: Final[dict[int, str]] = {
    DT_FLOAT: "<f4",
    DT_DOUBLE: "<f8",
    DT_INT32: "<i4",
    DT_UINT8: "u1",
    DT_INT16: "<i2",
    DT_INT8: "i1",
    DT_COMPLEX64: "<c8",
    DT_INT64: "<i8",
    DT_BOOL: "?",
    DT_QINT8: "i1",
    DT_QUINT8: "u1",
    DT_QINT32: "<i4",
    DT_BFLOAT16: "<u2",
    DT_QINT16: "<i2",
    DT_QUINT16: "<u2",
    DT_UINT16: "<u2",
    DT_COMPLEX128: "<c16",
    DT_HALF: "<f2",
    DT_UINT32: "<u4",
    DT_UINT64: "<u8",
}

DTYPE_NAMES: Final[dict[int, str]] = {
    DT_FLOAT: "DT_FLOAT",
    DT_DOUBLE: "DT_DOUBLE",
    DT_INT32: "DT_INT32",
    DT_UINT8: "DT_UINT8",
    DT_INT16: "DT_INT16",
    DT_INT8: "DT_INT8",
    DT_STRING: "DT_STRING",
    DT_COMPLEX64: "DT_COMPLEX64",
    DT_INT64: "DT_INT64",
    DT_BOOL: "DT_BOOL",
    DT_QINT8: "DT_QINT8",
    DT_QUINT8: "DT_QUINT8",
    DT_QINT32: "DT_QINT32",
    DT_BFLOAT16: "DT_BFLOAT16",
    DT_QINT16: "DT_QINT16",
    DT_QUINT16: "DT_QUINT16",
    DT_UINT16: "DT_UINT16",
    DT_COMPLEX128: "DT_COMPLEX128",
    DT_HALF: "DT_HALF",
    DT_UINT32: "DT_UINT32",
    DT_UINT64: "DT_UINT64",
}

_INT_VAL_TYPES: Final = frozenset(
    {
        DT_INT32,
        DT_UINT8,
        DT_INT16,
        DT_INT8,
        DT_QINT8,
        DT_QUINT8,
        DT_QINT32,
        DT_QINT16,
        DT_QUINT16,
        DT_UINT16,
    }
)


def dtype_name(dtype: int) -> str:
    """TensorFlow's name for a DataType number (`DT_<n>` for unknown ones)."""
    return DTYPE_NAMES.get(dtype, f"DT_{dtype}")


def tensor_shape(tensor: tensor_pb2.TensorProto) -> list[int] | None:
    """Dimensions of `tensor` ([] = scalar), or None for an unknown rank or a negative dim."""
    shape_proto = tensor.tensor_shape
    if shape_proto.unknown_rank:
        return None
    dims = [d.size for d in shape_proto.dim]
    if any(d < 0 for d in dims):
        return None
    return dims


def num_elements(shape: list[int]) -> int:
    """Product of the dims (Python ints: no overflow for hostile dims)."""
    total = 1
    for d in shape:
        total *= d
    return total


def _typed_values(tensor: tensor_pb2.TensorProto, dtype: int) -> npt.NDArray[np.generic] | None:
    storage = NUMPY_DTYPES[dtype]
    if dtype == DT_FLOAT:
        return np.asarray(tensor.float_val, dtype=np.float32)
    if dtype == DT_DOUBLE:
        return np.asarray(tensor.double_val, dtype=np.float64)
    if dtype in _INT_VAL_TYPES:
        # int_val holds them as int32; out-of-range values wrap like TensorFlow's casts.
        return np.asarray(tensor.int_val, dtype=np.int64).astype(storage)
    if dtype == DT_INT64:
        return np.asarray(tensor.int64_val, dtype=np.int64)
    if dtype == DT_BOOL:
        return np.asarray(tensor.bool_val, dtype=bool)
    if dtype in (DT_HALF, DT_BFLOAT16):
        return np.asarray(tensor.half_val, dtype=np.int64).astype(np.uint16).view(storage)
    if dtype == DT_UINT32:
        return np.asarray(tensor.uint32_val, dtype=np.uint32)
    if dtype == DT_UINT64:
        return np.asarray(tensor.uint64_val, dtype=np.uint64)
    if dtype in (DT_COMPLEX64, DT_COMPLEX128):
        parts = np.asarray(
            tensor.scomplex_val if dtype == DT_COMPLEX64 else tensor.dcomplex_val,
            dtype=np.float32 if dtype == DT_COMPLEX64 else np.float64,
        )
        if len(parts) % 2:
            return None
        return parts.view(storage)
    return None


def _widen_bfloat16(bits: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
    return (bits.astype(np.uint32) << np.uint32(16)).view(np.float32)


def to_ndarray(tensor: tensor_pb2.TensorProto) -> npt.NDArray[np.generic] | None:
    """Numeric tensor as a numpy array of its shape (bfloat16 widened to float32).

    Returns None for DT_STRING (see `to_strings`), unsupported dtypes, inconsistent sizes, or
    more than MAX_ELEMENTS elements.
    """
    dtype = int(tensor.dtype)
    if dtype not in NUMPY_DTYPES:
        return None
    shape = tensor_shape(tensor)
    if shape is None:
        return None
    count = num_elements(shape)
    if count > MAX_ELEMENTS:
        return None
    storage = np.dtype(NUMPY_DTYPES[dtype])
    content = tensor.tensor_content
    values: npt.NDArray[np.generic] | None
    if content:
        if len(content) != count * storage.itemsize:
            return None
        values = np.frombuffer(content, dtype=storage).copy()
    else:
        values = _typed_values(tensor, dtype)
        if values is None:
            return None
        if len(values) == 1 and count != 1:
            values = np.repeat(values, count)
        elif len(values) != count:
            return None
    if dtype == DT_BOOL:
        values = values.astype(bool)
    if dtype == DT_BFLOAT16:
        values = _widen_bfloat16(values)
    return values.reshape(shape)


def to_strings(
    tensor: tensor_pb2.TensorProto, *, max_elements: int = MAX_ELEMENTS
) -> tuple[list[int], list[bytes]] | None:
    """A DT_STRING tensor as (shape, row-major elements), broadcasting a single value.

    Returns None if the tensor is not DT_STRING, its shape is invalid, its size does not match,
    or it has more than `max_elements` elements (checked before any element is materialised:
    a 256 MiB record of empty strings would otherwise become 100M Python objects).
    """
    if int(tensor.dtype) != DT_STRING:
        return None
    shape = tensor_shape(tensor)
    if shape is None:
        return None
    count = num_elements(shape)
    stored = len(tensor.string_val)
    if count > max_elements or stored > max_elements:
        return None
    if stored == count:
        return shape, list(tensor.string_val)
    if stored == 1:
        return shape, [tensor.string_val[0]] * count
    return None


def scalar_value(tensor: tensor_pb2.TensorProto) -> tuple[float, bool] | None:
    """The single value of a one-element numeric tensor, and whether it is float32.

    TensorBoard's scalar reader calls `.item()` on the array, so any one-element real tensor
    (rank 0, or [1], [1, 1]...) is a scalar; complex and string tensors are not.
    """
    dtype = int(tensor.dtype)
    shape_proto = tensor.tensor_shape
    if dtype in (DT_FLOAT, DT_DOUBLE) and not shape_proto.dim and not shape_proto.unknown_rank:
        # The common rank-0 cases without numpy (the protobuf path decodes many of these).
        content = tensor.tensor_content
        single = dtype == DT_FLOAT
        if content:
            if len(content) != (4 if single else 8):
                return None
            return _UNPACK_F32(content)[0] if single else _UNPACK_F64(content)[0], single
        typed = tensor.float_val if single else tensor.double_val
        return (float(typed[0]), single) if len(typed) == 1 else None
    if dtype in (DT_STRING, DT_COMPLEX64, DT_COMPLEX128) or dtype not in NUMPY_DTYPES:
        return None
    shape = tensor_shape(tensor)
    if shape is None or num_elements(shape) != 1:
        return None
    array = to_ndarray(tensor)
    if array is None:
        return None
    item = array.reshape(-1)[0]
    if dtype == DT_FLOAT:
        return float(item), True
    return float(item), False


def make_tensor(
    dtype: int,
    shape: list[int],
    *,
    content: bytes = b"",
    strings: list[bytes] | None = None,
    float_val: list[float] | None = None,
) -> tensor_pb2.TensorProto:
    """Build a TensorProto (for legacy values normalised to TensorBoard's tensor form)."""
    tensor = tensor_pb2.TensorProto(dtype=dtype)  # type: ignore[arg-type]
    for size in shape:
        tensor.tensor_shape.dim.add(size=size)
    if content:
        tensor.tensor_content = content
    if strings is not None:
        tensor.string_val.extend(strings)
    if float_val is not None:
        tensor.float_val.extend(float_val)
    return tensor
