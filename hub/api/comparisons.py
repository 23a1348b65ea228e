"""`/api/v1/comparisons[/{id}[/duplicate|/links[/{token}]]]`: the caller's comparisons and their
share links (issue #5; README.md#api).

Every path here needs the comparison owner's (or an admin's) credentials: anyone else gets the
same 404 as for an id that does not exist. Others read a comparison only through a link
(`/api/v1/shared/{token}`, panels.api.shared).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.response import Response

from hub import comparisons
from hub.access import require_user, require_write_credentials
from hub.api.common import HubAPIView, created, no_content, via
from hub.api.serializers import ErrorOut
from hub.errors import ServiceError
from hub.models import Comparison, ShareKind

TAG = ["comparisons"]
ERRORS: dict[int, Any] = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut}


class ComparisonRunOut(serializers.Serializer):
    id = serializers.IntegerField(help_text="the run's id in its project (runs list `id`)")
    project = serializers.CharField()
    project_name = serializers.CharField()
    name = serializers.CharField()
    alias = serializers.CharField()
    display_name = serializers.CharField()
    available = serializers.BooleanField()
    reason = serializers.ChoiceField(
        choices=["hidden", "deleted", "missing"], allow_null=True, required=False
    )
    tags = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
    graph = serializers.BooleanField()


class ComparisonCreateIn(serializers.Serializer):
    title = serializers.CharField(max_length=comparisons.MAX_TITLE_CHARS)
    runs = serializers.ListField(
        child=serializers.JSONField(),
        help_text='run ids, or {"id": run_id, "alias": "…"} objects, in display order',
    )
    state = serializers.DictField(required=False, help_text="the view state (dashboard keys)")


class ComparisonUpdateIn(serializers.Serializer):
    title = serializers.CharField(required=False)
    runs = serializers.ListField(child=serializers.JSONField(), required=False)
    state = serializers.DictField(required=False, help_text="replaces the saved view state")


class ComparisonDuplicateIn(serializers.Serializer):
    title = serializers.CharField(required=False)


class ComparisonOut(serializers.Serializer):
    id = serializers.CharField()
    url = serializers.CharField()
    title = serializers.CharField()
    owner = serializers.CharField()
    run_count = serializers.IntegerField()
    active_links = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    state = serializers.DictField()
    runs = ComparisonRunOut(many=True)
    version = serializers.CharField()


class ComparisonListOut(serializers.Serializer):
    comparisons = serializers.ListField(child=serializers.DictField())


class LinkCreateIn(serializers.Serializer):
    public = serializers.BooleanField(required=False)
    members = serializers.BooleanField(required=False)
    users = serializers.ListField(child=serializers.CharField(), required=False)
    expires_in_days = serializers.IntegerField(required=False)


class LinkOut(serializers.Serializer):
    id = serializers.IntegerField()
    token = serializers.CharField(allow_null=True)
    url = serializers.CharField(allow_null=True)
    kind = serializers.ChoiceField(choices=ShareKind.values)
    users = serializers.ListField(child=serializers.CharField())
    status = serializers.ChoiceField(choices=["active", "revoked", "expired"])
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class LinkListOut(serializers.Serializer):
    links = LinkOut(many=True)


def _body(request: Request) -> dict[str, Any]:
    if not isinstance(request.data, dict):
        raise ServiceError("the request body must be a JSON object")
    return dict(request.data)


def _owned(request: Request, key: str) -> tuple[Any, Comparison]:
    user = require_user(request)
    return user, comparisons.comparison_for_owner(user=user, key=key)


def link_kind(body: dict[str, Any]) -> str:
    """`{"public": true}` | `{"members": true}` | `{"users": […]}` → the link kind."""
    kinds = [k for k in (ShareKind.PUBLIC, ShareKind.MEMBERS) if body.get(k) is True]
    if "users" in body:
        kinds.append(ShareKind.USERS)
    if len(kinds) != 1:
        raise ServiceError(
            'give exactly one of {"public": true}, {"members": true} or {"users": [username, …]}',
            field="kind",
        )
    return str(kinds[0])


class ComparisonListView(HubAPIView):
    @extend_schema(
        operation_id="comparisons_list",
        tags=TAG,
        summary="The caller's comparisons",
        responses={200: ComparisonListOut, 401: ErrorOut},
    )
    def get(self, request: Request) -> Response:
        user = require_user(request)
        items = comparisons.comparison_list(user=user)
        return Response(
            {"comparisons": [comparisons.comparison_summary(c, request=request) for c in items]}
        )

    @extend_schema(
        operation_id="comparisons_create",
        tags=TAG,
        summary="Save a comparison of runs you can read (any run you cannot read: 404)",
        request=ComparisonCreateIn,
        responses={201: ComparisonOut, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        user = require_user(request)
        require_write_credentials(request)
        body = _body(request)
        comparison = comparisons.comparison_create(
            user=user,
            title=body.get("title"),
            runs=body.get("runs"),
            state=body.get("state"),
            via=via(request),
        )
        return created(comparisons.comparison_detail(comparison, request=request))


class ComparisonDetailView(HubAPIView):
    @extend_schema(
        operation_id="comparisons_read",
        tags=TAG,
        summary="A comparison with its runs and view state (owner or admin)",
        responses={200: ComparisonOut, **ERRORS},
    )
    def get(self, request: Request, key: str) -> Response:
        _, comparison = _owned(request, key)
        return Response(comparisons.comparison_detail(comparison, request=request))

    @extend_schema(
        operation_id="comparisons_update",
        tags=TAG,
        summary="Rename, replace the runs or replace the view state",
        request=ComparisonUpdateIn,
        responses={200: ComparisonOut, **ERRORS},
    )
    def patch(self, request: Request, key: str) -> Response:
        user, comparison = _owned(request, key)
        require_write_credentials(request)
        body = _body(request)
        comparisons.comparison_update(
            comparison=comparison,
            user=user,
            title=body.get("title"),
            runs=body.get("runs"),
            state=body.get("state"),
            via=via(request),
        )
        return Response(comparisons.comparison_detail(comparison, request=request))

    @extend_schema(
        operation_id="comparisons_delete",
        tags=TAG,
        summary="Delete a comparison and every link to it",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, key: str) -> Response:
        user, comparison = _owned(request, key)
        require_write_credentials(request)
        comparisons.comparison_delete(comparison=comparison, user=user, via=via(request))
        return no_content()


class ComparisonDuplicateView(HubAPIView):
    @extend_schema(
        operation_id="comparisons_duplicate",
        tags=TAG,
        summary="Copy a comparison (runs, aliases, view state; never its links)",
        request=ComparisonDuplicateIn,
        responses={201: ComparisonOut, **ERRORS},
    )
    def post(self, request: Request, key: str) -> Response:
        user, comparison = _owned(request, key)
        require_write_credentials(request)
        # The body is optional: `curl -X POST …/duplicate` copies with the default title.
        try:
            data = request.data
        except UnsupportedMediaType:
            data = {}
        body = dict(data) if isinstance(data, dict) else {}
        copy = comparisons.comparison_duplicate(
            comparison=comparison, user=user, title=body.get("title"), via=via(request)
        )
        return created(comparisons.comparison_detail(copy, request=request))


class LinkListView(HubAPIView):
    @extend_schema(
        operation_id="comparison_links_list",
        tags=TAG,
        summary="The comparison's share links: kind, who created them, last use, expiry",
        responses={200: LinkListOut, **ERRORS},
    )
    def get(self, request: Request, key: str) -> Response:
        _, comparison = _owned(request, key)
        links = comparisons.link_list(comparison=comparison)
        return Response({"links": [comparisons.link_detail(x, request=request) for x in links]})

    @extend_schema(
        operation_id="comparison_links_create",
        tags=TAG,
        summary='Create a link: {"public": true}, {"members": true} or {"users": [...]}',
        request=LinkCreateIn,
        responses={201: LinkOut, **ERRORS},
    )
    def post(self, request: Request, key: str) -> Response:
        user, comparison = _owned(request, key)
        require_write_credentials(request)
        body = _body(request)
        link, raw = comparisons.link_create(
            comparison=comparison,
            user=user,
            kind=link_kind(body),
            usernames=body.get("users"),
            expires_in_days=body.get("expires_in_days"),
            via=via(request),
        )
        out = comparisons.link_detail(link, request=request)
        out["token"] = raw
        out["url"] = comparisons.absolute(request, comparisons.link_path(raw))
        return created(out)


class LinkDetailView(HubAPIView):
    @extend_schema(
        operation_id="comparison_links_revoke",
        tags=TAG,
        summary="Revoke a link at once (idempotent)",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, key: str, token: str) -> Response:
        user, comparison = _owned(request, key)
        require_write_credentials(request)
        link = comparisons.link_get(comparison=comparison, raw=token)
        comparisons.link_revoke(link=link, user=user, via=via(request))
        return no_content()
