"""Request and response shapes of the hub API.

Input serializers check types and presence (services check meaning: slugs, policy, roles);
output serializers describe the responses for the OpenAPI schema (/api/v1/schema).
"""

from __future__ import annotations

from rest_framework import serializers

from hub.models import Role


class ErrorOut(serializers.Serializer):
    error = serializers.CharField(help_text="A readable message.")
    field = serializers.CharField(required=False, help_text="The input field at fault, if one.")


# ---- projects ------------------------------------------------------------------------------


class ProjectCreateIn(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.CharField(
        max_length=100,
        help_text="Lowercase letters, digits, '-' and '_'; part of every URL of the project.",
    )
    description = serializers.CharField(
        required=False, allow_blank=True, max_length=10_000, default=""
    )


class ProjectUpdateIn(serializers.Serializer):
    name = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=10_000)


class HealthOut(serializers.Serializer):
    state = serializers.ChoiceField(choices=["ok", "pending", "degraded", "error", "empty"])
    message = serializers.CharField()
    sources = serializers.IntegerField()
    sources_by_status = serializers.DictField(child=serializers.IntegerField())
    files_with_errors = serializers.IntegerField()
    files_with_warnings = serializers.IntegerField()


class ProjectOut(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    role = serializers.CharField(help_text="owner, editor, viewer, or admin", allow_null=True)
    created_at = serializers.DateTimeField()
    runs = serializers.IntegerField()
    hidden_runs = serializers.IntegerField()
    last_activity = serializers.DateTimeField(allow_null=True)
    bytes_behind = serializers.IntegerField(help_text="Bytes of event files not read yet.")
    health = HealthOut()
    permissions = serializers.DictField(child=serializers.BooleanField(), required=False)


class ProjectListOut(serializers.Serializer):
    projects = ProjectOut(many=True)


# ---- members -------------------------------------------------------------------------------


class MemberAddIn(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    role = serializers.ChoiceField(choices=Role.choices)


class MemberUpdateIn(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberOut(serializers.Serializer):
    username = serializers.CharField()
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.choices)
    added_at = serializers.DateTimeField()
    added_by = serializers.CharField(allow_null=True)


class MemberListOut(serializers.Serializer):
    members = MemberOut(many=True)


# ---- sources -------------------------------------------------------------------------------


class SourceCreateIn(serializers.Serializer):
    url = serializers.CharField(
        max_length=2048,
        help_text="s3://bucket/prefix, gs://bucket/prefix or an absolute local path under one "
        "of the hub's TBHUB_LOCAL_ROOTS.",
    )
    options = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='S3: {"endpoint_url", "region", "anon"}; GCS: {"project", "anon"}.',
    )
    credentials = serializers.JSONField(
        required=False,
        allow_null=True,
        write_only=True,
        help_text='Write-only. S3: {"key", "secret"}; GCS: {"service_account_json"}.',
    )


class SourceUpdateIn(serializers.Serializer):
    options = serializers.JSONField(required=False, allow_null=True)
    credentials = serializers.JSONField(
        required=False,
        allow_null=True,
        write_only=True,
        help_text="Omit to keep the stored credentials, {} or null to clear them.",
    )


class SourceOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    options = serializers.DictField()
    credentials_set = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["pending", "ok", "degraded", "error"])
    status_message = serializers.CharField()
    last_listed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(allow_null=True)
    runs = serializers.IntegerField(allow_null=True)


class SourceListOut(serializers.Serializer):
    sources = SourceOut(many=True)


class AccessReportOut(serializers.Serializer):
    ok = serializers.BooleanField()
    seconds = serializers.FloatField()
    runs = serializers.IntegerField(required=False, help_text="Runs (directories) seen.")
    event_files = serializers.IntegerField(required=False)
    bytes = serializers.IntegerField(required=False)
    sample_runs = serializers.ListField(child=serializers.CharField(), required=False)
    error = serializers.CharField(required=False)
    error_kind = serializers.CharField(
        required=False,
        help_text="not_found, access_denied, unreachable, timeout, invalid, policy, error, ...",
    )


# ---- runs ----------------------------------------------------------------------------------


class RunUpdateIn(serializers.Serializer):
    hidden = serializers.BooleanField(required=False)
    note = serializers.CharField(
        required=False, allow_blank=True, max_length=10_000, trim_whitespace=False
    )


class RunStatusOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    source = serializers.IntegerField()
    source_url = serializers.CharField()
    start_time = serializers.FloatField(allow_null=True)
    last_step = serializers.IntegerField(allow_null=True)
    last_update = serializers.FloatField(allow_null=True)
    hidden = serializers.BooleanField()
    missing = serializers.BooleanField()
    note = serializers.CharField()
    files = serializers.IntegerField()
    bytes_read = serializers.IntegerField()
    bytes_total = serializers.IntegerField()
    lag_bytes = serializers.IntegerField()
    bad_records = serializers.IntegerField()
    error_files = serializers.IntegerField()
    error = serializers.CharField()
    stored_bytes = serializers.IntegerField(help_text="Bytes tbhub stores for the run.")
    data_deleted_at = serializers.FloatField(
        allow_null=True,
        help_text="When its stored data was deleted (POSIX time); its files are then not read "
        "until an owner asks for a re-ingest.",
    )
    data_deleted_reason = serializers.ChoiceField(
        choices=["owner", "retention", "quota"], allow_null=True
    )


class RunStatusListOut(serializers.Serializer):
    runs = RunStatusOut(many=True)


# ---- tokens --------------------------------------------------------------------------------


class TokenCreateIn(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=100, default="")
    read_only = serializers.BooleanField(required=False, default=False)
    expires_days = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=3650, default=None
    )


class TokenOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    user = serializers.CharField()
    read_only = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["active", "expired", "revoked"])
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True)
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class TokenCreatedOut(TokenOut):
    token = serializers.CharField(help_text="The token itself, shown only in this response.")


class TokenListOut(serializers.Serializer):
    tokens = TokenOut(many=True)


# ---- audit and me --------------------------------------------------------------------------


class AuditEventOut(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor = serializers.CharField(allow_null=True)
    via = serializers.CharField()
    project = serializers.CharField(allow_null=True)
    action = serializers.CharField()
    target = serializers.CharField()
    details = serializers.DictField()


class AuditListOut(serializers.Serializer):
    events = AuditEventOut(many=True)
    next_before = serializers.IntegerField(
        allow_null=True, help_text="Pass as ?before= for the next (older) page."
    )


class MeOut(serializers.Serializer):
    username = serializers.CharField()
    is_admin = serializers.BooleanField()
    auth = serializers.ChoiceField(choices=["session", "token", "embedded"])
    mode = serializers.ChoiceField(choices=["team", "embedded"])
    token = TokenOut(required=False, allow_null=True)
