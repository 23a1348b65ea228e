"""Start-up checks (`manage.py check`, and every server start): source policy settings."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import Warning, register


@register()
def source_policy_check(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    from hub.policy import _parse_endpoint

    problems: list[Warning] = []
    for entry in getattr(settings, "TBHUB_ALLOWED_ENDPOINTS", []):
        try:
            _parse_endpoint(entry.strip())
        except ValueError as exc:
            problems.append(
                Warning(
                    f"TBHUB_ALLOWED_ENDPOINTS entry {entry!r} is ignored: it {exc}",
                    hint="Use scheme://host[:port][/path], e.g. http://127.0.0.1:9000",
                    id="hub.W001",
                )
            )
    for root in getattr(settings, "TBHUB_LOCAL_ROOTS", []):
        if not os.path.isabs(root):
            problems.append(
                Warning(
                    f"TBHUB_LOCAL_ROOTS entry {root!r} is not an absolute path",
                    hint="Separate absolute paths with ':'",
                    id="hub.W002",
                )
            )
    return problems
