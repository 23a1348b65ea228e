"""Comparison pages: the list (rename, duplicate, delete), picking runs across projects, the
owner's sharing page, and the dashboards at `/c/{id}` and `/s/{token}` in comparison mode."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client

from hub import comparisons
from hub.models import Comparison, ShareKind, ShareLink
from ingest.models import Run
from tests.comparisons.conftest import World, logged_in

pytestmark = pytest.mark.django_db


def config(resp: Any) -> Any:
    m = re.search(
        rb'<script id="tbhub-config" type="application/json">(.*?)</script>', resp.content, re.S
    )
    assert m, resp.content[:500]
    return json.loads(m.group(1))


def test_list_page_and_actions(world: World) -> None:
    c = logged_in(world.owner)
    page = c.get("/comparisons/")
    assert page.status_code == 200
    assert world.key.encode() in page.content and b"Baselines across teams" in page.content
    assert (
        c.post("/comparisons/", {"op": "rename", "key": world.key, "title": "New name"}).status_code
        == 302
    )
    world.comparison.refresh_from_db()  # type: ignore[union-attr]
    assert world.comparison.title == "New name"  # type: ignore[union-attr]
    c.post("/comparisons/", {"op": "duplicate", "key": world.key})
    assert Comparison.objects.filter(owner=world.owner, title="Copy of New name").exists()
    c.post("/comparisons/", {"op": "delete", "key": world.key})
    assert not Comparison.objects.filter(key=world.key).exists()
    # Someone else's comparison: 404, untouched.
    mine = comparisons.comparison_create(
        user=world.member_all, title="mara's", runs=[world.a_base.pk]
    )
    assert c.post("/comparisons/", {"op": "delete", "key": mine.key}).status_code == 404
    assert Comparison.objects.filter(pk=mine.pk).exists()
    assert mine.key.encode() not in c.get("/comparisons/").content
    assert Client().get("/comparisons/").status_code == 302


def test_pick_runs_across_projects_and_save(world: World) -> None:
    Run.objects.filter(pk=world.a_out.pk).update(hidden=True)
    c = logged_in(world.owner)
    page = c.get("/comparisons/new/", {"q": "line|lr|run"})
    assert page.status_code == 200
    text = page.content.decode()
    for run in (world.a_base, world.a_lr, world.b_base, world.b_lr):
        assert f'value="{run.pk}"' in text
    assert "secret-run" not in text  # gamma: not readable
    assert "other-run" not in text  # hidden
    bad = c.get("/comparisons/new/", {"q": "(["})
    assert bad.status_code == 200 and b"regular expression" in bad.content
    state = json.dumps({"smoothing": 0.8, "run_colors": {str(world.b_lr.pk): "#abcdef"}})
    resp = c.post(
        "/comparisons/new/",
        {
            "op": "save",
            "title": "From the picker",
            "run": [str(world.b_lr.pk), str(world.a_lr.pk)],
            f"alias_{world.b_lr.pk}": "beta lr",
            "state": state,
        },
    )
    assert resp.status_code == 302
    created = Comparison.objects.get(title="From the picker")
    assert resp["Location"] == f"/c/{created.key}"
    assert created.state == {"smoothing": 0.8, "run_colors": {str(world.b_lr.pk): "#abcdef"}}
    assert list(created.entries.values_list("run_id", "alias")) == [
        (world.b_lr.pk, "beta lr"),
        (world.a_lr.pk, ""),
    ]
    # Pre-selected runs (the dashboard's "Compare…") are listed checked; unreadable ones are not.
    pre = c.get("/comparisons/new/", {"runs": f"{world.a_base.pk},{world.g_run.pk}", "title": "x"})
    assert f'value="{world.a_base.pk}" id="run-{world.a_base.pk}" checked' in pre.content.decode()
    assert "secret-run" not in pre.content.decode()
    # Saving an unreadable run id anyway: refused, nothing saved.
    n = Comparison.objects.count()
    resp = c.post("/comparisons/new/", {"op": "save", "title": "x", "run": [str(world.g_run.pk)]})
    assert resp.status_code == 400 and Comparison.objects.count() == n


def test_edit_selection_into_an_existing_comparison(world: World) -> None:
    c = logged_in(world.owner)
    page = c.get("/comparisons/new/", {"into": world.key})
    assert page.status_code == 200
    assert 'value="beta baseline"' in page.content.decode()
    resp = c.post(
        "/comparisons/new/",
        {"op": "save", "into": world.key, "title": "Edited", "run": [str(world.a_lr.pk)]},
    )
    assert resp.status_code == 302
    world.comparison.refresh_from_db()  # type: ignore[union-attr]
    assert world.comparison.title == "Edited"  # type: ignore[union-attr]
    assert list(world.comparison.entries.values_list("run_id", flat=True)) == [world.a_lr.pk]  # type: ignore[union-attr]
    assert (
        logged_in(world.member_all).get("/comparisons/new/", {"into": world.key}).status_code == 404
    )


def test_manage_page_links(world: World) -> None:
    c = logged_in(world.owner)
    page = c.get(f"/c/{world.key}/links/")
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    resp = c.post(
        f"/c/{world.key}/links/",
        {"op": "link", "kind": "users", "users": "nina, mara", "expires_in_days": "3"},
    )
    assert resp.status_code == 200
    link = ShareLink.objects.get(comparison=world.comparison)
    token = comparisons.link_token(link)
    assert token and f"/s/{token}".encode() in resp.content
    assert sorted(u.username for u in link.users.all()) == ["mara", "nina"]
    assert link.expires_at is not None
    resp = c.post(f"/c/{world.key}/links/", {"op": "link", "kind": "users", "users": "ghost"})
    assert b"no active user" in resp.content
    resp = c.post(f"/c/{world.key}/links/", {"op": "revoke", "id": str(link.pk)})
    assert resp.status_code == 302
    link.refresh_from_db()
    assert link.revoked_at is not None
    # Aliases and removal.
    resp = c.post(
        f"/c/{world.key}/links/",
        {
            "op": "runs",
            f"alias_{world.a_base.pk}": "alpha base",
            f"alias_{world.b_base.pk}": "beta baseline",
            f"remove_{world.a_lr.pk}": "on",
        },
    )
    assert resp.status_code == 302
    assert list(world.comparison.entries.values_list("run_id", "alias")) == [  # type: ignore[union-attr]
        (world.a_base.pk, "alpha base"),
        (world.b_base.pk, "beta baseline"),
    ]
    for who in ("member_all", "outsider", "admin"):
        assert logged_in(getattr(world, who)).get(f"/c/{world.key}/links/").status_code == (
            200 if who == "admin" else 404
        )
    assert Client().get(f"/c/{world.key}/links/").status_code == 302


def test_owner_dashboard_page(world: World) -> None:
    resp = logged_in(world.owner).get(f"/c/{world.key}")
    assert resp.status_code == 200
    cfg = config(resp)
    assert cfg["api"] == f"/api/v1/comparisons/{world.key}"
    assert cfg["ws"] == f"/ws/comparisons/{world.key}"
    assert cfg["comparison"]["owner"] is True
    assert cfg["comparison"]["manage"] == f"/c/{world.key}/links/"
    assert [r["id"] for r in cfg["comparison"]["view"]["runs"]] == [
        world.a_base.pk,
        world.b_base.pk,
        world.a_lr.pk,
    ]
    assert resp["Content-Security-Policy"].startswith("default-src 'self'")
    for who in ("member_all", "outsider", "named"):
        assert logged_in(getattr(world, who)).get(f"/c/{world.key}").status_code == 404
    assert logged_in(world.admin).get(f"/c/{world.key}").status_code == 200
    anon = Client().get(f"/c/{world.key}")
    assert anon.status_code == 302 and "/accounts/login/" in anon["Location"]
    assert logged_in(world.owner).get("/c/nosuchkey").status_code == 404


def test_shared_dashboard_page_is_json_not_markup(world: World) -> None:
    comparisons.comparison_update(
        comparison=world.comparison, user=world.owner, title="</script><script>alert(1)</script>"
    )  # type: ignore[arg-type]
    token = world.link(ShareKind.PUBLIC)
    resp = Client().get(f"/s/{token}")
    assert resp.status_code == 200
    assert b"<script>alert(1)" not in resp.content
    cfg = config(resp)
    assert cfg["api"] == f"/api/v1/shared/{token}"
    assert cfg["ws"] == f"/ws/shared/{token}"
    assert cfg["comparison"]["owner"] is False and cfg["comparison"]["manage"] is None
    assert cfg["user"] == "" and cfg["home"] is None
    assert cfg["comparison"]["view"]["title"] == "</script><script>alert(1)</script>"
    assert "owner" not in cfg["comparison"]["view"]


def test_project_dashboard_offers_compare(world: World) -> None:
    cfg = config(logged_in(world.owner).get("/projects/alpha/dashboard"))
    assert cfg["compare"] == "/comparisons/new/"
