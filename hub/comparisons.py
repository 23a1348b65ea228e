"""Comparisons and share links (issue #5): every read and write of them goes through here.

Documented in docs/ARCHITECTURE.md#comparisons-and-share-links. The rules:

- A comparison is its owner's. `comparison_for_owner(user=…, key=…)` is the only way a request
  reaches one by its id: the owner or an admin get it, anyone else gets `NotFound` (404), the
  same answer as for an id that does not exist.
- Everyone else reads a comparison through a share link: `link_resolve(raw=…, user=…)`. A
  malformed, unknown, revoked or expired token, a link whose owner is deactivated, or a logged-in
  caller the link does not admit → `NotFound`. An anonymous caller of a `members`/`users` link →
  `NotAuthenticated` (pages send them to the login form).
- What the owner's pages and a link may read is `resolve_runs(comparison)`: the comparison's runs
  that still exist, lie in a project the OWNER can still read, are not hidden and still have their
  stored data. The others stay listed with `"available": false` and a reason (`hidden`, `deleted`,
  `missing`), so a comparison reports them instead of breaking. `panels.scopes.ComparisonScope`
  hands exactly the available runs to the data views.
- Tokens: `secrets.token_urlsafe(24)` (192 bits, URL-safe). The database keeps their SHA-256 for
  the lookup and a Fernet-encrypted copy (hub.crypto's key) so that the owner can copy a link's
  URL again; a database dump alone yields no working link.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.http import HttpRequest
from django.utils import timezone

from hub.access import NotAuthenticated, is_admin
from hub.crypto import CredentialsError, credentials_decrypt, credentials_encrypt
from hub.errors import NotFound, ServiceError
from hub.models import (
    AuditAction,
    Comparison,
    ComparisonRun,
    Membership,
    Project,
    ShareKind,
    ShareLink,
)
from ingest.models import Run

log = logging.getLogger("hub.comparisons")

KEY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: ids are read aloud and typed
KEY_LENGTH = 10  # 32^10 = 2^50: ids are not secrets (the owner's credentials guard them)
TOKEN_BYTES = 24  # 192 bits
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32}$")
MAX_TITLE_CHARS = 200
MAX_ALIAS_CHARS = 200
MAX_RUNS = 500
MAX_STATE_BYTES = 256 * 1024
MAX_LINK_DAYS = 3650
MAX_LINK_USERS = 200
MAX_ACTIVE_LINKS = 100
MAX_COMPARISONS_PER_USER = 1000
# last_used_at is written at most this often per link (one UPDATE, not one per request).
LINK_TOUCH_SECONDS = 60

REASON_HIDDEN = "hidden"
REASON_DELETED = "deleted"
REASON_MISSING = "missing"
EMPTY_TAGS: dict[str, list[str]] = {
    "scalars": [],
    "histograms": [],
    "distributions": [],
    "images": [],
    "text": [],
}


def comparison_path(key: str) -> str:
    return f"/c/{key}"


def link_path(token: str) -> str:
    return f"/s/{token}"


def absolute(request: HttpRequest | None, path: str) -> str:
    return request.build_absolute_uri(path) if request is not None else path


def comparison_group(comparison_id: int) -> str:
    """Channel-layer group of a comparison's websocket consumers (told about changes)."""
    return f"comparison.{comparison_id}"


def link_group(link_id: int) -> str:
    """Channel-layer group of the consumers opened through one link (closed on revocation)."""
    return f"share.{link_id}"


# ---- resolving a comparison's runs -------------------------------------------------------------


@dataclass(slots=True)
class Entry:
    """One run of a comparison as a reader sees it."""

    run_id: int
    alias: str
    name: str
    project_slug: str
    project_name: str
    run: Run | None  # None unless available
    reason: str | None  # None when available
    detail: str = ""
    display_name: str = ""

    @property
    def available(self) -> bool:
        return self.reason is None


@dataclass(slots=True)
class Resolved:
    comparison: Comparison
    entries: list[Entry]
    # Available runs by id, in comparison order.
    available: dict[int, Run] = field(default_factory=dict)
    # Projects of the comparison's existing runs the owner can read (their notices are relevant).
    project_ids: set[int] = field(default_factory=set)

    @property
    def version(self) -> str:
        """Changes whenever a shown run commits or a run's availability changes."""
        total = sum(int(r.version) for r in self.available.values())
        sig = hashlib.sha1(
            ",".join(f"{e.run_id}:{e.reason or ''}" for e in self.entries).encode(),
            usedforsecurity=False,
        ).hexdigest()[:12]
        return f"c{total}.{len(self.available)}.{sig}"


def _readable_project_ids(user: Any, project_ids: set[int]) -> set[int]:
    if not project_ids or user is None or not user.is_active:
        return set()
    if is_admin(user):
        return set(project_ids)
    return set(
        Membership.objects.filter(user=user, project_id__in=project_ids).values_list(
            "project_id", flat=True
        )
    )


def _display_names(entries: list[Entry]) -> None:
    """Alias, else the run name, else `project/name` when another run without an alias has the
    same name; made unique in order so that the dashboard can key runs by it."""
    counts: dict[str, int] = {}
    for e in entries:
        if not e.alias:
            counts[e.name] = counts.get(e.name, 0) + 1
    used: set[str] = set()
    for e in entries:
        base = e.alias or (e.name if counts.get(e.name, 0) <= 1 else f"{e.project_slug}/{e.name}")
        name, n = base, 2
        while name in used:
            name, n = f"{base} ({n})", n + 1
        used.add(name)
        e.display_name = name


def resolve_runs(comparison: Comparison) -> Resolved:
    """The comparison's runs, in order, each available or not (with the reason)."""
    rows = list(ComparisonRun.objects.filter(comparison=comparison).order_by("position"))
    runs = {
        r.pk: r
        for r in Run.objects.filter(pk__in=[e.run_id for e in rows]).select_related(
            "source__project"
        )
    }
    readable = _readable_project_ids(comparison.owner, {r.source.project_id for r in runs.values()})
    out = Resolved(comparison=comparison, entries=[], project_ids=readable)
    for row in rows:
        run = runs.get(row.run_id)
        if run is None or run.source.project_id not in readable:
            # Gone, or in a project the owner can no longer read: nothing of it is served, and
            # the report says no more than that (the name is what the owner saved).
            entry = Entry(
                row.run_id, row.alias, row.run_name, row.project_slug, "", None, REASON_MISSING
            )
        else:
            project = run.source.project
            reason, detail = None, ""
            if run.data_deleted_at is not None:
                reason = REASON_DELETED
                detail = run.data_deleted_reason or ""
            elif run.hidden:
                reason = REASON_HIDDEN
            entry = Entry(
                run.pk,
                row.alias,
                run.name,
                project.slug,
                project.name,
                run if reason is None else None,
                reason,
                detail,
            )
            if reason is None:
                out.available[run.pk] = run
        out.entries.append(entry)
    _display_names(out.entries)
    return out


def runs_payload(resolved: Resolved) -> list[dict[str, Any]]:
    """The runs as `GET /api/v1/shared/{token}` lists them (and the owner's API and pages)."""
    from panels import selectors as data

    by_project: dict[int, dict[int, dict[str, Any]]] = {}
    for run in resolved.available.values():
        pid = run.source.project_id
        if pid not in by_project:
            wanted = {r.pk for r in resolved.available.values() if r.source.project_id == pid}
            by_project[pid] = {
                r["id"]: r for r in data.runs_list(project=run.source.project) if r["id"] in wanted
            }
    out = []
    for e in resolved.entries:
        info = by_project.get(e.run.source.project_id, {}).get(e.run_id) if e.run else None
        item: dict[str, Any] = {
            "id": e.run_id,
            "project": e.project_slug,
            "project_name": e.project_name,
            "name": e.name,
            "alias": e.alias,
            "display_name": e.display_name,
            "available": e.available,
            "reason": e.reason,
            "tags": {k: list(v) for k, v in (info["tags"] if info else EMPTY_TAGS).items()},
            "graph": bool(info["graph"]) if info else False,
            "start_time": info["start_time"] if info else None,
            "last_update": info["last_update"] if info else None,
            "last_step": info["last_step"] if info else None,
        }
        if e.reason == REASON_DELETED:
            item["deleted_by"] = e.detail or None
        out.append(item)
    return out


def view_payload(resolved: Resolved) -> dict[str, Any]:
    """What a link shows: the title, the saved view state and the runs. Nothing about the
    owner, the projects' other runs, their sources or their members."""
    c = resolved.comparison
    return {
        "title": c.title,
        "state": dict(c.state or {}),
        "runs": runs_payload(resolved),
        "version": resolved.version,
    }


# ---- reads for the owner -----------------------------------------------------------------------


def comparison_for_owner(*, user: Any, key: str) -> Comparison:
    """The comparison `key` if `user` owns it or is an admin; NotFound otherwise."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        raise NotFound("no such comparison")
    qs = Comparison.objects.select_related("owner").filter(key=key)
    if not is_admin(user):
        qs = qs.filter(owner=user)
    comparison = qs.first()
    if comparison is None:
        raise NotFound("no such comparison")
    return comparison


def comparison_list(*, user: Any) -> QuerySet[Comparison]:
    """The caller's comparisons, newest change first, with their run and active link counts."""
    now = timezone.now()
    active = Q(links__revoked_at__isnull=True) & (
        Q(links__expires_at__isnull=True) | Q(links__expires_at__gt=now)
    )
    runs = ComparisonRun.objects.filter(comparison=OuterRef("pk")).values("comparison")
    return (
        Comparison.objects.filter(owner=user)
        .select_related("owner")
        .annotate(
            n_runs=Subquery(runs.annotate(n=Count("id")).values("n")[:1]),
            n_links=Count("links", filter=active, distinct=True),
        )
        .order_by("-updated_at", "-id")
    )


def comparison_summary(c: Comparison, *, request: HttpRequest | None = None) -> dict[str, Any]:
    if hasattr(c, "n_runs"):  # annotated by comparison_list
        run_count = int(getattr(c, "n_runs", 0) or 0)
        active_links = int(getattr(c, "n_links", 0) or 0)
    else:
        run_count = ComparisonRun.objects.filter(comparison=c).count()
        active_links = (
            ShareLink.objects.filter(comparison=c, revoked_at__isnull=True)
            .exclude(expires_at__lte=timezone.now())
            .count()
        )
    return {
        "id": c.key,
        "url": absolute(request, comparison_path(c.key)),
        "title": c.title,
        "owner": c.owner.get_username(),
        "run_count": run_count,
        "active_links": active_links,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }


def comparison_detail(c: Comparison, *, request: HttpRequest | None = None) -> dict[str, Any]:
    resolved = resolve_runs(c)
    return {
        **comparison_summary(c, request=request),
        "state": dict(c.state or {}),
        "runs": runs_payload(resolved),
        "version": resolved.version,
    }


# ---- writes ------------------------------------------------------------------------------------


def _text(value: object, *, what: str, limit: int, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise ServiceError(f"{what} must be a string", field=what)
    value = value.strip()
    if required and not value:
        raise ServiceError(f"{what} must not be empty", field=what)
    if len(value) > limit:
        raise ServiceError(f"{what} is longer than {limit} characters", field=what)
    return value


def state_clean(doc: object) -> dict[str, Any]:
    """A view state: the saved dashboard's keys (panels.kinds.prefs), type- and range-checked;
    unknown keys are dropped."""
    from panels.kinds.prefs import InvalidPrefs, prefs_clean

    if doc is None:
        return {}
    try:
        clean = prefs_clean(doc)
    except InvalidPrefs as exc:
        raise ServiceError(f"state: {exc}", field="state") from exc
    if len(json.dumps(clean)) > MAX_STATE_BYTES:
        raise ServiceError("state is too large", field="state")
    return clean


def _runs_input(value: object) -> list[tuple[int, str]]:
    """`[run_id, …]` or `[{"id": run_id, "alias": "…"}, …]` → [(id, alias)]."""
    if not isinstance(value, list) or not value:
        raise ServiceError("runs must be a non-empty list of run ids", field="runs")
    if len(value) > MAX_RUNS:
        raise ServiceError(f"a comparison holds at most {MAX_RUNS} runs", field="runs")
    out: list[tuple[int, str]] = []
    seen: set[int] = set()
    for item in value:
        alias: object = ""
        if isinstance(item, dict):
            rid = item.get("id")
            alias = item.get("alias", "")
        else:
            rid = item
        if isinstance(rid, bool) or not isinstance(rid, int) or rid < 1:
            raise ServiceError("run ids must be positive integers", field="runs")
        if rid in seen:
            raise ServiceError(f"run {rid} is listed twice", field="runs")
        seen.add(rid)
        out.append((rid, _text(alias, what="alias", limit=MAX_ALIAS_CHARS, required=False)))
    return out


def _runs_readable(user: Any, ids: list[int]) -> dict[int, Run]:
    """The runs among `ids` that `user` may read (all of them for admins)."""
    qs = Run.objects.filter(pk__in=ids).select_related("source__project")
    if not is_admin(user):
        qs = qs.filter(source__project__memberships__user=user)
    return {r.pk: r for r in qs}


def _entries_write(
    comparison: Comparison,
    runs: list[tuple[int, str]],
    *,
    user: Any,
    keep: dict[int, ComparisonRun] | None = None,
) -> None:
    """Replace the comparison's runs. Every run new to it must be readable by `user` (else
    NotFound naming that id, never saying whether it exists); runs it already holds are kept
    with what was saved about them."""
    keep = keep or {}
    readable = _runs_readable(user, [rid for rid, _ in runs if rid not in keep])
    for rid, _ in runs:
        if rid not in keep and rid not in readable:
            raise NotFound(f"no such run: {rid}")
    ComparisonRun.objects.filter(comparison=comparison).delete()
    rows = []
    for pos, (rid, alias) in enumerate(runs):
        old = keep.get(rid)
        run = readable.get(rid)
        rows.append(
            ComparisonRun(
                comparison=comparison,
                position=pos,
                run_id=rid,
                alias=alias,
                run_name=run.name if run else (old.run_name if old else ""),
                project_slug=run.source.project.slug if run else (old.project_slug if old else ""),
            )
        )
    ComparisonRun.objects.bulk_create(rows)


def _new_key() -> str:
    return "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))


def _notify(group: str, message: dict[str, Any]) -> None:
    """Tell a comparison's (or a link's) open websockets, after the commit. Best effort."""

    def send() -> None:
        import asyncio

        from asgiref.sync import async_to_sync
        from channels.layers import get_channel_layer

        from ingest import notices

        layer = get_channel_layer()
        if layer is None:
            return
        try:
            loop = notices.SERVER_LOOP
            if loop is not None and loop.is_running():
                asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(5)
            else:
                async_to_sync(layer.group_send)(group, message)
        except Exception:
            log.warning("hub.comparisons.notify_failed", extra={"group": group}, exc_info=True)

    transaction.on_commit(send)


def comparison_create(
    *, user: Any, title: object, runs: object, state: object = None, via: str = ""
) -> Comparison:
    """A new comparison of `user`. Every run must be readable by `user` (else NotFound)."""
    title_s = _text(title, what="title", limit=MAX_TITLE_CHARS, required=True)
    run_list = _runs_input(runs)
    state_d = state_clean(state)
    if Comparison.objects.filter(owner=user).count() >= MAX_COMPARISONS_PER_USER:
        raise ServiceError(f"at most {MAX_COMPARISONS_PER_USER} comparisons per user")
    for _ in range(8):
        try:
            with transaction.atomic():
                comparison = Comparison.objects.create(
                    key=_new_key(), owner=user, title=title_s, state=state_d
                )
                _entries_write(comparison, run_list, user=user)
                return comparison
        except IntegrityError:
            continue  # a key collision (2^-50 per pair): draw another
    raise ServiceError("could not create the comparison, try again")


def comparison_update(
    *,
    comparison: Comparison,
    user: Any,
    title: object = None,
    runs: object = None,
    state: object = None,
    via: str = "",
) -> Comparison:
    """Rename, replace the runs (new ones must be readable by `user`) or replace the state."""
    fields: list[str] = []
    with transaction.atomic():
        if title is not None:
            comparison.title = _text(title, what="title", limit=MAX_TITLE_CHARS, required=True)
            fields.append("title")
        if state is not None:
            comparison.state = state_clean(state)
            fields.append("state")
        if runs is not None:
            keep = {e.run_id: e for e in ComparisonRun.objects.filter(comparison=comparison)}
            _entries_write(comparison, _runs_input(runs), user=user, keep=keep)
        comparison.save(update_fields=[*fields, "updated_at"])
    if runs is not None or state is not None or title is not None:
        _notify(comparison_group(comparison.pk), {"type": "comparison.changed"})
    return comparison


def comparison_duplicate(
    *, comparison: Comparison, user: Any, title: object = None, via: str = ""
) -> Comparison:
    """A copy owned by `user` (runs, aliases and state; never the links)."""
    new_title = (
        _text(title, what="title", limit=MAX_TITLE_CHARS, required=True)
        if title is not None
        else f"Copy of {comparison.title}"[:MAX_TITLE_CHARS]
    )
    rows = list(ComparisonRun.objects.filter(comparison=comparison).order_by("position"))
    for _ in range(8):
        try:
            with transaction.atomic():
                copy = Comparison.objects.create(
                    key=_new_key(), owner=user, title=new_title, state=dict(comparison.state or {})
                )
                ComparisonRun.objects.bulk_create(
                    ComparisonRun(
                        comparison=copy,
                        position=r.position,
                        run_id=r.run_id,
                        alias=r.alias,
                        run_name=r.run_name,
                        project_slug=r.project_slug,
                    )
                    for r in rows
                )
                return copy
        except IntegrityError:
            continue
    raise ServiceError("could not duplicate the comparison, try again")


def comparison_delete(*, comparison: Comparison, user: Any, via: str = "") -> None:
    """Delete a comparison and every link to it (they stop working at once)."""
    with transaction.atomic():
        _notify(comparison_group(comparison.pk), {"type": "comparison.closed"})
        comparison.delete()


# ---- share links -------------------------------------------------------------------------------


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def link_token(link: ShareLink) -> str | None:
    """The link's token, for its owner; None if the key that encrypted it has changed."""
    try:
        value = credentials_decrypt(link.token_encrypted).get("token")
    except CredentialsError:
        return None
    return str(value) if value else None


def link_detail(link: ShareLink, *, request: HttpRequest | None = None) -> dict[str, Any]:
    token = link_token(link)
    return {
        "id": link.pk,
        "token": token,
        "url": absolute(request, link_path(token)) if token else None,
        "kind": link.kind,
        "users": sorted(u.get_username() for u in link.users.all()),
        "status": link.status,
        "created_by": link.created_by.get_username() if link.created_by else None,
        "created_at": link.created_at.isoformat(),
        "last_used_at": link.last_used_at.isoformat() if link.last_used_at else None,
        "expires_at": link.expires_at.isoformat() if link.expires_at else None,
        "revoked_at": link.revoked_at.isoformat() if link.revoked_at else None,
    }


def link_list(*, comparison: Comparison) -> list[ShareLink]:
    return list(
        ShareLink.objects.filter(comparison=comparison)
        .select_related("created_by")
        .prefetch_related("users")
        .order_by("-created_at", "-id")
    )


def link_get(*, comparison: Comparison, raw: str) -> ShareLink:
    """A link of this comparison by its token (its owner's lookup for revocation)."""
    if not isinstance(raw, str) or not TOKEN_RE.match(raw):
        raise NotFound("no such link")
    link = ShareLink.objects.filter(comparison=comparison, token_hash=token_hash(raw)).first()
    if link is None:
        raise NotFound("no such link")
    return link


def _source_projects(comparison: Comparison) -> list[Project]:
    ids = ComparisonRun.objects.filter(comparison=comparison).values_list("run_id", flat=True)
    return list(Project.objects.filter(sources__runs__id__in=list(ids)).distinct().order_by("slug"))


def _audit(*, actor: Any, action: str, comparison: Comparison, link: ShareLink, via: str) -> None:
    """One audit event per source project: its owners see that its runs are shared."""
    from hub.services import audit_record

    runs = list(
        Run.objects.filter(
            pk__in=ComparisonRun.objects.filter(comparison=comparison).values("run_id")
        ).values_list("name", "source__project_id")
    )
    for project in _source_projects(comparison):
        audit_record(
            actor=actor,
            action=action,
            project=project,
            target=comparison.title,
            details={
                "comparison": comparison.key,
                "link": link.pk,
                "kind": link.kind,
                "owner": comparison.owner.get_username(),
                "runs": sorted(name for name, pid in runs if pid == project.pk)[:100],
                "expires_at": link.expires_at.isoformat() if link.expires_at else None,
            },
            via=via,
        )


def link_create(
    *,
    comparison: Comparison,
    user: Any,
    kind: object,
    usernames: object = None,
    expires_in_days: object = None,
    via: str = "",
) -> tuple[ShareLink, str]:
    """A new link. Returns (link, token); only the token's hash and an encrypted copy are kept."""
    if kind not in ShareKind.values:
        raise ServiceError(
            'give one of {"public": true}, {"members": true} or {"users": [username, …]}',
            field="kind",
        )
    kind = str(kind)
    users: list[Any] = []
    if kind == ShareKind.USERS:
        if not isinstance(usernames, list) or not usernames:
            raise ServiceError("users must be a non-empty list of usernames", field="users")
        if len(usernames) > MAX_LINK_USERS:
            raise ServiceError(f"at most {MAX_LINK_USERS} users per link", field="users")
        names = [_text(u, what="users", limit=150, required=True) for u in usernames]
        found = {
            u.get_username(): u
            for u in get_user_model().objects.filter(username__in=names, is_active=True)
        }
        unknown = [n for n in names if n not in found]
        if unknown:
            raise ServiceError(f"there is no active user '{unknown[0]}'", field="users")
        users = list(dict.fromkeys(found[n] for n in names))
    expires_at = None
    if expires_in_days is not None:
        if isinstance(expires_in_days, bool) or not isinstance(expires_in_days, int):
            raise ServiceError(
                "expires_in_days must be a whole number of days", field="expires_in_days"
            )
        if not 1 <= expires_in_days <= MAX_LINK_DAYS:
            raise ServiceError(
                f"expires_in_days must be between 1 and {MAX_LINK_DAYS}", field="expires_in_days"
            )
        expires_at = timezone.now() + timedelta(days=expires_in_days)
    active = ShareLink.objects.filter(comparison=comparison, revoked_at__isnull=True).exclude(
        expires_at__lte=timezone.now()
    )
    if active.count() >= MAX_ACTIVE_LINKS:
        raise ServiceError(f"at most {MAX_ACTIVE_LINKS} active links per comparison: revoke some")
    raw = secrets.token_urlsafe(TOKEN_BYTES)
    with transaction.atomic():
        link = ShareLink.objects.create(
            comparison=comparison,
            kind=kind,
            token_hash=token_hash(raw),
            token_encrypted=credentials_encrypt({"token": raw}),
            created_by=user,
            expires_at=expires_at,
        )
        if users:
            link.users.set(users)
        _audit(
            actor=user, action=AuditAction.SHARE_CREATE, comparison=comparison, link=link, via=via
        )
    return link, raw


def link_revoke(*, link: ShareLink, user: Any, via: str = "") -> ShareLink:
    """Revoke a link (idempotent). It stops working at once, open websockets included."""
    if link.revoked_at is not None:
        return link
    with transaction.atomic():
        ShareLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=user if getattr(user, "pk", None) else None
        )
        link.refresh_from_db()
        _audit(
            actor=user,
            action=AuditAction.SHARE_REVOKE,
            comparison=link.comparison,
            link=link,
            via=via,
        )
        _notify(link_group(link.pk), {"type": "share.closed"})
    return link


def _member_of_all(user: Any, comparison: Comparison) -> bool:
    projects = {p.pk for p in _source_projects(comparison)}
    if not projects:
        return False
    mine = set(
        Membership.objects.filter(user=user, project_id__in=projects).values_list(
            "project_id", flat=True
        )
    )
    return mine == projects


def link_admits(link: ShareLink, user: Any | None) -> bool:
    """Whether `user` (None: anonymous) may read through `link`. Raises NotAuthenticated for an
    anonymous caller of a link that needs a login."""
    if link.kind == ShareKind.PUBLIC:
        return True
    if user is None:
        raise NotAuthenticated()
    comparison = link.comparison
    if is_admin(user) or user.pk == comparison.owner_id:
        return True
    if link.kind == ShareKind.USERS:
        return link.users.filter(pk=user.pk).exists()
    if link.kind == ShareKind.MEMBERS:
        return _member_of_all(user, comparison)
    return False


def link_resolve(*, raw: str, user: Any | None, touch: bool = True) -> ShareLink:
    """The active link with token `raw` if it admits `user`; NotFound otherwise (see the module
    docstring). Records the time of use (at most once a minute per link)."""
    if not isinstance(raw, str) or not TOKEN_RE.match(raw):
        raise NotFound("no such link")
    link = (
        ShareLink.objects.select_related("comparison", "comparison__owner")
        .filter(token_hash=token_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if link is None or link.status != "active" or not link.comparison.owner.is_active:
        raise NotFound("no such link")
    if user is not None and (not getattr(user, "is_authenticated", False) or not user.is_active):
        user = None
    if not link_admits(link, user):
        raise NotFound("no such link")
    if touch:
        now = timezone.now()
        if link.last_used_at is None or now - link.last_used_at > timedelta(
            seconds=LINK_TOUCH_SECONDS
        ):
            ShareLink.objects.filter(pk=link.pk).update(last_used_at=now)
            link.last_used_at = now
    return link


# ---- picking runs ------------------------------------------------------------------------------


def run_search(
    *, user: Any, regex: str = "", run_ids: list[int] | None = None, limit: int = 500
) -> list[dict[str, Any]]:
    """Runs of every project `user` can read whose name matches `regex` (case-insensitive,
    anywhere; evaluated in the database under a statement timeout), hidden runs and runs without
    data left out; or exactly the readable runs among `run_ids`. Project, then name order."""
    from django.db import DatabaseError, connection

    from hub.selectors import REGEX_TIMEOUT_MS, projects_visible, regex_validate

    qs = Run.objects.filter(source__project__in=projects_visible(user=user))
    if run_ids is not None:
        qs = qs.filter(pk__in=run_ids)
    else:
        qs = qs.filter(hidden=False, data_deleted_at__isnull=True)
        if regex:
            qs = qs.filter(name__iregex=regex_validate(regex))
    qs = qs.order_by("source__project__slug", "name", "id")
    fields = ("id", "name", "hidden", "data_deleted_at", "source__project__slug")
    try:
        with transaction.atomic():
            if regex and connection.vendor == "postgresql":
                with connection.cursor() as cur:
                    cur.execute(f"SET LOCAL statement_timeout = {REGEX_TIMEOUT_MS}")
            rows = list(qs.values(*fields, project_name=F("source__project__name"))[:limit])
    except DatabaseError as exc:
        raise ServiceError(
            "the regular expression could not be applied (invalid, or too slow to evaluate)"
        ) from exc
    return [
        {
            "id": r["id"],
            "name": r["name"],
            "project": r["source__project__slug"],
            "project_name": r["project_name"],
            "hidden": r["hidden"],
            "deleted": r["data_deleted_at"] is not None,
        }
        for r in rows
    ]
