"""Fixtures of the reliability suite (docs/RELIABILITY.md).

- The source policy allows the temporary directory and the S3 endpoints a test starts (moto, and
  the fault proxy in front of it), as team mode re-checks it on every listing and tail.
- `member`: a project and a logged-in member (Django test client) for API reads in-process.
- `fault_proxy`: tests/reliability/faultproxy.py in front of moto, on loopback.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client, override_settings

from tests.reliability.faultproxy import FaultProxy


@pytest.fixture(autouse=True)
def _reliability_policy(request: pytest.FixtureRequest) -> Iterator[None]:
    endpoints: list[str] = []
    for name in ("moto_server", "fault_proxy"):
        if name in request.fixturenames:
            value = request.getfixturevalue(name)
            endpoints.append(value if isinstance(value, str) else value.url)
    with override_settings(
        TBHUB_LOCAL_ROOTS=[tempfile.gettempdir()], TBHUB_ALLOWED_ENDPOINTS=endpoints
    ):
        yield


@pytest.fixture
def fault_proxy(moto_server: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(moto_server)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


@dataclass
class Member:
    user: Any
    project: Any
    client: Client

    def get(self, path: str, **params: Any) -> Any:
        """GET under the project's API prefix; returns the response."""
        prefix = f"/api/v1/projects/{self.project.slug}/"
        return self.client.get(prefix + path, params)


@pytest.fixture
def member(db: Any) -> Member:
    from tests import factories

    user = factories.user(username="rel-owner")
    project = factories.project(slug="rel", name="Reliability", owner=user)
    client = Client()
    client.force_login(user)
    return Member(user=user, project=project, client=client)


@pytest.fixture
def s3(moto_server: str) -> Any:
    """A boto3 client on moto itself (the writer's side; never through the fault proxy)."""
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
