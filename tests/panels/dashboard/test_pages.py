"""The dashboard page, its assets and `/`."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


def test_dashboard_page_config_is_json_not_markup(client_member: Client, project: Any) -> None:
    project.name = '</script><script>alert("x")</script>'
    project.save()
    r = client_member.get("/projects/vision/dashboard")
    assert r.status_code == 200
    html = r.content.decode()
    assert "<script>alert" not in html
    m = re.search(r'<script id="tbhub-config" type="application/json">(.*?)</script>', html, re.S)
    assert m
    cfg = json.loads(m.group(1))
    assert cfg["project"] == {"slug": "vision", "name": project.name}
    assert cfg["api"] == "/api/v1/projects/vision"
    assert cfg["ws"] == "/ws/projects/vision"
    assert cfg["mode"] == "team"
    assert "script-src 'self'" in r["Content-Security-Policy"]
    assert "csrftoken" in r.cookies


def test_dashboard_needs_login_and_membership(client_stranger: Client, project: Any) -> None:
    r = Client().get("/projects/vision/dashboard")
    assert r.status_code == 302
    assert "/accounts/login/" in r["Location"]
    assert client_stranger.get("/projects/vision/dashboard").status_code == 404


def test_bundle_is_served_by_the_hub(client_member: Client, project: Any) -> None:
    from panels import views

    bundle = views.bundle()
    if bundle["missing"]:
        pytest.skip("the dashboard bundle is not built (make setup builds it)")
    html = client_member.get("/projects/vision/dashboard").content.decode()
    assert bundle["js"] in html
    r = client_member.get(bundle["js"])
    assert r.status_code == 200
    assert b"tbhub" in b"".join(r.streaming_content) if r.streaming else r.content


@override_settings(TBHUB_MODE="embedded")
def test_embedded_root_is_the_local_dashboard(db: Any) -> None:
    from hub.models import Project

    Project.objects.create(name="logs", slug="local")
    r = Client().get("/")
    # hub.urls may answer `/` first; in embedded mode it must be the local dashboard either way.
    assert r.status_code == 200
    assert b'id="tbhub-config"' in r.content
