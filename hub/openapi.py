"""OpenAPI schema extras for /api/v1/schema (drf-spectacular).

- The security schemes: a personal access token (`Authorization: Bearer …`) or the browser
  session (with Django's CSRF token on writes).
- The data endpoints (`panels.api.data`, `panels.api.downloads`) are plain Django views, which
  drf-spectacular does not see; `add_data_endpoints` documents them here, by hand, without
  touching the views. An entry is only added when its URL resolves, so the schema never lists
  an endpoint the hub does not serve.
"""

from __future__ import annotations

from typing import Any

from django.urls import Resolver404, resolve
from drf_spectacular.extensions import OpenApiAuthenticationExtension


class HubAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "hub.authentication.HubAuthentication"
    name = ["bearerAuth", "cookieAuth"]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "A personal access token (create one on the Tokens page or with "
                "`tbhub token create --user U`). Token requests need no CSRF token.",
            },
            {
                "type": "apiKey",
                "in": "cookie",
                "name": "sessionid",
                "description": "The browser session; writes also need the X-CSRFToken header.",
            },
        ]


def _param(
    name: str,
    description: str,
    *,
    required: bool = False,
    schema: dict[str, Any] | None = None,
    where: str = "query",
) -> dict[str, Any]:
    return {
        "name": name,
        "in": where,
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


SLUG = _param("slug", "Project slug.", required=True, where="path")
RUN = _param("run", "Run name (relative to its source's root). Give `run` or `run_id`.")
RUN_ID = _param(
    "run_id",
    "Run id (tells apart runs of the same name in two sources).",
    schema={"type": "integer"},
)
TAG = _param("tag", "Tag name.", required=True)
ERROR = {"$ref": "#/components/schemas/ErrorOut"}
NUMBER = {
    "oneOf": [{"type": "number"}, {"type": "string", "enum": ["NaN", "Infinity", "-Infinity"]}],
    "description": "float32 values are widened exactly (0.1f → 0.10000000149011612); "
    "non-finite values are strings.",
}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors() -> dict[str, Any]:
    return {
        "400": _json(ERROR, "Bad input"),
        "401": _json(ERROR, "No valid credentials"),
        "404": _json(ERROR, "No such project, run, tag or image (for this caller)"),
    }


def _op(
    op_id: str, summary: str, params: list[dict[str, Any]], ok: dict[str, Any]
) -> dict[str, Any]:
    return {
        "get": {
            "operationId": op_id,
            "summary": summary,
            "tags": ["data"],
            "parameters": params,
            "responses": {"200": ok, **_errors()},
            "security": [{"bearerAuth": []}, {"cookieAuth": []}],
        }
    }


def _points(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "run": {"type": "string"},
            "tag": {"type": "string"},
            "points": {
                "type": "array",
                "items": {
                    "type": "array",
                    "description": "[step (integer), wall_time (seconds), value]. "
                    + str(value.get("description", "")),
                    "minItems": 3,
                    "maxItems": 3,
                    "items": {},
                },
            },
        },
    }


RUN_OUT = {
    "type": "object",
    "properties": {
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer"},
                    "name": {"type": "string"},
                    "source": {"type": "integer", "description": "Source id."},
                    "start_time": {"type": "number", "nullable": True},
                    "last_update": {"type": "number", "nullable": True},
                    "last_step": {"type": "integer", "nullable": True},
                    "hidden": {"type": "boolean"},
                    "note": {"type": "string"},
                    "tags": {
                        "type": "object",
                        "description": "Tags per kind: scalars, histograms, distributions, "
                        "images, text.",
                        "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    },
                    "graph": {"type": "boolean"},
                    "status": {"type": "object"},
                },
            },
        }
    },
}

SCALAR_PARAMS = [
    RUN,
    RUN_ID,
    TAG,
    _param(
        "max_points",
        "Downsample to at most N points (min/max preserving). Every point without it.",
        schema={"type": "integer", "minimum": 2},
    ),
    _param(
        "x",
        "Axis for start/end and downsampling.",
        schema={"type": "string", "enum": ["step", "wall", "relative"]},
    ),
    _param("start", "Only points with x >= start.", schema={"type": "number"}),
    _param("end", "Only points with x <= end.", schema={"type": "number"}),
    _param("format", "json (default) or csv.", schema={"type": "string", "enum": ["json", "csv"]}),
]

_STR = {"type": "string"}
_TIME = {"type": "number", "nullable": True, "description": "POSIX seconds; null when unset."}
HPARAMS_OUT = {
    "type": "object",
    "description": "TensorBoard's hparams plugin data over the visible runs (README.md#api).",
    "properties": {
        "experiment": {
            "type": "object",
            "properties": {
                "name": _STR,
                "description": _STR,
                "user": _STR,
                "time_created": _TIME,
                "inferred": {
                    "type": "boolean",
                    "description": "No `_hparams_/experiment`: columns inferred from sessions.",
                },
            },
        },
        "hparams": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": _STR,
                    "display_name": _STR,
                    "description": _STR,
                    "type": {"type": "string", "enum": ["float", "string", "bool", "unset"]},
                    "domain": {
                        "type": "object",
                        "nullable": True,
                        "description": '{"values": […]} (discrete) or {"min", "max"} (interval).',
                    },
                    "differs": {"type": "boolean"},
                },
            },
        },
        "metrics": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "group": {"type": "string", "description": "Sub-run below the session."},
                    "tag": _STR,
                    "display_name": _STR,
                    "description": _STR,
                    "dataset": {"type": "string", "enum": ["training", "validation", "unknown"]},
                },
            },
        },
        "sessions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "run_id": {"type": "integer"},
                    "run": _STR,
                    "group_name": _STR,
                    "status": {
                        "type": "string",
                        "enum": ["unknown", "success", "failure", "running"],
                    },
                    "start_time": _TIME,
                    "end_time": _TIME,
                    "model_uri": _STR,
                    "monitor_url": _STR,
                    "hparams": {"type": "object", "additionalProperties": {}},
                    "metrics": {
                        "type": "array",
                        "description": "Aligned with `metrics`; null when missing.",
                        "items": {
                            "type": "object",
                            "nullable": True,
                            "properties": {
                                "value": NUMBER,
                                "step": {"type": "integer"},
                                "wall_time": {"type": "number"},
                                "run_id": {"type": "integer"},
                            },
                        },
                    },
                },
            },
        },
    },
}

DOWNLOAD_PARAMS = [
    _param(
        "run",
        "Run name; repeat for many runs.",
        schema={"type": "array", "items": {"type": "string"}},
    ),
    _param(
        "run_id",
        "Run id; repeat for many runs.",
        schema={"type": "array", "items": {"type": "integer"}},
    ),
    _param(
        "tag",
        "Scalar tag; repeat for many. Default: every scalar tag of the runs.",
        schema={"type": "array", "items": {"type": "string"}},
    ),
    _param("format", "csv (default) or json.", schema={"type": "string", "enum": ["csv", "json"]}),
]


def data_paths() -> dict[str, dict[str, Any]]:
    p = "/api/v1/projects/{slug}"
    return {
        f"{p}/runs": _op(
            "data_runs",
            "Every run with its tags per kind and ingest status",
            [SLUG],
            _json(RUN_OUT),
        ),
        f"{p}/scalars": _op(
            "data_scalars",
            "A scalar series: every point, or a min/max-preserving downsample",
            [SLUG, *SCALAR_PARAMS],
            {
                "description": "OK",
                "content": {
                    "application/json": {"schema": _points(NUMBER)},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
        ),
        f"{p}/histograms": _op(
            "data_histograms",
            "Histogram buckets per step",
            [SLUG, RUN, RUN_ID, TAG],
            _json(_points({"type": "array", "description": "[[left, right, count], …]"})),
        ),
        f"{p}/distributions": _op(
            "data_distributions",
            "The nine distribution percentiles per step",
            [SLUG, RUN, RUN_ID, TAG],
            _json(
                _points(
                    {
                        "type": "array",
                        "description": "[v0 … v8] at basis points 0, 668, "
                        "1587, 3085, 5000, 6915, 8413, 9332, 10000",
                    }
                )
            ),
        ),
        f"{p}/images": _op(
            "data_images",
            "Steps of an image tag with image ids, sizes and URLs",
            [SLUG, RUN, RUN_ID, TAG],
            _json({"type": "object"}),
        ),
        f"{p}/images/{{image_id}}": {
            "get": {
                "operationId": "data_image_bytes",
                "summary": "The encoded image (PNG/JPEG/GIF), cacheable by ETag",
                "tags": ["data"],
                "parameters": [
                    SLUG,
                    _param(
                        "image_id",
                        "Image id.",
                        required=True,
                        where="path",
                        schema={"type": "integer"},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The image bytes",
                        "content": {"image/png": {}, "image/jpeg": {}, "image/gif": {}},
                    },
                    "304": {"description": "Not modified"},
                    **_errors(),
                },
                "security": [{"bearerAuth": []}, {"cookieAuth": []}],
            }
        },
        f"{p}/graphs": _op(
            "data_graphs",
            "The run's graph as JSON for the graph panel",
            [SLUG, RUN, RUN_ID, _param("tag", "Tagged run metadata (optional).")],
            _json({"type": "object"}),
        ),
        f"{p}/scalars/batch": _op(
            "data_scalars_batch",
            "One tag of many runs in one request (each run downsampled like …/scalars)",
            [
                SLUG,
                TAG,
                _param(
                    "run_id",
                    "Run id; repeat it (or run_ids=1,2,3).",
                    required=True,
                    schema={"type": "array", "items": {"type": "integer"}},
                ),
                _param("run_ids", "Comma-separated run ids."),
                *SCALAR_PARAMS[3:7],
            ],
            _json(
                {
                    "type": "object",
                    "properties": {
                        "tag": {"type": "string"},
                        "x": {"type": "string"},
                        "max_points": {"type": "integer"},
                        "runs": {"type": "object", "additionalProperties": _points(NUMBER)},
                        "missing": {"type": "array", "items": {"type": "integer"}},
                    },
                }
            ),
        ),
        f"{p}/graphs/info": _op(
            "data_graphs_info",
            "What graphs and run metadata a run has",
            [SLUG, RUN, RUN_ID],
            _json({"type": "object"}),
        ),
        f"{p}/prefs": {
            **_op(
                "prefs_read",
                "Your saved dashboard settings for this project",
                [SLUG],
                _json({"type": "object", "properties": {"prefs": {"type": "object"}}}),
            ),
            "put": {
                "operationId": "prefs_update",
                "summary": "Merge (or with ?replace=1 replace) your dashboard settings",
                "tags": ["data"],
                "parameters": [SLUG, _param("replace", "1 replaces the whole document.")],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": _json({"type": "object"}), **_errors()},
                "security": [{"bearerAuth": []}, {"cookieAuth": []}],
            },
        },
        f"{p}/text": _op(
            "data_text",
            "Text summaries per step",
            [SLUG, RUN, RUN_ID, TAG],
            _json({"type": "object"}),
        ),
        f"{p}/scalars/download": _op(
            "data_scalars_download",
            "CSV or JSON download of scalars for one or many runs and tags (every point)",
            [SLUG, *DOWNLOAD_PARAMS],
            {
                "description": "An attachment",
                "content": {
                    "text/csv": {
                        "schema": {"type": "string", "description": "run,tag,step,wall_time,value"}
                    },
                    "application/json": {"schema": {"type": "object"}},
                },
            },
        ),
        f"{p}/hparams": _op(
            "data_hparams",
            "The HPARAMS view: sessions (runs), their hyperparameters and last metric values",
            [SLUG],
            _json(HPARAMS_OUT),
        ),
        "/api/v1/runs": _op(
            "embedded_runs", "Embedded mode: the runs of the one log directory", [], _json(RUN_OUT)
        ),
        "/api/v1/scalars": _op(
            "embedded_scalars",
            "Embedded mode: a scalar series",
            SCALAR_PARAMS,
            _json(_points(NUMBER)),
        ),
    }


# Below a comparison's prefixes (issue #5) the data endpoints answer with the same payloads, over
# the comparison's available runs only (panels/api/shared.py, ENDPOINTS).
COMPARISON_DATA = (
    "scalars",
    "histograms",
    "distributions",
    "images",
    "images/{image_id}",
    "text",
    "scalars/batch",
    "graphs",
    "graphs/info",
    "hparams",
)
TOKEN = _param(
    "token",
    "A share link's token (`POST /api/v1/comparisons/{key}/links`).",
    required=True,
    where="path",
)
KEY = _param("key", "The comparison's id (its short key).", required=True, where="path")
SHARED_OUT = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "state": {"type": "object", "description": "The saved view state."},
        "version": {"type": "string"},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "integer", "description": "The run's project-level id."},
                    "project": {"type": "string"},
                    "project_name": {"type": "string"},
                    "name": {"type": "string"},
                    "alias": {"type": "string"},
                    "display_name": {"type": "string"},
                    "available": {"type": "boolean"},
                    "reason": {
                        "type": "string",
                        "nullable": True,
                        "enum": ["hidden", "deleted", "missing", None],
                    },
                    "tags": {"type": "object"},
                    "graph": {"type": "boolean"},
                    "start_time": _TIME,
                    "last_update": _TIME,
                    "last_step": {"type": "integer", "nullable": True},
                },
            },
        },
    },
}


def comparison_paths() -> dict[str, dict[str, Any]]:
    """The share-link and owner copies of the data endpoints, derived from the project ones."""
    project = data_paths()
    out: dict[str, dict[str, Any]] = {}
    prefixes: tuple[tuple[str, dict[str, Any], str, list[dict[str, Any]] | None], ...] = (
        # A public link needs no credentials; `members`/`users` links need the right user.
        ("/api/v1/shared/{token}", TOKEN, "shared", [{}, {"bearerAuth": []}, {"cookieAuth": []}]),
        ("/api/v1/comparisons/{key}", KEY, "comparison", None),
    )
    for prefix, ident, op_prefix, security in prefixes:
        who = "share link" if op_prefix == "shared" else "comparison (its owner or an admin)"
        if op_prefix == "shared":
            out[prefix] = _op(
                "shared_view",
                "What a share link shows: title, saved view state, runs with availability",
                [TOKEN],
                _json(SHARED_OUT),
            )
            out[prefix]["get"]["security"] = security
        for name in COMPARISON_DATA:
            item = project[f"/api/v1/projects/{{slug}}/{name}"]["get"]
            op = {
                **item,
                "operationId": f"{op_prefix}_{item['operationId']}",
                "summary": f"{item['summary']} — through a {who}",
                "tags": ["comparisons"],
                "parameters": [ident, *[q for q in item["parameters"] if q is not SLUG]],
            }
            if security is not None:
                op["security"] = security
            out[f"{prefix}/{name}"] = {"get": op}
    return out


def _served(path: str) -> bool:
    sample = (
        path.replace("{slug}", "x")
        .replace("{image_id}", "1")
        .replace("{token}", "t" * 32)
        .replace("{key}", "k1")
    )
    try:
        resolve(sample)
    except Resolver404:
        return False
    return True


def add_data_endpoints(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """POSTPROCESSING_HOOKS entry: add the plain-Django data endpoints to the schema."""
    paths = result.setdefault("paths", {})
    for path, item in {**data_paths(), **comparison_paths()}.items():
        if path not in paths and _served(path):
            paths[path] = item
    result["paths"] = dict(sorted(paths.items()))
    tags = result.setdefault("tags", [])
    if not any(t.get("name") == "data" for t in tags):
        tags.append({"name": "data", "description": "Stored TensorBoard data, per project."})
    if not any(t.get("name") == "comparisons" for t in tags):
        tags.append(
            {
                "name": "comparisons",
                "description": "A comparison's data: through a share link, or for its owner. "
                "Only the comparison's available runs exist there.",
            }
        )
    return result
