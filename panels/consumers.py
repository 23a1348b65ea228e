"""Websocket consumers: join the project's group, forward change notices. Nothing else.

Authenticated by the session (AuthMiddlewareStack in tbhub/asgi.py) and scoped to the project by
`hub.access.project_id_for_user`; a caller who may not read the project is closed with 4404 (the
same answer as for a project that does not exist). Messages: {"type": "hello", "project": slug,
"version": <project data version>}, then the `ingest.update` notices of ingest.notices, unchanged.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from ingest.notices import project_group
from tbhub.ops import (
    ws_client_connected,
    ws_client_disconnected,
    ws_comparison_connected,
    ws_comparison_disconnected,
)


class ProjectConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None
    counted_project: int | None = None

    async def connect(self) -> None:
        slug = self.scope["url_route"]["kwargs"]["slug"]
        project_id = await self._project_id(slug)
        if project_id is None:
            # Accept first so that the browser sees the reason (4404) and stops retrying.
            await self.accept()
            await self.close(code=4404)
            return
        self.group = project_group(project_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        self.counted_project = project_id
        ws_client_connected(project_id)
        # The data version *after* joining the group: a page whose data is at this version has
        # missed nothing; any later commit arrives as a notice.
        version = await self._data_version(project_id)
        await self.send_json({"type": "hello", "project": slug, "version": version})

    async def disconnect(self, code: int) -> None:
        if self.counted_project is not None:
            ws_client_disconnected(self.counted_project)
            self.counted_project = None
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def ingest_update(self, event: dict[str, Any]) -> None:
        await self.send_json(event)

    @database_sync_to_async
    def _data_version(self, project_id: int) -> str:
        from hub.models import Project
        from panels.selectors import project_data_version

        project = Project.objects.filter(pk=project_id).first()
        return project_data_version(project=project) if project is not None else ""

    @database_sync_to_async
    def _project_id(self, slug: str) -> int | None:
        from hub.access import project_id_for_user

        return project_id_for_user(self.scope.get("user"), slug)


class ComparisonConsumer(AsyncJsonWebsocketConsumer):
    """Live updates of a comparison (issue #5): `ws/shared/{token}` (authorised like the link)
    and `ws/comparisons/{id}` (the owner or an admin, by session).

    Joins the groups of the comparison's source projects and forwards ONLY the notices of the
    comparison's available runs (without the project id). A revoked link, a deleted comparison or
    a caller no longer admitted is closed with 4404; the link and the run set are re-checked at
    least every RECHECK_SECONDS while notices flow, and at once when the owner changes the
    comparison (`comparison.changed`, forwarded so the page reloads its runs).
    """

    RECHECK_SECONDS = 10.0

    groups_joined: list[str]
    counted = False  # counted in tbhub_comparison_websocket_clients
    run_ids: set[int]
    available: set[int]

    async def connect(self) -> None:
        self.groups_joined = []
        self.run_ids = set()
        self.available = set()
        self.checked = 0.0
        kwargs = self.scope["url_route"]["kwargs"]
        self.token: str | None = kwargs.get("token")
        self.key: str | None = kwargs.get("key")
        state = await self._authorize()
        if state is None:
            await self.accept()
            await self.close(code=4404)
            return
        groups, version = state
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined.append(group)
        await self.accept()
        self.counted = True
        ws_comparison_connected()
        # The version *after* joining: a page whose data is at this version missed nothing.
        version = await self._version()
        await self.send_json({"type": "hello", "version": version})

    async def disconnect(self, code: int) -> None:
        if self.counted:
            ws_comparison_disconnected()
            self.counted = False
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def ingest_update(self, event: dict[str, Any]) -> None:
        import time

        run_id = event.get("run_id")
        if run_id not in self.run_ids:
            return
        stale = time.monotonic() - self.checked > self.RECHECK_SECONDS
        if (run_id not in self.available or stale) and await self._authorize() is None:
            await self.close(code=4404)
            return
        if run_id in self.available:
            await self.send_json({k: v for k, v in event.items() if k != "project"})

    async def comparison_changed(self, event: dict[str, Any]) -> None:
        if await self._authorize() is None:
            await self.close(code=4404)
            return
        await self.send_json({"type": "comparison.changed"})

    async def comparison_closed(self, event: dict[str, Any]) -> None:
        await self.close(code=4404)

    async def share_closed(self, event: dict[str, Any]) -> None:
        await self.close(code=4404)

    @database_sync_to_async
    def _authorize(self) -> tuple[list[str], str] | None:
        """(groups to join, version), or None if the caller may not read the comparison (any
        more). Refreshes the run sets."""
        import time

        from hub import comparisons
        from hub.access import NotAuthenticated
        from hub.errors import NotFound

        user = self.scope.get("user")
        try:
            if self.token is not None:
                link = comparisons.link_resolve(raw=self.token, user=user, touch=False)
                comparison = link.comparison
                extra = [comparisons.link_group(link.pk)]
            else:
                comparison = comparisons.comparison_for_owner(user=user, key=self.key or "")
                extra = []
        except (NotFound, NotAuthenticated):
            return None
        resolved = comparisons.resolve_runs(comparison)
        self.run_ids = {e.run_id for e in resolved.entries}
        self.available = set(resolved.available)
        self.checked = time.monotonic()
        self.comparison_id = comparison.pk
        groups = [project_group(pid) for pid in sorted(resolved.project_ids)]
        return [*groups, comparisons.comparison_group(comparison.pk), *extra], resolved.version

    @database_sync_to_async
    def _version(self) -> str:
        from hub import comparisons
        from hub.models import Comparison

        comparison = (
            Comparison.objects.select_related("owner").filter(pk=self.comparison_id).first()
        )
        return comparisons.resolve_runs(comparison).version if comparison is not None else ""
