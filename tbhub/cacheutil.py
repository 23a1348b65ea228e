"""Best-effort cache access. The cache (Redis in team mode) only accelerates: every key embeds a
version derived from the database, so a lost or flushed cache is slower, never wrong. A cache
outage must never become a request error, hence these wrappers."""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache

log = logging.getLogger("tbhub.cache")


def cache_get(key: str) -> Any:
    try:
        return cache.get(key)
    except Exception:
        log.debug("cache get failed", exc_info=True)
        return None


def cache_get_many(keys: list[str]) -> dict[str, Any]:
    try:
        return dict(cache.get_many(keys))
    except Exception:
        log.debug("cache get_many failed", exc_info=True)
        return {}


def cache_set(key: str, value: Any, timeout: int) -> None:
    try:
        cache.set(key, value, timeout=timeout)
    except Exception:
        log.debug("cache set failed", exc_info=True)


def cache_set_many(values: dict[str, Any], timeout: int) -> None:
    try:
        cache.set_many(values, timeout=timeout)
    except Exception:
        log.debug("cache set_many failed", exc_info=True)
