"""Static files served by the hub itself (team mode has no separate web server to do it).

Files are found with Django's staticfiles finders (app `static/` folders, then STATIC_ROOT if
`collectstatic` filled it), so the API docs' Swagger UI (drf-spectacular-sidecar), the admin's
assets and the dashboards' bundle are all served from the hub: no CDN, nothing from elsewhere.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404, HttpRequest, HttpResponseBase
from django.views.decorators.http import require_safe
from django.views.static import serve as serve_file

MAX_AGE = 3600


def _locate(path: str) -> str | None:
    if "\x00" in path or path.startswith("/") or ".." in path.split("/"):
        return None
    try:
        found = finders.find(path)
    except SuspiciousFileOperation:
        return None
    if isinstance(found, list):
        found = found[0] if found else None
    if not found and settings.STATIC_ROOT:
        candidate = os.path.join(str(settings.STATIC_ROOT), path)
        root = os.path.realpath(str(settings.STATIC_ROOT))
        if os.path.realpath(candidate).startswith(root + os.sep) and os.path.isfile(candidate):
            found = candidate
    return str(found) if found and os.path.isfile(found) else None


@require_safe
def serve(request: HttpRequest, path: str) -> HttpResponseBase:
    found = _locate(path)
    if found is None:
        raise Http404("no such file")
    response = serve_file(request, os.path.basename(found), document_root=os.path.dirname(found))
    response["Cache-Control"] = f"public, max-age={MAX_AGE}"
    return response
