"""Comparison data endpoints (issue #5): the project data views over a comparison's runs.

    GET /api/v1/shared/{token}                     → {"title", "state", "runs": […], "version"}
    GET /api/v1/shared/{token}/scalars|histograms|distributions|images|text?run_id=&tag=
    GET /api/v1/shared/{token}/images/{id}          (bytes)
    GET /api/v1/shared/{token}/scalars/batch?tag=&run_ids=
    GET /api/v1/shared/{token}/graphs?run_id=[&tag=] and …/graphs/info[?run_id=]
    GET /api/v1/shared/{token}/hparams                (panels.api.hparams)

and the same data paths under `/api/v1/comparisons/{id}/` for the comparison's owner (or an
admin), which the owner's page (`/c/{id}`) reads. Every payload is built by the project
endpoints' own builders (`panels.api.data.HANDLERS`, `batch.scalars_batch`, `graphs.graph`,
`graphs.graph_info`) with a `panels.scopes.ComparisonScope`, which resolves only the comparison's
available runs: anything else is the same 404 as an unknown run. The link is checked on every
request (`hub.comparisons.link_resolve`): revoked, expired, unknown and malformed tokens are 404.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from hub import comparisons
from hub.access import request_user
from hub.errors import NotFound as HubNotFound
from panels.api import batch, data, graphs, hparams
from panels.api.common import api_errors, error_response, json_response
from panels.scopes import ComparisonScope

# Every data endpoint a comparison offers, by its path below the comparison's prefix.
ENDPOINTS: dict[str, Callable[..., HttpResponse]] = {
    **data.HANDLERS,
    "scalars/batch": batch.scalars_batch,
    "graphs": graphs.graph,
    "graphs/info": graphs.graph_info,
    "hparams": hparams.hparams_view,
}


def _private(resp: HttpResponse) -> HttpResponse:
    # Tokens are in these URLs: never send them on as a referrer, never store them in a
    # shared cache.
    resp["Referrer-Policy"] = "no-referrer"
    if "Cache-Control" not in resp or "private" not in resp["Cache-Control"]:
        resp["Cache-Control"] = "private, no-cache, must-revalidate"
    return resp


def _hub_errors(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return _private(view(request, *args, **kwargs))
        except HubNotFound as exc:
            return _private(error_response(404, str(exc) or "not found"))

    return wrapper


def shared_scope(request: HttpRequest, token: str) -> ComparisonScope:
    link = comparisons.link_resolve(raw=token, user=request_user(request))
    resolved = comparisons.resolve_runs(link.comparison)
    return ComparisonScope(resolved, f"/api/v1/shared/{token}")


def owner_scope(request: HttpRequest, key: str) -> ComparisonScope:
    comparison = comparisons.comparison_for_owner(user=request_user(request), key=key)
    return ComparisonScope(comparisons.resolve_runs(comparison), f"/api/v1/comparisons/{key}")


def _view(
    handler: Callable[..., HttpResponse],
    resolve: Callable[[HttpRequest, str], ComparisonScope],
) -> Callable[..., HttpResponse]:
    @require_GET
    @_hub_errors
    @api_errors
    def view(request: HttpRequest, ident: str) -> HttpResponse:
        return handler(request, resolve(request, ident))

    return view


@require_GET
@_hub_errors
@api_errors
def shared_view(request: HttpRequest, token: str) -> HttpResponse:
    """What a link shows: title, saved view state, runs (with availability)."""
    scope = shared_scope(request, token)
    return json_response(comparisons.view_payload(scope.resolved))


def _image_view(
    resolve: Callable[[HttpRequest, str], ComparisonScope],
) -> Callable[..., HttpResponse]:
    @require_GET
    @_hub_errors
    @api_errors
    def view(request: HttpRequest, ident: str, image_id: int) -> HttpResponse:
        return data.image_bytes(request, resolve(request, ident), image_id)

    return view


SHARED: dict[str, Callable[..., HttpResponse]] = {
    name: _view(h, shared_scope) for name, h in ENDPOINTS.items()
}
OWNER: dict[str, Callable[..., HttpResponse]] = {
    name: _view(h, owner_scope) for name, h in ENDPOINTS.items()
}
shared_image = _image_view(shared_scope)
owner_image = _image_view(owner_scope)
