"""TFRecord framing: CRC vectors (reference §1.2), truncation, corruption, resync, size cap."""

from __future__ import annotations

import os
import struct

import numpy as np
import pytest

from ingest import tfrecord
from ingest.tfrecord import (
    crc32c,
    frame_record,
    mask_crc,
    masked_crc32c,
    scan,
    unmask_crc,
)
from tests.ingest import writers

# ---- CRC vectors (reference §1.2, checklist item 1) -------------------------------------------


def test_crc32c_vectors() -> None:
    assert crc32c(b"123456789") == 0xE3069283
    assert crc32c(bytes(32)) == 0x8A9136AA


def test_masked_crc_vectors() -> None:
    assert masked_crc32c(b"") == 0xA282EAD8
    assert masked_crc32c(b"\x1a\x11CRC test, one two") == 0x5794D08A


def test_full_record_round_trip() -> None:
    payload = bytes.fromhex("09000080389 9d6d7411a0d".replace(" ", "")) + b"brain.Event:2"
    record = frame_record(payload)
    assert record[:8] == bytes.fromhex("1800000000000000")
    assert struct.unpack_from("<I", record, 8)[0] == 0x224B7FA3
    assert record[12:-4] == payload
    assert struct.unpack_from("<I", record, len(record) - 4)[0] == 0xAB364B12
    result = scan(record)
    assert result.stop == "end"
    assert result.end_offset == len(record)
    assert result.offsets.tolist() == [12]
    assert result.lengths.tolist() == [24]


def test_mask_unmask_are_inverse() -> None:
    rng = np.random.default_rng(0)
    for crc in rng.integers(0, 2**32, 1000).tolist():
        assert unmask_crc(mask_crc(crc)) == crc


def test_column_tables_match_the_c_crc() -> None:
    """The linear (column-wise) CRC used for lanes agrees with google-crc32c."""
    rng = np.random.default_rng(1)
    for length in (1, 7, 8, 61, 300):
        rows = rng.integers(0, 256, (50, length), dtype=np.uint8)
        rows[:, : length // 2] = rows[0, : length // 2]  # some constant columns
        columns = np.flatnonzero((rows != rows[0]).any(axis=0))
        got = tfrecord._rows_crc(rows, columns)
        want = [crc32c(bytes(row)) for row in rows]
        assert got.tolist() == want


# ---- walking ------------------------------------------------------------------------------------


def _payloads(lengths: list[int], seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, n, dtype=np.uint8).tobytes() for n in lengths]


def _expect(data: bytes, base: int = 0) -> list[tuple[int, int]]:
    return [(h + 12 + base, n) for h, n in writers.record_offsets(data)]


def _got(result: tfrecord.ScanResult) -> list[tuple[int, int]]:
    return list(zip(result.offsets.tolist(), result.lengths.tolist(), strict=True))


def test_empty_buffer() -> None:
    result = scan(b"", base_offset=100)
    assert result.stop == "end"
    assert result.end_offset == 100
    assert len(result.offsets) == 0
    assert result.problems == []


@pytest.mark.parametrize("pattern", ["periodic", "irregular", "equal", "growing"])
def test_scan_finds_every_record(pattern: str) -> None:
    rng = np.random.default_rng(2)
    if pattern == "periodic":
        lengths = [30, 31, 45, 60, 30] * 400
    elif pattern == "irregular":
        lengths = rng.integers(0, 300, 2000).tolist()
    elif pattern == "equal":
        lengths = [52] * 3000
    else:  # the step varint grows: periodic with a shift
        lengths = [40, 41, 42] * 300 + [41, 42, 43] * 300 + [42, 43, 44] * 300
    data = b"".join(frame_record(p) for p in _payloads(lengths))
    result = scan(data, base_offset=1000)
    assert _got(result) == _expect(data, 1000)
    assert result.end_offset == 1000 + len(data)
    assert result.stop == "end"
    assert result.problems == []
    # Every lane row is the record it claims to be.
    for lane in result.lanes:
        for row, index in zip(lane.rows, lane.index.tolist(), strict=True):
            offset = int(result.offsets[index]) - 1000
            assert bytes(row) == data[offset - 12 : offset + lane.length + 4]
    if pattern in ("periodic", "equal", "growing"):
        in_lanes = sum(len(lane.index) for lane in result.lanes)
        assert in_lanes > 0.9 * len(lengths)


def test_truncation_at_every_offset_of_the_last_record() -> None:
    head = b"".join(frame_record(p) for p in _payloads([20, 33, 20, 33] * 10))
    last = frame_record(b"x" * 40)
    data = head + last
    for cut in range(len(head), len(data)):
        result = scan(data[:cut])
        assert _got(result) == _expect(head)
        if cut == len(head):
            assert result.stop == "end"
            continue
        assert result.stop == "truncated"
        assert result.end_offset == len(head)
        if cut - len(head) >= 12:
            assert result.need_bytes == len(last)
        else:
            assert result.need_bytes is None
        assert result.problems == []
    # Completed: the last record appears exactly once, reading on from end_offset.
    tail = scan(data[len(head) :], base_offset=len(head))
    assert _got(tail) == [(len(head) + 12, 40)]


def test_bad_data_crc_skips_one_record() -> None:
    payloads = _payloads([25] * 50)
    data = b"".join(frame_record(p) for p in payloads)
    headers = [h for h, _ in writers.record_offsets(data)]
    broken = writers.corrupt_data_crc(data, headers[20])
    result = scan(broken)
    want = [x for i, x in enumerate(_expect(data)) if i != 20]
    assert _got(result) == want
    assert result.stop == "end"
    assert [p.kind for p in result.problems] == ["bad_data_crc"]
    assert result.problems[0].offset == headers[20]
    assert "bad data CRC" in result.problems[0].message
    # The lanes never contain the bad record.
    bad_payload_offset = headers[20] + 12
    for lane in result.lanes:
        assert bad_payload_offset not in result.offsets[lane.index].tolist()


def test_bad_length_crc_resyncs_at_the_next_valid_record() -> None:
    payloads = _payloads([25, 70, 25, 70] * 20)
    data = b"".join(frame_record(p) for p in payloads)
    headers = [h for h, _ in writers.record_offsets(data)]
    broken = writers.corrupt_length_crc(data, headers[30])
    result = scan(broken, base_offset=7)
    want = [x for i, x in enumerate(_expect(data, 7)) if i != 30]
    assert _got(result) == want
    assert result.stop == "end"
    (problem,) = result.problems
    assert problem.kind == "bad_length_crc"
    assert problem.offset == headers[30] + 7
    assert problem.bytes_skipped == headers[31] - headers[30]
    assert "skipped" in problem.message


def test_bad_length_crc_without_a_later_record_waits_for_more_data() -> None:
    good = frame_record(b"a" * 30)
    garbage = os.urandom(200)
    data = good + writers.raw_record(50, valid_length_crc=False) + garbage
    result = scan(data)
    assert _got(result) == [(12, 30)]
    assert result.stop == "truncated"
    # Only positions proven not to start a record were skipped: the last 11 stay unread.
    assert result.end_offset == len(data) - 11
    assert result.problems[0].kind == "bad_length_crc"
    # A record appended later is still found, reading on from end_offset.
    appended = data + frame_record(b"later")
    again = scan(appended[result.end_offset :], base_offset=result.end_offset)
    assert (len(data) + 12, 5) in _got(again)


@pytest.mark.parametrize("length", [2**60, 2**63, 2**64 - 1, 300])
def test_huge_length_with_valid_crc_is_never_allocated(length: int) -> None:
    good = frame_record(b"ok")
    data = good + writers.raw_record(length) + b"\x00" * 100
    result = scan(data, base_offset=5, max_record_bytes=256)
    assert _got(result) == [(5 + 12, 2)]
    assert result.stop == "too_large"
    assert result.end_offset == 5 + len(good)
    assert result.skip_to == 5 + len(good) + 16 + length
    (problem,) = result.problems
    assert problem.kind == "too_large"
    assert str(length) in problem.message


def test_huge_length_with_bad_crc_resyncs() -> None:
    data = (
        frame_record(b"ok")
        + writers.raw_record(2**63, valid_length_crc=False)
        + frame_record(b"next")
    )
    result = scan(data)
    assert [n for _, n in _got(result)] == [2, 4]
    assert result.problems[0].kind == "bad_length_crc"


def test_random_bytes_never_raise() -> None:
    rng = np.random.default_rng(3)
    for size in (0, 1, 11, 12, 13, 100, 5000):
        for _ in range(20):
            data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
            result = scan(data, base_offset=10)
            assert 10 <= result.end_offset <= 10 + size


def test_offsets_are_monotone_after_damage() -> None:
    rng = np.random.default_rng(4)
    data = bytearray(b"".join(frame_record(p) for p in _payloads([40] * 300)))
    for pos in rng.integers(0, len(data), 20).tolist():
        data[pos] ^= 0x55
    result = scan(bytes(data))
    offsets = result.offsets.tolist()
    assert offsets == sorted(offsets)
    assert len(set(offsets)) == len(offsets)


# ---- lanes across interruptions ----------------------------------------------------------------


def _check_lanes(data: bytes, result: tfrecord.ScanResult) -> None:
    """Every lane row is the record it claims to be."""
    for lane in result.lanes:
        for row, index in zip(lane.rows, lane.index.tolist(), strict=True):
            offset = int(result.offsets[index]) - result.base_offset
            assert bytes(row) == data[offset - 12 : offset + lane.length + 4]


@pytest.mark.parametrize("every", [1, 3, 50])
def test_interrupted_patterns_make_one_lane_per_kind(every: int) -> None:
    """Periodic lengths with an odd record every few periods (a histogram every k steps): the
    records of each place of the pattern form one lane for the whole buffer, not one per
    stretch between interruptions."""
    pattern = [30, 31, 45, 31]
    rng = np.random.default_rng(5)
    lengths: list[int] = []
    for period in range(400):
        lengths += pattern
        if period % every == every - 1:
            lengths.append(int(rng.integers(200, 400)))
    data = b"".join(frame_record(p) for p in _payloads(lengths))
    result = scan(data, base_offset=3)
    assert _got(result) == _expect(data, 3)
    _check_lanes(data, result)
    in_lanes = sum(len(lane.index) for lane in result.lanes)
    assert in_lanes > 0.9 * 400 * len(pattern)
    # At most one lane per place (two places have length 31) and per odd length, plus the
    # records walked one by one before the period was learnt.
    assert len(result.lanes) <= 4 + len(set(lengths) - set(pattern)) + 4


def test_lanes_with_bad_data_crcs_across_stretches() -> None:
    lengths = ([40, 52] * 30 + [300]) * 10
    payloads = _payloads(lengths)
    data = b"".join(frame_record(p) for p in payloads)
    headers = [h for h, _ in writers.record_offsets(data)]
    bad = [5, 66, 67, 200, 401, len(headers) - 1]
    for i in bad:
        data = writers.corrupt_data_crc(data, headers[i])
    result = scan(data)
    want = [x for i, x in enumerate(_expect(data)) if i not in bad]
    assert _got(result) == want
    assert [p.offset for p in result.problems] == [headers[i] for i in bad]
    _check_lanes(data, result)


def test_check_rows_in_blocks_matches_the_c_crc(monkeypatch: pytest.MonkeyPatch) -> None:
    """The blocked, column-wise data-CRC check: bad rows anywhere, blocks of any size, blocks with
    more varying columns than the column-wise method takes."""
    rng = np.random.default_rng(6)
    length = 61
    rows = np.zeros((301, length + 16), dtype=np.uint8)
    base = rng.integers(0, 256, length, dtype=np.uint8)
    payload = np.tile(base, (301, 1))
    payload[:, [3, 4, 40]] = rng.integers(0, 256, (301, 3), dtype=np.uint8)
    payload[150:160] = rng.integers(0, 256, (10, length), dtype=np.uint8)  # very different rows
    rows[:, 12 : 12 + length] = payload
    crcs = [masked_crc32c(bytes(row)) for row in payload]
    rows[:, 12 + length :] = np.asarray(crcs, dtype="<u4").view(np.uint8).reshape(-1, 4)
    for i in (0, 7, 155, 300):
        rows[i, 12 + length] ^= 1  # a bad stored CRC
    want_ok = np.ones(301, dtype=bool)
    want_ok[[0, 7, 155, 300]] = False
    want_varying = (payload != payload[0]).any(axis=0)
    for block_rows in (1, 2, 7, 64, 301):
        monkeypatch.setattr(tfrecord, "_CHECK_BYTES", block_rows * length)
        for max_columns in (96, 2):
            monkeypatch.setattr(tfrecord, "_MAX_LINEAR_COLUMNS", max_columns)
            ok, varying = tfrecord._check_rows(rows, length)
            assert ok.tolist() == want_ok.tolist()
            assert varying.tolist() == want_varying.tolist()


def test_varying_columns() -> None:
    rng = np.random.default_rng(8)
    for count in (1, 2, 3, 5, 64, 101):
        payload = np.tile(rng.integers(0, 256, 20, dtype=np.uint8), (count, 1))
        payload[rng.integers(0, count, 3), rng.integers(0, 20, 3)] ^= 0x10
        want = (payload != payload[0]).any(axis=0)
        assert tfrecord._varying_columns(payload).tolist() == want.tolist()
