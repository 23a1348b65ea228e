"""URL map. API paths are exact contracts (README.md#api): no trailing slashes, no redirects.

Each app owns its own URL module: `panels.api.urls` (data endpoints), `hub.urls` (accounts,
projects, members, sources, tokens — pages and API), `panels.urls` (dashboard pages, health).
"""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("tbhub.ops_urls")),
    path("api/v1/", include("panels.api.urls")),
    path("", include("hub.urls")),
    path("admin/", admin.site.urls),
    path("", include("panels.urls")),
]
