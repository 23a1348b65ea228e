"""Per-user dashboard state: each user's settings per project, saved server-side so that they
follow the user to another browser (issue #4). Embedded mode has one local user (user = NULL).
The URL still wins when a link is opened: the browser applies these first, then the URL."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from hub.models import Project


class DashboardPrefs(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    # Validated by panels.kinds.prefs (known keys only, bounded size).
    data = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project"], name="prefs_user_project"),
            models.UniqueConstraint(
                fields=["project"],
                condition=models.Q(user__isnull=True),
                name="prefs_local_project",
            ),
        ]

    def __str__(self) -> str:
        return f"prefs {self.user_id}/{self.project_id}"
