"""Template context for every page: the mode, and the caller's place in it."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from hub.access import is_embedded


def hub(request: HttpRequest) -> dict[str, Any]:
    from django.conf import settings

    return {
        "hub_mode": "embedded" if is_embedded() else "team",
        "hub_oidc_enabled": bool(getattr(settings, "TBHUB_OIDC_ENABLED", False)),
    }
