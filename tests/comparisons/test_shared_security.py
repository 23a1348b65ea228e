"""Share links read the comparison's runs and NOTHING else: every data endpoint behind a link is
aimed at everything outside it (other runs of the same projects by id and by name, runs of other
projects, images and graphs of other runs, the project endpoints with the link's token, sources,
members), and at dead tokens."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from hub.models import ShareKind, ShareLink
from tests.comparisons.conftest import World, call

pytestmark = pytest.mark.django_db

RUN_ENDPOINTS = {
    "scalars": {"tag": "loss"},
    "histograms": {"tag": "weights"},
    "distributions": {"tag": "weights"},
    "images": {"tag": "samples"},
    "text": {"tag": "notes"},
    "graphs": {},
    "graphs/info": {},
}


def get(client: Client, path: str, **params: Any) -> Any:
    return client.get(path, params)


def body(resp: Any) -> Any:
    return json.loads(resp.content)


def is_404_json(resp: Any) -> bool:
    return (
        resp.status_code == 404
        and resp["Content-Type"].startswith("application/json")
        and "error" in body(resp)
    )


# ---- what a link shows ------------------------------------------------------------------------


def test_shared_view_lists_exactly_the_comparison(world: World, public: str) -> None:
    resp = Client().get(f"/api/v1/shared/{public}")
    assert resp.status_code == 200
    data = body(resp)
    assert set(data) == {"title", "state", "runs", "version"}
    assert data["title"] == "Baselines across teams"
    assert data["state"] == {
        "smoothing": 0.3,
        "run_colors": {str(world.a_lr.pk): "#112233"},
        "panel": "scalars",
    }
    runs = data["runs"]
    assert [r["id"] for r in runs] == [world.a_base.pk, world.b_base.pk, world.a_lr.pk]
    assert [(r["project"], r["name"], r["alias"]) for r in runs] == [
        ("alpha", "baseline", ""),
        ("beta", "baseline", "beta baseline"),
        ("alpha", "lr-0.1", ""),
    ]
    assert [r["display_name"] for r in runs] == ["baseline", "beta baseline", "lr-0.1"]
    assert all(r["available"] and r["reason"] is None for r in runs)
    assert runs[0]["tags"] == {
        "scalars": ["loss"],
        "histograms": ["weights"],
        "distributions": ["weights"],
        "images": ["samples"],
        "text": ["notes"],
    }
    assert runs[0]["graph"] is True
    # Nothing about sources, members, notes or the owner.
    text = resp.content.decode()
    for secret in ("s3://", "olga", "mara", "other-run", "secret-run", "source"):
        assert secret not in text


def test_payloads_are_the_project_endpoints_payloads(world: World, public: str) -> None:
    owner = Client()
    owner.force_login(world.owner)
    anon = Client()
    for run in (world.a_base, world.b_base, world.a_lr):
        slug = run.source.project.slug
        for name, params in RUN_ENDPOINTS.items():
            q = {"run_id": run.pk, **params}
            p = owner.get(f"/api/v1/projects/{slug}/{name}", q)
            s = anon.get(f"/api/v1/shared/{public}/{name}", q)
            assert p.status_code == s.status_code == 200, (name, p.content, s.content)
            pb, sb = p.content, s.content
            if name == "images":
                pb = pb.replace(f"/api/v1/projects/{slug}/".encode(), b"PREFIX/")
                sb = sb.replace(f"/api/v1/shared/{public}/".encode(), b"PREFIX/")
            assert pb == sb, name
        # Every variant of scalars: downsampled, x axes, ranges, CSV.
        for extra in (
            {"max_points": 2},
            {"x": "wall"},
            {"x": "relative", "start": 1},
            {"format": "csv"},
        ):
            q = {"run_id": run.pk, "tag": "loss", **extra}
            p = owner.get(f"/api/v1/projects/{slug}/scalars", q)
            s = anon.get(f"/api/v1/shared/{public}/scalars", q)
            assert p.status_code == s.status_code == 200
            assert p.content == s.content
        # Image bytes.
        img = world.images[
            "a_base" if run == world.a_base else "b_base" if run == world.b_base else "a_lr"
        ]
        p = owner.get(f"/api/v1/projects/{slug}/images/{img}")
        s = anon.get(f"/api/v1/shared/{public}/images/{img}")
        assert p.status_code == s.status_code == 200
        assert p.content == s.content and s["Content-Type"] == "image/png"
    # A name unique within the comparison resolves like the project's (lr-0.1 is also a run of
    # beta, outside the comparison: the link resolves the comparison's, alpha's).
    p = owner.get("/api/v1/projects/alpha/scalars", {"run": "lr-0.1", "tag": "loss"})
    s = anon.get(f"/api/v1/shared/{public}/scalars", {"run": "lr-0.1", "tag": "loss"})
    assert p.content == s.content


def test_batch_and_graph_info_cover_only_the_comparison(world: World, public: str) -> None:
    anon = Client()
    ids = [
        world.a_base.pk,
        world.b_base.pk,
        world.a_lr.pk,
        world.a_out.pk,
        world.b_lr.pk,
        world.g_run.pk,
    ]
    resp = anon.get(
        f"/api/v1/shared/{public}/scalars/batch",
        {"tag": "loss", "run_ids": ",".join(map(str, ids))},
    )
    assert resp.status_code == 200
    data = body(resp)
    assert list(data["runs"]) == [str(world.a_base.pk), str(world.b_base.pk), str(world.a_lr.pk)]
    assert data["missing"] == [world.a_out.pk, world.b_lr.pk, world.g_run.pk]
    # Same fragments as the project endpoint for the same run.
    owner = Client()
    owner.force_login(world.owner)
    p = body(
        owner.get(
            "/api/v1/projects/alpha/scalars/batch", {"tag": "loss", "run_id": world.a_base.pk}
        )
    )
    assert p["runs"][str(world.a_base.pk)] == data["runs"][str(world.a_base.pk)]
    info = body(anon.get(f"/api/v1/shared/{public}/graphs/info"))
    assert [r["run_id"] for r in info["runs"]] == [world.a_base.pk, world.b_base.pk, world.a_lr.pk]


# ---- what a link must never reach --------------------------------------------------------------


@pytest.mark.parametrize("endpoint", list(RUN_ENDPOINTS))
def test_runs_outside_the_comparison_are_404(world: World, public: str, endpoint: str) -> None:
    anon = Client()
    base = f"/api/v1/shared/{public}/{endpoint}"
    params = RUN_ENDPOINTS[endpoint]
    for run in (
        world.a_out,
        world.b_lr,
        world.g_run,
    ):  # same project, other source project, other project
        assert is_404_json(anon.get(base, {"run_id": run.pk, **params})), (endpoint, run.name)
    for name in ("other-run", "secret-run", "baseline", "nope"):  # other runs by name; ambiguous
        assert is_404_json(anon.get(base, {"run": name, **params})), (endpoint, name)
    assert is_404_json(anon.get(base, {"run_id": 10**9, **params}))


def test_images_of_other_runs_are_404(world: World, public: str) -> None:
    anon = Client()
    for label in ("a_out", "b_lr", "g_run"):
        assert is_404_json(anon.get(f"/api/v1/shared/{public}/images/{world.images[label]}"))
    assert is_404_json(anon.get(f"/api/v1/shared/{public}/images/{10**9}"))


def test_graphs_of_other_runs_are_404(world: World, public: str) -> None:
    anon = Client()
    for run in (world.a_out, world.g_run):
        assert is_404_json(anon.get(f"/api/v1/shared/{public}/graphs", {"run_id": run.pk}))
        assert is_404_json(anon.get(f"/api/v1/shared/{public}/graphs/info", {"run_id": run.pk}))


def test_nothing_but_the_data_endpoints(world: World, public: str) -> None:
    anon = Client()
    for tail in (
        "runs",
        "prefs",
        "members",
        "sources",
        "audit",
        "storage",
        "retention",
        "scalars/download",
        "links",
        "duplicate",
        "runs/status",
    ):
        resp = anon.get(f"/api/v1/shared/{public}/{tail}")
        assert resp.status_code == 404, tail
    # No write of any kind, anonymous or logged in.
    for client in (anon, world.client("owner")):
        for method in ("post", "put", "patch", "delete"):
            for path in (
                f"/api/v1/shared/{public}",
                f"/api/v1/shared/{public}/scalars",
                f"/api/v1/shared/{public}/images/{world.images['a_base']}",
            ):
                resp = getattr(client, method)(path, data="{}", content_type="application/json")
                assert resp.status_code in (403, 405), (method, path, resp.status_code)


def test_link_token_is_no_credential_elsewhere(world: World, public: str) -> None:
    anon = Client()
    for path in (
        "/api/v1/projects",
        "/api/v1/projects/alpha",
        "/api/v1/projects/alpha/runs",
        f"/api/v1/projects/alpha/scalars?run_id={world.a_base.pk}&tag=loss",
        f"/api/v1/projects/alpha/images/{world.images['a_base']}",
        "/api/v1/projects/alpha/sources",
        "/api/v1/projects/alpha/members",
        "/api/v1/projects/beta/runs/status",
        f"/api/v1/comparisons/{world.key}",
        f"/api/v1/comparisons/{world.key}/scalars?run_id={world.a_base.pk}&tag=loss",
        "/api/v1/comparisons",
        "/api/v1/me",
    ):
        resp = call(anon, "GET", path, token=public)
        assert resp.status_code == 401, path
        resp = anon.get(path)  # and without it
        assert resp.status_code == 401, path
    # A link is not a session either: the project dashboard sends an anonymous visitor to log in.
    assert anon.get("/projects/alpha/dashboard").status_code == 302


# ---- dead tokens -------------------------------------------------------------------------------


def _all_paths(token: str, world: World) -> list[str]:
    run = world.a_base.pk
    return [
        f"/api/v1/shared/{token}",
        *(
            f"/api/v1/shared/{token}/{e}?run_id={run}&tag={p.get('tag', '')}"
            for e, p in RUN_ENDPOINTS.items()
        ),
        f"/api/v1/shared/{token}/scalars/batch?tag=loss&run_ids={run}",
        f"/api/v1/shared/{token}/images/{world.images['a_base']}",
    ]


def test_revoked_links_are_404_at_once_and_never_come_back(world: World, public: str) -> None:
    owner = world.client("owner")
    anon = Client()
    assert all(anon.get(p).status_code == 200 for p in _all_paths(public, world))
    resp = call(owner, "DELETE", f"/api/v1/comparisons/{world.key}/links/{public}")
    assert resp.status_code == 204
    for p in _all_paths(public, world):
        assert is_404_json(anon.get(p)), p
    assert anon.get(f"/s/{public}").status_code == 404
    # Revoking again is harmless; a new link is another token; the old one stays dead.
    assert (
        call(owner, "DELETE", f"/api/v1/comparisons/{world.key}/links/{public}").status_code == 204
    )
    fresh = world.link()
    assert fresh != public
    assert anon.get(f"/api/v1/shared/{fresh}").status_code == 200
    assert is_404_json(anon.get(f"/api/v1/shared/{public}"))


def test_expired_unknown_and_guessed_tokens_are_404(world: World) -> None:
    anon = Client()
    expiring = world.link(days=1)
    assert anon.get(f"/api/v1/shared/{expiring}").status_code == 200
    ShareLink.objects.filter(comparison=world.comparison).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    for token in (
        expiring,
        secrets.token_urlsafe(24),  # well-formed, unknown
        expiring[:-1] + ("A" if expiring[-1] != "A" else "B"),  # one character off
        expiring[:-1],
        "x",
        "a" * 200,
    ):
        for p in _all_paths(token, world):
            assert anon.get(p).status_code == 404, p
        assert anon.get(f"/s/{token}").status_code == 404


def test_a_link_of_another_comparison_reaches_only_its_own(world: World, public: str) -> None:
    from hub import comparisons

    other = comparisons.comparison_create(user=world.owner, title="only beta", runs=[world.b_lr.pk])
    _, raw = comparisons.link_create(comparison=other, user=world.owner, kind=ShareKind.PUBLIC)
    anon = Client()
    assert (
        anon.get(
            f"/api/v1/shared/{raw}/scalars", {"run_id": world.b_lr.pk, "tag": "loss"}
        ).status_code
        == 200
    )
    assert is_404_json(
        anon.get(f"/api/v1/shared/{raw}/scalars", {"run_id": world.a_base.pk, "tag": "loss"})
    )
    assert is_404_json(
        anon.get(f"/api/v1/shared/{public}/scalars", {"run_id": world.b_lr.pk, "tag": "loss"})
    )


def test_a_deactivated_owner_takes_the_links_down(world: World, public: str) -> None:
    world.owner.is_active = False
    world.owner.save(update_fields=["is_active"])
    assert is_404_json(Client().get(f"/api/v1/shared/{public}"))


# ---- who a link admits -------------------------------------------------------------------------

CALLERS = ["anonymous", "outsider", "member_one", "member_all", "named", "owner", "admin"]
EXPECTED = {
    ShareKind.PUBLIC: dict.fromkeys(CALLERS, 200),
    ShareKind.MEMBERS: {
        "anonymous": 401,
        "outsider": 404,
        "member_one": 404,
        "member_all": 200,
        "named": 404,
        "owner": 200,
        "admin": 200,
    },
    ShareKind.USERS: {
        "anonymous": 401,
        "outsider": 404,
        "member_one": 404,
        "member_all": 404,
        "named": 200,
        "owner": 200,
        "admin": 200,
    },
}


@pytest.mark.parametrize("kind", [ShareKind.PUBLIC, ShareKind.MEMBERS, ShareKind.USERS])
@pytest.mark.parametrize("who", CALLERS)
def test_link_kinds(world: World, kind: str, who: str) -> None:
    token = world.link(kind, users=[world.named] if kind == ShareKind.USERS else None)
    client = world.client(who)
    expected = EXPECTED[kind][who]
    for p in _all_paths(token, world):
        resp = client.get(p)
        assert resp.status_code == expected, (kind, who, p, resp.status_code)
        assert resp["Content-Type"].startswith("application/json") or resp.status_code == 200
    page = client.get(f"/s/{token}")
    if expected == 200:
        assert page.status_code == 200
    elif expected == 401:
        assert page.status_code == 302 and "/accounts/login/" in page["Location"]
    else:
        assert page.status_code == 404
    # A personal access token counts as its user.
    if who not in ("anonymous",):
        from tests import factories

        _, pat = factories.token(user=getattr(world, who), read_only=True)
        resp = call(Client(), "GET", f"/api/v1/shared/{token}", token=pat)
        assert resp.status_code == expected


def test_members_link_follows_membership(world: World) -> None:
    from hub.models import Membership

    token = world.link(ShareKind.MEMBERS)
    mara = world.client("member_all")
    assert mara.get(f"/api/v1/shared/{token}").status_code == 200
    Membership.objects.filter(user=world.member_all, project=world.beta).delete()
    assert is_404_json(mara.get(f"/api/v1/shared/{token}"))


# ---- hidden, deleted, missing ------------------------------------------------------------------


def test_hidden_and_deleted_runs_are_reported_not_broken(world: World, public: str) -> None:
    from ingest.models import Run

    Run.objects.filter(pk=world.a_lr.pk).update(hidden=True)
    Run.objects.filter(pk=world.b_base.pk).update(
        data_deleted_at=timezone.now(), data_deleted_reason="retention"
    )
    anon = Client()
    data = body(anon.get(f"/api/v1/shared/{public}"))
    by_id = {r["id"]: r for r in data["runs"]}
    assert [r["id"] for r in data["runs"]] == [world.a_base.pk, world.b_base.pk, world.a_lr.pk]
    assert by_id[world.a_base.pk]["available"] is True
    assert by_id[world.b_base.pk] | {"tags": None} == by_id[world.b_base.pk] | {
        "available": False,
        "reason": "deleted",
        "deleted_by": "retention",
        "tags": None,
    }
    assert by_id[world.a_lr.pk]["available"] is False and by_id[world.a_lr.pk]["reason"] == "hidden"
    # A hidden run's tags are not revealed through the link.
    assert by_id[world.a_lr.pk]["tags"]["scalars"] == []
    for rid in (world.b_base.pk, world.a_lr.pk):
        assert is_404_json(
            anon.get(f"/api/v1/shared/{public}/scalars", {"run_id": rid, "tag": "loss"})
        )
    assert (
        anon.get(
            f"/api/v1/shared/{public}/scalars", {"run_id": world.a_base.pk, "tag": "loss"}
        ).status_code
        == 200
    )
    # The run gone altogether (its source deleted): still listed, as missing.
    world.b_base.source.delete()
    data = body(anon.get(f"/api/v1/shared/{public}"))
    gone = next(r for r in data["runs"] if r["id"] == world.b_base.pk)
    assert gone["available"] is False and gone["reason"] == "missing"
    assert gone["name"] == "baseline" and gone["project"] == "beta"
    assert anon.get(f"/s/{public}").status_code == 200


def test_runs_of_projects_the_owner_left_are_withheld(world: World, public: str) -> None:
    from hub.models import Membership

    Membership.objects.filter(user=world.owner, project=world.beta).delete()
    anon = Client()
    data = body(anon.get(f"/api/v1/shared/{public}"))
    b = next(r for r in data["runs"] if r["id"] == world.b_base.pk)
    assert b["available"] is False and b["reason"] == "missing"
    assert b["tags"]["scalars"] == []
    assert is_404_json(
        anon.get(f"/api/v1/shared/{public}/scalars", {"run_id": world.b_base.pk, "tag": "loss"})
    )
    assert is_404_json(anon.get(f"/api/v1/shared/{public}/images/{world.images['b_base']}"))


def test_last_used_is_recorded_at_most_once_a_minute(world: World, public: str) -> None:
    link = ShareLink.objects.get(comparison=world.comparison)
    assert link.last_used_at is None
    Client().get(f"/api/v1/shared/{public}")
    link.refresh_from_db()
    first = link.last_used_at
    assert first is not None
    Client().get(f"/api/v1/shared/{public}/scalars", {"run_id": world.a_base.pk, "tag": "loss"})
    link.refresh_from_db()
    assert link.last_used_at == first
    ShareLink.objects.filter(pk=link.pk).update(last_used_at=first - timedelta(minutes=2))
    Client().get(f"/api/v1/shared/{public}")
    link.refresh_from_db()
    assert link.last_used_at > first - timedelta(minutes=2)


def test_shared_responses_never_leak_the_token_as_referrer(world: World, public: str) -> None:
    resp = Client().get(f"/api/v1/shared/{public}")
    assert resp["Referrer-Policy"] == "no-referrer"
    page = Client().get(f"/s/{public}")
    assert page["Referrer-Policy"] == "same-origin"  # forms need a real Origin for CSRF
    assert page["Cache-Control"] == "no-store"
