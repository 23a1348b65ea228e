"""Comparison pages (issue #5): the user's comparisons, picking runs across projects, and the
owner's page for a comparison's runs and share links. The comparison itself is drawn by the
dashboard (`/c/{id}` and `/s/{token}`, panels.comparison_views).

Same order as every hub page: a session (else the login form), the comparison through
`hub.comparisons.comparison_for_owner` (404 for anyone but its owner or an admin), then one
service. Writes are POST forms with Django's CSRF token and redirect afterwards.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from hub import comparisons
from hub.access import request_user
from hub.errors import NotFound, ServiceError
from hub.models import Comparison, ShareKind
from hub.views import _back, _via, team_login_required

MAX_PICK_RESULTS = 500


def _owned(request: HttpRequest, key: str) -> Comparison:
    try:
        return comparisons.comparison_for_owner(user=request_user(request), key=key)
    except NotFound as exc:
        raise Http404("no such comparison") from exc


def _ids(raw: str) -> list[int]:
    out: list[int] = []
    for part in raw.replace(" ", ",").split(","):
        if part.strip().isdigit():
            out.append(int(part))
    return list(dict.fromkeys(out))[: comparisons.MAX_RUNS]


@team_login_required
@require_http_methods(["GET", "POST"])
def comparisons_page(request: HttpRequest) -> HttpResponse:
    """The caller's comparisons: open, rename, duplicate, delete."""
    user = request_user(request)
    if request.method == "POST":
        comparison = _owned(request, request.POST.get("key") or "")
        op = request.POST.get("op")
        try:
            if op == "rename":
                comparisons.comparison_update(
                    comparison=comparison,
                    user=user,
                    title=request.POST.get("title"),
                    via=_via(request),
                )
                messages.success(request, f"Renamed to “{comparison.title}”.")
            elif op == "duplicate":
                copy = comparisons.comparison_duplicate(
                    comparison=comparison, user=user, via=_via(request)
                )
                messages.success(request, f"Duplicated as “{copy.title}”.")
            elif op == "delete":
                title = comparison.title
                comparisons.comparison_delete(comparison=comparison, user=user, via=_via(request))
                messages.success(
                    request, f"Comparison “{title}” deleted; its links stopped working."
                )
            else:
                messages.error(request, "Unknown action.")
        except ServiceError as err:
            messages.error(request, err.message)
        return _back(request, reverse("hub:comparisons"))
    items = [
        comparisons.comparison_summary(c, request=request)
        for c in comparisons.comparison_list(user=user)[:1000]
    ]
    return render(request, "hub/comparisons.html", {"comparisons": items})


def _aliases(request: HttpRequest, into: Comparison | None, selected: list[int]) -> dict[int, str]:
    if request.method == "POST":
        return {rid: (request.POST.get(f"alias_{rid}") or "") for rid in selected}
    if into is not None:
        return dict(into.entries.values_list("run_id", "alias"))
    return {}


@team_login_required
@require_http_methods(["GET", "POST"])
def comparison_new_page(request: HttpRequest) -> HttpResponse:
    """Pick runs from every project the caller can read (regex search), name the selection and
    save it with the view state it came with (the dashboard's "Compare…" sends its own).
    With `into={id}` it edits the selection of one of the caller's comparisons instead."""
    user = request_user(request)
    src = request.POST if request.method == "POST" else request.GET
    into = _owned(request, src.get("into") or "") if src.get("into") else None
    q = (src.get("q") or "").strip()
    title = (src.get("title") or (into.title if into else "")).strip()
    state_raw = src.get("state") or ""
    selected = _ids(",".join(src.getlist("run")) + "," + (src.get("runs") or ""))
    status = 200
    error = ""
    if request.method == "POST" and request.POST.get("op") == "save":
        runs: list[Any] = [
            {"id": rid, "alias": (request.POST.get(f"alias_{rid}") or "").strip()}
            for rid in selected
        ]
        try:
            state = json.loads(state_raw) if state_raw else None
        except ValueError:
            state = None
        try:
            if into is not None:
                comparison = comparisons.comparison_update(
                    comparison=into, user=user, title=title, runs=runs, via=_via(request)
                )
            else:
                comparison = comparisons.comparison_create(
                    user=user, title=title, runs=runs, state=state, via=_via(request)
                )
        except NotFound as err:
            error, status = f"{err} (you cannot read it, or it does not exist)", 400
        except ServiceError as err:
            error, status = err.message, 400
        else:
            messages.success(request, f"Comparison “{comparison.title}” saved.")
            return HttpResponseRedirect(comparisons.comparison_path(comparison.key))
    if into is not None and request.method == "GET" and not src.get("runs"):
        selected = list(into.entries.order_by("position").values_list("run_id", flat=True))
    chosen = comparisons.run_search(user=user, run_ids=selected) if selected else []
    order = {rid: i for i, rid in enumerate(selected)}
    chosen.sort(key=lambda r: order.get(r["id"], 0))
    results: list[dict[str, Any]] = []
    if q or request.GET.get("all") == "1":
        try:
            results = comparisons.run_search(user=user, regex=q, limit=MAX_PICK_RESULTS + 1)
        except ServiceError as err:
            error = err.message
    chosen_ids = {r["id"] for r in chosen}
    results = [r for r in results if r["id"] not in chosen_ids]
    return render(
        request,
        "hub/comparison_new.html",
        {
            "q": q,
            "title": title,
            "into": into,
            "state_raw": state_raw,
            "chosen": chosen,
            "results": results[:MAX_PICK_RESULTS],
            "truncated": len(results) > MAX_PICK_RESULTS,
            "error": error,
            "aliases": _aliases(request, into, selected),
        },
        status=status,
    )


@team_login_required
@require_http_methods(["GET", "POST"])
def comparison_manage_page(request: HttpRequest, key: str) -> HttpResponse:
    """The owner's page: runs (with availability and aliases), title, and share links."""
    user = request_user(request)
    comparison = _owned(request, key)
    created: tuple[Any, str] | None = None
    if request.method == "POST":
        op = request.POST.get("op")
        try:
            if op == "link":
                kind = request.POST.get("kind") or ""
                usernames = [
                    u.strip()
                    for u in (request.POST.get("users") or "").replace("\n", ",").split(",")
                    if u.strip()
                ]
                days_raw = (request.POST.get("expires_in_days") or "").strip()
                try:
                    days = int(days_raw) if days_raw else None
                except ValueError as exc:
                    raise ServiceError("expiry must be a whole number of days") from exc
                created = comparisons.link_create(
                    comparison=comparison,
                    user=user,
                    kind=kind,
                    usernames=usernames if kind == ShareKind.USERS else None,
                    expires_in_days=days,
                    via=_via(request),
                )
            elif op == "revoke":
                link = comparison.links.filter(pk=int(request.POST.get("id") or 0)).first()
                if link is None:
                    raise Http404("no such link")
                comparisons.link_revoke(link=link, user=user, via=_via(request))
                messages.success(request, "Link revoked: it stopped working at once.")
                return _back(request, reverse("hub:comparison-manage", args=[key]))
            elif op == "rename":
                comparisons.comparison_update(
                    comparison=comparison,
                    user=user,
                    title=request.POST.get("title"),
                    via=_via(request),
                )
                messages.success(request, "Renamed.")
                return _back(request, reverse("hub:comparison-manage", args=[key]))
            elif op == "runs":
                runs: list[Any] = []
                for entry in comparison.entries.order_by("position"):
                    if request.POST.get(f"remove_{entry.run_id}"):
                        continue
                    alias = (request.POST.get(f"alias_{entry.run_id}") or "").strip()
                    runs.append({"id": entry.run_id, "alias": alias})
                comparisons.comparison_update(
                    comparison=comparison, user=user, runs=runs, via=_via(request)
                )
                messages.success(request, "Runs saved.")
                return _back(request, reverse("hub:comparison-manage", args=[key]))
        except ServiceError as err:
            messages.error(request, err.message)
        except ValueError as exc:
            raise Http404("no such link") from exc
    resolved = comparisons.resolve_runs(comparison)
    links = [
        comparisons.link_detail(x, request=request)
        for x in comparisons.link_list(comparison=comparison)
    ]
    response = render(
        request,
        "hub/comparison_manage.html",
        {
            "comparison": comparison,
            "summary": comparisons.comparison_summary(comparison, request=request),
            "runs": comparisons.runs_payload(resolved),
            "links": links,
            "created": comparisons.link_detail(created[0], request=request) if created else None,
            "kinds": ShareKind.choices,
            "edit_runs_url": reverse("hub:comparison-new") + "?" + urlencode({"into": key}),
        },
    )
    response["Cache-Control"] = "no-store"
    # Never a referrer to another site; same-origin (not no-referrer, which makes browsers send
    # `Origin: null` with this page's forms and fail their CSRF check).
    response["Referrer-Policy"] = "same-origin"
    return response
