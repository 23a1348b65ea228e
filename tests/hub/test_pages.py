"""The hub's pages: login (with brute-force protection), project list, project page, members,
sources, settings, tokens and audit."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from hub.models import AccessToken, Membership, Project
from ingest.models import FileState, Run
from tests import factories
from tests.hub.conftest import logged_in


def _login(client: Client, username: str, password: str, ip: str = "127.0.0.1") -> Any:
    return client.post(
        "/accounts/login/", {"username": username, "password": password}, REMOTE_ADDR=ip
    )


# ---- accounts -------------------------------------------------------------------------------


def test_login_logout(world: Any) -> None:
    client = Client(enforce_csrf_checks=False)
    resp = client.get("/projects/vision/")
    assert resp.status_code == 302
    assert resp["Location"] == "/accounts/login/?next=/projects/vision/"
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'name="password"' in page.content
    resp = client.post(
        "/accounts/login/?next=/projects/vision/",
        {"username": "olivia", "password": "pw-for-tests-1", "next": "/projects/vision/"},
    )
    assert resp.status_code == 302
    assert resp["Location"] == "/projects/vision/"
    assert client.get("/projects/vision/").status_code == 200
    # Logging out takes a POST (a link or an image cannot log anyone out).
    assert client.get("/accounts/logout/").status_code == 200
    assert client.get("/projects/").status_code == 200
    resp = client.post("/accounts/logout/")
    assert resp.status_code == 302
    assert resp["Location"] == "/accounts/login/"
    assert client.get("/projects/").status_code == 302


def test_login_rejects_open_redirects(world: Any) -> None:
    resp = Client().post(
        "/accounts/login/",
        {"username": "olivia", "password": "pw-for-tests-1", "next": "https://127.0.0.2/evil"},
    )
    assert resp.status_code == 302
    assert resp["Location"] == "/"


def test_login_brute_force_is_rate_limited(world: Any, settings: Any) -> None:
    settings.TBHUB_LOGIN_MAX_FAILURES = 5
    client = Client()
    for _ in range(5):
        resp = _login(client, "olivia", "wrong")
        assert resp.status_code == 200
        assert b"Please enter a correct username and password" in resp.content
    # Locked for this username from this address, even with the right password.
    resp = _login(client, "olivia", "pw-for-tests-1")
    assert resp.status_code == 429
    assert b"Too many failed sign-in attempts" in resp.content
    assert "_auth_user_id" not in client.session
    # Another address, or another user from this address, is not locked.
    assert _login(Client(), "olivia", "pw-for-tests-1", ip="127.0.0.9").status_code == 302
    assert _login(Client(), "eddie", "pw-for-tests-1").status_code == 302


def test_login_per_address_limit_across_usernames(world: Any, settings: Any) -> None:
    settings.TBHUB_LOGIN_MAX_FAILURES = 2  # the address allows 10x: 20 failures
    for i in range(20):
        _login(Client(), f"nobody{i}", "wrong", ip="127.0.0.7")
    assert _login(Client(), "olivia", "pw-for-tests-1", ip="127.0.0.7").status_code == 429
    assert _login(Client(), "olivia", "pw-for-tests-1", ip="127.0.0.8").status_code == 302


def test_a_successful_login_clears_the_counter(world: Any, settings: Any) -> None:
    settings.TBHUB_LOGIN_MAX_FAILURES = 3
    for _ in range(2):
        _login(Client(), "olivia", "wrong")
    assert _login(Client(), "olivia", "pw-for-tests-1").status_code == 302
    for _ in range(2):
        _login(Client(), "olivia", "wrong")
    assert _login(Client(), "olivia", "pw-for-tests-1").status_code == 302


def test_password_change(world: Any) -> None:
    client = logged_in(world.viewer)
    resp = client.post(
        "/accounts/password/",
        {
            "old_password": "pw-for-tests-1",
            "new_password1": "An0ther-long-pass",
            "new_password2": "An0ther-long-pass",
        },
        follow=True,
    )
    assert resp.status_code == 200
    assert b"Your password was changed." in resp.content
    assert client.get("/projects/").status_code == 200  # still signed in
    assert _login(Client(), "vera", "An0ther-long-pass").status_code == 302


# ---- projects -------------------------------------------------------------------------------


def _project_with_runs(world: Any) -> list[Run]:
    src = factories.source(project=world.project, url="s3://team-logs/vision")
    runs = []
    for name, size, offset, step in (
        ("baseline", 1000, 1000, 100),
        ("lr_0.1/seed1", 2048, 1024, 50),
        ("lr_0.1/seed2", 500, 500, 75),
    ):
        run = factories.run(source=src, name=name, last_step=step)
        factories.event_file(run=run, size=size, offset=offset)
        runs.append(run)
    factories.event_file(
        run=runs[2],
        name="events.out.tfevents.bad",
        size=10,
        offset=5,
        state=FileState.STUCK,
        error="at byte 5: unreadable record",
    )
    return runs


def test_root_is_the_project_list(world: Any) -> None:
    _project_with_runs(world)
    html = logged_in(world.viewer).get("/").content.decode()
    assert "Vision" in html
    assert "Secret" not in html
    assert '<td class="num">3' in html
    assert "cannot be read" in html or "error" in html  # ingest health of the stuck file
    assert logged_in(world.outsider).get("/").status_code == 200
    assert b"not a member of any project" in logged_in(world.outsider).get("/").content


def test_project_page_runs_table(world: Any) -> None:
    _project_with_runs(world)
    client = logged_in(world.viewer)
    html = client.get("/projects/vision/").content.decode()
    for name in ("baseline", "lr_0.1/seed1", "lr_0.1/seed2"):
        assert name in html
    assert "1.0\xa0KB / 2.0\xa0KB" in html  # bytes read / total
    assert "unreadable record" in html
    assert "Hide" not in html  # viewers read only
    html = client.get("/projects/vision/?q=seed&sort=step&order=desc").content.decode()
    assert "baseline" not in html
    assert html.index("lr_0.1/seed2") < html.index("lr_0.1/seed1")
    assert 'aria-sort="descending"' in html
    html = client.get("/projects/vision/?q=(").content.decode()
    assert "invalid regular expression" in html


def test_editor_hides_and_notes_runs_from_the_page(world: Any) -> None:
    runs = _project_with_runs(world)
    client = logged_in(world.editor)
    html = client.get("/projects/vision/").content.decode()
    assert "Hide" in html
    assert "Add note" in html
    resp = client.post(f"/projects/vision/runs/{runs[0].pk}/", {"op": "hide"})
    assert resp.status_code == 302
    assert resp["Location"] == "/projects/vision/"
    assert Run.objects.get(pk=runs[0].pk).hidden
    resp = client.post(
        f"/projects/vision/runs/{runs[0].pk}/",
        {"op": "note", "note": "<b>bad</b> lr", "next": "/projects/vision/?q=base"},
    )
    assert resp["Location"] == "/projects/vision/?q=base"
    html = client.get("/projects/vision/").content.decode()
    assert "&lt;b&gt;bad&lt;/b&gt; lr" in html  # user text is never HTML
    html = client.get("/projects/vision/?hidden=0").content.decode()
    assert "baseline" not in html
    resp = client.post(
        f"/projects/vision/runs/{runs[0].pk}/", {"op": "unhide", "next": "https://127.0.0.2/evil"}
    )
    assert resp["Location"] == "/projects/vision/"
    assert (
        logged_in(world.viewer)
        .post(f"/projects/vision/runs/{runs[0].pk}/", {"op": "unhide"})
        .status_code
        == 403
    )


def test_new_project_page(world: Any) -> None:
    client = logged_in(world.outsider)
    resp = client.post("/projects/new/", {"name": "Audio", "slug": "audio"})
    assert resp.status_code == 302
    assert resp["Location"] == "/projects/audio/sources/"
    assert Membership.objects.get(project__slug="audio").role == "owner"
    resp = client.post("/projects/new/", {"name": "Audio", "slug": "audio"})
    assert resp.status_code == 200
    assert b"already exists" in resp.content


def test_members_page(world: Any) -> None:
    client = logged_in(world.owner)
    html = client.get("/projects/vision/members/").content.decode()
    assert "eddie" in html
    assert "Add a member" in html
    client.post("/projects/vision/members/", {"op": "add", "username": "otto", "role": "viewer"})
    assert Membership.objects.get(project=world.project, user=world.outsider).role == "viewer"
    client.post("/projects/vision/members/", {"op": "role", "username": "otto", "role": "editor"})
    assert Membership.objects.get(project=world.project, user=world.outsider).role == "editor"
    resp = client.post(
        "/projects/vision/members/", {"op": "remove", "username": "olivia"}, follow=True
    )
    assert b"at least one owner" in resp.content
    client.post("/projects/vision/members/", {"op": "remove", "username": "otto"})
    assert not Membership.objects.filter(project=world.project, user=world.outsider).exists()
    # Viewers see the list without the controls, and may leave.
    viewer = logged_in(world.viewer)
    html = viewer.get("/projects/vision/members/").content.decode()
    assert "Add a member" not in html
    assert "Leave" in html
    assert (
        viewer.post("/projects/vision/members/", {"op": "remove", "username": "eddie"}).status_code
        == 403
    )
    resp = viewer.post("/projects/vision/members/", {"op": "remove", "username": "vera"})
    assert resp.status_code == 302
    assert resp["Location"] == "/projects/"


def test_sources_page(world: Any, roots: Any) -> None:
    client = logged_in(world.editor)
    resp = client.post("/projects/vision/sources/", {"url": str(roots)})
    assert resp.status_code == 302
    html = client.get("/projects/vision/sources/").content.decode()
    assert str(roots) in html
    assert "Test access" in html
    assert "Delete" not in html
    resp = client.post("/projects/vision/sources/", {"url": "http://127.0.0.2/x"})
    assert resp.status_code == 400
    assert b"URLs are not accepted" in resp.content
    source = world.project.sources.get()
    resp = client.post(f"/projects/vision/sources/{source.pk}/", {"op": "test"}, follow=True)
    assert b"Test access OK: 1 run(s), 1 event file(s)" in resp.content
    owner_html = logged_in(world.owner).get("/projects/vision/sources/").content.decode()
    assert "Delete" in owner_html
    viewer_html = logged_in(world.viewer).get("/projects/vision/sources/").content.decode()
    assert "Add a source" not in viewer_html
    assert "Test access" not in viewer_html


def test_settings_page(world: Any) -> None:
    client = logged_in(world.owner)
    resp = client.post("/projects/vision/settings/", {"name": "Vision 2", "description": "d"})
    assert resp.status_code == 302
    assert Project.objects.get(slug="vision").name == "Vision 2"
    resp = client.post(
        "/projects/vision/settings/", {"op": "delete", "confirm_slug": "nope"}, follow=True
    )
    assert b"Type the project" in resp.content
    resp = client.post("/projects/vision/settings/", {"op": "delete", "confirm_slug": "vision"})
    assert resp.status_code == 302
    assert not Project.objects.filter(slug="vision").exists()
    assert logged_in(world.editor).get("/projects/secret/settings/").status_code == 404


def test_tokens_page(world: Any) -> None:
    client = logged_in(world.viewer)
    resp = client.post(
        "/tokens/", {"op": "create", "name": "laptop", "read_only": "on", "expires_days": "30"}
    )
    assert resp.status_code == 200
    token = AccessToken.objects.get(user=world.viewer)
    assert token.read_only
    assert token.expires_at is not None
    html = client.get("/tokens/").content.decode()
    assert "laptop" in html
    assert "read-only" in html
    assert "never" in html
    client.post("/tokens/", {"op": "revoke", "id": str(token.pk)})
    token.refresh_from_db()
    assert token.revoked_at is not None
    other, _ = factories.token(user=world.owner)
    assert client.post("/tokens/", {"op": "revoke", "id": str(other.pk)}).status_code == 404
    admin = logged_in(world.admin)
    assert "olivia" in admin.get("/tokens/?all=1").content.decode()
    admin.post("/tokens/", {"op": "revoke", "id": str(other.pk)})
    other.refresh_from_db()
    assert other.revoked_at is not None


def test_audit_pages(world: Any) -> None:
    owner = logged_in(world.owner)
    owner.post("/projects/vision/members/", {"op": "add", "username": "otto", "role": "viewer"})
    html = owner.get("/projects/vision/audit/").content.decode()
    assert "member added" in html
    assert "otto" in html
    assert logged_in(world.editor).get("/projects/vision/audit/").status_code == 403
    html = logged_in(world.admin).get("/audit/").content.decode()
    assert "member added" in html
    assert "vision" in html


def test_audit_details_read_as_values_not_python(world: Any) -> None:
    from hub.models import AuditEvent

    AuditEvent.objects.create(
        actor=world.owner,
        actor_username=world.owner.username,
        project=world.project,
        project_slug="vision",
        action="source.update",
        target="s3://bucket/logs",
        details={
            "credentials_set": False,
            "anon": True,
            "options": {},
            "regions": ["eu", "us"],
            "endpoint": {"url": "http://127.0.0.1:9000"},
            "note": None,
            "count": 3,
        },
    )
    html = logged_in(world.owner).get("/projects/vision/audit/").content.decode()
    assert "credentials_set: no" in html
    assert "anon: yes" in html
    assert "options: —" in html
    assert "note: —" in html
    assert "count: 3" in html
    assert "regions: [&quot;eu&quot;, &quot;us&quot;]" in html  # JSON, escaped as text
    assert "endpoint: {&quot;url&quot;: &quot;http://127.0.0.1:9000&quot;}" in html
    assert "False" not in html and "{}" not in html


@pytest.mark.parametrize(
    "path",
    [
        "/projects/",
        "/projects/vision/",
        "/projects/vision/members/",
        "/projects/vision/sources/",
        "/projects/vision/settings/",
        "/projects/vision/audit/",
        "/tokens/",
        "/accounts/password/",
    ],
)
def test_pages_are_complete_documents(world: Any, path: str) -> None:
    html = logged_in(world.owner).get(path).content.decode()
    assert html.startswith("<!doctype html>")
    assert '<html lang="en">' in html
    assert '<main id="main"' in html
    assert 'href="#main"' in html  # skip link
    assert "/static/hub/hub.css" in html
    assert "http://" not in html.split("<main", 1)[0]
    assert "https://" not in html


def test_project_page_pages_through_many_runs(world: Any) -> None:
    from ingest.models import Run as RunModel

    src = factories.source(project=world.project)
    RunModel.objects.bulk_create([RunModel(source=src, name=f"r{i:03d}") for i in range(130)])
    client = logged_in(world.viewer)
    html = client.get("/projects/vision/?q=r0&sort=name").content.decode()
    assert "Runs 1\u2013100 of 100" in html  # r000..r099
    html = client.get("/projects/vision/").content.decode()
    assert "Runs 1\u2013100 of 130" in html
    assert "r099" in html
    assert "r100" not in html
    assert 'href="?sort=name&amp;order=asc&amp;page=2"' in html
    html = client.get("/projects/vision/?sort=name&order=asc&page=2").content.decode()
    assert "Runs 101\u2013130 of 130" in html
    assert "r100" in html
    assert "r099" not in html


def test_favicon_is_an_empty_answer_not_a_404(world: Any) -> None:
    # Django admin, DRF and the API docs declare no icon: browsers ask for /favicon.ico, and a 404
    # there is a console error on every such page.
    resp = Client().get("/favicon.ico")
    assert resp.status_code == 204
    assert resp.content == b""
