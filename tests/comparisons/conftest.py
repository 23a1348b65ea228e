"""Fixtures for comparisons and share links (issue #5): two projects whose runs are compared, runs
of the same projects that are NOT in the comparison, a third project nobody here may read, and a
user for every relation a link can have to them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client

from hub import comparisons
from hub.models import Comparison, Role, ShareKind
from ingest.models import GraphBlob, GraphKind, Run
from ingest.proto import graph_pb2
from tests import factories
from tests.hub.conftest import call, logged_in

__all__ = ["World", "call", "logged_in"]


def graph_bytes(*names: str) -> bytes:
    gd = graph_pb2.GraphDef()
    prev = ""
    for name in names:
        n = gd.node.add()
        n.name = name.encode()
        n.op = b"Identity" if prev else b"Placeholder"
        if prev:
            n.input.append(prev.encode())
        prev = name
    return gd.SerializeToString()


def fill(run: Run, *, seed: float = 0.0) -> dict[str, Any]:
    """Every kind of stored data for one run; returns the ids a test may aim at."""
    factories.scalars(
        run=run, tag="loss", steps=[0, 1, 2, 3], values=[seed + 1, seed + 0.5, seed + 0.25, seed]
    )
    factories.histogram(run=run, tag="weights", step=1)
    factories.histogram(run=run, tag="weights", step=2)
    img = factories.image(run=run, tag="samples", step=1)
    factories.text(run=run, tag="notes", step=1, value=f"notes of {run.name}")
    data = graph_bytes("x", f"{run.name.replace('.', '_')}_y")
    GraphBlob.objects.create(
        run=run,
        kind=GraphKind.GRAPH_DEF,
        seq=0,
        step=0,
        wall_time=1.0,
        node_count=2,
        sha256="0" * 64,
        data=data,
    )
    run.version = 3
    run.save(update_fields=["version"])
    return {"image": img.pk}


@dataclass
class World:
    owner: Any  # owner of the comparison; member of alpha and beta
    member_all: Any  # viewer of alpha and beta
    member_one: Any  # viewer of alpha only
    named: Any  # no membership; named in `users` links
    outsider: Any  # nothing
    admin: Any
    alpha: Any
    beta: Any
    gamma: Any  # nobody above (but admin) may read it
    a_base: Run  # alpha/baseline (in the comparison)
    a_lr: Run  # alpha/lr-0.1 (in the comparison)
    a_out: Run  # alpha/other-run (NOT in the comparison)
    b_base: Run  # beta/baseline (in the comparison, alias "beta baseline")
    b_lr: Run  # beta/lr-0.1 (NOT in the comparison: the name exists in the comparison too)
    g_run: Run  # gamma/secret-run
    images: dict[str, int] = field(default_factory=dict)
    comparison: Comparison | None = None

    @property
    def key(self) -> str:
        assert self.comparison is not None
        return self.comparison.key

    def link(
        self,
        kind: str = ShareKind.PUBLIC,
        *,
        users: list[Any] | None = None,
        days: int | None = None,
    ) -> str:
        assert self.comparison is not None
        _, raw = comparisons.link_create(
            comparison=self.comparison,
            user=self.owner,
            kind=kind,
            usernames=[u.username for u in users] if users else None,
            expires_in_days=days,
        )
        return raw

    def client(self, who: str) -> Client:
        if who == "anonymous":
            return Client()
        return logged_in(getattr(self, who))


@pytest.fixture
def world(db: Any) -> World:
    owner = factories.user(username="olga")
    member_all = factories.user(username="mara")
    member_one = factories.user(username="mono")
    named = factories.user(username="nina")
    outsider = factories.user(username="otto")
    admin = factories.user(username="ada", superuser=True)
    gamma_owner = factories.user(username="zed")
    alpha = factories.project(
        slug="alpha", name="Alpha", owner=owner, viewers=(member_all, member_one)
    )
    beta = factories.project(slug="beta", name="Beta", viewers=(member_all,))
    factories.membership(project=beta, user=owner, role=Role.EDITOR)
    gamma = factories.project(slug="gamma", name="Gamma", owner=gamma_owner)
    sa = factories.source(project=alpha)
    sb = factories.source(project=beta)
    sg = factories.source(project=gamma)
    runs = {
        "a_base": factories.run(source=sa, name="baseline"),
        "a_lr": factories.run(source=sa, name="lr-0.1"),
        "a_out": factories.run(source=sa, name="other-run"),
        "b_base": factories.run(source=sb, name="baseline"),
        "b_lr": factories.run(source=sb, name="lr-0.1"),
        "g_run": factories.run(source=sg, name="secret-run"),
    }
    images = {}
    for i, (label, run) in enumerate(runs.items()):
        images[label] = fill(run, seed=float(i))["image"]
    w = World(
        owner=owner,
        member_all=member_all,
        member_one=member_one,
        named=named,
        outsider=outsider,
        admin=admin,
        alpha=alpha,
        beta=beta,
        gamma=gamma,
        images=images,
        **runs,
    )
    w.comparison = comparisons.comparison_create(
        user=owner,
        title="Baselines across teams",
        runs=[w.a_base.pk, {"id": w.b_base.pk, "alias": "beta baseline"}, w.a_lr.pk],
        state={"smoothing": 0.3, "run_colors": {str(w.a_lr.pk): "#112233"}, "panel": "scalars"},
    )
    return w


@pytest.fixture
def public(world: World) -> str:
    return world.link(ShareKind.PUBLIC)


Get = Callable[..., Any]
