"""`/api/v1/me`: who the API thinks the caller is."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from hub import selectors
from hub.access import is_admin, is_embedded, request_token, require_user
from hub.api.common import HubAPIView, via
from hub.api.projects import ERRORS
from hub.api.serializers import MeOut


class MeView(HubAPIView):
    @extend_schema(
        operation_id="me_read",
        tags=["accounts"],
        summary="The authenticated caller",
        responses={200: MeOut, **ERRORS},
    )
    def get(self, request: Request) -> Response:
        user = require_user(request)
        token = request_token(request._request)
        return Response(
            {
                "username": user.get_username(),
                "is_admin": is_admin(user),
                "auth": via(request),
                "mode": "embedded" if is_embedded() else "team",
                "token": selectors.token_detail(token) if token is not None else None,
            }
        )
