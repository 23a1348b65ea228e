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


class ProjectConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

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
        # The data version *after* joining the group: a page whose data is at this version has
        # missed nothing; any later commit arrives as a notice.
        version = await self._data_version(project_id)
        await self.send_json({"type": "hello", "project": slug, "version": version})

    async def disconnect(self, code: int) -> None:
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
