"""Real services for the reliability suite and the load benchmarks, on loopback only.

- `PrivatePostgres`: a throwaway cluster (initdb into a temporary directory, a free port, fsync
  off), started and stopped with pg_ctl as the `postgres` user when we are root. Never the
  machine's own PostgreSQL (5432).
- `PrivateRedis`: `redis-server --port <free> --save "" --appendonly no`. Never 6379.
- `HubProcesses`: `tbhub web`, `tbhub worker`, `tbhub beat` as subprocesses with a given
  environment (each in its own process group, so a kill reaches a worker's pool children).
- `HubClient`: a logged-in HTTP session (requests) with CSRF handling, and the headers a
  websocket client needs (session cookie, allowed Origin).

Everything started here is stopped by its own handle; nothing is ever killed by name.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[2]
PG_BIN = Path("/usr/lib/postgresql/15/bin")
ADMIN_PASSWORD = "reliability-admin-pw-1"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def wait_until(pred: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            got = pred()
            if got:
                return got
        except Exception as exc:
            last = exc
        time.sleep(interval)
    raise RuntimeError(f"{what} did not happen within {timeout:.0f} s (last error: {last!r})")


class PrivatePostgres:
    """A PostgreSQL cluster of our own on a free loopback port."""

    def __init__(self, dbname: str = "tbhub") -> None:
        if not (PG_BIN / "initdb").exists():
            raise RuntimeError(f"{PG_BIN}/initdb is missing (apt-get install postgresql-15)")
        self.port = free_port()
        self.dbname = dbname
        self.dir = Path(tempfile.mkdtemp(prefix="tbhub-rel-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "postgres.log"
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres")
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "--no-sync",
                    "-E",
                    "UTF8",
                    "--locale",
                    "C",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.start()
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-qc",
                f"CREATE DATABASE {dbname}",
            ],
            check=True,
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{self.dbname}"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._pg_ctl("-w", "-t", "60", "-l", str(self.log), "-o", opts, "start")

    def stop(self, mode: str = "fast") -> None:
        """mode: "smart", "fast" (disconnect everyone, like a restart) or "immediate" (crash)."""
        self._pg_ctl("-w", "-t", "60", "-m", mode, "stop")

    def restart(self, down_seconds: float = 0.0, mode: str = "fast") -> None:
        self.stop(mode)
        time.sleep(down_seconds)
        self.start()

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def close(self) -> None:
        if self.running():
            with suppress(subprocess.CalledProcessError):
                self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """A redis-server of our own on a free loopback port, without persistence: a restart loses
    everything (queues, channel-layer groups, cache), the worst case for recovery."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="tbhub-rel-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port)
        wait_until(client.ping, 20, "redis-server to answer")
        client.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(20)
        self.proc = None

    def restart(self, down_seconds: float = 0.0) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def pytest_db_url() -> str:
    """The URL of the database pytest-django created for this session (subprocesses of a
    `django_db(transaction=True)` test see its committed data)."""
    from django.db import connection

    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def hub_env(
    *,
    database_url: str,
    redis_url: str,
    workdir: Path,
    local_roots: list[str] | None = None,
    endpoints: list[str] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of a team-mode hub process (no inherited DJANGO_SETTINGS_MODULE)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TBHUB_", "DJANGO_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "TBHUB_SECRET_KEY": "reliability-secret-key-not-for-production",
            "TBHUB_REDIS_PREFIX": f"rel-{uuid.uuid4().hex[:8]}",
            "TBHUB_LOCAL_ROOTS": ":".join(local_roots or [tempfile.gettempdir()]),
            "TBHUB_ALLOWED_ENDPOINTS": ",".join(endpoints or []),
            "TBHUB_LOG_LEVEL": os.environ.get("TBHUB_REL_LOG_LEVEL", "WARNING"),
            "TBHUB_LOG_FORMAT": "text",
            "DJANGO_SETTINGS_MODULE": "tbhub.settings",
            "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
            # beat keeps its schedule file in the temporary directory: one per hub.
            "TMPDIR": str(workdir),
        }
    )
    env.update(extra or {})
    return env


class HubProcesses:
    """`tbhub web` / `worker` / `beat` subprocesses sharing one environment."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = env
        self.workdir = workdir
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}
        self.web_port = 0
        self._n = 0

    def manage(self, *args: str, input: str | None = None) -> str:
        out = subprocess.run(
            [str(BIN / "tbhub"), "manage", *args],
            env=self.env,
            cwd=self.workdir,
            input=input,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if out.returncode:
            raise RuntimeError(f"tbhub manage {' '.join(args)} failed:\n{out.stderr[-3000:]}")
        return out.stdout

    def python(self, code: str, timeout: float = 600) -> str:
        """Run Python code in this hub's environment (Django set up by the code itself) and
        return its stdout: e.g. seeding a private database."""
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**self.env, "PYTHONPATH": str(REPO)},
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if out.returncode:
            raise RuntimeError(f"python failed:\n{out.stderr[-3000:]}")
        return out.stdout

    def db_connections(self) -> int:
        """Open connections to this hub's database (all clients), from pg_stat_activity."""
        code = (
            "import django; django.setup()\n"
            "from django.db import connection\n"
            "with connection.cursor() as c:\n"
            "    c.execute('SELECT count(*) FROM pg_stat_activity WHERE datname = "
            "current_database()')\n"
            "    print(c.fetchone()[0] - 1)\n"
        )
        return int(self.python(code).strip())

    def migrate_and_admin(self) -> None:
        self.manage("migrate", "--noinput", "-v", "0")
        env = {"TBHUB_ADMIN_PASSWORD": ADMIN_PASSWORD}
        subprocess.run(
            [str(BIN / "tbhub"), "manage", "create_admin", "--username", "admin"],
            env={**self.env, **env},
            cwd=self.workdir,
            check=True,
            capture_output=True,
            timeout=120,
        )

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        self._n += 1
        log = self.workdir / f"{name}-{self._n}.log"
        self.logs[name] = log
        proc = subprocess.Popen(
            argv,
            env=self.env,
            cwd=self.workdir,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs[name] = proc
        return proc

    def start_web(self, port: int | None = None, name: str = "web") -> str:
        self.web_port = port or self.web_port or free_port()
        self._spawn(
            name,
            [str(BIN / "tbhub"), "web", "--host", "127.0.0.1", "--port", str(self.web_port)],
        )
        url = f"http://127.0.0.1:{self.web_port}"
        wait_until(
            lambda: requests.get(url + "/healthz", timeout=2).status_code == 200,
            60,
            f"tbhub web on {url}\n{self.tail(name)}",
        )
        return url

    @property
    def web_url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start_worker(self, name: str = "worker", concurrency: int = 2) -> None:
        self._spawn(
            name,
            [
                str(BIN / "tbhub"),
                "worker",
                "--concurrency",
                str(concurrency),
                "-n",
                f"{name}-{uuid.uuid4().hex[:6]}@%h",
            ],
        )

    def start_beat(self, name: str = "beat") -> None:
        self._spawn(name, [str(BIN / "tbhub"), "beat"])

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Signal a process and its whole group (a Celery worker's pool children too)."""
        proc = self.procs.get(name)
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def pids(self, name: str) -> list[int]:
        """The process and its descendants (a worker's pool children)."""
        proc = self.procs.get(name)
        if proc is None:
            return []
        out = [proc.pid]
        try:
            children = subprocess.run(
                ["pgrep", "-g", str(proc.pid)], capture_output=True, text=True
            ).stdout.split()
        except FileNotFoundError:
            children = []
        out += [int(c) for c in children if int(c) != proc.pid]
        return out

    def tail(self, name: str, chars: int = 3000) -> str:
        log = self.logs.get(name)
        if log is None or not log.exists():
            return ""
        return f"--- {name} log ---\n" + log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        for name in list(self.procs):
            self.kill(name, signal.SIGTERM)


class HubClient:
    """A browser-like session: logged in, CSRF token sent on writes, JSON in and out."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        self.s = requests.Session()
        self.s.trust_env = False  # loopback only: never an HTTP proxy from the environment

    def login(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> requests.Response:
        self.s.get(self.base + "/accounts/login/", timeout=10)
        token = self.s.cookies.get("csrftoken") or ""
        return self.s.post(
            self.base + "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": self.base + "/accounts/login/"},
            allow_redirects=False,
            timeout=10,
        )

    def _headers(self) -> dict[str, str]:
        return {
            "X-CSRFToken": self.s.cookies.get("csrftoken") or "",
            "Referer": self.base + "/",
        }

    def get(self, path: str, timeout: float = 30, **params: Any) -> requests.Response:
        return self.s.get(self.base + path, params=params or None, timeout=timeout)

    def post(self, path: str, body: Any, timeout: float = 30) -> requests.Response:
        return self.s.post(self.base + path, json=body, headers=self._headers(), timeout=timeout)

    def create_project(self, slug: str) -> None:
        r = self.post("/api/v1/projects", {"slug": slug, "name": slug.title()})
        assert r.status_code == 201, r.text

    def add_source(self, slug: str, url: str, **body: Any) -> dict[str, Any]:
        r = self.post(f"/api/v1/projects/{slug}/sources", {"url": url, **body})
        assert r.status_code == 201, r.text
        return dict(r.json())

    def ws_url(self, slug: str) -> str:
        return self.base.replace("http://", "ws://") + f"/ws/projects/{slug}"

    def ws_headers(self) -> dict[str, str]:
        cookie = "; ".join(f"{c.name}={c.value}" for c in self.s.cookies)
        return {"Cookie": cookie, "Origin": self.base}

    def scalars(self, slug: str, run: str, tag: str) -> list[list[Any]]:
        r = self.get(f"/api/v1/projects/{slug}/scalars", run=run, tag=tag)
        if r.status_code == 404:
            return []
        r.raise_for_status()
        return list(r.json()["points"])


@contextmanager
def private_services() -> Iterator[tuple[PrivatePostgres, PrivateRedis]]:
    pg = PrivatePostgres()
    try:
        redis = PrivateRedis()
    except BaseException:
        pg.close()
        raise
    try:
        yield pg, redis
    finally:
        redis.close()
        pg.close()


# ---- websocket clients --------------------------------------------------------------------------


@dataclass
class WsClient:
    """What one subscribed client saw: (receive time, message) pairs, connections, errors."""

    index: int
    notices: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    hellos: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    connects: int = 0
    closes: list[tuple[float, str]] = field(default_factory=list)
    catch_ups: list[Any] = field(default_factory=list)

    def versions(self, run_id: int) -> list[int]:
        return [m["version"] for _, m in self.notices if m.get("run_id") == run_id]


class WsFleet:
    """N websocket clients on one project, in one asyncio thread, that reconnect like the
    dashboard does (exponential back-off with jitter) and call `catch_up(client)` (in a thread)
    after every (re)connection, as the page refetches what changed."""

    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        n: int,
        *,
        catch_up: Callable[[WsClient], Any] | None = None,
        max_delay: float = 2.0,
    ) -> None:
        self.url = url
        self.headers = headers
        self.clients = [WsClient(i) for i in range(n)]
        self.catch_up = catch_up
        self.max_delay = max_delay
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ready = threading.Event()

    def start(self, timeout: float = 60) -> None:
        self._thread = threading.Thread(target=self._run, name="ws-fleet", daemon=True)
        self._thread.start()
        if not self.ready.wait(timeout):
            raise RuntimeError("websocket clients did not all connect")

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        connected = asyncio.Semaphore(0)
        tasks = [asyncio.create_task(self._client(c, connected)) for c in self.clients]

        async def all_connected() -> None:
            for _ in self.clients:
                await connected.acquire()
            self.ready.set()

        waiter = asyncio.create_task(all_connected())
        while not self._stop.is_set():
            await asyncio.sleep(0.05)
        waiter.cancel()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, waiter, return_exceptions=True)

    async def _client(self, c: WsClient, connected: asyncio.Semaphore) -> None:
        import random

        from websockets.asyncio.client import connect

        delay = 0.2
        first = True
        while not self._stop.is_set():
            try:
                async with connect(
                    self.url,
                    additional_headers=self.headers,
                    proxy=None,
                    open_timeout=10,
                    max_size=None,
                ) as ws:
                    c.connects += 1
                    async for raw in ws:
                        msg = json.loads(raw)
                        now = time.monotonic()
                        if msg.get("type") == "hello":
                            c.hellos.append((now, msg))
                            delay = 0.2
                            if first:
                                first = False
                                connected.release()
                            if self.catch_up is not None:
                                got = await asyncio.to_thread(self.catch_up, c)
                                c.catch_ups.append((time.monotonic(), got))
                        else:
                            c.notices.append((now, msg))
                    c.closes.append((time.monotonic(), f"closed {ws.close_code}"))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                c.closes.append((time.monotonic(), f"{exc.__class__.__name__}: {str(exc)[:120]}"))
            if self._stop.is_set():
                break
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(self.max_delay, delay * 2)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
