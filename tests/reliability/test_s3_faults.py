"""The S3 server misbehaves: 500 InternalError, 503 SlowDown, connections reset, requests that
hang, and 403 InvalidAccessKeyId (credentials revoked). tests/reliability/faultproxy.py sits in
front of moto's server on loopback; the source's endpoint is the proxy.

Properties: a call fails in bounded time with a readable message (never a traceback, never a
worker held for minutes), retries back off, the source says "degraded" (transient) or "error"
(credentials) while it lasts, and once the server is healthy again ingest catches up with
nothing lost or doubled (the store equals `tbhub export` of the bucket).

Reproduce: `.venv/bin/pytest tests/reliability/test_s3_faults.py -s` (docs/RELIABILITY.md, section "The S3 server misbehaves").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from hub.crypto import credentials_encrypt
from hub.models import Project
from ingest import dispatch, services
from ingest.models import EventFile, FileState, Run, Source
from tests.reliability.faultproxy import FaultProxy
from tests.reliability.stack import HubProcesses, hub_env, pytest_db_url
from tests.reliability.support import (
    dump_diff,
    export_dump,
    frame,
    scalar_records,
    store_dump,
    version_payload,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.cloud]

KEY = "logs/run1/events.out.tfevents.1700000000.host"
CREDS = {"key": "testing", "secret": "testing"}


def make_bucket(s3: Any, name: str, steps: int = 50) -> bytes:
    s3.create_bucket(Bucket=name)
    body = frame(version_payload()) + scalar_records(["loss", "acc"], range(steps))
    s3.put_object(Bucket=name, Key=KEY, Body=body)
    return body


def make_source(bucket: str, proxy: FaultProxy) -> Source:
    project, _ = Project.objects.get_or_create(slug="s3", defaults={"name": "S3"})
    return Source.objects.create(
        project=project,
        url=f"s3://{bucket}/logs",
        options={"endpoint_url": proxy.url},
        credentials_encrypted=credentials_encrypt(CREDS),
    )


def export_of(bucket: str, moto_server: str) -> Any:
    return export_dump(
        f"s3://{bucket}/logs",
        options={"endpoint_url": moto_server},
        credentials=CREDS,
        from_env=False,
    )


@pytest.fixture(autouse=True)
def _no_celery() -> Iterator[list[tuple[str, int]]]:
    queued: list[tuple[str, int]] = []
    dispatch.local_set(lambda kind, ident: queued.append((kind, ident)))
    yield queued
    dispatch.local_set(None)


def tail_all(source: Source) -> None:
    for run in Run.objects.filter(source=source):
        Run.objects.filter(pk=run.pk).update(lease_until=None, queued_at=None)
        while services.run_tail(run_id=run.pk, budget_seconds=60).more:
            pass


# ---- listing during an outage -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "kind_text"),
    [
        ("500", "storage busy (InternalError), retrying"),
        ("503", "storage busy (SlowDown), retrying"),
        ("reset", "cannot reach the storage endpoint"),
        ("hang", "cannot reach the storage endpoint"),  # held 0.5 s, then closed unanswered
    ],
)
def test_listing_outage_degrades_backs_off_and_recovers(
    s3: Any, moto_server: str, fault_proxy: FaultProxy, mode: str, kind_text: str
) -> None:
    bucket = f"out-{mode}"
    make_bucket(s3, bucket)
    source = make_source(bucket, fault_proxy)
    fault_proxy.fault(mode, hang=0.5)
    started = time.monotonic()
    for attempt in (1, 2):
        call = time.monotonic()
        assert services.source_list(source_id=source.pk) == 0
        seconds = time.monotonic() - call
        source.refresh_from_db()
        assert source.status == "degraded", (source.status, source.status_message)
        assert source.status_message == f"s3://{bucket}/logs: {kind_text}"
        assert source.consecutive_failures == attempt
        # The next listing waits 2 s x 2**failures (x 0.75-1.25 jitter): exponential back-off.
        assert source.next_list_at is not None
        remaining = (source.next_list_at - timezone.now()).total_seconds()
        expected = 2.0 * 2**attempt
        assert expected * 0.75 - 1 <= remaining <= expected * 1.25, (attempt, remaining)
        assert seconds < 30, f"one listing took {seconds:.0f} s"
    # Retries inside one call are bounded: at most 12 requests (s3fs and botocore attempts).
    requests = fault_proxy.seen(since=started)
    assert 2 <= len(requests) <= 2 * 12, [r.outcome for r in requests]
    fault_proxy.clear()
    assert services.source_list(source_id=source.pk) == 1
    source.refresh_from_db()
    assert (source.status, source.status_message) == ("ok", "1 runs, 1 event files")
    assert source.consecutive_failures == 0
    tail_all(source)
    got, want = store_dump(source.pk), export_of(bucket, moto_server)
    assert got == want, dump_diff(got, want)


# ---- reads failing in the middle of a tail --------------------------------------------------------


def test_reads_failing_mark_the_source_degraded_and_catch_up(
    s3: Any, moto_server: str, fault_proxy: FaultProxy
) -> None:
    bucket = "reads"
    body = make_bucket(s3, bucket)
    source = make_source(bucket, fault_proxy)
    services.source_list(source_id=source.pk)
    tail_all(source)
    # The writer appends (on S3: rewrites the object longer); reads of it now fail.
    s3.put_object(Bucket=bucket, Key=KEY, Body=body + scalar_records(["loss"], range(50, 90)))
    services.source_list(source_id=source.pk)
    fault_proxy.fault("503", match=lambda method, path: method == "GET" and "tfevents" in path)
    run = Run.objects.get(source=source)
    result = services.run_tail(run_id=run.pk)
    assert result.error == f"s3://{bucket}/logs: storage busy (SlowDown), retrying"
    ef = EventFile.objects.get(run=run)
    assert (ef.state, ef.error) == (FileState.ERROR, result.error)
    source.refresh_from_db()
    assert (source.status, source.status_message) == ("degraded", result.error)
    # A listing is due soon (it confirms the trouble or clears it); the run is retried later.
    assert source.next_list_at is not None
    assert (source.next_list_at - timezone.now()).total_seconds() < 10
    run.refresh_from_db()
    assert run.queued_at is not None and run.queued_at > timezone.now()
    fault_proxy.clear()
    tail_all(source)
    services.source_list(source_id=source.pk)
    source.refresh_from_db()
    assert source.status == "ok"
    ef.refresh_from_db()
    assert (ef.state, ef.error, ef.offset) == (FileState.OK, "", ef.size)
    got, want = store_dump(source.pk), export_of(bucket, moto_server)
    assert got == want, dump_diff(got, want)
    assert len(got[("scalar", "run1", "loss")]) == 90


# ---- a server that never answers --------------------------------------------------------------------


@override_settings(TBHUB_STORAGE_TIMEOUT_SECONDS=1.0)
def test_a_hung_endpoint_is_cut_by_the_storage_timeout(
    s3: Any, moto_server: str, fault_proxy: FaultProxy
) -> None:
    """Before the fix a listing against an endpoint that never answers took about 20 minutes
    (s3fs's nested retries x botocore's attempts x a 30 s read timeout), holding a worker."""
    bucket = "hung"
    make_bucket(s3, bucket)
    source = make_source(bucket, fault_proxy)
    fault_proxy.fault("hang", hang=120.0)
    started = time.monotonic()
    services.source_list(source_id=source.pk)
    listing = time.monotonic() - started
    source.refresh_from_db()
    assert source.status == "degraded"
    assert source.status_message == f"s3://{bucket}/logs: storage did not answer in time"
    assert listing < 6 * 1.0 + 3, f"the listing took {listing:.1f} s"
    fault_proxy.clear()
    services.source_list(source_id=source.pk)
    run = Run.objects.get(source=source)
    fault_proxy.fault("hang", hang=120.0)
    started = time.monotonic()
    result = services.run_tail(run_id=run.pk)
    reading = time.monotonic() - started
    assert result.error == f"s3://{bucket}/logs: storage did not answer in time"
    assert reading < 3 * 1.0 + 3, f"the read took {reading:.1f} s"
    fault_proxy.clear()
    tail_all(source)
    got, want = store_dump(source.pk), export_of(bucket, moto_server)
    assert got == want, dump_diff(got, want)


# ---- credentials revoked ------------------------------------------------------------------------------


def test_revoked_credentials_are_an_error_status_not_a_crash(
    s3: Any, moto_server: str, fault_proxy: FaultProxy
) -> None:
    bucket = "revoked"
    body = make_bucket(s3, bucket)
    source = make_source(bucket, fault_proxy)
    services.source_list(source_id=source.pk)
    tail_all(source)
    s3.put_object(Bucket=bucket, Key=KEY, Body=body + scalar_records(["loss"], range(50, 60)))
    services.source_list(source_id=source.pk)  # sees the growth
    fault_proxy.fault("403")
    message = f"s3://{bucket}/logs: credentials rejected (InvalidAccessKeyId)"
    run = Run.objects.get(source=source)
    result = services.run_tail(run_id=run.pk)
    assert result.error == message
    ef = EventFile.objects.get(run=run)
    assert (ef.state, ef.error) == (FileState.ERROR, message)
    source.refresh_from_db()
    assert (source.status, source.status_message) == ("error", message)
    assert services.source_list(source_id=source.pk) == 0
    source.refresh_from_db()
    assert (source.status, source.status_message) == ("error", message)
    Run.objects.filter(pk=run.pk).update(
        next_check_at=None, hot_until=timezone.now() + timedelta(minutes=5)
    )
    services.poll_tick()  # the hot run's check fails the same way: no exception
    assert len(fault_proxy.seen("403")) <= 6, "a 403 is not retried"
    # The data read before the revocation is still served.
    assert len(store_dump(source.pk)[("scalar", "run1", "loss")]) == 50
    fault_proxy.clear()  # the credentials work again
    services.source_list(source_id=source.pk)
    tail_all(source)
    source.refresh_from_db()
    assert source.status == "ok"
    got, want = store_dump(source.pk), export_of(bucket, moto_server)
    assert got == want, dump_diff(got, want)


# ---- real workers through an outage --------------------------------------------------------------------


@pytest.mark.faults
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_workers_ride_out_an_outage_while_the_object_grows(
    s3: Any, moto_server: str, fault_proxy: FaultProxy, tmp_path: Path
) -> None:
    """`tbhub worker` + `tbhub beat` at default settings; the writer rewrites the object longer
    every second; once ingest is live the server answers 503 SlowDown for 6 s, then resets
    connections for 4 s, then holds requests unanswered (closing them after 3 s) for 4 s."""
    bucket = "live"
    s3.create_bucket(Bucket=bucket)
    body = frame(version_payload())
    s3.put_object(Bucket=bucket, Key=KEY, Body=body)
    env = hub_env(
        database_url=pytest_db_url(),
        redis_url=settings.REDIS_URL,
        workdir=tmp_path,
        endpoints=[fault_proxy.url],
        extra={"TBHUB_SECRET_KEY": settings.SECRET_KEY},  # decrypts the source's credentials
    )
    procs = HubProcesses(env, tmp_path)
    source = make_source(bucket, fault_proxy)
    statuses: list[tuple[float, str, str]] = []
    stop = threading.Event()

    def watch() -> None:
        from django.db import connection

        while not stop.is_set():
            s = Source.objects.filter(pk=source.pk).values_list("status", "status_message").first()
            if s and (not statuses or statuses[-1][1:] != s):
                statuses.append((time.monotonic(), *s))
            time.sleep(0.2)
        connection.close()

    watcher = threading.Thread(target=watch, daemon=True)
    steps = [0]
    writing = threading.Event()
    writing.set()

    def write() -> None:
        nonlocal body
        while writing.is_set():
            body += scalar_records(["loss"], range(steps[0], steps[0] + 20))
            steps[0] += 20
            s3.put_object(Bucket=bucket, Key=KEY, Body=body)  # moto directly: the writer
            time.sleep(1.0)

    writer = threading.Thread(target=write, daemon=True)
    procs.start_worker()
    procs.start_beat()
    watcher.start()
    writer.start()
    try:
        wait_for(
            lambda: len(store_dump(source.pk).get(("scalar", "run1", "loss"), [])) >= 20,
            90,
            f"the first points before the outage\n{procs.tail('worker')}",
            0.5,
        )
        outage_start = time.monotonic()
        for mode, seconds in (("503", 6.0), ("reset", 4.0), ("hang", 4.0)):
            fault_proxy.fault(mode, hang=3.0)
            time.sleep(seconds)
        fault_proxy.clear()
        outage = time.monotonic() - outage_start
        time.sleep(6.0)
        writing.clear()
        writer.join(10)
        step = steps[0]
        written = time.monotonic()

        def caught_up() -> bool:
            dump = store_dump(source.pk)
            return len(dump.get(("scalar", "run1", "loss"), [])) >= step

        wait_for(caught_up, 120, f"the store to catch up\n{procs.tail('worker')}", 0.5)
        lag = time.monotonic() - written
        wait_for(lambda: Source.objects.get(pk=source.pk).status == "ok", 60, "the source to be ok")
    finally:
        stop.set()
        watcher.join(5)
        procs.stop()
    got, want = store_dump(source.pk), export_of(bucket, moto_server)
    assert got == want, dump_diff(got, want)
    assert len(got[("scalar", "run1", "loss")]) == step
    seen = {(st, msg) for _, st, msg in statuses}
    assert any(st == "degraded" for st, _ in seen), statuses
    for st, msg in seen:
        if st == "degraded":
            assert msg.startswith(f"s3://{bucket}/logs: "), msg
            assert "Traceback" not in msg and "testing" not in msg
    outcomes: dict[str, int] = {}
    for r in fault_proxy.requests:
        key = r.outcome.split(":")[0]
        outcomes[key] = outcomes.get(key, 0) + 1
    print(
        f"S3 outage of {outage:.0f} s: {step} points caught up {lag:.1f} s after the last write; "
        f"requests by outcome {outcomes}; source statuses seen: "
        + "; ".join(f"{st} ({msg})" for _, st, msg in statuses)
    )
