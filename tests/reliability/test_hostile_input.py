"""Hostile and broken event files through the *whole* ingest path (listing, tail, store) and
out through the API, on the real PostgreSQL.

The decoder alone is fuzzed in tests/ingest/test_fuzz.py; here every case goes through
`ingest.services` and `ingest.store`, and the property is always the same: no exception escapes,
the file gets a readable status, the stored data equal what `tbhub export` prints for the same
bytes (so nothing before the damage is lost and nothing is doubled), and the API answers valid
JSON. docs/RELIABILITY.md (section Hostile input) lists every case with what happened.
"""

from __future__ import annotations

import json
import os
import resource
import struct
import time
import zlib
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensorboard.compat.proto import event_pb2, graph_pb2, summary_pb2

from hub.models import Project
from ingest.models import EventFile, FileState, ImagePoint, Run, Source
from tests.reliability.conftest import Member
from tests.reliability.support import (
    dump_diff,
    export_dump,
    frame,
    ingest_all,
    scalar_payload,
    scalar_records,
    store_dump,
    version_payload,
)

pytestmark = pytest.mark.django_db

EVENTS = "events.out.tfevents.1700000000.host"
HOSTILE = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def new_source(project: Project, root: Path) -> Source:
    return Source.objects.create(project=project, url=str(root))


def the_file(source: Source) -> EventFile:
    return EventFile.objects.get(run__source=source)


def assert_store_equals_export(source: Source) -> None:
    got, want = store_dump(source.pk), export_dump(source.url)
    assert got == want, dump_diff(got, want)


def valid_json(resp: Any) -> Any:
    """The body must be strict JSON (no NaN literals) in valid UTF-8 (no lone surrogates)."""
    body = resp.content.decode("utf-8")  # raises on invalid UTF-8
    return json.loads(body, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))


# ---- random bytes named *tfevents* -------------------------------------------------------------


@HOSTILE
@given(junk=st.binary(max_size=4000), with_head=st.booleans(), with_tail=st.booleans())
def test_random_bytes_through_ingest_and_store(
    tmp_path_factory: pytest.TempPathFactory,
    member: Member,
    junk: bytes,
    with_head: bool,
    with_tail: bool,
) -> None:
    root = tmp_path_factory.mktemp("junk")
    (root / "r").mkdir()
    head = frame(version_payload()) + scalar_records(["x"], range(5)) if with_head else b""
    tail = scalar_records(["y"], range(5)) if with_tail else b""
    (root / "r" / EVENTS).write_bytes(head + junk + tail)
    source = new_source(member.project, root)
    ingest_all(source.pk)
    ef = the_file(source)
    assert ef.state in (FileState.OK, FileState.CORRUPT, FileState.STUCK), ef.error
    assert 0 <= ef.offset <= ef.size
    if ef.state != FileState.OK:
        assert ef.error and "byte" in ef.error
    got = store_dump(source.pk)
    assert got == export_dump(source.url), dump_diff(got, export_dump(source.url))
    if with_head:  # good data before the damage is always kept
        assert got[("scalar", "r", "x")][:5] == [
            (i, 1_700_000_000.0 + i, i * 0.5) for i in range(5)
        ]
    runs = valid_json(member.get("runs"))["runs"]
    assert [r["name"] for r in runs if r["source"] == source.pk] == ["r"]


# ---- truncation at every offset of the last record ------------------------------------------------


def test_truncated_at_every_offset_of_the_last_record(tmp_path: Path, member: Member) -> None:
    (tmp_path / "r").mkdir()
    path = tmp_path / "r" / EVENTS
    head = frame(version_payload()) + scalar_records(["x"], range(3))
    last = frame(scalar_payload("x", 3, 1.5, 1_700_000_003.0))
    source = new_source(member.project, tmp_path)
    for cut in range(len(last)):
        path.write_bytes(head + last[:cut])
        ingest_all(source.pk)
        ef = the_file(source)
        assert ef.offset == len(head), cut
        assert ef.state == FileState.OK, (cut, ef.error)
        assert len(store_dump(source.pk)[("scalar", "r", "x")]) == 3, cut
    path.write_bytes(head + last)
    ingest_all(source.pk)
    ingest_all(source.pk)  # and again: read exactly once
    assert [p[0] for p in store_dump(source.pk)[("scalar", "r", "x")]] == [0, 1, 2, 3]
    assert_store_equals_export(source)


# ---- flipped bits in lengths and CRCs ---------------------------------------------------------------


def _flipped_runs(tmp_path: Path, fields: tuple[str, ...]) -> dict[str, int]:
    """One run per flipped bit of the middle record of five, in the given header fields:
    "len" (64 length bits), "lcrc" (32 length-CRC bits), "dcrc" (32 data-CRC bits), "data" (the
    payload's bits)."""
    records = [frame(scalar_payload("x", i, i * 0.5, 1_700_000_000.0 + i)) for i in range(5)]
    start = sum(len(r) for r in records[:2])
    data_crc = start + len(records[2]) - 4
    where = {
        "len": (start, 64),
        "lcrc": (start + 8, 32),
        "dcrc": (data_crc, 32),
        "data": (start + 12, 8 * (len(records[2]) - 16)),
    }
    clean = frame(version_payload()) + b"".join(records)
    shift = len(frame(version_payload()))
    cases: dict[str, int] = {}
    for name in fields:
        first, bits = where[name]
        for bit in range(bits):
            cases[f"{name}{bit:03d}"] = (first + bit // 8) * 8 + bit % 8
    for name, bitpos in cases.items():
        buf = bytearray(clean)
        buf[shift + bitpos // 8] ^= 1 << (bitpos % 8)
        (tmp_path / name).mkdir()
        (tmp_path / name / EVENTS).write_bytes(bytes(buf))
    return cases


def _assert_middle_record_skipped(source: Source, cases: dict[str, int]) -> None:
    got = store_dump(source.pk)
    assert got == export_dump(source.url), dump_diff(got, export_dump(source.url))
    for name in cases:
        steps = [p[0] for p in got[("scalar", name, "x")]]
        ef = EventFile.objects.get(run__source=source, run__name=name)
        assert ef.state == FileState.CORRUPT, (name, ef.state, ef.error)
        assert ef.error.startswith("at byte "), (name, ef.error)
        assert steps == [0, 1, 3, 4], (name, steps, ef.error)
        assert ef.offset == ef.size, name


def test_every_flipped_bit_of_a_record_length_and_length_crc(
    tmp_path: Path, member: Member
) -> None:
    """One run per flipped bit (64 length bits, 32 length-CRC bits) in the middle record of
    five: the framing resyncs, the other four survive, the file says where and why."""
    cases = _flipped_runs(tmp_path, ("len", "lcrc"))
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    _assert_middle_record_skipped(source, cases)


def test_every_flipped_bit_of_a_record_data_and_data_crc(tmp_path: Path, member: Member) -> None:
    cases = _flipped_runs(tmp_path, ("dcrc", "data"))
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    _assert_middle_record_skipped(source, cases)


# ---- a length field of 2**63 (valid CRC) --------------------------------------------------------------


@pytest.mark.parametrize("length", [2**63, 2**64 - 1, 2**62 + 5, (256 << 20) + 1])
def test_huge_length_field_with_a_valid_crc_is_never_allocated(
    tmp_path: Path, member: Member, length: int
) -> None:
    header = struct.pack("<Q", length)
    from ingest.tfrecord import masked_crc32c

    hostile = header + struct.pack("<I", masked_crc32c(header))
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / EVENTS).write_bytes(
        frame(version_payload()) + scalar_records(["x"], range(3)) + hostile + os.urandom(4096)
    )
    source = new_source(member.project, tmp_path)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ingest_all(source.pk)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 64, f"ingest grew the process by {grown_mib:.0f} MiB"
    ef = the_file(source)
    assert ef.state == FileState.STUCK
    assert "exceeds TBHUB_MAX_RECORD_BYTES" in ef.error and "reading stops here" in ef.error
    assert [p[0] for p in store_dump(source.pk)[("scalar", "r", "x")]] == [0, 1, 2]
    assert_store_equals_export(source)


# ---- deeply nested and huge protobufs ------------------------------------------------------------------


def _ld(field: int, data: bytes) -> bytes:
    from tests.reliability.support import _ld as ld

    return ld(field, data)


def nested_graph_def(depth: int) -> bytes:
    """A GraphDef with one node whose attr nests AttrValue.func -> NameAttrList.attr -> ...
    `depth` levels deep (protobuf parsers stop at a recursion limit, usually 100)."""
    value = b""
    for _ in range(depth):
        name_attr_list = _ld(1, b"f") + _ld(2, _ld(1, b"a") + _ld(2, value))
        value = _ld(10, name_attr_list)
    node = _ld(1, b"deep") + _ld(2, b"Const") + _ld(5, _ld(1, b"a") + _ld(2, value))
    return _ld(1, node)


def graph_event(graph_def: bytes, step: int = 0) -> bytes:
    return (
        b"\x09" + struct.pack("<d", 1_700_000_000.0) + b"\x10" + bytes([step]) + _ld(4, graph_def)
    )


def test_deeply_nested_graph_is_stored_and_refused_cleanly(tmp_path: Path, member: Member) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / EVENTS).write_bytes(
        frame(version_payload())
        + frame(graph_event(nested_graph_def(5000)))
        + scalar_records(["x"], range(3))
    )
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    assert [p[0] for p in store_dump(source.pk)[("scalar", "r", "x")]] == [0, 1, 2]
    assert_store_equals_export(source)
    resp = member.get("graphs", run="r")
    assert resp.status_code in (200, 404, 413), resp.content[:300]
    body = valid_json(resp)
    if resp.status_code != 200:
        assert body["error"]


def test_deeply_nested_unknown_groups_skip_one_record(tmp_path: Path, member: Member) -> None:
    # Field 15 as a group (wire type 3), nested 100,000 deep, inside an Event.
    depth = 100_000
    payload = b"\x09" + struct.pack("<d", 1.0) + b"\x7b" * depth + b"\x7c" * depth
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / EVENTS).write_bytes(
        frame(version_payload())
        + scalar_records(["x"], range(2))
        + frame(payload)
        + scalar_records(["x"], range(2, 4))
    )
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    steps = [p[0] for p in store_dump(source.pk)[("scalar", "r", "x")]]
    assert steps == [0, 1, 2, 3]
    assert_store_equals_export(source)


@pytest.mark.slow
def test_huge_text_record_is_stored_and_served(tmp_path: Path, member: Member) -> None:
    big = ("0123456789abcdef" * (2 << 20)).encode()  # 32 MiB of text in one record
    ev = event_pb2.Event(wall_time=1_700_000_000.0, step=1)
    v = ev.summary.value.add(tag="notes")
    v.metadata.plugin_data.plugin_name = "text"
    v.tensor.dtype = 7  # DT_STRING
    v.tensor.string_val.append(big)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / EVENTS).write_bytes(
        frame(version_payload()) + frame(ev.SerializeToString()) + scalar_records(["x"], range(2))
    )
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    assert_store_equals_export(source)
    resp = member.get("text", run="r", tag="notes")
    assert resp.status_code == 200
    assert valid_json(resp)["points"][0]["values"] == [big.decode()]


def test_record_above_the_size_cap_is_skipped_and_reported(tmp_path: Path, member: Member) -> None:
    ev = event_pb2.Event(wall_time=1_700_000_000.0, step=1)
    v = ev.summary.value.add(tag="notes")
    v.metadata.plugin_data.plugin_name = "text"
    v.tensor.dtype = 7
    v.tensor.string_val.append(b"z" * (2 << 20))
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / EVENTS).write_bytes(
        frame(version_payload())
        + scalar_records(["x"], range(2))
        + frame(ev.SerializeToString())
        + scalar_records(["x"], range(2, 4))
    )
    source = new_source(member.project, tmp_path)
    with override_settings(TBHUB_MAX_RECORD_BYTES=1 << 20):
        ingest_all(source.pk)
    ef = the_file(source)
    assert ef.state == FileState.CORRUPT
    assert "exceeds TBHUB_MAX_RECORD_BYTES=1048576; skipped" in ef.error
    assert ef.offset == ef.size
    assert [p[0] for p in store_dump(source.pk)[("scalar", "r", "x")]] == [0, 1, 2, 3]
    assert ("text", "r", "notes") not in store_dump(source.pk)


# ---- a GraphDef with 100k nodes ---------------------------------------------------------------------------


def big_graph_def(nodes: int) -> bytes:
    gd = graph_pb2.GraphDef()
    for i in range(nodes):
        n = gd.node.add(name=f"layer_{i // 1000}/op_{i}", op="Add" if i % 3 else "Const")
        if i:
            n.input.append(f"layer_{(i - 1) // 1000}/op_{i - 1}")
    return gd.SerializeToString()


@pytest.mark.slow
def test_graph_with_100k_nodes_is_served_and_capped(tmp_path: Path, member: Member) -> None:
    n = 100_000
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / EVENTS).write_bytes(
        frame(version_payload()) + frame(graph_event(big_graph_def(n)))
    )
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    assert store_dump(source.pk) == export_dump(source.url) == {("graph", "r", ""): [n]}
    started = time.monotonic()
    resp = member.get("graphs", run="r")
    seconds = time.monotonic() - started
    assert resp.status_code == 200
    body = valid_json(resp)
    assert body["node_count"] == n == len(body["nodes"])
    assert seconds < 30, f"a 100k-node graph took {seconds:.1f} s"
    with override_settings(TBHUB_GRAPH_MAX_NODES=50_000):
        resp = member.get("graphs", run="r")
    assert resp.status_code == 413
    assert valid_json(resp) == {
        "error": resp.json()["error"],
        "node_count": n,
        "max_nodes": 50_000,
    }
    assert "TBHUB_GRAPH_MAX_NODES" in resp.json()["error"]


# ---- an image "bomb" --------------------------------------------------------------------------------------


def png_bomb(width: int, height: int) -> bytes:
    """A tiny but well-formed PNG header claiming width x height pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def image_event(png: bytes, width: int, height: int) -> bytes:
    ev = event_pb2.Event(wall_time=1_700_000_000.0, step=1)
    ev.summary.value.add(
        tag="bomb",
        image=summary_pb2.Summary.Image(height=height, width=width, encoded_image_string=png),
    )
    return ev.SerializeToString()


@pytest.fixture
def _no_pixel_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to decode pixels server-side fails the test."""
    from PIL import Image

    def refuse(*a: Any, **kw: Any) -> Any:
        raise AssertionError("the server decoded an image")

    monkeypatch.setattr(Image, "open", refuse)
    monkeypatch.setattr(Image.Image, "load", refuse)


@pytest.mark.usefixtures("_no_pixel_decoding")
def test_image_bomb_is_stored_and_served_without_decoding(tmp_path: Path, member: Member) -> None:
    png = png_bomb(100_000, 100_000)
    assert len(png) < 200
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / EVENTS).write_bytes(
        frame(version_payload()) + frame(image_event(png, 100_000, 100_000))
    )
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    assert_store_equals_export(source)
    img = ImagePoint.objects.get(series__run__source=source)
    assert (img.width, img.height, img.content_type) == (100_000, 100_000, "image/png")
    listing = valid_json(member.get("images", run="r", tag="bomb"))
    (entry,) = listing["steps"][0]["images"]
    assert (entry["width"], entry["height"]) == (100_000, 100_000)
    assert entry["too_large"] is True
    started = time.monotonic()
    with override_settings(TBHUB_IMAGE_MAX_PIXELS=10**11):  # an admin who allows it gets bytes
        resp = member.client.get(entry["url"])
    assert time.monotonic() - started < 5
    assert resp.status_code == 200
    assert resp.content == png
    assert resp["Content-Type"] == "image/png"
    assert resp["X-Content-Type-Options"] == "nosniff"


def test_images_above_the_pixel_cap_are_not_sent_to_browsers(
    tmp_path: Path, member: Member
) -> None:
    png = png_bomb(100_000, 100_000)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / EVENTS).write_bytes(
        frame(version_payload()) + frame(image_event(png, 100_000, 100_000))
    )
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    listing = valid_json(member.get("images", run="r", tag="bomb"))
    (entry,) = listing["steps"][0]["images"]
    assert entry["too_large"] is True
    resp = member.client.get(entry["url"])
    assert resp.status_code == 413
    assert "TBHUB_IMAGE_MAX_PIXELS" in resp.json()["error"]


# ---- non-UTF-8 and control characters in tags and run names -----------------------------------------------

TAGS: list[bytes] = [
    b"bad\xff\xfeutf8",
    b"\x1b[31mred\x1b[0m",
    b"tab\tnew\nline\rcr",
    "line\u2028sep\u2029para".encode(),
    "rtl\u202eevil".encode(),
    "emoji \U0001f600 \u00e9".encode(),
    b"\x7fdel\x01\x02",
    b"</script><img src=x onerror=alert(1)>",
    b"",
]
RUNS: list[str] = ["ctrl\x1b[1mbold", "new\nline", "tab\there", "rtl\u202eevil", "sp ace/\u00e9"]


def test_control_and_invalid_utf8_in_tags_and_run_names(tmp_path: Path, member: Member) -> None:
    for i, run in enumerate(RUNS):
        (tmp_path / run).mkdir(parents=True)
        body = frame(version_payload()) + b"".join(
            frame(scalar_payload(tag, step, step + i, 1_700_000_000.0 + step))
            for step in range(3)
            for tag in TAGS
        )
        (tmp_path / run / EVENTS).write_bytes(body)
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    source.refresh_from_db()
    assert source.status == "ok", source.status_message
    got = store_dump(source.pk)
    assert got == export_dump(source.url), dump_diff(got, export_dump(source.url))
    runs = valid_json(member.get("runs"))["runs"]
    assert sorted(r["name"] for r in runs) == sorted(RUNS)
    want_tags = sorted(t.decode("utf-8", "replace") for t in TAGS)
    for r in runs:
        assert sorted(r["tags"]["scalars"]) == want_tags
        for tag in r["tags"]["scalars"]:
            if not tag:
                continue  # an empty tag cannot be asked for (?tag= is "missing")
            resp = member.get("scalars", run=r["name"], tag=tag)
            assert resp.status_code == 200, (r["name"], tag, resp.content[:200])
            body = valid_json(resp)
            assert (body["run"], body["tag"]) == (r["name"], tag)
            assert [p[0] for p in body["points"]] == [0, 1, 2]
        status = valid_json(member.client.get(f"/api/v1/projects/rel/runs/{r['id']}"))
        assert status["name"] == r["name"]


def test_undecodable_directory_and_file_names_are_skipped_and_reported(
    tmp_path: Path, member: Member
) -> None:
    """os.scandir gives non-UTF-8 names as surrogates, which PostgreSQL cannot store: one such
    directory used to crash every listing of the whole source (UnicodeEncodeError)."""
    root = os.fsencode(str(tmp_path))
    bad_dir = os.path.join(root, b"bad\xff\xfedir")
    os.mkdir(bad_dir)
    good = frame(version_payload()) + scalar_records(["x"], range(3))
    with open(os.path.join(bad_dir, EVENTS.encode()), "wb") as fh:
        fh.write(good)
    os.mkdir(os.path.join(root, b"ok"))
    with open(os.path.join(root, b"ok", EVENTS.encode()), "wb") as fh:
        fh.write(good)
    with open(os.path.join(root, b"ok", b"events.out.tfevents.2.\xff"), "wb") as fh:
        fh.write(good)
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    source.refresh_from_db()
    assert source.status == "ok"
    assert source.status_message == (
        "1 runs, 1 event files; 2 files or directories skipped: their names are not UTF-8"
    )
    assert list(Run.objects.filter(source=source).values_list("name", flat=True)) == ["ok"]
    assert_store_equals_export(source)
    valid_json(member.get("runs"))


def test_nul_characters_in_tags_and_text_are_stored(tmp_path: Path, member: Member) -> None:
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / EVENTS).write_bytes(
        frame(version_payload())
        + frame(scalar_payload(b"nul\x00tag", 1, 1.0, 1_700_000_001.0))
        + scalar_records(["x"], range(2))
    )
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    assert the_file(source).state == FileState.OK
    assert_store_equals_export(source)


def test_data_the_database_refuses_stops_the_file_with_a_clear_status(
    tmp_path: Path, member: Member, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The safety net behind the decoder's NUL replacement: if data the database refuses ever
    reaches the store (here: the replacement switched off), that file stops there with the
    reason instead of failing (and being retried) forever; the run's other files and every
    other run go on."""
    from ingest import events

    monkeypatch.setattr(events, "text", lambda raw: raw.decode("utf-8", "replace"))
    for name in ("bad", "good"):
        (tmp_path / name).mkdir()
    (tmp_path / "bad" / EVENTS).write_bytes(
        frame(version_payload())
        + scalar_records(["x"], range(2))
        + frame(scalar_payload(b"nul\x00tag", 1, 1.0, 1_700_000_001.0))
    )
    (tmp_path / "bad" / "events.out.tfevents.1700000001.host").write_bytes(
        frame(version_payload()) + scalar_records(["y"], range(2))
    )
    (tmp_path / "good" / EVENTS).write_bytes(
        frame(version_payload()) + scalar_records(["x"], range(2))
    )
    source = new_source(member.project, tmp_path)
    ingest_all(source.pk)
    stuck = EventFile.objects.get(run__name="bad", name=EVENTS)
    assert stuck.state == FileState.STUCK
    assert stuck.error.startswith("at byte 0: the database cannot store this data (")
    assert "NUL" in stuck.error and stuck.error.endswith("reading stops here")
    got = store_dump(source.pk)
    assert [p[0] for p in got[("scalar", "bad", "y")]] == [0, 1]
    assert [p[0] for p in got[("scalar", "good", "x")]] == [0, 1]
    other = EventFile.objects.get(run__name="bad", name="events.out.tfevents.1700000001.host")
    assert other.state == FileState.OK and other.offset == other.size
    assert not Run.objects.get(name="bad").pending
