"""Per-user dashboard state: GET/PUT …/prefs."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from hub.models import Membership, Role

pytestmark = pytest.mark.django_db
URL = "/api/v1/projects/vision/prefs"


def put(c: Client, doc: Any, **extra: Any) -> Any:
    return c.put(URL, data=json.dumps(doc), content_type="application/json", **extra)


def test_prefs_roundtrip_merge_and_validation(client_member: Client) -> None:
    assert client_member.get(URL).json() == {"prefs": {}}
    r = put(
        client_member,
        {"smoothing": 0.9, "x_axis": "relative", "unknown": 1, "run_colors": {"a": "#0077BB"}},
    )
    assert r.status_code == 200
    assert r.json()["prefs"] == {
        "smoothing": 0.9,
        "x_axis": "relative",
        "run_colors": {"a": "#0077bb"},
    }
    put(client_member, {"pinned": ["scalars:loss"], "selected_runs": None})
    got = client_member.get(URL).json()["prefs"]
    assert got["smoothing"] == 0.9
    assert got["pinned"] == ["scalars:loss"]
    assert got["selected_runs"] is None
    for bad in (
        {"smoothing": 1.5},
        {"smoothing": True},
        {"x_axis": "time"},
        {"run_colors": {"a": "red"}},
        {"pinned": "x"},
        [1],
    ):
        r = put(client_member, bad)
        assert r.status_code == 400, bad
        assert "error" in r.json()
    r = client_member.put(
        URL + "?replace=1", data=json.dumps({"log_scale": True}), content_type="application/json"
    )
    assert r.json()["prefs"] == {"log_scale": True}


def test_prefs_are_per_user_and_follow_the_user(
    project: Any, client_member: Client, member: Any
) -> None:
    bob = get_user_model().objects.create_user("bob", password="pw-bob-123")
    Membership.objects.create(project=project, user=bob, role=Role.VIEWER)
    put(client_member, {"smoothing": 0.1})
    other_browser = Client()
    other_browser.force_login(member)
    assert other_browser.get(URL).json()["prefs"] == {"smoothing": 0.1}
    b = Client()
    b.force_login(bob)
    assert b.get(URL).json()["prefs"] == {}


def test_prefs_need_read_access_and_csrf(client_stranger: Client, member: Any) -> None:
    assert client_stranger.get(URL).status_code == 404
    assert put(client_stranger, {"smoothing": 0.2}).status_code == 404
    assert Client().get(URL).status_code == 401
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    assert put(strict, {"smoothing": 0.2}).status_code == 403
    strict.get("/projects/vision/dashboard")  # sets the CSRF cookie
    token = strict.cookies["csrftoken"].value
    assert put(strict, {"smoothing": 0.2}, HTTP_X_CSRFTOKEN=token).status_code == 200


def test_prefs_align_steps_is_a_boolean(client_member: Client) -> None:
    r = put(client_member, {"align_steps": True})
    assert r.status_code == 200
    assert r.json()["prefs"] == {"align_steps": True}
    assert client_member.get(URL).json()["prefs"] == {"align_steps": True}
    for bad in ("1", 1, None):
        r = put(client_member, {"align_steps": bad})
        assert r.status_code == 400, bad
        assert r.json()["error"] == "'align_steps' must be true or false"
    assert client_member.get(URL).json()["prefs"] == {"align_steps": True}


def test_prefs_keep_the_hparams_panel_and_view(client_member: Client) -> None:
    r = put(client_member, {"panel": "hparams", "hp_view": "parallel"})
    assert r.status_code == 200
    assert r.json()["prefs"] == {"panel": "hparams", "hp_view": "parallel"}
    for bad in ({"panel": "pr_curves"}, {"hp_view": "scatter"}):
        r = put(client_member, bad)
        assert r.status_code == 400, bad
