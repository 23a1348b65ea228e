"""Shared helpers for API views: JSON responses with tbhub's number format, errors, parameters."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.db import DataError
from django.http import HttpRequest, HttpResponse

from hub.access import AccessDenied, NotAuthenticated, ProjectNotFound
from panels.selectors import NotFound
from tbhub import jsonutil

MAX_PARAM_CHARS = 4096


class BadRequest(Exception):
    """Invalid input (→ 400 with a readable message)."""


def json_bytes_response(body: bytes, status: int = 200) -> HttpResponse:
    resp = HttpResponse(body, status=status, content_type="application/json")
    resp["Cache-Control"] = "no-cache, must-revalidate"
    resp["X-Content-Type-Options"] = "nosniff"
    return resp


def json_response(obj: Any, status: int = 200) -> HttpResponse:
    return json_bytes_response(jsonutil.dumps(obj), status=status)


def error_response(status: int, message: str) -> HttpResponse:
    return json_response({"error": message}, status=status)


def api_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Map domain exceptions to the API's status codes (400/401/403/404)."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except BadRequest as exc:
            return error_response(400, str(exc))
        except NotAuthenticated:
            return error_response(401, "authentication required")
        except AccessDenied as exc:
            return error_response(403, str(exc) or "permission denied")
        except (NotFound, ProjectNotFound) as exc:
            return error_response(404, str(exc) if isinstance(exc, NotFound) else "not found")
        except DataError:
            # The database refused a value the caller sent (e.g. U+0000, which PostgreSQL text
            # and jsonb cannot hold): the request is at fault, not the server.
            return error_response(400, "a value in this request cannot be stored or searched")

    return wrapper


def param(request: HttpRequest, name: str, *, required: bool = False) -> str | None:
    value = request.GET.get(name)
    if value is None or value == "":
        if required:
            raise BadRequest(f"missing query parameter '{name}'")
        return None
    if len(value) > MAX_PARAM_CHARS:
        raise BadRequest(f"query parameter '{name}' is longer than {MAX_PARAM_CHARS} characters")
    return value


def int_param(
    request: HttpRequest, name: str, *, minimum: int | None = None, maximum: int | None = None
) -> int | None:
    raw = param(request, name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"'{name}' must be an integer") from exc
    if minimum is not None and value < minimum:
        raise BadRequest(f"'{name}' must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise BadRequest(f"'{name}' must be at most {maximum}")
    return value


def float_param(request: HttpRequest, name: str) -> float | None:
    raw = param(request, name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise BadRequest(f"'{name}' must be a number") from exc
    if value != value or value in (float("inf"), float("-inf")):
        raise BadRequest(f"'{name}' must be a finite number")
    return value


def choice_param(request: HttpRequest, name: str, choices: tuple[str, ...], default: str) -> str:
    raw = param(request, name)
    if raw is None:
        return default
    if raw not in choices:
        raise BadRequest(f"'{name}' must be one of: {', '.join(choices)}")
    return raw
