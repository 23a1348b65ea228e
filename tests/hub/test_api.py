"""The management API: projects, members, sources, runs, tokens, audit, errors and the schema."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from hub.models import AuditEvent, Membership, Project
from ingest.models import Run, Source
from tests import factories
from tests.hub.conftest import call, logged_in

P = "/api/v1/projects/vision"


# ---- projects -------------------------------------------------------------------------------


def test_create_list_read_update_delete(world: Any) -> None:
    c = logged_in(world.outsider)
    resp = call(
        c,
        "POST",
        "/api/v1/projects",
        {"name": " Speech ", "slug": "speech", "description": "ASR runs"},
    )
    assert resp.status_code == 201
    body = resp.json()
    assert (body["slug"], body["name"], body["description"], body["role"]) == (
        "speech",
        "Speech",
        "ASR runs",
        "owner",
    )
    assert body["runs"] == 0
    assert body["health"]["state"] == "empty"
    assert body["permissions"]["manage_members"] is True
    assert Membership.objects.get(project__slug="speech").user == world.outsider

    listing = call(c, "GET", "/api/v1/projects").json()
    assert [p["slug"] for p in listing["projects"]] == ["speech"]  # only the caller's

    resp = call(c, "PATCH", "/api/v1/projects/speech", {"name": "Speech v2", "description": ""})
    assert resp.status_code == 200
    assert (resp.json()["name"], resp.json()["description"]) == ("Speech v2", "")
    resp = call(c, "PATCH", "/api/v1/projects/speech", {"slug": "other"})
    assert resp.status_code == 400
    assert resp.json() == {"error": "a project's slug cannot be changed", "field": "slug"}

    resp = call(c, "DELETE", "/api/v1/projects/speech")
    assert resp.status_code == 204
    assert resp.content == b""
    assert not Project.objects.filter(slug="speech").exists()
    assert call(c, "GET", "/api/v1/projects/speech").status_code == 404
    actions = list(
        AuditEvent.objects.filter(project_slug="speech").values_list("action", flat=True)
    )
    assert set(actions) == {"project.create", "project.update", "project.delete"}


def test_admin_sees_every_project(world: Any) -> None:
    listing = call(logged_in(world.admin), "GET", "/api/v1/projects").json()["projects"]
    assert {p["slug"]: p["role"] for p in listing} == {"secret": "admin", "vision": "admin"}
    roles = {
        u.username: call(logged_in(u), "GET", P).json()["role"]
        for u in (world.owner, world.editor, world.viewer)
    }
    assert roles == {"olivia": "owner", "eddie": "editor", "vera": "viewer"}


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        ({"name": "X", "slug": "Bad Slug"}, "slug must be", "slug"),
        ({"name": "X", "slug": "-x"}, "slug must be", "slug"),
        ({"name": "X", "slug": "new"}, "'new' is reserved", "slug"),
        ({"name": "X", "slug": "vision"}, "a project with slug 'vision' already exists", "slug"),
        ({"name": "", "slug": "ok"}, "name: This field may not be blank.", "name"),
        ({"slug": "ok"}, "name: This field is required.", "name"),
        ({"name": "X" * 201, "slug": "ok"}, "name: Ensure this field has no more than 200", "name"),
        (["not", "an", "object"], "the request body must be a JSON object", None),
    ],
)
def test_project_create_errors_are_400_and_readable(
    world: Any, body: Any, error: str, field: str | None
) -> None:
    resp = call(logged_in(world.owner), "POST", "/api/v1/projects", body)
    assert resp.status_code == 400
    data = resp.json()
    assert data["error"].startswith(error), data
    assert data.get("field") == field


def test_project_creation_can_be_reserved_for_admins(world: Any, settings: Any) -> None:
    settings.TBHUB_ALLOW_PROJECT_CREATION = False
    body = {"name": "X", "slug": "x-proj"}
    resp = call(logged_in(world.owner), "POST", "/api/v1/projects", body)
    assert resp.status_code == 403
    assert call(logged_in(world.admin), "POST", "/api/v1/projects", body).status_code == 201


# ---- members --------------------------------------------------------------------------------


def test_members_lifecycle(world: Any) -> None:
    c = logged_in(world.owner)
    members = call(c, "GET", f"{P}/members").json()["members"]
    assert [(m["username"], m["role"]) for m in members] == [
        ("olivia", "owner"),
        ("eddie", "editor"),
        ("vera", "viewer"),
    ]
    resp = call(c, "POST", f"{P}/members", {"username": "otto", "role": "editor"})
    assert resp.status_code == 201
    assert resp.json()["username"] == "otto"
    assert resp.json()["role"] == "editor"
    assert resp.json()["added_by"] == "olivia"
    # Now otto sees the project.
    assert call(logged_in(world.outsider), "GET", P).status_code == 200
    resp = call(c, "PATCH", f"{P}/members/otto", {"role": "viewer"})
    assert resp.status_code == 200
    assert resp.json()["role"] == "viewer"
    assert call(c, "DELETE", f"{P}/members/otto").status_code == 204
    assert call(logged_in(world.outsider), "GET", P).status_code == 404
    assert call(c, "DELETE", f"{P}/members/otto").status_code == 404
    events = AuditEvent.objects.filter(project=world.project).order_by("id")
    assert [(e.action, e.target, e.actor_username) for e in events if e.target == "otto"] == [
        ("member.add", "otto", "olivia"),
        ("member.role", "otto", "olivia"),
        ("member.remove", "otto", "olivia"),
    ]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"username": "nobody", "role": "viewer"}, "there is no active user 'nobody'"),
        ({"username": "vera", "role": "viewer"}, "'vera' is already a member"),
        ({"username": "otto", "role": "god"}, 'role: "god" is not a valid choice.'),
        ({"username": "otto"}, "role: This field is required."),
    ],
)
def test_member_add_errors(world: Any, body: dict[str, str], error: str) -> None:
    resp = call(logged_in(world.owner), "POST", f"{P}/members", body)
    assert resp.status_code == 400
    assert resp.json()["error"].startswith(error)


def test_inactive_users_cannot_be_added(world: Any) -> None:
    factories.user(username="gone", active=False)
    resp = call(
        logged_in(world.owner), "POST", f"{P}/members", {"username": "gone", "role": "viewer"}
    )
    assert resp.status_code == 400


def test_last_owner_stays(world: Any) -> None:
    c = logged_in(world.owner)
    resp = call(c, "PATCH", f"{P}/members/olivia", {"role": "editor"})
    assert resp.status_code == 400
    assert "at least one owner" in resp.json()["error"]
    resp = call(c, "DELETE", f"{P}/members/olivia")
    assert resp.status_code == 400
    # With a second owner the first may step down, then leave.
    call(c, "PATCH", f"{P}/members/eddie", {"role": "owner"})
    assert call(c, "PATCH", f"{P}/members/olivia", {"role": "editor"}).status_code == 200
    assert call(c, "DELETE", f"{P}/members/olivia").status_code == 204
    assert call(c, "GET", P).status_code == 404


def test_any_member_may_leave(world: Any) -> None:
    c = logged_in(world.viewer)
    assert call(c, "DELETE", f"{P}/members/eddie").status_code == 403
    assert call(c, "DELETE", f"{P}/members/vera").status_code == 204
    assert call(c, "GET", P).status_code == 404


# ---- sources --------------------------------------------------------------------------------


def test_source_create_and_list(
    world: Any, roots: Any, queued_work: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    c = logged_in(world.editor)
    with django_capture_on_commit_callbacks(execute=True):
        resp = call(c, "POST", f"{P}/sources", {"url": f"{roots}/../logs/", "options": None})
    assert resp.status_code == 201
    src = resp.json()
    assert set(src) == {
        "id",
        "url",
        "options",
        "credentials_set",
        "status",
        "status_message",
        "last_listed_at",
        "created_at",
        "created_by",
        "runs",
    }
    assert src["url"] == str(roots)  # resolved
    assert (src["status"], src["credentials_set"], src["created_by"]) == ("pending", False, "eddie")
    assert ("list", src["id"]) in queued_work  # ingest starts at once
    listing = call(logged_in(world.viewer), "GET", f"{P}/sources").json()
    assert [s["id"] for s in listing["sources"]] == [src["id"]]
    resp = call(c, "POST", f"{P}/sources", {"url": str(roots)})
    assert resp.status_code == 400
    assert resp.json() == {"error": f"this project already reads {roots}", "field": "url"}


@pytest.mark.parametrize(
    ("body", "error", "field"),
    [
        ({"url": "file:///etc"}, "'file:' URLs are not accepted", "url"),
        ({"url": "memory://x"}, "'memory:' URLs are not accepted", "url"),
        ({"url": "/etc/passwd"}, "local path is outside", "url"),
        (
            {"url": "s3://bucket/x", "options": {"endpoint_url": "http://127.0.0.2:9000"}},
            "endpoint_url is not one of the endpoints",
            "options",
        ),
        ({"url": "s3://bucket/x", "options": {"foo": 1}}, "unknown option 'foo'", "options"),
        (
            {"url": "s3://bucket/x", "credentials": "key"},
            "credentials must be a JSON object",
            "credentials",
        ),
        ({}, "url: This field is required.", "url"),
    ],
)
def test_source_create_errors(world: Any, roots: Any, body: Any, error: str, field: str) -> None:
    resp = call(logged_in(world.editor), "POST", f"{P}/sources", body)
    assert resp.status_code == 400
    assert resp.json()["error"].startswith(error), resp.json()
    assert resp.json()["field"] == field
    assert not Source.objects.exists()


def test_source_update(world: Any) -> None:
    src = factories.source(
        project=world.project, url="s3://bucket-x/logs", credentials={"key": "a", "secret": "b"}
    )
    c = logged_in(world.editor)
    path = f"{P}/sources/{src.pk}"
    resp = call(c, "PATCH", path, {"options": {"region": "eu-west-1"}})
    assert resp.status_code == 200
    assert resp.json()["options"] == {"region": "eu-west-1"}
    assert resp.json()["credentials_set"] is True  # kept when omitted
    assert resp.json()["status"] == "pending"
    resp = call(c, "PATCH", path, {"credentials": {}})
    assert resp.json()["credentials_set"] is False
    resp = call(c, "PATCH", path, {"url": "s3://elsewhere/x"})
    assert resp.status_code == 400
    assert "cannot be changed" in resp.json()["error"]
    assert call(c, "DELETE", path).status_code == 403  # editors add and edit, owners delete
    assert call(logged_in(world.owner), "DELETE", path).status_code == 204
    assert not Source.objects.filter(pk=src.pk).exists()


# ---- runs -----------------------------------------------------------------------------------


def test_hide_unhide_and_notes(world: Any) -> None:
    src = factories.source(project=world.project)
    run = factories.run(source=src, name="exp/seed1")
    factories.event_file(run=run, size=1000, offset=400)
    factories.scalars(run=run)
    c = logged_in(world.editor)
    before = call(c, "GET", f"{P}/runs").json()["runs"][0]
    assert before["hidden"] is False
    resp = call(c, "PATCH", f"{P}/runs/{run.pk}", {"hidden": True, "note": "diverged"})
    assert resp.status_code == 200
    body = resp.json()
    assert (body["hidden"], body["note"], body["lag_bytes"], body["files"]) == (
        True,
        "diverged",
        600,
        1,
    )
    # The cached data listing reflects it at once.
    after = call(c, "GET", f"{P}/runs").json()["runs"][0]
    assert (after["hidden"], after["note"]) == (True, "diverged")
    assert call(c, "PATCH", f"{P}/runs/{run.pk}", {"hidden": False}).json()["hidden"] is False
    assert call(c, "PATCH", f"{P}/runs/{run.pk}", {"hidden": "maybe"}).status_code == 400
    assert call(c, "PATCH", f"{P}/runs/{run.pk}", {"note": "x" * 10_001}).status_code == 400
    assert call(c, "PATCH", f"{P}/runs/999999", {"hidden": True}).status_code == 404
    actions = [e.action for e in AuditEvent.objects.filter(project=world.project).order_by("id")]
    assert actions[-3:] == ["run.hide", "run.note", "run.unhide"]
    Run.objects.filter(pk=run.pk).update(hidden=True)
    status = call(c, "GET", f"{P}/runs/status?hidden=false").json()["runs"]
    assert status == []


def test_run_status_search_and_sort(world: Any) -> None:
    src = factories.source(project=world.project)
    for name, step in (("lr_0.1/seed1", 5), ("lr_0.1/seed2", 9), ("lr_0.01/seed1", 7)):
        factories.run(source=src, name=name, last_step=step)
    c = logged_in(world.viewer)

    def names(query: str) -> list[str]:
        resp = call(c, "GET", f"{P}/runs/status?{query}")
        assert resp.status_code == 200, resp.content
        return [r["name"] for r in resp.json()["runs"]]

    assert names("regex=seed1") == ["lr_0.01/seed1", "lr_0.1/seed1"]
    assert names("regex=^LR_0%5C.1/") == ["lr_0.1/seed1", "lr_0.1/seed2"]  # case-insensitive
    assert names("sort=step&order=desc") == ["lr_0.1/seed2", "lr_0.01/seed1", "lr_0.1/seed1"]
    resp = call(c, "GET", f"{P}/runs/status?regex=(")
    assert resp.status_code == 400
    assert resp.json()["error"].startswith("invalid regular expression")


# ---- tokens and audit -------------------------------------------------------------------------


def test_token_lifecycle(world: Any) -> None:
    c = logged_in(world.viewer)
    created = call(c, "POST", "/api/v1/tokens", {"name": "nightly", "expires_days": 7})
    assert created.status_code == 201
    raw, tid = created.json()["token"], created.json()["id"]
    anon = Client()
    assert call(anon, "GET", P, token=raw).status_code == 200
    tokens = call(c, "GET", "/api/v1/tokens").json()["tokens"]
    assert [(t["name"], t["status"], t["read_only"]) for t in tokens] == [
        ("nightly", "active", False)
    ]
    assert tokens[0]["expires_at"] is not None
    assert call(c, "DELETE", f"/api/v1/tokens/{tid}").status_code == 204
    assert call(anon, "GET", P, token=raw).status_code == 401
    assert call(c, "GET", "/api/v1/tokens").json()["tokens"][0]["status"] == "revoked"
    assert call(c, "POST", "/api/v1/tokens", {"expires_days": 0}).status_code == 400
    # Admins list and revoke anyone's.
    t2 = call(c, "POST", "/api/v1/tokens", {"name": "second"}).json()
    admin = logged_in(world.admin)
    everyone = call(admin, "GET", "/api/v1/tokens?all=true").json()["tokens"]
    assert {t["user"] for t in everyone} >= {"vera"}
    assert call(admin, "DELETE", f"/api/v1/tokens/{t2['id']}").status_code == 204
    assert call(anon, "GET", P, token=t2["token"]).status_code == 401
    events = AuditEvent.objects.filter(action__startswith="token.").order_by("id")
    assert [(e.action, e.actor_username) for e in events] == [
        ("token.create", "vera"),
        ("token.revoke", "vera"),
        ("token.create", "vera"),
        ("token.revoke", "ada"),
    ]


def test_bad_authorization_headers(world: Any) -> None:
    anon = Client()
    for header in ("Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer tbh_nope"):
        resp = anon.get(P, headers={"Authorization": header})
        assert resp.status_code == 401, header
        assert resp.json()["error"]
    # A bad token is a 401 even next to a valid session.
    resp = call(logged_in(world.owner), "GET", P, token="tbh_" + "x" * 43)
    assert resp.status_code == 401


def test_inactive_users_tokens_stop_working(world: Any) -> None:
    _, raw = factories.token(user=world.viewer)
    world.viewer.is_active = False
    world.viewer.save()
    assert call(Client(), "GET", P, token=raw).status_code == 401


def test_project_audit_log(world: Any) -> None:
    c = logged_in(world.owner)
    call(c, "POST", f"{P}/members", {"username": "otto", "role": "viewer"})
    call(c, "PATCH", f"{P}/members/otto", {"role": "editor"})
    call(
        logged_in(world.other_owner),
        "POST",
        "/api/v1/projects/secret/members",
        {"username": "otto", "role": "viewer"},
    )
    page = call(c, "GET", f"{P}/audit?limit=1").json()
    assert len(page["events"]) == 1
    first = page["events"][0]
    assert (first["action"], first["actor"], first["target"], first["project"], first["via"]) == (
        "member.role",
        "olivia",
        "otto",
        "vision",
        "session",
    )
    rest = call(c, "GET", f"{P}/audit?before={page['next_before']}").json()["events"]
    assert [e["action"] for e in rest] == ["member.add"]
    assert all(e["project"] == "vision" for e in rest)
    every = call(logged_in(world.admin), "GET", "/api/v1/audit").json()["events"]
    assert {e["project"] for e in every} == {"vision", "secret"}
    assert call(c, "GET", f"{P}/audit?limit=abc").status_code == 400


# ---- errors, paths, schema ----------------------------------------------------------------------


def test_api_errors_are_json_and_never_redirect(world: Any) -> None:
    c = logged_in(world.owner)
    for path in (
        "/api/v1/nope",
        "/api/v1/projects/",
        "/api/v1/projects/vision/",
        "/api/v1/projects/vision/members/",
        "/api/v1",
        "/api/v1/projects/vision/sources/x",
    ):
        resp = c.get(path)
        assert resp.status_code == 404, path
        assert resp.json() == {"error": "not found"}, path
    resp = call(c, "PUT", "/api/v1/projects")
    assert resp.status_code == 405
    assert "not allowed" in resp.json()["error"]
    resp = c.post("/api/v1/projects", "{not json", content_type="application/json")
    assert resp.status_code == 400
    assert resp.json()["error"].startswith("the request body is not valid JSON")
    resp = c.post("/api/v1/projects", {"name": "a", "slug": "b"})  # a form, not JSON
    assert resp.status_code == 400
    assert "must be JSON" in resp.json()["error"]
    assert Client().get("/api/v1/nope").status_code == 401  # no route map for strangers


def test_me(world: Any) -> None:
    body = call(logged_in(world.admin), "GET", "/api/v1/me").json()
    assert body == {
        "username": "ada",
        "is_admin": True,
        "auth": "session",
        "mode": "team",
        "token": None,
    }


def test_schema_and_docs(world: Any) -> None:
    c = logged_in(world.viewer)
    resp = c.get("/api/v1/schema", headers={"Accept": "application/json"})
    assert resp.status_code == 200
    schema = resp.json()
    paths = schema["paths"]
    for path in (
        "/api/v1/projects",
        "/api/v1/projects/{slug}",
        "/api/v1/projects/{slug}/members",
        "/api/v1/projects/{slug}/members/{username}",
        "/api/v1/projects/{slug}/sources",
        "/api/v1/projects/{slug}/sources/{source_id}",
        "/api/v1/projects/{slug}/sources/{source_id}/test",
        "/api/v1/projects/{slug}/runs",
        "/api/v1/projects/{slug}/scalars",
        "/api/v1/projects/{slug}/images/{image_id}",
        "/api/v1/projects/{slug}/scalars/download",
        "/api/v1/tokens",
        # Comparisons (issue #5): the owner's and a share link's copies of the data endpoints.
        "/api/v1/comparisons",
        "/api/v1/comparisons/{key}/links",
        "/api/v1/shared/{token}",
        "/api/v1/shared/{token}/scalars",
        "/api/v1/shared/{token}/scalars/batch",
        "/api/v1/shared/{token}/images/{image_id}",
        "/api/v1/shared/{token}/graphs/info",
        "/api/v1/shared/{token}/hparams",
        "/api/v1/comparisons/{key}/histograms",
        "/api/v1/comparisons/{key}/text",
    ):
        assert path in paths, path
    shared = paths["/api/v1/shared/{token}/scalars"]["get"]
    assert shared["operationId"] == "shared_data_scalars"
    assert [p["name"] for p in shared["parameters"]][:3] == ["token", "run", "run_id"]
    assert {} in shared["security"]  # a public link needs no credentials
    owner = paths["/api/v1/comparisons/{key}/scalars"]["get"]
    assert {} not in owner["security"]
    # Same payload schema as the project endpoint.
    project = paths["/api/v1/projects/{slug}/scalars"]["get"]
    assert shared["responses"]["200"] == project["responses"]["200"]
    assert set(paths["/api/v1/projects"]) >= {"get", "post"}
    assert "bearerAuth" in schema["components"]["securitySchemes"]
    docs = c.get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "//cdn" not in html
    assert "unpkg" not in html
    assert "jsdelivr" not in html
    asset = c.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert c.get("/static/hub/hub.css").status_code == 200
    assert c.get("/static/../settings.py").status_code == 404
    anon = Client().get("/api/v1/docs")
    assert anon.status_code == 302
    assert anon["Location"].startswith("/accounts/login/")
    assert Client().get("/api/v1/schema").status_code == 401
