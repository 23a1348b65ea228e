"""IDOR attempts (ids of another project through a project one may use) and CSRF on every
session-authenticated write."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from hub.models import AccessToken, Membership
from ingest.models import Run, Source
from tests import factories
from tests.hub.conftest import call, logged_in


@pytest.fixture
def two(world: Any, roots: Any) -> dict[str, Any]:
    """The owner's project `vision` and the other project `secret` with its own data."""
    mine = factories.source(project=world.project, url=str(roots))
    my_run = factories.run(source=mine, name="run-a")
    factories.scalars(run=my_run, tag="loss")
    theirs = factories.source(
        project=world.other,
        url="s3://their-bucket/logs",
        credentials={"key": "AKIATHEIRS", "secret": "their-secret"},
    )
    their_run = factories.run(source=theirs, name="run-a")  # same name on purpose
    factories.scalars(run=their_run, tag="loss", values=[9.0, 9.0, 9.0])
    their_img = factories.image(run=their_run)
    their_token, _ = factories.token(user=world.other_owner)
    return {
        "mine": mine,
        "my_run": my_run,
        "theirs": theirs,
        "their_run": their_run,
        "their_img": their_img,
        "their_token": their_token,
    }


P = "/api/v1/projects/vision"


def test_ids_of_another_project_are_not_found(world: Any, two: dict[str, Any]) -> None:
    c = logged_in(world.owner)
    src, run, img = two["theirs"].pk, two["their_run"].pk, two["their_img"].pk
    attempts = [
        ("GET", f"{P}/sources/{src}", None),
        ("PATCH", f"{P}/sources/{src}", {"options": {"region": "eu-west-1"}}),
        ("DELETE", f"{P}/sources/{src}", None),
        ("POST", f"{P}/sources/{src}/test", None),
        ("POST", f"{P}/sources/{src}/refresh", None),
        ("GET", f"{P}/runs/{run}", None),
        ("PATCH", f"{P}/runs/{run}", {"hidden": True}),
        ("GET", f"{P}/scalars?run_id={run}&tag=loss", None),
        ("GET", f"{P}/histograms?run_id={run}&tag=loss", None),
        ("GET", f"{P}/images/{img}", None),
        ("GET", f"{P}/scalars/download?run_id={run}", None),
        ("DELETE", f"{P}/members/zed", None),
        ("PATCH", f"{P}/members/zed", {"role": "viewer"}),
        ("DELETE", f"/api/v1/tokens/{two['their_token'].pk}", None),
    ]
    for method, path, body in attempts:
        resp = call(c, method, path, body)
        assert resp.status_code == 404, (method, path, resp.status_code, resp.content)
        assert resp.json()["error"]
    # Nothing of theirs changed.
    assert Source.objects.filter(pk=src).exists()
    assert not Run.objects.get(pk=run).hidden
    assert Membership.objects.filter(project=world.other, user=world.other_owner).exists()
    assert AccessToken.objects.get(pk=two["their_token"].pk).revoked_at is None
    # Pages too.
    assert c.post(f"/projects/vision/runs/{run}/", {"op": "hide"}).status_code == 404
    assert c.post(f"/projects/vision/sources/{src}/", {"op": "delete"}).status_code == 404


def test_run_names_resolve_within_the_project_only(world: Any, two: dict[str, Any]) -> None:
    c = logged_in(world.owner)
    body = call(c, "GET", f"{P}/scalars?run=run-a&tag=loss").json()
    assert [p[2] for p in body["points"]] != [9.0, 9.0, 9.0]
    batch = call(c, "GET", f"{P}/scalars/batch?tag=loss&run_id={two['their_run'].pk}").json()
    assert batch["runs"] == {}
    assert batch["missing"] == [two["their_run"].pk]


def test_non_member_gets_the_same_answer_as_for_a_missing_project(world: Any) -> None:
    c = logged_in(world.outsider)
    for path in ("/api/v1/projects/vision", "/api/v1/projects/does-not-exist"):
        resp = call(c, "GET", path)
        assert resp.status_code == 404
        assert resp.json() == {"error": "not found"}
    assert c.get("/projects/vision/").status_code == 404
    assert c.get("/projects/does-not-exist/").status_code == 404


# ---- CSRF -------------------------------------------------------------------------------------


def _csrf(client: Client) -> str:
    client.get("/projects/")
    return str(client.cookies["csrftoken"].value)


API_WRITES = [
    ("POST", "/api/v1/projects", {"name": "N", "slug": "csrf-new"}, 201),
    ("PATCH", P, {"description": "d"}, 200),
    ("POST", f"{P}/members", {"username": "otto", "role": "viewer"}, 201),
    ("PATCH", f"{P}/members/vera", {"role": "editor"}, 200),
    ("DELETE", f"{P}/members/vera", None, 204),
    ("POST", f"{P}/sources", {"url": "s3://csrf-bucket/x"}, 201),
    ("PATCH", f"{P}/sources/{{src}}", {"options": {}}, 200),
    ("POST", f"{P}/sources/{{src}}/test", None, 200),
    ("POST", f"{P}/sources/{{src}}/refresh", None, 202),
    ("DELETE", f"{P}/sources/{{src}}", None, 204),
    ("PATCH", f"{P}/runs/{{run}}", {"hidden": True}, 200),
    ("PUT", f"{P}/prefs", {}, 200),
    ("POST", "/api/v1/tokens", {"name": "x"}, 201),
    ("DELETE", "/api/v1/tokens/{tok}", None, 204),
    ("DELETE", P, None, 204),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "ok"), API_WRITES, ids=[f"{m} {p}" for m, p, _, _ in API_WRITES]
)
def test_api_writes_with_a_session_need_the_csrf_token(
    world: Any, two: dict[str, Any], method: str, path: str, body: Any, ok: int
) -> None:
    tok, _ = factories.token(user=world.owner)
    path = path.format(src=two["mine"].pk, run=two["my_run"].pk, tok=tok.pk)
    client = logged_in(world.owner, csrf=True)
    resp = call(client, method, path, body)
    assert resp.status_code == 403, resp.content
    assert "CSRF" in resp.json()["error"]
    token = _csrf(client)
    resp = call(client, method, path, body, headers={"X-CSRFToken": token})
    assert resp.status_code == ok, resp.content


def test_token_requests_need_no_csrf_token(world: Any) -> None:
    _, raw = factories.token(user=world.owner)
    client = Client(enforce_csrf_checks=True)
    resp = call(client, "POST", "/api/v1/projects", {"name": "T", "slug": "by-token"}, token=raw)
    assert resp.status_code == 201, resp.content


PAGE_WRITES = [
    ("/projects/new/", {"name": "N", "slug": "page-new"}),
    ("/projects/vision/runs/{run}/", {"op": "hide"}),
    ("/projects/vision/runs/{run}/", {"op": "note", "note": "x"}),
    ("/projects/vision/members/", {"op": "add", "username": "otto", "role": "viewer"}),
    ("/projects/vision/members/", {"op": "role", "username": "vera", "role": "editor"}),
    ("/projects/vision/members/", {"op": "remove", "username": "vera"}),
    ("/projects/vision/sources/", {"url": "s3://page-bucket/x"}),
    ("/projects/vision/sources/{src}/", {"op": "test"}),
    ("/projects/vision/sources/{src}/", {"op": "refresh"}),
    ("/projects/vision/sources/{src}/", {"op": "delete"}),
    ("/projects/vision/settings/", {"name": "Renamed", "description": ""}),
    ("/projects/vision/settings/", {"op": "delete", "confirm_slug": "vision"}),
    ("/tokens/", {"op": "create", "name": "x"}),
    ("/tokens/", {"op": "revoke", "id": "{tok}"}),
    (
        "/accounts/password/",
        {
            "old_password": "pw-for-tests-1",
            "new_password1": "Zq8!long-pass",
            "new_password2": "Zq8!long-pass",
        },
    ),
    ("/accounts/logout/", {}),
]


@pytest.mark.parametrize(
    ("path", "form"), PAGE_WRITES, ids=[p + str(sorted(f)) for p, f in PAGE_WRITES]
)
def test_page_forms_need_the_csrf_token(
    world: Any, two: dict[str, Any], path: str, form: dict[str, str]
) -> None:
    tok, _ = factories.token(user=world.owner)
    fmt = {"src": two["mine"].pk, "run": two["my_run"].pk, "tok": tok.pk}
    path = path.format(**fmt)
    form = {k: v.format(**fmt) for k, v in form.items()}
    client = logged_in(world.owner, csrf=True)
    resp = client.post(path, form)
    assert resp.status_code == 403
    assert b"expired or came from another site" in resp.content
    token = _csrf(client)
    resp = client.post(path, {**form, "csrfmiddlewaretoken": token})
    assert resp.status_code in (200, 302), resp.content[:300]
