"""What a user may point a log source at. Documented in docs/ARCHITECTURE.md#source-policy.

Only three kinds of location are reachable from user input:

- `s3://bucket/prefix` with options `endpoint_url`, `region`, `anon` and credentials `key`,
  `secret` (and an optional session `token`);
- `gs://bucket/prefix` with options `project`, `anon` (and `endpoint_url`, for emulators and
  private endpoints) and credentials `service_account_json`;
- an absolute local path, which must lie under one of `TBHUB_LOCAL_ROOTS` once `..` and symlinks
  are resolved (the stored URL is the resolved path).

A custom `endpoint_url` must match one entry of `TBHUB_ALLOWED_ENDPOINTS` by parsed scheme, host
and port exactly, and start with its path (whole segments); it may carry no user-info, query or
fragment. No other fsspec protocol (`file://`, `http(s)://`, `memory://`, `ftp://`, chained
`a::b` URLs, ...) is ever accepted. Validation never touches the network.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

from django.conf import settings

MAX_URL_CHARS = 2048
MAX_OPTION_CHARS = 512
MAX_CREDENTIAL_CHARS = 64 * 1024

# S3: 3-63 chars, lowercase letters, digits, dots and hyphens, starting and ending alphanumeric.
_S3_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
# GCS: 3-63 chars (up to 222 with dots), lowercase letters, digits, dots, hyphens, underscores.
_GS_BUCKET = re.compile(r"^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$")
_REGION = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_GCP_PROJECT = re.compile(r"^[a-z0-9][a-z0-9.:-]{0,127}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")

OPTION_KEYS: dict[str, tuple[str, ...]] = {
    "s3": ("endpoint_url", "region", "anon"),
    "gs": ("project", "anon", "endpoint_url"),
    "local": (),
}
CREDENTIAL_KEYS: dict[str, tuple[str, ...]] = {
    "s3": ("key", "secret", "token"),
    "gs": ("service_account_json",),
    "local": (),
}


class PolicyError(ValueError):
    """The source is not acceptable; `message` says why, for the user (never echoes secrets)."""

    def __init__(self, message: str, *, field: str = "url") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(slots=True)
class ValidSource:
    """A source that passed the policy: normalised URL, options and credentials."""

    url: str
    kind: str  # "s3", "gs" or "local"
    options: dict[str, Any] = field(default_factory=dict)
    credentials: dict[str, Any] = field(default_factory=dict)


# ---- URLs ----------------------------------------------------------------------------------


def url_kind(url: str) -> str:
    """ "s3", "gs" or "local" for an accepted URL (no validation beyond the prefix)."""
    if url.startswith("s3://"):
        return "s3"
    if url.startswith("gs://"):
        return "gs"
    return "local"


def _check_text(value: object, *, what: str, limit: int, field_name: str) -> str:
    if not isinstance(value, str):
        raise PolicyError(f"{what} must be a string", field=field_name)
    if not value.strip():
        raise PolicyError(f"{what} must not be empty", field=field_name)
    if len(value) > limit:
        raise PolicyError(f"{what} is longer than {limit} characters", field=field_name)
    if _CONTROL.search(value):
        raise PolicyError(f"{what} contains control characters", field=field_name)
    return value


def _bucket_url(url: str, scheme: str) -> str:
    rest = url[len(scheme) + 3 :]
    bucket, _, prefix = rest.partition("/")
    pattern = _S3_BUCKET if scheme == "s3" else _GS_BUCKET
    if not pattern.match(bucket) or ".." in bucket:
        raise PolicyError(
            f"'{bucket}' is not a valid bucket name: use 3-63 lowercase letters, digits, dots "
            f"and hyphens ({scheme}://bucket/prefix)"
        )
    parts = [p for p in prefix.split("/") if p]
    for part in parts:
        if part in (".", ".."):
            raise PolicyError("the prefix must not contain '.' or '..' segments")
    return f"{scheme}://{bucket}" + ("/" + "/".join(parts) if parts else "")


def local_roots() -> list[str]:
    """TBHUB_LOCAL_ROOTS, each resolved like the paths checked against it."""
    return [os.path.realpath(r) for r in getattr(settings, "TBHUB_LOCAL_ROOTS", []) if r]


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _local_path(url: str) -> str:
    if not url.startswith("/"):
        raise PolicyError(
            "a source is s3://bucket/prefix, gs://bucket/prefix or an absolute local path"
        )
    roots = local_roots()
    if not roots:
        raise PolicyError(
            "local directories are disabled on this hub (the administrator has not set "
            "TBHUB_LOCAL_ROOTS); use s3:// or gs://"
        )
    # realpath resolves '..' and every symlink along the way, also for paths that do not exist
    # yet; the resolved path is what gets stored and read.
    resolved = os.path.realpath(url)
    if not any(_within(resolved, root) for root in roots):
        raise PolicyError(
            "local path is outside the directories this hub may read (TBHUB_LOCAL_ROOTS: "
            + ", ".join(roots)
            + ")"
        )
    return resolved


def url_validate(url: object) -> tuple[str, str]:
    """Return (normalised url, kind) or raise PolicyError."""
    text = _check_text(url, what="url", limit=MAX_URL_CHARS, field_name="url").strip()
    if "::" in text:
        raise PolicyError("chained URLs ('::') are not accepted")
    if text.startswith("s3://"):
        return _bucket_url(text, "s3"), "s3"
    if text.startswith("gs://"):
        return _bucket_url(text, "gs"), "gs"
    m = _SCHEME.match(text)
    if m or "://" in text:
        scheme = m.group(1).lower() if m else "?"
        hint = " (use gs://)" if scheme == "gcs" else ""
        hint = " (use s3:// or gs:// in lower case)" if scheme in ("s3", "gs") else hint
        raise PolicyError(
            f"'{scheme}:' URLs are not accepted{hint}: a source is s3://bucket/prefix, "
            "gs://bucket/prefix or an absolute local path"
        )
    return _local_path(text), "local"


# ---- endpoints -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    scheme: str
    host: str
    port: int
    path: str  # "" or "/prefix" without a trailing slash


def _default_port(scheme: str) -> int:
    return 443 if scheme == "https" else 80


def _parse_endpoint(text: str) -> Endpoint:
    """Parse an endpoint URL strictly (raises ValueError with a readable message)."""
    if _CONTROL.search(text) or " " in text or "\\" in text:
        raise ValueError("contains spaces, backslashes or control characters")
    parts: SplitResult = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ValueError("must start with http:// or https://")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise ValueError("must not contain user-info (user:password@)")
    if parts.query or parts.fragment or text.rstrip().endswith(("?", "#")):
        raise ValueError("must not have a query or fragment")
    host = (parts.hostname or "").lower()
    if not host:
        raise ValueError("has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("has an invalid port") from exc
    if port is None:
        port = _default_port(scheme)
    segments = [s for s in parts.path.split("/") if s]
    if any(s in (".", "..") or "%" in s for s in segments):
        raise ValueError("path must not contain '.', '..' or percent-escapes")
    path = "/" + "/".join(segments) if segments else ""
    return Endpoint(scheme=scheme, host=host, port=port, path=path)


def allowed_endpoints() -> list[Endpoint]:
    out = []
    for entry in getattr(settings, "TBHUB_ALLOWED_ENDPOINTS", []):
        try:
            out.append(_parse_endpoint(entry.strip()))
        except ValueError:
            continue  # a malformed entry allows nothing (tbhub.checks reports it at start-up)
    return out


def endpoint_validate(value: object) -> str:
    """Return the endpoint URL as given (stripped) if it matches an allowed entry."""
    text = _check_text(
        value, what="endpoint_url", limit=MAX_OPTION_CHARS, field_name="options"
    ).strip()
    try:
        ep = _parse_endpoint(text)
    except ValueError as exc:
        raise PolicyError(f"endpoint_url {exc}", field="options") from exc
    for allowed in allowed_endpoints():
        if (ep.scheme, ep.host, ep.port) != (allowed.scheme, allowed.host, allowed.port):
            continue
        if allowed.path and not _within(ep.path or "/", allowed.path):
            continue
        return text.rstrip("/")
    raise PolicyError(
        "endpoint_url is not one of the endpoints this hub may reach (ask an administrator to "
        "add it to TBHUB_ALLOWED_ENDPOINTS)",
        field="options",
    )


# ---- options and credentials ---------------------------------------------------------------


def options_validate(options: object, kind: str) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise PolicyError("options must be a JSON object", field="options")
    allowed = OPTION_KEYS[kind]
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key not in allowed:
            names = ", ".join(allowed) if allowed else "none"
            label = "local" if kind == "local" else kind
            raise PolicyError(
                f"unknown option '{str(key)[:40]}' for {label} sources (allowed: {names})",
                field="options",
            )
        if value is None or value == "":
            continue
        if key == "anon":
            if not isinstance(value, bool):
                raise PolicyError("options.anon must be true or false", field="options")
            if value:
                out[key] = True
        elif key == "endpoint_url":
            out[key] = endpoint_validate(value)
        elif key == "region":
            text = _check_text(value, what="region", limit=64, field_name="options")
            if not _REGION.match(text):
                raise PolicyError("options.region is not a valid region name", field="options")
            out[key] = text
        elif key == "project":
            text = _check_text(value, what="project", limit=128, field_name="options")
            if not _GCP_PROJECT.match(text):
                raise PolicyError("options.project is not a valid project id", field="options")
            out[key] = text
    return out


def credentials_validate(credentials: object, kind: str) -> dict[str, Any]:
    """Check the shape of credentials. Messages never include any part of a value."""
    if credentials is None:
        return {}
    if not isinstance(credentials, dict):
        raise PolicyError("credentials must be a JSON object", field="credentials")
    allowed = CREDENTIAL_KEYS[kind]
    if credentials and not allowed:
        raise PolicyError("local sources take no credentials", field="credentials")
    out: dict[str, Any] = {}
    for key, value in credentials.items():
        if key not in allowed:
            # The field's name is not echoed either: it may be a secret pasted in the wrong place.
            raise PolicyError(
                f"unknown credential field for {kind} sources (allowed: {', '.join(allowed)})",
                field="credentials",
            )
        if value is None or value == "":
            continue
        if key == "service_account_json":
            if isinstance(value, dict):
                parsed: Any = value
            elif isinstance(value, str) and len(value) <= MAX_CREDENTIAL_CHARS:
                try:
                    parsed = json.loads(value)
                except ValueError:
                    parsed = None
            else:
                parsed = None
            if not isinstance(parsed, dict) or not parsed.get("type"):
                raise PolicyError(
                    "credentials.service_account_json must be a service account key (a JSON "
                    "object with a 'type' field)",
                    field="credentials",
                )
            out[key] = json.dumps(parsed, sort_keys=True)
            continue
        if not isinstance(value, str) or len(value) > MAX_CREDENTIAL_CHARS:
            raise PolicyError(f"credentials.{key} must be a string", field="credentials")
        if _CONTROL.search(value):
            raise PolicyError(f"credentials.{key} contains control characters", field="credentials")
        out[key] = value
    if kind == "s3" and bool(out.get("key")) != bool(out.get("secret")):
        raise PolicyError("S3 credentials need both 'key' and 'secret'", field="credentials")
    if kind == "s3" and out.get("token") and not out.get("key"):
        raise PolicyError("an S3 session 'token' needs 'key' and 'secret'", field="credentials")
    return out


def source_validate(
    *, url: object, options: object = None, credentials: object = None
) -> ValidSource:
    """Validate a whole source (syntax and policy only; never connects).

    Raises:
        PolicyError: with a message fit to show the user.
    """
    norm, kind = url_validate(url)
    opts = options_validate(options, kind)
    creds = credentials_validate(credentials, kind)
    if opts.get("anon") and creds:
        raise PolicyError(
            "options.anon (anonymous access) cannot be combined with credentials",
            field="credentials",
        )
    return ValidSource(url=norm, kind=kind, options=opts, credentials=creds)


def source_recheck(*, url: str, options: dict[str, Any]) -> None:
    """Re-check a stored source against the current policy (roots and endpoints may have been
    narrowed since it was created). Raises PolicyError."""
    norm, kind = url_validate(url)
    if kind == "local" and norm != url:
        raise PolicyError("local path now resolves elsewhere (a symlink changed)")
    options_validate(options, kind)
