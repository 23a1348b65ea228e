"""LogDir against real protocol servers on loopback: local disk, moto's S3 server, the GCS emulator.

One contract suite runs against every backend: listing (runs named by relative path, root = '.'),
one-run listing, sizes that follow appends, range reads, and readable errors.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.sources import LogDir, SourceError, open_logdir, split_url


@dataclass
class Backend:
    """A place to put files and the LogDir that reads them."""

    url: str
    put: Callable[[str, bytes], None]
    logdir: LogDir


FILES = {
    "events.out.tfevents.1.root": b"root-run",
    "a/events.out.tfevents.1.host": b"0123456789",
    "a/events.out.tfevents.2.host": b"abc",
    "a/b/events.out.tfevents.3.host": b"nested!",
    "a/checkpoint": b"not an event file",
    "c/d/notes.txt": b"no run here",
    "e/f/x.tfevents.profile-empty": b"",
}


@pytest.fixture
def local_backend(tmp_path: Path) -> Backend:
    def put(rel: str, data: bytes) -> None:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)

    return Backend(str(tmp_path), put, open_logdir(str(tmp_path)))


@pytest.fixture
def s3_backend(moto_server: str) -> Backend:
    import s3fs

    bucket = f"tb-{uuid.uuid4().hex[:12]}"
    admin = s3fs.S3FileSystem(
        key="testing",
        secret="testing",
        endpoint_url=moto_server,
        skip_instance_cache=True,
    )
    admin.mkdir(bucket)

    def put(rel: str, data: bytes) -> None:
        admin.pipe(f"{bucket}/logs/{rel}", data)

    ld = open_logdir(
        f"s3://{bucket}/logs",
        options={"endpoint_url": moto_server, "region": "us-east-1"},
        credentials={"key": "testing", "secret": "testing"},
        from_env=False,
    )
    return Backend(f"s3://{bucket}/logs", put, ld)


@pytest.fixture
def gcs_backend(gcs_emulator: str) -> Backend:
    import gcsfs

    assert gcsfs.GCSFileSystem.__module__ == "gcsfs.core"  # the 60 s control-plane trap is off
    bucket = f"tb-{uuid.uuid4().hex[:12]}"
    admin = gcsfs.GCSFileSystem(
        project="test", token="anon", endpoint_url=gcs_emulator, skip_instance_cache=True
    )
    admin.mkdir(bucket)

    def put(rel: str, data: bytes) -> None:
        admin.pipe(f"{bucket}/logs/{rel}", data)

    ld = open_logdir(
        f"gs://{bucket}/logs",
        options={"endpoint_url": gcs_emulator, "project": "test", "anon": True},
        from_env=False,
    )
    return Backend(f"gs://{bucket}/logs", put, ld)


@pytest.fixture(
    params=[
        "local",
        pytest.param("s3", marks=pytest.mark.cloud),
        pytest.param("gcs", marks=pytest.mark.cloud),
    ]
)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(f"{request.param}_backend")


def test_listing_names_runs_by_relative_path(backend: Backend) -> None:
    for rel, data in FILES.items():
        backend.put(rel, data)
    files = backend.logdir.list_event_files()
    got = sorted((f.run, f.name, f.size) for f in files)
    assert got == [
        (".", "events.out.tfevents.1.root", 8),
        ("a", "events.out.tfevents.1.host", 10),
        ("a", "events.out.tfevents.2.host", 3),
        ("a/b", "events.out.tfevents.3.host", 7),
        ("e/f", "x.tfevents.profile-empty", 0),
    ]


def test_list_run_sees_only_that_directory(backend: Backend) -> None:
    for rel, data in FILES.items():
        backend.put(rel, data)
    assert [f.name for f in backend.logdir.list_run("a")] == [
        "events.out.tfevents.1.host",
        "events.out.tfevents.2.host",
    ]
    assert [f.name for f in backend.logdir.list_run(".")] == ["events.out.tfevents.1.root"]
    assert backend.logdir.list_run("nope") == []


def test_sizes_follow_rewrites_and_ranges_read_exact_bytes(backend: Backend) -> None:
    backend.put("r/events.out.tfevents.1.h", b"0123456789")
    (f,) = backend.logdir.list_run("r")
    assert backend.logdir.read_range(f.path, 2, 5) == b"234"
    assert backend.logdir.read_range(f.path, 8, 100) == b"89"
    assert backend.logdir.read_range(f.path, 10, 20) == b""
    backend.put("r/events.out.tfevents.1.h", b"0123456789ABCDEF")  # "append" = rewrite on buckets
    (f2,) = backend.logdir.list_run("r")
    assert f2.size == 16
    assert backend.logdir.size(f2.path) == 16
    assert backend.logdir.read_range(f2.path, 10, 16) == b"ABCDEF"


def test_missing_root_is_a_readable_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as exc:
        open_logdir(str(tmp_path / "nope")).list_event_files()
    assert exc.value.kind == "not_found"
    assert "no such directory" in exc.value.message


@pytest.mark.cloud
def test_s3_no_such_bucket_and_bad_credentials(moto_server: str) -> None:
    ld = open_logdir(
        "s3://does-not-exist-bucket/x",
        options={"endpoint_url": moto_server},
        credentials={"key": "testing", "secret": "testing"},
        from_env=False,
    )
    with pytest.raises(SourceError) as exc:
        ld.list_event_files()
    assert exc.value.kind == "not_found"
    assert "testing" not in exc.value.message


@pytest.mark.cloud
def test_s3_unreachable_endpoint_is_transient() -> None:
    from tests.conftest import free_port

    ld = open_logdir(
        "s3://bucket/x",
        options={"endpoint_url": f"http://127.0.0.1:{free_port()}"},
        credentials={"key": "k", "secret": "s"},
        from_env=False,
    )
    with pytest.raises(SourceError) as exc:
        ld.list_event_files()
    assert exc.value.transient
    assert exc.value.kind in ("unreachable", "timeout")


def test_split_url() -> None:
    assert split_url("s3://b/p/") == ("s3", "b/p")
    assert split_url("gs://b") == ("gs", "b")
    assert split_url("/x/y/") == ("file", "/x/y")


def test_chained_urls_are_refused() -> None:
    with pytest.raises(SourceError):
        open_logdir("simplecache::s3://b/p")


def test_local_symlink_loops_terminate(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "events.out.tfevents.1.h").write_bytes(b"x")
    os.symlink(tmp_path, tmp_path / "run" / "loop")
    files = open_logdir(str(tmp_path)).list_event_files()
    assert ("run", "events.out.tfevents.1.h") in [(f.run, f.name) for f in files]
