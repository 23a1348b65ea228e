from django.apps import AppConfig


class HubConfig(AppConfig):
    """Tenancy: projects, members and roles, tokens, audit, comparisons and share links."""

    name = "hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the start-up checks. hub.openapi (drf-spectacular) is imported by the schema
        # views on their first request (hub/urls.py), not here: it is slow to import.
        from hub import checks  # noqa: F401
