"""Hub services: every change to projects, members, sources, run visibility and tokens.

Documented in docs/ARCHITECTURE.md#access. Views check permissions through `hub.access` first,
then call one of these. Arguments are keyword-only; bad input raises `ServiceError` (→ 400) with
a message fit for the user. Every change that matters to a project's owners is written to the
audit log in the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from hub import policy
from hub.crypto import CredentialsError, credentials_decrypt, credentials_encrypt
from hub.errors import ServiceError
from hub.models import (
    AccessToken,
    AuditAction,
    AuditEvent,
    Membership,
    Project,
    Role,
)
from ingest.models import Run, Source, SourceStatus

log = logging.getLogger("hub.services")

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,98}[a-z0-9])?$")
# Slugs that would shadow a page (/projects/new/) or read as a keyword.
RESERVED_SLUGS = frozenset({"new", "api", "admin", "static", "accounts", "tokens", "audit"})
MAX_NAME_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000
MAX_NOTE_CHARS = 10_000
MAX_SOURCES_PER_PROJECT = 100
MAX_ACTIVE_TOKENS_PER_USER = 100
TOKEN_PREFIX = "tbh_"  # noqa: S105 - a public marker that makes leaked tokens greppable
MAX_TOKEN_DAYS = 3650
# last_used_at is written at most this often per token (one UPDATE, not one per request).
TOKEN_TOUCH_SECONDS = 60


def _username(user: Any) -> str:
    return str(getattr(user, "username", "") or "") if user is not None else ""


def audit_record(
    *,
    actor: Any,
    action: str,
    project: Project | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
    via: str = "",
) -> AuditEvent:
    """Append one event to the audit log. `details` must never hold a secret."""
    return AuditEvent.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        actor_username=_username(actor),
        via=via[:16],
        project=project,
        project_slug=project.slug if project is not None else "",
        action=action,
        target=target[:500],
        details=details or {},
    )


# ---- projects ------------------------------------------------------------------------------


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


def slug_validate(slug: object) -> str:
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise ServiceError(
            "slug must be 1-100 lowercase letters, digits, '-' or '_', starting and ending "
            "with a letter or digit",
            field="slug",
        )
    if slug in RESERVED_SLUGS:
        raise ServiceError(f"'{slug}' is reserved; choose another slug", field="slug")
    return slug


def project_create(
    *, user: Any, name: object, slug: object, description: object = "", via: str = ""
) -> Project:
    """Create a project; its creator becomes its owner."""
    name_s = _text(name, what="name", limit=MAX_NAME_CHARS, required=True)
    slug_s = slug_validate(slug)
    desc = _text(description, what="description", limit=MAX_DESCRIPTION_CHARS, required=False)
    if not getattr(settings, "TBHUB_ALLOW_PROJECT_CREATION", True) and not user.is_superuser:
        from hub.access import AccessDenied

        raise AccessDenied("only administrators create projects on this hub")
    try:
        with transaction.atomic():
            project = Project.objects.create(
                name=name_s, slug=slug_s, description=desc, created_by=user
            )
            Membership.objects.create(project=project, user=user, role=Role.OWNER, added_by=user)
            audit_record(
                actor=user,
                action=AuditAction.PROJECT_CREATE,
                project=project,
                target=slug_s,
                details={"name": name_s},
                via=via,
            )
    except IntegrityError as exc:
        raise ServiceError(f"a project with slug '{slug_s}' already exists", field="slug") from exc
    return project


def project_update(
    *,
    project: Project,
    user: Any,
    name: object = None,
    description: object = None,
    via: str = "",
) -> Project:
    changes: dict[str, Any] = {}
    if name is not None:
        new_name = _text(name, what="name", limit=MAX_NAME_CHARS, required=True)
        if new_name != project.name:
            changes["name"] = new_name
    if description is not None:
        new_desc = _text(
            description, what="description", limit=MAX_DESCRIPTION_CHARS, required=False
        )
        if new_desc != project.description:
            changes["description"] = new_desc
    if not changes:
        return project
    with transaction.atomic():
        for key, value in changes.items():
            setattr(project, key, value)
        project.save(update_fields=list(changes))
        audit_record(
            actor=user,
            action=AuditAction.PROJECT_UPDATE,
            project=project,
            target=project.slug,
            details={"fields": sorted(changes)},
            via=via,
        )
    return project


def project_delete(*, project: Project, user: Any, via: str = "") -> None:
    """Delete a project with its sources, runs and every stored point (never the logs
    themselves: tbhub only reads them)."""
    slug = project.slug
    with transaction.atomic():
        audit_record(
            actor=user,
            action=AuditAction.PROJECT_DELETE,
            project=project,
            target=slug,
            details={"name": project.name},
            via=via,
        )
        project.delete()


# ---- members -------------------------------------------------------------------------------


def _role(value: object) -> str:
    if value not in Role.values:
        raise ServiceError("role must be one of: " + ", ".join(Role.values), field="role")
    return str(value)


def _owner_count_locked(project: Project) -> int:
    return len(
        list(
            Membership.objects.select_for_update()
            .filter(project=project, role=Role.OWNER)
            .values_list("id", flat=True)
        )
    )


def member_add(
    *, project: Project, actor: Any, username: object, role: object, via: str = ""
) -> Membership:
    """Add an existing, active user to a project with a role."""
    name = _text(username, what="username", limit=150, required=True)
    role_s = _role(role)
    user = get_user_model().objects.filter(username=name, is_active=True).first()
    if user is None:
        raise ServiceError(f"there is no active user '{name}'", field="username")
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                project=project, user=user, role=role_s, added_by=actor
            )
            audit_record(
                actor=actor,
                action=AuditAction.MEMBER_ADD,
                project=project,
                target=name,
                details={"role": role_s},
                via=via,
            )
    except IntegrityError as exc:
        raise ServiceError(
            f"'{name}' is already a member; change their role instead", field="username"
        ) from exc
    return membership


def member_update(*, membership: Membership, actor: Any, role: object, via: str = "") -> Membership:
    role_s = _role(role)
    if role_s == membership.role:
        return membership
    project = membership.project
    with transaction.atomic():
        if membership.role == Role.OWNER and _owner_count_locked(project) <= 1:
            raise ServiceError(
                "a project needs at least one owner: make someone else owner first",
                field="role",
            )
        old = membership.role
        membership.role = role_s
        membership.save(update_fields=["role"])
        audit_record(
            actor=actor,
            action=AuditAction.MEMBER_ROLE,
            project=project,
            target=membership.user.get_username(),
            details={"from": old, "to": role_s},
            via=via,
        )
    return membership


def member_remove(*, membership: Membership, actor: Any, via: str = "") -> None:
    project = membership.project
    with transaction.atomic():
        if membership.role == Role.OWNER and _owner_count_locked(project) <= 1:
            raise ServiceError(
                "a project needs at least one owner: make someone else owner first, or delete "
                "the project"
            )
        username = membership.user.get_username()
        role = membership.role
        membership.delete()
        audit_record(
            actor=actor,
            action=AuditAction.MEMBER_REMOVE,
            project=project,
            target=username,
            details={"role": role},
            via=via,
        )


# ---- sources -------------------------------------------------------------------------------


def _enqueue_listing(source_id: int) -> None:
    from ingest import dispatch

    try:
        dispatch.list_enqueue(source_id)
    except Exception:  # the broker is down: the next poll tick lists due sources anyway
        log.warning("hub.source.enqueue_failed", extra={"source": source_id}, exc_info=True)


def source_create(
    *,
    project: Project,
    user: Any,
    url: object,
    options: object = None,
    credentials: object = None,
    via: str = "",
) -> Source:
    """Add a log source. Validates syntax and policy only (never connects); the first listing
    is queued as soon as the transaction commits, so ingest starts at once.

    Raises:
        PolicyError: the URL, options or credentials are not acceptable.
        ServiceError: the project already reads this URL, or has too many sources.
    """
    valid = policy.source_validate(url=url, options=options, credentials=credentials)
    with transaction.atomic():
        # Lock the project row so two concurrent adds of the same URL cannot both pass.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        existing = Source.objects.filter(project=project)
        if existing.filter(url=valid.url).exists():
            raise ServiceError(f"this project already reads {valid.url}", field="url")
        if existing.count() >= MAX_SOURCES_PER_PROJECT:
            raise ServiceError(
                f"a project can have at most {MAX_SOURCES_PER_PROJECT} sources", field="url"
            )
        source = Source.objects.create(
            project=project,
            url=valid.url,
            options=valid.options,
            credentials_encrypted=credentials_encrypt(valid.credentials)
            if valid.credentials
            else None,
            status=SourceStatus.PENDING,
            status_message="waiting for the first listing",
            created_by=user,
        )
        audit_record(
            actor=user,
            action=AuditAction.SOURCE_CREATE,
            project=project,
            target=valid.url,
            details={
                "source": source.pk,
                "options": valid.options,
                "credentials_set": bool(valid.credentials),
            },
            via=via,
        )
        source_id = source.pk
        transaction.on_commit(lambda: _enqueue_listing(source_id))
    return source


_UNSET: Any = object()


def source_update(
    *,
    source: Source,
    user: Any,
    options: Any = _UNSET,
    credentials: Any = _UNSET,
    via: str = "",
) -> Source:
    """Change a source's options and/or credentials (its URL is fixed: add a new source
    instead). `credentials`: omitted keeps them, `{}` or None clears them, an object replaces
    them. A changed source is listed again at once."""
    kind = policy.url_kind(source.url)
    changed: list[str] = []
    new_options = dict(source.options or {})
    if options is not _UNSET:
        new_options = policy.options_validate(options, kind)
        if new_options != (source.options or {}):
            changed.append("options")
    new_creds: dict[str, Any] | None = None
    if credentials is not _UNSET:
        new_creds = policy.credentials_validate(credentials, kind)
        changed.append("credentials")
    if new_options.get("anon"):
        has_creds = bool(new_creds) if new_creds is not None else source.credentials_encrypted
        if has_creds:
            raise policy.PolicyError(
                "options.anon (anonymous access) cannot be combined with credentials",
                field="credentials",
            )
    if not changed:
        return source
    with transaction.atomic():
        fields = []
        if "options" in changed:
            source.options = new_options
            fields.append("options")
        if new_creds is not None:
            source.credentials_encrypted = credentials_encrypt(new_creds) if new_creds else None
            fields.append("credentials_encrypted")
        source.status = SourceStatus.PENDING
        source.status_message = "changed; waiting for the next listing"
        source.consecutive_failures = 0
        source.next_list_at = None
        fields += ["status", "status_message", "consecutive_failures", "next_list_at"]
        source.save(update_fields=fields)
        audit_record(
            actor=user,
            action=AuditAction.SOURCE_UPDATE,
            project=source.project,
            target=source.url,
            details={
                "source": source.pk,
                "fields": changed,
                "options": new_options,
                "credentials_set": bool(source.credentials_encrypted),
            },
            via=via,
        )
        source_id = source.pk
        transaction.on_commit(lambda: _enqueue_listing(source_id))
    return source


def source_delete(*, source: Source, user: Any, via: str = "") -> None:
    """Forget a source, its runs and their stored data (the logs themselves are untouched)."""
    with transaction.atomic():
        audit_record(
            actor=user,
            action=AuditAction.SOURCE_DELETE,
            project=source.project,
            target=source.url,
            details={"source": source.pk},
            via=via,
        )
        source.delete()


def source_refresh(*, source: Source) -> None:
    """List a source now instead of at its next scheduled listing."""
    Source.objects.filter(pk=source.pk).update(next_list_at=timezone.now())
    source_id = source.pk
    transaction.on_commit(lambda: _enqueue_listing(source_id))


@dataclass(slots=True)
class AccessReport:
    """The outcome of "Test access": what one listing saw, or a readable error."""

    ok: bool
    runs: int = 0
    event_files: int = 0
    bytes: int = 0
    sample_runs: list[str] = field(default_factory=list)
    error: str = ""
    error_kind: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ok": self.ok, "seconds": round(self.seconds, 3)}
        if self.ok:
            out.update(
                runs=self.runs,
                event_files=self.event_files,
                bytes=self.bytes,
                sample_runs=self.sample_runs,
            )
        else:
            out.update(error=self.error, error_kind=self.error_kind)
        return out


SAMPLE_RUNS = 20


def logdir_test(
    *,
    url: str,
    options: dict[str, Any],
    credentials: dict[str, Any],
    timeout: float | None = None,
) -> AccessReport:
    """List a (policy-checked) location once with exactly the given options and credentials —
    never the server's own — and report runs and event files, or a readable error."""
    from ingest.sources import SourceError, open_logdir

    limit = float(timeout or settings.TBHUB_STORAGE_TIMEOUT_SECONDS)
    started = time.monotonic()
    outcome: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            logdir = open_logdir(
                url,
                options=options,
                credentials=credentials,
                from_env=False,
                follow_symlinks=False,
            )
            outcome["files"] = logdir.list_event_files()
        except SourceError as err:
            outcome["error"] = (err.kind, err.message)
        except Exception as exc:  # never a stack trace, never an exception text (may echo input)
            outcome["error"] = ("error", f"{url}: storage error ({exc.__class__.__name__})")
            log.warning(
                "hub.source.test_failed", extra={"url": url, "error": exc.__class__.__name__}
            )
        finally:
            done.set()

    # A thread, so a storage endpoint that never answers cannot hold the request forever.
    threading.Thread(target=work, name="tbhub-test-access", daemon=True).start()
    if not done.wait(limit):
        return AccessReport(
            ok=False,
            error=f"{url}: storage did not answer within {limit:g} s",
            error_kind="timeout",
            seconds=time.monotonic() - started,
        )
    seconds = time.monotonic() - started
    if "error" in outcome:
        kind, message = outcome["error"]
        return AccessReport(ok=False, error=message, error_kind=kind, seconds=seconds)
    files = outcome.get("files", [])
    runs = sorted({f.run for f in files})
    return AccessReport(
        ok=True,
        runs=len(runs),
        event_files=len(files),
        bytes=sum(int(f.size) for f in files),
        sample_runs=runs[:SAMPLE_RUNS],
        seconds=seconds,
    )


def source_test_access(*, source: Source, timeout: float | None = None) -> AccessReport:
    """ "Test access": list the source's prefix with its own options and credentials."""
    try:
        policy.source_recheck(url=source.url, options=dict(source.options or {}))
    except policy.PolicyError as err:
        return AccessReport(ok=False, error=err.message, error_kind="policy")
    try:
        credentials = credentials_decrypt(source.credentials_encrypted)
    except CredentialsError as err:
        return AccessReport(ok=False, error=str(err), error_kind="credentials")
    return logdir_test(
        url=source.url,
        options=dict(source.options or {}),
        credentials=credentials,
        timeout=timeout,
    )


# ---- runs ----------------------------------------------------------------------------------


def run_update(
    *,
    run: Run,
    user: Any,
    project: Project,
    hidden: bool | None = None,
    note: object = None,
    via: str = "",
) -> Run:
    """Hide/unhide a run or edit its note. Bumps the run's version so cached run lists (keyed by
    it) never serve the old state."""
    updates: dict[str, Any] = {}
    events: list[tuple[str, dict[str, Any]]] = []
    if hidden is not None:
        if not isinstance(hidden, bool):
            raise ServiceError("hidden must be true or false", field="hidden")
        if hidden != run.hidden:
            updates["hidden"] = hidden
            events.append((AuditAction.RUN_HIDE if hidden else AuditAction.RUN_UNHIDE, {}))
    if note is not None:
        if not isinstance(note, str):
            raise ServiceError("note must be a string", field="note")
        if len(note) > MAX_NOTE_CHARS:
            raise ServiceError(f"note is longer than {MAX_NOTE_CHARS} characters", field="note")
        if note != run.note:
            updates["note"] = note
            events.append((AuditAction.RUN_NOTE, {"chars": len(note)}))
    if not updates:
        return run
    with transaction.atomic():
        Run.objects.filter(pk=run.pk).update(**updates, version=F("version") + 1)
        for action, details in events:
            audit_record(
                actor=user,
                action=action,
                project=project,
                target=run.name,
                details={"run": run.pk, "source": run.source_id, **details},
                via=via,
            )
    run.refresh_from_db()
    return run


def run_reingest_request(*, run: Run, user: Any, project: Project, via: str = "") -> None:
    """Forget a run's stored data and read its files again from byte 0 (owners and admins).
    This is also how data deleted by an owner or by retention comes back."""
    from ingest.services import run_reingest

    audit_record(
        actor=user,
        action=AuditAction.RUN_REINGEST,
        project=project,
        target=run.name,
        details={"run": run.pk},
        via=via,
    )
    run_reingest(run_id=run.pk)


def run_data_delete(
    *, run: Run, user: Any, project: Project, confirm: object, via: str = ""
) -> int:
    """Delete a run's stored data (owners). `confirm` must be the run's name. The run stays
    listed, marked "data deleted"; its files are not read again until an owner asks for a
    re-ingest. The source is never touched. Returns the bytes freed (0 if already deleted)."""
    from ingest.models import DataDeletedReason
    from ingest.retention import run_data_drop

    if not isinstance(confirm, str) or confirm != run.name:
        raise ServiceError('to confirm, pass the run\'s name exactly as "confirm"', field="confirm")
    if run.data_deleted_at is not None:
        return 0
    with transaction.atomic():
        freed = run_data_drop(run_id=run.pk, reason=DataDeletedReason.OWNER)
        if freed is None:
            return 0
        audit_record(
            actor=user,
            action=AuditAction.RUN_DELETE_DATA,
            project=project,
            target=run.name,
            details={"run": run.pk, "source": run.source_id, "bytes_freed": freed},
            via=via,
        )
    run.refresh_from_db()
    return freed


# ---- retention ------------------------------------------------------------------------------


def retention_policy_update(
    *, project: Project | None, user: Any, values: object, via: str = ""
) -> Any:
    """Change the global retention policy (`project=None`) or a project's override (admins:
    the caller checks). `values` maps policy fields to a whole number or null (see
    `ingest.retention.policy_validate`); fields left out keep their value."""
    from ingest import retention

    if not isinstance(values, dict):
        raise ServiceError("the policy must be a JSON object")
    clean = retention.policy_validate(values, project=project is not None)
    with transaction.atomic():
        row, changes = retention.policy_save(project=project, values=clean, user=user)
        if changes:
            audit_record(
                actor=user,
                action=AuditAction.RETENTION_POLICY,
                project=project,
                target=project.slug if project is not None else "global default",
                details={k: {"from": old, "to": new} for k, (old, new) in changes.items()},
                via=via,
            )
    return row


# ---- tokens --------------------------------------------------------------------------------


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def token_create(
    *,
    user: Any,
    name: object = "",
    read_only: object = False,
    expires_days: object = None,
    actor: Any = None,
    via: str = "",
) -> tuple[AccessToken, str]:
    """Create a personal access token. Returns (token row, the token itself): the token is
    shown once and only its hash is stored."""
    name_s = _text(name, what="name", limit=100, required=False) or "token"
    if not isinstance(read_only, bool):
        raise ServiceError("read_only must be true or false", field="read_only")
    expires_at = None
    if expires_days is not None:
        if isinstance(expires_days, bool) or not isinstance(expires_days, int):
            raise ServiceError("expires_days must be a whole number of days", field="expires_days")
        if not 1 <= expires_days <= MAX_TOKEN_DAYS:
            raise ServiceError(
                f"expires_days must be between 1 and {MAX_TOKEN_DAYS}", field="expires_days"
            )
        expires_at = timezone.now() + timedelta(days=expires_days)
    if not user.is_active:
        raise ServiceError("inactive users cannot have tokens", field="user")
    active = AccessToken.objects.filter(user=user, revoked_at__isnull=True).exclude(
        expires_at__lte=timezone.now()
    )
    if active.count() >= MAX_ACTIVE_TOKENS_PER_USER:
        raise ServiceError(
            f"at most {MAX_ACTIVE_TOKENS_PER_USER} active tokens per user: revoke some first"
        )
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        token = AccessToken.objects.create(
            user=user,
            name=name_s,
            key_hash=token_hash(raw),
            read_only=read_only,
            expires_at=expires_at,
        )
        actor = actor or user
        audit_record(
            actor=actor,
            action=AuditAction.TOKEN_CREATE,
            target=f"{user.get_username()}: {name_s}",
            details={
                "token": token.pk,
                "user": user.get_username(),
                "read_only": read_only,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
            via=via,
        )
    return token, raw


def token_revoke(*, token: AccessToken, actor: Any, via: str = "") -> AccessToken:
    """Revoke a token (idempotent). It stops working at once."""
    if token.revoked_at is not None:
        return token
    with transaction.atomic():
        now = timezone.now()
        AccessToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor if getattr(actor, "pk", None) else None
        )
        token.refresh_from_db()
        audit_record(
            actor=actor,
            action=AuditAction.TOKEN_REVOKE,
            target=f"{token.user.get_username()}: {token.name}",
            details={"token": token.pk, "user": token.user.get_username()},
            via=via,
        )
    return token


_TOKEN_SHAPE = re.compile(r"^tbh_[A-Za-z0-9_-]{20,100}$")


def token_authenticate(*, raw: str) -> AccessToken | None:
    """The active token with this value, with its (active) user; None otherwise. Records the
    time of use (at most once a minute per token)."""
    if not _TOKEN_SHAPE.match(raw):
        return None
    token = (
        AccessToken.objects.select_related("user")
        .filter(key_hash=token_hash(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.is_active or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > timedelta(
        seconds=TOKEN_TOUCH_SECONDS
    ):
        AccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
