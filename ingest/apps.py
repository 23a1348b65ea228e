from django.apps import AppConfig


class IngestConfig(AppConfig):
    """Reading log directories: sources, runs, event files and the stored summaries."""

    name = "ingest"
    default_auto_field = "django.db.models.BigAutoField"
