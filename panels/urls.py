"""Page routes: the project dashboard and health. Included at the root (after hub.urls, whose
`/` shows the project list in team mode and delegates to `panels.views.index` in embedded mode)."""

from django.urls import path

from panels import comparison_views, views

urlpatterns = [
    path("healthz", views.healthz),
    path("projects/<slug:slug>/dashboard", views.dashboard, name="panels-dashboard"),
    # Comparisons (issue #5): the owner's page and a share link's page, at short, stable URLs.
    path("c/<slug:key>", comparison_views.comparison_dashboard, name="panels-comparison"),
    path("s/<slug:token>", comparison_views.shared_dashboard, name="panels-shared"),
    path("", views.index, name="panels-index"),
]
