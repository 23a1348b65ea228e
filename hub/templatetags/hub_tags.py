"""Small presentation helpers for the hub's pages."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from django import template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

register = template.Library()

# URL names the dashboards (issue #4) may register for a project's dashboard page.
DASHBOARD_URL_NAMES = ("panels-dashboard", "panels:dashboard", "dashboard")


@register.simple_tag
def dashboard_url(slug: str) -> str:
    """The project's dashboard page if the dashboards are installed, else ""."""
    for name in DASHBOARD_URL_NAMES:
        try:
            return reverse(name, kwargs={"slug": slug})
        except NoReverseMatch:
            continue
    return ""


def _as_datetime(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, int | float):
        return datetime.fromtimestamp(float(value), tz=UTC)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


@register.filter
def as_datetime(value: Any) -> datetime | None:
    """A POSIX timestamp or ISO string as an aware datetime (for the `date` filter)."""
    return _as_datetime(value)


@register.filter
def ago(value: Any) -> str:
    """'12 s ago', '5 min ago', '3 h ago', '4 d ago' or '' for nothing."""
    when = _as_datetime(value)
    if when is None:
        return ""
    seconds = (timezone.now() - when).total_seconds()
    if seconds < 0:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)} s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    return f"{int(seconds // 86400)} d ago"


@register.filter
def percent(part: Any, whole: Any) -> str:
    try:
        p, w = float(part), float(whole)
    except (TypeError, ValueError):
        return ""
    if w <= 0:
        return "—"
    return f"{min(100.0, 100.0 * p / w):.0f}%"


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def audit_value(value: Any) -> str:
    """An audit detail as people read it: yes/no, "—" for nothing, lists and objects as compact
    JSON (the stored form is JSON; Python's repr of it read as code, e.g. `False`, `{}`)."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), sort_keys=True)
    return str(value)
