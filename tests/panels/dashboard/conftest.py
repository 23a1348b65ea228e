"""Fixtures for the dashboard-side tests (graphs, prefs, batch, pages): a project with runs and
stored data written straight into the store tables (the decoder has its own tests), and clients
for a member and a stranger."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from hub.models import Membership, Project, Role
from ingest import store
from ingest.models import GraphBlob, Kind, Run, ScalarChunk, Series, Source


@pytest.fixture
def project(db: Any) -> Project:
    return Project.objects.create(name="Vision", slug="vision")


@pytest.fixture
def other_project(db: Any) -> Project:
    return Project.objects.create(name="Secret", slug="secret")


@pytest.fixture
def make_run() -> Callable[..., Run]:
    def make(project: Project, name: str) -> Run:
        source, _ = Source.objects.get_or_create(project=project, url=f"/logs/{project.slug}")
        return Run.objects.create(source=source, name=name, start_time=1.0)

    return make


@pytest.fixture
def add_scalars() -> Callable[..., Series]:
    def add(
        run: Run, tag: str, steps: Sequence[int], values: Sequence[float], dtype: str = "f4"
    ) -> Series:
        s = np.asarray(steps, dtype="<i8")
        w = 1000.0 + s.astype("<f8")
        v = np.asarray(values, dtype="<" + dtype)
        series = Series.objects.create(
            run=run,
            tag=tag,
            kind=Kind.SCALAR,
            count=len(s),
            first_step=int(s[0]),
            last_step=int(s[-1]),
        )
        # The store's own column encoding, whatever it is (ingest.store owns the format).
        chunk = ScalarChunk(series=series, seq=0)
        store._fill_chunk(chunk, s, w, v)
        chunk.save()
        return series

    return add


@pytest.fixture
def add_graph() -> Callable[..., GraphBlob]:
    def add(
        run: Run,
        kind: str,
        data: bytes,
        tag: str = "",
        step: int = 0,
        node_count: int | None = None,
    ) -> GraphBlob:
        seq = GraphBlob.objects.filter(run=run).count()
        return GraphBlob.objects.create(
            run=run,
            kind=kind,
            tag=tag,
            seq=seq,
            step=step,
            wall_time=1.0,
            node_count=node_count,
            sha256="x",
            data=data,
        )

    return add


@pytest.fixture
def member(db: Any, project: Project) -> Any:
    user = get_user_model().objects.create_user("ana", password="pw-ana-123")
    Membership.objects.create(project=project, user=user, role=Role.VIEWER)
    return user


@pytest.fixture
def client_member(member: Any) -> Client:
    c = Client()
    c.force_login(member)
    return c


@pytest.fixture
def client_stranger(db: Any) -> Client:
    user = get_user_model().objects.create_user("eve", password="pw-eve-123")
    c = Client()
    c.force_login(user)
    return c
