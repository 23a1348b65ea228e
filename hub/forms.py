"""Forms of the hub's pages. Semantics (slugs, policy, roles) are checked by `hub.services`;
forms only check shape and never render a credential back."""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError

from hub import ratelimit
from hub.models import Role

log = logging.getLogger("hub.login")


def client_ip(request: Any) -> str:
    return str(request.META.get("REMOTE_ADDR") or "unknown") if request is not None else "unknown"


class LoginForm(AuthenticationForm):
    """Django's login form with brute-force protection (hub.ratelimit)."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "rate_limited": "Too many failed sign-in attempts. Wait a few minutes and try again.",
    }
    rate_limited = False

    def clean(self) -> dict[str, Any]:
        username = str(self.data.get("username") or "")[:150]
        ip = client_ip(self.request)
        if ratelimit.login_blocked(username=username, ip=ip):
            log.warning("hub.login.rate_limited", extra={"username": username, "ip": ip})
            self.rate_limited = True
            raise ValidationError(self.error_messages["rate_limited"], code="rate_limited")
        try:
            cleaned = super().clean()
        except ValidationError:
            ratelimit.login_failed(username=username, ip=ip)
            raise
        ratelimit.login_succeeded(username=username, ip=ip)
        return cleaned


class ProjectForm(forms.Form):
    name = forms.CharField(max_length=200)
    slug = forms.CharField(
        max_length=100,
        help_text="Lowercase letters, digits, '-' and '_'. Part of every URL of the project.",
    )
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class ProjectSettingsForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False)


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)


class SourceForm(forms.Form):
    """Add a source. Credential fields are never rendered with a value."""

    url = forms.CharField(
        max_length=2048,
        label="URL",
        help_text="s3://bucket/prefix, gs://bucket/prefix or an absolute local path.",
    )
    endpoint_url = forms.CharField(
        required=False, label="Endpoint URL (S3, optional)", max_length=512
    )
    region = forms.CharField(required=False, label="Region (S3, optional)", max_length=64)
    gcp_project = forms.CharField(
        required=False, label="GCP project (GCS, optional)", max_length=128
    )
    anon = forms.BooleanField(required=False, label="Anonymous access (public bucket)")
    key = forms.CharField(
        required=False,
        label="Access key id (S3)",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    secret = forms.CharField(
        required=False,
        label="Secret access key (S3)",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    service_account_json = forms.CharField(
        required=False,
        label="Service account key JSON (GCS)",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        max_length=64 * 1024,
    )

    SECRET_FIELDS = ("key", "secret", "service_account_json")

    def source_parts(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(url, options, credentials) from the cleaned data, only the fields that were set."""
        d = self.cleaned_data
        url = d["url"].strip()
        options: dict[str, Any] = {}
        if d.get("endpoint_url"):
            options["endpoint_url"] = d["endpoint_url"].strip()
        if d.get("region"):
            options["region"] = d["region"].strip()
        if d.get("gcp_project"):
            options["project"] = d["gcp_project"].strip()
        if d.get("anon"):
            options["anon"] = True
        credentials: dict[str, Any] = {}
        for name in self.SECRET_FIELDS:
            if d.get(name):
                credentials[name] = d[name]
        return url, options, credentials

    def without_secrets(self) -> SourceForm:
        """The same form for re-display after an error, with every secret field emptied."""
        data = dict(self.data.items())
        for name in self.SECRET_FIELDS:
            data.pop(name, None)
        form = SourceForm(data=data)
        form.is_valid()
        return form


class RunEditForm(forms.Form):
    note = forms.CharField(
        required=False, max_length=10_000, widget=forms.Textarea(attrs={"rows": 2}), strip=False
    )


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, required=False, help_text="What the token is for.")
    read_only = forms.BooleanField(required=False, label="Read-only")
    expires_days = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        label="Expires after (days)",
        help_text="Empty: never expires.",
    )


class RetentionPolicyForm(forms.Form):
    """A retention policy (global default or a project's override). Values are checked again
    by `ingest.retention.policy_validate` (through `hub.services.retention_policy_update`)."""

    idle_days = forms.IntegerField(required=False, min_value=0, max_value=36_500)
    max_images_per_tag = forms.IntegerField(required=False, min_value=0, max_value=1_000_000)
    downsample_after_days = forms.IntegerField(required=False, min_value=0, max_value=36_500)
    downsample_bucket = forms.IntegerField(required=False, min_value=5, max_value=1_000_000)
    max_bytes = forms.CharField(
        required=False, max_length=40, widget=forms.TextInput(attrs={"spellcheck": "false"})
    )

    def __init__(
        self, *args: Any, project: bool, inherited: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        from ingest.retention import POLICY_LABELS

        super().__init__(*args, **kwargs)
        self.project = project
        for name, field in self.fields.items():
            field.label = POLICY_LABELS[name]
            if project:
                value = (inherited or {}).get(name)
                shown = "no limit" if value is None else str(value)
                if name == "downsample_bucket":
                    field.help_text = f"Empty: the global value ({value or 100})."
                else:
                    field.help_text = f"Empty: the global value ({shown}). 0: no limit here."
            elif name == "downsample_bucket":
                field.help_text = "Empty: 100."
            else:
                field.help_text = "Empty: no limit."
        self.fields["max_bytes"].help_text += " Bytes, or with a unit: 500 MB, 2 GiB, 1 TB."

    def clean_max_bytes(self) -> int | None:
        from ingest.retention import parse_bytes

        raw = str(self.cleaned_data.get("max_bytes") or "")
        try:
            return parse_bytes(raw)
        except ValueError as exc:
            raise ValidationError("a size such as 500 MB, 2 GiB or 1073741824") from exc

    def policy_values(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in self.fields}
