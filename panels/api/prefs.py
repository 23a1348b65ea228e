"""Per-user dashboard state.

    GET /api/v1/projects/{slug}/prefs → {"prefs": {...}}
    PUT /api/v1/projects/{slug}/prefs  body {...}   → merges the known keys, returns {"prefs": {...}}
        (?replace=1 replaces the whole document)

Reading the project is enough: preferences are the caller's own, so a read-only member keeps
their dashboard too. Embedded mode has one local user.
"""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from hub.access import is_embedded, project_for_read
from panels.api.common import BadRequest, api_errors, json_response
from panels.kinds import prefs as kind


def _user_id(request: HttpRequest) -> int | None:
    if is_embedded():
        return None
    user = getattr(request, "user", None)
    return int(user.pk) if user is not None and user.is_authenticated else None


@require_http_methods(["GET", "PUT"])
@api_errors
def project_prefs(request: HttpRequest, slug: str) -> HttpResponse:
    project = project_for_read(request, slug)
    user_id = _user_id(request)
    if user_id is None and not is_embedded():
        raise BadRequest("preferences belong to a signed-in user")
    if request.method == "GET":
        return json_response({"prefs": kind.prefs_get(user_id=user_id, project=project)})
    try:
        doc = json.loads(request.body or b"{}")
    except ValueError as exc:
        raise BadRequest("the body must be a JSON object") from exc
    try:
        data = kind.prefs_update(
            user_id=user_id, project=project, doc=doc, replace=request.GET.get("replace") == "1"
        )
    except kind.InvalidPrefs as exc:
        raise BadRequest(str(exc)) from exc
    return json_response({"prefs": data})
