"""Django admin: users, projects (with stored bytes), memberships, sources (credentials
write-only), runs, event files (with "re-ingest from scratch" and "delete stored data"), retention
policies, tokens, comparisons with their share links (revocable here), the audit log and a global
ingest-health view.

Every change made here that the audit log covers is recorded, with `via="admin"`.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Now
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from hub import comparisons, policy, selectors, services
from hub.crypto import credentials_encrypt
from hub.errors import ServiceError
from hub.models import (
    AccessToken,
    AuditAction,
    AuditEvent,
    Comparison,
    ComparisonRun,
    IngestHealth,
    Membership,
    Project,
    ShareLink,
)
from ingest import retention
from ingest.models import EventFile, RetentionPolicy, Run, Source

VIA = "admin"


# ---- users -----------------------------------------------------------------------------------


class UserMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "user"
    extra = 0
    fields = ("project", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("project",)
    verbose_name_plural = "project memberships"


class UserTokenInline(admin.TabularInline):
    model = AccessToken
    fk_name = "user"
    extra = 0
    fields = ("name", "read_only", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True
    verbose_name_plural = "personal access tokens (revoke them from the token list)"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    inlines = [UserMembershipInline, UserTokenInline]


# ---- projects and members ----------------------------------------------------------------------


class ProjectMembershipInline(admin.TabularInline):
    model = Membership
    fk_name = "project"
    extra = 0
    fields = ("user", "role", "created_at", "added_by")
    readonly_fields = ("created_at", "added_by")
    autocomplete_fields = ("user",)


class ProjectSourceInline(admin.TabularInline):
    model = Source
    extra = 0
    fields = ("url", "status", "status_message", "last_listed_at")
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _audit_memberships(request: HttpRequest, formset: Any) -> None:
    for obj in formset.new_objects:
        services.audit_record(
            actor=request.user,
            action=AuditAction.MEMBER_ADD,
            project=obj.project,
            target=obj.user.get_username(),
            details={"role": obj.role},
            via=VIA,
        )
    for obj, changed in formset.changed_objects:
        if "role" in changed:
            services.audit_record(
                actor=request.user,
                action=AuditAction.MEMBER_ROLE,
                project=obj.project,
                target=obj.user.get_username(),
                details={"to": obj.role},
                via=VIA,
            )
    for obj in formset.deleted_objects:
        services.audit_record(
            actor=request.user,
            action=AuditAction.MEMBER_REMOVE,
            project=obj.project,
            target=obj.user.get_username(),
            details={"role": obj.role},
            via=VIA,
        )


class ProjectAdminForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ("name", "slug", "description")

    def clean_slug(self) -> str:
        slug = str(self.cleaned_data.get("slug") or "")
        if self.instance.pk is not None and slug == self.instance.slug:
            return slug
        try:
            return services.slug_validate(slug)
        except ServiceError as err:
            raise forms.ValidationError(err.message) from err


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    form = ProjectAdminForm
    list_display = ("slug", "name", "n_members", "n_sources", "stored", "created_at")
    search_fields = ("slug", "name", "description")
    prepopulated_fields = {"slug": ("name",)}
    readonly_fields = ("created_at", "created_by", "storage")
    inlines = [ProjectMembershipInline, ProjectSourceInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                members_count=Count("memberships", distinct=True),
                sources_count=Count("sources", distinct=True),
                stored_bytes=retention.stored_bytes_annotation(),
            )
        )

    @admin.display(description="stored", ordering="stored_bytes")
    def stored(self, obj: Any) -> str:
        return str(filesizeformat(int(getattr(obj, "stored_bytes", 0) or 0)))

    @admin.display(description="stored data by kind")
    def storage(self, obj: Any) -> str:
        if obj.pk is None:
            return "—"
        per = retention.storage_by_project(project_ids=[obj.pk])[obj.pk]
        rows = [(k, filesizeformat(per[k]), per[k]) for k in (*retention.STORAGE_KINDS, "total")]
        return format_html(
            "<table>{}</table>",
            format_html_join(
                "",
                '<tr><td>{}</td><td title="{} bytes">{}</td></tr>',
                ((k, b, h) for k, h, b in rows),
            ),
        )

    @admin.display(description="members", ordering="members_count")
    def n_members(self, obj: Any) -> int:
        return int(obj.members_count)

    @admin.display(description="sources", ordering="sources_count")
    def n_sources(self, obj: Any) -> int:
        return int(obj.sources_count)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)
        services.audit_record(
            actor=request.user,
            action=AuditAction.PROJECT_UPDATE if change else AuditAction.PROJECT_CREATE,
            project=obj,
            target=obj.slug,
            via=VIA,
        )

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        for inline_form in formset.forms:
            if inline_form.instance.pk is None and formset.model is Membership:
                inline_form.instance.added_by = request.user
        super().save_formset(request, form, formset, change)
        if formset.model is Membership:
            _audit_memberships(request, formset)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.project_delete(project=obj, user=request.user, via=VIA)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        for project in queryset:
            services.project_delete(project=project, user=request.user, via=VIA)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("project", "user", "role", "created_at", "added_by")
    list_filter = ("role",)
    search_fields = ("project__slug", "user__username")
    autocomplete_fields = ("project", "user")
    readonly_fields = ("created_at", "added_by")
    list_select_related = ("project", "user", "added_by")

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.added_by = request.user
        super().save_model(request, obj, form, change)
        services.audit_record(
            actor=request.user,
            action=AuditAction.MEMBER_ROLE if change else AuditAction.MEMBER_ADD,
            project=obj.project,
            target=obj.user.get_username(),
            details={"role": obj.role},
            via=VIA,
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.audit_record(
            actor=request.user,
            action=AuditAction.MEMBER_REMOVE,
            project=obj.project,
            target=obj.user.get_username(),
            details={"role": obj.role},
            via=VIA,
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        for obj in queryset.select_related("project", "user"):
            self.delete_model(request, obj)


# ---- sources -----------------------------------------------------------------------------------


class SourceAdminForm(forms.ModelForm):
    """Credentials are write-only here too: the field is never rendered with a value."""

    credentials_json = forms.CharField(
        required=False,
        label="Credentials (JSON)",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off", "size": 80}),
        help_text='Write-only. S3: {"key": "…", "secret": "…"}; GCS: {"service_account_json": '
        '"…"}. Leave empty to keep the stored credentials.',
    )
    clear_credentials = forms.BooleanField(required=False, label="Remove stored credentials")

    class Meta:
        model = Source
        fields = ("project", "url", "options")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        raw = cleaned.get("credentials_json") or ""
        credentials: Any = None
        if raw:
            try:
                credentials = json.loads(raw)
            except ValueError:
                # Never echo the input back: it is a secret.
                self.add_error("credentials_json", "not valid JSON")
                return cleaned
        url = cleaned.get("url") if self.instance.pk is None else self.instance.url
        if url is None:
            return cleaned
        try:
            valid = policy.source_validate(
                url=url, options=cleaned.get("options") or {}, credentials=credentials
            )
        except policy.PolicyError as err:
            target = {"url": "url", "options": "options"}.get(err.field, "credentials_json")
            self.add_error(target if target in self.fields else None, err.message)
            return cleaned
        if (
            valid.options.get("anon")
            and self.instance.credentials_encrypted
            and not (cleaned.get("clear_credentials") or credentials)
        ):
            self.add_error("options", "anon cannot be combined with stored credentials")
        project = cleaned.get("project") or getattr(self.instance, "project", None)
        if (
            self.instance.pk is None
            and project is not None
            and Source.objects.filter(project=project, url=valid.url).exists()
        ):
            self.add_error("url", f"this project already reads {valid.url}")
        cleaned["url"] = valid.url
        cleaned["options"] = valid.options
        cleaned["valid_credentials"] = valid.credentials if raw else None
        return cleaned


@admin.register(Source)
class SourceAdmin(admin.ModelAdmin):
    form = SourceAdminForm
    list_display = (
        "id",
        "project",
        "url",
        "status",
        "short_message",
        "credentials_set",
        "last_listed_at",
        "n_runs",
    )
    list_filter = ("status",)
    search_fields = ("url", "project__slug")
    list_select_related = ("project",)
    readonly_fields = (
        "credentials_set",
        "status",
        "status_message",
        "consecutive_failures",
        "last_listed_at",
        "next_list_at",
        "created_at",
        "created_by",
    )
    actions = ["test_access", "list_now"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields = ["project", "url", *fields]  # a source's location never changes
        return fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Source]:
        return super().get_queryset(request).annotate(runs_count=Count("runs"))

    @admin.display(description="runs", ordering="runs_count")
    def n_runs(self, obj: Any) -> int:
        return int(getattr(obj, "runs_count", 0))

    @admin.display(boolean=True, description="credentials set")
    def credentials_set(self, obj: Any) -> bool:
        return bool(obj.credentials_encrypted)

    @admin.display(description="message")
    def short_message(self, obj: Any) -> str:
        text = obj.status_message or ""
        return text if len(text) <= 100 else text[:99] + "…"

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        creds = form.cleaned_data.get("valid_credentials")
        if form.cleaned_data.get("clear_credentials"):
            obj.credentials_encrypted = None
        if creds:
            obj.credentials_encrypted = credentials_encrypt(creds)
        if not change:
            obj.created_by = request.user
        obj.next_list_at = None
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            services.audit_record(
                actor=request.user,
                action=AuditAction.SOURCE_UPDATE if change else AuditAction.SOURCE_CREATE,
                project=obj.project,
                target=obj.url,
                details={
                    "source": obj.pk,
                    "options": obj.options,
                    "credentials_set": bool(obj.credentials_encrypted),
                },
                via=VIA,
            )
            source_id = obj.pk
            transaction.on_commit(lambda: services._enqueue_listing(source_id))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.source_delete(source=obj, user=request.user, via=VIA)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset.select_related("project"):
            services.source_delete(source=source, user=request.user, via=VIA)

    @admin.action(description="Test access (list the prefix now)")
    def test_access(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset[:20]:
            report = services.source_test_access(source=source)
            if report.ok:
                self.message_user(
                    request,
                    f"{source.url}: OK, {report.runs} run(s), {report.event_files} event file(s)",
                    messages.SUCCESS,
                )
            else:
                self.message_user(request, report.error, messages.ERROR)

    @admin.action(description="List now")
    def list_now(self, request: HttpRequest, queryset: QuerySet[Source]) -> None:
        for source in queryset:
            services.source_refresh(source=source)
        self.message_user(request, f"{queryset.count()} source(s) queued for listing.")


# ---- runs and event files ------------------------------------------------------------------------


def _reingest(request: HttpRequest, run_ids: set[int]) -> int:
    n = 0
    for run in Run.objects.filter(pk__in=run_ids).select_related("source__project"):
        services.run_reingest_request(
            run=run, user=request.user, project=run.source.project, via=VIA
        )
        n += 1
    return n


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "project",
        "source",
        "last_step",
        "updated_at",
        "hidden",
        "missing",
        "pending",
        "data_deleted_reason",
        "version",
    )
    list_filter = ("hidden", "missing", "pending", "data_deleted_reason")
    search_fields = ("name", "source__url", "source__project__slug")
    list_select_related = ("source", "source__project")
    fields = (
        "name",
        "source",
        "hidden",
        "note",
        "start_time",
        "last_step",
        "last_wall_time",
        "updated_at",
        "created_at",
        "version",
        "missing",
        "pending",
        "hot_until",
        "next_check_at",
        "queued_at",
        "lease_until",
        "data_deleted_at",
        "data_deleted_reason",
    )
    readonly_fields = tuple(f for f in fields if f not in ("hidden", "note"))
    actions = ["reingest", "delete_data"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="project", ordering="source__project__slug")
    def project(self, obj: Any) -> str:
        return str(obj.source.project.slug)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        old = Run.objects.get(pk=obj.pk)
        services.run_update(
            run=old,
            user=request.user,
            project=obj.source.project,
            hidden=obj.hidden,
            note=obj.note,
            via=VIA,
        )

    @admin.action(description="Re-ingest from scratch (forget stored data, read from byte 0)")
    def reingest(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        n = _reingest(request, set(queryset.values_list("id", flat=True)))
        self.message_user(request, f"{n} run(s) queued for re-ingest from byte 0.")

    @admin.action(description="Delete stored data (keep the run; its files are not read again)")
    def delete_data(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        n = freed = 0
        for run in queryset.select_related("source__project"):
            if run.data_deleted_at is not None:
                continue
            freed += services.run_data_delete(
                run=run, user=request.user, project=run.source.project, confirm=run.name, via=VIA
            )
            n += 1
        self.message_user(request, f"Stored data of {n} run(s) deleted ({filesizeformat(freed)}).")


@admin.register(EventFile)
class EventFileAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "run_name",
        "project",
        "state",
        "size",
        "offset",
        "progress",
        "records",
        "bad_records",
        "bytes_skipped",
        "last_read_at",
        "short_error",
    )
    list_filter = ("state",)
    search_fields = ("name", "run__name", "run__source__url", "run__source__project__slug")
    list_select_related = ("run", "run__source", "run__source__project")
    readonly_fields = (
        "run",
        "name",
        "size",
        "etag",
        "mtime",
        "offset",
        "records",
        "bad_records",
        "bytes_skipped",
        "stalled_size",
        "state",
        "error",
        "first_seen_at",
        "last_grown_at",
        "last_read_at",
    )
    actions = ["reingest"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="run", ordering="run__name")
    def run_name(self, obj: Any) -> str:
        return str(obj.run.name)

    @admin.display(description="project", ordering="run__source__project__slug")
    def project(self, obj: Any) -> str:
        return str(obj.run.source.project.slug)

    @admin.display(description="read")
    def progress(self, obj: Any) -> str:
        if not obj.size:
            return "—"
        return f"{min(100.0, 100.0 * obj.offset / obj.size):.1f}%"

    @admin.display(description="error")
    def short_error(self, obj: Any) -> str:
        text = obj.error or ""
        return text if len(text) <= 120 else text[:119] + "…"

    @admin.action(description="Re-ingest from scratch (the file's whole run, from byte 0)")
    def reingest(self, request: HttpRequest, queryset: QuerySet[EventFile]) -> None:
        n = _reingest(request, set(queryset.values_list("run_id", flat=True)))
        self.message_user(request, f"{n} run(s) queued for re-ingest from byte 0.")


# ---- retention (docs/RETENTION.md) --------------------------------------------------------------


class RetentionPolicyAdminForm(forms.ModelForm):
    class Meta:
        model = RetentionPolicy
        fields = ("project", *retention.POLICY_FIELDS)
        help_texts = {
            "project": "Empty: the global default. A project: that project's override.",
            **{
                name: f"{label}. Global: empty = no limit. Project: empty = the global value, "
                "0 = no limit here."
                for name, label in retention.POLICY_LABELS.items()
            },
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        project = cleaned.get("project") or getattr(self.instance, "project", None)
        values = {name: cleaned.get(name) for name in retention.POLICY_FIELDS}
        try:
            cleaned.update(retention.policy_validate(values, project=project is not None))
        except ServiceError as err:
            self.add_error(err.field if err.field in self.fields else None, err.message)
        return cleaned


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    """The global default (project empty) and per-project overrides; every change is audited.
    The Retention page (/retention/) and each project's Storage tab show the dry run."""

    form = RetentionPolicyAdminForm
    list_display = (
        "scope",
        "idle_days",
        "max_images_per_tag",
        "downsample_after_days",
        "downsample_bucket",
        "cap",
        "stored",
        "updated_at",
        "updated_by",
    )
    list_select_related = ("project", "updated_by")
    search_fields = ("project__slug",)
    autocomplete_fields = ("project",)
    readonly_fields = ("updated_at", "updated_by")

    def get_queryset(self, request: HttpRequest) -> QuerySet[RetentionPolicy]:
        return (
            super()
            .get_queryset(request)
            .annotate(stored_bytes=retention.stored_bytes_annotation("project_id"))
        )

    @admin.display(description="applies to", ordering="project__slug")
    def scope(self, obj: Any) -> str:
        return str(obj.project.slug) if obj.project_id else "global default"

    @admin.display(description="cap", ordering="max_bytes")
    def cap(self, obj: Any) -> str:
        if obj.max_bytes is None:
            return "—"
        return "no limit" if obj.max_bytes == 0 else str(filesizeformat(obj.max_bytes))

    @admin.display(description="stored")
    def stored(self, obj: Any) -> str:
        if not obj.project_id:
            return "—"
        return str(filesizeformat(int(getattr(obj, "stored_bytes", 0) or 0)))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return ["project", *fields] if obj is not None else fields

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.project_id is None:
            return False  # the global row stays; clear its fields instead
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        values = {name: form.cleaned_data.get(name) for name in retention.POLICY_FIELDS}
        project = obj.project if change else form.cleaned_data.get("project")
        row = services.retention_policy_update(
            project=project, user=request.user, values=values, via=VIA
        )
        obj.pk = row.pk
        obj.updated_at, obj.updated_by = row.updated_at, row.updated_by

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        with transaction.atomic():
            services.audit_record(
                actor=request.user,
                action=AuditAction.RETENTION_POLICY,
                project=obj.project,
                target=obj.project.slug if obj.project_id else "global default",
                details={"override": "removed"},
                via=VIA,
            )
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[RetentionPolicy]) -> None:
        for obj in queryset.select_related("project"):
            if obj.project_id is not None:
                self.delete_model(request, obj)


# ---- tokens and audit ----------------------------------------------------------------------------


@admin.register(AccessToken)
class AccessTokenAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "user",
        "read_only",
        "status",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("read_only", "revoked_at")
    search_fields = ("name", "user__username")
    list_select_related = ("user",)
    fields = (
        "user",
        "name",
        "read_only",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "revoked_by",
    )
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # tokens are created by their user (page, API) or `tbhub token create`

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request: HttpRequest, queryset: QuerySet[AccessToken]) -> None:
        n = 0
        for token in queryset.select_related("user"):
            if token.revoked_at is None:
                services.token_revoke(token=token, actor=request.user, via=VIA)
                n += 1
        self.message_user(request, f"{n} token(s) revoked.")

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        services.token_revoke(token=obj, actor=request.user, via=VIA)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AccessToken]) -> None:
        for token in queryset.select_related("user"):
            self.delete_model(request, token)


# ---- comparisons and share links ---------------------------------------------------------------


class ComparisonRunInline(admin.TabularInline):
    """The compared runs, read-only: the owner edits the selection on the comparison page."""

    model = ComparisonRun
    extra = 0
    can_delete = False
    fields = ("position", "run_id", "project_slug", "run_name", "alias")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ShareLinkInline(admin.TabularInline):
    """Who can read the comparison. Tokens are never shown here (only their owner copies a URL
    from the comparison page); revoke from the share link list."""

    model = ShareLink
    extra = 0
    can_delete = False
    fields = ("kind", "status", "created_by", "created_at", "last_used_at", "expires_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status")
    def status(self, obj: ShareLink) -> str:
        return obj.status


@admin.register(Comparison)
class ComparisonAdmin(admin.ModelAdmin):
    list_display = ("title", "key", "owner", "run_count", "active_links", "updated_at")
    search_fields = ("title", "key", "owner__username")
    list_select_related = ("owner",)
    fields = ("title", "key", "owner", "created_at", "updated_at")
    readonly_fields = ("key", "owner", "created_at", "updated_at")
    inlines = [ComparisonRunInline, ShareLinkInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # comparisons are made from runs a user can read, on the pages or the API

    def get_queryset(self, request: HttpRequest) -> QuerySet[Comparison]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                _runs=Count("entries", distinct=True),
                _links=Count(
                    "links",
                    filter=Q(links__revoked_at__isnull=True)
                    & (Q(links__expires_at__isnull=True) | Q(links__expires_at__gt=Now())),
                    distinct=True,
                ),
            )
        )

    @admin.display(description="runs", ordering="_runs")
    def run_count(self, obj: Any) -> int:
        return int(getattr(obj, "_runs", 0))

    @admin.display(description="active links", ordering="_links")
    def active_links(self, obj: Any) -> int:
        return int(getattr(obj, "_links", 0))

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        # Through the service, so that open pages and websockets of the comparison close at once.
        comparisons.comparison_delete(comparison=obj, user=request.user, via=VIA)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Comparison]) -> None:
        for comparison in queryset:
            self.delete_model(request, comparison)


@admin.register(ShareLink)
class ShareLinkAdmin(admin.ModelAdmin):
    """Every share link, to find and revoke one quickly (e.g. a public link posted by mistake).
    Revoking keeps the row and its history (who made it, last use); deleting revokes first."""

    list_display = (
        "comparison",
        "kind",
        "status",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("kind", "revoked_at")
    search_fields = ("comparison__title", "comparison__key", "created_by__username")
    list_select_related = ("comparison", "created_by")
    fields = (
        "comparison",
        "kind",
        "users",
        "status",
        "created_by",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
        "revoked_by",
    )
    readonly_fields = fields
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="status")
    def status(self, obj: ShareLink) -> str:
        return obj.status

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        # Revoke first (audited, open websockets closed), then drop the row.
        comparisons.link_revoke(link=obj, user=request.user, via=VIA)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ShareLink]) -> None:
        for link in queryset.select_related("comparison"):
            self.delete_model(request, link)

    @admin.action(description="Revoke the selected share links")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ShareLink]) -> None:
        n = 0
        for link in queryset.select_related("comparison"):
            if link.revoked_at is None:
                comparisons.link_revoke(link=link, user=request.user, via=VIA)
                n += 1
        self.message_user(request, f"{n} share link(s) revoked.")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("created_at", "actor_username", "via", "project_slug", "action", "target")
    list_filter = ("action", "via")
    search_fields = ("actor_username", "project_slug", "target")
    date_hierarchy = "created_at"
    readonly_fields = (
        "created_at",
        "actor",
        "actor_username",
        "via",
        "project",
        "project_slug",
        "action",
        "target",
        "details",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# ---- ingest health -------------------------------------------------------------------------------


@admin.register(IngestHealth)
class IngestHealthAdmin(admin.ModelAdmin):
    """One page: every source's status, bytes behind, problem files, queue and lease counts."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": "Ingest health",
            "opts": self.model._meta,
            "health": selectors.ingest_health(),
        }
        return TemplateResponse(request, "admin/hub/ingest_health.html", context)
