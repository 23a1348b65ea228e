"""`/api/v1/projects/{slug}/audit` (owners, admins) and `/api/v1/audit` (admins): who changed
members, sources, tokens and run visibility, and when. Newest first, paged with `?before=`."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from hub import selectors
from hub.access import AccessDenied, is_admin, project_access, require_user
from hub.api.common import HubAPIView, int_query
from hub.api.projects import ERRORS
from hub.api.serializers import AuditListOut
from hub.models import Project

TAG = ["audit"]
PARAMS = [
    OpenApiParameter("limit", OpenApiTypes.INT, description="1-1000, default 100"),
    OpenApiParameter("before", OpenApiTypes.INT, description="Only events older than this id."),
]


def _page(request: Request, project: Project | None) -> Response:
    limit = int_query(request, "limit", default=100, lo=1, hi=1000) or 100
    before = int_query(request, "before")
    events = selectors.audit_event_list(project=project, limit=limit, before=before)
    return Response(
        {
            "events": [selectors.audit_event_detail(e) for e in events],
            "next_before": events[-1].pk if len(events) == limit else None,
        }
    )


class ProjectAuditView(HubAPIView):
    @extend_schema(
        operation_id="audit_project",
        tags=TAG,
        summary="A project's audit log (owners)",
        parameters=PARAMS,
        responses={200: AuditListOut, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        access = project_access(request, slug, action="audit.read")
        return _page(request, access.project)


class AuditView(HubAPIView):
    @extend_schema(
        operation_id="audit_all",
        tags=TAG,
        summary="The whole audit log (admins)",
        parameters=PARAMS,
        responses={200: AuditListOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        user = require_user(request)
        if not is_admin(user):
            raise AccessDenied("only administrators can read the whole audit log")
        return _page(request, None)
