"""Source credentials are write-only: no response, page, admin page or log shows any part of them.
Tokens are shown once, at creation, and stored hashed."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from hub.crypto import credentials_decrypt
from hub.models import AccessToken, AuditEvent
from ingest import services as ingest_services
from ingest.models import Source
from tests import factories
from tests.conftest import free_port
from tests.hub.conftest import call, logged_in

S3_KEY = "AKIAQWERTYSECRETKEY7"
S3_SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYzz-SECRET"
SA_PRIVATE = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BSECRETPRIVATE"
SA_JSON = json.dumps(
    {
        "type": "service_account",
        "project_id": "p",
        "private_key_id": "abcdef0123456789SECRETID",
        "private_key": SA_PRIVATE,
        "client_email": "robot@p.iam.gserviceaccount.com",
    }
)
NEEDLES = [S3_KEY, S3_SECRET, S3_SECRET[8:24], SA_PRIVATE[30:50], "abcdef0123456789SECRETID"]


def _clean(text: str, where: str) -> None:
    for needle in NEEDLES:
        assert needle not in text, f"a credential leaked into {where}"


@pytest.fixture
def leaky_world(world: Any, settings: Any) -> dict[str, Any]:
    closed = f"http://127.0.0.1:{free_port()}"
    settings.TBHUB_ALLOWED_ENDPOINTS = [closed]
    return {"endpoint": closed}


def test_credentials_never_leave_the_hub(
    world: Any,
    leaky_world: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    owner = logged_in(world.owner)
    admin = logged_in(world.admin)
    bodies: list[tuple[str, str]] = []

    def seen(where: str, resp: Any) -> Any:
        content = b"".join(resp.streaming_content) if resp.streaming else resp.content
        bodies.append((where, content.decode("utf-8", "replace")))
        return resp

    # Create through the API (S3 and GCS) and through the page form.
    r = seen(
        "api create s3",
        call(
            owner,
            "POST",
            "/api/v1/projects/vision/sources",
            {
                "url": "s3://team-logs/exp",
                "options": {"endpoint_url": leaky_world["endpoint"]},
                "credentials": {"key": S3_KEY, "secret": S3_SECRET},
            },
        ),
    )
    assert r.status_code == 201
    s3_id = r.json()["id"]
    r = seen(
        "api create gs",
        call(
            owner,
            "POST",
            "/api/v1/projects/vision/sources",
            {
                "url": "gs://team-logs/exp",
                "credentials": {"service_account_json": SA_JSON},
            },
        ),
    )
    assert r.status_code == 201
    r = seen(
        "page create",
        owner.post(
            "/projects/vision/sources/",
            {
                "url": "s3://page-logs/x",
                "key": S3_KEY,
                "secret": S3_SECRET,
                "endpoint_url": leaky_world["endpoint"],
            },
            follow=True,
        ),
    )
    assert r.status_code == 200
    # Bad input next to credentials: the error page must not echo them.
    r = seen(
        "page create error",
        owner.post(
            "/projects/vision/sources/",
            {
                "url": "ftp://nope",
                "key": S3_KEY,
                "secret": S3_SECRET,
                "service_account_json": SA_JSON,
            },
        ),
    )
    assert r.status_code == 400
    r = seen(
        "api create error",
        call(
            owner,
            "POST",
            "/api/v1/projects/vision/sources",
            {
                "url": "s3://team-logs/x",
                "credentials": {"key": S3_KEY, "secret": S3_SECRET, "other": S3_SECRET},
            },
        ),
    )
    assert r.status_code == 400
    r = seen(
        "api patch",
        call(
            owner,
            "PATCH",
            f"/api/v1/projects/vision/sources/{s3_id}",
            {
                "credentials": {"key": S3_KEY, "secret": S3_SECRET},
            },
        ),
    )
    assert r.status_code == 200
    assert r.json()["credentials_set"] is True

    # Ingest and "Test access" both fail (nothing listens on the endpoint): errors are readable.
    # (Only sources on the loopback endpoint: a test never reaches for a public address.)
    for source in Source.objects.filter(options__endpoint_url=leaky_world["endpoint"]):
        ingest_services.source_list(source_id=source.pk)
    seen("api test", call(owner, "POST", f"/api/v1/projects/vision/sources/{s3_id}/test"))
    seen("page test", owner.post(f"/projects/vision/sources/{s3_id}/", {"op": "test"}, follow=True))

    # Everything that shows sources or their history.
    for path in (
        "/api/v1/projects/vision/sources",
        f"/api/v1/projects/vision/sources/{s3_id}",
        "/api/v1/projects/vision",
        "/api/v1/projects",
        "/api/v1/projects/vision/audit",
        "/api/v1/projects/vision/runs",
        "/api/v1/projects/vision/runs/status",
    ):
        seen(path, call(owner, "GET", path))
    for path in (
        "/projects/",
        "/projects/vision/",
        "/projects/vision/sources/",
        "/projects/vision/audit/",
    ):
        seen(path, owner.get(path))
    for path in (
        "/api/v1/audit",
        "/audit/",
        "/admin/",
        "/admin/ingest/source/",
        f"/admin/ingest/source/{s3_id}/change/",
        "/admin/hub/project/",
        f"/admin/hub/project/{world.project.pk}/change/",
        "/admin/hub/auditevent/",
        "/admin/hub/ingesthealth/",
    ):
        r = seen(path, admin.get(path))
        assert r.status_code == 200, (path, r.status_code)
    for event in AuditEvent.objects.all():
        seen(f"audit admin {event.pk}", admin.get(f"/admin/hub/auditevent/{event.pk}/change/"))
    # Admin edits: the credentials field is write-only there too.
    r = seen(
        "admin save",
        admin.post(
            f"/admin/ingest/source/{s3_id}/change/",
            {
                "options": json.dumps({"endpoint_url": leaky_world["endpoint"]}),
                "credentials_json": json.dumps({"key": S3_KEY, "secret": S3_SECRET}),
            },
            follow=True,
        ),
    )
    assert r.status_code == 200
    r = seen(
        "admin bad json",
        admin.post(
            f"/admin/ingest/source/{s3_id}/change/",
            {
                "options": "{}",
                "credentials_json": "{" + S3_SECRET,
            },
        ),
    )
    assert b"not valid JSON" in r.content

    for where, text in bodies:
        _clean(text, where)
    log_text = "\n".join(f"{rec.getMessage()} {rec.__dict__}" for rec in caplog.records)
    _clean(log_text, "the logs")
    out = capsys.readouterr()
    _clean(out.out + out.err, "stdout/stderr")
    for event in AuditEvent.objects.all():
        _clean(json.dumps(event.details) + event.target, "the audit log")

    # They are stored, encrypted, and still usable by ingest.
    stored = Source.objects.get(pk=s3_id)
    assert S3_SECRET.encode() not in bytes(stored.credentials_encrypted)
    assert credentials_decrypt(stored.credentials_encrypted) == {"key": S3_KEY, "secret": S3_SECRET}
    gs = Source.objects.get(url="gs://team-logs/exp")
    assert json.loads(credentials_decrypt(gs.credentials_encrypted)["service_account_json"]) == (
        json.loads(SA_JSON)
    )


def test_credentials_key_can_be_set_apart_from_the_secret_key(settings: Any) -> None:
    from hub.crypto import CredentialsError, credentials_encrypt

    settings.TBHUB_CREDENTIALS_KEY = "key-one"
    token = credentials_encrypt({"key": "a", "secret": "b"})
    settings.SECRET_KEY = "rotated"
    assert credentials_decrypt(token) == {"key": "a", "secret": "b"}
    settings.TBHUB_CREDENTIALS_KEY = "key-two"
    with pytest.raises(CredentialsError):
        credentials_decrypt(token)


def test_tokens_are_shown_once_and_stored_hashed(world: Any) -> None:
    client = logged_in(world.owner)
    created = call(
        client, "POST", "/api/v1/tokens", {"name": "ci", "read_only": True, "expires_days": 30}
    ).json()
    raw = created["token"]
    assert raw.startswith("tbh_")
    assert len(raw) > 40
    assert created["read_only"] is True
    assert created["status"] == "active"
    row = AccessToken.objects.get(pk=created["id"])
    assert raw not in row.key_hash
    assert row.key_hash != raw
    listing = call(client, "GET", "/api/v1/tokens").content.decode()
    assert raw not in listing
    assert raw[4:16] not in listing
    page = client.get("/tokens/").content.decode()
    assert raw not in page
    page_created = client.post("/tokens/", {"op": "create", "name": "page"})
    assert page_created["Cache-Control"] == "no-store"
    assert b"shown only once" in page_created.content
    # The token works, and last use is recorded.
    me = call(client.__class__(), "GET", "/api/v1/me", token=raw).json()
    assert me["username"] == world.owner.username
    assert me["auth"] == "token"
    row.refresh_from_db()
    assert row.last_used_at is not None


def test_factories_token_helpers(world: Any) -> None:
    _, raw = factories.token(user=world.viewer, revoked=True)
    resp = call(logged_in(world.viewer).__class__(), "GET", "/api/v1/me", token=raw)
    assert resp.status_code == 401
    assert resp.json() == {"error": "invalid, expired or revoked token"}
    assert resp["WWW-Authenticate"].startswith("Bearer")
