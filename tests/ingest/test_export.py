"""`tbhub export`: line formats, runs and files, windows, filters, number formatting."""

from __future__ import annotations

import csv
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from tensorboard.compat.proto import event_pb2, graph_pb2, types_pb2

from ingest.export import CSV_HEADER, export_logdir, export_main, iter_lines, render_text
from ingest.sources import open_logdir
from tbhub import jsonutil
from tests.ingest import writers as w

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x02\x00\x00\x00\x03" + b"data"


def write(path: Path, evs: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(w.records(evs))


def sample_logdir(root: Path) -> Path:
    graph = graph_pb2.GraphDef()
    for i in range(4):
        graph.node.add(name=f"n{i}", op="Const")
    img = event_pb2.Event(step=2, wall_time=w.WALL0 + 2)
    value = img.summary.value.add(tag="img").image
    value.width, value.height, value.encoded_image_string = 2, 3, PNG
    hist = event_pb2.Event(step=1, wall_time=w.WALL0 + 1)
    h = hist.summary.value.add(tag="h").histo
    h.min, h.max = 0.5, 2.7
    h.bucket_limit.extend([0, 1, 2, 3, 4])
    h.bucket.extend([0, 1, 2, 3, 0])
    write(
        root / "events.out.tfevents.1",
        [
            w.file_version_event(),
            w.scalar_event("loss", 0.1, 0, wall=w.WALL0 + 0.25),
            w.scalar_event("loss", float("nan"), 1),
            w.scalar_event("loss", float("-inf"), 2),
            w.tensor_scalar_event("f64", 1e300, 0, dtype=types_pb2.DT_DOUBLE),
            hist,
            img,
            w.tensor_event("note", w.string_tensor([b"hello \xe2\x9c\x93"], []), 0, "text"),
            w.tensor_event(
                "table", w.string_tensor([b"a|b", b"c\nd", b"e", b"f"], [2, 2]), 0, "text"
            ),
            event_pb2.Event(step=0, graph_def=graph.SerializeToString()),
        ],
    )
    write(root / "sub" / "run" / "x.tfevents.2", [w.scalar_event("acc", 0.5, 7)])
    return root


def run_export(root: Path, *args: str, fmt: str = "jsonl", **kw: Any) -> bytes:
    out = io.BytesIO()
    export_logdir(open_logdir(str(root)), out, fmt=fmt, progress=False, **kw)
    return out.getvalue()


def test_jsonl_lines_exactly(tmp_path: Path) -> None:
    data = run_export(sample_logdir(tmp_path))
    lines = data.decode().splitlines()
    assert lines == [
        '{"kind":"scalar","run":".","tag":"f64","step":0,"wall_time":1700000000.0,"value":1e+300}',
        '{"kind":"scalar","run":".","tag":"loss","step":0,"wall_time":1700000000.25,"value":0.10000000149011612}',
        '{"kind":"scalar","run":".","tag":"loss","step":1,"wall_time":1700000001.0,"value":"NaN"}',
        '{"kind":"scalar","run":".","tag":"loss","step":2,"wall_time":1700000002.0,"value":"-Infinity"}',
        '{"kind":"histogram","run":".","tag":"h","step":1,"wall_time":1700000001.0,"buckets":'
        "[[0.5,1.0,1.0],[1.0,2.0,2.0],[2.0,2.700000047683716,3.0]]}",
        '{"kind":"image","run":".","tag":"img","step":2,"wall_time":1700000002.0,"index":0,"width":2,'
        f'"height":3,"sha256":"{__import__("hashlib").sha256(PNG).hexdigest()}"}}',
        '{"kind":"text","run":".","tag":"note","step":0,"wall_time":1700000000.0,"text":"hello ✓"}',
        '{"kind":"text","run":".","tag":"table","step":0,"wall_time":1700000000.0,"text":'
        + json.dumps(render_text([2, 2], ["a|b", "c\nd", "e", "f"]), ensure_ascii=False)
        + "}",
        '{"kind":"graph","run":".","nodes":4}',
        '{"kind":"scalar","run":"sub/run","tag":"acc","step":7,"wall_time":1700000007.0,"value":0.5}',
    ]


def test_csv(tmp_path: Path) -> None:
    data = run_export(sample_logdir(tmp_path), fmt="csv").decode()
    rows = list(csv.reader(io.StringIO(data, newline="")))
    assert tuple(rows[0]) == CSV_HEADER
    by_kind = {row[0]: row for row in rows[1:]}
    assert rows[1] == [
        "scalar",
        ".",
        "f64",
        "0",
        "1700000000.0",
        "1e+300",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    assert rows[3][5] == "NaN"
    assert json.loads(by_kind["histogram"][6]) == [
        [0.5, 1.0, 1.0],
        [1.0, 2.0, 2.0],
        [2.0, 2.700000047683716, 3.0],
    ]
    assert by_kind["image"][7:11] == ["0", "2", "3", __import__("hashlib").sha256(PNG).hexdigest()]
    assert by_kind["graph"] == ["graph", ".", "", "", "", "", "", "", "", "", "", "", "4"]


def test_filters(tmp_path: Path) -> None:
    root = sample_logdir(tmp_path)
    runs = {
        line["run"]
        for line in iter_lines(run_export(root, run_filter=__import__("re").compile("^sub")))
    }
    assert runs == {"sub/run"}
    lines = list(iter_lines(run_export(root, tag_filter=__import__("re").compile("^lo"))))
    assert {line["tag"] for line in lines} == {"loss"}


def test_render_text() -> None:
    assert render_text([], ["just this"]) == "just this"
    assert render_text([1, 1], ["x"]) == "x"
    assert render_text([0], []) == ""
    assert render_text([3], ["a", "b", "c"]) == "| |\n| --- |\n| a |\n| b |\n| c |"
    assert render_text([1, 2], ["a|b", "c\nd"]) == "| | |\n| --- | --- |\n| a\\|b | c d |"


def test_windows_smaller_than_records_give_the_same_output(tmp_path: Path) -> None:
    big = event_pb2.Event(step=1)
    big.summary.value.add(tag="t").tensor.CopyFrom(w.string_tensor([b"x" * 50_000], []))
    big.summary.value[0].metadata.plugin_data.plugin_name = "text"
    evs = [w.file_version_event()] + [w.scalar_event("s", float(i), i) for i in range(500)] + [big]
    evs += [w.scalar_event("s", float(i), i) for i in range(500, 600)]
    write(tmp_path / "events.out.tfevents.1", evs)
    assert run_export(tmp_path, window_bytes=1024) == run_export(tmp_path)
    assert len(list(iter_lines(run_export(tmp_path, window_bytes=1024)))) == 601


def test_files_in_order_with_a_restart(tmp_path: Path) -> None:
    write(
        tmp_path / "events.out.tfevents.2",
        [w.file_version_event(), w.session_start(5)]
        + [w.scalar_event("a", -s, s) for s in range(5, 8)],
    )
    write(
        tmp_path / "events.out.tfevents.1",
        [w.file_version_event(), w.session_start(0)]
        + [w.scalar_event("a", s, s) for s in range(10)],
    )
    got = [(line["step"], line["value"]) for line in iter_lines(run_export(tmp_path))]
    assert got == [(s, float(s)) for s in range(5)] + [(s, float(-s)) for s in range(5, 8)]


def test_corrupt_and_oversized_records_are_warnings(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = w.records([w.scalar_event("a", 1.0, s) for s in range(20)])
    headers = [h for h, _ in w.record_offsets(data)]
    data = w.corrupt_data_crc(data, headers[5]) + w.raw_record(2**40) + b"\x00" * 64
    (tmp_path / "events.out.tfevents.1").write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="ingest.export"):
        lines = list(iter_lines(run_export(tmp_path, max_record_bytes=1 << 20)))
    assert [line["step"] for line in lines] == [s for s in range(20) if s != 5]
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"offset {headers[5]}: bad_data_crc" in m for m in messages)
    assert any("too_large" in m and str(2**40) in m for m in messages)
    assert all("events.out.tfevents.1" in m for m in messages)


def test_export_main_stdout_and_stderr(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    data = w.records([w.scalar_event("a", 1.0, 0)])
    (tmp_path / "events.out.tfevents.1").write_bytes(data + b"\x01\x02")
    assert export_main([str(tmp_path), "--no-progress"]) == 0
    out, err = capsysbinary.readouterr()
    assert (
        out
        == b'{"kind":"scalar","run":".","tag":"a","step":0,"wall_time":1700000000.0,"value":1.0}\n'
    )
    assert b"scalar" not in err
    with pytest.raises(SystemExit):
        export_main([str(tmp_path), "--run", "("])


# ---- jsonutil ------------------------------------------------------------------------------------


def test_number_text() -> None:
    assert jsonutil.number_text(np.float32(0.1)) == "0.10000000149011612"
    assert jsonutil.number_text(2**63 - 1) == "9223372036854775807"
    assert jsonutil.number_text(float("nan")) == "NaN"
    assert jsonutil.number_text(float("inf")) == "Infinity"
    assert jsonutil.number_text(-float("inf")) == "-Infinity"
    assert jsonutil.number_text(-0.0) == "-0.0"
    for x in (1e-7, 1e22, 5e-324, 123.456, 1 / 3):
        assert float(jsonutil.number_text(x)) == x


def test_dumps() -> None:
    got = jsonutil.dumps(
        {"a": np.float32(0.1), "b": [float("nan"), None], "c": np.array([1.5, np.inf])}
    )
    assert orjson.loads(got) == {
        "a": 0.10000000149011612,
        "b": ["NaN", None],
        "c": [1.5, "Infinity"],
    }


@pytest.mark.parametrize("seed", range(10))
def test_points_json_matches_the_plain_encoding(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 3000))
    steps = rng.integers(-(10**14), 10**14, n) if seed % 2 else np.arange(n)
    walls = rng.standard_normal(n) * 10.0 ** rng.integers(-20, 20, n)
    values = (rng.standard_normal(n) * 10.0 ** rng.integers(-30, 30, n)).astype(
        np.float32 if seed % 3 else np.float64
    )
    if seed % 4 == 0:
        values[rng.integers(0, n, 3)] = np.nan
        walls[rng.integers(0, n)] = np.inf
    got = jsonutil.points_json(steps, walls, values)
    rows = [
        [int(s), jsonutil.number_text(float(wt)), jsonutil.number_text(float(v))]
        for s, wt, v in zip(
            steps.tolist(), walls.tolist(), values.astype(np.float64).tolist(), strict=True
        )
    ]
    parsed = orjson.loads(got)
    assert [
        [
            r[0],
            str(r[1]) if isinstance(r[1], str) else jsonutil.number_text(r[1]),
            str(r[2]) if isinstance(r[2], str) else jsonutil.number_text(r[2]),
        ]
        for r in parsed
    ] == rows
    assert jsonutil.points_json(steps[:0], walls[:0], values[:0]) == b"[]"
    huge = np.array([2**62, -(2**62)])
    assert orjson.loads(jsonutil.points_json(huge, np.zeros(2), np.zeros(2)))[0][0] == 2**62
