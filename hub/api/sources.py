"""`/api/v1/projects/{slug}/sources…`: log sources, their status and "Test access".

Credentials are write-only: responses only ever say `"credentials_set": true|false`.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from hub import selectors, services
from hub.access import project_access
from hub.api.common import HubAPIView, created, no_content, via
from hub.api.projects import ERRORS
from hub.api.serializers import (
    AccessReportOut,
    SourceCreateIn,
    SourceListOut,
    SourceOut,
    SourceUpdateIn,
)

TAG = ["sources"]


class SourceListView(HubAPIView):
    @extend_schema(
        operation_id="sources_list",
        tags=TAG,
        summary="The project's log sources",
        responses={200: SourceListOut, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        access = project_access(request, slug)
        return Response({"sources": selectors.source_list(project=access.project)})

    @extend_schema(
        operation_id="sources_create",
        tags=TAG,
        summary="Add a log source (editors). Validates only; ingest starts at once.",
        request=SourceCreateIn,
        responses={201: SourceOut, **ERRORS},
    )
    def post(self, request: Request, slug: str) -> Response:
        access = project_access(request, slug, action="source.create")
        data = self.validated(SourceCreateIn, request.data)
        source = services.source_create(
            project=access.project,
            user=access.user,
            url=data["url"],
            options=data.get("options"),
            credentials=data.get("credentials"),
            via=via(request),
        )
        return created(selectors.source_detail(source, runs=0))


class SourceDetailView(HubAPIView):
    @extend_schema(
        operation_id="sources_read",
        tags=TAG,
        summary="One log source",
        responses={200: SourceOut, **ERRORS},
    )
    def get(self, request: Request, slug: str, source_id: int) -> Response:
        access = project_access(request, slug)
        source = selectors.source_get(project=access.project, source_id=source_id)
        return Response(selectors.source_detail(source, runs=source.runs.count()))

    @extend_schema(
        operation_id="sources_update",
        tags=TAG,
        summary="Change a source's options or credentials (editors)",
        request=SourceUpdateIn,
        responses={200: SourceOut, **ERRORS},
    )
    def patch(self, request: Request, slug: str, source_id: int) -> Response:
        access = project_access(request, slug, action="source.update")
        source = selectors.source_get(project=access.project, source_id=source_id)
        data_in = request.data
        if isinstance(data_in, dict) and data_in.get("url", source.url) != source.url:
            from hub.errors import ServiceError

            raise ServiceError(
                "a source's url cannot be changed: add a new source instead", field="url"
            )
        data = self.validated(SourceUpdateIn, request.data)
        kwargs = {k: data[k] for k in ("options", "credentials") if k in data}
        services.source_update(source=source, user=access.user, via=via(request), **kwargs)
        return Response(selectors.source_detail(source, runs=source.runs.count()))

    @extend_schema(
        operation_id="sources_delete",
        tags=TAG,
        summary="Delete a source and its runs' stored data (owners)",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, slug: str, source_id: int) -> Response:
        access = project_access(request, slug, action="source.delete")
        source = selectors.source_get(project=access.project, source_id=source_id)
        services.source_delete(source=source, user=access.user, via=via(request))
        return no_content()


class SourceTestView(HubAPIView):
    @extend_schema(
        operation_id="sources_test",
        tags=TAG,
        summary="Test access: list the prefix and report runs and event files (editors)",
        request=None,
        responses={200: AccessReportOut, **ERRORS},
    )
    def post(self, request: Request, slug: str, source_id: int) -> Response:
        access = project_access(request, slug, action="source.test")
        source = selectors.source_get(project=access.project, source_id=source_id)
        report = services.source_test_access(source=source)
        return Response(report.as_dict())


class SourceRefreshView(HubAPIView):
    @extend_schema(
        operation_id="sources_refresh",
        tags=TAG,
        summary="List the source now instead of at its next scheduled listing (editors)",
        request=None,
        responses={202: SourceOut, **ERRORS},
    )
    def post(self, request: Request, slug: str, source_id: int) -> Response:
        access = project_access(request, slug, action="source.refresh")
        source = selectors.source_get(project=access.project, source_id=source_id)
        services.source_refresh(source=source)
        return Response(selectors.source_detail(source, runs=source.runs.count()), status=202)
