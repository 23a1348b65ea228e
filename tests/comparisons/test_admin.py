"""Django admin for comparisons and share links: admins see them, never the tokens, and can
revoke a link (it stops working at once, audited) or delete a comparison."""

from __future__ import annotations

from hub.models import AuditEvent, Comparison, ShareKind, ShareLink
from tests.comparisons.conftest import World, logged_in


def test_comparison_admin_pages_render_without_tokens(world: World, public: str) -> None:
    admin = logged_in(world.admin)
    assert world.comparison is not None
    link = ShareLink.objects.get()
    for path in (
        "/admin/hub/comparison/",
        f"/admin/hub/comparison/{world.comparison.pk}/change/",
        "/admin/hub/sharelink/",
        f"/admin/hub/sharelink/{link.pk}/change/",
    ):
        resp = admin.get(path)
        assert resp.status_code == 200, path
        body = resp.content.decode()
        assert public not in body, path
        assert link.token_hash not in body, path
    listing = admin.get("/admin/hub/comparison/").content.decode()
    assert "Baselines across teams" in listing
    assert world.comparison.key in listing
    # 3 runs and 1 active link in the list columns.
    assert '<td class="field-run_count">3</td>' in listing
    assert '<td class="field-active_links">1</td>' in listing
    detail = admin.get(f"/admin/hub/comparison/{world.comparison.pk}/change/").content.decode()
    assert "beta baseline" in detail  # the alias of a compared run
    assert "lr-0.1" in detail


def test_comparison_admin_is_for_staff_only(world: World, public: str) -> None:
    for who in ("owner", "outsider"):
        resp = world.client(who).get("/admin/hub/sharelink/")
        assert resp.status_code == 302, who
        assert resp["Location"].startswith("/admin/login/")


def test_admin_revokes_a_link_at_once(world: World, public: str) -> None:
    anonymous = world.client("anonymous")
    assert anonymous.get(f"/api/v1/shared/{public}").status_code == 200
    members_link = world.link(ShareKind.MEMBERS)
    public_row = ShareLink.objects.get(kind=ShareKind.PUBLIC)
    admin = logged_in(world.admin)
    resp = admin.post(
        "/admin/hub/sharelink/",
        {"action": "revoke", "_selected_action": [str(public_row.pk)]},
    )
    assert resp.status_code == 302
    public_row.refresh_from_db()
    assert public_row.status == "revoked"
    assert public_row.revoked_by == world.admin
    assert anonymous.get(f"/api/v1/shared/{public}").status_code == 404
    # The other link is untouched.
    assert ShareLink.objects.get(kind=ShareKind.MEMBERS).status == "active"
    assert world.client("member_all").get(f"/api/v1/shared/{members_link}").status_code == 200
    revokes = AuditEvent.objects.filter(action="share.revoke", via="admin")
    # One event per source project of the comparison (alpha and beta).
    assert sorted(e.project_slug for e in revokes) == ["alpha", "beta"]
    assert {e.actor_username for e in revokes} == {"ada"}


def test_admin_deletes_a_comparison_and_its_links(world: World, public: str) -> None:
    assert world.comparison is not None
    admin = logged_in(world.admin)
    resp = admin.post(f"/admin/hub/comparison/{world.comparison.pk}/delete/", {"post": "yes"})
    assert resp.status_code == 302
    assert not Comparison.objects.exists()
    assert not ShareLink.objects.exists()
    assert world.client("anonymous").get(f"/api/v1/shared/{public}").status_code == 404
