"""TFRecord framing: masked CRC32C, truncated tails, corrupt-record resync, a record-size cap.

Documented in docs/ARCHITECTURE.md#decoding. Each record is

    uint64 length (LE) | uint32 masked CRC32C(length bytes) | payload | uint32 masked CRC32C(payload)

`scan()` walks a buffer of an event file and returns where every valid record is, where reading
must resume and why it stopped, plus readable problems. It never raises on any input and never
allocates according to a length field.

Why it is shaped like this (speed): a plain Python loop over records costs ~1 µs per record before
any decoding happens, which alone caps ingest below the target. Writers produce periodic record
lengths (the same tags every step), so the walker learns the period of the recent lengths,
predicts thousands of offsets at once and verifies the length fields and length CRCs at those
offsets with numpy; a scalar loop takes over on the first mismatch. Records found that way form
*lanes*: equally spaced records of equal length, which numpy can see as one 2-D array without
copying. Data CRCs of a lane are checked together using the linearity of CRC32C: for messages of
equal length, crc(a) ^ crc(b) depends only on a ^ b, so only the columns that differ between rows
need table lookups. The decoder (`ingest.events`) reuses the lanes for its fast path.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Final, Literal

import google_crc32c
import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from ingest.decoded import RecordProblem

HEADER_BYTES: Final = 12  # length (8) + length CRC (4)
FOOTER_BYTES: Final = 4  # data CRC
OVERHEAD: Final = HEADER_BYTES + FOOTER_BYTES
DEFAULT_MAX_RECORD_BYTES: Final = 256 * 1024 * 1024
_MASK_DELTA: Final = 0xA282EAD8
_U32: Final = 0xFFFFFFFF

# Walker tuning. A period is searched among the last 2*_MAX_PERIOD record lengths.
_MAX_PERIOD: Final = 128
_PERIOD_WINDOW: Final = 64
_PREDICT_RECORDS: Final = 1 << 16  # records verified per prediction round
_MIN_LANE: Final = 8  # fewer equal-length records are not worth a column-wise CRC check
# Shorter predicted stretches are grouped with the walked records by length (copied rows): a few
# big groups are cheaper for the decoder than many small strided lanes.
_MIN_STRIDED: Final = 32
# Longer records never take the decoder's fast path (scalar events are tens of bytes): their data
# CRCs are checked one by one in C, without building lanes.
_MAX_LANE_RECORD: Final = 4096
_MAX_LINEAR_COLUMNS: Final = 96  # above this, per-record C CRC is cheaper than column lookups
_RESYNC_WINDOW: Final = 1 << 20  # candidate positions examined per vectorised resync step
_TABLE_CACHE_LIMIT: Final = 8192

StopReason = Literal["end", "truncated", "too_large"]


# ---- CRC32C ------------------------------------------------------------------------------------


def crc32c(data: bytes | bytearray | npt.NDArray[np.uint8]) -> int:
    """Plain CRC-32C (Castagnoli) of `data`, computed in C by google-crc32c."""
    if isinstance(data, bytearray):
        data = bytes(data)
    return int(google_crc32c.value(data))


def mask_crc(crc: int) -> int:
    """TFRecord's CRC mask: rotate right by 15 bits, then add 0xA282EAD8 (mod 2^32).

    TFRecord masks CRCs so that a CRC of data that itself contains CRCs stays well distributed.
    """
    crc &= _U32
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & _U32


def unmask_crc(masked: int) -> int:
    """Inverse of `mask_crc`."""
    rot = (masked - _MASK_DELTA) & _U32
    return ((rot >> 17) | (rot << 15)) & _U32


def masked_crc32c(data: bytes | bytearray | npt.NDArray[np.uint8]) -> int:
    """Masked CRC-32C as stored in TFRecord headers and footers."""
    return mask_crc(crc32c(data))


def frame_record(payload: bytes) -> bytes:
    """One complete TFRecord around `payload` (used by tests, benchmarks and fixtures)."""
    header = struct.pack("<Q", len(payload))
    return b"".join(
        (
            header,
            struct.pack("<I", masked_crc32c(header)),
            payload,
            struct.pack("<I", masked_crc32c(payload)),
        )
    )


def _mask_vec(crc: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    out: npt.NDArray[np.uint32] = ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(
        _MASK_DELTA
    )
    return out


_length_crc_cache: dict[int, int] = {}


def _masked_length_crc(length: int) -> int:
    got = _length_crc_cache.get(length)
    if got is None:
        got = masked_crc32c(struct.pack("<Q", length))
        if len(_length_crc_cache) > 4096:
            _length_crc_cache.clear()
        _length_crc_cache[length] = got
    return got


_BYTE_VALUES: Final = np.arange(256, dtype=np.uint32)
_tail_tables: dict[int, npt.NDArray[np.uint32]] = {}


def _tail_table(after: int) -> npt.NDArray[np.uint32]:
    """Contribution to the CRC of one byte followed by `after` more bytes, for each byte value.

    CRC-32C is affine: for equal-length messages crc(a) ^ crc(b) = L(a ^ b) with L linear, and the
    contribution of a byte depends only on how many bytes follow it. So
    crc(row) = crc(template) ^ XOR over differing columns c of table[len - 1 - c][row[c] ^ tmpl[c]].
    The 8 single-bit contributions are computed with the C CRC and combined into 256 entries.
    """
    table = _tail_tables.get(after)
    if table is not None:
        return table
    zeros = bytes(after + 1)
    base = crc32c(zeros)
    table = np.zeros(256, dtype=np.uint32)
    tail = bytes(after)
    for bit in range(8):
        contrib = crc32c(bytes((1 << bit,)) + tail) ^ base
        table ^= np.where((_BYTE_VALUES >> np.uint32(bit)) & np.uint32(1), contrib, 0).astype(
            np.uint32
        )
    if len(_tail_tables) >= _TABLE_CACHE_LIMIT:
        _tail_tables.clear()
    _tail_tables[after] = table
    return table


def _rows_crc(
    payload: npt.NDArray[np.uint8], columns: npt.NDArray[np.intp]
) -> npt.NDArray[np.uint32]:
    """Raw CRC32C of every row of `payload` (M x L), given the columns where rows differ from
    row 0 (all other columns must be equal to row 0's)."""
    length = payload.shape[1]
    tmpl = payload[0]
    crc = np.full(payload.shape[0], crc32c(np.ascontiguousarray(tmpl)), dtype=np.uint32)
    for col in columns.tolist():
        # Gathering with intp indices is about twice as fast as with uint8 ones.
        delta = (payload[:, col] ^ tmpl[col]).astype(np.intp)
        crc ^= _tail_table(length - 1 - col)[delta]
    return crc


def _varying_columns(payload: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Columns in which some row differs from row 0."""
    out: npt.NDArray[np.bool_] = (payload != payload[0]).any(axis=0)
    return out


def _le_u32(cols: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """Little-endian uint32 from an (M, 4) byte array whose rows are contiguous (a view)."""
    out: npt.NDArray[np.uint32] = cols.view("<u4")[:, 0]
    return out


# ---- results -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Lane:
    """Valid records of equal payload `length`, as one (count, length + 16) byte array `rows`
    (header, payload, footer per row; a zero-copy strided view when the records are equally
    spaced in the buffer). `index` maps rows to positions in `ScanResult.offsets`; `varying`
    (payload columns where some row differs from row 0) is known when the data CRCs were checked
    column-wise, else None."""

    length: int
    rows: npt.NDArray[np.uint8]
    index: npt.NDArray[np.int64]
    varying: npt.NDArray[np.bool_] | None = None


@dataclass(slots=True)
class ScanResult:
    """Valid records of `buf[...]` starting at absolute offset `base_offset`.

    `offsets` are absolute payload offsets, `lengths` payload lengths, both in file order.
    `end_offset`, `stop`, `need_bytes` and `skip_to` follow `ingest.decoded.DecodedBatch`.
    """

    base_offset: int
    offsets: npt.NDArray[np.int64]
    lengths: npt.NDArray[np.int64]
    lanes: list[Lane]
    end_offset: int
    stop: StopReason = "end"
    need_bytes: int | None = None
    skip_to: int | None = None
    problems: list[RecordProblem] = field(default_factory=list)


# ---- the walker --------------------------------------------------------------------------------


@dataclass(slots=True)
class _RawLane:
    """A predicted lane in framed-record numbering: records first, first+period, ..."""

    first: int
    period: int
    count: int
    header: int  # relative offset of the first record's header
    stride: int
    length: int


class _Walker:
    """Finds every record whose length CRC is valid; see the module docstring for the method."""

    def __init__(self, buf: bytes, base_offset: int, max_record_bytes: int) -> None:
        self.buf = buf
        self.arr = np.frombuffer(buf, dtype=np.uint8)
        # Every 12-byte header window, for gathering predicted headers in one numpy call.
        self.windows = (
            sliding_window_view(self.arr, HEADER_BYTES)
            if len(buf) >= HEADER_BYTES
            else np.zeros((0, HEADER_BYTES), np.uint8)
        )
        self.n = len(buf)
        self.base = base_offset
        self.max_record_bytes = max_record_bytes
        self.pos = 0
        self.count = 0
        # Scalar-walked records, flushed into chunk arrays before each predicted stretch so that
        # the concatenation stays in file order.
        self.loose_headers: list[int] = []
        self.loose_lengths: list[int] = []
        self.header_chunks: list[npt.NDArray[np.int64]] = []
        self.length_chunks: list[npt.NDArray[np.int64]] = []
        self.raw_lanes: list[_RawLane] = []
        self.history: list[int] = []
        self.problems: list[RecordProblem] = []
        self.stop: StopReason = "end"
        self.need_bytes: int | None = None
        self.skip_to: int | None = None
        # Pattern to try again after an interruption, rotated to where it stopped.
        self.resume: list[int] | None = None
        self.resume_tries = 0

    # -- scalar loop -----------------------------------------------------------------------------

    def run(self) -> None:
        buf, n = self.buf, self.n
        unpack = struct.Struct("<QI").unpack_from
        backoff = 8
        next_try = 16
        while True:
            pos = self.pos
            if pos == n:
                self.stop = "end"
                return
            if n - pos < HEADER_BYTES:
                self.stop = "truncated"
                return
            length, length_crc = unpack(buf, pos)
            if _masked_length_crc(length) != length_crc:
                if not self._resync(pos):
                    return
                continue
            if length > self.max_record_bytes:
                self._too_large(pos, length)
                return
            end = pos + OVERHEAD + length
            if end > n:
                self.stop = "truncated"
                self.need_bytes = OVERHEAD + length
                return
            self.loose_headers.append(pos)
            self.loose_lengths.append(length)
            self.history.append(length)
            self.count += 1
            self.pos = end
            if self.resume is not None:
                # The last pattern was interrupted by a few odd records (a histogram, an image):
                # it usually goes on right after them, at the phase where it stopped.
                if self._predict(self.resume):
                    continue
                self.resume_tries -= 1
                if self.resume_tries <= 0:
                    self.resume = None
            if self.count >= next_try:
                if self._predict() >= 4 * _MIN_LANE:
                    backoff = 8
                    next_try = self.count  # try again at once: the pattern may go on
                else:
                    # Irregular stretch: try less and less often, so failed predictions stay cheap.
                    backoff = min(backoff * 2, 1 << 12)
                    next_try = self.count + backoff
                if len(self.history) > 4 * _MAX_PERIOD:
                    del self.history[: -2 * _MAX_PERIOD]

    def _too_large(self, pos: int, length: int) -> None:
        abs_pos = self.base + pos
        skip_to = abs_pos + OVERHEAD + length
        self.stop = "too_large"
        self.skip_to = skip_to
        self.problems.append(
            RecordProblem(
                offset=abs_pos,
                kind="too_large",
                message=(
                    f"record at offset {abs_pos} declares {length} bytes, above the limit of "
                    f"{self.max_record_bytes} bytes (TBHUB_MAX_RECORD_BYTES): not read; reading "
                    f"resumes at offset {skip_to} once the file is that long"
                ),
            )
        )

    # -- prediction ------------------------------------------------------------------------------

    def _period(self) -> int:
        """The smallest period of the recent lengths that holds over a window of at least
        _PERIOD_WINDOW records (two periods alone would take a run of equal lengths inside a
        longer pattern for the pattern)."""
        hist = self.history
        size = len(hist)
        for p in range(1, min(size // 2, _MAX_PERIOD) + 1):
            window = max(p, min(_PERIOD_WINDOW, size - p))
            if size < p + window:
                break
            if hist[-window:] == hist[-window - p : -p]:
                return p
        return 0

    def _predict(self, pattern: list[int] | None = None) -> int:
        """Verify predicted records with numpy; accept the prefix that matches. Returns the number
        of records accepted. `pattern`: the lengths expected next (default: the period of the
        recent lengths)."""
        if pattern is None:
            p = self._period()
            if not p:
                return 0
            pattern = self.history[-p:]
        p = len(pattern)
        sizes = [length + OVERHEAD for length in pattern]
        period_bytes = sum(sizes)
        pos = self.pos
        periods = min((self.n - pos) // period_bytes, max(1, _PREDICT_RECORDS // p))
        if periods < 2:
            return 0
        # Cheap first check before the vectorised one: is the next record the expected one?
        if struct.unpack_from("<QI", self.buf, pos) != (pattern[0], _masked_length_crc(pattern[0])):
            return 0
        starts = np.zeros(p, dtype=np.int64)
        np.cumsum(sizes[:-1], out=starts[1:])
        want_length = np.asarray(pattern, dtype=np.uint64)
        want_crc = np.asarray([_masked_length_crc(length) for length in pattern], dtype=np.uint32)
        # Verify in growing chunks of periods, all records of a chunk in one gather: a pattern
        # that breaks soon (a histogram every 10 steps) costs about what it yields, and a long one
        # is checked in a few numpy calls.
        heads: list[npt.NDArray[np.int64]] = []
        done = 0
        chunk = 8
        accepted = 0
        while done < periods:
            count = min(chunk, periods - done)
            grid = (np.arange(done, done + count, dtype=np.int64) * period_bytes + pos)[:, None]
            chunk_heads = (grid + starts).reshape(-1)
            rows = self.windows[chunk_heads]
            ok = (rows[:, :8].view("<u8").reshape(count, p) == want_length) & (
                rows[:, 8:].view("<u4").reshape(count, p) == want_crc
            )
            flat = ok.reshape(-1)
            if not flat.all():
                good = int(np.argmin(flat))
                heads.append(chunk_heads[:good])
                accepted += good
                break
            heads.append(chunk_heads)
            accepted += count * p
            done += count
            chunk *= 4
        if accepted == 0:
            return 0
        self._flush_loose()
        first = self.count
        for k in range(min(p, accepted)):
            self.raw_lanes.append(
                _RawLane(
                    first=first + k,
                    period=p,
                    count=(accepted - k + p - 1) // p,
                    header=pos + int(starts[k]),
                    stride=period_bytes,
                    length=pattern[k],
                )
            )
        headers = np.concatenate(heads)
        full = (accepted + p - 1) // p
        lengths_arr = np.tile(np.asarray(pattern, dtype=np.int64), full)[:accepted]
        self.header_chunks.append(headers)
        self.length_chunks.append(lengths_arr)
        self.count += accepted
        self.pos = int(headers[-1]) + int(lengths_arr[-1]) + OVERHEAD
        shift = accepted % p
        self.history = (pattern[shift:] + pattern[:shift]) * 2
        if accepted < periods * p:
            self.resume = pattern[shift:] + pattern[:shift]
            self.resume_tries = 8
        else:
            self.resume = None
        return accepted

    def _flush_loose(self) -> None:
        if self.loose_headers:
            self.header_chunks.append(np.asarray(self.loose_headers, dtype=np.int64))
            self.length_chunks.append(np.asarray(self.loose_lengths, dtype=np.int64))
            self.loose_headers = []
            self.loose_lengths = []

    # -- resync ----------------------------------------------------------------------------------

    def _resync(self, bad: int) -> bool:
        """The header at `bad` has a wrong length CRC, so its length cannot be trusted. Look for
        the next position where a complete record has both CRCs valid. Returns True to continue
        walking at the new `self.pos`, False when the walk must stop."""
        n, buf, arr = self.n, self.buf, self.arr
        last_header = n - HEADER_BYTES  # the last position with a complete header
        start = bad + 1
        while start <= last_header:
            stop = min(last_header + 1, start + _RESYNC_WINDOW)
            for q in _length_crc_candidates(arr, start, stop).tolist():
                length = struct.unpack_from("<Q", buf, q)[0]
                if length > self.max_record_bytes:
                    # Trust a valid length CRC as TFRecord does: the walk stops at it (too large).
                    self._report_skip(bad, q, f"resumed at offset {self.base + q}")
                    self.pos = q
                    return True
                end = q + OVERHEAD + length
                if end > n:
                    # Possibly the next real record, still being written: wait for it here.
                    self._report_skip(bad, q, f"waiting at offset {self.base + q}")
                    self.pos = q
                    self.stop = "truncated"
                    self.need_bytes = OVERHEAD + length
                    return False
                stored = struct.unpack_from("<I", buf, end - FOOTER_BYTES)[0]
                if masked_crc32c(arr[q + HEADER_BYTES : end - FOOTER_BYTES]) == stored:
                    self._report_skip(bad, q, f"resumed at offset {self.base + q}")
                    self.pos = q
                    return True
            start = stop
        # Every position with a complete header was checked; the last few cannot be yet.
        resume = max(bad + 1, last_header + 1)
        self._report_skip(
            bad, resume, f"no valid record found yet; waiting at offset {self.base + resume}"
        )
        self.pos = resume
        self.stop = "truncated"
        return False

    def _report_skip(self, bad: int, resume: int, outcome: str) -> None:
        self.problems.append(
            RecordProblem(
                offset=self.base + bad,
                kind="bad_length_crc",
                message=(
                    f"bad length CRC at offset {self.base + bad}: the record framing cannot be "
                    f"trusted; skipped {resume - bad} bytes, {outcome}"
                ),
                bytes_skipped=resume - bad,
            )
        )

    # -- output ----------------------------------------------------------------------------------

    def framed(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        self._flush_loose()
        if not self.header_chunks:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy()
        return np.concatenate(self.header_chunks), np.concatenate(self.length_chunks)


def _length_crc_candidates(
    arr: npt.NDArray[np.uint8], start: int, stop: int
) -> npt.NDArray[np.int64]:
    """Positions q in [start, stop) whose 8 bytes at q have a masked CRC equal to the 4 bytes at
    q + 8, computed for all positions at once (requires stop - 1 + 12 <= len(arr))."""
    count = stop - start
    crc = np.full(count, crc32c(bytes(8)), dtype=np.uint32)
    for i in range(8):
        crc ^= _tail_table(7 - i)[arr[start + i : start + i + count]]
    stored = (
        arr[start + 8 : start + 8 + count].astype(np.uint32)
        | (arr[start + 9 : start + 9 + count].astype(np.uint32) << np.uint32(8))
        | (arr[start + 10 : start + 10 + count].astype(np.uint32) << np.uint32(16))
        | (arr[start + 11 : start + 11 + count].astype(np.uint32) << np.uint32(24))
    )
    hits: npt.NDArray[np.int64] = np.flatnonzero(_mask_vec(crc) == stored).astype(np.int64) + start
    return hits


# ---- data CRCs and lanes -----------------------------------------------------------------------


def _strided_rows(
    buf: bytes, header: int, stride: int, count: int, width: int
) -> npt.NDArray[np.uint8]:
    return np.ndarray(
        (count, width), dtype=np.uint8, buffer=buf, offset=header, strides=(stride, 1)
    )


def _gather_rows(
    arr: npt.NDArray[np.uint8], headers: npt.NDArray[np.int64], width: int
) -> npt.NDArray[np.uint8]:
    """Rows of `width` bytes at arbitrary `headers`, copied in bounded chunks."""
    rows = np.empty((len(headers), width), dtype=np.uint8)
    chunk = max(1, (1 << 22) // max(width, 1))
    cols = np.arange(width, dtype=np.int64)
    for a in range(0, len(headers), chunk):
        idx = headers[a : a + chunk, None] + cols
        rows[a : a + chunk] = arr[idx]
    return rows


def _check_rows(
    rows: npt.NDArray[np.uint8], length: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_] | None]:
    """Data-CRC validity of every row; also the varying payload columns when computed."""
    payload = rows[:, HEADER_BYTES : HEADER_BYTES + length]
    stored = _le_u32(rows[:, HEADER_BYTES + length : HEADER_BYTES + length + FOOTER_BYTES])
    if length == 0:
        return stored == np.uint32(mask_crc(crc32c(b""))), np.zeros(0, dtype=bool)
    varying = _varying_columns(payload)
    columns = np.flatnonzero(varying)
    if len(columns) <= _MAX_LINEAR_COLUMNS:
        crc = _rows_crc(payload, columns)
        ok: npt.NDArray[np.bool_] = _mask_vec(crc) == stored
        return ok, varying
    values = [crc32c(np.ascontiguousarray(row)) for row in payload]
    crcs = np.asarray(values, dtype=np.uint32)
    return _mask_vec(crcs) == stored, None


def scan(
    buf: bytes,
    *,
    base_offset: int = 0,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
) -> ScanResult:
    """Frame the records of `buf` (bytes of one event file starting at `base_offset`).

    Policy (docs/ARCHITECTURE.md#decoding): a truncated last record stops the scan before it
    (`end_offset` at its header, `need_bytes` = its total size when its header is complete); a bad
    data CRC with a valid length CRC skips that record; a bad length CRC resyncs at the next
    complete record with both CRCs valid (or, if none is in the buffer, waits after the positions
    proven not to start a record); a length above `max_record_bytes` is never allocated: the scan
    stops with "too_large" and `skip_to`.

    Args:
        buf: the bytes read from the file; `bytes` so that numpy views can borrow them.
        base_offset: the absolute file offset of `buf[0]`; every offset returned is absolute.
        max_record_bytes: the record-size cap (TBHUB_MAX_RECORD_BYTES).

    Returns:
        A ScanResult; it never raises for any content of `buf`.
    """
    if not isinstance(buf, bytes):
        buf = bytes(buf)
    walker = _Walker(buf, base_offset, max_record_bytes)
    walker.run()
    headers, lengths = walker.framed()
    total = len(headers)
    valid = np.ones(total, dtype=bool)
    problems = list(walker.problems)
    arr = walker.arr

    in_lane = np.zeros(total, dtype=bool)
    candidates: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], int]] = []
    for raw in walker.raw_lanes:
        if raw.count < _MIN_STRIDED or raw.length > _MAX_LANE_RECORD:
            continue
        frames = raw.first + raw.period * np.arange(raw.count, dtype=np.int64)
        in_lane[frames] = True
        rows = _strided_rows(buf, raw.header, raw.stride, raw.count, raw.length + OVERHEAD)
        candidates.append((frames, rows, raw.length))
    # Records walked one by one: group equal lengths so that their data CRCs are checked together.
    loose = np.flatnonzero(~in_lane)
    if len(loose):
        loose_lengths = lengths[loose]
        key = loose_lengths.astype(np.uint32) if loose_lengths.max() < 1 << 32 else loose_lengths
        order = np.argsort(key, kind="stable")
        sorted_lengths = loose_lengths[order]
        cuts = np.flatnonzero(np.diff(sorted_lengths)) + 1
        for group in np.split(order, cuts):
            frames = loose[group]
            length = int(lengths[frames[0]])
            if len(frames) >= _MIN_LANE and length <= _MAX_LANE_RECORD:
                rows = _gather_rows(arr, headers[frames], length + OVERHEAD)
                candidates.append((frames, rows, length))
                continue
            for f in frames.tolist():
                h = int(headers[f])
                ln = int(lengths[f])
                stored = struct.unpack_from("<I", buf, h + HEADER_BYTES + ln)[0]
                if masked_crc32c(buf[h + HEADER_BYTES : h + HEADER_BYTES + ln]) != stored:
                    valid[f] = False

    checked: list[
        tuple[
            npt.NDArray[np.int64],
            npt.NDArray[np.uint8],
            int,
            npt.NDArray[np.bool_],
            npt.NDArray[np.bool_] | None,
        ]
    ] = []
    for frames, rows, length in candidates:
        ok, varying = _check_rows(rows, length)
        if not ok.all():
            valid[frames[~ok]] = False
        checked.append((frames, rows, length, ok, varying))

    for f in np.flatnonzero(~valid).tolist():
        h = int(headers[f])
        ln = int(lengths[f])
        problems.append(
            RecordProblem(
                offset=base_offset + h,
                kind="bad_data_crc",
                message=(
                    f"bad data CRC in the record at offset {base_offset + h} ({ln} bytes): "
                    "the record was skipped, reading continues after it"
                ),
            )
        )
    problems.sort(key=lambda p: p.offset)

    remap = np.cumsum(valid, dtype=np.int64) - 1
    lanes: list[Lane] = []
    for frames, rows, length, ok, varying in checked:
        if ok.all():
            lanes.append(Lane(length=length, rows=rows, index=remap[frames], varying=varying))
            continue
        # Split around the bad rows; the varying columns of a part are a subset of the whole's,
        # which is all the decoder relies on.
        good = np.flatnonzero(ok)
        if not len(good):
            continue
        breaks = np.flatnonzero(np.diff(good) != 1) + 1
        for part in np.split(good, breaks):
            a, b = int(part[0]), int(part[-1]) + 1
            if b - a >= _MIN_LANE:
                lanes.append(
                    Lane(length=length, rows=rows[a:b], index=remap[frames[a:b]], varying=varying)
                )
    lanes.sort(key=lambda lane: int(lane.index[0]))

    offsets = headers[valid] + (base_offset + HEADER_BYTES)
    return ScanResult(
        base_offset=base_offset,
        offsets=offsets,
        lengths=lengths[valid],
        lanes=lanes,
        end_offset=base_offset + walker.pos,
        stop=walker.stop,
        need_bytes=walker.need_bytes,
        skip_to=walker.skip_to,
        problems=problems,
    )
