"""How a request proves who it is. Documented in docs/ARCHITECTURE.md#authentication.

- Pages: Django sessions (login form or SSO), CSRF enforced on every write.
- API: the same session (CSRF enforced), or `Authorization: Bearer <personal access token>`
  (no CSRF: a browser never attaches that header on its own). `hub.middleware` resolves tokens
  once per request; this module exposes the result to Django REST framework views.
- Embedded mode: the single local user, no login.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.authentication import BaseAuthentication, CSRFCheck
from rest_framework.exceptions import PermissionDenied
from rest_framework.request import Request

LOCAL_USERNAME = "local"


def local_user() -> Any:
    """The embedded mode's single user: a superuser without a password, created on first use.
    (One indexed lookup per request; not cached in the process, so it can never go stale.)"""
    model = get_user_model()
    user, created = model.objects.get_or_create(
        username=LOCAL_USERNAME, defaults={"is_superuser": True, "is_staff": True}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _dummy_get_response(request: Any) -> None:  # pragma: no cover - never called
    return None


class HubAuthentication(BaseAuthentication):
    """DRF view of what `hub.middleware.HubAuthMiddleware` established. Session (and embedded)
    callers must pass Django's CSRF check on unsafe methods; token callers need not."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        raw = request._request
        user = getattr(raw, "user", None)
        if user is None or not user.is_authenticated:
            return None
        via = getattr(raw, "auth_via", "")
        if via == "token":
            return user, getattr(raw, "auth_token", None)
        self.enforce_csrf(request)
        return user, None

    def enforce_csrf(self, request: Request) -> None:
        # Check the Django request itself: it reads a form body's csrfmiddlewaretoken without
        # making DRF parse (and reject) a body that is not JSON.
        raw = request._request
        check = CSRFCheck(_dummy_get_response)
        check.process_request(raw)
        reason = check.process_view(raw, None, (), {})
        if reason:
            raise PermissionDenied(f"CSRF check failed: {reason}")

    def authenticate_header(self, request: Request) -> str:
        # Having a header makes DRF answer 401 (not 403) to unauthenticated requests.
        return 'Bearer realm="tbhub"'
