"""Per-user dashboard state: validation and storage.

The document is small and flat; unknown keys are dropped, known ones are type- and range-checked,
so a broken or hostile client can never store something the dashboard would choke on.

    {"smoothing": 0.6, "x_axis": "step", "align_steps": false, "log_scale": false,
     "ignore_outliers": true, "tooltip_sort": "default", "show_downloads": false,
     "tag_filter": "loss", "run_filter": "",
     "selected_runs": ["a", "b"] | null, "run_colors": {"a": "#0077bb"},
     "pinned": ["scalars:loss/train"], "collapsed_groups": ["scalars:weights"],
     "hist_mode": "offset", "image_brightness": 1.0, "image_contrast": 1.0,
     "image_actual_size": false, "panel": "scalars", "group_regex": "", "band": "minmax"}
"""

from __future__ import annotations

import re
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

from hub.models import Project
from panels.models import DashboardPrefs

MAX_LIST = 5000
MAX_STR = 1000
MAX_DOC_BYTES = 256 * 1024
COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")


class InvalidPrefs(ValueError):
    pass


def _float(lo: float, hi: float) -> Any:
    def check(v: Any) -> float:
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= float(v) <= hi:
            raise InvalidPrefs(f"must be a number in [{lo}, {hi}]")
        return float(v)

    return check


def _choice(*choices: str) -> Any:
    def check(v: Any) -> str:
        if v not in choices:
            raise InvalidPrefs("must be one of " + ", ".join(choices))
        return str(v)

    return check


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise InvalidPrefs("must be true or false")
    return v


def _str(v: Any) -> str:
    if not isinstance(v, str) or len(v) > MAX_STR:
        raise InvalidPrefs(f"must be a string of at most {MAX_STR} characters")
    return v


def _str_list(v: Any) -> list[str]:
    if not isinstance(v, list) or len(v) > MAX_LIST:
        raise InvalidPrefs(f"must be a list of at most {MAX_LIST} strings")
    return [_str(x) for x in v]


def _str_list_or_null(v: Any) -> list[str] | None:
    return None if v is None else _str_list(v)


def _colors(v: Any) -> dict[str, str]:
    if not isinstance(v, dict) or len(v) > MAX_LIST:
        raise InvalidPrefs("must be an object of run name → #rrggbb")
    out = {}
    for k, c in v.items():
        if not isinstance(c, str) or not COLOR_RE.match(c):
            raise InvalidPrefs("colours must be #rrggbb")
        out[_str(k)] = c.lower()
    return out


FIELDS: dict[str, Any] = {
    "smoothing": _float(0.0, 0.999),
    "x_axis": _choice("step", "relative", "wall"),
    "align_steps": _bool,  # SCALARS on the STEP axis: each run drawn from its own first step
    "log_scale": _bool,
    "ignore_outliers": _bool,
    "tooltip_sort": _choice("default", "descending", "ascending", "nearest"),
    "show_downloads": _bool,
    "tag_filter": _str,
    "run_filter": _str,
    "selected_runs": _str_list_or_null,
    "run_colors": _colors,
    "pinned": _str_list,
    "collapsed_groups": _str_list,
    "hist_mode": _choice("offset", "overlay"),
    "image_brightness": _float(0.0, 2.0),
    "image_contrast": _float(0.0, 5.0),
    "image_actual_size": _bool,
    "panel": _choice(
        "scalars", "images", "graphs", "distributions", "histograms", "text", "hparams"
    ),
    "group_regex": _str,
    "band": _choice("minmax", "std"),
    "graph_color": _choice("structure", "device", "compute", "memory"),
    "hp_view": _choice("table", "parallel"),
}


def prefs_clean(doc: Any) -> dict[str, Any]:
    """The known, valid keys of `doc`; raises InvalidPrefs naming the first bad key."""
    if not isinstance(doc, dict):
        raise InvalidPrefs("preferences must be a JSON object")
    out: dict[str, Any] = {}
    for key, value in doc.items():
        check = FIELDS.get(key)
        if check is None:
            continue
        try:
            out[key] = check(value)
        except InvalidPrefs as exc:
            raise InvalidPrefs(f"'{key}' {exc}") from exc
    return out


def _owner(user_id: int | None) -> Q:
    return Q(user__isnull=True) if user_id is None else Q(user_id=user_id)


def prefs_get(*, user_id: int | None, project: Project) -> dict[str, Any]:
    row = DashboardPrefs.objects.filter(_owner(user_id), project=project).first()
    return dict(row.data) if row else {}


def prefs_update(
    *, user_id: int | None, project: Project, doc: Any, replace: bool = False
) -> dict[str, Any]:
    """Merge (or replace) the user's preferences with the valid keys of `doc`; returns the
    stored document."""
    clean = prefs_clean(doc)
    for _ in range(2):
        try:
            with transaction.atomic():
                row = (
                    DashboardPrefs.objects.select_for_update()
                    .filter(_owner(user_id), project=project)
                    .first()
                )
                data = {} if replace or row is None else dict(row.data)
                data.update(clean)
                if len(repr(data)) > MAX_DOC_BYTES:
                    raise InvalidPrefs("preferences are too large")
                if row is None:
                    DashboardPrefs.objects.create(user_id=user_id, project=project, data=data)
                else:
                    row.data = data
                    row.save(update_fields=["data", "updated_at"])
                return data
        except IntegrityError:
            continue  # a concurrent first save of the same user: retry as an update
    raise InvalidPrefs("could not save preferences, try again")
