"""Settings shared by every mode. Mode files (embedded.py, team.py, test.py) only override.

Documented in README.md#configuration. Deployment-specific values come from the environment via
`tbhub.settings.env`; nothing secret is committed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tbhub.settings import env

# gcsfs >= 2026 otherwise tries a gRPC/TLS control-plane call first that hangs 60 s against
# anything but Google itself (emulators, private endpoints). Must be set before gcsfs is imported.
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env.get_bool("TBHUB_DEBUG", False)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "hub",
    "ingest",
    "panels",
]

MIDDLEWARE = [
    # Probes and metrics answer before host validation (scrapers address pods by IP), and every
    # request is logged with its URL pattern, never the raw path (share tokens live in paths).
    "tbhub.ops.ProbeMiddleware",
    "tbhub.ops.RequestLogMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "tbhub.middleware.FastGZipMiddleware",
    # Everything under /api/ answers JSON, errors included, and never redirects.
    "hub.middleware.ApiJsonErrorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Bearer tokens for the API, the embedded local user, 401 for the API without credentials.
    "hub.middleware.HubAuthMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "tbhub.urls"
ASGI_APPLICATION = "tbhub.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hub.context_processors.hub",
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Hosts: loopback is always allowed so that the five team-mode variables suffice on one machine.
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", *env.get_list("TBHUB_ALLOWED_HOSTS")]

# Users upload nothing big; the API's bodies are small JSON documents.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    # Sessions (CSRF enforced) and personal access tokens, both resolved by hub.middleware.
    "DEFAULT_AUTHENTICATION_CLASSES": ["hub.authentication.HubAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "hub.api.common.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "tbhub API",
    "DESCRIPTION": (
        "TensorBoard data at full resolution, per project, and the hub's projects, members, "
        "sources and tokens. Authenticate with `Authorization: Bearer <token>` (Tokens page or "
        '`tbhub token create`) or a browser session. Errors are `{"error": "…"}` with 400, '
        "401, 403 or 404. See README.md#api."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "hub.openapi.add_data_endpoints",
    ],
    "ENUM_NAME_OVERRIDES": {
        "SourceStatusEnum": ["pending", "ok", "degraded", "error"],
        "TokenStatusEnum": ["active", "expired", "revoked"],
        "HealthStateEnum": ["ok", "pending", "degraded", "error", "empty"],
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# ---- accounts (hub) ---------------------------------------------------------------------------
# A page or API write whose CSRF check fails gets a readable page, or JSON under /api/.
CSRF_FAILURE_VIEW = "hub.views.csrf_failure"
# Login brute-force protection: failures per (username, client address) before a lockout, and
# how long the lockout (and the counting window) lasts. 0 failures disables it.
TBHUB_LOGIN_MAX_FAILURES = env.get_int("TBHUB_LOGIN_MAX_FAILURES", 5)
TBHUB_LOGIN_LOCKOUT_SECONDS = env.get_int("TBHUB_LOGIN_LOCKOUT_SECONDS", 900)
# Whether every user may create projects (GitLab's default) or only administrators.
TBHUB_ALLOW_PROJECT_CREATION = env.get_bool("TBHUB_ALLOW_PROJECT_CREATION", True)
# Key for source credentials at rest; defaults to one derived from TBHUB_SECRET_KEY (hub.crypto).
TBHUB_CREDENTIALS_KEY = env.get_str("TBHUB_CREDENTIALS_KEY")

# ---- ingest -------------------------------------------------------------------------------
# A record longer than this is never allocated; it is reported on its file instead.
TBHUB_MAX_RECORD_BYTES = env.get_int("TBHUB_MAX_RECORD_BYTES", 256 * 1024 * 1024)
# Bytes read and committed per transaction, so worker memory stays flat on big backlogs.
TBHUB_READ_CHUNK_BYTES = env.get_int("TBHUB_READ_CHUNK_BYTES", 16 * 1024 * 1024)
# A tail task gives the worker back after this long and requeues itself if work remains.
TBHUB_TASK_BUDGET_SECONDS = env.get_float("TBHUB_TASK_BUDGET_SECONDS", 5.0)
# Cadences (seconds). "hot" = a run whose files grew within TBHUB_HOT_WINDOW_SECONDS.
TBHUB_TICK_SECONDS = env.get_float("TBHUB_TICK_SECONDS", 0.5)
TBHUB_HOT_POLL_SECONDS = env.get_float("TBHUB_HOT_POLL_SECONDS", 0.5)
TBHUB_HOT_POLL_SECONDS_REMOTE = env.get_float("TBHUB_HOT_POLL_SECONDS_REMOTE", 2.0)
TBHUB_LIST_SECONDS = env.get_float("TBHUB_LIST_SECONDS", 5.0)
TBHUB_LIST_SECONDS_REMOTE = env.get_float("TBHUB_LIST_SECONDS_REMOTE", 60.0)
TBHUB_HOT_WINDOW_SECONDS = env.get_float("TBHUB_HOT_WINDOW_SECONDS", 600.0)
# A claim on a run held by a worker that died expires after this long.
TBHUB_LEASE_SECONDS = env.get_float("TBHUB_LEASE_SECONDS", 30.0)
# Storage requests: timeouts and retries with back-off for transient errors.
TBHUB_STORAGE_TIMEOUT_SECONDS = env.get_float("TBHUB_STORAGE_TIMEOUT_SECONDS", 20.0)
TBHUB_GRAPH_MAX_NODES = env.get_int("TBHUB_GRAPH_MAX_NODES", 200_000)
TBHUB_IMAGE_MAX_PIXELS = env.get_int("TBHUB_IMAGE_MAX_PIXELS", 64 * 1024 * 1024)

# ---- retention (docs/RETENTION.md) ------------------------------------------------------------
# Units of work per retention batch (a run emptied, an image series trimmed, a chunk reduced);
# a project's pass re-enqueues itself batch after batch until done.
TBHUB_RETENTION_BATCH = env.get_int("TBHUB_RETENTION_BATCH", 200)
# The daily pass starts at this hour (UTC, 0-23) in team mode.
TBHUB_RETENTION_HOUR = env.get_int("TBHUB_RETENTION_HOUR", 3)
# The storage cap never empties a run that stored new events within this many hours.
TBHUB_RETENTION_CAP_GRACE_HOURS = env.get_float("TBHUB_RETENTION_CAP_GRACE_HOURS", 24.0)

# ---- sources (policy) -------------------------------------------------------------------------
TBHUB_LOCAL_ROOTS = env.get_list("TBHUB_LOCAL_ROOTS", sep=":")
TBHUB_ALLOWED_ENDPOINTS = env.get_list("TBHUB_ALLOWED_ENDPOINTS")

# ---- logging ------------------------------------------------------------------------------
TBHUB_LOG_LEVEL = env.get_str("TBHUB_LOG_LEVEL", "INFO").upper()
TBHUB_LOG_FORMAT = env.get_str("TBHUB_LOG_FORMAT", "text")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "json": {"()": "tbhub.logging.JsonFormatter"},
    },
    "handlers": {
        "stderr": {
            "class": "tbhub.logging.StderrHandler",
            "formatter": TBHUB_LOG_FORMAT if TBHUB_LOG_FORMAT in ("text", "json") else "text",
        }
    },
    "root": {"handlers": ["stderr"], "level": TBHUB_LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "botocore": {"level": "WARNING"},
        "aiobotocore": {"level": "WARNING"},
        "s3fs": {"level": "WARNING"},
        "gcsfs": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        "asyncio": {"level": "WARNING"},
        "uvicorn.access": {"level": "WARNING"},
    },
}
