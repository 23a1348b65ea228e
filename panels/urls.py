"""Page routes: the project dashboard and health. Included at the root (after hub.urls, whose
`/` shows the project list in team mode and delegates to `panels.views.index` in embedded mode)."""

from django.urls import path

from panels import views

urlpatterns = [
    path("healthz", views.healthz),
    path("projects/<slug:slug>/dashboard", views.dashboard, name="panels-dashboard"),
    path("", views.index, name="panels-index"),
]
