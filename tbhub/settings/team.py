"""Team mode: PostgreSQL, Redis (broker, cache, channel layer), Celery workers and beat.

Fails fast at start-up when a required value is missing (ImproperlyConfigured).
"""

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from tbhub.settings import env
from tbhub.settings.base import *
from tbhub.settings.base import LOGGING, TBHUB_RETENTION_HOUR, TBHUB_TICK_SECONDS

TBHUB_MODE = "team"

# Structured logs by default in team mode (one JSON object per line on stderr).
LOGGING["handlers"]["stderr"]["formatter"] = (
    "text" if env.get_str("TBHUB_LOG_FORMAT", "json") == "text" else "json"
)

_database_url = env.require("DATABASE_URL", "team mode stores data in PostgreSQL")
_redis_url = env.require("REDIS_URL", "team mode uses Redis as broker, cache and channel layer")
SECRET_KEY = env.require(
    "TBHUB_SECRET_KEY", "team mode signs sessions and encrypts source credentials with it"
)

DATABASES: dict[str, Any] = {"default": dj_database_url.parse(_database_url, conn_max_age=0)}
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...)")
# A connection pool per process (psycopg_pool): under ASGI every concurrent request runs in its own
# thread, and persistent per-thread connections would pile up (one per thread per process); the
# pool bounds them and hands a warm connection to each request and task.
TBHUB_DB_POOL_SIZE = env.get_int("TBHUB_DB_POOL_SIZE", 10)
DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
    "min_size": 1,
    "max_size": max(1, TBHUB_DB_POOL_SIZE),
    "timeout": 30,
    "max_idle": 300,
    # Django adds check=ConnectionPool.check_connection: a connection is validated when lent, so
    # after a database restart the dead pooled ones are replaced.
}

_redis = urlsplit(_redis_url)
if _redis.scheme not in ("redis", "rediss"):
    raise ImproperlyConfigured("REDIS_URL must be a redis:// or rediss:// URL")


REDIS_URL = _redis_url
# Everything tbhub keeps in Redis is under this prefix, so one Redis can serve several hubs.
TBHUB_REDIS_PREFIX = env.get_str("TBHUB_REDIS_PREFIX", "tbhub")
CACHES: dict[str, Any] = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": _redis_url,
        "KEY_PREFIX": TBHUB_REDIS_PREFIX,
        "TIMEOUT": 3600,
    }
}
CHANNEL_LAYERS: dict[str, Any] = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [
                # channels_redis blocks 5 s on BZPOPMIN: a read timeout above that, and a pool
                # large enough for hundreds of websocket clients per web process.
                {"address": _redis_url, "socket_timeout": 15, "max_connections": 1000}
            ],
            "prefix": f"{TBHUB_REDIS_PREFIX}:ch:",
            "capacity": 1000,
            "expiry": 30,
        },
    }
}
# Broker, cache and channel layer share REDIS_URL and its database index; keys are prefixed.
CELERY_BROKER_URL = _redis_url
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "global_keyprefix": f"{TBHUB_REDIS_PREFIX}:celery:",
    "visibility_timeout": 3600,
}
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "ingest"
CELERY_TASK_ROUTES = {"ingest.poll": {"queue": "poll"}, "ingest.list_source": {"queue": "poll"}}
CELERY_BEAT_SCHEDULE = {
    "ingest.poll": {
        "task": "ingest.poll",
        "schedule": timedelta(seconds=TBHUB_TICK_SECONDS),
        "options": {"expires": max(TBHUB_TICK_SECONDS * 4, 2.0)},
    },
    # Retention (docs/RETENTION.md): daily; the task fans out one bounded batch per project.
    "ingest.retention": {
        "task": "ingest.retention",
        "schedule": crontab(hour=TBHUB_RETENTION_HOUR % 24, minute=17),
        "options": {"expires": 6 * 3600},
    },
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SESSION_COOKIE_SECURE = env.get_bool("TBHUB_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_TRUSTED_ORIGINS = env.get_list("TBHUB_CSRF_TRUSTED_ORIGINS")

# ---- single sign-on (optional): OpenID Connect via mozilla-django-oidc (hub/oidc.py) ----------
TBHUB_OIDC_CLIENT_ID = env.get_str("TBHUB_OIDC_CLIENT_ID")
TBHUB_OIDC_ENABLED = bool(TBHUB_OIDC_CLIENT_ID)
TBHUB_OIDC_LABEL = env.get_str("TBHUB_OIDC_LABEL", "single sign-on")
TBHUB_OIDC_USERNAME_CLAIM = env.get_str("TBHUB_OIDC_USERNAME_CLAIM", "preferred_username")
if TBHUB_OIDC_ENABLED:
    _why = "TBHUB_OIDC_CLIENT_ID turns on single sign-on"
    INSTALLED_APPS = [*INSTALLED_APPS, "mozilla_django_oidc"]
    AUTHENTICATION_BACKENDS = [
        "hub.oidc.HubOIDCBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    OIDC_RP_CLIENT_ID = TBHUB_OIDC_CLIENT_ID
    OIDC_RP_CLIENT_SECRET = env.require("TBHUB_OIDC_CLIENT_SECRET", _why)
    OIDC_OP_AUTHORIZATION_ENDPOINT = env.require("TBHUB_OIDC_AUTHORIZATION_ENDPOINT", _why)
    OIDC_OP_TOKEN_ENDPOINT = env.require("TBHUB_OIDC_TOKEN_ENDPOINT", _why)
    OIDC_OP_USER_ENDPOINT = env.require("TBHUB_OIDC_USERINFO_ENDPOINT", _why)
    OIDC_RP_SIGN_ALGO = env.get_str("TBHUB_OIDC_SIGN_ALGO", "RS256")
    OIDC_OP_JWKS_ENDPOINT = env.get_str("TBHUB_OIDC_JWKS_ENDPOINT") or None
    if OIDC_RP_SIGN_ALGO.startswith(("RS", "ES", "PS")) and not OIDC_OP_JWKS_ENDPOINT:
        raise ImproperlyConfigured(
            f"TBHUB_OIDC_JWKS_ENDPOINT must be set to verify {OIDC_RP_SIGN_ALGO} ID tokens"
        )
    OIDC_RP_SCOPES = env.get_str("TBHUB_OIDC_SCOPES", "openid email profile")
    OIDC_CREATE_USER = env.get_bool("TBHUB_OIDC_CREATE_USERS", True)
    OIDC_TIMEOUT = 15
    # hub.urls is namespaced "hub"; the library must reverse its callback within it.
    OIDC_AUTHENTICATION_CALLBACK_URL = "hub:oidc_authentication_callback"
    LOGIN_REDIRECT_URL_FAILURE = "/accounts/login/?sso=failed"
