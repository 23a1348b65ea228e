from django.apps import AppConfig


class PanelsConfig(AppConfig):
    """Serving stored data: selectors, JSON API, websockets and the dashboard pages."""

    name = "panels"
    default_auto_field = "django.db.models.BigAutoField"
