"""GRAPHS panel endpoints.

GET /api/v1/projects/{slug}/graphs/info?run=NAME|run_id=ID   → the run's graph and session runs
GET /api/v1/projects/{slug}/graphs/info                      → the same for every run with one
GET /api/v1/projects/{slug}/graphs?run=NAME|run_id=ID[&tag=T] → the graph as JSON (413 when it
                                                               exceeds TBHUB_GRAPH_MAX_NODES)

`graph_info(request, scope)` and `graph(request, scope)` build the payloads for any
`panels.scopes.RunScope`: the project endpoints above and, with the same paths, those under
`/api/v1/comparisons/{id}/` and `/api/v1/shared/{token}/` (issue #5).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from hub.access import project_for_read
from panels.api.common import api_errors, json_response, param
from panels.api.data import run_from_params
from panels.kinds import graphs as kind
from panels.kinds.http import json_bytes_gzip
from panels.scopes import ProjectScope, RunScope


def graph_info(request: HttpRequest, scope: RunScope) -> HttpResponse:
    if request.GET.get("run") or request.GET.get("run_id"):
        return json_response({"runs": [kind.graph_index(run=run_from_params(request, scope))]})
    with_graph = kind.graph_run_ids(runs=scope.runs_queryset())
    out = [
        kind.graph_index(run=scope.run_get(run_id=rid))
        for rid in scope.ordered_run_ids()
        if rid in with_graph
    ]
    return json_response({"runs": out})


def graph(request: HttpRequest, scope: RunScope) -> HttpResponse:
    run = run_from_params(request, scope)
    tag = param(request, "tag")
    try:
        body = kind.graph_payload_json(run=run, tag=tag)
    except kind.GraphTooLarge as exc:
        return json_response(
            {"error": str(exc), "node_count": exc.node_count, "max_nodes": exc.max_nodes},
            status=413,
        )
    except kind.GraphUnavailable as exc:
        return json_response({"error": str(exc)}, status=404)
    return json_bytes_gzip(request, body)


@require_GET
@api_errors
def project_graph_info(request: HttpRequest, slug: str) -> HttpResponse:
    return graph_info(request, ProjectScope(project_for_read(request, slug)))


@require_GET
@api_errors
def project_graph(request: HttpRequest, slug: str) -> HttpResponse:
    return graph(request, ProjectScope(project_for_read(request, slug)))
