"""The comparison websocket (`ws/shared/{token}`, `ws/comparisons/{id}`): authorised like the
link, joined to the source projects' groups, forwarding ONLY the notices of the comparison's
available runs, closed at once when the link is revoked or the comparison deleted."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer
from django.contrib.auth.models import AnonymousUser

from hub import comparisons
from hub.models import ShareKind
from ingest.models import Run
from ingest.notices import project_group
from panels.consumers import ComparisonConsumer
from panels.routing import websocket_application
from tbhub import ops
from tests.comparisons.conftest import World

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
async def _close_thread_connections() -> Any:
    """Consumers query from asgiref's thread: close that thread's connection after each test, so
    the test database can be dropped at the end of the session."""
    yield
    from django.db import connections

    await sync_to_async(connections.close_all)()


class WebsocketCommunicator(ApplicationCommunicator):  # type: ignore[misc]
    """channels.testing's, without its import of daphne (not installed here)."""

    def __init__(self, app: Any, path: str) -> None:
        super().__init__(
            app,
            {
                "type": "websocket",
                "path": path,
                "query_string": b"",
                "headers": [],
                "subprotocols": [],
            },
        )

    async def connect(self, timeout: float = 1) -> tuple[bool, Any]:
        await self.send_input({"type": "websocket.connect"})
        out = await self.receive_output(timeout)
        return out["type"] == "websocket.accept", out.get("subprotocol")

    async def receive_json_from(self, timeout: float = 1) -> Any:
        import json

        out = await self.receive_output(timeout)
        assert out["type"] == "websocket.send", out
        return json.loads(out["text"])

    async def disconnect(self, code: int = 1000, timeout: float = 1) -> None:
        await self.send_input({"type": "websocket.disconnect", "code": code})
        await self.wait(timeout)


def notice(run: Run, **extra: Any) -> dict[str, Any]:
    return {
        "type": "ingest.update",
        "project": run.source.project_id,
        "run_id": run.pk,
        "run": run.name,
        "version": 4,
        "last_step": 9,
        "kinds": {"scalars": ["loss"]},
        "new_run": False,
        "new_tags": False,
        "purged": False,
        **extra,
    }


async def connect(path: str, user: Any = None) -> WebsocketCommunicator:
    comm = WebsocketCommunicator(websocket_application, path)
    comm.scope["user"] = user or AnonymousUser()
    connected, _ = await comm.connect(timeout=5)
    assert connected
    return comm


async def closed_with(comm: WebsocketCommunicator, code: int) -> bool:
    out = await comm.receive_output(timeout=5)
    return out["type"] == "websocket.close" and out.get("code") == code


async def test_public_link_forwards_only_its_runs(world: World) -> None:
    token = await sync_to_async(world.link)(ShareKind.PUBLIC)
    runs = {
        n: await sync_to_async(Run.objects.select_related("source").get)(pk=getattr(world, n).pk)
        for n in ("a_base", "a_out", "b_base", "b_lr", "g_run")
    }
    before = ops._tracker.snapshot().get(ops.COMPARISON_WS_KEY, 0)
    comm = await connect(f"/ws/shared/{token}")
    hello = await comm.receive_json_from(timeout=5)
    assert hello["type"] == "hello" and hello["version"].startswith("c")
    # Counted for tbhub_comparison_websocket_clients, not under any project.
    assert ops._tracker.snapshot().get(ops.COMPARISON_WS_KEY, 0) == before + 1
    layer = get_channel_layer()
    # Outside the comparison: same project, the other source project, a project not shared.
    for name in ("a_out", "b_lr", "g_run"):
        await layer.group_send(project_group(runs[name].source.project_id), notice(runs[name]))
    assert await comm.receive_nothing(timeout=0.5)
    await layer.group_send(project_group(runs["b_base"].source.project_id), notice(runs["b_base"]))
    got = await comm.receive_json_from(timeout=5)
    assert got["run_id"] == runs["b_base"].pk and got["kinds"] == {"scalars": ["loss"]}
    assert "project" not in got
    # Revoked: closed at once.
    link = await sync_to_async(comparisons.link_get)(comparison=world.comparison, raw=token)
    await sync_to_async(comparisons.link_revoke)(link=link, user=world.owner)
    assert await closed_with(comm, 4404)
    await comm.disconnect()
    assert ops._tracker.snapshot().get(ops.COMPARISON_WS_KEY, 0) == before
    # And a new connection through it is refused (and never counted).
    comm = await connect(f"/ws/shared/{token}")
    assert await closed_with(comm, 4404)
    await comm.disconnect()
    assert ops._tracker.snapshot().get(ops.COMPARISON_WS_KEY, 0) == before


@pytest.mark.parametrize(
    ("kind", "who", "admitted"),
    [
        (ShareKind.MEMBERS, None, False),
        (ShareKind.MEMBERS, "member_one", False),
        (ShareKind.MEMBERS, "member_all", True),
        (ShareKind.USERS, "member_all", False),
        (ShareKind.USERS, "named", True),
        (ShareKind.USERS, "owner", True),
    ],
)
async def test_link_kinds_on_the_websocket(
    world: World, kind: str, who: str | None, admitted: bool
) -> None:
    token = await sync_to_async(world.link)(
        kind, users=[world.named] if kind == ShareKind.USERS else None
    )
    comm = await connect(f"/ws/shared/{token}", getattr(world, who) if who else None)
    if admitted:
        assert (await comm.receive_json_from(timeout=5))["type"] == "hello"
    else:
        assert await closed_with(comm, 4404)
    await comm.disconnect()


async def test_unknown_tokens_and_non_owners_are_refused(world: World) -> None:
    for path, user in (
        ("/ws/shared/" + "A" * 32, None),
        ("/ws/shared/short", None),
        (f"/ws/comparisons/{world.key}", None),
        (f"/ws/comparisons/{world.key}", world.member_all),
        ("/ws/comparisons/nosuchkey", world.owner),
    ):
        comm = await connect(path, user)
        assert await closed_with(comm, 4404), path
        await comm.disconnect()


async def test_owner_socket_hears_changes_and_deletion(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ComparisonConsumer, "RECHECK_SECONDS", 0.0)
    a_lr = await sync_to_async(Run.objects.select_related("source").get)(pk=world.a_lr.pk)
    comm = await connect(f"/ws/comparisons/{world.key}", world.owner)
    assert (await comm.receive_json_from(timeout=5))["type"] == "hello"
    layer = get_channel_layer()
    await layer.group_send(project_group(a_lr.source.project_id), notice(a_lr))
    assert (await comm.receive_json_from(timeout=5))["run_id"] == a_lr.pk
    # Hidden in its project: its notices stop (the consumer re-checks the runs).
    await sync_to_async(Run.objects.filter(pk=a_lr.pk).update)(hidden=True)
    await layer.group_send(project_group(a_lr.source.project_id), notice(a_lr))
    assert await comm.receive_nothing(timeout=0.5)
    # The owner renames it: the page is told to reload.
    await sync_to_async(comparisons.comparison_update)(
        comparison=world.comparison, user=world.owner, title="t2"
    )
    assert (await comm.receive_json_from(timeout=5)) == {"type": "comparison.changed"}
    await sync_to_async(comparisons.comparison_delete)(
        comparison=world.comparison, user=world.owner
    )
    assert await closed_with(comm, 4404)
    await comm.disconnect()
