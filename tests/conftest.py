"""Shared fixtures: real services on loopback (moto's S3 server, the GCS emulator), the corpus."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus"
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except Exception as exc:
            last = exc
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up: {last}")


@pytest.fixture(scope="session")
def corpus() -> Path:
    """../shared/corpus; missing in a user's clone (skip), required in CI (TBHUB_REQUIRE_CORPUS)."""
    if not CORPUS.is_dir():
        if os.environ.get("TBHUB_REQUIRE_CORPUS") == "1":
            pytest.fail(f"conformance corpus missing at {CORPUS} (required in CI)")
        pytest.skip(f"conformance corpus not found at {CORPUS} (it ships beside the repo in CI)")
    return CORPUS


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """moto's standalone S3 server on a free loopback port; yields its endpoint URL."""
    port = free_port()
    proc = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(endpoint + "/moto-api/")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[str]:
    """gcp-storage-emulator in memory on a free loopback port; yields its endpoint URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            str(BIN / "gcp-storage-emulator"),
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--in-memory",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_http(endpoint + "/storage/v1/b?project=test")
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(10)
