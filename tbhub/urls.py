"""URL map. API paths are exact contracts (README.md#api): no trailing slashes, no redirects.

Each app owns its own URL module: `panels.api.urls` (data endpoints), `hub.urls` (accounts,
projects, members, sources, tokens — pages and API), `panels.urls` (dashboard pages, health).

The modules are imported when a request first walks past them (`_lazy`), not when this one is
loaded: the dashboard's data endpoints come first, so `tbhub serve` answers its first data
request without importing the team API (DRF and drf-spectacular, ~0.4 s). `reverse()` and
Django's URL checks still import every module, as they must.
"""

from django.contrib import admin
from django.urls import path
from django.urls.resolvers import RoutePattern, URLResolver


def _lazy(prefix: str, module: str, *, namespace: str | None = None) -> URLResolver:
    # What `path(prefix, include(module))` builds, minus its eager import of `module`: a
    # URLResolver given a module *name* imports it on first use.
    return URLResolver(
        RoutePattern(prefix, is_endpoint=False), module, app_name=namespace, namespace=namespace
    )


urlpatterns = [
    _lazy("", "tbhub.ops_urls"),
    _lazy("api/v1/", "panels.api.urls"),
    _lazy("", "hub.urls", namespace="hub"),
    path("admin/", admin.site.urls),
    _lazy("", "panels.urls"),
]
