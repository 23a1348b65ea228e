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
offsets with numpy; a scalar loop takes over on the first mismatch, and after a few odd records
(a histogram, an image) the interrupted pattern is tried again at the place where it stopped.

The records are then gathered into *lanes*: every record of the window with one payload length
and one place in the length pattern (in practice: one set of tags with one step-varint width),
however many times histograms or images interrupted them, as one 2-D numpy array. So the fixed
cost of a lane (a few dozen numpy calls here and in the decoder) is paid once per window, not
once per stretch between interruptions. Data CRCs of a lane are checked together using the
linearity of CRC32C: for messages of equal length, crc(a) ^ crc(b) depends only on a ^ b, so only
the columns that differ between rows need table lookups. The decoder (`ingest.events`) reuses
the lanes for its fast path.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import google_crc32c
import numpy as np
import numpy.typing as npt

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
_PLACE_CHECK: Final = 512  # periods from which headers are checked place by place (strided)
_MIN_LANE: Final = 8  # fewer equal-length records are not worth a column-wise CRC check
# Predicted lanes shorter than this are gathered with the walked records (a strided block copy
# costs a few numpy calls; a gathered row a few tens of nanoseconds).
_MIN_BLOCK: Final = 8
# Longer records never take the decoder's fast path (scalar events are tens of bytes): their data
# CRCs are checked one by one in C, without building lanes.
_MAX_LANE_RECORD: Final = 4096
_MAX_LINEAR_COLUMNS: Final = 96  # above this, per-record C CRC is cheaper than column lookups
_CHECK_BYTES: Final = 1 << 20  # rows of a lane checked together (see _check_rows)
_COPY_BYTES: Final = 1 << 18  # bytes of a stretch copied into lanes together (see _Lanes)
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
    template = np.ascontiguousarray(payload[0])
    return _diff_crc(payload ^ template, columns, crc32c(template))


def _diff_crc(
    diff: npt.NDArray[np.uint8], columns: npt.NDArray[np.intp], template_crc: int
) -> npt.NDArray[np.uint32]:
    """Raw CRC32C of every row, from `diff` (the rows XOR the template, zero outside `columns`)
    and the template's CRC."""
    length = diff.shape[1]
    crc = np.full(len(diff), template_crc, dtype=np.uint32)
    for col in columns.tolist():
        # Gathering with intp indices is about twice as fast as with uint8 ones.
        crc ^= _tail_table(length - 1 - col)[diff[:, col].astype(np.intp)]
    return crc


def _varying_columns(payload: npt.NDArray[np.uint8]) -> npt.NDArray[np.bool_]:
    """Columns in which some row differs from row 0: OR of (row ^ row 0) over all rows, folded
    in halves (a few passes over contiguous memory; a reduction along axis 0 is ~3x slower)."""
    rows = len(payload)
    if rows == 0:
        return np.zeros(payload.shape[1], dtype=bool)
    diff = payload ^ payload[0]
    while rows > 1:
        half = rows // 2
        np.bitwise_or(diff[:half], diff[rows - half : rows], out=diff[:half])
        rows -= half
    out: npt.NDArray[np.bool_] = diff[0] != 0
    return out


def _le_u32(cols: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint32]:
    """Little-endian uint32 from an (M, 4) byte array whose rows are contiguous (a view)."""
    out: npt.NDArray[np.uint32] = cols.view("<u4")[:, 0]
    return out


# ---- results -----------------------------------------------------------------------------------


@dataclass(slots=True)
class Lane:
    """Valid records of equal payload `length`, as one (count, length + 16) byte array `rows`
    (header, payload, footer per row; a zero-copy strided view when the records are one equally
    spaced stretch of the buffer, else a copy). `index` maps rows to positions in
    `ScanResult.offsets` (ascending within each stretch, not necessarily across stretches);
    `varying`: payload columns where some row differs from row 0 (None: unknown, every column)."""

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
    # Which place of which length pattern it is (the pattern as its primitive period in its
    # smallest rotation, and the place in that): records at one place of one pattern are
    # usually one set of tags written with one step width.
    place: tuple[tuple[int, ...], int]
    stretch: int  # which prediction found it (the places of one stretch interleave)


_HEADER: Final = np.dtype((np.void, HEADER_BYTES))


class _Pattern:
    """What _predict needs to know about one length pattern, computed once per walk. `headers`,
    `lengths` and `relative` cover the pattern repeated `periods` times (grown on demand)."""

    __slots__ = (
        "headers",
        "lengths",
        "period_bytes",
        "periods",
        "place",
        "relative",
        "starts",
        "want_crc",
        "want_length",
    )

    def __init__(self, pattern: tuple[int, ...]) -> None:
        p = len(pattern)
        sizes = [length + OVERHEAD for length in pattern]
        self.period_bytes = sum(sizes)
        self.starts = np.zeros(p, dtype=np.int64)
        np.cumsum(sizes[:-1], out=self.starts[1:])
        self.want_length = np.asarray(pattern, dtype=np.uint64)
        crcs = [_masked_length_crc(length) for length in pattern]
        self.want_crc = np.asarray(crcs, dtype=np.uint32)
        # Places: the primitive period of the pattern in its smallest rotation.
        q = next(q for q in range(1, p + 1) if p % q == 0 and pattern == pattern[:q] * (p // q))
        base = pattern[:q]
        best = min(range(q), key=lambda i: base[i:] + base[:i])
        canonical = base[best:] + base[:best]
        self.place = [(canonical, (k - best) % q) for k in range(p)]
        header = b"".join(struct.pack("<QI", n, c) for n, c in zip(pattern, crcs, strict=True))
        self.periods = 0
        self.headers = np.frombuffer(header, dtype=_HEADER)  # expected headers, repeated
        self.lengths = np.asarray(pattern, dtype=np.int64)  # lengths, repeated
        self.relative = self.starts.copy()  # header offsets from the first one, repeated
        self.grow(64)

    def grow(self, periods: int) -> None:
        """Make the repeated arrays cover at least `periods` periods."""
        if periods <= self.periods:
            return
        periods = max(periods, 2 * self.periods)
        p = len(self.starts)
        self.headers = np.tile(self.headers[:p], periods)
        self.lengths = np.tile(self.lengths[:p], periods)
        grid = np.arange(periods, dtype=np.int64)[:, None] * self.period_bytes
        self.relative = (grid + self.starts).reshape(-1)
        self.periods = periods


class _Walker:
    """Finds every record whose length CRC is valid; see the module docstring for the method."""

    def __init__(self, buf: bytes, base_offset: int, max_record_bytes: int) -> None:
        self.buf = buf
        self.arr = np.frombuffer(buf, dtype=np.uint8)
        # The 12-byte header at every byte offset, as one opaque element (an unaligned view),
        # for checking the headers of predicted records with one gather and one comparison.
        headers = len(buf) - HEADER_BYTES + 1
        self.header_view = (
            np.ndarray((headers,), _HEADER, buf, 0, (1,))
            if headers > 0
            else np.zeros(0, dtype=_HEADER)
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
        self.last_periods = 0  # periods accepted by the last prediction, plus one
        self.patterns: dict[tuple[int, ...], _Pattern] = {}
        self.stretches = 0

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
                if self._predict(self.resume, resumed=True):
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

    def _predict(self, pattern: list[int] | None = None, *, resumed: bool = False) -> int:
        """Verify predicted records with numpy; accept the prefix that matches. Returns the number
        of records accepted. `pattern`: the lengths expected next (default: the period of the
        recent lengths)."""
        if pattern is None:
            p = self._period()
            if not p:
                return 0
            pattern = self.history[-p:]
        p = len(pattern)
        key = tuple(pattern)
        known = self.patterns.get(key)
        if known is None:
            known = self.patterns[key] = _Pattern(key)
        period_bytes, starts = known.period_bytes, known.starts
        pos = self.pos
        periods = min((self.n - pos) // period_bytes, max(1, _PREDICT_RECORDS // p))
        if periods < 2:
            return 0
        # Cheap first check before the vectorised one: is the next record the expected one?
        if struct.unpack_from("<QI", self.buf, pos) != (pattern[0], _masked_length_crc(pattern[0])):
            return 0
        # Verify in growing chunks of periods: a pattern that breaks soon (a histogram every 10
        # steps) costs about what it yields, and a long one is checked in a few numpy calls. A
        # resumed pattern starts with the length of its last stretch: interruptions are usually
        # periodic too (a histogram every 50 steps).
        done = 0
        chunk = max(8, self.last_periods) if resumed else 8
        accepted = 0
        buf = self.buf
        while done < periods:
            count = min(chunk, periods - done)
            good = count * p
            if count >= _PLACE_CHECK:
                # Long chunks: each place as two strided views of the buffer, no index arrays.
                base = pos + done * period_bytes
                for k in range(p):
                    offset = base + int(starts[k])
                    fields = np.ndarray((count,), "<u8", buf, offset, (period_bytes,))
                    crcs = np.ndarray((count,), "<u4", buf, offset + 8, (period_bytes,))
                    ok = (fields == known.want_length[k]) & (crcs == known.want_crc[k])
                    if not ok.all():
                        good = min(good, int(np.argmin(ok)) * p + k)
            else:
                # Short ones: every header of the chunk in one gather and one comparison.
                known.grow(done + count)
                heads = known.relative[done * p : (done + count) * p] + pos
                same = self.header_view[heads] == known.headers[: count * p]
                if not same.all():
                    good = int(np.argmin(same))
            accepted += good
            if good < count * p:
                break
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
                    place=known.place[k],
                    stretch=self.stretches,
                )
            )
        self.stretches += 1
        known.grow((accepted + p - 1) // p)
        headers = known.relative[:accepted] + pos
        self.header_chunks.append(headers)
        self.length_chunks.append(known.lengths[:accepted])
        self.count += accepted
        self.last_periods = accepted // p + 1
        self.pos = int(headers[-1]) + pattern[(accepted - 1) % p] + OVERHEAD
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


def _check_rows(
    rows: npt.NDArray[np.uint8], length: int
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Data-CRC validity of every row, and the payload columns in which some row differs from
    row 0.

    Rows are checked in blocks of about _CHECK_BYTES, each block in a few passes while it is in
    cache: XOR with row 0 (the template), fold the XOR to find the block's varying columns, then
    look up the CRC contribution of each varying column (CRC32C is linear, see _tail_table)."""
    payload = rows[:, HEADER_BYTES : HEADER_BYTES + length]
    stored = _le_u32(rows[:, HEADER_BYTES + length : HEADER_BYTES + length + FOOTER_BYTES])
    if length == 0:
        return stored == np.uint32(mask_crc(crc32c(b""))), np.zeros(0, dtype=bool)
    count = len(payload)
    template = np.ascontiguousarray(payload[0])
    base = crc32c(template)
    crc = np.empty(count, dtype=np.uint32)
    varying = np.zeros(length, dtype=bool)
    size = max(1, min(count, _CHECK_BYTES // length))
    diff = np.empty((size, length), dtype=np.uint8)
    fold = np.empty((max(size // 2, 1), length), dtype=np.uint8)
    for a in range(0, count, size):
        block = payload[a : a + size]
        m = len(block)
        x = diff[:m]
        np.bitwise_xor(block, template, out=x)
        if m > 1:  # OR of all rows of x, folded in halves into `fold` (x stays for the CRC)
            half = m // 2
            folded = fold[:half]
            np.bitwise_or(x[:half], x[m - half :], out=folded)
            if m % 2:
                folded[0] |= x[half]
            while half > 1:
                h = half // 2
                np.bitwise_or(folded[:h], folded[half - h : half], out=folded[:h])
                half -= h
            changed = folded[0] != 0
        else:
            changed = x[0] != 0
        varying |= changed
        columns = np.flatnonzero(changed)
        if len(columns) <= _MAX_LINEAR_COLUMNS:
            crc[a : a + m] = _diff_crc(x, columns, base)
        else:
            crc[a : a + m] = [crc32c(np.ascontiguousarray(row)) for row in block]
    ok: npt.NDArray[np.bool_] = _mask_vec(crc) == stored
    return ok, varying


# A piece of a lane: a predicted lane, or walked records (their numbers).
_Piece = _RawLane | npt.NDArray[np.int64]


def _size(piece: _Piece) -> int:
    return piece.count if isinstance(piece, _RawLane) else len(piece)


def _frames(raw: _RawLane) -> npt.NDArray[np.int64]:
    return np.arange(raw.first, raw.first + raw.period * raw.count, raw.period, dtype=np.int64)


class _Lanes:
    """Builds lane arrays: all records of one length (and place) in one (count, length + 16)
    array. Walked records are gathered by header at once; predicted lanes are copied later,
    stretch by stretch in file order and in chunks across the places of a stretch, so that each
    part of the buffer is read from memory once while it is in cache (place by place, a 16 MiB
    window would be streamed once per place)."""

    def __init__(self, buf: bytes, headers: npt.NDArray[np.int64]) -> None:
        self.buf = buf
        self.headers = headers
        self.copies: dict[int, tuple[npt.NDArray[np.void], int]] = {}  # raw lane id → target
        self.lanes: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.uint8], int]] = []

    def add(self, length: int, pieces: list[_Piece]) -> None:
        buf = self.buf
        width = length + OVERHEAD
        if len(pieces) == 1 and isinstance(pieces[0], _RawLane):
            only = pieces[0]  # one predicted lane: a strided view, no copy
            rows = _strided_rows(buf, only.header, only.stride, only.count, width)
            self.lanes.append((_frames(only), rows, length))
            return
        count = sum(_size(piece) for piece in pieces)
        rows = np.empty((count, width), dtype=np.uint8)
        # Rows as single opaque elements: numpy copies each with one memcpy, not byte by byte.
        whole = np.dtype((np.void, width))
        out = rows.view(whole)[:, 0]
        frames_all = np.empty(count, dtype=np.int64)
        a = 0
        for piece in pieces:
            b = a + _size(piece)
            if isinstance(piece, _RawLane):
                self.copies[id(piece)] = (out, a)
                frames_all[a:b] = _frames(piece)
            else:
                windows = np.ndarray((len(buf) - width + 1,), whole, buf, 0, (1,))
                out[a:b] = windows[self.headers[piece]]
                frames_all[a:b] = piece
            a = b
        self.lanes.append((frames_all, rows, length))

    def copy(self, raw_lanes: list[_RawLane]) -> None:
        buf = self.buf
        copies = self.copies
        todo = [raw for raw in raw_lanes if id(raw) in copies]
        i = 0
        while i < len(todo):
            j = i + 1
            while j < len(todo) and todo[j].stretch == todo[i].stretch:
                j += 1
            stretch = todo[i:j]
            chunk = max(64, _COPY_BYTES // stretch[0].stride)
            longest = max(raw.count for raw in stretch)
            for start in range(0, longest, chunk):
                for raw in stretch:
                    n = min(chunk, raw.count - start)
                    if n <= 0:
                        continue
                    out, a = copies[id(raw)]
                    offset = raw.header + start * raw.stride
                    out[a + start : a + start + n] = np.ndarray(
                        (n,), out.dtype, buf, offset, (raw.stride,)
                    )
            i = j


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

    Lanes: the records of one payload length and one place in the length pattern (at least
    _MIN_LANE of them, at most _MAX_LANE_RECORD bytes each), wherever they are in the buffer —
    one lane per kind of record, not one per stretch between interruptions — so the data CRCs of
    a lane are checked in a few numpy calls and the decoder pays its per-lane costs once per
    window. Records the walker found one by one join the lane of their length.

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

    # Pieces of rows by payload length and place in the length pattern (predicted lanes,
    # strided; None: walked records), so that a lane holds one kind of record as far as the
    # framing can tell: different tags whose records happen to have the same length (a longer
    # tag with a shorter step varint) would make more columns vary, and each costs lookups.
    places: dict[int, dict[Any, list[_Piece]]] = {}
    in_lane = np.zeros(total, dtype=bool)
    for raw in walker.raw_lanes:
        if raw.count < _MIN_BLOCK or raw.length > _MAX_LANE_RECORD:
            continue
        in_lane[raw.first : raw.first + raw.period * raw.count : raw.period] = True
        places.setdefault(raw.length, {}).setdefault(raw.place, []).append(raw)
    singles: list[int] = []
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
            if length <= _MAX_LANE_RECORD:
                places.setdefault(length, {}).setdefault(None, []).append(frames)
            else:
                singles += frames.tolist()
    builder = _Lanes(buf, headers)
    for length, by_place in places.items():
        # Places with too few records join the walked ones.
        rest: list[_Piece] = []
        for parts in by_place.values():
            if sum(_size(piece) for piece in parts) < _MIN_LANE:
                rest += parts
            else:
                builder.add(length, parts)
        if not rest:
            continue
        if sum(_size(piece) for piece in rest) < _MIN_LANE:
            for piece in rest:
                singles += (_frames(piece) if isinstance(piece, _RawLane) else piece).tolist()
            continue
        builder.add(length, rest)
    builder.copy(walker.raw_lanes)
    candidates = builder.lanes
    checked: list[
        tuple[
            npt.NDArray[np.int64],
            npt.NDArray[np.uint8],
            int,
            npt.NDArray[np.bool_],
            npt.NDArray[np.bool_],
        ]
    ] = []
    for frames, rows, length in candidates:
        ok, varying = _check_rows(rows, length)
        if not ok.all():
            valid[frames[~ok]] = False
        checked.append((frames, rows, length, ok, varying))
    # Records outside every lane (few of one length — a live tail's handful —, or too long for a
    # lane: images, histograms, graphs) have their data CRC checked one by one.
    for f in singles:
        start = int(headers[f]) + HEADER_BYTES
        ln = int(lengths[f])
        stored = int.from_bytes(buf[start + ln : start + ln + 4], "little")
        if masked_crc32c(buf[start : start + ln]) != stored:
            valid[f] = False

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
        # Without the bad rows; the varying columns of the rest are a subset of the whole's,
        # which is all the decoder relies on.
        if ok.sum() >= _MIN_LANE:
            lanes.append(
                Lane(length=length, rows=rows[ok], index=remap[frames[ok]], varying=varying)
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
