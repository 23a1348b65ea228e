"""tbhub/healthcheck.py: the image's HEALTHCHECK finds its role and checks it."""

from __future__ import annotations

import http.server
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tbhub import healthcheck
from tests.conftest import free_port

BIN = Path(sys.executable).parent


def test_parse_cmdline() -> None:
    assert healthcheck.parse_cmdline(
        [
            "/opt/venv/bin/python",
            "/opt/venv/bin/tbhub",
            "web",
            "--host",
            "0.0.0.0",
            "--port",
            "9000",
        ]
    ) == ("web", ["--host", "0.0.0.0", "--port", "9000"])
    assert healthcheck.parse_cmdline(["python", "-m", "tbhub.cli", "worker"]) == ("worker", [])
    assert healthcheck.parse_cmdline(["/usr/bin/docker-init", "--", "sleep"]) is None
    assert healthcheck.parse_cmdline(["python", "-m", "tbhub.healthcheck"]) is None


def test_detect_takes_the_first_tbhub_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TBHUB_ROLE", raising=False)
    cmdlines = [["/sbin/docker-init", "--", "tbhub"], ["python", "/opt/venv/bin/tbhub", "beat"]]
    assert healthcheck.detect(cmdlines) == ("beat", [])
    assert healthcheck.detect([["sh"]]) == ("unknown", [])
    monkeypatch.setenv("TBHUB_ROLE", "worker")
    assert healthcheck.detect([["sh"]]) == ("worker", [])


def test_proc_scan_reads_command_lines(tmp_path: Path) -> None:
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "cmdline").write_bytes(b"/opt/venv/bin/python\0/opt/venv/bin/tbhub\0web\0")
    (tmp_path / "self").mkdir()
    assert list(healthcheck._proc_cmdlines(tmp_path)) == [
        ["/opt/venv/bin/python", "/opt/venv/bin/tbhub", "web"]
    ]


def test_port_of() -> None:
    assert healthcheck.port_of(["--host", "0.0.0.0", "--port", "9000"]) == 9000
    assert healthcheck.port_of(["--port=9001"]) == 9001
    assert healthcheck.port_of([]) == 8000


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 500)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield int(srv.server_address[1])
    srv.shutdown()
    srv.server_close()


def test_check_web(server: int) -> None:
    ok, message = healthcheck.check_web(server)
    assert ok, message
    ok, message = healthcheck.check_web(free_port())
    assert not ok
    assert "Connection refused" in message


def test_main_for_web_and_beat(
    server: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(healthcheck, "detect", lambda: ("web", ["--port", str(server)]))
    assert healthcheck.main() == 0
    assert "answered 200" in capsys.readouterr().out
    monkeypatch.setattr(healthcheck, "detect", lambda: ("beat", []))
    assert healthcheck.main() == 0
    assert capsys.readouterr().out == "beat: running\n"


@pytest.mark.slow
def test_worker_check_pings_the_real_worker(tmp_path: Path) -> None:
    """`tbhub worker` answers the container check; once it is gone, the check fails."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tbhub.settings",
        "TBHUB_REDIS_PREFIX": f"tbhub-test-hc-{secrets.token_hex(4)}",
        "TBHUB_LOG_LEVEL": "WARNING",
    }
    check_env = {**env, "TBHUB_ROLE": "worker"}

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tbhub.healthcheck"],
            env=check_env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    worker = subprocess.Popen(
        [str(BIN / "tbhub"), "worker", "--concurrency", "1"], env=env, cwd=tmp_path
    )
    try:
        deadline = time.monotonic() + 60
        result = check()
        while result.returncode != 0 and time.monotonic() < deadline:
            time.sleep(1)
            result = check()
        assert result.returncode == 0, result.stdout + result.stderr
        assert "answered" in result.stdout
    finally:
        worker.terminate()
        worker.wait(30)
    try:
        result = check()
        assert result.returncode == 1
        assert "did not answer" in result.stdout
    finally:
        import redis

        client = redis.Redis.from_url(os.environ["REDIS_URL"])
        keys = list(client.scan_iter(match=env["TBHUB_REDIS_PREFIX"] + ":*"))
        if keys:
            client.delete(*keys)
