"""Routes of the operations endpoints (tbhub.ops), included first in tbhub/urls.py.

`tbhub.ops.ProbeMiddleware`, when installed, answers the same paths before host validation; these
routes serve them either way.
"""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from tbhub import ops


def favicon(request: HttpRequest) -> HttpResponse:
    """No icon: browsers ask for /favicon.ico on pages that declare none (Django admin, DRF, API
    docs); an empty answer instead of a 404 keeps their consoles free of errors."""
    resp = HttpResponse(status=204)
    resp["Cache-Control"] = "public, max-age=86400"
    return resp


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("healthz", ops.healthz, name="ops-healthz"),
    path("readyz", ops.readyz, name="ops-readyz"),
    path("metrics", ops.metrics, name="ops-metrics"),
]
