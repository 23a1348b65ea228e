from django.apps import AppConfig


class HubConfig(AppConfig):
    """Tenancy: projects, members and roles, tokens, audit, comparisons and share links."""

    name = "hub"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the OpenAPI authentication extension and the start-up checks.
        from hub import checks, openapi  # noqa: F401
