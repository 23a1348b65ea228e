"""Retention tests: real event files under pytest's temporary directory (allowed as a local root
in the source policy, as team mode re-checks it on every listing and tail), ingested by the real
services, then reduced by ingest.retention."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import override_settings


@pytest.fixture(autouse=True)
def _retention_settings() -> Iterator[None]:
    with override_settings(
        TBHUB_LOCAL_ROOTS=[tempfile.gettempdir()],
        TBHUB_ALLOWED_ENDPOINTS=[],
        TBHUB_RETENTION_BATCH=200,
        TBHUB_RETENTION_CAP_GRACE_HOURS=24.0,
    ):
        yield


@pytest.fixture(autouse=True)
def queued_work() -> Iterator[list[tuple[str, int]]]:
    """Work services enqueue (listings, tails) is recorded instead of sent to Celery."""
    from ingest import dispatch

    queued: list[tuple[str, int]] = []
    dispatch.local_set(lambda kind, ident: queued.append((kind, ident)))
    yield queued
    dispatch.local_set(None)


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
    from tests import factories

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
