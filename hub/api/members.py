"""`/api/v1/projects/{slug}/members[/{username}]`: who is in a project, with which role."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from hub import selectors, services
from hub.access import project_access
from hub.api.common import HubAPIView, created, no_content, via
from hub.api.projects import ERRORS
from hub.api.serializers import MemberAddIn, MemberListOut, MemberOut, MemberUpdateIn
from hub.models import Membership

TAG = ["members"]


def member_out(m: Membership) -> dict[str, object]:
    return {
        "username": m.user.get_username(),
        "name": m.user.get_full_name() if hasattr(m.user, "get_full_name") else "",
        "role": m.role,
        "added_at": m.created_at.isoformat(),
        "added_by": m.added_by.get_username() if m.added_by else None,
    }


class MemberListView(HubAPIView):
    @extend_schema(
        operation_id="members_list",
        tags=TAG,
        summary="Members and their roles",
        responses={200: MemberListOut, **ERRORS},
    )
    def get(self, request: Request, slug: str) -> Response:
        access = project_access(request, slug)
        return Response({"members": selectors.member_list(project=access.project)})

    @extend_schema(
        operation_id="members_add",
        tags=TAG,
        summary="Add a member (owners)",
        request=MemberAddIn,
        responses={201: MemberOut, **ERRORS},
    )
    def post(self, request: Request, slug: str) -> Response:
        access = project_access(request, slug, action="member.manage")
        data = self.validated(MemberAddIn, request.data)
        membership = services.member_add(
            project=access.project,
            actor=access.user,
            username=data["username"],
            role=data["role"],
            via=via(request),
        )
        return created(member_out(membership))


class MemberDetailView(HubAPIView):
    @extend_schema(
        operation_id="members_update",
        tags=TAG,
        summary="Change a member's role (owners)",
        request=MemberUpdateIn,
        responses={200: MemberOut, **ERRORS},
    )
    def patch(self, request: Request, slug: str, username: str) -> Response:
        access = project_access(request, slug, action="member.manage")
        membership = selectors.membership_get(project=access.project, username=username)
        data = self.validated(MemberUpdateIn, request.data)
        services.member_update(
            membership=membership, actor=access.user, role=data["role"], via=via(request)
        )
        return Response(member_out(membership))

    @extend_schema(
        operation_id="members_remove",
        tags=TAG,
        summary="Remove a member (owners; any member may leave)",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, slug: str, username: str) -> Response:
        user = request.user
        leaving = user is not None and user.is_authenticated and user.get_username() == username
        action = "project.read" if leaving else "member.manage"
        access = project_access(request, slug, action=action)
        if leaving:
            from hub.access import require_write_credentials

            require_write_credentials(request)
        membership = selectors.membership_get(project=access.project, username=username)
        services.member_remove(membership=membership, actor=access.user, via=via(request))
        return no_content()
