"""The authorization matrix: every endpoint x every kind of caller, with the exact status.

Callers: anonymous, a non-member, viewer, editor, owner, admin, and the owner's tokens (valid,
read-only, revoked, expired). Each endpoint is one test; every caller's request runs inside a
savepoint that is rolled back, so a DELETE by one caller does not change what the next one sees.
A failing test prints the whole row of (caller, expected, got).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import transaction
from django.test import Client

from hub.models import ROLE_RANK, Role
from tests import factories
from tests.hub.conftest import call

ANON, OUTSIDER, VIEWER, EDITOR, OWNER, ADMIN = (
    "anonymous",
    "non-member",
    "viewer",
    "editor",
    "owner",
    "admin",
)
TOKEN, RO_TOKEN, REVOKED, EXPIRED = "token", "read-only token", "revoked token", "expired token"
ACTORS = [ANON, OUTSIDER, VIEWER, EDITOR, OWNER, ADMIN, TOKEN, RO_TOKEN, REVOKED, EXPIRED]
SESSION_ROLES = {VIEWER: Role.VIEWER, EDITOR: Role.EDITOR, OWNER: Role.OWNER}


@dataclass
class Matrix:
    users: dict[str, Any]
    tokens: dict[str, str]
    ids: dict[str, Any]


@pytest.fixture
def matrix(db: Any, roots: Any) -> Matrix:
    owner = factories.user(username="olivia")
    editor = factories.user(username="eddie")
    viewer = factories.user(username="vera")
    outsider = factories.user(username="otto")
    admin = factories.user(username="ada", superuser=True)
    spare_member = factories.user(username="mia")
    factories.user(username="newbie")
    project = factories.project(
        slug="vision", owner=owner, editors=(editor,), viewers=(viewer, spare_member)
    )
    src = factories.source(project=project, url=str(roots))
    run = factories.run(source=src, name="run-a")
    factories.event_file(run=run, size=200, offset=150)
    factories.scalars(run=run, tag="loss")
    img = factories.image(run=run, tag="img")
    factories.histogram(run=run, tag="hist")
    factories.text(run=run, tag="notes")
    spare_token, _ = factories.token(user=owner, name="spare")
    tokens = {
        TOKEN: factories.token(user=owner)[1],
        RO_TOKEN: factories.token(user=owner, read_only=True)[1],
        REVOKED: factories.token(user=owner, revoked=True)[1],
        EXPIRED: factories.token(user=owner, expired=True)[1],
    }
    users = {OUTSIDER: outsider, VIEWER: viewer, EDITOR: editor, OWNER: owner, ADMIN: admin}
    ids = {"src": src.pk, "run": run.pk, "img": img.pk, "tok": spare_token.pk}
    return Matrix(users=users, tokens=tokens, ids=ids)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    rule: str  # see expected()
    ok: int = 200
    role: str = Role.VIEWER
    body: Any = None
    form: dict[str, str] | None = None
    overrides: dict[str, int] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.method} {self.path}"


P = "/api/v1/projects/vision"
Q = "run_id={run}"

ENDPOINTS = [
    # ---- management API
    Endpoint("GET", "/api/v1/me", "auth"),
    Endpoint("GET", "/api/v1/schema", "auth"),
    Endpoint("GET", "/api/v1/projects", "auth"),
    Endpoint("POST", "/api/v1/projects", "auth-write", 201, body={"name": "N", "slug": "fresh"}),
    Endpoint("GET", P, "read"),
    Endpoint("PATCH", P, "role", role=Role.OWNER, body={"description": "new"}),
    Endpoint("DELETE", P, "role", 204, role=Role.OWNER),
    Endpoint("GET", f"{P}/members", "read"),
    Endpoint(
        "POST",
        f"{P}/members",
        "role",
        201,
        role=Role.OWNER,
        body={"username": "newbie", "role": "viewer"},
    ),
    Endpoint("PATCH", f"{P}/members/mia", "role", role=Role.OWNER, body={"role": "editor"}),
    Endpoint("DELETE", f"{P}/members/mia", "role", 204, role=Role.OWNER),
    Endpoint("GET", f"{P}/sources", "read"),
    Endpoint(
        "POST",
        f"{P}/sources",
        "role",
        201,
        role=Role.EDITOR,
        body={"url": "s3://new-bucket/logs", "credentials": {"key": "k", "secret": "s"}},
    ),
    Endpoint("GET", f"{P}/sources/{{src}}", "read"),
    Endpoint("PATCH", f"{P}/sources/{{src}}", "role", role=Role.EDITOR, body={"options": {}}),
    Endpoint("DELETE", f"{P}/sources/{{src}}", "role", 204, role=Role.OWNER),
    Endpoint("POST", f"{P}/sources/{{src}}/test", "role", role=Role.EDITOR),
    Endpoint("POST", f"{P}/sources/{{src}}/refresh", "role", 202, role=Role.EDITOR),
    Endpoint("GET", f"{P}/runs/status", "read"),
    Endpoint("GET", f"{P}/runs/{{run}}", "read"),
    Endpoint("PATCH", f"{P}/runs/{{run}}", "role", role=Role.EDITOR, body={"hidden": True}),
    Endpoint("PATCH", f"{P}/runs/{{run}}", "role", role=Role.EDITOR, body={"note": "lr too high"}),
    Endpoint("GET", f"{P}/audit", "role-read", role=Role.OWNER),
    Endpoint("GET", "/api/v1/audit", "admin"),
    Endpoint("GET", "/api/v1/tokens", "auth"),
    Endpoint("POST", "/api/v1/tokens", "auth-write", 201, body={"name": "ci"}),
    # The spare token is the owner's: others get 404 (not theirs), admins may revoke any.
    Endpoint(
        "DELETE",
        "/api/v1/tokens/{tok}",
        "auth-write",
        204,
        overrides={OUTSIDER: 404, VIEWER: 404, EDITOR: 404},
    ),
    # ---- data API
    Endpoint("GET", f"{P}/runs", "read"),
    Endpoint("GET", f"{P}/scalars?{Q}&tag=loss", "read"),
    Endpoint("GET", f"{P}/scalars?run=run-a&tag=loss&format=csv", "read"),
    Endpoint("GET", f"{P}/scalars/batch?tag=loss&{Q}", "read"),
    Endpoint("GET", f"{P}/scalars/download?{Q}&tag=loss&format=csv", "read"),
    Endpoint("GET", f"{P}/scalars/download?run=run-a&format=json", "read"),
    Endpoint("GET", f"{P}/histograms?{Q}&tag=hist", "read"),
    Endpoint("GET", f"{P}/distributions?{Q}&tag=hist", "read"),
    Endpoint("GET", f"{P}/images?{Q}&tag=img", "read"),
    Endpoint("GET", f"{P}/images/{{img}}", "read"),
    Endpoint("GET", f"{P}/text?{Q}&tag=notes", "read"),
    Endpoint("GET", f"{P}/graphs/info", "read"),
    Endpoint("GET", f"{P}/prefs", "read"),
    Endpoint("PUT", f"{P}/prefs", "read-write", body={}),
    # Embedded-mode aliases do not exist for a team hub's users.
    Endpoint("GET", "/api/v1/runs", "auth", 404),
    # ---- pages (session only: a bearer token is not a login)
    Endpoint("GET", "/", "page-auth"),
    Endpoint("GET", "/projects/", "page-auth"),
    Endpoint("GET", "/projects/vision/", "page-read"),
    Endpoint("GET", "/projects/vision/members/", "page-read"),
    Endpoint("GET", "/projects/vision/sources/", "page-read"),
    Endpoint("GET", "/projects/vision/settings/", "page-role", role=Role.OWNER),
    Endpoint("GET", "/projects/vision/audit/", "page-role", role=Role.OWNER),
    Endpoint(
        "POST",
        "/projects/vision/runs/{run}/",
        "page-role",
        302,
        role=Role.EDITOR,
        form={"op": "hide"},
    ),
    Endpoint(
        "POST",
        "/projects/vision/sources/",
        "page-role",
        302,
        role=Role.EDITOR,
        form={"url": "s3://page-bucket/x"},
    ),
    Endpoint(
        "POST",
        "/projects/vision/sources/{src}/",
        "page-role",
        302,
        role=Role.EDITOR,
        form={"op": "test"},
    ),
    Endpoint(
        "POST",
        "/projects/vision/sources/{src}/",
        "page-role",
        302,
        role=Role.OWNER,
        form={"op": "delete"},
    ),
    Endpoint(
        "POST",
        "/projects/vision/members/",
        "page-role",
        302,
        role=Role.OWNER,
        form={"op": "add", "username": "newbie", "role": "viewer"},
    ),
    Endpoint(
        "POST",
        "/projects/vision/settings/",
        "page-role",
        302,
        role=Role.OWNER,
        form={"op": "delete", "confirm_slug": "vision"},
    ),
    Endpoint("GET", "/tokens/", "page-auth"),
    Endpoint("GET", "/audit/", "page-admin"),
    Endpoint("GET", "/accounts/password/", "page-auth"),
]


def expected(ep: Endpoint, actor: str) -> int:
    if actor in ep.overrides:
        return ep.overrides[actor]
    page = ep.rule.startswith("page-")
    if page:
        if actor in (ANON, TOKEN, RO_TOKEN, REVOKED, EXPIRED):
            return 302
    elif actor in (ANON, REVOKED, EXPIRED):
        return 401
    rule = ep.rule.removeprefix("page-")
    writes = ep.method not in ("GET", "HEAD")
    if actor == RO_TOKEN and writes:
        return 403
    if rule in ("auth", "auth-write"):
        return ep.ok
    if rule == "admin":
        return ep.ok if actor == ADMIN else 403
    if actor == OUTSIDER:
        return 404
    if rule in ("read", "read-write"):
        return ep.ok
    # role / role-read: owner's tokens act as the owner, admins as owners of everything.
    if actor in (ADMIN, TOKEN, RO_TOKEN):
        return ep.ok
    return ep.ok if ROLE_RANK[SESSION_ROLES[actor]] >= ROLE_RANK[ep.role] else 403


def _client(m: Matrix, actor: str) -> tuple[Client, str | None]:
    client = Client()
    if actor in m.users:
        client.force_login(m.users[actor])
    return client, m.tokens.get(actor)


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
        if got == 302 and want == 302 and actor in (ANON, TOKEN, RO_TOKEN, REVOKED, EXPIRED):
            assert resp["Location"].startswith("/accounts/login/"), (actor, resp["Location"])
        if got >= 400 and path.startswith("/api/"):
            assert resp["Content-Type"].startswith("application/json"), (actor, resp.content)
            assert "error" in resp.json(), (actor, resp.content)
        if got in (301, 302) and path.startswith("/api/"):
            pytest.fail(f"{actor}: the API redirected to {resp['Location']}")
        rows.append((actor, want, got, resp.content[:200] if got != want else b""))
    bad = [r for r in rows if r[1] != r[2]]
    assert not bad, "\n".join(f"{a:16} expected {w} got {g} {body!r}" for a, w, g, body in bad)
