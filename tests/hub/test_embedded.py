"""Embedded mode (`tbhub serve`): one local user, no login page, the same API and pages."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from hub.access import project_id_for_user
from hub.models import AuditEvent, Project
from ingest.models import Run
from tests import factories
from tests.hub.conftest import call


@pytest.fixture
def embedded(db: Any, settings: Any) -> dict[str, Any]:
    settings.TBHUB_MODE = "embedded"
    project = Project.objects.create(slug="local", name="logs")
    src = factories.source(project=project, url="/tmp/logs")
    run = factories.run(source=src, name="train")
    factories.scalars(run=run, tag="loss")
    return {"project": project, "run": run}


def test_no_login_and_the_same_api(embedded: dict[str, Any]) -> None:
    client = Client()
    assert call(client, "GET", "/api/v1/projects/local/runs").status_code == 200
    assert call(client, "GET", "/api/v1/runs").json()["runs"][0]["name"] == "train"
    body = call(client, "GET", "/api/v1/scalars?run=train&tag=loss").json()
    assert len(body["points"]) == 3
    me = call(client, "GET", "/api/v1/me").json()
    assert (me["username"], me["auth"], me["mode"]) == ("local", "embedded", "embedded")
    projects = call(client, "GET", "/api/v1/projects").json()["projects"]
    assert [p["slug"] for p in projects] == ["local"]
    assert client.get("/projects/local/").status_code == 200
    resp = client.get("/accounts/login/")
    assert resp.status_code == 302
    assert resp["Location"] == "/"
    assert client.get("/tokens/").status_code == 302


def test_scripts_on_this_machine_need_no_csrf_token(embedded: dict[str, Any]) -> None:
    client = Client(enforce_csrf_checks=True)
    run = embedded["run"]
    resp = call(client, "PATCH", f"/api/v1/projects/local/runs/{run.pk}", {"hidden": True})
    assert resp.status_code == 200, resp.content
    assert Run.objects.get(pk=run.pk).hidden
    assert AuditEvent.objects.get(action="run.hide").actor_username == "local"


def test_browsers_still_need_the_csrf_token(embedded: dict[str, Any]) -> None:
    """A page on another site cannot make the local user's browser change anything."""
    client = Client(enforce_csrf_checks=True)
    run = embedded["run"]
    resp = call(
        client,
        "PATCH",
        f"/api/v1/projects/local/runs/{run.pk}",
        {"hidden": True},
        headers={"Origin": "http://127.0.0.2:8080"},
    )
    assert resp.status_code == 403
    assert not Run.objects.get(pk=run.pk).hidden
    resp = client.post(
        f"/projects/local/runs/{run.pk}/",
        {"op": "hide"},
        headers={"Origin": "http://127.0.0.2:8080"},
    )
    assert resp.status_code == 403


def test_websocket_helper(embedded: dict[str, Any]) -> None:
    assert project_id_for_user(None, "local") == embedded["project"].pk
    assert project_id_for_user(None, "nope") is None


def test_websocket_helper_in_team_mode(world: Any) -> None:
    assert project_id_for_user(world.viewer, "vision") == world.project.pk
    assert project_id_for_user(world.outsider, "vision") is None
    assert project_id_for_user(world.admin, "secret") == world.other.pk
    assert project_id_for_user(None, "vision") is None
    world.viewer.is_active = False
    assert project_id_for_user(world.viewer, "vision") is None
