"""`/api/v1/comparisons/…`: the owner's (or an admin's) credentials only; create, read, rename,
replace runs and state, duplicate, delete; links: create per kind, list, revoke; CSRF on session
writes; read-only tokens never write."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from hub import comparisons
from hub.models import AuditEvent, Comparison, ComparisonRun, ShareKind, ShareLink
from tests import factories
from tests.comparisons.conftest import World, call, logged_in

pytestmark = pytest.mark.django_db


def body(resp: Any) -> Any:
    return json.loads(resp.content)


def test_create_read_list(world: World) -> None:
    c = logged_in(world.owner)
    resp = call(
        c,
        "POST",
        "/api/v1/comparisons",
        {
            "title": "  Two teams ",
            "runs": [world.b_base.pk, {"id": world.a_base.pk, "alias": "alpha's"}],
            "state": {"smoothing": 0.9, "x_axis": "wall", "unknown": 1, "panel": "images"},
        },
    )
    assert resp.status_code == 201, resp.content
    data = body(resp)
    assert set(data) >= {"id", "url", "title", "state", "runs", "created_at", "updated_at"}
    assert data["title"] == "Two teams"
    assert data["url"] == f"http://testserver/c/{data['id']}"
    assert len(data["id"]) == 10 and data["id"].isalnum()
    assert data["state"] == {"smoothing": 0.9, "x_axis": "wall", "panel": "images"}
    assert [(r["id"], r["alias"], r["display_name"]) for r in data["runs"]] == [
        (world.b_base.pk, "", "baseline"),  # the other "baseline" has an alias
        (world.a_base.pk, "alpha's", "alpha's"),
    ]
    assert body(call(c, "GET", f"/api/v1/comparisons/{data['id']}")) == data
    listed = body(call(c, "GET", "/api/v1/comparisons"))["comparisons"]
    assert {x["id"] for x in listed} == {data["id"], world.key}
    assert next(x for x in listed if x["id"] == data["id"])["run_count"] == 2
    # Another user's list holds none of them.
    assert body(call(logged_in(world.member_all), "GET", "/api/v1/comparisons")) == {
        "comparisons": []
    }


@pytest.mark.parametrize(
    ("runs", "field"),
    [
        ([], "runs"),
        ("1,2", "runs"),
        ([True], "runs"),
        ([0], "runs"),
        (["1"], "runs"),
    ],
)
def test_create_validates(world: World, runs: Any, field: str) -> None:
    resp = call(logged_in(world.owner), "POST", "/api/v1/comparisons", {"title": "x", "runs": runs})
    assert resp.status_code == 400
    assert body(resp)["field"] == field


def test_create_rejects_bad_state_and_title(world: World) -> None:
    c = logged_in(world.owner)
    resp = call(
        c,
        "POST",
        "/api/v1/comparisons",
        {"title": "x", "runs": [world.a_base.pk], "state": {"smoothing": 5}},
    )
    assert resp.status_code == 400 and body(resp)["field"] == "state"
    resp = call(c, "POST", "/api/v1/comparisons", {"title": " ", "runs": [world.a_base.pk]})
    assert resp.status_code == 400 and body(resp)["field"] == "title"
    resp = call(
        c, "POST", "/api/v1/comparisons", {"title": "x", "runs": [world.a_base.pk, world.a_base.pk]}
    )
    assert resp.status_code == 400


def test_create_needs_read_access_to_every_run(world: World) -> None:
    c = logged_in(world.owner)
    before = Comparison.objects.count()
    for rid in (world.g_run.pk, 10**9):
        resp = call(
            c, "POST", "/api/v1/comparisons", {"title": "x", "runs": [world.a_base.pk, rid]}
        )
        assert resp.status_code == 404
        # The same answer for a run that exists elsewhere and one that does not exist.
        assert body(resp) == {"error": f"no such run: {rid}"}
    # member_one reads alpha only.
    resp = call(
        logged_in(world.member_one),
        "POST",
        "/api/v1/comparisons",
        {"title": "x", "runs": [world.b_base.pk]},
    )
    assert resp.status_code == 404
    assert Comparison.objects.count() == before
    # Admins read everything.
    resp = call(
        logged_in(world.admin),
        "POST",
        "/api/v1/comparisons",
        {"title": "x", "runs": [world.g_run.pk]},
    )
    assert resp.status_code == 201


def test_patch_rename_runs_state(world: World) -> None:
    c = logged_in(world.owner)
    path = f"/api/v1/comparisons/{world.key}"
    resp = call(c, "PATCH", path, {"title": "Renamed"})
    assert resp.status_code == 200 and body(resp)["title"] == "Renamed"
    resp = call(c, "PATCH", path, {"state": {"log_scale": True}})
    assert body(resp)["state"] == {"log_scale": True}  # replaced, not merged
    resp = call(
        c, "PATCH", path, {"runs": [world.a_lr.pk, {"id": world.b_lr.pk, "alias": "beta lr"}]}
    )
    assert resp.status_code == 200
    assert [(r["id"], r["display_name"]) for r in body(resp)["runs"]] == [
        (world.a_lr.pk, "lr-0.1"),
        (world.b_lr.pk, "beta lr"),
    ]
    resp = call(c, "PATCH", path, {"runs": [world.g_run.pk]})
    assert resp.status_code == 404
    assert ComparisonRun.objects.filter(comparison=world.comparison).count() == 2


def test_patch_keeps_runs_the_owner_cannot_read_any_more(world: World) -> None:
    from hub.models import Membership

    Membership.objects.filter(user=world.owner, project=world.beta).delete()
    c = logged_in(world.owner)
    resp = call(
        c, "PATCH", f"/api/v1/comparisons/{world.key}", {"runs": [world.b_base.pk, world.a_base.pk]}
    )
    assert resp.status_code == 200
    runs = body(resp)["runs"]
    assert [(r["id"], r["available"]) for r in runs] == [
        (world.b_base.pk, False),
        (world.a_base.pk, True),
    ]


def test_duplicate_and_delete(world: World) -> None:
    c = logged_in(world.owner)
    token = world.link()
    resp = call(c, "POST", f"/api/v1/comparisons/{world.key}/duplicate")
    assert resp.status_code == 201
    copy = body(resp)
    assert copy["id"] != world.key and copy["title"] == "Copy of Baselines across teams"
    assert copy["runs"] == body(call(c, "GET", f"/api/v1/comparisons/{world.key}"))["runs"]
    assert copy["state"]["smoothing"] == 0.3
    assert body(call(c, "GET", f"/api/v1/comparisons/{copy['id']}/links")) == {"links": []}
    resp = call(c, "POST", f"/api/v1/comparisons/{world.key}/duplicate", {"title": "Mine"})
    assert body(resp)["title"] == "Mine"
    assert call(c, "DELETE", f"/api/v1/comparisons/{world.key}").status_code == 204
    assert call(c, "GET", f"/api/v1/comparisons/{world.key}").status_code == 404
    assert Client().get(f"/api/v1/shared/{token}").status_code == 404
    assert not ShareLink.objects.filter(comparison_id=world.comparison.pk).exists()  # type: ignore[union-attr]
    assert call(c, "GET", f"/api/v1/comparisons/{copy['id']}").status_code == 200


def _owner_paths(world: World, token: str) -> list[tuple[str, str, Any]]:
    k = world.key
    return [
        ("GET", f"/api/v1/comparisons/{k}", None),
        ("PATCH", f"/api/v1/comparisons/{k}", {"title": "pwned"}),
        ("DELETE", f"/api/v1/comparisons/{k}", None),
        ("POST", f"/api/v1/comparisons/{k}/duplicate", None),
        ("GET", f"/api/v1/comparisons/{k}/links", None),
        ("POST", f"/api/v1/comparisons/{k}/links", {"public": True}),
        ("DELETE", f"/api/v1/comparisons/{k}/links/{token}", None),
        ("GET", f"/api/v1/comparisons/{k}/scalars?run_id={world.a_base.pk}&tag=loss", None),
        ("GET", f"/api/v1/comparisons/{k}/scalars/batch?run_ids={world.a_base.pk}&tag=loss", None),
        ("GET", f"/api/v1/comparisons/{k}/images/{world.images['a_base']}", None),
        ("GET", f"/api/v1/comparisons/{k}/graphs/info", None),
    ]


@pytest.mark.parametrize("who", ["outsider", "member_one", "member_all", "named"])
def test_comparisons_api_is_404_for_everyone_but_the_owner(world: World, who: str) -> None:
    token = world.link()
    c = logged_in(getattr(world, who))
    for method, path, data in _owner_paths(world, token):
        resp = call(c, method, path, data)
        assert resp.status_code == 404, (who, method, path, resp.status_code)
        assert body(resp)["error"]
    # Nothing changed.
    world.comparison.refresh_from_db()  # type: ignore[union-attr]
    assert world.comparison.title == "Baselines across teams"  # type: ignore[union-attr]
    assert Client().get(f"/api/v1/shared/{token}").status_code == 200
    assert ShareLink.objects.filter(comparison=world.comparison).count() == 1


def test_comparisons_api_needs_credentials(world: World) -> None:
    token = world.link()
    for method, path, data in _owner_paths(world, token):
        assert call(Client(), method, path, data).status_code == 401, path


def test_admin_may_act_on_any_comparison(world: World) -> None:
    token = world.link()
    c = logged_in(world.admin)
    for method, path, data in _owner_paths(world, token):
        if method == "DELETE" and path.endswith(world.key):
            continue
        resp = call(c, method, path, data)
        assert resp.status_code in (200, 201, 204), (method, path, resp.content)


def test_links_create_list_revoke(world: World) -> None:
    c = logged_in(world.owner)
    path = f"/api/v1/comparisons/{world.key}/links"
    public = call(c, "POST", path, {"public": True})
    assert public.status_code == 201
    pb = body(public)
    assert len(pb["token"]) == 32 and pb["url"] == f"http://testserver/s/{pb['token']}"
    assert pb["kind"] == "public" and pb["expires_at"] is None and pb["created_by"] == "olga"
    members = body(call(c, "POST", path, {"members": True, "expires_in_days": 7}))
    assert members["kind"] == "members" and members["expires_at"] is not None
    users = body(call(c, "POST", path, {"users": ["nina", "mara"]}))
    assert users["kind"] == "users" and users["users"] == ["mara", "nina"]
    for bad in (
        {},
        {"public": False},
        {"public": True, "members": True},
        {"users": []},
        {"users": ["ghost"]},
        {"public": True, "expires_in_days": 0},
        {"public": True, "expires_in_days": "7"},
    ):
        assert call(c, "POST", path, bad).status_code == 400, bad
    Client().get(f"/api/v1/shared/{pb['token']}")
    listed = body(call(c, "GET", path))["links"]
    assert [x["kind"] for x in listed] == ["users", "members", "public"]
    assert {x["token"] for x in listed} == {pb["token"], members["token"], users["token"]}
    pub = next(x for x in listed if x["kind"] == "public")
    assert (
        pub["last_used_at"] is not None and pub["status"] == "active" and pub["revoked_at"] is None
    )
    assert call(c, "DELETE", f"{path}/{members['token']}").status_code == 204
    revoked = next(x for x in body(call(c, "GET", path))["links"] if x["kind"] == "members")
    assert revoked["status"] == "revoked" and revoked["revoked_at"] is not None
    # Unknown, malformed, or another comparison's token: 404.
    other = body(call(c, "POST", "/api/v1/comparisons", {"title": "o", "runs": [world.a_out.pk]}))
    other_link = body(call(c, "POST", f"/api/v1/comparisons/{other['id']}/links", {"public": True}))
    for tok in ("x", "A" * 32, other_link["token"]):
        assert call(c, "DELETE", f"{path}/{tok}").status_code == 404
    assert Client().get(f"/api/v1/shared/{other_link['token']}").status_code == 200


def test_tokens_are_stored_hashed_and_encrypted(world: World) -> None:
    token = world.link()
    link = ShareLink.objects.get(comparison=world.comparison)
    assert token not in link.token_hash
    assert token.encode() not in bytes(link.token_encrypted)
    import hashlib

    assert link.token_hash == hashlib.sha256(token.encode()).hexdigest()


def test_share_links_are_in_the_source_projects_audit_logs(world: World) -> None:
    c = logged_in(world.owner)
    token = body(call(c, "POST", f"/api/v1/comparisons/{world.key}/links", {"public": True}))[
        "token"
    ]
    call(c, "DELETE", f"/api/v1/comparisons/{world.key}/links/{token}")
    events = AuditEvent.objects.filter(action__startswith="share.").order_by("id")
    assert [(e.action, e.project_slug) for e in events] == [
        ("share.create", "alpha"),
        ("share.create", "beta"),
        ("share.revoke", "alpha"),
        ("share.revoke", "beta"),
    ]
    assert events[0].details["runs"] == ["baseline", "lr-0.1"]
    assert events[1].details["runs"] == ["baseline"]
    assert token not in json.dumps([e.details for e in events])
    assert not AuditEvent.objects.filter(project=world.gamma).exists()


def test_session_writes_need_csrf(world: World) -> None:
    c = Client(enforce_csrf_checks=True)
    c.force_login(world.owner)
    c.get("/comparisons/")  # sets the csrftoken cookie
    csrf = c.cookies["csrftoken"].value
    writes = [
        ("POST", "/api/v1/comparisons", {"title": "x", "runs": [world.a_base.pk]}),
        ("PATCH", f"/api/v1/comparisons/{world.key}", {"title": "x"}),
        ("POST", f"/api/v1/comparisons/{world.key}/duplicate", None),
        ("POST", f"/api/v1/comparisons/{world.key}/links", {"public": True}),
        ("DELETE", f"/api/v1/comparisons/{world.key}/links/{world.link()}", None),
        ("DELETE", f"/api/v1/comparisons/{world.key}", None),
    ]
    for method, path, data in writes:
        assert call(c, method, path, data).status_code == 403, path
    assert (
        Comparison.objects.count() == 1
        and not ShareLink.objects.filter(revoked_at__isnull=False).exists()
    )
    for method, path, data in writes:
        resp = call(c, method, path, data, headers={"X-CSRFToken": csrf})
        assert resp.status_code in (200, 201, 204), (path, resp.content)
    # Page forms too.
    for path, data in (
        ("/comparisons/", {"op": "delete", "key": "x"}),
        ("/comparisons/new/", {"op": "save", "title": "x", "run": str(world.a_base.pk)}),
    ):
        assert c.post(path, data).status_code == 403


def test_read_only_tokens_never_write(world: World) -> None:
    _, ro = factories.token(user=world.owner, read_only=True)
    _, rw = factories.token(user=world.owner)
    anon = Client()
    assert call(anon, "GET", f"/api/v1/comparisons/{world.key}", token=ro).status_code == 200
    assert (
        call(
            anon, "POST", f"/api/v1/comparisons/{world.key}/links", {"public": True}, token=ro
        ).status_code
        == 403
    )
    assert (
        call(
            anon, "PATCH", f"/api/v1/comparisons/{world.key}", {"title": "x"}, token=ro
        ).status_code
        == 403
    )
    assert (
        call(
            anon, "POST", f"/api/v1/comparisons/{world.key}/links", {"public": True}, token=rw
        ).status_code
        == 201
    )


def test_owner_data_endpoints_match_the_shared_ones(world: World, public: str) -> None:
    c = logged_in(world.owner)
    for name in ("scalars", "histograms", "text", "graphs"):
        params = {
            "run_id": world.b_base.pk,
            "tag": {"scalars": "loss", "histograms": "weights", "text": "notes"}.get(name, ""),
        }
        a = c.get(f"/api/v1/comparisons/{world.key}/{name}", params)
        b = Client().get(f"/api/v1/shared/{public}/{name}", params)
        assert a.status_code == b.status_code == 200
        assert a.content == b.content
    assert (
        c.get(
            f"/api/v1/comparisons/{world.key}/scalars", {"run_id": world.a_out.pk, "tag": "loss"}
        ).status_code
        == 404
    )


def test_list_counts_runs_and_active_links(world: World) -> None:
    c = logged_in(world.owner)
    one = world.link()
    world.link(ShareKind.MEMBERS)
    expired = world.link(days=1)
    ShareLink.objects.filter(token_hash=comparisons.token_hash(expired)).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    call(c, "DELETE", f"/api/v1/comparisons/{world.key}/links/{one}")
    (item,) = body(call(c, "GET", "/api/v1/comparisons"))["comparisons"]
    assert item["run_count"] == 3 and item["active_links"] == 1
    assert body(call(c, "GET", f"/api/v1/comparisons/{world.key}"))["active_links"] == 1


def test_state_may_open_the_hparams_panel(world: World) -> None:
    c = logged_in(world.owner)
    resp = call(
        c,
        "POST",
        "/api/v1/comparisons",
        {"title": "sweep", "runs": [world.a_base.pk], "state": {"panel": "hparams"}},
    )
    assert resp.status_code == 201, resp.content
    key = body(resp)["id"]
    resp = call(c, "PATCH", f"/api/v1/comparisons/{key}", {"state": {"hp_view": "parallel"}})
    assert resp.status_code == 200, resp.content
    assert body(resp)["state"] == {"hp_view": "parallel"}
