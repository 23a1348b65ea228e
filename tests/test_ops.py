"""/healthz, /readyz and /metrics (tbhub.ops) on the real PostgreSQL and Redis."""

from __future__ import annotations

import json
import logging
import secrets
import time
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from ingest.models import EventFile, FileState, Run, SourceStatus
from tbhub import ops
from tests import factories
from tests.conftest import free_port


def scrape(
    client: Client | None = None, **headers: Any
) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """GET /metrics and parse it with prometheus_client's parser: {sample name: {labels: value}}."""
    resp = (client or Client()).get("/metrics", **headers)
    assert resp.status_code == 200, resp.content
    assert resp["Content-Type"].startswith("text/plain; version=0.0.4")
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(resp.content.decode()):
        for sample in family.samples:
            out.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return out


def value(metrics: dict[str, Any], name: str, **labels: str) -> float:
    return float(metrics[name][tuple(sorted(labels.items()))])


@pytest.fixture
def redis_prefix() -> Any:
    """A private key prefix for this test (websocket counts, broker keys)."""
    prefix = f"tbhub-test-ops-{secrets.token_hex(4)}"
    options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, "global_keyprefix": f"{prefix}:celery:"}
    with override_settings(TBHUB_REDIS_PREFIX=prefix, CELERY_BROKER_TRANSPORT_OPTIONS=options):
        yield prefix
    client = ops._redis(ops.redis_url() or "")
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)


# ---- /healthz, /readyz ---------------------------------------------------------------------------


def test_healthz_answers_without_touching_the_database(
    django_assert_num_queries: Any, db: Any
) -> None:
    with django_assert_num_queries(0):
        resp = Client().get("/healthz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}
    assert "no-cache" in resp["Cache-Control"]


def test_readyz_reports_database_and_redis(db: Any) -> None:
    resp = Client().get("/readyz")
    assert resp.status_code == 200, resp.content
    body = resp.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "ok"
    # Broker and cache share REDIS_URL here: checked once.
    assert set(body["checks"]) == {"database", "redis"}


def test_readyz_is_503_naming_redis_when_redis_is_unreachable(db: Any) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    caches = {"default": {**settings.CACHES["default"], "LOCATION": dead}}
    with override_settings(CACHES=caches):
        started = time.monotonic()
        resp = Client().get("/readyz")
        elapsed = time.monotonic() - started
    assert resp.status_code == 503
    body = resp.json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["redis"]
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "error"
    assert "ConnectionError" in body["checks"]["redis"]["error"]
    assert "redis: " in body["reason"]
    # The broker still answers (it is REDIS_URL, not the cache location): checked on its own.
    assert body["checks"]["broker"]["status"] == "ok"
    assert elapsed < ops.REDIS_TIMEOUT_SECONDS + 2


def test_readyz_is_503_naming_the_database(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from django.db import OperationalError

    def down() -> None:
        raise OperationalError(
            'connection to server at "db.internal", port 5432 failed: Connection refused\nmore'
        )

    monkeypatch.setattr(ops, "check_database", down)
    resp = Client().get("/readyz")
    assert resp.status_code == 503
    body = resp.json()
    assert body["failing"] == ["database"]
    assert body["checks"]["database"]["error"] == (
        'OperationalError: connection to server at "db.internal", port 5432 failed: Connection refused'
    )
    assert body["checks"]["redis"]["status"] == "ok"


def test_reasons_never_carry_url_credentials() -> None:
    reason = ops._reason(ConnectionError("cannot reach redis://:hunter2@cache:6379/0 now"))
    assert "hunter2" not in reason
    assert reason == "ConnectionError: cannot reach redis://***@cache:6379/0 now"


def test_embedded_mode_checks_the_database_only(db: Any) -> None:
    with override_settings(
        TBHUB_MODE="embedded",
        CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
        REDIS_URL=None,
        CELERY_BROKER_URL="memory://",
    ):
        assert list(ops.readiness_checks()) == ["database"]
        ok, results = ops.run_checks()
    assert ok
    assert list(results) == ["database"]


# ---- /metrics ------------------------------------------------------------------------------------


@pytest.fixture
def ingested(db: Any) -> dict[str, Any]:
    """A small ingested project, as the store leaves it: files in every state."""
    now = timezone.now()
    vision = factories.project(slug="vision")
    factories.project(slug="empty")
    src = factories.source(project=vision, url="s3://bucket/logs")
    src.last_listed_at = now - timedelta(seconds=30)
    src.save(update_fields=["last_listed_at"])
    factories.source(project=vision, url="s3://other/logs", status=SourceStatus.ERROR)
    a = factories.run(source=src, name="a", pending=True, hot_until=now + timedelta(minutes=5))
    b = factories.run(source=src, name="b")
    factories.event_file(run=a, name="f1", size=1000, offset=1000, records=50)
    # Grew two minutes ago and not read since: that is the lag.
    factories.event_file(
        run=a,
        name="f2",
        size=500,
        offset=200,
        records=10,
        last_grown_at=now - timedelta(seconds=120),
    )
    # Grew a moment ago, but stopped on an incomplete record at this size: nothing to read.
    factories.event_file(
        run=a,
        name="f3",
        size=80,
        offset=40,
        stalled_size=80,
        last_grown_at=now - timedelta(hours=1),
    )
    factories.event_file(
        run=b, name="f4", size=300, offset=100, state=FileState.STUCK, bad_records=1,
        last_grown_at=now - timedelta(hours=2),
    )  # fmt: skip
    factories.event_file(
        run=b, name="f5", size=100, offset=100, state=FileState.CORRUPT, bad_records=3,
        bytes_skipped=40, records=7,
    )  # fmt: skip
    factories.event_file(run=b, name="f6", size=50, offset=50, state=FileState.MISSING, records=5)
    # Its run's stored data was deleted (retention): not to be read, so not in the totals.
    factories.event_file(run=b, name="f7", size=70, offset=0, state="deleted")
    return {"project": vision, "source": src, "runs": (a, b), "now": now}


def test_metrics_of_a_small_ingested_project(ingested: dict[str, Any], redis_prefix: str) -> None:
    m = scrape()
    v = ingested["project"]
    assert value(m, "tbhub_build_info", version="0.1.0", mode="team") == 1
    assert value(m, "tbhub_dependency_up", dependency="database") == 1
    assert value(m, "tbhub_dependency_up", dependency="redis") == 1

    lag = value(m, "tbhub_ingest_lag_seconds", project="vision")
    assert 119 <= lag < 180  # f2; not f3 (stalled) nor f4 (stuck)
    assert value(m, "tbhub_ingest_lag_seconds", project="empty") == 0
    assert value(m, "tbhub_ingest_pending_bytes", project="vision") == 300
    assert value(m, "tbhub_ingest_size_bytes", project="vision") == 1000 + 500 + 80 + 300 + 100
    assert value(m, "tbhub_ingest_read_bytes", project="vision") == 1000 + 200 + 40 + 100 + 100
    assert value(m, "tbhub_ingest_files_read", project="vision") == 2  # f1, f5
    files = {s: value(m, "tbhub_ingest_files", project="vision", state=s) for s in FileState.values}
    expected = {"ok": 3, "corrupt": 1, "stuck": 1, "missing": 1, "error": 0}
    if "deleted" in FileState.values:
        expected["deleted"] = 1
    assert files == {**dict.fromkeys(FileState.values, 0), **expected}
    assert value(m, "tbhub_ingest_records_total", project="vision") == 50 + 10 + 7 + 5
    assert value(m, "tbhub_ingest_bad_records_total", project="vision") == 4
    assert value(m, "tbhub_ingest_skipped_bytes_total", project="vision") == 40
    assert value(m, "tbhub_ingest_records_total", project="empty") == 0
    assert value(m, "tbhub_runs", project="vision") == 2
    assert value(m, "tbhub_runs_pending", project="vision") == 1
    assert value(m, "tbhub_runs_hot", project="vision") == 1
    assert value(m, "tbhub_sources", project="vision", status="ok") == 1
    assert value(m, "tbhub_sources", project="vision", status="error") == 1
    assert value(m, "tbhub_sources", project="empty", status="ok") == 0
    listed = value(
        m,
        "tbhub_source_last_listed_timestamp_seconds",
        project="vision",
        source=str(ingested["source"].pk),
    )
    assert abs(listed - (ingested["now"].timestamp() - 30)) < 1
    assert value(m, "tbhub_websocket_clients", project="vision") == 0
    assert value(m, "tbhub_celery_queue_length", queue="ingest") == 0
    assert value(m, "tbhub_celery_queue_length", queue="poll") == 0
    assert value(m, "tbhub_celery_unacked_tasks") == 0
    assert "process_resident_memory_bytes" in m
    assert "python_info" in m
    assert value(m, "tbhub_metrics_collect_seconds") < 5
    assert v.slug == "vision"


def test_records_total_is_a_counter(ingested: dict[str, Any], redis_prefix: str) -> None:
    resp = Client().get("/metrics")
    types = {f.name: f.type for f in text_string_to_metric_families(resp.content.decode())}
    assert types["tbhub_ingest_records"] == "counter"
    assert types["tbhub_ingest_bad_records"] == "counter"
    assert types["tbhub_ingest_lag_seconds"] == "gauge"


def test_lag_returns_to_zero_when_caught_up(ingested: dict[str, Any], redis_prefix: str) -> None:
    EventFile.objects.filter(name="f2").update(offset=500)
    m = scrape()
    assert value(m, "tbhub_ingest_lag_seconds", project="vision") == 0
    assert value(m, "tbhub_ingest_pending_bytes", project="vision") == 0


def test_queue_depth_reads_the_prefixed_kombu_lists(db: Any, redis_prefix: str) -> None:
    client = ops._redis(ops.broker_url() or "")
    prefix = f"{redis_prefix}:celery:"
    client.lpush(prefix + "ingest", "m1", "m2", "m3")
    client.lpush(prefix + "poll\x06\x166", "m4")  # a priority-6 sub-queue of "poll"
    client.hset(prefix + "unacked", mapping={"tag1": "x", "tag2": "y"})
    client.lpush("ingest", "unprefixed: another hub's queue")
    try:
        m = scrape()
    finally:
        client.delete("ingest")
    assert value(m, "tbhub_celery_queue_length", queue="ingest") == 3
    assert value(m, "tbhub_celery_queue_length", queue="poll") == 1
    assert value(m, "tbhub_celery_unacked_tasks") == 2


def test_websocket_clients_are_counted_over_processes(
    ingested: dict[str, Any], redis_prefix: str
) -> None:
    pid = ingested["project"].pk
    # This process, through the public hooks.
    ops.ws_client_connected(pid)
    ops.ws_client_connected(pid)
    ops.ws_client_disconnected(pid)
    # Another web process (its own tracker and key).
    other = ops.WsTracker()
    other.add(pid, 2)
    other.add(ops.COMPARISON_WS_KEY, 4)  # comparison pages and share links there
    try:
        assert ops._tracker.publish()
        assert other.publish()
        m = scrape()
        assert value(m, "tbhub_websocket_clients", project="vision") == 3
        assert value(m, "tbhub_websocket_clients", project="empty") == 0
        assert value(m, "tbhub_comparison_websocket_clients") == 4
        # The other process dies: its hash expires and it no longer counts.
        client = ops._redis(ops.redis_url() or "")
        client.delete(other._keys()[0])
        assert ops.ws_clients() == {pid: 1}
        assert other._keys()[0].encode() not in client.smembers(other._keys()[1])
    finally:
        ops.ws_client_disconnected(pid)
        ops._tracker.publish()
    assert ops.ws_clients() == {}
    # Disconnects never count below zero.
    ops.ws_client_disconnected(pid)
    assert ops._tracker.snapshot() == {}


def test_websocket_hash_expires_without_a_heartbeat(db: Any, redis_prefix: str) -> None:
    t = ops.WsTracker()
    t.add(7, 1)
    t.publish()
    ttl = ops._redis(ops.redis_url() or "").ttl(t._keys()[0])
    assert 0 < ttl <= ops.WS_TTL_SECONDS
    t.withdraw()


def test_metrics_token(
    ingested: dict[str, Any], redis_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TBHUB_METRICS_TOKEN", "s3cret-token")
    assert Client().get("/metrics").status_code == 401
    wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    assert wrong["WWW-Authenticate"].startswith("Bearer")
    m = scrape(HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert value(m, "tbhub_runs", project="vision") == 2
    # Health endpoints stay open.
    assert Client().get("/healthz").status_code == 200


def test_metrics_survive_a_dead_redis(ingested: dict[str, Any]) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    caches = {"default": {**settings.CACHES["default"], "LOCATION": dead}}
    with override_settings(CACHES=caches, CELERY_BROKER_URL=dead):
        m = scrape()
    assert value(m, "tbhub_dependency_up", dependency="redis") == 0
    assert value(m, "tbhub_dependency_up", dependency="database") == 1
    assert value(m, "tbhub_runs", project="vision") == 2


def test_metrics_stay_cheap_with_1000_runs(db: Any, redis_prefix: str) -> None:
    now = timezone.now()
    p = factories.project(slug="big")
    src = factories.source(project=p)
    runs = Run.objects.bulk_create(Run(source=src, name=f"run{i:04d}") for i in range(1000))
    EventFile.objects.bulk_create(
        EventFile(
            run=r, name=f"events.{j}", size=10_000, offset=10_000 if j else 9_000,
            records=100, last_grown_at=now,
        )
        for r in runs
        for j in range(2)
    )  # fmt: skip
    scrape()  # warm caches (imports, connections)
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        m = scrape()
        took = time.perf_counter() - started
    selects = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("SELECT")]
    assert len(selects) == 4, selects  # projects, files by project, runs by project, sources
    assert value(m, "tbhub_runs", project="big") == 1000
    assert value(m, "tbhub_ingest_records_total", project="big") == 200_000
    assert value(m, "tbhub_ingest_pending_bytes", project="big") == 1000 * 1000
    print(f"/metrics with 1000 runs and 2000 files: {took * 1000:.0f} ms")
    assert took < 2.0, f"/metrics took {took:.3f} s with 1000 runs"


# ---- middlewares ---------------------------------------------------------------------------------


def test_probe_middleware_answers_probes_addressed_by_pod_ip(db: Any) -> None:
    # Through the URL routes only, Django's host validation refuses the pod address.
    without = [m for m in settings.MIDDLEWARE if m != "tbhub.ops.ProbeMiddleware"]
    with override_settings(MIDDLEWARE=without):
        assert Client(HTTP_HOST="10.1.2.3:8000").get("/healthz").status_code == 400
    assert "tbhub.ops.ProbeMiddleware" in settings.MIDDLEWARE
    with override_settings(MIDDLEWARE=list(settings.MIDDLEWARE)):
        pod = Client(HTTP_HOST="10.1.2.3:8000")  # a new client loads the new middleware
        assert pod.get("/healthz").status_code == 200
        assert pod.get("/readyz").status_code == 200
        assert pod.get("/metrics").status_code == 200
        assert pod.get("/").status_code == 400  # every other path is still validated


def test_request_log_names_the_route_not_the_path(
    db: Any, caplog: pytest.LogCaptureFixture
) -> None:
    middleware = list(settings.MIDDLEWARE)
    assert "tbhub.ops.RequestLogMiddleware" in middleware
    with (
        override_settings(MIDDLEWARE=middleware),
        caplog.at_level(logging.INFO, logger="tbhub.request"),
    ):
        Client().get("/api/v1/projects/some-secret-slug/runs")
        Client().get("/healthz")
    records = [r for r in caplog.records if r.name == "tbhub.request"]
    assert len(records) == 1  # probes are not logged
    rec = records[0]
    assert rec.method == "GET"  # type: ignore[attr-defined]
    assert rec.status == 401  # type: ignore[attr-defined]
    assert rec.route == "/api/v1/projects/<slug:slug>/runs"  # type: ignore[attr-defined]
    assert "some-secret-slug" not in json.dumps(vars(rec), default=str)
