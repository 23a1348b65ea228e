"""Who may read or change a project. Every view resolves its project through here.

Documented in docs/ARCHITECTURE.md#access. The rules:

- A caller without valid credentials gets `NotAuthenticated` (401 for the API, a redirect to the
  login page for pages). A bearer token that is unknown, revoked or expired counts as none.
- A project the caller is not a member of does not exist for them: `ProjectNotFound` (404), the
  same answer as for a slug that really does not exist, so nothing leaks.
- A member whose role is too low gets `AccessDenied` (403); so does a read-only token on any
  write.
- Admins (superusers) act as owners of every project.
- Embedded mode (`tbhub serve`) has one local user on loopback who may do everything.

Roles and what each action needs are in `ACTION_ROLES`; `hub.models.ROLE_RANK` orders them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest

from hub.models import ADMIN_RANK, ROLE_RANK, Membership, Project, Role

if TYPE_CHECKING:
    from hub.models import AccessToken


class AccessDenied(Exception):
    """Authenticated but not allowed (→ 403)."""


class NotAuthenticated(Exception):
    """No valid credentials (→ 401 for the API, a redirect for pages)."""


class ProjectNotFound(Exception):
    """No such project *for this caller* (→ 404, no existence leak)."""


# The least role each action needs. Reads need membership (any role).
ACTION_ROLES: dict[str, str] = {
    "project.read": Role.VIEWER,
    "project.update": Role.OWNER,
    "project.delete": Role.OWNER,
    "member.manage": Role.OWNER,
    "audit.read": Role.OWNER,
    "source.create": Role.EDITOR,
    "source.update": Role.EDITOR,
    "source.test": Role.EDITOR,
    "source.refresh": Role.EDITOR,
    "source.delete": Role.OWNER,
    "run.update": Role.EDITOR,
    # Retention (issue #5): owners delete a run's stored data or ask for a re-ingest; only
    # administrators set retention policies.
    "run.delete_data": Role.OWNER,
    "run.reingest": Role.OWNER,
    "retention.manage": "admin",  # = ADMIN: no member role ranks that high
}

ADMIN = "admin"


def is_embedded() -> bool:
    return getattr(settings, "TBHUB_MODE", "team") == "embedded"


def request_user(request: HttpRequest) -> Any | None:
    """The authenticated user of a request, or None."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user


def request_token(request: HttpRequest) -> AccessToken | None:
    """The personal access token that authenticated this request, if any."""
    return getattr(request, "auth_token", None)


def require_user(request: HttpRequest) -> Any:
    """The caller, or NotAuthenticated."""
    user = request_user(request)
    if user is None:
        raise NotAuthenticated()
    return user


def require_write_credentials(request: HttpRequest) -> None:
    """Read-only tokens never write, whatever their user may do."""
    token = request_token(request)
    if token is not None and token.read_only:
        raise AccessDenied("this token is read-only")


def is_admin(user: Any) -> bool:
    return bool(user is not None and user.is_active and user.is_superuser)


def role_for(user: Any, project: Project) -> str | None:
    """The caller's role in a project: "admin", "owner", "editor", "viewer" or None."""
    if user is None or not user.is_authenticated:
        return None
    if is_admin(user):
        return ADMIN
    return (
        Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()
    )


def rank(role: str | None) -> int:
    if role == ADMIN:
        return ADMIN_RANK
    return ROLE_RANK.get(role or "", 0)


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    """A project resolved for a caller, with the caller's effective role."""

    project: Project
    user: Any
    role: str

    def can(self, action: str) -> bool:
        return rank(self.role) >= rank(ACTION_ROLES[action])


def _resolve(request: HttpRequest, slug: str) -> ProjectAccess:
    if is_embedded():
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise ProjectNotFound(slug)
        return ProjectAccess(project=project, user=request_user(request), role=ADMIN)
    user = require_user(request)
    if is_admin(user):
        project = Project.objects.filter(slug=slug).first()
        if project is None:
            raise ProjectNotFound(slug)
        return ProjectAccess(project=project, user=user, role=ADMIN)
    # One query: the project *through* the caller's membership.
    membership = (
        Membership.objects.select_related("project").filter(user=user, project__slug=slug).first()
    )
    if membership is None:
        raise ProjectNotFound(slug)
    return ProjectAccess(project=membership.project, user=user, role=membership.role)


def project_access(
    request: HttpRequest, slug: str, *, action: str = "project.read"
) -> ProjectAccess:
    """Resolve a project for an action, or raise NotAuthenticated/ProjectNotFound/AccessDenied.

    `action` is a key of ACTION_ROLES. Actions other than reads also refuse read-only tokens.
    """
    needed = ACTION_ROLES[action]
    access = _resolve(request, slug)
    if action not in ("project.read", "audit.read"):
        require_write_credentials(request)
    if rank(access.role) < rank(needed):
        raise AccessDenied(f"this needs the {needed} role in project '{access.project.slug}'")
    return access


def project_for_read(request: HttpRequest, slug: str) -> Project:
    """The project `slug` if the caller may read it (any role, or admin)."""
    return project_access(request, slug).project


def project_for_write(request: HttpRequest, slug: str, *, action: str) -> Project:
    """The project `slug` if the caller may perform `action` (a key of ACTION_ROLES)."""
    return project_access(request, slug, action=action).project


def project_id_for_user(user: Any, slug: str) -> int | None:
    """For websocket consumers: the id of project `slug` if `user` may read it, else None."""
    if is_embedded():
        return Project.objects.filter(slug=slug).values_list("id", flat=True).first()
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if is_admin(user):
        return Project.objects.filter(slug=slug).values_list("id", flat=True).first()
    return (
        Membership.objects.filter(user=user, project__slug=slug)
        .values_list("project_id", flat=True)
        .first()
    )


def embedded_project() -> Project:
    project = Project.objects.filter(slug="local").first()
    if project is None:
        raise ProjectNotFound("local")
    return project
