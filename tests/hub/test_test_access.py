""" "Test access" against moto's S3 server: runs and files seen, or a readable error."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.conftest import BIN, free_port, wait_http
from tests.hub.conftest import call, logged_in

pytestmark = pytest.mark.cloud

KEY, SECRET = "AKIAMOTOTESTKEY", "moto-secret-value-never-shown"


def _s3(endpoint: str, key: str = "testing", secret: str = "testing") -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )


@pytest.fixture(scope="module")
def locked_moto() -> Iterator[dict[str, str]]:
    """A moto server that checks credentials: the first 4 calls (bucket, object, IAM user,
    access key) are free, everything after needs a real, permitted key."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "4"}
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(endpoint + "/moto-api/")
        s3 = _s3(endpoint)
        s3.create_bucket(Bucket="locked-logs")
        s3.put_object(Bucket="locked-logs", Key="exp/run1/events.out.tfevents.1.h", Body=b"x")
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        iam.create_user(UserName="nobody")
        key = iam.create_access_key(UserName="nobody")["AccessKey"]
        yield {"endpoint": endpoint, "key": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def s3_logs(moto_server: str) -> str:
    s3 = _s3(moto_server)
    s3.create_bucket(Bucket="team-logs")
    for key in (
        "exp/run1/events.out.tfevents.1.host",
        "exp/run1/events.out.tfevents.2.host",
        "exp/run2/sub/events.out.tfevents.3.host",
        "exp/run2/notes.txt",
        "elsewhere/run9/events.out.tfevents.9.host",
    ):
        s3.put_object(Bucket="team-logs", Key=key, Body=b"0123456789")
    yield moto_server
    for obj in s3.list_objects_v2(Bucket="team-logs").get("Contents", []):
        s3.delete_object(Bucket="team-logs", Key=obj["Key"])
    s3.delete_bucket(Bucket="team-logs")


def _add_source(client: Any, url: str, endpoint: str, key: str = KEY, secret: str = SECRET) -> int:
    resp = call(
        client,
        "POST",
        "/api/v1/projects/vision/sources",
        {
            "url": url,
            "options": {"endpoint_url": endpoint, "region": "us-east-1"},
            "credentials": {"key": key, "secret": secret},
        },
    )
    assert resp.status_code == 201, resp.content
    assert resp.json()["credentials_set"] is True
    assert secret not in resp.content.decode()
    return int(resp.json()["id"])


def _test(client: Any, source_id: int) -> dict[str, Any]:
    resp = call(client, "POST", f"/api/v1/projects/vision/sources/{source_id}/test")
    assert resp.status_code == 200, resp.content
    text = resp.content.decode()
    assert SECRET not in text
    assert "Traceback" not in text
    return dict(resp.json())


def test_lists_runs_and_event_files(world: Any, s3_logs: str, settings: Any) -> None:
    settings.TBHUB_ALLOWED_ENDPOINTS = [s3_logs]
    client = logged_in(world.editor)
    report = _test(client, _add_source(client, "s3://team-logs/exp", s3_logs))
    assert report["ok"] is True
    assert report["runs"] == 2
    assert report["event_files"] == 3
    assert report["bytes"] == 30
    assert report["sample_runs"] == ["run1", "run2/sub"]


def test_no_such_bucket(world: Any, moto_server: str, settings: Any) -> None:
    settings.TBHUB_ALLOWED_ENDPOINTS = [moto_server]
    client = logged_in(world.editor)
    report = _test(client, _add_source(client, "s3://no-such-bucket/x", moto_server))
    assert report == {
        "ok": False,
        "error": "s3://no-such-bucket/x: no such bucket",
        "error_kind": "not_found",
        "seconds": report["seconds"],
    }


def test_access_denied(world: Any, locked_moto: dict[str, str], settings: Any) -> None:
    settings.TBHUB_ALLOWED_ENDPOINTS = [locked_moto["endpoint"]]
    client = logged_in(world.editor)
    sid = _add_source(
        client,
        "s3://locked-logs/exp",
        locked_moto["endpoint"],
        key=locked_moto["key"],
        secret=locked_moto["secret"],
    )
    report = _test(client, sid)
    assert report["ok"] is False
    assert report["error_kind"] == "access_denied"
    assert report["error"] == "s3://locked-logs/exp: access denied"
    assert locked_moto["secret"] not in str(report)


def test_credentials_rejected(world: Any, locked_moto: dict[str, str], settings: Any) -> None:
    settings.TBHUB_ALLOWED_ENDPOINTS = [locked_moto["endpoint"]]
    client = logged_in(world.editor)
    report = _test(client, _add_source(client, "s3://locked-logs/exp", locked_moto["endpoint"]))
    assert report["ok"] is False
    assert report["error_kind"] == "access_denied"
    assert "credentials rejected" in report["error"]


def test_bad_endpoint(world: Any, settings: Any) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # allowed, but nothing listens there
    settings.TBHUB_ALLOWED_ENDPOINTS = [closed]
    client = logged_in(world.editor)
    report = _test(client, _add_source(client, "s3://team-logs/exp", closed))
    assert report["ok"] is False
    assert report["error_kind"] == "unreachable"
    assert report["error"] == "s3://team-logs/exp: cannot reach the storage endpoint"


def test_endpoint_no_longer_allowed(world: Any, s3_logs: str, settings: Any) -> None:
    settings.TBHUB_ALLOWED_ENDPOINTS = [s3_logs]
    client = logged_in(world.editor)
    sid = _add_source(client, "s3://team-logs/exp", s3_logs)
    settings.TBHUB_ALLOWED_ENDPOINTS = []
    report = _test(client, sid)
    assert report["ok"] is False
    assert report["error_kind"] == "policy"
    assert "TBHUB_ALLOWED_ENDPOINTS" in report["error"]


def test_timeout_is_reported(world: Any, settings: Any) -> None:
    """An endpoint that accepts connections but never answers: the test gives up in time."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    settings.TBHUB_ALLOWED_ENDPOINTS = [endpoint]
    settings.TBHUB_STORAGE_TIMEOUT_SECONDS = 1.5
    try:
        client = logged_in(world.editor)
        report = _test(client, _add_source(client, "s3://slow-bucket/x", endpoint))
    finally:
        listener.close()
    assert report["ok"] is False
    assert report["error_kind"] == "timeout"
    assert report["error"] == "s3://slow-bucket/x: storage did not answer within 1.5 s"


def test_page_shows_the_result(world: Any, s3_logs: str, settings: Any) -> None:
    settings.TBHUB_ALLOWED_ENDPOINTS = [s3_logs]
    client = logged_in(world.editor)
    sid = _add_source(client, "s3://team-logs/exp", s3_logs)
    resp = client.post(f"/projects/vision/sources/{sid}/", {"op": "test"}, follow=True)
    text = resp.content.decode()
    assert "Test access OK: 2 run(s), 3 event file(s)" in text
    assert SECRET not in text
    assert KEY not in text
