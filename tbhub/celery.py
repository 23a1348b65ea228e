"""The Celery app for team mode, configured from Django settings (CELERY_* names).

Tasks are thin: they take ids and call services (ingest/services.py). One decorator for ingest
tasks lives here so that every task gets the same retry policy, timing and log context.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tbhub.settings")
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

app = Celery("tbhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["ingest", "hub", "panels"])
