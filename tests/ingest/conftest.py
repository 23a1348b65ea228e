"""Ingest tests read from pytest's temporary directories and from emulators on loopback: allow
exactly those in the source policy (team mode re-checks it on every listing and tail)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest
from django.test import override_settings


@pytest.fixture(autouse=True)
def _ingest_policy(request: pytest.FixtureRequest) -> Iterator[None]:
    endpoints: list[str] = []
    for name in ("moto_server", "gcs_emulator"):
        if name in request.fixturenames:
            endpoints.append(request.getfixturevalue(name))
    with override_settings(
        TBHUB_LOCAL_ROOTS=[tempfile.gettempdir()], TBHUB_ALLOWED_ENDPOINTS=endpoints
    ):
        yield
