"""`/api/v1/projects` and `/api/v1/projects/{slug}`: list, create, read, change, delete."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from hub import selectors, services
from hub.access import ProjectAccess, project_access, require_user, require_write_credentials
from hub.api.common import HubAPIView, created, no_content, via
from hub.api.serializers import (
    ErrorOut,
    ProjectCreateIn,
    ProjectListOut,
    ProjectOut,
    ProjectUpdateIn,
)
from hub.errors import ServiceError

TAG = ["projects"]
ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut}

PERMISSIONS = {
    "update_project": "project.update",
    "delete_project": "project.delete",
    "manage_members": "member.manage",
    "edit_sources": "source.update",
    "delete_sources": "source.delete",
    "edit_runs": "run.update",
    "read_audit": "audit.read",
    "delete_run_data": "run.delete_data",
    "reingest_runs": "run.reingest",
    "manage_retention": "retention.manage",
}


def project_out(access: ProjectAccess) -> dict[str, Any]:
    body = selectors.project_detail(project=access.project, role=access.role)
    body["permissions"] = {name: access.can(action) for name, action in PERMISSIONS.items()}
    return body


class ProjectListView(HubAPIView):
    @extend_schema(
        operation_id="projects_list",
        tags=TAG,
        summary="The caller's projects",
        responses={200: ProjectListOut, 401: ErrorOut},
    )
    def get(self, request: Request) -> Response:
        user = require_user(request)
        return Response({"projects": selectors.project_list(user=user)})

    @extend_schema(
        operation_id="projects_create",
        tags=TAG,
        summary="Create a project (the creator becomes its owner)",
        request=ProjectCreateIn,
        responses={201: ProjectOut, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        user = require_user(request)
        require_write_credentials(request)
        data = self.validated(ProjectCreateIn, request.data)
        project = services.project_create(
            user=user,
            name=data["name"],
            slug=data["slug"],
            description=data.get("description", ""),
            via=via(request),
        )
        return created(project_out(project_access(request, project.slug)))


class ProjectDetailView(HubAPIView):
    @extend_schema(
        operation_id="projects_read",
        tags=TAG,
        summary="One project",
        responses={200: ProjectOut, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        return Response(project_out(project_access(request, slug)))

    @extend_schema(
        operation_id="projects_update",
        tags=TAG,
        summary="Change a project's name or description (owners)",
        request=ProjectUpdateIn,
        responses={200: ProjectOut, **ERRORS},
    )
    def patch(self, request: Request, slug: str) -> Response:
        access = project_access(request, slug, action="project.update")
        data_in = request.data
        if (
            isinstance(data_in, dict)
            and data_in.get("slug", access.project.slug) != access.project.slug
        ):
            raise ServiceError("a project's slug cannot be changed", field="slug")
        data = self.validated(ProjectUpdateIn, request.data)
        services.project_update(
            project=access.project,
            user=access.user,
            name=data.get("name"),
            description=data.get("description"),
            via=via(request),
        )
        return Response(project_out(access))

    @extend_schema(
        operation_id="projects_delete",
        tags=TAG,
        summary="Delete a project and its stored data (owners; the logs are not touched)",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, slug: str) -> Response:
        access = project_access(request, slug, action="project.delete")
        services.project_delete(project=access.project, user=access.user, via=via(request))
        return no_content()
