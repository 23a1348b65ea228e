"""Test data builders (STYLE.md §4.12): users, projects with members, sources, runs, stored
summaries and tokens. Plain functions with keyword arguments and sensible defaults, so a test
says only what matters to it. Store rows are written directly (as `ingest.store` lays them out)
for tests of reads and authorization that do not need the decoder.
"""

from __future__ import annotations

import hashlib
import itertools
from datetime import timedelta
from typing import Any

import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone

from hub.crypto import credentials_encrypt
from hub.models import AccessToken, Membership, Project, Role
from ingest.models import (
    EventFile,
    HistogramPoint,
    ImagePoint,
    Kind,
    Run,
    ScalarChunk,
    Series,
    Source,
    SourceStatus,
    TextPoint,
)

_seq = itertools.count(1)

# A valid 1x1 PNG.
PNG_1X1 = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201a5d4a1"
    "5b0000000049454e44ae426082"
)


def _n() -> int:
    return next(_seq)


def user(
    *,
    username: str | None = None,
    password: str = "pw-for-tests-1",
    superuser: bool = False,
    active: bool = True,
) -> Any:
    name = username or f"user{_n()}"
    model = get_user_model()
    if superuser:
        u = model.objects.create_superuser(name, f"{name}@example.com", password)
    else:
        u = model.objects.create_user(name, f"{name}@example.com", password)
    if not active:
        u.is_active = False
        u.save(update_fields=["is_active"])
    return u


def project(
    *,
    slug: str | None = None,
    name: str | None = None,
    owner: Any = None,
    editors: tuple[Any, ...] = (),
    viewers: tuple[Any, ...] = (),
) -> Project:
    s = slug or f"proj-{_n()}"
    p = Project.objects.create(slug=s, name=name or s.title(), created_by=owner)
    if owner is not None:
        membership(project=p, user=owner, role=Role.OWNER)
    for u in editors:
        membership(project=p, user=u, role=Role.EDITOR)
    for u in viewers:
        membership(project=p, user=u, role=Role.VIEWER)
    return p


def membership(*, project: Project, user: Any, role: str = Role.VIEWER) -> Membership:
    return Membership.objects.create(project=project, user=user, role=role)


def source(
    *,
    project: Project,
    url: str | None = None,
    options: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
    status: str = SourceStatus.OK,
) -> Source:
    return Source.objects.create(
        project=project,
        url=url or f"s3://bucket-{_n()}/logs",
        options=options or {},
        credentials_encrypted=credentials_encrypt(credentials) if credentials else None,
        status=status,
        # Far in the future: the poller leaves factory sources alone unless a test says so.
        next_list_at=timezone.now() + timedelta(days=365),
    )


def run(*, source: Source, name: str | None = None, **fields: Any) -> Run:
    fields.setdefault("updated_at", timezone.now())
    fields.setdefault("start_time", 1_700_000_000.0)
    return Run.objects.create(source=source, name=name or f"run{_n()}", **fields)


def event_file(
    *, run: Run, name: str | None = None, size: int = 100, offset: int = 100, **fields: Any
) -> EventFile:
    return EventFile.objects.create(
        run=run, name=name or f"events.out.tfevents.{_n()}.host", size=size, offset=offset, **fields
    )


def series(*, run: Run, tag: str, kind: str = Kind.SCALAR, count: int = 0, **fields: Any) -> Series:
    return Series.objects.create(run=run, tag=tag, kind=kind, count=count, **fields)


def scalars(
    *,
    run: Run,
    tag: str = "loss",
    steps: list[int] | None = None,
    values: list[float] | None = None,
    walls: list[float] | None = None,
    dtype: str = "f4",
) -> Series:
    """A scalar series stored as one chunk (as ingest.store lays it out)."""
    st = np.asarray(steps if steps is not None else [0, 1, 2], dtype=np.int64)
    n = len(st)
    vals = np.asarray(
        values if values is not None else [0.1 * i for i in range(n)],
        dtype=np.float32 if dtype == "f4" else np.float64,
    )
    wl = np.asarray(
        walls if walls is not None else [1_700_000_000.0 + i for i in range(n)], dtype=np.float64
    )
    s = series(
        run=run,
        tag=tag,
        kind=Kind.SCALAR,
        count=n,
        next_seq=n,
        first_step=int(st.min()),
        last_step=int(st.max()),
        last_wall_time=float(wl.max()),
        dtype="float32" if dtype == "f4" else "float64",
    )
    finite = vals[np.isfinite(vals)]
    ScalarChunk.objects.create(
        series=s,
        seq=0,
        count=n,
        min_step=int(st.min()),
        max_step=int(st.max()),
        min_wall=float(wl.min()),
        max_wall=float(wl.max()),
        min_value=float(finite.min()) if len(finite) else None,
        max_value=float(finite.max()) if len(finite) else None,
        dtype=dtype,
        steps=st.astype("<i8").tobytes(),
        wall_times=wl.astype("<f8").tobytes(),
        values=vals.astype("<" + dtype).tobytes(),
    )
    return s


def image(*, run: Run, tag: str = "img", step: int = 1, data: bytes = PNG_1X1) -> ImagePoint:
    s = Series.objects.filter(run=run, tag=tag).first() or series(
        run=run, tag=tag, kind=Kind.IMAGE, count=0, max_samples=1
    )
    s.count += 1
    s.save(update_fields=["count"])
    return ImagePoint.objects.create(
        series=s,
        seq=s.count,
        step=step,
        wall_time=1_700_000_000.0 + step,
        index=0,
        width=1,
        height=1,
        content_type="image/png",
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        data=data,
    )


def histogram(*, run: Run, tag: str = "hist", step: int = 1) -> HistogramPoint:
    s = Series.objects.filter(run=run, tag=tag).first() or series(
        run=run, tag=tag, kind=Kind.HISTOGRAM, count=0
    )
    s.count += 1
    s.save(update_fields=["count"])
    buckets = np.asarray([[0.0, 1.0, 3.0], [1.0, 2.0, 5.0]], dtype="<f8")
    pct = np.linspace(0.0, 2.0, 9).astype("<f8")
    return HistogramPoint.objects.create(
        series=s,
        seq=s.count,
        step=step,
        wall_time=1_700_000_000.0 + step,
        buckets=buckets.tobytes(),
        percentiles=pct.tobytes(),
    )


def text(*, run: Run, tag: str = "notes", step: int = 1, value: str = "hello") -> TextPoint:
    s = Series.objects.filter(run=run, tag=tag).first() or series(
        run=run, tag=tag, kind=Kind.TEXT, count=0
    )
    s.count += 1
    s.save(update_fields=["count"])
    return TextPoint.objects.create(
        series=s,
        seq=s.count,
        step=step,
        wall_time=1_700_000_000.0 + step,
        shape=[],
        values=[value],
    )


def token(
    *,
    user: Any,
    read_only: bool = False,
    expires_days: int | None = None,
    revoked: bool = False,
    expired: bool = False,
    name: str = "test",
) -> tuple[AccessToken, str]:
    """A token and its secret. `expired=True` backdates its expiry."""
    from hub.services import token_create, token_revoke

    t, raw = token_create(user=user, name=name, read_only=read_only, expires_days=expires_days)
    if expired:
        AccessToken.objects.filter(pk=t.pk).update(expires_at=timezone.now() - timedelta(days=1))
        t.refresh_from_db()
    if revoked:
        token_revoke(token=t, actor=user)
    return t, raw
