"""Pages: the project dashboard (issue #4).

The dashboard page is a shell: the browser app (panels/frontend, built into
panels/static/panels/dist) reads everything through /api/v1/ and the project's websocket.
Configuration reaches it as JSON through `json_script` (never interpolated into markup). The
bundle's files are served by the hub itself (hub.static, Django's staticfiles finders), under the
names Vite's manifest gives.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from hub.access import (
    AccessDenied,
    NotAuthenticated,
    ProjectNotFound,
    is_embedded,
    project_for_read,
)
from hub.models import Project
from panels import selectors
from panels.kinds.prefs import prefs_get

DIST = Path(__file__).resolve().parent / "static" / "panels" / "dist"
DIST_URL = "/static/panels/dist/"
ENTRY = "src/main.ts"


def healthz(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"status": "ok"})


@lru_cache(maxsize=4)
def _manifest(mtime: float) -> dict[str, Any]:
    path = DIST / ".vite" / "manifest.json"
    with path.open("rb") as f:
        return dict(json.load(f))


def bundle() -> dict[str, Any]:
    """The entry script and stylesheets of the built dashboard (Vite's manifest)."""
    path = DIST / ".vite" / "manifest.json"
    try:
        manifest = _manifest(path.stat().st_mtime)
    except (OSError, ValueError):
        return {"js": None, "css": [], "missing": True}
    entry = manifest.get(ENTRY, {})
    css = [DIST_URL + c for c in entry.get("css", [])]
    js = DIST_URL + entry["file"] if "file" in entry else None
    return {"js": js, "css": css, "missing": js is None}


def _prefs_user(request: HttpRequest) -> int | None:
    if is_embedded():
        return None
    user = getattr(request, "user", None)
    return int(user.pk) if user is not None and user.is_authenticated else None


def _user_label(request: HttpRequest) -> str:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return str(user.get_username())
    return ""


@require_GET
@ensure_csrf_cookie
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        project = project_for_read(request, slug)
    except NotAuthenticated:
        return HttpResponseRedirect(f"{settings.LOGIN_URL}?next={request.get_full_path()}")
    except (ProjectNotFound, AccessDenied) as exc:
        raise Http404("no such project") from exc
    return _render_dashboard(request, project)


def _render_dashboard(request: HttpRequest, project: Project) -> HttpResponse:
    embedded = is_embedded()
    config = {
        "project": {"slug": project.slug, "name": project.name},
        "mode": "embedded" if embedded else "team",
        "api": f"/api/v1/projects/{project.slug}",
        "ws": f"/ws/projects/{project.slug}",
        "user": _user_label(request),
        "home": None if embedded else "/",
        "logout": None if embedded else "/accounts/logout/",
        # "Compare…" in the run selector (issue #5): pick runs into a new comparison.
        "compare": None if embedded else reverse("hub:comparison-new"),
        # The first render needs no extra round trip: runs and the saved dashboard are inline.
        "initial": {
            # Read before the runs: a commit in between makes the page catch up, never miss.
            "version": selectors.project_data_version(project=project),
            "runs": selectors.runs_list(project=project),
            "prefs": prefs_get(user_id=_prefs_user(request), project=project),
        },
    }
    resp = render(
        request,
        "panels/dashboard.html",
        {"config": config, "project": project, "bundle": bundle(), "embedded": embedded},
    )
    resp["Cache-Control"] = "no-cache"
    resp["X-Content-Type-Options"] = "nosniff"
    resp["Referrer-Policy"] = "same-origin"
    resp["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self'; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'self'"
    )
    return resp


@require_GET
@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    """`/`: the local dashboard in embedded mode (like `tensorboard --logdir`). In team mode the
    hub's project list answers `/` (hub.urls comes first); this is only its fallback."""
    if is_embedded():
        project = Project.objects.filter(slug="local").first()
        if project is None:
            return JsonResponse({"api": "/api/v1/runs", "status": "starting"}, status=503)
        return _render_dashboard(request, project)
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return HttpResponseRedirect(f"{settings.LOGIN_URL}?next=/")
    readable = []
    for p in Project.objects.all()[:500]:
        try:
            project_for_read(request, p.slug)
        except (ProjectNotFound, AccessDenied, NotAuthenticated):
            continue
        readable.append(
            {"name": p.name, "slug": p.slug, "url": reverse("panels-dashboard", args=[p.slug])}
        )
    return render(request, "panels/projects.html", {"projects": readable})
