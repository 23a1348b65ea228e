"""`/api/v1/projects/{slug}/runs/…`: run status for the project page, hide/unhide and notes.

The runs list with tags (`GET …/runs`) is a data endpoint in `panels.api.data`.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from hub import selectors, services
from hub.access import project_access
from hub.api.common import HubAPIView, via
from hub.api.projects import ERRORS
from hub.api.serializers import RunStatusListOut, RunStatusOut, RunUpdateIn
from hub.errors import NotFound
from hub.models import Project

TAG = ["runs"]


def run_status(project: Project, run_id: int) -> dict[str, object]:
    rows = selectors.run_status_list(project=project, run_ids=[run_id])
    if not rows:
        raise NotFound("no such run")
    return rows[0]


class RunStatusListView(HubAPIView):
    @extend_schema(
        operation_id="runs_status_list",
        tags=TAG,
        summary="Runs with their ingest status (files, bytes read/total, lag, errors)",
        parameters=[
            OpenApiParameter(
                "regex",
                OpenApiTypes.STR,
                description="Filter run names (case-insensitive, anywhere).",
            ),
            OpenApiParameter("sort", OpenApiTypes.STR, enum=sorted(selectors.RUN_SORTS)),
            OpenApiParameter("order", OpenApiTypes.STR, enum=["asc", "desc"]),
            OpenApiParameter(
                "hidden", OpenApiTypes.BOOL, description="Include hidden runs (default true)."
            ),
        ],
        responses={200: RunStatusListOut, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        access = project_access(request, slug)
        params = request.query_params
        rows = selectors.run_status_list(
            project=access.project,
            regex=params.get("regex") or None,
            sort=params.get("sort") or "name",
            descending=params.get("order") == "desc",
            include_hidden=params.get("hidden", "true").lower() not in ("0", "false", "no"),
        )
        return Response({"runs": rows})


class RunDetailView(HubAPIView):
    @extend_schema(
        operation_id="runs_read",
        tags=TAG,
        summary="One run's ingest status",
        responses={200: RunStatusOut, **ERRORS},
    )
    def get(self, request: Request, slug: str, run_id: int) -> Response:
        access = project_access(request, slug)
        return Response(run_status(access.project, run_id))

    @extend_schema(
        operation_id="runs_update",
        tags=TAG,
        summary="Hide/unhide a run or edit its note (editors)",
        request=RunUpdateIn,
        responses={200: RunStatusOut, **ERRORS},
    )
    def patch(self, request: Request, slug: str, run_id: int) -> Response:
        access = project_access(request, slug, action="run.update")
        run = selectors.run_get(project=access.project, run_id=run_id)
        data = self.validated(RunUpdateIn, request.data)
        services.run_update(
            run=run,
            user=access.user,
            project=access.project,
            hidden=data.get("hidden"),
            note=data.get("note"),
            via=via(request),
        )
        return Response(run_status(access.project, run_id))
