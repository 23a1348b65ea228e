"""Operations endpoints: `/healthz`, `/readyz` and `/metrics`. Documented in docs/DEPLOY.md#monitoring.

- `/healthz` — liveness: the process answers. Touches neither the database nor Redis, so a
  database outage never makes an orchestrator restart healthy web processes.
- `/readyz` — readiness: the database and Redis answer (embedded mode: the database only).
  200 with every check's result, or 503 naming the failing checks with a readable reason.
- `/metrics` — Prometheus text format, computed at scrape time from PostgreSQL and Redis with a
  few aggregate queries, so any web process answers the same numbers for the whole deployment
  (many web processes, workers on many machines). Open unless `TBHUB_METRICS_TOKEN` is set; then
  it needs `Authorization: Bearer <token>`.

Websocket clients are counted across web processes: each process keeps its own counts in memory
(`ws_client_connected` / `ws_client_disconnected`, no I/O, safe on the event loop) and a daemon
thread publishes them to one Redis hash per process with a short expiry, refreshed by a heartbeat;
a process that dies stops counting within `WS_TTL_SECONDS`.

`ProbeMiddleware` (optional, first in MIDDLEWARE) answers the three paths before Django's host
validation, sessions and the rest, so probes and scrapers that address a pod by its IP work
without listing that IP in `TBHUB_ALLOWED_HOSTS`. `RequestLogMiddleware` (optional) writes one
structured log line per request with the URL *pattern*, never the raw path (share-link tokens
live in paths).
"""

from __future__ import annotations

import atexit
import hmac
import logging
import os
import re
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Count, F, Min, Q, Sum
from django.db.models.functions import Coalesce, Least
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

import tbhub

log = logging.getLogger("tbhub.ops")
request_log = logging.getLogger("tbhub.request")

# Bounded waits: a probe or a scrape never hangs on a dead dependency.
REDIS_TIMEOUT_SECONDS = 2.0
METRICS_STATEMENT_TIMEOUT_MS = 5000
# Websocket counts: how often each web process re-publishes its counts, and how long they live.
WS_HEARTBEAT_SECONDS = 15.0
WS_TTL_SECONDS = 60

OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
# Event files tbhub does not mean to read: gone from the source, or whose run's data was deleted.
ABSENT_STATES = ("missing", "deleted")


# ---- Redis ------------------------------------------------------------------------------------

_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def _redis(url: str) -> Any:
    """One client (and connection pool) per URL, with short timeouts."""
    client = _clients.get(url)
    if client is None:
        import redis

        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                client = redis.Redis.from_url(
                    url,
                    socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
                    socket_timeout=REDIS_TIMEOUT_SECONDS,
                    health_check_interval=30,
                )
                _clients[url] = client
    return client


def _is_redis_url(url: object) -> bool:
    return isinstance(url, str) and urlsplit(url).scheme in ("redis", "rediss")


def redis_url() -> str | None:
    """The Redis tbhub keeps its own keys in: the cache's (team mode), else REDIS_URL."""
    conf = settings.CACHES.get("default", {})
    if "redis" in str(conf.get("BACKEND", "")).lower():
        location = conf.get("LOCATION")
        if isinstance(location, list | tuple):
            location = location[0] if location else None
        if _is_redis_url(location):
            return str(location)
    url = getattr(settings, "REDIS_URL", None)
    return str(url) if _is_redis_url(url) else None


def broker_url() -> str | None:
    url = getattr(settings, "CELERY_BROKER_URL", None)
    return str(url) if _is_redis_url(url) else None


def redis_prefix() -> str:
    return str(getattr(settings, "TBHUB_REDIS_PREFIX", "tbhub"))


_URL_CREDENTIALS = re.compile(r"(\w+://)[^/@\s]*@")


def _reason(exc: BaseException) -> str:
    """A readable one-line reason, without credentials that an URL in a message might carry."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = _URL_CREDENTIALS.sub(r"\1***@", text)
    reason = f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__
    return reason[:300]


# ---- checks -----------------------------------------------------------------------------------


def check_database() -> None:
    conn = connections["default"]
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        # A broken connection must not be reused by the next request of this thread.
        try:
            conn.close()
        except Exception:
            log.debug("closing a broken connection failed", exc_info=True)
        raise


def check_redis(url: str) -> None:
    if not _redis(url).ping():
        raise ConnectionError("PING was not answered with PONG")


def readiness_checks() -> dict[str, Callable[[], None]]:
    """What /readyz checks: the database always; Redis (and a separate broker) when configured."""
    checks: dict[str, Callable[[], None]] = {"database": check_database}
    url = redis_url()
    if url:
        checks["redis"] = lambda: check_redis(url)
    broker = broker_url()
    if broker and broker != url:
        checks["broker"] = lambda: check_redis(broker)
    return checks


def run_checks() -> tuple[bool, dict[str, dict[str, Any]]]:
    results: dict[str, dict[str, Any]] = {}
    ok = True
    for name, check in readiness_checks().items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            ok = False
            results[name] = {
                "status": "error",
                "error": _reason(exc),
                "seconds": round(time.perf_counter() - started, 4),
            }
        else:
            results[name] = {"status": "ok", "seconds": round(time.perf_counter() - started, 4)}
    return ok, results


# ---- views ------------------------------------------------------------------------------------


@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process is up. No database, no Redis."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def readyz(request: HttpRequest) -> HttpResponse:
    """Readiness: 200 when every dependency answers, else 503 naming the failing ones."""
    ok, results = run_checks()
    if ok:
        return JsonResponse({"status": "ok", "checks": results})
    failing = [name for name, r in results.items() if r["status"] != "ok"]
    reasons = "; ".join(f"{name}: {results[name]['error']}" for name in failing)
    log.warning("ops.not_ready", extra={"failing": failing, "reason": reasons})
    response = JsonResponse(
        {"status": "unavailable", "failing": failing, "reason": reasons, "checks": results},
        status=503,
    )
    response._has_been_logged = True  # type: ignore[attr-defined]  # logged above, once
    return response


def metrics_token() -> str:
    token = getattr(settings, "TBHUB_METRICS_TOKEN", None)
    if token is None:
        token = os.environ.get("TBHUB_METRICS_TOKEN", "")
    return str(token)


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format (0.0.4), computed now. Bearer token when TBHUB_METRICS_TOKEN is set."""
    token = metrics_token()
    if token:
        scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            resp = HttpResponse(
                "metrics need a bearer token\n", status=401, content_type="text/plain"
            )
            resp["WWW-Authenticate"] = 'Bearer realm="tbhub-metrics"'
            return resp
    return HttpResponse(generate_latest(REGISTRY), content_type=CONTENT_TYPE_PLAIN_0_0_4)


VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "/healthz": healthz,
    "/readyz": readyz,
    "/metrics": metrics,
}


# ---- aggregates shared by /metrics and `tbhub manage ingest_status` ----------------------------


def file_aggregates(group: str, **filters: Any) -> dict[int, dict[str, Any]]:
    """One grouped query over every event file: counts, bytes, records, lag inputs.

    `group` is a path from EventFile to an id: `run__source__project_id`, `run__source_id` or
    `run_id`. Values are ints (0 when there is nothing) and `oldest_pending` a datetime or None.
    """
    from ingest.models import EventFile, FileState
    from ingest.services import _readable_pending  # the poller's own definition of "unread"

    pending = _readable_pending()
    present = ~Q(state__in=ABSENT_STATES)
    aggregates: dict[str, Any] = {
        f"state_{state}": Count("id", filter=Q(state=state)) for state in FileState.values
    }
    aggregates.update(
        files_read=Count("id", filter=present & Q(offset__gte=F("size"))),
        size_bytes=Sum("size", filter=present),
        read_bytes=Sum(Least(F("offset"), F("size")), filter=present),
        pending_bytes=Sum(F("size") - F("offset"), filter=pending),
        pending_files=Count("id", filter=pending),
        oldest_pending=Min(Coalesce("last_grown_at", "first_seen_at"), filter=pending),
        records=Sum("records"),
        bad_records=Sum("bad_records"),
        skipped_bytes=Sum("bytes_skipped"),
    )
    rows = EventFile.objects.filter(**filters).order_by().values(group).annotate(**aggregates)
    out: dict[int, dict[str, Any]] = {}
    for row in rows:
        key = row.pop(group)
        for name, value in row.items():
            if value is None and name != "oldest_pending":
                row[name] = 0
        row["files"] = sum(row[f"state_{s}"] for s in FileState.values if s not in ABSENT_STATES)
        row["files_by_state"] = {s: row.pop(f"state_{s}") for s in FileState.values}
        out[int(key)] = row
    return out


def lag_seconds(oldest_pending: datetime | None, now: datetime) -> float:
    """Seconds since the oldest growth that is still unread (0 when caught up)."""
    if oldest_pending is None:
        return 0.0
    return max(0.0, (now - oldest_pending).total_seconds())


# ---- websocket clients ------------------------------------------------------------------------


class WsTracker:
    """This process's websocket clients per project, published to Redis by a daemon thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[int] = Counter()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self.key_suffix = f"{socket.gethostname()}:{self._pid}:{secrets.token_hex(4)}"

    def _after_fork(self) -> None:
        if os.getpid() != self._pid:  # a forked child starts with no clients and no thread
            self.__init__()  # type: ignore[misc]

    def add(self, project_id: int, delta: int) -> None:
        self._after_fork()
        with self._lock:
            n = self._counts[project_id] + delta
            if n > 0:
                self._counts[project_id] = n
            else:
                self._counts.pop(project_id, None)
        self._wake.set()
        self._ensure_thread()

    def snapshot(self) -> dict[int, int]:
        with self._lock:
            return dict(self._counts)

    def _keys(self) -> tuple[str, str]:
        base = f"{redis_prefix()}:ops:ws"
        return f"{base}:proc:{self.key_suffix}", f"{base}:procs"

    def publish(self) -> bool:
        """Write this process's counts to Redis (one hash, with expiry). False without Redis."""
        url = redis_url()
        if not url:
            return False
        key, index = self._keys()
        counts = self.snapshot()
        pipe = _redis(url).pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping={"_alive": 1, **{str(p): n for p, n in counts.items()}})
        pipe.expire(key, WS_TTL_SECONDS)
        pipe.sadd(index, key)
        pipe.expire(index, WS_TTL_SECONDS * 10)  # gone once no process has published for long
        pipe.execute()
        return True

    def withdraw(self) -> None:
        url = redis_url()
        if not url:
            return
        key, index = self._keys()
        try:
            _redis(url).pipeline(transaction=True).delete(key).srem(index, key).execute()
        except Exception:
            log.debug("ops.ws.withdraw_failed", exc_info=True)

    def _ensure_thread(self) -> None:
        if self._thread is not None or not redis_url():
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._loop, name="tbhub-ws-count", daemon=True)
            self._thread.start()
        atexit.register(self.withdraw)

    def _loop(self) -> None:
        while True:
            self._wake.wait(WS_HEARTBEAT_SECONDS)
            self._wake.clear()
            try:
                self.publish()
            except Exception:
                log.debug("ops.ws.publish_failed", exc_info=True)
                time.sleep(1.0)


_tracker = WsTracker()


# Comparison pages and share links (issue #5) are counted under this key: project ids start at 1.
COMPARISON_WS_KEY = 0


def ws_comparison_connected() -> None:
    """Call when a comparison or share-link websocket has been accepted. No I/O."""
    _tracker.add(COMPARISON_WS_KEY, 1)


def ws_comparison_disconnected() -> None:
    """Call when such a websocket has gone (only for one that was counted as connected)."""
    _tracker.add(COMPARISON_WS_KEY, -1)


def ws_client_connected(project_id: int) -> None:
    """Call when a websocket has joined a project's group. No I/O: safe on the event loop."""
    _tracker.add(int(project_id), 1)


def ws_client_disconnected(project_id: int) -> None:
    """Call when such a websocket has gone (only for one that was counted as connected)."""
    _tracker.add(int(project_id), -1)


def ws_clients() -> dict[int, int]:
    """Websocket clients per project id, over every live web process (embedded: this one)."""
    url = redis_url()
    if not url:
        return _tracker.snapshot()
    client = _redis(url)
    index = f"{redis_prefix()}:ops:ws:procs"
    keys = sorted(k.decode() if isinstance(k, bytes) else str(k) for k in client.smembers(index))
    if not keys:
        return {}
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    totals: Counter[int] = Counter()
    gone: list[str] = []
    for key, data in zip(keys, pipe.execute(), strict=True):
        if not data:
            gone.append(key)  # that process stopped publishing: its hash expired
            continue
        for field, value in data.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            if name.isdigit():
                totals[int(name)] += int(value)
    if gone:
        client.srem(index, *gone)
    return dict(totals)


# ---- the collector ----------------------------------------------------------------------------


def _celery_queues() -> list[str]:
    queues = {str(getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery"))}
    for route in (getattr(settings, "CELERY_TASK_ROUTES", None) or {}).values():
        if isinstance(route, dict) and route.get("queue"):
            queues.add(str(route["queue"]))
    return sorted(queues)


def celery_queue_lengths() -> tuple[dict[str, int], int]:
    """Messages waiting per queue (kombu's Redis lists, priority lists included) and unacked ones."""
    url = broker_url()
    if not url:
        return {}, 0
    from kombu.transport.redis import PRIORITY_STEPS, Channel

    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    prefix = str(options.get("global_keyprefix", ""))
    steps = options.get("priority_steps", PRIORITY_STEPS)
    queues = _celery_queues()
    pipe = _redis(url).pipeline(transaction=False)
    layout: list[str] = []
    for queue in queues:
        for step in steps:
            key = queue if not step else f"{queue}{Channel.sep}{step}"
            pipe.llen(prefix + key)
            layout.append(queue)
    pipe.hlen(prefix + str(options.get("unacked_key", Channel.unacked_key)))
    results = pipe.execute()
    lengths = dict.fromkeys(queues, 0)
    for queue, n in zip(layout, results[:-1], strict=True):
        lengths[queue] += int(n)
    return lengths, int(results[-1])


def _gauge(name: str, doc: str, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=list(labels))


class HubCollector:
    """Everything tbhub-specific on /metrics, computed at scrape time."""

    def describe(self) -> list[Metric]:
        return []  # never query the database at registration

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        mode = str(getattr(settings, "TBHUB_MODE", "team"))
        info = _gauge("tbhub_build_info", "tbhub version and mode (always 1)", ["version", "mode"])
        info.add_metric([tbhub.__version__, mode], 1)
        yield info

        up = _gauge(
            "tbhub_dependency_up", "Whether a dependency answered this scrape", ["dependency"]
        )
        slugs: dict[int, str] = {}
        try:
            families, slugs = self._database()
        except Exception as exc:
            log.warning("ops.metrics.database_failed", extra={"reason": _reason(exc)})
            up.add_metric(["database"], 0)
        else:
            up.add_metric(["database"], 1)
            yield from families

        if redis_url() or broker_url():
            try:
                yield from self._redis(slugs)
            except Exception as exc:
                log.warning("ops.metrics.redis_failed", extra={"reason": _reason(exc)})
                up.add_metric(["redis"], 0)
            else:
                up.add_metric(["redis"], 1)
        else:
            yield from self._ws_family(_tracker.snapshot(), slugs)
        yield up

        took = _gauge("tbhub_metrics_collect_seconds", "Time this scrape took to compute")
        took.add_metric([], time.perf_counter() - started)
        yield took

    # Four queries: projects, files by project, runs by project, sources.
    def _database(self) -> tuple[list[Metric], dict[int, str]]:
        from hub.models import Project
        from ingest.models import FileState, Run, Source, SourceStatus

        now = timezone.now()
        with transaction.atomic():
            conn = transaction.get_connection()
            if conn.vendor == "postgresql":
                with conn.cursor() as cursor:
                    cursor.execute(f"SET LOCAL statement_timeout = {METRICS_STATEMENT_TIMEOUT_MS}")
            slugs = dict(Project.objects.order_by().values_list("id", "slug"))
            files = file_aggregates("run__source__project_id")
            runs = {
                row["source__project_id"]: row
                for row in Run.objects.order_by()
                .values("source__project_id")
                .annotate(
                    runs=Count("id"),
                    pending=Count("id", filter=Q(pending=True)),
                    hot=Count("id", filter=Q(hot_until__gt=now)),
                )
            }
            sources = list(
                Source.objects.order_by("id").values("id", "project_id", "status", "last_listed_at")
            )

        p = ["project"]
        lag = _gauge(
            "tbhub_ingest_lag_seconds",
            "Seconds since the oldest still-unread growth of a readable event file (0: caught up)",
            p,
        )
        pending_bytes = _gauge(
            "tbhub_ingest_pending_bytes", "Bytes written to readable files but not read yet", p
        )
        size = _gauge("tbhub_ingest_size_bytes", "Total size of the event files to read", p)
        read = _gauge("tbhub_ingest_read_bytes", "Bytes of the event files to read, read so far", p)
        nfiles = _gauge(
            "tbhub_ingest_files",
            "Event files by state (ok, corrupt, stuck, error, missing, deleted)",
            [*p, "state"],
        )
        files_read = _gauge("tbhub_ingest_files_read", "Event files present and read to the end", p)
        records = CounterMetricFamily(
            "tbhub_ingest_records",
            "Event records read (resets when a run is re-ingested)",
            labels=p,
        )
        bad = CounterMetricFamily(
            "tbhub_ingest_bad_records",
            "Corrupt records skipped (bad CRC, undecodable, too large)",
            labels=p,
        )
        skipped = CounterMetricFamily(
            "tbhub_ingest_skipped_bytes",
            "Bytes skipped over corrupt or oversized records",
            labels=p,
        )
        nruns = _gauge("tbhub_runs", "Runs", p)
        pending_runs = _gauge("tbhub_runs_pending", "Runs with unread bytes", p)
        hot_runs = _gauge("tbhub_runs_hot", "Runs whose files grew recently (checked often)", p)
        nsources = _gauge("tbhub_sources", "Sources by status", [*p, "status"])
        listed = _gauge(
            "tbhub_source_last_listed_timestamp_seconds",
            "When a source was last listed successfully (Unix time)",
            [*p, "source"],
        )

        statuses: dict[int, Counter[str]] = {}
        for s in sources:
            statuses.setdefault(s["project_id"], Counter())[s["status"]] += 1
        for pid, slug in sorted(slugs.items(), key=lambda kv: kv[1]):
            f = files.get(pid)
            labels = [slug]
            if f is None:
                for state in FileState.values:
                    nfiles.add_metric([slug, state], 0)
                for fam in (lag, pending_bytes, size, read, files_read, records, bad, skipped):
                    fam.add_metric(labels, 0)
            else:
                lag.add_metric(labels, lag_seconds(f["oldest_pending"], now))
                pending_bytes.add_metric(labels, f["pending_bytes"])
                size.add_metric(labels, f["size_bytes"])
                read.add_metric(labels, f["read_bytes"])
                for state, n in f["files_by_state"].items():
                    nfiles.add_metric([slug, state], n)
                files_read.add_metric(labels, f["files_read"])
                records.add_metric(labels, f["records"])
                bad.add_metric(labels, f["bad_records"])
                skipped.add_metric(labels, f["skipped_bytes"])
            r = runs.get(pid, {})
            nruns.add_metric(labels, r.get("runs", 0))
            pending_runs.add_metric(labels, r.get("pending", 0))
            hot_runs.add_metric(labels, r.get("hot", 0))
            by_status = statuses.get(pid, Counter())
            for status in SourceStatus.values:
                nsources.add_metric([slug, status], by_status.get(status, 0))
        for s in sources:
            owner = slugs.get(s["project_id"])
            if owner is not None and s["last_listed_at"] is not None:
                listed.add_metric([owner, str(s["id"])], s["last_listed_at"].timestamp())
        families: list[Metric] = [
            lag, pending_bytes, size, read, nfiles, files_read, records, bad, skipped,
            nruns, pending_runs, hot_runs, nsources, listed,
        ]  # fmt: skip
        return families, slugs

    def _redis(self, slugs: dict[int, str]) -> Iterator[Metric]:
        lengths, unacked = celery_queue_lengths()
        queue = _gauge(
            "tbhub_celery_queue_length", "Tasks waiting in a Celery queue (broker lists)", ["queue"]
        )
        for name, n in lengths.items():
            queue.add_metric([name], n)
        yield queue
        inflight = _gauge(
            "tbhub_celery_unacked_tasks", "Tasks delivered to a worker and not acknowledged yet"
        )
        inflight.add_metric([], unacked)
        yield inflight
        yield from self._ws_family(ws_clients() if redis_url() else {}, slugs)

    @staticmethod
    def _ws_family(counts: dict[int, int], slugs: dict[int, str]) -> Iterator[Metric]:
        ws = _gauge(
            "tbhub_websocket_clients",
            "Open dashboard websockets over all web processes",
            ["project"],
        )
        for pid, slug in sorted(slugs.items(), key=lambda kv: kv[1]):
            ws.add_metric([slug], counts.get(pid, 0))
        yield ws
        shared = _gauge(
            "tbhub_comparison_websocket_clients",
            "Open comparison and share-link websockets over all web processes",
        )
        shared.add_metric([], counts.get(COMPARISON_WS_KEY, 0))
        yield shared


REGISTRY = CollectorRegistry(auto_describe=False)
REGISTRY.register(HubCollector())
# Process info of the web process that answered (CPU, memory, file descriptors, start time),
# Python's version and its garbage collector.
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)


# ---- middlewares ------------------------------------------------------------------------------


class ProbeMiddleware:
    """Answer /healthz, /readyz and /metrics first: no host validation, no session, no CSRF.

    Kubelets and Prometheus address pods by IP, which is not in ALLOWED_HOSTS. These three
    responses build no URL from the Host header, so skipping the check is safe.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = VIEWS.get(request.path_info)
        if view is not None:
            return view(request)
        return self.get_response(request)


def _route(request: HttpRequest) -> str | None:
    """The URL pattern a request matched (`/api/v1/projects/<slug:slug>/runs`), or None."""
    match = getattr(request, "resolver_match", None)
    if match is None:  # answered before URL resolution (e.g. a 401 from the auth middleware)
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return None
    return "/" + match.route if match.route else None


def _loaded_user(request: HttpRequest) -> Any:
    """The request's user only if something already loaded it: logging must never query the
    database (it may be down, and the answer already made must stay the one sent)."""
    from django.utils.functional import empty

    lazy = request.__dict__.get("user")
    if lazy is None:
        return None
    wrapped = getattr(lazy, "_wrapped", lazy)
    return None if wrapped is empty else wrapped


class RequestLogMiddleware:
    """One log line per request: method, URL pattern, status, duration, user id, auth kind."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        path = request.path_info
        if path in OPS_PATHS or path.startswith("/static/"):
            return response
        user = _loaded_user(request)
        request_log.info(
            "http.request",
            extra={
                "method": request.method,
                "route": _route(request),
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                "user_id": getattr(user, "pk", None),
                "auth": getattr(request, "auth_via", ""),
            },
        )
        return response
