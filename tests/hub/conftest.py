"""Fixtures for the hub tests: a project with one member of each role, plus outsiders."""

from __future__ import annotations

import json as jsonlib
from dataclasses import dataclass
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from tests import factories


@dataclass
class World:
    owner: Any
    editor: Any
    viewer: Any
    outsider: Any
    admin: Any
    project: Any
    other: Any  # a project none of the above (except admin) belongs to
    other_owner: Any


@pytest.fixture
def world(db: Any) -> World:
    owner = factories.user(username="olivia")
    editor = factories.user(username="eddie")
    viewer = factories.user(username="vera")
    outsider = factories.user(username="otto")
    admin = factories.user(username="ada", superuser=True)
    other_owner = factories.user(username="zed")
    project = factories.project(
        slug="vision", name="Vision", owner=owner, editors=(editor,), viewers=(viewer,)
    )
    other = factories.project(slug="secret", name="Secret", owner=other_owner)
    return World(owner, editor, viewer, outsider, admin, project, other, other_owner)


@pytest.fixture(autouse=True)
def _clear_login_counters() -> None:
    """Login rate-limit counters live in the shared cache (Redis): start each test without any.
    Only those keys are removed, never the whole database (the broker may share it)."""
    try:
        client = cache._cache.get_client(None, write=True)  # type: ignore[attr-defined]
    except AttributeError:  # not Redis
        cache.clear()
        return
    for key in client.scan_iter(match="*hub:login-fail:*", count=1000):
        client.delete(key)


def logged_in(user: Any, *, csrf: bool = False) -> Client:
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user)
    return client


def call(
    client: Client,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> Any:
    kwargs: dict[str, Any] = {}
    if body is not None:
        kwargs["data"] = jsonlib.dumps(body)
        kwargs["content_type"] = "application/json"
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    return getattr(client, method.lower())(path, headers=hdrs, **kwargs)


@pytest.fixture(autouse=True)
def queued_work() -> Any:
    """Work the services enqueue (listings, tails) is recorded instead of sent to Celery."""
    from ingest import dispatch

    queued: list[tuple[str, int]] = []
    dispatch.local_set(lambda kind, ident: queued.append((kind, ident)))
    yield queued
    dispatch.local_set(None)


@pytest.fixture
def roots(tmp_path: Any, settings: Any) -> Any:
    """A local root the hub may read (TBHUB_LOCAL_ROOTS) with one run directory in it."""
    root = tmp_path / "logs"
    (root / "run-a").mkdir(parents=True)
    (root / "run-a" / "events.out.tfevents.1.host").write_bytes(b"")
    settings.TBHUB_LOCAL_ROOTS = [str(root)]
    return root
