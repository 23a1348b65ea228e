"""Accounts, projects, members, sources, tokens and audit: pages and /api/v1/ endpoints.

API paths are exact contracts (README.md#api): no trailing slash, never a redirect. Pages use
Django's usual trailing slash.
"""

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, URLResolver, include, path, re_path

from hub import comparison_views, static, views
from hub.api import audit, comparisons, me, members, projects, retention, runs, sources, tokens

app_name = "hub"


def _schema_view(name: str, **initkwargs: Any) -> Callable[..., HttpResponse]:
    """A drf-spectacular view, imported on its first request.

    drf-spectacular (and the schema extras in hub/openapi.py) pull in ~0.3 s of imports that no
    other request needs; `tbhub serve` answers its first request that much sooner without them.
    """
    built: list[Callable[..., HttpResponse]] = []

    def view(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not built:
            from drf_spectacular import views as spectacular

            from hub import openapi  # noqa: F401  (registers the authentication extension)

            built.append(getattr(spectacular, name).as_view(**initkwargs))
        return built[0](request, *args, **kwargs)

    return view


P = "api/v1/projects/<slug:slug>"
C = "api/v1/comparisons/<slug:key>"

api = [
    path("api/v1/me", me.MeView.as_view(), name="api-me"),
    path("api/v1/projects", projects.ProjectListView.as_view(), name="api-projects"),
    path(P, projects.ProjectDetailView.as_view(), name="api-project"),
    path(f"{P}/members", members.MemberListView.as_view(), name="api-members"),
    path(f"{P}/members/<str:username>", members.MemberDetailView.as_view(), name="api-member"),
    path(f"{P}/sources", sources.SourceListView.as_view(), name="api-sources"),
    path(f"{P}/sources/<int:source_id>", sources.SourceDetailView.as_view(), name="api-source"),
    path(
        f"{P}/sources/<int:source_id>/test",
        sources.SourceTestView.as_view(),
        name="api-source-test",
    ),
    path(
        f"{P}/sources/<int:source_id>/refresh",
        sources.SourceRefreshView.as_view(),
        name="api-source-refresh",
    ),
    path(f"{P}/runs/status", runs.RunStatusListView.as_view(), name="api-run-status"),
    path(f"{P}/runs/<int:run_id>", runs.RunDetailView.as_view(), name="api-run"),
    # Retention and storage (issue #5, docs/RETENTION.md).
    path(
        f"{P}/runs/<int:run_id>/delete-data",
        retention.RunDeleteDataView.as_view(),
        name="api-run-delete-data",
    ),
    path(
        f"{P}/runs/<int:run_id>/reingest",
        retention.RunReingestView.as_view(),
        name="api-run-reingest",
    ),
    path(f"{P}/storage", retention.ProjectStorageView.as_view(), name="api-project-storage"),
    path(f"{P}/retention", retention.ProjectRetentionView.as_view(), name="api-project-retention"),
    path(
        f"{P}/retention/preview",
        retention.ProjectRetentionPreviewView.as_view(),
        name="api-project-retention-preview",
    ),
    path("api/v1/retention", retention.GlobalRetentionView.as_view(), name="api-retention"),
    path(f"{P}/audit", audit.ProjectAuditView.as_view(), name="api-project-audit"),
    path("api/v1/audit", audit.AuditView.as_view(), name="api-audit"),
    path("api/v1/tokens", tokens.TokenListView.as_view(), name="api-tokens"),
    path("api/v1/tokens/<int:token_id>", tokens.TokenDetailView.as_view(), name="api-token"),
    # Comparisons and share links (issue #5): the owner's (or an admin's) credentials only.
    path("api/v1/comparisons", comparisons.ComparisonListView.as_view(), name="api-comparisons"),
    path(f"{C}", comparisons.ComparisonDetailView.as_view(), name="api-comparison"),
    path(
        f"{C}/duplicate",
        comparisons.ComparisonDuplicateView.as_view(),
        name="api-comparison-duplicate",
    ),
    path(f"{C}/links", comparisons.LinkListView.as_view(), name="api-comparison-links"),
    path(
        f"{C}/links/<slug:token>",
        comparisons.LinkDetailView.as_view(),
        name="api-comparison-link",
    ),
    path("api/v1/schema", _schema_view("SpectacularAPIView"), name="api-schema"),
    path(
        "api/v1/docs",
        login_required(_schema_view("SpectacularSwaggerView", url_name="hub:api-schema")),
        name="api-docs",
    ),
    path(
        "api/v1/redoc",
        login_required(_schema_view("SpectacularRedocView", url_name="hub:api-schema")),
        name="api-redoc",
    ),
]

pages: list[URLPattern | URLResolver] = [
    path("", views.home, name="home"),
    path("accounts/login/", views.LoginView.as_view(), name="login"),
    path("accounts/logout/", views.logout_view, name="logout"),
    path("accounts/password/", views.PasswordChangeView.as_view(), name="password-change"),
    path("projects/", views.project_list, name="projects"),
    path("projects/new/", views.project_new, name="project-new"),
    path("projects/<slug:slug>/", views.project_page, name="project"),
    path("projects/<slug:slug>/runs/<int:run_id>/", views.run_edit, name="run-edit"),
    path("projects/<slug:slug>/members/", views.members_page, name="members"),
    path("projects/<slug:slug>/sources/", views.sources_page, name="sources"),
    path(
        "projects/<slug:slug>/sources/<int:source_id>/",
        views.source_action,
        name="source-action",
    ),
    path("projects/<slug:slug>/settings/", views.settings_page, name="settings"),
    path("projects/<slug:slug>/audit/", views.project_audit_page, name="project-audit"),
    path("projects/<slug:slug>/storage/", views.storage_page, name="storage"),
    path(
        "projects/<slug:slug>/runs/<int:run_id>/data/",
        views.run_data_page,
        name="run-data",
    ),
    path("retention/", views.retention_page, name="retention"),
    path("comparisons/", comparison_views.comparisons_page, name="comparisons"),
    path("comparisons/new/", comparison_views.comparison_new_page, name="comparison-new"),
    path("c/<slug:key>/links/", comparison_views.comparison_manage_page, name="comparison-manage"),
    path("tokens/", views.tokens_page, name="tokens"),
    path("audit/", views.audit_page, name="audit"),
    # Every asset is served by the hub itself (no CDN): app static files, including the API
    # docs' Swagger UI from drf-spectacular-sidecar.
    re_path(r"^static/(?P<path>.+)$", static.serve, name="static"),
]

if getattr(settings, "TBHUB_OIDC_ENABLED", False):
    # Single sign-on (hub/oidc.py): /oidc/authenticate/, /oidc/callback/, /oidc/logout/.
    pages.append(path("oidc/", include("mozilla_django_oidc.urls")))

urlpatterns = api + pages
