"""Django admin: every page renders, policy and audit apply there too, re-ingest works."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hub.models import AuditEvent, Membership
from ingest.models import EventFile, FileState, Run, Source
from tests import factories
from tests.hub.conftest import logged_in


@pytest.fixture
def ingest_rows(world: Any, roots: Any) -> dict[str, Any]:
    src = factories.source(project=world.project, url=str(roots), status="error")
    Source.objects.filter(pk=src.pk).update(status_message="no such directory")
    run = factories.run(source=src, name="run-a", last_step=9)
    ef = factories.event_file(
        run=run,
        size=500,
        offset=300,
        records=7,
        bad_records=2,
        state=FileState.CORRUPT,
        error="at byte 120: bad data CRC; skipped",
    )
    factories.scalars(run=run)
    return {"src": src, "run": run, "ef": ef}


def test_every_admin_page_renders(world: Any, ingest_rows: dict[str, Any]) -> None:
    admin = logged_in(world.admin)
    token, _ = factories.token(user=world.owner)
    pages = [
        "/admin/",
        "/admin/auth/user/",
        f"/admin/auth/user/{world.owner.pk}/change/",
        "/admin/hub/project/",
        f"/admin/hub/project/{world.project.pk}/change/",
        "/admin/hub/project/add/",
        "/admin/hub/membership/",
        "/admin/hub/accesstoken/",
        f"/admin/hub/accesstoken/{token.pk}/change/",
        "/admin/hub/auditevent/",
        "/admin/ingest/source/",
        "/admin/ingest/source/add/",
        f"/admin/ingest/source/{ingest_rows['src'].pk}/change/",
        "/admin/ingest/run/",
        f"/admin/ingest/run/{ingest_rows['run'].pk}/change/",
        "/admin/ingest/eventfile/",
        f"/admin/ingest/eventfile/{ingest_rows['ef'].pk}/change/",
        "/admin/hub/ingesthealth/",
    ]
    for path in pages:
        resp = admin.get(path)
        assert resp.status_code == 200, (path, resp.status_code)
    health = admin.get("/admin/hub/ingesthealth/").content.decode()
    assert "no such directory" in health
    assert "bad data CRC" in health
    files = admin.get("/admin/ingest/eventfile/").content.decode()
    assert "corrupt" in files
    assert "60.0%" in files


def test_admin_is_for_staff_only(world: Any) -> None:
    resp = logged_in(world.owner).get("/admin/ingest/source/")
    assert resp.status_code == 302
    assert "/admin/login/" in resp["Location"]


def test_reingest_from_scratch(world: Any, ingest_rows: dict[str, Any]) -> None:
    admin = logged_in(world.admin)
    ef = ingest_rows["ef"]
    resp = admin.post(
        "/admin/ingest/eventfile/",
        {
            "action": "reingest",
            "_selected_action": [str(ef.pk)],
        },
        follow=True,
    )
    assert resp.status_code == 200
    assert b"1 run(s) queued for re-ingest" in resp.content
    ef.refresh_from_db()
    assert (ef.offset, ef.records, ef.bad_records, ef.state, ef.error) == (0, 0, 0, "ok", "")
    run = Run.objects.get(pk=ingest_rows["run"].pk)
    assert run.pending
    assert run.last_step is None
    assert not run.series.exists()
    event = AuditEvent.objects.get(action="run.reingest")
    assert (event.actor_username, event.via, event.target) == ("ada", "admin", "run-a")


def test_admin_sources_follow_the_policy_and_are_audited(world: Any, roots: Any) -> None:
    admin = logged_in(world.admin)
    resp = admin.post(
        "/admin/ingest/source/add/",
        {
            "project": world.project.pk,
            "url": "file:///etc",
            "options": "{}",
        },
    )
    assert resp.status_code == 200
    assert b"URLs are not accepted" in resp.content
    resp = admin.post(
        "/admin/ingest/source/add/",
        {
            "project": world.project.pk,
            "url": "s3://admin-bucket/x",
            "options": "{}",
            "credentials_json": json.dumps({"key": "AKIAADMIN", "secret": "admin-secret"}),
        },
    )
    assert resp.status_code == 302, resp.content[:500]
    src = Source.objects.get(url="s3://admin-bucket/x")
    assert src.credentials_encrypted
    assert AuditEvent.objects.filter(action="source.create", via="admin").exists()
    # Clearing credentials.
    admin.post(
        f"/admin/ingest/source/{src.pk}/change/",
        {
            "options": "{}",
            "clear_credentials": "on",
        },
    )
    src.refresh_from_db()
    assert src.credentials_encrypted is None


def test_admin_memberships_and_tokens_are_audited(world: Any) -> None:
    admin = logged_in(world.admin)
    resp = admin.post(
        "/admin/hub/membership/add/",
        {
            "project": world.project.pk,
            "user": world.outsider.pk,
            "role": "viewer",
        },
    )
    assert resp.status_code == 302
    assert Membership.objects.filter(project=world.project, user=world.outsider).exists()
    assert AuditEvent.objects.filter(action="member.add", via="admin", target="otto").exists()
    token, raw = factories.token(user=world.owner)
    admin.post("/admin/hub/accesstoken/", {"action": "revoke", "_selected_action": [str(token.pk)]})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert AuditEvent.objects.filter(action="token.revoke", via="admin").exists()
    assert raw not in admin.get(f"/admin/hub/accesstoken/{token.pk}/change/").content.decode()


def test_admin_run_visibility(world: Any, ingest_rows: dict[str, Any]) -> None:
    admin = logged_in(world.admin)
    run = ingest_rows["run"]
    resp = admin.post(f"/admin/ingest/run/{run.pk}/change/", {"hidden": "on", "note": "bad seed"})
    assert resp.status_code == 302
    run.refresh_from_db()
    assert run.hidden
    assert run.note == "bad seed"
    assert AuditEvent.objects.filter(action="run.hide", via="admin").exists()
    assert not EventFile.objects.filter(pk=ingest_rows["ef"].pk, offset=0).exists()


def test_admin_project_slugs_are_validated(world: Any) -> None:
    admin = logged_in(world.admin)
    resp = admin.post(
        "/admin/hub/project/add/",
        {
            "name": "Bad",
            "slug": "new",
            "description": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "sources-TOTAL_FORMS": "0",
            "sources-INITIAL_FORMS": "0",
        },
    )
    assert resp.status_code == 200
    assert b"reserved" in resp.content
    resp = admin.post(
        "/admin/hub/project/add/",
        {
            "name": "Good",
            "slug": "good",
            "description": "",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "0",
            "memberships-0-user": str(world.outsider.pk),
            "memberships-0-role": "owner",
            "sources-TOTAL_FORMS": "0",
            "sources-INITIAL_FORMS": "0",
        },
    )
    assert resp.status_code == 302, resp.content[:1000]
    assert Membership.objects.get(project__slug="good").user == world.outsider
    assert AuditEvent.objects.filter(action="member.add", project_slug="good", via="admin").exists()
