"""Retention and storage endpoints and pages: who may do what (the authorization matrix of the
hub, for the new endpoints), confirmations, policies, audit entries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from hub.models import AuditEvent, Role
from ingest import retention
from ingest.models import RetentionPolicy, Run, Series
from tests import factories
from tests.hub.conftest import call, logged_in
from tests.hub.test_authorization_matrix import (
    ACTORS,
    ADMIN,
    ANON,
    EXPIRED,
    OUTSIDER,
    REVOKED,
    RO_TOKEN,
    TOKEN,
    Endpoint,
    Matrix,
    _client,
    expected,
)

P = "/api/v1/projects/vision"


@dataclass
class Data:
    world: Any
    run: Run
    other_run: Run


@pytest.fixture
def data(world: Any, tmp_path: Any) -> Data:
    src = factories.source(project=world.project, url=str(tmp_path))
    run = factories.run(source=src, name="run-a")
    factories.event_file(run=run, size=200, offset=200)
    factories.scalars(run=run, tag="loss", steps=list(range(10)))
    factories.image(run=run, tag="img")
    other_src = factories.source(project=world.other, url=str(tmp_path / "x"))
    other_run = factories.run(source=other_src, name="run-z")
    factories.scalars(run=other_run, tag="loss")
    # The factories do not keep stored_bytes: give the series what the store would count.
    Series.objects.filter(kind="scalar").update(stored_bytes=10 * 20)
    Series.objects.filter(kind="image").update(stored_bytes=68)
    return Data(world, run, other_run)


@pytest.fixture
def matrix(data: Data) -> Matrix:
    w = data.world
    spare = factories.user(username="mia")
    factories.membership(project=w.project, user=spare, role=Role.VIEWER)
    tokens = {
        TOKEN: factories.token(user=w.owner)[1],
        RO_TOKEN: factories.token(user=w.owner, read_only=True)[1],
        REVOKED: factories.token(user=w.owner, revoked=True)[1],
        EXPIRED: factories.token(user=w.owner, expired=True)[1],
    }
    users = {
        OUTSIDER: w.outsider,
        "viewer": w.viewer,
        "editor": w.editor,
        "owner": w.owner,
        ADMIN: w.admin,
    }
    return Matrix(users=users, tokens=tokens, ids={"run": data.run.pk})


ADMIN_ONLY = {OUTSIDER: 404}  # admin-only, yet a non-member still learns nothing
ENDPOINTS = [
    Endpoint("GET", f"{P}/storage", "read"),
    Endpoint("PATCH", f"{P}/runs/{{run}}", "role", role=Role.EDITOR, body={"hidden": True}),
    Endpoint(
        "POST", f"{P}/runs/{{run}}/delete-data", "role", role=Role.OWNER, body={"confirm": "run-a"}
    ),
    Endpoint("POST", f"{P}/runs/{{run}}/reingest", "role", 202, role=Role.OWNER),
    Endpoint("GET", f"{P}/retention", "admin", overrides=ADMIN_ONLY),
    Endpoint("PUT", f"{P}/retention", "admin", body={"idle_days": 30}, overrides=ADMIN_ONLY),
    Endpoint("GET", f"{P}/retention/preview", "admin", overrides=ADMIN_ONLY),
    Endpoint("GET", "/api/v1/retention", "admin"),
    Endpoint("PUT", "/api/v1/retention", "admin", body={"max_images_per_tag": 10}),
    Endpoint("GET", "/projects/vision/storage/", "page-read"),
    Endpoint(
        "POST",
        "/projects/vision/storage/",
        "page-admin",
        302,
        form={"idle_days": "30"},
        overrides=ADMIN_ONLY,
    ),
    Endpoint("GET", "/projects/vision/runs/{run}/data/", "page-role", role=Role.OWNER),
    Endpoint(
        "POST",
        "/projects/vision/runs/{run}/data/",
        "page-role",
        302,
        role=Role.OWNER,
        form={"op": "delete", "confirm": "run-a"},
    ),
    Endpoint(
        "POST",
        "/projects/vision/runs/{run}/data/",
        "page-role",
        302,
        role=Role.OWNER,
        form={"op": "reingest"},
    ),
    Endpoint("GET", "/retention/", "page-admin"),
    Endpoint("POST", "/retention/", "page-admin", 302, form={"max_images_per_tag": "5"}),
]


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda ep: ep.id)
def test_matrix(matrix: Matrix, ep: Endpoint) -> None:
    path = ep.path.format(**matrix.ids)
    rows = []
    for actor in ACTORS:
        client, token = _client(matrix, actor)
        with transaction.atomic():
            if ep.form is not None:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                resp = client.post(path, ep.form, headers=headers)
            else:
                resp = call(client, ep.method, path, ep.body, token=token)
            transaction.set_rollback(True)
        want = expected(ep, actor)
        got = resp.status_code
        if got >= 400 and path.startswith("/api/"):
            assert resp["Content-Type"].startswith("application/json"), (actor, resp.content)
            assert "error" in resp.json(), (actor, resp.content)
        rows.append((actor, want, got, resp.content[:200] if got != want else b""))
    bad = [r for r in rows if r[1] != r[2]]
    assert not bad, "\n".join(f"{a:16} expected {w} got {g} {body!r}" for a, w, g, body in bad)


# ---- owners delete a run's data, with a confirmation ------------------------------------------


def test_delete_data_needs_the_run_name_and_is_audited(data: Data) -> None:
    w, run = data.world, data.run
    owner = logged_in(w.owner)
    url = f"{P}/runs/{run.pk}/delete-data"
    for body in ({}, {"confirm": "yes"}, {"confirm": "RUN-A"}, {"confirm": True}):
        resp = call(owner, "POST", url, body)
        assert resp.status_code == 400, body
        assert resp.json()["field"] == "confirm"
    assert Series.objects.filter(run=run).count() == 2
    resp = call(owner, "POST", url, {"confirm": "run-a"})
    assert resp.status_code == 200
    body = resp.json()
    assert body["bytes_freed"] == 200 + 68
    assert body["data_deleted_reason"] == "owner"
    assert body["data_deleted_at"] is not None
    assert body["stored_bytes"] == 0
    assert not Series.objects.filter(run=run).exists()
    (event,) = AuditEvent.objects.filter(action="run.delete_data")
    assert (event.actor_username, event.target, event.via) == ("olivia", "run-a", "session")
    assert event.details["bytes_freed"] == 268
    # Again: nothing left to delete, nothing recorded.
    resp = call(owner, "POST", url, {"confirm": "run-a"})
    assert resp.status_code == 200 and resp.json()["bytes_freed"] == 0
    assert AuditEvent.objects.filter(action="run.delete_data").count() == 1
    # Another project's run id is a 404, even for its own owner's URL shape.
    resp = call(owner, "POST", f"{P}/runs/{data.other_run.pk}/delete-data", {"confirm": "run-z"})
    assert resp.status_code == 404
    assert Series.objects.filter(run=data.other_run).exists()
    # Re-ingest brings the run back to reading.
    resp = call(owner, "POST", f"{P}/runs/{run.pk}/reingest")
    assert resp.status_code == 202
    run.refresh_from_db()
    assert run.data_deleted_at is None and run.pending
    assert AuditEvent.objects.filter(action="run.reingest").count() == 1


def test_editor_hides_but_cannot_delete(data: Data) -> None:
    editor = logged_in(data.world.editor)
    run = data.run
    assert call(editor, "PATCH", f"{P}/runs/{run.pk}", {"hidden": True}).json()["hidden"]
    resp = call(editor, "POST", f"{P}/runs/{run.pk}/delete-data", {"confirm": "run-a"})
    assert resp.status_code == 403
    assert "owner" in resp.json()["error"]
    assert Series.objects.filter(run=run).count() == 2
    page = editor.get("/projects/vision/")
    assert b"Delete data" not in page.content


# ---- admins edit policies -------------------------------------------------------------------------


def test_policies_global_and_per_project(data: Data) -> None:
    admin = logged_in(data.world.admin)
    resp = call(admin, "PUT", "/api/v1/retention", {"idle_days": 90, "max_bytes": 10**9})
    assert resp.status_code == 200
    assert resp.json()["policy"] == {
        "idle_days": 90,
        "max_images_per_tag": None,
        "downsample_after_days": None,
        "downsample_bucket": None,
        "max_bytes": 10**9,
    }
    assert resp.json()["updated_by"] == "ada"
    resp = call(admin, "PUT", f"{P}/retention", {"idle_days": 30, "max_bytes": 0})
    assert resp.status_code == 200
    body = resp.json()
    assert body["override"]["idle_days"] == 30 and body["override"]["max_bytes"] == 0
    assert body["effective"]["idle_days"] == 30
    assert body["effective"]["max_bytes"] is None  # 0: no limit for this project
    assert body["origin"]["max_bytes"] == "project"
    assert body["global"]["max_bytes"] == 10**9
    # null: back to the global value; fields left out keep theirs.
    body = call(admin, "PUT", f"{P}/retention", {"max_bytes": None}).json()
    assert body["effective"] == {
        "idle_days": 30,
        "max_images_per_tag": None,
        "downsample_after_days": None,
        "downsample_bucket": 100,
        "max_bytes": 10**9,
    }
    assert body["origin"]["max_bytes"] == "global"
    assert call(admin, "GET", f"{P}/retention").json() == body
    for bad, field in (
        ({"idle_days": -3}, "idle_days"),
        ({"downsample_bucket": 2}, "downsample_bucket"),
        ({"forever": 1}, "forever"),
    ):
        resp = call(admin, "PUT", f"{P}/retention", bad)
        assert resp.status_code == 400, bad
        assert resp.json()["field"] == field
    assert call(admin, "PUT", f"{P}/retention", [1]).status_code == 400
    events = list(AuditEvent.objects.filter(action="retention.policy").order_by("id"))
    assert [e.target for e in events] == ["global default", "vision", "vision"]
    assert events[0].project is None
    assert events[1].details["idle_days"] == {"from": None, "to": 30}
    assert events[2].details == {"max_bytes": {"from": 0, "to": None}}
    # Members read the effective policy with the storage numbers.
    storage = call(logged_in(data.world.viewer), "GET", f"{P}/storage").json()
    assert storage["policy"]["idle_days"] == 30
    assert storage["max_bytes"] == 10**9 and not storage["over_cap"]


def test_preview_is_the_plan(data: Data) -> None:
    admin = logged_in(data.world.admin)
    Run.objects.filter(pk=data.run.pk).update(updated_at="2020-01-01T00:00:00Z")
    call(admin, "PUT", f"{P}/retention", {"idle_days": 30})
    body = call(admin, "GET", f"{P}/retention/preview").json()
    assert body["project"] == "vision"
    assert body["exact"] is True
    assert body["runs"] == [
        {"id": data.run.pk, "name": "run-a", "reason": "retention", "bytes": 268}
    ]
    assert body["totals"]["bytes_freed"] == 268
    assert body["stored_bytes"] == 268 and body["bytes_after"] == 0
    assert Run.objects.get(pk=data.run.pk).data_deleted_at is None  # a dry run


# ---- storage accounting -------------------------------------------------------------------


def test_storage_numbers(data: Data) -> None:
    viewer = logged_in(data.world.viewer)
    body = call(viewer, "GET", f"{P}/storage").json()
    assert body["total_bytes"] == 268
    assert body["by_kind"] == {
        "scalars": 200,
        "histograms": 0,
        "images": 68,
        "text": 0,
        "tensors": 0,
        "graphs": 0,
    }
    assert body["runs"] == 1 and body["runs_data_deleted"] == 0
    assert call(logged_in(data.world.outsider), "GET", f"{P}/storage").status_code == 404
    status = call(viewer, "GET", f"{P}/runs/{data.run.pk}").json()
    assert status["stored_bytes"] == 268
    page = viewer.get("/projects/vision/storage/").content.decode()
    assert "268" in page and 'id="storage-by-kind"' in page
    assert 'id="retention-form"' not in page  # viewers read, admins edit
    project_page = viewer.get("/projects/vision/").content.decode()
    assert 'id="stored-total"' in project_page and "268 bytes" in project_page


# ---- pages --------------------------------------------------------------------------------


def test_owner_deletes_from_the_page_after_a_confirmation(data: Data) -> None:
    owner = logged_in(data.world.owner)
    run = data.run
    listing = owner.get("/projects/vision/").content.decode()
    assert f"/projects/vision/runs/{run.pk}/data/" in listing
    confirm = owner.get(f"/projects/vision/runs/{run.pk}/data/").content.decode()
    assert "Delete stored data" in confirm and "not read again" in confirm
    assert Series.objects.filter(run=run).exists()  # a GET changes nothing
    resp = owner.post(f"/projects/vision/runs/{run.pk}/data/", {"op": "delete", "confirm": "x"})
    assert resp.status_code == 302
    assert Series.objects.filter(run=run).exists()
    resp = owner.post(f"/projects/vision/runs/{run.pk}/data/", {"op": "delete", "confirm": "run-a"})
    assert resp.status_code == 302 and resp["Location"] == "/projects/vision/"
    assert not Series.objects.filter(run=run).exists()
    listing = owner.get("/projects/vision/").content.decode()
    assert "data deleted (by an owner)" in listing
    assert 'value="reingest"' in listing
    editor_listing = logged_in(data.world.editor).get("/projects/vision/").content.decode()
    assert "data deleted" in editor_listing and 'value="reingest"' not in editor_listing
    owner.post(f"/projects/vision/runs/{run.pk}/data/", {"op": "reingest"})
    assert Run.objects.get(pk=run.pk).data_deleted_at is None


def test_admin_edits_policies_on_pages_and_sees_the_dry_run(data: Data) -> None:
    admin = logged_in(data.world.admin)
    resp = admin.post("/retention/", {"idle_days": "60", "max_bytes": "2 GiB"})
    assert resp.status_code == 302
    glob = retention.policy_global()
    assert (glob.idle_days, glob.max_bytes) == (60, 2 * 1024**3)
    page = admin.get("/retention/").content.decode()
    assert 'id="retention-projects"' in page and "vision" in page and "secret" in page
    resp = admin.post("/retention/", {"max_bytes": "a lot"})
    assert resp.status_code == 400
    assert "500 MB" in resp.content.decode()
    Run.objects.filter(pk=data.run.pk).update(updated_at="2020-01-01T00:00:00Z")
    resp = admin.post("/projects/vision/storage/", {"idle_days": "30", "max_images_per_tag": "0"})
    assert resp.status_code == 302 and resp["Location"].endswith("?preview=1")
    own = RetentionPolicy.objects.get(project=data.world.project)
    assert (own.idle_days, own.max_images_per_tag, own.max_bytes) == (30, 0, None)
    page = admin.get(resp["Location"]).content.decode()
    assert 'id="dry-run"' in page and "run-a" in page and "no new events" in page
    assert Run.objects.get(pk=data.run.pk).data_deleted_at is None
    assert logged_in(data.world.owner).get("/retention/").status_code == 403


def test_django_admin_manages_policies(data: Data) -> None:
    admin = logged_in(data.world.admin)
    for path in (
        "/admin/ingest/retentionpolicy/",
        "/admin/ingest/retentionpolicy/add/",
        f"/admin/ingest/retentionpolicy/{retention.policy_global().pk}/change/",
        "/admin/hub/project/",
        f"/admin/hub/project/{data.world.project.pk}/change/",
        "/admin/ingest/run/",
    ):
        assert admin.get(path).status_code == 200, path
    assert (
        "268" in admin.get(f"/admin/hub/project/{data.world.project.pk}/change/").content.decode()
    )
    resp = admin.post(
        "/admin/ingest/retentionpolicy/add/",
        {"project": data.world.project.pk, "idle_days": "14", "max_bytes": "0"},
    )
    assert resp.status_code == 302, resp.content[:2000]
    own = RetentionPolicy.objects.get(project=data.world.project)
    assert (own.idle_days, own.max_bytes) == (14, 0)
    event = AuditEvent.objects.get(action="retention.policy", via="admin")
    assert event.project_id == data.world.project.pk
    resp = admin.post(
        "/admin/ingest/retentionpolicy/add/", {"project": data.world.project.pk, "idle_days": "1"}
    )
    assert resp.status_code == 200  # one override per project
    resp = admin.post("/admin/ingest/retentionpolicy/add/", {"downsample_bucket": "2"})
    assert resp.status_code == 200 and b"downsample_bucket" in resp.content
    glob = retention.policy_global()
    assert admin.get(f"/admin/ingest/retentionpolicy/{glob.pk}/delete/").status_code == 403
    # Admins can also delete a run's data from the run list (audited, via admin).
    resp = admin.post(
        "/admin/ingest/run/",
        {"action": "delete_data", "_selected_action": [data.run.pk]},
    )
    assert resp.status_code == 302
    assert Run.objects.get(pk=data.run.pk).data_deleted_reason == "owner"
    assert AuditEvent.objects.filter(action="run.delete_data", via="admin").count() == 1


def test_anonymous_and_strangers(data: Data) -> None:
    assert Client().get(f"{P}/storage").status_code == 401
    assert Client().get("/api/v1/retention").status_code == 401
    resp = call(logged_in(data.world.outsider), "PUT", "/api/v1/retention", {"idle_days": 1})
    assert resp.status_code == 403
    assert retention.policy_global().idle_days is None
    assert ANON in ACTORS and EXPIRED in ACTORS
