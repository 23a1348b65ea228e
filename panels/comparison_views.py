"""Comparison dashboards (issue #5): the dashboard front end in "comparison" mode.

- `/c/{id}`: the owner (or an admin) — data from `/api/v1/comparisons/{id}/…`, live through
  `ws/comparisons/{id}`, and a "Save view" that PATCHes the comparison's state.
- `/s/{token}`: anyone the link admits — data from `/api/v1/shared/{token}/…`, live through
  `ws/shared/{token}`; read-only. A public link needs no login; a members/users link sends an
  anonymous visitor to the login form; anything else (revoked, expired, unknown, not admitted)
  is a 404 page.

The page embeds the comparison's view (`hub.comparisons.view_payload`) as JSON (`json_script`),
like the project dashboard embeds its runs, so the first render needs no extra round trip.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from hub import comparisons
from hub.access import NotAuthenticated, is_embedded, request_user
from hub.errors import NotFound
from panels.views import bundle

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'self'"
)


def _render(
    request: HttpRequest,
    *,
    resolved: comparisons.Resolved,
    api: str,
    ws: str,
    owner: bool,
    manage: str | None,
) -> HttpResponse:
    embedded = is_embedded()
    user = request_user(request)
    view = comparisons.view_payload(resolved)
    config: dict[str, Any] = {
        "project": {"slug": "", "name": resolved.comparison.title},
        "mode": "embedded" if embedded else "team",
        "api": api,
        "ws": ws,
        "user": "" if user is None else str(user.get_username()),
        "home": None if embedded or user is None else "/",
        "logout": None if embedded or user is None else "/accounts/logout/",
        "comparison": {
            "title": resolved.comparison.title,
            "owner": owner,
            "manage": manage,
            "list": None if user is None else reverse("hub:comparisons"),
            "view": view,
        },
    }
    resp = render(
        request,
        "panels/comparison.html",
        {"config": config, "title": resolved.comparison.title, "bundle": bundle()},
    )
    resp["Cache-Control"] = "no-store"
    resp["X-Content-Type-Options"] = "nosniff"
    # The token is in the URL: never hand it to another site as a referrer. same-origin, not
    # no-referrer: with no-referrer browsers send `Origin: null` with the page's forms (Sign out),
    # which Django's CSRF check refuses.
    resp["Referrer-Policy"] = "same-origin"
    resp["Content-Security-Policy"] = CSP
    return resp


@require_GET
@ensure_csrf_cookie
def comparison_dashboard(request: HttpRequest, key: str) -> HttpResponse:
    user = request_user(request)
    if user is None and not is_embedded():
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
    try:
        comparison = comparisons.comparison_for_owner(user=user, key=key)
    except NotFound as exc:
        raise Http404("no such comparison") from exc
    return _render(
        request,
        resolved=comparisons.resolve_runs(comparison),
        api=f"/api/v1/comparisons/{key}",
        ws=f"/ws/comparisons/{key}",
        owner=True,
        manage=reverse("hub:comparison-manage", args=[key]),
    )


@require_GET
@ensure_csrf_cookie
def shared_dashboard(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = comparisons.link_resolve(raw=token, user=request_user(request))
    except NotAuthenticated:
        return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
    except NotFound as exc:
        raise Http404("no such link") from exc
    return _render(
        request,
        resolved=comparisons.resolve_runs(link.comparison),
        api=f"/api/v1/shared/{token}",
        ws=f"/ws/shared/{token}",
        owner=False,
        manage=None,
    )
