"""Shared pieces of the hub's API views: the base view, error mapping and request helpers.

Every error is `{"error": "<readable message>"}` (plus `"field"` when one input field is at
fault): 400 for bad input (never 422), 401 without valid credentials, 403 for a role too low or a
read-only token writing, 404 for anything the caller cannot see.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions as drf_exceptions
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hub.access import AccessDenied, NotAuthenticated, ProjectNotFound
from hub.errors import NotFound, ServiceError
from hub.policy import PolicyError


def via(request: Request | Any) -> str:
    """How the caller authenticated, for the audit log: session, token or embedded."""
    raw = getattr(request, "_request", request)
    return str(getattr(raw, "auth_via", "") or "session")


def _first_message(detail: Any, prefix: str = "") -> tuple[str, str]:
    """Flatten DRF's nested validation errors into one readable sentence and its field."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            field = f"{prefix}.{name}" if prefix and name else (name or prefix)
            msg, fld = _first_message(value, field)
            return msg, fld
        return "invalid input", prefix
    if isinstance(detail, list) and detail:
        return _first_message(detail[0], prefix)
    text = str(detail)
    return (f"{prefix}: {text}" if prefix else text), prefix


def error(status_code: int, message: str, field: str = "") -> Response:
    body: dict[str, Any] = {"error": message}
    if field:
        body["field"] = field
    resp = Response(body, status=status_code)
    if status_code == 401:
        resp["WWW-Authenticate"] = 'Bearer realm="tbhub"'
    return resp


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: domain and DRF exceptions → `{"error": …}`."""
    if isinstance(exc, PolicyError):
        return error(400, exc.message, exc.field)
    if isinstance(exc, ServiceError):
        return error(400, exc.message, exc.field)
    if isinstance(exc, NotAuthenticated):
        return error(401, "authentication required")
    if isinstance(exc, AccessDenied):
        return error(403, str(exc) or "permission denied")
    if isinstance(exc, ProjectNotFound | NotFound | Http404):
        message = str(exc) if isinstance(exc, NotFound) and str(exc) else "not found"
        return error(404, message)
    if isinstance(exc, DjangoPermissionDenied):
        return error(403, "permission denied")
    if isinstance(exc, drf_exceptions.ValidationError):
        message, field = _first_message(exc.detail)
        return error(400, message, field)
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return error(400, "the request body must be JSON (Content-Type: application/json)")
    if isinstance(exc, drf_exceptions.ParseError):
        return error(400, f"the request body is not valid JSON ({exc.detail})")
    if isinstance(exc, drf_exceptions.NotAuthenticated | drf_exceptions.AuthenticationFailed):
        return error(401, "authentication required")
    if isinstance(exc, drf_exceptions.PermissionDenied):
        return error(403, str(exc.detail))
    if isinstance(exc, drf_exceptions.NotFound):
        return error(404, "not found")
    if isinstance(exc, drf_exceptions.MethodNotAllowed):
        resp = error(405, f"method {context['request'].method} not allowed")
        return resp
    if isinstance(exc, drf_exceptions.Throttled):
        return error(429, "too many requests")
    if isinstance(exc, drf_exceptions.APIException):
        return error(exc.status_code, str(exc.detail))
    return None


class HubAPIView(APIView):
    """Base of every hub API view: JSON in and out, authenticated, errors as `{"error": …}`."""

    permission_classes = [IsAuthenticated]

    def validated(
        self, serializer_class: type[serializers.Serializer], data: Any
    ) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise ServiceError("the request body must be a JSON object")
        ser = serializer_class(data=data)
        ser.is_valid(raise_exception=True)
        return dict(ser.validated_data)


def created(body: dict[str, Any]) -> Response:
    return Response(body, status=status.HTTP_201_CREATED)


def no_content() -> Response:
    return Response(status=status.HTTP_204_NO_CONTENT)


def int_query(
    request: Request, name: str, *, default: int | None = None, lo: int = 1, hi: int = 10**12
) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError as exc:
        raise ServiceError(f"'{name}' must be an integer", field=name) from exc
    if not lo <= value <= hi:
        raise ServiceError(f"'{name}' must be between {lo} and {hi}", field=name)
    return value
