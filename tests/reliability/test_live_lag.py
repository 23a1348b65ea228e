"""Live lag end to end, short: a writer appends scalars to a local log directory and to an S3
bucket (moto); a subscribed websocket client gets each notice and the API serves each point,
exactly once, at default settings (`tbhub web` + `worker` + `beat` on a private PostgreSQL and
redis-server). This asserts correctness and prints the lags; the targets (p95 < 2 s local,
< 5 s S3) are checked with more samples by benchmarks/live_lag.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.livelag import LocalRun, S3Run, measure
from tests.reliability.stack import HubClient, HubProcesses, hub_env, private_services

pytestmark = [pytest.mark.slow, pytest.mark.cloud, pytest.mark.timeout(300)]


@pytest.fixture
def hub(tmp_path: Path, moto_server: str) -> Iterator[tuple[HubProcesses, HubClient]]:
    with private_services() as (pg, redis):
        env = hub_env(
            database_url=pg.url, redis_url=redis.url, workdir=tmp_path, endpoints=[moto_server]
        )
        procs = HubProcesses(env, tmp_path)
        procs.migrate_and_admin()
        try:
            client = HubClient(procs.start_web())
            assert client.login().status_code == 302
            procs.start_worker()
            procs.start_beat()
            client.create_project("lag")
            yield procs, client
        finally:
            procs.stop()


def test_live_points_reach_clients_once_local_and_s3(
    hub: tuple[HubProcesses, HubClient], tmp_path: Path, s3: Any, moto_server: str
) -> None:
    _, client = hub
    logdir = tmp_path / "logs"
    local = LocalRun(logdir, "local-run")
    client.add_source("lag", str(logdir))
    s3.create_bucket(Bucket="lag")
    remote = S3Run(s3, "lag", "logs", "s3-run")
    client.add_source(
        "lag",
        "s3://lag/logs",
        options={"endpoint_url": moto_server},
        credentials={"key": "testing", "secret": "testing"},
    )
    local_lag = measure(client, "lag", "local-run", local, kind="local", samples=5, pause=0.5)
    s3_lag = measure(client, "lag", "s3-run", remote, kind="s3", samples=4, pause=0.5)
    print(local_lag.summary(2.0))
    print(s3_lag.summary(5.0))
    assert len(local_lag.samples) == 5 and len(s3_lag.samples) == 4
