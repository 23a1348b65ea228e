"""The GRAPHS panel, server side: stored graph blobs → the JSON the browser lays out.

TensorBoard sends the GraphDef as protobuf *text* and parses it in the browser; we parse the
stored binary once on the server (upb, C) and send compact JSON instead: node name, op, device,
inputs, readable attributes, output shapes, the function library, and, for a session run
(tagged RunMetadata), per-node compute time and memory computed exactly as TensorBoard's graph
dashboard does (reference §6.7, `tf_graph_common/graph.ts#joinStatsInfoWithGraph`):

- only `dev_stats` whose device matches `device:<TYPE>:<n>$` are used by default;
- compute time = max(all_start + all_end_rel) - min(all_start) over every execution of a node,
  counting only executions with all_end_rel > 0;
- memory = max over executions of Σ `memory[*].total_bytes` (positive allocations only).

Reads are scoped to a run the caller may read (resolved by the view through `hub.access`).
Every user string in the protos is `bytes`; it is decoded with errors="replace".
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from google.protobuf.message import DecodeError

from ingest.graphs import count_nodes
from ingest.models import GraphBlob, GraphKind, Run
from ingest.proto import graph_pb2, meta_graph_pb2, run_metadata_pb2, tensor_pb2, types_pb2
from tbhub import jsonutil

log = logging.getLogger("panels.graphs")

# TensorBoard's `DEVICE_NAME_REGEX` for the default device include list of session-run stats.
DEVICE_STATS_RE = re.compile(r"device:[^:]+:[0-9]+$")
# Attribute values longer than this are cut (TensorBoard's UI lists them but never shows a
# megabyte of constant tensor either).
MAX_ATTR_CHARS = 512
# Kinds that are a graph a user can open (TensorBoard's `run_graph`, `op_graph`, `conceptual`).
GRAPH_KINDS = (GraphKind.GRAPH_DEF, GraphKind.META_GRAPH_DEF)


class GraphTooLarge(Exception):
    def __init__(self, node_count: int, max_nodes: int) -> None:
        super().__init__(
            f"This graph has {node_count:,} nodes; the hub opens graphs of up to {max_nodes:,} "
            "nodes (setting TBHUB_GRAPH_MAX_NODES). Laying it out would freeze the browser tab."
        )
        self.node_count = node_count
        self.max_nodes = max_nodes


class GraphUnavailable(Exception):
    """No graph of that kind for the run, or the stored bytes do not parse."""


def _s(b: bytes) -> str:
    return b.decode("utf-8", errors="replace")


def max_nodes() -> int:
    return int(getattr(settings, "TBHUB_GRAPH_MAX_NODES", 200_000))


# ---- listing -----------------------------------------------------------------------------


def graph_index(*, run: Run) -> dict[str, Any]:
    """What a run offers the GRAPHS panel: the run graph and its tagged session runs, like
    TensorBoard's `/data/plugin/graphs/info` for one run."""
    rows = list(
        GraphBlob.objects.filter(run=run)
        .order_by("seq")
        .values("kind", "tag", "step", "wall_time", "node_count", "seq")
    )
    run_graph = any(r["kind"] in GRAPH_KINDS for r in rows)
    node_count = None
    for r in rows:
        if r["kind"] == GraphKind.GRAPH_DEF and r["node_count"] is not None:
            node_count = r["node_count"]
    tags: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["kind"] not in (GraphKind.RUN_METADATA, GraphKind.TRACE, GraphKind.KERAS):
            continue
        tag = r["tag"] or r["kind"]
        entry = tags.setdefault(
            tag,
            {
                "tag": tag,
                "profile": False,
                "op_graph": False,
                "conceptual_graph": False,
                "step": r["step"],
                "wall_time": r["wall_time"],
            },
        )
        entry["step"], entry["wall_time"] = r["step"], r["wall_time"]
        if r["kind"] == GraphKind.RUN_METADATA:
            entry["profile"] = True
        elif r["kind"] == GraphKind.TRACE:
            entry["profile"] = True
            entry["op_graph"] = True
        else:
            entry["conceptual_graph"] = True
    return {
        "run": run.name,
        "run_id": run.pk,
        "run_graph": run_graph,
        "node_count": node_count,
        "tags": sorted(tags.values(), key=lambda t: t["tag"]),
    }


def graph_run_ids(*, runs: QuerySet[Run]) -> set[int]:
    """Ids of the runs (of an already scoped queryset) that have any graph blob."""
    return set(GraphBlob.objects.filter(run__in=runs).values_list("run_id", flat=True).distinct())


def _latest(run: Run, kinds: tuple[str, ...], tag: str | None = None) -> GraphBlob | None:
    qs = GraphBlob.objects.filter(run=run, kind__in=kinds)
    if tag is not None:
        qs = qs.filter(tag=tag)
    return qs.order_by("-seq").first()


# ---- protobuf → JSON -----------------------------------------------------------------------


def _dtype(v: int) -> str:
    try:
        return types_pb2.DataType.Name(v)
    except ValueError:
        return f"DT_{v}"


def shape_dims(shape: Any) -> list[int] | None:
    """A TensorShapeProto as a list of sizes (-1 unknown); None for unknown rank."""
    if shape.unknown_rank:
        return None
    return [int(d.size) for d in shape.dim]


def _shape_text(shape: Any) -> str:
    dims = shape_dims(shape)
    if dims is None:
        return "<unknown rank>"
    return "[" + ",".join("?" if d < 0 else str(d) for d in dims) + "]"


def _num(x: float) -> str:
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return repr(float(x))


def _tensor_text(t: Any) -> str:
    dims = shape_dims(t.tensor_shape) if t.HasField("tensor_shape") else []
    shape = "[]" if not dims else "[" + ",".join("?" if d < 0 else str(d) for d in dims) + "]"
    head = f"{_dtype(t.dtype)} {shape}"
    vals: list[str] = []
    if t.string_val:
        vals = [json.dumps(_s(v)[:80]) for v in t.string_val[:8]]
    else:
        for field in ("float_val", "double_val", "int_val", "int64_val", "bool_val"):
            seq = getattr(t, field)
            if len(seq):
                vals = [_num(v) if isinstance(v, float) else str(v) for v in list(seq)[:8]]
                break
    if t.tensor_content:
        return f"{head} ({len(t.tensor_content):,} bytes)"
    return head + (" " + ", ".join(vals) if vals else "")


def attr_text(v: Any) -> str:
    """One AttrValue as TensorBoard's node card shows it, briefly."""
    which = v.WhichOneof("value")
    if which == "s":
        out = json.dumps(_s(v.s))
    elif which == "i":
        out = str(v.i)
    elif which == "f":
        out = _num(v.f)
    elif which == "b":
        out = "true" if v.b else "false"
    elif which == "type":
        out = _dtype(v.type)
    elif which == "shape":
        out = _shape_text(v.shape)
    elif which == "tensor":
        out = _tensor_text(v.tensor)
    elif which == "func":
        out = _s(v.func.name)
    elif which == "placeholder":
        out = "$" + _s(v.placeholder)
    elif which == "list":
        lst = v.list
        items: list[str] = []
        items += [json.dumps(_s(x)) for x in lst.s]
        items += [str(x) for x in lst.i]
        items += [_num(x) for x in lst.f]
        items += ["true" if x else "false" for x in lst.b]
        items += [_dtype(x) for x in lst.type]
        items += [_shape_text(x) for x in lst.shape]
        items += [_tensor_text(x) for x in lst.tensor]
        items += [_s(x.name) for x in lst.func]
        out = "[" + ", ".join(items) + "]"
    else:
        out = ""
    if len(out) > MAX_ATTR_CHARS:
        out = out[: MAX_ATTR_CHARS - 1] + "…"
    return out


def node_json(node: Any, name_prefix: str = "") -> dict[str, Any]:
    d: dict[str, Any] = {"name": name_prefix + _s(node.name), "op": _s(node.op)}
    if node.input:
        d["inputs"] = [_input_name(_s(i), name_prefix) for i in node.input]
    if node.device:
        d["device"] = _s(node.device)
    attrs: list[list[str]] = []
    for entry in node.attr:
        key = _s(entry.key)
        if key == "_output_shapes" and entry.value.WhichOneof("value") == "list":
            d["shapes"] = [shape_dims(s) for s in entry.value.list.shape]
            continue
        attrs.append([key, attr_text(entry.value)])
    if attrs:
        attrs.sort(key=lambda kv: kv[0])
        d["attr"] = attrs
    return d


def _input_name(inp: str, prefix: str) -> str:
    if not prefix:
        return inp
    if inp.startswith("^"):
        return "^" + prefix + inp[1:]
    return prefix + inp


def _function_json(fn: Any) -> dict[str, Any]:
    sig = fn.signature
    name = _s(sig.name)
    nodes = []
    for nd in fn.node_def:
        j = node_json(nd)
        # Function bodies reference "node:output_arg:index"; keep the node part.
        if "inputs" in j:
            j["inputs"] = [_function_input(i) for i in j["inputs"]]
        nodes.append(j)
    return {
        "name": name,
        "inputs": [
            [_s(a.name), _dtype(a.type) if a.type else _s(a.type_attr)] for a in sig.input_arg
        ],
        "outputs": [
            [_s(a.name), _dtype(a.type) if a.type else _s(a.type_attr)] for a in sig.output_arg
        ],
        "ret": {_s(r.key): _function_input(_s(r.value)) for r in fn.ret},
        "nodes": nodes,
    }


def _function_input(inp: str) -> str:
    ctrl = inp.startswith("^")
    body = inp[1:] if ctrl else inp
    parts = body.split(":")
    if len(parts) >= 3:
        try:
            body = f"{parts[0]}:{int(parts[2])}" if int(parts[2]) else parts[0]
        except ValueError:
            body = parts[0]
    elif len(parts) == 2 and not parts[1].isdigit():
        body = parts[0]
    return ("^" if ctrl else "") + body


def graph_def_json(gd: Any, *, name_prefix: str = "") -> dict[str, Any]:
    """A GraphDef as {"nodes": [...], "functions": [...]}."""
    return {
        "nodes": [node_json(n, name_prefix) for n in gd.node],
        "functions": [_function_json(f) for f in gd.library.function],
    }


def merge_graph_defs(graphs: list[Any]) -> Any:
    """TensorBoard's `graph_util.merge_graph_defs`: one graph as is; several prefixed
    `graph_1/`, `graph_2/`, … with their function libraries merged (first definition wins)."""
    if len(graphs) == 1:
        return graphs[0]
    out = graph_pb2.GraphDef()
    seen: set[bytes] = set()
    for i, g in enumerate(graphs):
        prefix = f"graph_{i + 1}/".encode()
        for n in g.node:
            m = out.node.add()
            m.CopyFrom(n)
            m.name = prefix + n.name
            del m.input[:]
            for inp in n.input:
                m.input.append(b"^" + prefix + inp[1:] if inp.startswith(b"^") else prefix + inp)
        for f in g.library.function:
            if f.signature.name not in seen:
                seen.add(f.signature.name)
                out.library.function.add().CopyFrom(f)
    return out


# ---- session-run statistics ----------------------------------------------------------------


@dataclass(slots=True)
class _Acc:
    start: int | None = None
    end: int | None = None
    bytes: int | None = None


def run_metadata_stats(rm: Any, devices: list[str] | None = None) -> dict[str, Any]:
    """Per-node compute time and memory from a RunMetadata's step_stats, as TensorBoard computes
    them. `devices`: the devices to include (default: those matching `device:<TYPE>:<n>$`).

    Returns {"devices": [every device], "default_devices": [...], "nodes": {name: {...}}} where
    each node has compute_time_us (null when never timed), memory_bytes, device, start_us, end_us
    and per_device [[device index, start, end, bytes], …] so the browser can recombine the
    numbers for another device selection."""
    all_devices = [_s(ds.device) for ds in rm.step_stats.dev_stats]
    default = [d for d in all_devices if DEVICE_STATS_RE.search(d)]
    include = set(default if devices is None else devices)
    nodes: dict[str, dict[str, Any]] = {}
    per_dev: dict[str, dict[int, _Acc]] = {}
    totals: dict[str, _Acc] = {}
    for di, ds in enumerate(rm.step_stats.dev_stats):
        dev = all_devices[di]
        for ns in ds.node_stats:
            name = _s(ns.node_name)
            total_bytes = sum(int(m.total_bytes) for m in ns.memory if m.total_bytes > 0)
            acc = per_dev.setdefault(name, {}).setdefault(di, _Acc())
            _acc_add(acc, ns, total_bytes)
            if dev in include:
                tot = totals.setdefault(name, _Acc())
                _acc_add(tot, ns, total_bytes)
                nodes.setdefault(name, {})["device"] = dev
    for name, tot in totals.items():
        entry = nodes[name]
        entry["compute_time_us"] = (
            None if tot.start is None or tot.end is None else int(tot.end - tot.start)
        )
        entry["start_us"] = tot.start
        entry["end_us"] = tot.end
        entry["memory_bytes"] = tot.bytes or 0
    for name, accs in per_dev.items():
        nodes.setdefault(name, {"compute_time_us": None, "memory_bytes": None})["per_device"] = [
            [di, a.start, a.end, a.bytes or 0] for di, a in sorted(accs.items())
        ]
    return {"devices": all_devices, "default_devices": default, "nodes": nodes}


def _acc_add(acc: _Acc, ns: Any, total_bytes: int) -> None:
    acc.bytes = total_bytes if acc.bytes is None else max(acc.bytes, total_bytes)
    if ns.all_end_rel_micros > 0:
        start = int(ns.all_start_micros)
        end = start + int(ns.all_end_rel_micros)
        acc.start = start if acc.start is None else min(acc.start, start)
        acc.end = end if acc.end is None else max(acc.end, end)


# ---- Keras model config (conceptual graph) -------------------------------------------------


def keras_graph_json(config: bytes) -> dict[str, Any]:
    """A Keras model config (`model.to_json()`) as op nodes, one per layer, like TensorBoard's
    conceptual graph: layers of nested models get the model's name as scope."""
    try:
        doc = json.loads(config.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise GraphUnavailable("the stored Keras model config is not JSON") from exc
    nodes: list[dict[str, Any]] = []

    def walk(model: dict[str, Any], prefix: str) -> str | None:
        cfg = model.get("config") or {}
        name = str(cfg.get("name") or model.get("class_name") or "model")
        layers = cfg.get("layers") if isinstance(cfg, dict) else None
        if not isinstance(layers, list):
            return None
        scope = f"{prefix}{name}/"
        last: str | None = None
        for layer in layers:
            if not isinstance(layer, dict):
                continue
            lcfg = layer.get("config") or {}
            lname = str(layer.get("name") or lcfg.get("name") or "layer")
            full = scope + lname
            inputs: list[str] = []
            for inbound in layer.get("inbound_nodes") or []:
                for item in _keras_inbound(inbound):
                    inputs.append(scope + item)
            if not inputs and last is not None and model.get("class_name") == "Sequential":
                inputs = [last]
            if isinstance(lcfg, dict) and isinstance(lcfg.get("layers"), list):
                inner_last = walk(layer, scope)
                nodes.append(
                    {
                        "name": full,
                        "op": str(layer.get("class_name") or "Model"),
                        "inputs": inputs + ([inner_last] if inner_last else []),
                    }
                )
            else:
                attr = []
                if isinstance(lcfg, dict):
                    for k in sorted(lcfg):
                        if k in ("name", "layers"):
                            continue
                        text = json.dumps(lcfg[k])
                        attr.append(
                            [
                                k,
                                text
                                if len(text) <= MAX_ATTR_CHARS
                                else text[: MAX_ATTR_CHARS - 1] + "…",
                            ]
                        )
                node: dict[str, Any] = {"name": full, "op": str(layer.get("class_name") or "Layer")}
                if inputs:
                    node["inputs"] = inputs
                if attr:
                    node["attr"] = attr
                nodes.append(node)
            last = full
        return last

    walk(doc, "")
    return {"nodes": nodes, "functions": []}


def _keras_inbound(inbound: Any) -> list[str]:
    out: list[str] = []
    if isinstance(inbound, list):  # Keras 2: [[name, node_index, tensor_index, kwargs], ...]
        for item in inbound:
            if isinstance(item, list) and item and isinstance(item[0], str):
                out.append(item[0])
            elif isinstance(item, list):
                out += _keras_inbound(item)
    elif isinstance(inbound, dict):  # Keras 3: {"args": [{"config": {"keras_history": [...]}}]}
        for arg in inbound.get("args", []):
            hist = arg.get("config", {}).get("keras_history") if isinstance(arg, dict) else None
            if isinstance(hist, list) and hist:
                out.append(str(hist[0]))
    return out


# ---- the payload -------------------------------------------------------------------------


def _parse(msg: Any, data: bytes, what: str) -> Any:
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        raise GraphUnavailable(f"the stored {what} does not parse") from exc
    return msg


def _run_metadata(data: bytes) -> Any:
    """A tagged RunMetadata or a TF2 trace: RunMetadata bytes, or a DT_STRING TensorProto whose
    first string is the RunMetadata (how `graph_run_metadata` summaries carry it)."""
    rm = run_metadata_pb2.RunMetadata()
    try:
        rm.ParseFromString(data)
        if rm.step_stats.dev_stats or rm.function_graphs or rm.partition_graphs:
            return rm
    except DecodeError:
        pass
    t = tensor_pb2.TensorProto()
    try:
        t.ParseFromString(data)
    except DecodeError as exc:
        raise GraphUnavailable("the stored run metadata does not parse") from exc
    if t.string_val:
        return _parse(run_metadata_pb2.RunMetadata(), bytes(t.string_val[0]), "run metadata")
    return rm


def _check_size(n: int) -> None:
    cap = max_nodes()
    if n > cap:
        raise GraphTooLarge(n, cap)


def _graph_from_blob(blob: GraphBlob) -> Any:
    data = bytes(blob.data)
    if blob.kind == GraphKind.GRAPH_DEF:
        n = blob.node_count if blob.node_count is not None else count_nodes(data)
        if n is not None:
            _check_size(n)
        return _parse(graph_pb2.GraphDef(), data, "GraphDef")
    mg = _parse(meta_graph_pb2.MetaGraphDef(), data, "MetaGraphDef")
    return mg.graph_def


def graph_payload(*, run: Run, tag: str | None = None) -> dict[str, Any]:
    """The graph of a run (no tag) or of one of its session runs (tag), ready for JSON."""
    out: dict[str, Any] = {"run": run.name, "run_id": run.pk, "tag": tag, "stats": None}
    if tag is None:
        blob = _latest(run, (GraphKind.GRAPH_DEF,)) or _latest(run, (GraphKind.META_GRAPH_DEF,))
        if blob is None:
            raise GraphUnavailable("this run has no graph")
        gd = _graph_from_blob(blob)
        _check_size(len(gd.node))
        out.update(kind=str(blob.kind), step=blob.step, **graph_def_json(gd))
        out["node_count"] = len(out["nodes"])
        return out
    blob = _latest(run, (GraphKind.RUN_METADATA, GraphKind.TRACE, GraphKind.KERAS), tag)
    if blob is None:
        raise GraphUnavailable("this run has no session run with that tag")
    out.update(kind=str(blob.kind), step=blob.step)
    if blob.kind == GraphKind.KERAS:
        out.update(keras_graph_json(bytes(blob.data)))
        out["node_count"] = len(out["nodes"])
        return out
    rm = _run_metadata(bytes(blob.data))
    pre = [
        fg.pre_optimization_graph
        for fg in rm.function_graphs
        if fg.HasField("pre_optimization_graph")
    ]
    if pre:
        gd = merge_graph_defs(pre)
        _check_size(len(gd.node))
        out.update(graph_def_json(gd))
    else:
        # TF1 profile: the run's own graph, annotated with this session run's statistics.
        base = _latest(run, (GraphKind.GRAPH_DEF,)) or _latest(run, (GraphKind.META_GRAPH_DEF,))
        if base is None:
            raise GraphUnavailable("this session run has statistics but the run has no graph")
        gd = _graph_from_blob(base)
        _check_size(len(gd.node))
        out.update(graph_def_json(gd))
    out["node_count"] = len(out["nodes"])
    if rm.step_stats.dev_stats:
        out["stats"] = run_metadata_stats(rm)
    return out


# Parsed graphs are cached as JSON under the run's version (bumped on every commit), up to this
# size: reopening a graph, or a colleague opening it, costs one cache read.
CACHE_MAX_BYTES = 16 * 1024 * 1024
CACHE_SECONDS = 3600


def graph_payload_json(*, run: Run, tag: str | None = None) -> bytes:
    """`graph_payload` as JSON bytes, cached per run version, tag and node cap."""
    tag_key = hashlib.sha1((tag or "").encode(), usedforsecurity=False).hexdigest()[:16]
    key = f"graphjson:{run.pk}:{run.version}:{max_nodes()}:{tag_key if tag else '-'}"
    try:
        hit = cache.get(key)
    except Exception:  # the cache is an accelerator; the hub is correct without it
        log.warning("panels.graphs.cache_get_failed", exc_info=True)
        hit = None
    if isinstance(hit, bytes):
        return hit
    body = jsonutil.dumps(graph_payload(run=run, tag=tag))
    if len(body) <= CACHE_MAX_BYTES:
        try:
            cache.set(key, body, timeout=CACHE_SECONDS)
        except Exception:
            log.warning("panels.graphs.cache_set_failed", exc_info=True)
    return body
