"""Login brute-force protection: counters in the cache per (username, client IP) and per IP.

After TBHUB_LOGIN_MAX_FAILURES failed logins for one username from one address within
TBHUB_LOGIN_LOCKOUT_SECONDS, that pair is refused until the window ends; an address gets ten
times as many failures across all usernames. A successful login clears its pair's counter. The
cache is Redis in team mode, so every web process shares the counters. If the cache is down,
logins are not blocked (availability first; the failure is logged).
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.core.cache import cache

log = logging.getLogger("hub.ratelimit")

IP_FACTOR = 10


def _limits() -> tuple[int, int]:
    return (
        int(getattr(settings, "TBHUB_LOGIN_MAX_FAILURES", 5)),
        int(getattr(settings, "TBHUB_LOGIN_LOCKOUT_SECONDS", 900)),
    )


def _key(kind: str, value: str) -> str:
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:40]
    return f"hub:login-fail:{kind}:{digest}"


def _pair(username: str, ip: str) -> str:
    return _key("pair", f"{username.strip().lower()}\x00{ip}")


def login_blocked(*, username: str, ip: str) -> bool:
    """True when this username/address pair (or this address) has failed too often."""
    max_failures, _ = _limits()
    if max_failures <= 0:
        return False
    try:
        values = cache.get_many([_pair(username, ip), _key("ip", ip)])
    except Exception:
        log.warning("hub.ratelimit.cache_unavailable", exc_info=True)
        return False
    pair = int(values.get(_pair(username, ip)) or 0)
    per_ip = int(values.get(_key("ip", ip)) or 0)
    return pair >= max_failures or per_ip >= max_failures * IP_FACTOR


def login_failed(*, username: str, ip: str) -> None:
    _, window = _limits()
    for key in (_pair(username, ip), _key("ip", ip)):
        try:
            cache.add(key, 0, timeout=window)
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
        except Exception:
            log.warning("hub.ratelimit.cache_unavailable", exc_info=True)
            return


def login_succeeded(*, username: str, ip: str) -> None:
    try:
        cache.delete(_pair(username, ip))
    except Exception:
        log.warning("hub.ratelimit.cache_unavailable", exc_info=True)
