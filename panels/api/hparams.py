"""HPARAMS: TensorBoard's hparams plugin data over a scope's runs, as one JSON view (issue 4).

    GET /api/v1/projects/{slug}/hparams        (team and embedded mode)
    GET /api/v1/shared/{token}/hparams         (share links, via panels.api.shared.ENDPOINTS)
    GET /api/v1/comparisons/{id}/hparams       (a comparison's owner)
    → {"experiment": {...}, "hparams": [...], "metrics": [...], "sessions": [...]}

The contract is in README.md (API section). What the writers leave behind (reference
tensorboard.md, "HParams"): metadata-only summaries whose SummaryMetadata.plugin_data.content is a
serialized `HParamsPluginData`, under three tags. Ingest keeps each tag's first content on its
`Series` (plugin "hparams"); this module decodes them with our own `ingest/proto/hparams.proto`
and follows TensorBoard's plugin:

- a session is a run with a `_hparams_/session_start_info`; its status and end time come from
  `_hparams_/session_end_info` when the run has one;
- the experiment (hparam and metric columns) comes from `_hparams_/experiment` contents, merged
  when several runs carry one (PyTorch's `add_hparams` writes one per session run); without any it
  is inferred from the sessions' values and their runs' scalar tags;
- metric (group g, tag t) of session S is the scalar series t of run S (g empty) or of run
  `normpath(S/g)` in the same source, and its value is the point with the highest step (ties: the
  last written).

Reads are a fixed number of queries whatever the number of sessions and metrics: the runs, the
hparams contents, the scalar series' ids, and one row per series holding only the last point of
the chunk with the highest step (sliced out of the chunk's columns by the database), plus, rarely,
the whole chunks whose highest step is not their last point. The payload is cached under the
scope's runs and their versions (every commit bumps a run's version), so it is never stale.

Bad content never fails the request: undecodable or oversized contents and hostile sizes are
skipped, counted and logged (`panels.hparams.skipped`).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import math
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import BinaryField, Case, F, IntegerField, OuterRef, Subquery, Value, When
from django.db.models.functions import Substr
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from google.protobuf.message import DecodeError
from google.protobuf.struct_pb2 import Value as PbValue

from hub.access import project_for_read
from ingest.models import Kind, ScalarChunk, Series
from ingest.proto import hparams_pb2
from ingest.store import chunk_arrays
from panels.api.common import api_errors, json_bytes_response
from panels.scopes import ProjectScope, RunScope
from tbhub import jsonutil
from tbhub.cacheutil import cache_get, cache_set

log = logging.getLogger("panels.hparams")

PLUGIN = "hparams"
TAG_EXPERIMENT = "_hparams_/experiment"
TAG_START = "_hparams_/session_start_info"
TAG_END = "_hparams_/session_end_info"
TAG_PREFIX = "_hparams_/"

# Hostile-size limits. A real experiment is a few KiB with tens of columns; anything beyond these
# is skipped (and counted) rather than turned into a response a browser cannot render.
MAX_CONTENT_BYTES = 1 << 20
MAX_HPARAMS = 1000  # distinct hparam columns
MAX_METRICS = 1000  # distinct metric columns
MAX_SESSION_HPARAMS = 1000  # values in one session
MAX_DOMAIN_VALUES = 1000  # values of one discrete domain
MAX_TEXT_CHARS = 10_000  # one name, description, URI, string value
CACHE_SECONDS = 600

TYPE_NAMES = {
    hparams_pb2.DATA_TYPE_UNSET: "unset",
    hparams_pb2.DATA_TYPE_STRING: "string",
    hparams_pb2.DATA_TYPE_BOOL: "bool",
    hparams_pb2.DATA_TYPE_FLOAT64: "float",
}
DATASET_NAMES = {
    hparams_pb2.DATASET_UNKNOWN: "unknown",
    hparams_pb2.DATASET_TRAINING: "training",
    hparams_pb2.DATASET_VALIDATION: "validation",
}
STATUS_NAMES = {
    hparams_pb2.STATUS_UNKNOWN: "unknown",
    hparams_pb2.STATUS_SUCCESS: "success",
    hparams_pb2.STATUS_FAILURE: "failure",
    hparams_pb2.STATUS_RUNNING: "running",
}

_MISSING = object()


# ---- asciinumeric order (the run selector's, panels/frontend/src/sort.ts) ------------------------

_NUMBER = re.compile(r"\d+(?:\.\d*)?(?:[eE][+-]?\d+)?")


def _is_break(c: str) -> bool:
    return c == "/" or c == "_" or "0" <= c <= "9"


def _consume_number(s: str, i: int) -> int:
    """End of the number starting at s[i] (a digit), by sort.ts's state machine."""
    state = "natural"
    n = len(s)
    i += 1
    while i < n:
        c = s[i]
        digit = "0" <= c <= "9"
        if state == "natural":
            if c == ".":
                state = "real"
            elif c in "eE":
                state = "exp_sign"
            elif not digit:
                break
        elif state == "real":
            if c in "eE":
                state = "exp_sign"
            elif not digit:
                break
        elif state == "exp_sign":
            if digit or c in "+-":
                state = "exp"
            else:
                break
        elif not digit:
            break
        i += 1
    return i


def _parse_float(text: str) -> float:
    """JavaScript's parseFloat on a number sort.ts consumed ("1e" → 1, "1.5e+" → 1.5)."""
    m = _NUMBER.match(text)
    return float(m.group(0)) if m else math.nan


def compare_names(a: str, b: str) -> int:
    """TensorBoard's asciinumeric comparison, exactly as the run selector does it: digit runs
    compare as numbers and `/`, `_` and digits sort before any other character."""
    ai = bi = 0
    while True:
        if ai == len(a):
            return 0 if bi == len(b) else -1
        if bi == len(b):
            return 1
        ca, cb = a[ai], b[bi]
        if "0" <= ca <= "9" and "0" <= cb <= "9":
            ae, be = _consume_number(a, ai), _consume_number(b, bi)
            an, bn = _parse_float(a[ai:ae]), _parse_float(b[bi:be])
            if an < bn:
                return -1
            if an > bn:
                return 1
            ai, bi = ae, be
            continue
        if _is_break(ca):
            if not _is_break(cb):
                return -1
        elif _is_break(cb):
            return 1
        elif ca < cb:
            return -1
        elif ca > cb:
            return 1
        ai += 1
        bi += 1


_name_key = functools.cmp_to_key(compare_names)


# ---- decoding ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Run:
    id: int
    name: str
    source_id: int


@dataclass(slots=True)
class _Session:
    run: _Run
    hparams: dict[str, Any]
    group_name: str
    start_time: float | None
    model_uri: str
    monitor_url: str
    status: str = "unknown"
    end_time: float | None = None


@dataclass(slots=True)
class _Build:
    """One payload under construction, with the count of contents it had to skip."""

    skipped: int = 0
    reasons: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if len(self.reasons) < 10:
            self.reasons.append(reason)


def _text(raw: bytes) -> str:
    return raw[: MAX_TEXT_CHARS * 4].decode("utf-8", "replace")[:MAX_TEXT_CHARS]


def _time(secs: float) -> float | None:
    # proto3 cannot tell an unset double from 0.0; no writer means the epoch.
    return secs if secs else None


def _decode(content: bytes, expected: str, run: _Run, build: _Build) -> Any:
    """The `expected` member of a HParamsPluginData, or None (skipped and counted)."""
    where = f"run {run.name!r} ({run.id})"
    if len(content) > MAX_CONTENT_BYTES:
        build.skip(f"{where}: {expected} content of {len(content)} bytes")
        return None
    data = hparams_pb2.HParamsPluginData()
    try:
        data.ParseFromString(content)
    except (DecodeError, RecursionError, ValueError):
        build.skip(f"{where}: undecodable {expected}")
        return None
    if data.WhichOneof("data") != expected:
        build.skip(f"{where}: {expected} tag without {expected} data")
        return None
    return getattr(data, expected)


def value_json(v: PbValue) -> Any:
    """A google.protobuf.Value as JSON: numbers stay numbers (non-finite ones become tbhub's
    strings when serialised), strings, booleans, null, and lists/structs as arrays/objects."""
    kind = v.WhichOneof("kind")
    if kind == "number_value":
        return float(v.number_value)
    if kind == "string_value":
        return v.string_value[:MAX_TEXT_CHARS]
    if kind == "bool_value":
        return bool(v.bool_value)
    if kind == "list_value":
        return [value_json(x) for x in v.list_value.values[:MAX_DOMAIN_VALUES]]
    if kind == "struct_value":
        items = list(v.struct_value.fields.items())[:MAX_DOMAIN_VALUES]
        return {k[:MAX_TEXT_CHARS]: value_json(x) for k, x in items}
    return None


def _session(run: _Run, content: bytes, build: _Build) -> _Session | None:
    info = _decode(content, "session_start_info", run, build)
    if info is None:
        return None
    if len(info.hparams) > MAX_SESSION_HPARAMS:
        build.skip(f"run {run.name!r} ({run.id}): {len(info.hparams)} hparams in one session")
        return None
    return _Session(
        run=run,
        hparams={k[:MAX_TEXT_CHARS]: value_json(v) for k, v in sorted(info.hparams.items())},
        group_name=_text(info.group_name),
        start_time=_time(info.start_time_secs),
        model_uri=_text(info.model_uri),
        monitor_url=_text(info.monitor_url),
    )


# ---- experiment ------------------------------------------------------------------------------------


def _value_type(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return None


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return jsonutil.dumps(value).decode()


def _differs(name: str, sessions: list[_Session]) -> bool:
    """True unless every session has the same value (a session without the hparam differs from
    one with it: the sessions do not all share one value)."""
    seen = {jsonutil.dumps(s.hparams.get(name)) if name in s.hparams else b"" for s in sessions}
    return len(seen) > 1


def _inferred_hparam(name: str, sessions: list[_Session]) -> dict[str, Any]:
    """An hparam column from the sessions' values alone (TensorBoard's inference): the type of
    the values (mixed types are strings), a discrete domain of the distinct values for strings
    and booleans, the finite min/max for numbers."""
    values = [s.hparams[name] for s in sessions if name in s.hparams]
    types = {t for t in map(_value_type, values) if t is not None}
    kind = "unset" if not types else types.pop() if len(types) == 1 else "string"
    domain: dict[str, Any] | None = None
    typed = [v for v in values if _value_type(v) is not None]
    if kind == "float":
        finite = [v for v in typed if math.isfinite(v)]
        if finite:
            domain = {"min": min(finite), "max": max(finite)}
    elif kind == "bool":
        domain = {"values": sorted(set(typed))}
    elif kind == "string":
        distinct = sorted({_as_text(v) for v in typed}, key=_name_key)
        if len(distinct) <= MAX_DOMAIN_VALUES:
            domain = {"values": distinct}
    return {
        "name": name,
        "display_name": "",
        "description": "",
        "type": kind,
        "domain": domain,
        "differs": _differs(name, sessions),
    }


def _hparam_info(info: Any, sessions: list[_Session]) -> dict[str, Any]:
    name = _text(info.name)
    domain: dict[str, Any] | None = None
    which = info.WhichOneof("domain")
    if which == "domain_discrete":
        domain = {
            "values": [value_json(v) for v in info.domain_discrete.values[:MAX_DOMAIN_VALUES]]
        }
    elif which == "domain_interval":
        domain = {
            "min": float(info.domain_interval.min_value),
            "max": float(info.domain_interval.max_value),
        }
    return {
        "name": name,
        "display_name": _text(info.display_name),
        "description": _text(info.description),
        "type": TYPE_NAMES.get(info.type, "unset"),
        "domain": domain,
        # proto3 cannot tell "false" from "not set": false means "compute it".
        "differs": bool(info.differs) or _differs(name, sessions),
    }


def _metric_info(info: Any) -> dict[str, Any]:
    return {
        "group": _text(info.name.group),
        "tag": _text(info.name.tag),
        "display_name": _text(info.display_name),
        "description": _text(info.description),
        "dataset": DATASET_NAMES.get(info.dataset_type, "unknown"),
    }


def _merged_experiment(
    experiments: list[Any], sessions: list[_Session], build: _Build
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Experiments in order (the root run's first): each header field from the first that sets
    it; hparam columns unioned by name and metric columns by (group, tag), first one wins."""
    header: dict[str, Any] = {
        "name": "",
        "description": "",
        "user": "",
        "time_created": None,
        "inferred": False,
    }
    hparams: dict[str, dict[str, Any]] = {}
    metrics: dict[tuple[str, str], dict[str, Any]] = {}
    for exp in experiments:
        for key, raw in (("name", exp.name), ("description", exp.description), ("user", exp.user)):
            if not header[key] and raw:
                header[key] = _text(raw)
        if header["time_created"] is None:
            header["time_created"] = _time(exp.time_created_secs)
        for hinfo in exp.hparam_infos:
            name = _text(hinfo.name)
            if name in hparams:
                continue
            if len(hparams) >= MAX_HPARAMS:
                build.skip(f"more than {MAX_HPARAMS} hparams")
                break
            hparams[name] = _hparam_info(hinfo, sessions)
        for minfo in exp.metric_infos:
            metric = _metric_info(minfo)
            key2 = (metric["group"], metric["tag"])
            if key2 in metrics:
                continue
            if len(metrics) >= MAX_METRICS:
                build.skip(f"more than {MAX_METRICS} metrics")
                break
            metrics[key2] = metric
    return header, list(hparams.values()), list(metrics.values())


def _inferred_hparams(sessions: list[_Session], build: _Build) -> list[dict[str, Any]]:
    names = sorted({n for s in sessions for n in s.hparams}, key=_name_key)
    if len(names) > MAX_HPARAMS:
        build.skip(f"{len(names)} distinct hparams (more than {MAX_HPARAMS})")
        names = names[:MAX_HPARAMS]
    return [_inferred_hparam(n, sessions) for n in names]


def _session_of(
    run: _Run, session_names: dict[tuple[int, str], _Session]
) -> tuple[_Session, str] | None:
    """The nearest session at or above `run` in its source, and the run's path below it (the
    metric group; "" for the session's own run). "." (the root) is above every run."""
    name = run.name
    path = name
    while True:
        found = session_names.get((run.source_id, path))
        if found is not None:
            group = "" if path == name else posixpath.relpath(name, path)
            return found, group
        if path in (".", ""):
            return None
        parent = posixpath.dirname(path)
        path = parent if parent else "."


# ---- last points ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Last:
    step: int
    wall_time: float
    value: float


def last_points(series_ids: Iterable[int]) -> dict[int, _Last]:
    """The point with the highest step (ties: the last written) of each scalar series, reading
    one chunk per series and, from it, only the last point's bytes; a chunk whose highest step
    is not its last point (a step that went back within the chunk) is read whole. Two queries
    at most, whatever the number of series."""
    ids = list(series_ids)
    if not ids:
        return {}
    top = (
        ScalarChunk.objects.filter(series_id=OuterRef("pk"))
        .order_by("-max_step", "-seq")
        .values("pk")[:1]
    )
    top_ids = Series.objects.filter(pk__in=ids).annotate(top=Subquery(top)).values("top")
    width = Case(When(dtype="f4", then=Value(4)), default=Value(8), output_field=IntegerField())
    last8 = (F("count") - 1) * 8 + 1
    rows = (
        ScalarChunk.objects.filter(pk__in=top_ids)
        .annotate(
            last_step=Substr("steps", last8, 8, output_field=BinaryField()),
            last_wall=Substr("wall_times", last8, 8, output_field=BinaryField()),
            last_value=Substr(
                "values", (F("count") - 1) * width + 1, width, output_field=BinaryField()
            ),
        )
        .values_list("pk", "series_id", "max_step", "dtype", "last_step", "last_wall", "last_value")
    )
    out: dict[int, _Last] = {}
    whole: dict[int, int] = {}  # chunk pk → series id
    for pk, sid, max_step, dtype, raw_s, raw_w, raw_v in rows:
        raw_s, raw_w, raw_v = bytes(raw_s or b""), bytes(raw_w or b""), bytes(raw_v or b"")
        width_v = 4 if dtype == "f4" else 8
        if len(raw_s) != 8 or len(raw_w) != 8 or len(raw_v) != width_v:
            whole[pk] = sid
            continue
        step = int(np.frombuffer(raw_s, "<i8")[0])
        if step != max_step:
            whole[pk] = sid
            continue
        out[sid] = _Last(
            step=step,
            wall_time=float(np.frombuffer(raw_w, "<f8")[0]),
            value=float(np.frombuffer(raw_v, "<" + dtype)[0]),
        )
    if whole:
        for chunk in ScalarChunk.objects.filter(pk__in=list(whole)).only(
            "steps", "wall_times", "values", "dtype"
        ):
            steps, walls, values = chunk_arrays(chunk)
            n = min(len(steps), len(walls), len(values))
            if not n:
                continue
            steps = steps[:n]
            i = int(np.flatnonzero(steps == steps.max())[-1])
            out[whole[chunk.pk]] = _Last(int(steps[i]), float(walls[i]), float(values[i]))
    return out


# ---- the payload ---------------------------------------------------------------------------------


def _cache_key(scope: RunScope) -> tuple[str, list[_Run]]:
    rows = sorted(
        scope.runs_queryset().filter(hidden=False).values_list("id", "name", "source_id", "version")
    )
    sig = hashlib.sha1(
        ",".join(f"{i}:{v}" for i, _, _, v in rows).encode(), usedforsecurity=False
    ).hexdigest()
    runs = [_Run(id=i, name=n, source_id=s) for i, n, s, _ in rows]
    return f"hparams:{sig}:{len(rows)}", runs


def hparams_payload(runs: list[_Run]) -> tuple[dict[str, Any], int]:
    """The HPARAMS payload over `runs` (a scope's visible runs), and how many contents were
    skipped as bad. Bounded number of queries: see the module docstring."""
    build = _Build()
    by_id = {r.id: r for r in runs}
    ordered = sorted(runs, key=lambda r: (r.name != ".", _name_key(r.name), r.id))
    contents: dict[tuple[int, str], bytes] = {}
    for run_id, tag, content in Series.objects.filter(
        run_id__in=list(by_id), tag__in=(TAG_EXPERIMENT, TAG_START, TAG_END), plugin=PLUGIN
    ).values_list("run_id", "tag", "plugin_content"):
        contents[(run_id, tag)] = bytes(content or b"")

    sessions: list[_Session] = []
    experiments: list[Any] = []
    for run in ordered:
        raw_exp = contents.get((run.id, TAG_EXPERIMENT))
        if raw_exp is not None:
            exp = _decode(raw_exp, "experiment", run, build)
            if exp is not None:
                experiments.append(exp)
        raw_start = contents.get((run.id, TAG_START))
        if raw_start is None:
            continue
        session = _session(run, raw_start, build)
        if session is None:
            continue
        raw_end = contents.get((run.id, TAG_END))
        if raw_end is not None:
            end = _decode(raw_end, "session_end_info", run, build)
            if end is not None:
                session.status = STATUS_NAMES.get(end.status, "unknown")
                session.end_time = _time(end.end_time_secs)
        sessions.append(session)
    # The run selector's order: asciinumeric by name, then id (the root is not special here).
    sessions.sort(key=lambda s: (_name_key(s.run.name), s.run.id))

    by_path = {(r.source_id, r.name): r for r in runs}
    session_names = {(s.run.source_id, s.run.name): s for s in sessions}
    # (session run id, group) → the run holding that session's metrics of that group.
    targets: dict[tuple[int, str], _Run] = {}
    if experiments:
        header, columns, metrics = _merged_experiment(experiments, sessions, build)
        for s in sessions:
            for m in metrics:
                g = m["group"]
                name = s.run.name if g in ("", ".") else posixpath.normpath(f"{s.run.name}/{g}")
                target = by_path.get((s.run.source_id, name))
                if target is not None:
                    targets[(s.run.id, g)] = target
        wanted = {m["tag"] for m in metrics}
        found = list(
            Series.objects.filter(
                run_id__in=sorted({t.id for t in targets.values()}),
                kind=Kind.SCALAR,
                tag__in=sorted(wanted),
                count__gt=0,
            ).values_list("id", "run_id", "tag")
        )
    else:
        header = {
            "name": "",
            "description": "",
            "user": "",
            "time_created": None,
            "inferred": True,
        }
        columns = _inferred_hparams(sessions, build)
        members: dict[int, tuple[_Session, str]] = {}
        if sessions:
            for run in runs:
                hit = _session_of(run, session_names)
                if hit is not None:
                    members[run.id] = hit
                    targets[(hit[0].run.id, hit[1])] = run
        found = list(
            Series.objects.filter(run_id__in=sorted(members), kind=Kind.SCALAR, count__gt=0)
            .exclude(tag__startswith=TAG_PREFIX)
            .values_list("id", "run_id", "tag")
        )
        names = sorted(
            {(members[rid][1], tag) for _, rid, tag in found},
            key=lambda gt: (_name_key(gt[0]), _name_key(gt[1])),
        )
        if len(names) > MAX_METRICS:
            build.skip(f"{len(names)} distinct metrics (more than {MAX_METRICS})")
            names = names[:MAX_METRICS]
        metrics = [
            {"group": g, "tag": t, "display_name": "", "description": "", "dataset": "unknown"}
            for g, t in names
        ]

    series_of = {(rid, tag): sid for sid, rid, tag in found}
    # Only the series some session's metric column points at (columns may have been capped).
    needed = {
        series_of[pair]
        for s in sessions
        for m in metrics
        if (target := targets.get((s.run.id, m["group"]))) is not None
        and (pair := (target.id, m["tag"])) in series_of
    }
    lasts = last_points(needed)
    out_sessions = []
    for s in sessions:
        values: list[dict[str, Any] | None] = []
        for m in metrics:
            target = targets.get((s.run.id, m["group"]))
            sid = series_of.get((target.id, m["tag"])) if target is not None else None
            last = lasts.get(sid) if sid is not None else None
            if target is None or last is None:
                values.append(None)
                continue
            values.append(
                {
                    "value": last.value,
                    "step": last.step,
                    "wall_time": last.wall_time,
                    "run_id": target.id,
                }
            )
        out_sessions.append(
            {
                "run_id": s.run.id,
                "run": s.run.name,
                "group_name": s.group_name,
                "status": s.status,
                "start_time": s.start_time,
                "end_time": s.end_time,
                "model_uri": s.model_uri,
                "monitor_url": s.monitor_url,
                "hparams": s.hparams,
                "metrics": values,
            }
        )
    payload = {
        "experiment": header,
        "hparams": columns,
        "metrics": metrics,
        "sessions": out_sessions,
    }
    if build.skipped:
        log.warning(
            "panels.hparams.skipped",
            extra={"skipped": build.skipped, "reasons": build.reasons},
        )
    return payload, build.skipped


def hparams_view(request: HttpRequest, scope: RunScope) -> HttpResponse:
    """The HPARAMS view of `scope` (any `panels.scopes.RunScope`: project, comparison, link)."""
    key, runs = _cache_key(scope)
    cached = cache_get(key)
    if isinstance(cached, bytes):
        return json_bytes_response(cached)
    payload, _ = hparams_payload(runs)
    body = jsonutil.dumps(payload)
    cache_set(key, body, timeout=CACHE_SECONDS)
    return json_bytes_response(body)


@require_GET
@api_errors
def project_hparams(request: HttpRequest, slug: str) -> HttpResponse:
    return hparams_view(request, ProjectScope(project_for_read(request, slug)))
