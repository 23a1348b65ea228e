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
    RUN_DELETE_DATA = "run.delete_data", "run data deleted"
    RETENTION_POLICY = "retention.policy", "retention policy changed"
    RETENTION_RUN = "retention.run", "retention enforced"
    TOKEN_CREATE = "token.create", "token created"
    TOKEN_REVOKE = "token.revoke", "token revoked"
    # A share link exposing runs of the project (one event per source project; issue #5).
    SHARE_CREATE = "share.create", "share link created"
    SHARE_REVOKE = "share.revoke", "share link revoked"


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


# ---- comparisons and share links (issue #5; docs/ARCHITECTURE.md#comparisons-and-share-links) --


class Comparison(models.Model):
    """A named selection of runs from one or several projects, with its whole view state.

    Only its owner (or an admin) reads or changes it through `/api/v1/comparisons/…`; everyone
    else reads it through a `ShareLink`. `key` is the stable short id in its URLs (`/c/{key}`).
    Logic lives in `hub.comparisons`.
    """

    key = models.CharField(max_length=16, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="comparisons"
    )
    title = models.CharField(max_length=200)
    # The dashboard's view state, validated like the saved dashboard (panels.kinds.prefs) plus
    # "panel"; run colours and the run selection are keyed by run id.
    state = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"])]

    def __str__(self) -> str:
        return f"{self.title} ({self.key})"


class ComparisonRun(models.Model):
    """One run of a comparison, in order. `run_id` is a plain id, not a foreign key: a run whose
    source or project is deleted stays listed (reported as missing) instead of vanishing, and the
    name and project it had are kept for that report."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="entries")
    position = models.PositiveIntegerField()
    run_id = models.BigIntegerField(db_index=True)
    alias = models.CharField(max_length=200, blank=True, default="")
    run_name = models.TextField(blank=True, default="")
    project_slug = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["comparison", "position"]
        constraints = [
            models.UniqueConstraint(fields=["comparison", "run_id"], name="comparison_run_once"),
            models.UniqueConstraint(
                fields=["comparison", "position"], name="comparison_run_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.comparison_id}#{self.position}: run {self.run_id}"


class ShareKind(models.TextChoices):
    MEMBERS = "members", "members of every source project"
    USERS = "users", "named users"
    PUBLIC = "public", "anyone with the link"


class ShareLink(models.Model):
    """Read access to one comparison's runs, and nothing else.

    The token (`secrets.token_urlsafe(24)`, 192 bits) is looked up by its SHA-256 (`token_hash`);
    a Fernet-encrypted copy (`token_encrypted`, key of hub.crypto) lets the owner copy the URL
    again later. A database dump alone therefore yields no working link.
    """

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="links")
    kind = models.CharField(max_length=16, choices=ShareKind.choices)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="comparison_links"
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_encrypted = models.BinaryField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} link to {self.comparison_id}"

    @property
    def status(self) -> str:
        """ "active", "revoked" or "expired"."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= timezone.now():
            return "expired"
        return "active"
