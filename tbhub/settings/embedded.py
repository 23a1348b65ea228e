"""Embedded mode (`tbhub serve`): one process, SQLite, in-process ingest, no login.

The CLI sets TBHUB_DB_PATH (a temporary file unless --db is given) before Django starts.
"""

import tempfile
from pathlib import Path
from typing import Any

from tbhub.settings import env
from tbhub.settings.base import *
from tbhub.settings.base import LOGGING

TBHUB_MODE = "embedded"

# Bound to loopback only (the CLI refuses other addresses), so a per-process random key is fine.
SECRET_KEY = env.get_str("TBHUB_SECRET_KEY") or "embedded-" + __import__("secrets").token_hex(32)

_db_path = env.get_str("TBHUB_DB_PATH") or str(
    Path(tempfile.gettempdir()) / "tbhub-embedded.sqlite3"
)
DATABASES: dict[str, Any] = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": _db_path,
        "OPTIONS": {
            # WAL lets the web thread read while the ingest thread writes; a generous timeout
            # covers the short write transactions of the in-process worker.
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}
CACHES: dict[str, Any] = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CHANNEL_LAYERS: dict[str, Any] = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
# No broker: the in-process runner calls the same services directly (tbhub/embedded.py).
CELERY_BROKER_URL = "memory://"
CELERY_TASK_ALWAYS_EAGER = False
TBHUB_EMBEDDED_LOGDIR = env.get_str("TBHUB_EMBEDDED_LOGDIR")
LOGGING["root"]["level"] = env.get_str("TBHUB_LOG_LEVEL", "WARNING").upper()
