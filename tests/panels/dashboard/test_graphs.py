"""The GRAPHS panel's server side: GraphDef → JSON, session-run statistics as TensorBoard computes
them, the node cap, and the endpoints."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import override_settings

from ingest.models import GraphKind
from ingest.proto import graph_pb2, meta_graph_pb2, run_metadata_pb2, tensor_pb2
from panels.kinds import graphs as kind

pytestmark = pytest.mark.django_db


def _graph(nodes: list[tuple[str, str, list[str]]], device: bytes = b"") -> graph_pb2.GraphDef:
    gd = graph_pb2.GraphDef()
    for name, op, inputs in nodes:
        n = gd.node.add()
        n.name = name.encode()
        n.op = op.encode()
        n.device = device
        for i in inputs:
            n.input.append(i.encode())
    return gd


def _stats(rm: Any, device: str, name: str, start: int, rel: int, mem: list[int]) -> None:
    ds = next((d for d in rm.step_stats.dev_stats if d.device == device.encode()), None)
    if ds is None:
        ds = rm.step_stats.dev_stats.add()
        ds.device = device.encode()
    ns = ds.node_stats.add()
    ns.node_name = name.encode()
    ns.all_start_micros = start
    ns.all_end_rel_micros = rel
    for m in mem:
        ns.memory.add().total_bytes = m


def test_graph_def_json_names_ops_inputs_attrs_and_shapes() -> None:
    gd = _graph(
        [("x", "Placeholder", []), ("dense/MatMul", "MatMul", ["x", "w:1", "^init"])],
        b"/device:CPU:0",
    )
    node = gd.node[1]
    a = node.attr.add()
    a.key = b"_output_shapes"
    s = a.value.list.shape.add()
    s.dim.add().size = -1
    s.dim.add().size = 10
    t = node.attr.add()
    t.key = b"transpose_a"
    t.value.b = False
    d = node.attr.add()
    d.key = b"T"
    d.value.type = 1
    bad = gd.node.add()
    bad.name = b"caf\xe9"  # not UTF-8: decoded with a replacement character, never an error
    bad.op = b"NoOp"
    out = kind.graph_def_json(gd)
    m = out["nodes"][1]
    assert m["name"] == "dense/MatMul"
    assert m["op"] == "MatMul"
    assert m["inputs"] == ["x", "w:1", "^init"]
    assert m["device"] == "/device:CPU:0"
    assert m["shapes"] == [[-1, 10]]
    assert m["attr"] == [["T", "DT_FLOAT"], ["transpose_a", "false"]]
    assert out["nodes"][2]["name"] == "caf\ufffd"


def test_attr_values_are_readable_and_bounded() -> None:
    v = graph_pb2.AttrValue()
    v.list.i.extend([1, 2, 2, 1])
    assert kind.attr_text(v) == "[1, 2, 2, 1]"
    v = graph_pb2.AttrValue()
    v.s = b"SAME"
    assert kind.attr_text(v) == '"SAME"'
    v = graph_pb2.AttrValue()
    v.tensor.dtype = 1
    v.tensor.tensor_shape.dim.add().size = 3
    v.tensor.float_val.extend([0.5, 1.5, 2.5])
    assert kind.attr_text(v) == "DT_FLOAT [3] 0.5, 1.5, 2.5"
    v = graph_pb2.AttrValue()
    v.s = b"a" * 5000
    assert len(kind.attr_text(v)) == kind.MAX_ATTR_CHARS


def test_run_metadata_stats_follow_tensorboard() -> None:
    rm = run_metadata_pb2.RunMetadata()
    cpu = "/job:localhost/replica:0/task:0/device:CPU:0"
    stream = "/job:localhost/replica:0/task:0/device:GPU:0/stream:all"
    # Two executions of A: span = max(end) - min(start) = (130 + 5) - 100, memory = max of sums.
    _stats(rm, cpu, "A", 100, 20, [64, 32])
    _stats(rm, cpu, "A", 130, 5, [200, -50])  # negative allocations are ignored
    _stats(rm, cpu, "B", 10, 0, [8])  # all_end_rel == 0: never timed
    _stats(rm, stream, "A", 0, 10_000, [10_000])  # not `device:<TYPE>:<n>$`: excluded by default
    out = kind.run_metadata_stats(rm)
    assert out["devices"] == [cpu, stream]
    assert out["default_devices"] == [cpu]
    a = out["nodes"]["A"]
    assert a["compute_time_us"] == 35
    assert a["memory_bytes"] == 200
    assert (a["start_us"], a["end_us"]) == (100, 135)
    assert a["device"] == cpu
    assert out["nodes"]["B"]["compute_time_us"] is None
    assert out["nodes"]["B"]["memory_bytes"] == 8
    # per-device raw aggregates let the browser recombine other device selections
    assert a["per_device"] == [[0, 100, 135, 200], [1, 0, 10_000, 10_000]]
    everything = kind.run_metadata_stats(rm, devices=[cpu, stream])
    assert everything["nodes"]["A"]["compute_time_us"] == 10_000
    assert everything["nodes"]["A"]["device"] == stream


def _expected_like_tensorboard_js(rm: Any) -> dict[str, tuple[int | None, int]]:
    """An independent transcription of tf_graph_common/graph.ts#joinStatsInfoWithGraph."""
    import re

    out: dict[str, dict[str, Any]] = {}
    for ds in rm.step_stats.dev_stats:
        if not re.search(r"device:[^:]+:[0-9]+$", ds.device.decode()):
            continue
        for ns in ds.node_stats:
            name = ns.node_name.decode()
            st = out.setdefault(name, {"bytes": None, "start": None, "end": None})
            total = sum(m.total_bytes for m in ns.memory if m.total_bytes and m.total_bytes > 0)
            st["bytes"] = total if st["bytes"] is None else max(st["bytes"], total)
            if ns.all_end_rel_micros and ns.all_end_rel_micros > 0:
                s, e = ns.all_start_micros, ns.all_start_micros + ns.all_end_rel_micros
                st["start"] = s if st["start"] is None else min(st["start"], s)
                st["end"] = e if st["end"] is None else max(st["end"], e)
    return {
        k: (None if v["start"] is None else v["end"] - v["start"], v["bytes"] or 0)
        for k, v in out.items()
    }


def test_corpus_tf1_session_run_metadata(corpus: Path) -> None:
    """Real TF1 tagged run metadata (corpus/tf/tf1_session): every node's compute time and memory
    equal TensorBoard's computation, and some nodes have real non-zero values."""
    from tensorboard.backend.event_processing.event_file_loader import (
        LegacyEventFileLoader as EventFileLoader,  # raw events, tagged_run_metadata kept as is
    )

    run_dir = corpus / "tf" / "tf1_session"
    tagged = []
    for f in sorted(run_dir.iterdir()):
        if "tfevents" not in f.name:
            continue
        for ev in EventFileLoader(str(f)).Load():
            if ev.HasField("tagged_run_metadata"):
                tagged.append((ev.tagged_run_metadata.tag, ev.tagged_run_metadata.run_metadata))
    assert tagged, "the corpus has tagged run metadata"
    for tag, data in tagged:
        rm = run_metadata_pb2.RunMetadata()
        rm.ParseFromString(data)
        ours = kind.run_metadata_stats(rm)["nodes"]
        expected = _expected_like_tensorboard_js(rm)
        got = {
            k: (v.get("compute_time_us"), v.get("memory_bytes") or 0)
            for k, v in ours.items()
            if "device" in v
        }
        assert got == expected, tag
        assert any((t or 0) > 0 for t, _ in got.values())
        assert any(m > 0 for _, m in got.values())


def test_merge_graph_defs_prefixes_like_tensorboard() -> None:
    g1 = _graph([("a", "Const", []), ("b", "Identity", ["a", "^a"])])
    g2 = _graph([("a", "Const", [])])
    merged = kind.merge_graph_defs([g1, g2])
    names = [n.name.decode() for n in merged.node]
    assert names == ["graph_1/a", "graph_1/b", "graph_2/a"]
    assert [i.decode() for i in merged.node[1].input] == ["graph_1/a", "^graph_1/a"]
    assert kind.merge_graph_defs([g1]) is g1


def test_keras_config_becomes_a_conceptual_graph() -> None:
    cfg = {
        "class_name": "Sequential",
        "config": {
            "name": "seq",
            "layers": [
                {"class_name": "InputLayer", "config": {"name": "in"}},
                {"class_name": "Dense", "config": {"name": "d1", "units": 4}},
                {"class_name": "Dense", "config": {"name": "d2", "units": 2}},
            ],
        },
    }
    out = kind.keras_graph_json(json.dumps(cfg).encode())
    names = [n["name"] for n in out["nodes"]]
    assert names == ["seq/in", "seq/d1", "seq/d2"]
    assert out["nodes"][2]["inputs"] == ["seq/d1"]
    assert ["units", "2"] in out["nodes"][2]["attr"]


def test_graph_endpoints(client_member: Any, project: Any, make_run: Any, add_graph: Any) -> None:
    run = make_run(project, "mnist/lr=0.1")
    gd = _graph([("x", "Placeholder", []), ("y", "Relu", ["x"])])
    add_graph(run, GraphKind.GRAPH_DEF, gd.SerializeToString(), node_count=2)
    rm = run_metadata_pb2.RunMetadata()
    _stats(rm, "/device:CPU:0", "y", 5, 7, [16])
    add_graph(run, GraphKind.RUN_METADATA, rm.SerializeToString(), tag="step1", step=1)
    base = "/api/v1/projects/vision/graphs"
    info = client_member.get(base + "/info").json()
    assert info["runs"][0]["run"] == "mnist/lr=0.1"
    assert info["runs"][0]["run_graph"] is True
    assert info["runs"][0]["tags"][0]["tag"] == "step1"
    assert info["runs"][0]["tags"][0]["profile"] is True
    g = client_member.get(base, {"run": "mnist/lr=0.1"}).json()
    assert [n["name"] for n in g["nodes"]] == ["x", "y"]
    assert g["stats"] is None
    g = client_member.get(base, {"run_id": run.pk, "tag": "step1"}).json()
    assert g["stats"]["nodes"]["y"]["compute_time_us"] == 7
    assert g["stats"]["nodes"]["y"]["memory_bytes"] == 16
    assert client_member.get(base, {"run_id": run.pk, "tag": "nope"}).status_code == 404
    assert client_member.get(base).status_code == 400


def test_trace_in_a_string_tensor_and_meta_graph_fallback(
    client_member: Any, project: Any, make_run: Any, add_graph: Any
) -> None:
    run = make_run(project, "tf2")
    rm = run_metadata_pb2.RunMetadata()
    fg = rm.function_graphs.add()
    fg.pre_optimization_graph.CopyFrom(_graph([("x", "_Arg", []), ("y", "Identity", ["x"])]))
    t = tensor_pb2.TensorProto()
    t.dtype = 7
    t.string_val.append(rm.SerializeToString())
    add_graph(run, GraphKind.TRACE, t.SerializeToString(), tag="train_step")
    mg = meta_graph_pb2.MetaGraphDef()
    mg.graph_def.CopyFrom(_graph([("only", "NoOp", [])]))
    add_graph(run, GraphKind.META_GRAPH_DEF, mg.SerializeToString())
    base = "/api/v1/projects/vision/graphs"
    g = client_member.get(base, {"run": "tf2", "tag": "train_step"}).json()
    assert [n["name"] for n in g["nodes"]] == ["x", "y"]
    assert g["kind"] == "trace"
    g = client_member.get(base, {"run": "tf2"}).json()
    assert [n["name"] for n in g["nodes"]] == ["only"]


def test_graph_cap_is_a_clear_error(
    client_member: Any, project: Any, make_run: Any, add_graph: Any
) -> None:
    run = make_run(project, "huge")
    gd = _graph([(f"n{i}", "NoOp", []) for i in range(5)])
    add_graph(run, GraphKind.GRAPH_DEF, gd.SerializeToString(), node_count=None)
    with override_settings(TBHUB_GRAPH_MAX_NODES=4):
        resp = client_member.get("/api/v1/projects/vision/graphs", {"run": "huge"})
    assert resp.status_code == 413
    body = resp.json()
    assert body["node_count"] == 5
    assert body["max_nodes"] == 4
    assert "TBHUB_GRAPH_MAX_NODES" in body["error"]


def test_graphs_are_scoped_to_readers(
    client_stranger: Any,
    client_member: Any,
    project: Any,
    other_project: Any,
    make_run: Any,
    add_graph: Any,
) -> None:
    run = make_run(other_project, "hidden")
    add_graph(run, GraphKind.GRAPH_DEF, _graph([("x", "NoOp", [])]).SerializeToString())
    assert client_member.get("/api/v1/projects/secret/graphs", {"run": "hidden"}).status_code == 404
    # a run id of another project through a readable project is not found either
    assert (
        client_member.get("/api/v1/projects/vision/graphs", {"run_id": run.pk}).status_code == 404
    )
    assert client_stranger.get("/api/v1/projects/vision/graphs/info").status_code == 404
