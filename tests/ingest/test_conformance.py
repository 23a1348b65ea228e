"""`tbhub export` of the shared corpus against TensorBoard 2.21's own answers, series by series.

The corpus (`../shared/corpus`, see its README) holds real logs from torch, tensorboardX,
tensorboard and TensorFlow 2.21, with a restart and a truncated last record; `*.expected.json` is
what TensorBoard's Python loader serves for them. The `corpus` fixture skips when the corpus is
absent, and fails instead when TBHUB_REQUIRE_CORPUS=1 (CI).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ingest import events
from ingest.decoded import TagRegistry
from ingest.export import (
    RunStore,
    export_logdir,
    export_main,
    group_runs,
    iter_lines,
    load_run,
    render_text,
)
from ingest.sources import open_logdir
from tests.ingest.test_events import same

CORPORA = ("small", "tf")


def parse_export(data: bytes) -> dict[str, dict[str, Any]]:
    runs: dict[str, dict[str, Any]] = {}
    for line in iter_lines(data):
        run = runs.setdefault(
            line["run"], {"scalars": {}, "histograms": {}, "images": {}, "text": {}, "graph": None}
        )
        kind = line["kind"]
        if kind == "scalar":
            assert list(line) == ["kind", "run", "tag", "step", "wall_time", "value"]
            run["scalars"].setdefault(line["tag"], []).append(
                [line["step"], line["wall_time"], line["value"]]
            )
        elif kind == "histogram":
            assert list(line) == ["kind", "run", "tag", "step", "wall_time", "buckets"]
            run["histograms"].setdefault(line["tag"], []).append(
                [line["step"], line["wall_time"], line["buckets"]]
            )
        elif kind == "image":
            assert list(line) == [
                "kind",
                "run",
                "tag",
                "step",
                "wall_time",
                "index",
                "width",
                "height",
                "sha256",
            ]
            run["images"].setdefault(line["tag"], []).append(
                [
                    line["step"],
                    line["wall_time"],
                    line["index"],
                    line["width"],
                    line["height"],
                    line["sha256"],
                ]
            )
        elif kind == "text":
            assert list(line) == ["kind", "run", "tag", "step", "wall_time", "text"]
            run["text"].setdefault(line["tag"], []).append(
                [line["step"], line["wall_time"], line["text"]]
            )
        else:
            assert line == {"kind": "graph", "run": line["run"], "nodes": line["nodes"]}
            run["graph"] = line["nodes"]
    return runs


@pytest.fixture(scope="module", params=CORPORA)
def exported(
    request: pytest.FixtureRequest, corpus: Path
) -> tuple[dict[str, Any], dict[str, Any], dict[str, RunStore]]:
    name = request.param
    expected = json.loads((corpus / f"{name}.expected.json").read_text(encoding="utf-8"))["runs"]
    logdir = open_logdir(str(corpus / name))
    out = io.BytesIO()
    export_logdir(logdir, out, progress=False)
    stores = {
        run: load_run(logdir, run, files)
        for run, files in group_runs(logdir.list_event_files()).items()
    }
    return expected, parse_export(out.getvalue()), stores


@pytest.mark.parametrize("name", CORPORA)
def test_cli_writes_the_same_data_to_stdout_only(
    name: str, corpus: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert export_main([str(corpus / name), "--no-progress"]) == 0
    out, err = capsysbinary.readouterr()
    direct = io.BytesIO()
    export_logdir(open_logdir(str(corpus / name)), direct, progress=False)
    assert out == direct.getvalue()
    assert b'"kind"' not in err  # data only on stdout (logs may be JSON in team mode)
    assert export_main([str(corpus / name), "--format", "csv", "--no-progress"]) == 0
    csv_out, _ = capsysbinary.readouterr()
    assert csv_out.startswith(
        b"kind,run,tag,step,wall_time,value,buckets,index,width,height,sha256,text,nodes\n"
    )
    rows = list(csv.reader(io.StringIO(csv_out.decode("utf-8"), newline="")))
    assert len(rows) == out.count(b"\n") + 1
    assert {len(row) for row in rows} == {13}


def test_runs(exported: Any) -> None:
    expected, got, stores = exported
    assert set(stores) == set(expected)
    assert set(got) <= set(expected)


def test_scalars_exact_in_order(exported: Any) -> None:
    expected, got, _ = exported
    for run, exp in expected.items():
        assert got.get(run, {}).get("scalars", {}) == exp["scalars"], run


def test_scalar_dtypes(exported: Any) -> None:
    expected, _, stores = exported
    for run, exp in expected.items():
        dtypes = {tag: stores[run].scalar_dtype(tag) for tag in stores[run].scalars}
        assert dtypes == exp["scalar_dtypes"], run


def test_histograms(exported: Any) -> None:
    expected, got, _ = exported
    for run, exp in expected.items():
        ours = got.get(run, {}).get("histograms", {})
        assert set(ours) == set(exp["histograms"]), run
        for tag, series in exp["histograms"].items():
            assert len(ours[tag]) == len(series), (run, tag)
            for mine, theirs in zip(ours[tag], series, strict=True):
                assert mine[:2] == theirs[:2], (run, tag)
                a = np.asarray(mine[2], dtype=np.float64).reshape(-1, 3)
                b = np.asarray(theirs[2], dtype=np.float64).reshape(-1, 3)
                assert a.shape == b.shape, (run, tag, mine[0])
                assert np.array_equal(a[:, :2].astype(np.float32), b[:, :2].astype(np.float32)), (
                    run,
                    tag,
                )
                assert np.array_equal(a[:, 2], b[:, 2]), (run, tag)


def test_images(exported: Any) -> None:
    expected, got, _ = exported
    for run, exp in expected.items():
        want = {
            tag: [
                [step, wall, index, width, height, sha]
                for step, wall, width, height, images in series
                for index, (sha, _size) in enumerate(images)
            ]
            for tag, series in exp["images"].items()
        }
        assert got.get(run, {}).get("images", {}) == want, run


def test_text(exported: Any) -> None:
    expected, got, stores = exported
    for run, exp in expected.items():
        ours = got.get(run, {}).get("text", {})
        assert set(ours) == set(exp["text"]), run
        for tag, series in exp["text"].items():
            items = stores[run].texts[tag]
            assert [[i.step, i.wall_time, *i.payload] for i in items] == series, (run, tag)
            assert ours[tag] == [
                [s, wt, render_text(shape, values)] for s, wt, shape, values in series
            ]


def test_graph_node_count(exported: Any) -> None:
    expected, got, _ = exported
    for run, exp in expected.items():
        want = exp["graph"]["node_count"] if exp["graph"]["present"] else None
        assert got.get(run, {}).get("graph") == want, run


def test_fast_path_equals_protobuf_path_on_every_file(corpus: Path) -> None:
    files = sorted(p for name in CORPORA for p in (corpus / name).rglob("*tfevents*"))
    assert files
    for path in files:
        data = path.read_bytes()
        for cut in (len(data), len(data) * 2 // 3, len(data) // 3):
            fast_reg, slow_reg = TagRegistry(), TagRegistry()
            fast = events.decode(data[:cut], base_offset=0, registry=fast_reg, fast=True)
            slow = events.decode(data[:cut], base_offset=0, registry=slow_reg, fast=False)
            assert same(fast, slow), path
            assert same(fast_reg, slow_reg), path
            assert fast.problems == [], path


def test_truncated_corpus_file_is_read_to_its_last_complete_record(corpus: Path) -> None:
    notes = json.loads((corpus / "small.NOTES.json").read_text())["resnet/seed1"]["truncation"]
    data = (corpus / "small" / notes["file"]).read_bytes()
    batch = events.decode(data, base_offset=0, registry=TagRegistry())
    assert batch.stop == "truncated"
    assert batch.end_offset == notes["record_offset"]
    assert batch.need_bytes == notes["record_len"] + 16
    assert dataclasses.asdict(batch)["problems"] == []


def test_our_protos_read_every_corpus_record_like_tensorboards(corpus: Path) -> None:
    """Real TF/torch events, graphs, meta graphs and run metadata through our .proto subset."""
    from tensorboard.compat.proto import config_pb2, graph_pb2, meta_graph_pb2
    from tensorboard.compat.proto import event_pb2 as tb_event

    from ingest.proto import event_pb2 as our_event
    from ingest.proto import graph_pb2 as our_graph
    from ingest.proto import meta_graph_pb2 as our_meta
    from ingest.proto import run_metadata_pb2 as our_rm
    from tests.ingest import writers

    def round_trip(data: bytes, ours_cls: Any, theirs_cls: Any) -> Any:
        ours = ours_cls()
        ours.ParseFromString(data)
        theirs = theirs_cls()
        theirs.ParseFromString(data)
        again = theirs_cls()
        again.ParseFromString(ours.SerializeToString())
        assert again == theirs
        return ours, theirs

    seen = set()
    for path in sorted(p for name in CORPORA for p in (corpus / name).rglob("*tfevents*")):
        data = path.read_bytes()
        for header, length in writers.record_offsets(data):
            _, theirs = round_trip(
                data[header + 12 : header + 12 + length], our_event.Event, tb_event.Event
            )
            what = theirs.WhichOneof("what")
            seen.add(what)
            if what == "graph_def":
                g, tg = round_trip(theirs.graph_def, our_graph.GraphDef, graph_pb2.GraphDef)
                assert [n.name.decode() for n in g.node] == [n.name for n in tg.node]
            elif what == "meta_graph_def":
                m, tm = round_trip(
                    theirs.meta_graph_def, our_meta.MetaGraphDef, meta_graph_pb2.MetaGraphDef
                )
                assert len(m.graph_def.node) == len(tm.graph_def.node) > 0
            elif what == "tagged_run_metadata":
                r, tr = round_trip(
                    theirs.tagged_run_metadata.run_metadata,
                    our_rm.RunMetadata,
                    config_pb2.RunMetadata,
                )
                assert [len(d.node_stats) for d in r.step_stats.dev_stats] == [
                    len(d.node_stats) for d in tr.step_stats.dev_stats
                ]
    assert {"graph_def", "meta_graph_def", "tagged_run_metadata", "summary", "session_log"} <= seen
