"""`/api/v1/tokens[/{id}]`: the caller's personal access tokens (admins: everyone's)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from hub import selectors, services
from hub.access import is_admin, require_user, require_write_credentials
from hub.api.common import HubAPIView, created, no_content, via
from hub.api.projects import ERRORS
from hub.api.serializers import TokenCreatedOut, TokenCreateIn, TokenListOut

TAG = ["tokens"]


class TokenListView(HubAPIView):
    @extend_schema(
        operation_id="tokens_list",
        tags=TAG,
        summary="Your tokens (admins: ?all=true for everyone's)",
        parameters=[OpenApiParameter("all", OpenApiTypes.BOOL)],
        responses={200: TokenListOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        user = require_user(request)
        everyone = is_admin(user) and request.query_params.get("all", "").lower() in ("1", "true")
        tokens = selectors.token_list(user=None if everyone else user)
        return Response({"tokens": [selectors.token_detail(t) for t in tokens]})

    @extend_schema(
        operation_id="tokens_create",
        tags=TAG,
        summary="Create a token for yourself (the token is in this response only)",
        request=TokenCreateIn,
        responses={201: TokenCreatedOut, **ERRORS},
    )
    def post(self, request: Request) -> Response:
        user = require_user(request)
        require_write_credentials(request)
        data = self.validated(TokenCreateIn, request.data)
        token, raw = services.token_create(
            user=user,
            name=data.get("name", ""),
            read_only=data.get("read_only", False),
            expires_days=data.get("expires_days"),
            via=via(request),
        )
        return created({**selectors.token_detail(token), "token": raw})


class TokenDetailView(HubAPIView):
    @extend_schema(
        operation_id="tokens_revoke",
        tags=TAG,
        summary="Revoke a token (yours; admins: any)",
        responses={204: None, **ERRORS},
    )
    def delete(self, request: Request, token_id: int) -> Response:
        user = require_user(request)
        require_write_credentials(request)
        token = selectors.token_get(user=user, token_id=token_id)
        services.token_revoke(token=token, actor=user, via=via(request))
        return no_content()
