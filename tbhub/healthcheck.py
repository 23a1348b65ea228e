"""Container health check of the tbhub image: `python -m tbhub.healthcheck` (docker/Dockerfile).

One image runs web, worker and beat; the check finds which from the `tbhub` process's command
line (or `TBHUB_ROLE`):

- web: `GET http://127.0.0.1:PORT/healthz` answers 200 (PORT from `--port`, default 8000).
- worker: the worker answers a Celery ping addressed to it alone (`celery@HOSTNAME`).
- beat and anything else: healthy while it runs (the container stops when it exits; a stalled
  scheduler shows as ingest lag, see docs/DEPLOY.md#monitoring).

Exit status 0 when healthy, 1 when not, with one line on stdout (`docker inspect` shows it).
Standard library only on the web path, so the check costs milliseconds there.
"""

from __future__ import annotations

import os
import socket
import sys
import urllib.request
from collections.abc import Iterable
from pathlib import Path

TIMEOUT_SECONDS = 5.0
DEFAULT_PORT = 8000


def parse_cmdline(argv: list[str]) -> tuple[str, list[str]] | None:
    """(role, arguments) when argv runs `tbhub ROLE ...` (console script or `-m tbhub.cli`)."""
    for i, arg in enumerate(argv[:-1]):
        if os.path.basename(arg) == "tbhub" or (arg == "tbhub.cli" and i and argv[i - 1] == "-m"):
            return argv[i + 1], argv[i + 2 :]
    return None


def _proc_cmdlines(proc: Path = Path("/proc")) -> Iterable[list[str]]:
    me = os.getpid()
    for entry in sorted(proc.iterdir(), key=lambda p: (len(p.name), p.name)):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            raw = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if raw:
            yield [part.decode(errors="replace") for part in raw.rstrip(b"\0").split(b"\0")]


def detect(cmdlines: Iterable[list[str]] | None = None) -> tuple[str, list[str]]:
    role = os.environ.get("TBHUB_ROLE", "")
    found: tuple[str, list[str]] | None = None
    for argv in _proc_cmdlines() if cmdlines is None else cmdlines:
        found = parse_cmdline(argv)
        if found is not None:
            break
    if role:
        return role, found[1] if found else []
    return found if found is not None else ("unknown", [])


def port_of(args: list[str]) -> int:
    for i, arg in enumerate(args):
        if arg == "--port" and i + 1 < len(args):
            return int(args[i + 1])
        if arg.startswith("--port="):
            return int(arg.split("=", 1)[1])
    return DEFAULT_PORT


def check_web(port: int) -> tuple[bool, str]:
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as resp:
            return resp.status == 200, f"web: {url} answered {resp.status}"
    except Exception as exc:
        return False, f"web: {url}: {exc.__class__.__name__}: {exc}"


def check_worker() -> tuple[bool, str]:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tbhub.settings")
    from tbhub.celery import app

    node = f"celery@{socket.gethostname()}"
    try:
        replies = app.control.ping(destination=[node], timeout=TIMEOUT_SECONDS)
    except Exception as exc:
        return False, f"worker: ping failed: {exc.__class__.__name__}: {exc}"
    if any(node in reply for reply in replies):
        return True, f"worker: {node} answered"
    return False, f"worker: {node} did not answer within {TIMEOUT_SECONDS:.0f} s"


def main() -> int:
    role, args = detect()
    if role == "web":
        ok, message = check_web(port_of(args))
    elif role == "worker":
        ok, message = check_worker()
    else:
        ok, message = True, f"{role}: running"
    sys.stdout.write(message + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
