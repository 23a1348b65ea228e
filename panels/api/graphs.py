"""GRAPHS panel endpoints.

GET /api/v1/projects/{slug}/graphs/info?run=NAME|run_id=ID   → the run's graph and session runs
GET /api/v1/projects/{slug}/graphs/info                      → the same for every run with one
GET /api/v1/projects/{slug}/graphs?run=NAME|run_id=ID[&tag=T] → the graph as JSON (413 when it
                                                               exceeds TBHUB_GRAPH_MAX_NODES)
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from hub.access import project_for_read
from hub.models import Project
from ingest.models import Run
from panels import selectors
from panels.api.common import BadRequest, api_errors, int_param, json_response, param
from panels.kinds import graphs as kind
from panels.kinds.http import json_bytes_gzip


def _run(request: HttpRequest, project: Project) -> Run:
    run_id = int_param(request, "run_id", minimum=1)
    if run_id is not None:
        return selectors.run_get(project=project, run_id=run_id)
    name = param(request, "run")
    if name is None:
        raise BadRequest("missing query parameter 'run' (or 'run_id')")
    return selectors.run_get(project=project, name=name)


@require_GET
@api_errors
def project_graph_info(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_read(request, slug)
    if request.GET.get("run") or request.GET.get("run_id"):
        return json_response({"runs": [kind.graph_index(run=_run(request, project))]})
    run_ids = kind.graph_run_ids(runs=selectors.runs_queryset(project=project))
    runs = [r for r in selectors.runs_list(project=project) if r["id"] in run_ids]
    out = [kind.graph_index(run=selectors.run_get(project=project, run_id=r["id"])) for r in runs]
    return json_response({"runs": out})


@require_GET
@api_errors
def project_graph(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_read(request, slug)
    run = _run(request, project)
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
