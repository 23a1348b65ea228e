"""Hub reads: project lists, members, sources, run status, tokens, audit log, ingest health.

Documented in docs/ARCHITECTURE.md#access. Functions that start from a user take the user and
return only what that user may see; functions that take a `project` expect one already resolved
through `hub.access` for the caller. Nothing here returns a credential or any part of one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Count, F, Max, Q, QuerySet, Sum

from hub.errors import NotFound, ServiceError
from hub.models import AccessToken, AuditEvent, Membership, Project, Role
from ingest.models import EventFile, FileState, Run, Source, SourceStatus

MAX_REGEX_CHARS = 500
REGEX_TIMEOUT_MS = 2000
ERROR_STATES = (FileState.STUCK, FileState.ERROR)
WARN_STATES = (FileState.CORRUPT, FileState.MISSING)

# Bytes not read yet: files of runs whose data was deleted are not read on purpose.
_BEHIND = Q(size__gt=F("offset")) & ~Q(state=FileState.DELETED)

# Worst first: a project's health is its worst part.
HEALTH_ORDER = ("error", "degraded", "pending", "ok", "empty")


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


# ---- projects ------------------------------------------------------------------------------


def projects_visible(*, user: Any) -> QuerySet[Project]:
    """Every project `user` may read: all for admins, else those they are a member of."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def _health(
    statuses: dict[str, int], messages: list[tuple[str, str]], bad_files: int, warn_files: int
) -> dict[str, Any]:
    n = sum(statuses.values())
    if n == 0:
        state = "empty"
    elif statuses.get(SourceStatus.ERROR) or bad_files:
        state = "error"
    elif statuses.get(SourceStatus.DEGRADED) or warn_files:
        state = "degraded"
    elif statuses.get(SourceStatus.PENDING):
        state = "pending"
    else:
        state = "ok"
    message = ""
    for status in (SourceStatus.ERROR, SourceStatus.DEGRADED, SourceStatus.PENDING):
        for st, msg in messages:
            if st == status and msg:
                message = msg
                break
        if message:
            break
    if not message and bad_files:
        message = f"{bad_files} event file(s) cannot be read"
    elif not message and warn_files:
        message = f"{warn_files} event file(s) with skipped records or missing"
    return {
        "state": state,
        "message": message,
        "sources": n,
        "sources_by_status": {k: v for k, v in statuses.items() if v},
        "files_with_errors": bad_files,
        "files_with_warnings": warn_files,
    }


def project_summaries(*, project_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Runs, last activity, bytes behind and ingest health per project (four grouped queries)."""
    out: dict[int, dict[str, Any]] = {
        pid: {"runs": 0, "hidden_runs": 0, "last_activity": None, "bytes_behind": 0}
        for pid in project_ids
    }
    if not project_ids:
        return out
    for row in (
        Run.objects.filter(source__project_id__in=project_ids)
        .values(pid=F("source__project_id"))
        .annotate(
            n=Count("id"),
            hidden=Count("id", filter=Q(hidden=True)),
            last=Max("updated_at"),
        )
    ):
        out[row["pid"]].update(runs=row["n"], hidden_runs=row["hidden"], last_activity=row["last"])
    statuses: dict[int, dict[str, int]] = defaultdict(dict)
    messages: dict[int, list[tuple[str, str]]] = defaultdict(list)
    for pid, status, message in Source.objects.filter(project_id__in=project_ids).values_list(
        "project_id", "status", "status_message"
    ):
        statuses[pid][status] = statuses[pid].get(status, 0) + 1
        messages[pid].append((status, message))
    files: dict[int, dict[str, int]] = defaultdict(dict)
    for row in (
        EventFile.objects.filter(run__source__project_id__in=project_ids)
        .values(pid=F("run__source__project_id"))
        .annotate(
            bad=Count("id", filter=Q(state__in=ERROR_STATES)),
            warn=Count("id", filter=Q(state__in=WARN_STATES)),
            behind=Sum(F("size") - F("offset"), filter=_BEHIND),
        )
    ):
        files[row["pid"]] = row
    for pid in project_ids:
        f = files.get(pid, {})
        out[pid]["bytes_behind"] = int(f.get("behind") or 0)
        out[pid]["health"] = _health(
            statuses.get(pid, {}),
            messages.get(pid, []),
            int(f.get("bad") or 0),
            int(f.get("warn") or 0),
        )
    return out


def project_list(*, user: Any) -> list[dict[str, Any]]:
    """The projects `user` may read, with their role, run counts, last activity and health."""
    projects = list(projects_visible(user=user).order_by("slug").distinct())
    roles = dict(
        Membership.objects.filter(user=user, project__in=[p.pk for p in projects]).values_list(
            "project_id", "role"
        )
    )
    summaries = project_summaries(project_ids=[p.pk for p in projects])
    out = []
    for p in projects:
        role = roles.get(p.pk) or ("admin" if user.is_superuser else None)
        out.append(project_detail(project=p, role=role, summary=summaries[p.pk]))
    return out


def project_detail(
    *, project: Project, role: str | None, summary: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One project as the API shows it."""
    if summary is None:
        summary = project_summaries(project_ids=[project.pk])[project.pk]
    return {
        "slug": project.slug,
        "name": project.name,
        "description": project.description,
        "role": role,
        "created_at": project.created_at.isoformat(),
        "runs": summary["runs"],
        "hidden_runs": summary["hidden_runs"],
        "last_activity": summary["last_activity"].isoformat() if summary["last_activity"] else None,
        "bytes_behind": summary["bytes_behind"],
        "health": summary["health"],
    }


# ---- members -------------------------------------------------------------------------------


def member_list(*, project: Project) -> list[dict[str, Any]]:
    rank: dict[str, int] = {Role.OWNER: 0, Role.EDITOR: 1, Role.VIEWER: 2}
    rows = (
        Membership.objects.filter(project=project)
        .select_related("user", "added_by")
        .order_by("user__username")
    )
    out = [
        {
            "username": m.user.get_username(),
            "name": m.user.get_full_name() if hasattr(m.user, "get_full_name") else "",
            "role": m.role,
            "added_at": m.created_at.isoformat(),
            "added_by": m.added_by.get_username() if m.added_by else None,
        }
        for m in rows
    ]
    out.sort(key=lambda m: (rank.get(str(m["role"]), 9), str(m["username"])))
    return out


def membership_get(*, project: Project, username: str) -> Membership:
    m = (
        Membership.objects.select_related("user", "project")
        .filter(project=project, user__username=username)
        .first()
    )
    if m is None:
        raise NotFound("no such member")
    return m


def owner_count(*, project: Project) -> int:
    return Membership.objects.filter(project=project, role=Role.OWNER).count()


# ---- sources -------------------------------------------------------------------------------


def source_detail(source: Source, *, runs: int | None = None) -> dict[str, Any]:
    """A source as every page and API response shows it: never its credentials."""
    return {
        "id": source.pk,
        "url": source.url,
        "options": dict(source.options or {}),
        "credentials_set": bool(source.credentials_encrypted),
        "status": source.status,
        "status_message": source.status_message,
        "last_listed_at": source.last_listed_at.isoformat() if source.last_listed_at else None,
        "created_at": source.created_at.isoformat(),
        "created_by": source.created_by.get_username() if source.created_by else None,
        "runs": runs,
    }


def source_list(*, project: Project) -> list[dict[str, Any]]:
    sources = list(
        Source.objects.filter(project=project)
        .select_related("created_by")
        .annotate(n_runs=Count("runs"))
        .order_by("id")
    )
    return [source_detail(s, runs=s.n_runs) for s in sources]


def source_get(*, project: Project, source_id: int) -> Source:
    """A source of this project (never of another one, whatever the id)."""
    source = (
        Source.objects.select_related("project", "created_by")
        .filter(pk=source_id, project=project)
        .first()
    )
    if source is None:
        raise NotFound("no such source")
    return source


# ---- runs ----------------------------------------------------------------------------------


def run_get(*, project: Project, run_id: int) -> Run:
    """A run of this project by id (404 for ids of other projects)."""
    run = Run.objects.select_related("source").filter(pk=run_id, source__project=project).first()
    if run is None:
        raise NotFound("no such run")
    return run


def regex_validate(pattern: str) -> str:
    if len(pattern) > MAX_REGEX_CHARS:
        raise ServiceError(f"the regular expression is longer than {MAX_REGEX_CHARS} characters")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ServiceError(f"invalid regular expression: {exc}") from exc
    return pattern


RUN_SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "name": lambda r: r["name"],
    "source": lambda r: (r["source_url"], r["name"]),
    "start": lambda r: (r["start_time"] is None, r["start_time"] or 0.0),
    "files": lambda r: r["files"],
    "bytes": lambda r: r["bytes_total"],
    "step": lambda r: (r["last_step"] is None, r["last_step"] or 0),
    "updated": lambda r: (r["last_update"] is None, r["last_update"] or 0.0),
    "lag": lambda r: r["lag_bytes"],
    "errors": lambda r: (r["error_files"], r["bad_records"]),
    "stored": lambda r: r["stored_bytes"],
}


def run_status_list(
    *,
    project: Project,
    regex: str | None = None,
    sort: str = "name",
    descending: bool = False,
    include_hidden: bool = True,
    run_ids: list[int] | None = None,
) -> list[dict[str, Any]]:
    """The project's runs with their ingest status: files, bytes read/total, last step, last
    update, lag (bytes not yet read) and errors. `regex` filters run names (case-insensitive,
    matched anywhere); it runs in the database under a statement timeout, so a pathological
    pattern costs at most REGEX_TIMEOUT_MS."""
    qs = Run.objects.filter(source__project=project)
    if not include_hidden:
        qs = qs.filter(hidden=False)
    if run_ids is not None:
        qs = qs.filter(pk__in=run_ids)
    if regex:
        qs = qs.filter(name__iregex=regex_validate(regex))
    fields = (
        "id",
        "name",
        "source_id",
        "source__url",
        "start_time",
        "last_step",
        "updated_at",
        "hidden",
        "missing",
        "pending",
        "note",
        "lease_until",
        "data_deleted_at",
        "data_deleted_reason",
    )
    try:
        with transaction.atomic():
            if regex and connection.vendor == "postgresql":
                with connection.cursor() as cur:
                    cur.execute(f"SET LOCAL statement_timeout = {REGEX_TIMEOUT_MS}")
            runs = list(qs.values(*fields))
    except DatabaseError as exc:
        raise ServiceError(
            "the regular expression could not be applied (invalid, or too slow to evaluate)"
        ) from exc
    ids = [r["id"] for r in runs]
    stats: dict[int, dict[str, Any]] = {}
    for chunk_start in range(0, len(ids), 5000):
        part = ids[chunk_start : chunk_start + 5000]
        for row in (
            EventFile.objects.filter(run_id__in=part)
            .values("run_id")
            .annotate(
                files=Count("id"),
                total=Sum("size"),
                read=Sum("offset"),
                bad=Sum("bad_records"),
                err=Count("id", filter=Q(state__in=ERROR_STATES)),
                warn=Count("id", filter=Q(state__in=WARN_STATES)),
                grown=Max("last_grown_at"),
            )
        ):
            stats[row["run_id"]] = row
    messages: dict[int, str] = {}
    if ids:
        for run_id, err in (
            EventFile.objects.filter(run_id__in=ids)
            .exclude(state=FileState.OK)
            .exclude(error="")
            .order_by("run_id", "name")
            .values_list("run_id", "error")
        ):
            messages.setdefault(run_id, err)
    from ingest.retention import run_stored_bytes

    stored = run_stored_bytes(run_ids=ids)
    out = []
    for r in runs:
        st = stats.get(r["id"], {})
        total = int(st.get("total") or 0)
        read = int(st.get("read") or 0)
        deleted = r["data_deleted_at"] is not None
        out.append(
            {
                "id": r["id"],
                "name": r["name"],
                "source": r["source_id"],
                "source_url": r["source__url"],
                "start_time": r["start_time"],
                "last_step": r["last_step"],
                "last_update": _ts(r["updated_at"]),
                "last_grown": _ts(st.get("grown")),
                "hidden": r["hidden"],
                "missing": r["missing"],
                "note": r["note"],
                "files": int(st.get("files") or 0),
                "bytes_read": read,
                "bytes_total": total,
                "lag_bytes": 0 if deleted else max(0, total - read),
                "bad_records": int(st.get("bad") or 0),
                "error_files": int(st.get("err") or 0),
                "warning_files": int(st.get("warn") or 0),
                "error": messages.get(r["id"], ""),
                "stored_bytes": stored.get(r["id"], 0),
                "data_deleted_at": _ts(r["data_deleted_at"]),
                "data_deleted_reason": r["data_deleted_reason"] or None,
            }
        )
    key = RUN_SORTS.get(sort, RUN_SORTS["name"])
    out.sort(key=lambda r: r["name"])
    out.sort(key=key, reverse=descending)
    return out


# ---- tokens and audit ----------------------------------------------------------------------


def token_detail(token: AccessToken) -> dict[str, Any]:
    """A token as lists show it: name, status and times, never any part of the token."""
    return {
        "id": token.pk,
        "name": token.name,
        "user": token.user.get_username(),
        "read_only": token.read_only,
        "status": token.status,
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


def token_list(*, user: Any | None) -> list[AccessToken]:
    """The tokens of `user`, newest first; every user's when `user` is None (admins)."""
    qs = AccessToken.objects.select_related("user")
    if user is not None:
        qs = qs.filter(user=user)
    return list(qs.order_by("-created_at", "-id")[:1000])


def token_get(*, user: Any, token_id: int) -> AccessToken:
    """One of the caller's tokens; admins may address anyone's."""
    qs = AccessToken.objects.select_related("user").filter(pk=token_id)
    if not user.is_superuser:
        qs = qs.filter(user=user)
    token = qs.first()
    if token is None:
        raise NotFound("no such token")
    return token


def audit_event_detail(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.pk,
        "at": event.created_at.isoformat(),
        "actor": event.actor_username or None,
        "via": event.via,
        "project": event.project_slug or None,
        "action": event.action,
        "target": event.target,
        "details": event.details,
    }


def audit_event_list(
    *, project: Project | None = None, limit: int = 100, before: int | None = None
) -> list[AuditEvent]:
    """Newest first; `before` (an event id) pages backwards. `project=None` means every event
    (admins only)."""
    qs = AuditEvent.objects.all()
    if project is not None:
        qs = qs.filter(project=project)
    if before is not None:
        qs = qs.filter(pk__lt=before)
    return list(qs.order_by("-id")[: max(1, min(limit, 1000))])


# ---- ingest health (admins) -------------------------------------------------------------------


def ingest_health() -> dict[str, Any]:
    """Everything an administrator checks first when data looks stale."""
    from django.utils import timezone

    now = timezone.now()
    sources = list(
        Source.objects.select_related("project")
        .annotate(n_runs=Count("runs", distinct=True))
        .order_by("project__slug", "id")
    )
    behind: dict[int, dict[str, Any]] = {
        row["run__source_id"]: row
        for row in EventFile.objects.values("run__source_id").annotate(
            files=Count("id"),
            behind=Sum(F("size") - F("offset"), filter=_BEHIND),
            bad=Count("id", filter=Q(state__in=ERROR_STATES)),
            warn=Count("id", filter=Q(state__in=WARN_STATES)),
        )
    }
    by_status: dict[str, int] = defaultdict(int)
    rows = []
    for s in sources:
        b = behind.get(s.pk, {})
        by_status[s.status] += 1
        rows.append(
            {
                "source": s,
                "project": s.project.slug,
                "runs": s.n_runs,
                "files": int(b.get("files") or 0),
                "bytes_behind": int(b.get("behind") or 0),
                "error_files": int(b.get("bad") or 0),
                "warning_files": int(b.get("warn") or 0),
            }
        )
    problem_files = list(
        EventFile.objects.exclude(state=FileState.OK)
        .select_related("run", "run__source", "run__source__project")
        .order_by("-last_read_at", "-id")[:100]
    )
    return {
        "now": now,
        "sources": rows,
        "sources_by_status": dict(by_status),
        "runs_total": Run.objects.count(),
        "runs_pending": Run.objects.filter(pending=True).count(),
        "runs_leased": Run.objects.filter(lease_until__gt=now).count(),
        "runs_hot": Run.objects.filter(hot_until__gt=now).count(),
        "files_total": EventFile.objects.count(),
        "bytes_behind": sum(r["bytes_behind"] for r in rows),
        "problem_files": problem_files,
    }
