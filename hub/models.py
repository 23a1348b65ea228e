"""Tenancy: projects are the unit of access; members hold a role; tokens act for their user.

Documented in docs/ARCHITECTURE.md#access. Every run belongs to a project through its source
(`ingest.models.Source.project`), so a project's membership decides who reads its data.
Writes go through `hub.services`, reads through `hub.selectors`, and every request resolves its
project through `hub.access`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Project(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    description = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class Role(models.TextChoices):
    """A member's role in a project. Each role can do everything the roles below it can."""

    OWNER = "owner", "owner"
    EDITOR = "editor", "editor"
    VIEWER = "viewer", "viewer"


# Higher rank = more rights. Admins (superusers) rank above every role in every project.
ROLE_RANK: dict[str, int] = {Role.VIEWER: 1, Role.EDITOR: 2, Role.OWNER: 3}
ADMIN_RANK = 100


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_project_user")
        ]
        indexes = [models.Index(fields=["user", "project"])]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class AccessToken(models.Model):
    """A personal access token for scripts (`Authorization: Bearer …`).

    Only the SHA-256 of the token is stored: the token itself is shown once, at creation. Tokens
    are 256-bit random strings, so a fast hash is safe (no dictionary to attack), and it lets a
    request find its token with one indexed lookup.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    read_only = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.user})"

    @property
    def status(self) -> str:
        """ "active", "revoked" or "expired"."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"

    @property
    def is_active(self) -> bool:
        return self.status == "active"


class AuditAction(models.TextChoices):
    PROJECT_CREATE = "project.create", "project created"
    PROJECT_UPDATE = "project.update", "project changed"
    PROJECT_DELETE = "project.delete", "project deleted"
    MEMBER_ADD = "member.add", "member added"
    MEMBER_ROLE = "member.role", "member role changed"
    MEMBER_REMOVE = "member.remove", "member removed"
    SOURCE_CREATE = "source.create", "source added"
    SOURCE_UPDATE = "source.update", "source changed"
    SOURCE_DELETE = "source.delete", "source deleted"
    RUN_HIDE = "run.hide", "run hidden"
    RUN_UNHIDE = "run.unhide", "run shown"
    RUN_NOTE = "run.note", "run note edited"
    RUN_REINGEST = "run.reingest", "run re-ingested"
    TOKEN_CREATE = "token.create", "token created"
    TOKEN_REVOKE = "token.revoke", "token revoked"


class AuditEvent(models.Model):
    """Who changed what, and when. Rows are only ever added (never edited, never shown with
    secrets: details carry names, roles and URLs, never credentials)."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept as text so the log still reads right after a user or project is deleted.
    actor_username = models.CharField(max_length=150, blank=True, default="")
    # How the actor was authenticated: session, token, admin (Django admin), cli, system.
    via = models.CharField(max_length=16, blank=True, default="")
    project = models.ForeignKey(
        Project, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    project_slug = models.CharField(max_length=100, blank=True, default="")
    action = models.CharField(max_length=32, choices=AuditAction.choices)
    target = models.CharField(max_length=500, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"])]

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_username} {self.action} {self.target}"
        )


class IngestHealth(Project):
    """Admin-only view of ingest health across every project (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "ingest health"
        verbose_name_plural = "ingest health"
