"""Request-level rules for the hub. Documented in docs/ARCHITECTURE.md#authentication.

`HubAuthMiddleware` (after Django's AuthenticationMiddleware):
- embedded mode: every request is the single local user (no login, loopback only);
- team mode, `/api/…`: `Authorization: Bearer <token>` authenticates as the token's user
  (no CSRF needed); an unknown, revoked or expired token is a 401 even if a session cookie is
  present; a read-only token never writes (403); no valid credentials at all is a 401 JSON error.

`ApiJsonErrorsMiddleware`: everything under `/api/` answers JSON, errors included (Django's own
404/405/500 pages are HTML), and never a redirect.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

from hub.access import is_embedded

log = logging.getLogger("hub.middleware")

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PREFIX = "/api/"
# Browsable docs are pages: anonymous visitors are sent to the login form, not given JSON.
API_PAGES = frozenset({"/api/v1/docs", "/api/v1/redoc"})
# Reads through a share link (issue #5): a public link needs no login. The views check the link
# (hub.comparisons.link_resolve) on every request and only answer GET.
API_SHARED_PREFIX = "/api/v1/shared/"
WWW_AUTHENTICATE = 'Bearer realm="tbhub"'


def is_api(request: HttpRequest) -> bool:
    return request.path_info.startswith(API_PREFIX)


def api_error(status: int, message: str) -> JsonResponse:
    resp = JsonResponse({"error": message}, status=status)
    resp["Cache-Control"] = "no-store"
    if status == 401:
        resp["WWW-Authenticate"] = WWW_AUTHENTICATE
    return resp


def _bearer(header: str) -> str | None:
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    value = value.strip()
    return value or None


class HubAuthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.auth_token = None  # type: ignore[attr-defined]
        request.auth_via = ""  # type: ignore[attr-defined]
        if is_embedded():
            return self._embedded(request)
        api = is_api(request)
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if api and header:
            from hub.services import token_authenticate

            raw = _bearer(header)
            token = token_authenticate(raw=raw) if raw else None
            if token is None:
                return api_error(401, "invalid, expired or revoked token")
            request.user = token.user
            request.auth_token = token  # type: ignore[attr-defined]
            request.auth_via = "token"  # type: ignore[attr-defined]
            # A browser never sends this header on its own, so CSRF cannot apply.
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
            if token.read_only and request.method not in SAFE_METHODS:
                return api_error(403, "this token is read-only")
        elif getattr(request, "user", None) is not None and request.user.is_authenticated:
            request.auth_via = "session"  # type: ignore[attr-defined]
        if (
            api
            and request.auth_via == ""  # type: ignore[attr-defined]
            and request.path_info not in API_PAGES
            and not request.path_info.startswith(API_SHARED_PREFIX)
        ):
            if hasattr(request, "user"):
                request.user = AnonymousUser()
            return api_error(401, "authentication required")
        return self.get_response(request)

    def _embedded(self, request: HttpRequest) -> HttpResponse:
        from hub.authentication import local_user

        request.user = local_user()
        request.auth_via = "embedded"  # type: ignore[attr-defined]
        # Scripts on this machine (no Origin, no cookies) need no CSRF token; anything a browser
        # sends (browsers always add Origin to writes) still needs one.
        meta = request.META
        if (
            request.method not in SAFE_METHODS
            and not meta.get("HTTP_ORIGIN")
            and not meta.get("HTTP_COOKIE")
            and not meta.get("HTTP_SEC_FETCH_SITE")
        ):
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]
        return self.get_response(request)


# Exceptions Django turns into 4xx responses itself (then made JSON in __call__).
_HANDLED_BY_DJANGO = (Http404, PermissionDenied, BadRequest, SuspiciousOperation)

_MESSAGES = {
    400: "bad request",
    401: "authentication required",
    403: "permission denied",
    404: "not found",
    405: "method not allowed",
    413: "request body too large",
    500: "internal error",
}


class ApiJsonErrorsMiddleware:
    """Make every error under /api/ a JSON `{"error": …}` and every redirect a 404."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api(request):
            try:
                query = request.GET.lists()
            except SuspiciousOperation as exc:  # e.g. more than DATA_UPLOAD_MAX_NUMBER_FIELDS
                return api_error(400, str(exc) or "bad request")
            if any("\x00" in key or any("\x00" in v for v in values) for key, values in query):
                # PostgreSQL cannot hold U+0000: a run or tag name with one would be a 500.
                return api_error(400, "query parameters must not contain NUL characters")
        response = self.get_response(request)
        if not is_api(request) or request.path_info in API_PAGES:
            return response
        status = response.status_code
        ctype = response.get("Content-Type", "")
        if 300 <= status < 400 and status != 304:
            return api_error(404, "not found")
        if status >= 400 and not ctype.startswith("application/json"):
            new = api_error(status, _MESSAGES.get(status, "error"))
            for header in ("Allow", "WWW-Authenticate"):
                if header in response:
                    new[header] = response[header]
            return new
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_api(request) or isinstance(exception, _HANDLED_BY_DJANGO):
            return None
        log.error("hub.api.unhandled", extra={"path": request.path_info})
        return api_error(500, "internal error")
