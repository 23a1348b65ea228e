"""Access to a log directory through fsspec: local paths, s3:// (s3fs) and gs:// (gcsfs).

Documented in docs/ARCHITECTURE.md#sources. Everything that touches storage goes through `LogDir`,
so listing, range reads and the translation of storage errors into readable messages live in one
place. tbhub only ever reads: no method here writes to or deletes from a source.

Filesystem objects are created lazily, inside the process that uses them (Celery prefork children
must not inherit sockets from the parent), and cached per (protocol, options, credentials).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat as stat_mod
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")

EVENT_FILE_MARKER = "tfevents"

# Storage calls: each HTTP request may take this long (TBHUB_STORAGE_TIMEOUT_SECONDS), a whole
# call (with the client libraries' own retries) a few times that, a recursive listing longer.
# tbhub's scheduler retries failed calls later with back-off, so a call must fail in bounded
# time rather than hold a worker (s3fs nests its retries: 5 x 5 x botocore's attempts, which
# made one call against an endpoint that never answers take about 20 minutes).
DEFAULT_TIMEOUT_SECONDS = 20.0
CALL_DEADLINE_FACTOR = 3
LIST_DEADLINE_FACTOR = 6
CLIENT_RETRIES = 2


@dataclass(frozen=True, slots=True)
class FileInfo:
    """One event file as seen by a listing. `path` is what `LogDir.read_range` takes."""

    run: str
    name: str
    path: str
    size: int
    etag: str = ""
    mtime: float | None = None


class SourceError(Exception):
    """A storage problem with a message fit to show users, and whether retrying may help.

    kind is one of: not_found, access_denied, unreachable, timeout, invalid, transient, error.
    """

    def __init__(self, kind: str, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.transient = transient

    def __str__(self) -> str:
        return self.message


def is_event_file(name: str) -> bool:
    return EVENT_FILE_MARKER in name


def split_url(url: str) -> tuple[str, str]:
    """Return (protocol, path-without-protocol): ("file", "/abs"), ("s3", "bucket/prefix")."""
    if url.startswith("s3://"):
        return "s3", url[5:].strip("/")
    if url.startswith(("gs://", "gcs://")):
        return "gs", url.split("://", 1)[1].strip("/")
    if url.startswith("file://"):
        return "file", os.path.abspath(url[7:])
    return "file", os.path.abspath(url)


def utf8_name(name: str) -> bool:
    """Whether a local file or directory name is valid UTF-8 (os.scandir gives undecodable
    bytes as surrogates, which the database cannot store)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def default_timeout() -> float:
    """TBHUB_STORAGE_TIMEOUT_SECONDS as the hub reads it, without Django settings (export)."""
    raw = os.environ.get("TBHUB_STORAGE_TIMEOUT_SECONDS", "").strip()
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        value = DEFAULT_TIMEOUT_SECONDS
    return value if value > 0 else DEFAULT_TIMEOUT_SECONDS


def run_name(rel_dir: str) -> str:
    """TensorBoard's run naming: the directory relative to the root, '/'-separated, root = '.'."""
    rel = rel_dir.strip("/")
    return rel if rel else "."


# ---- filesystem construction ------------------------------------------------------------------

_fs_cache: dict[tuple[str, str], Any] = {}
_fs_lock = threading.Lock()
_fs_pid = os.getpid()


def _cache_key(protocol: str, kwargs: dict[str, Any]) -> tuple[str, str]:
    blob = json.dumps(kwargs, sort_keys=True, default=str).encode()
    return protocol, hashlib.sha256(blob).hexdigest()


def _s3_kwargs(
    options: dict[str, Any], credentials: dict[str, Any], from_env: bool, timeout: float
) -> dict[str, Any]:
    kw: dict[str, Any] = {
        "use_listings_cache": False,
        "skip_instance_cache": True,
        "config_kwargs": {
            "connect_timeout": min(10.0, timeout),
            "read_timeout": timeout,
            "retries": {"max_attempts": CLIENT_RETRIES, "mode": "standard"},
        },
    }
    client_kwargs: dict[str, Any] = {}
    endpoint = options.get("endpoint_url") or (os.environ.get("S3_ENDPOINT") if from_env else None)
    if endpoint:
        if "://" not in endpoint:
            endpoint = "https://" + endpoint
        client_kwargs["endpoint_url"] = endpoint
    region = options.get("region") or (
        os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") if from_env else None
    )
    if region:
        client_kwargs["region_name"] = region
    if client_kwargs:
        kw["client_kwargs"] = client_kwargs
    if credentials.get("key") and credentials.get("secret"):
        kw["key"] = credentials["key"]
        kw["secret"] = credentials["secret"]
        if credentials.get("token"):
            kw["token"] = credentials["token"]
    elif options.get("anon") or not from_env:
        # A source without credentials must never borrow the server's own (instance role, env).
        kw["anon"] = True
    return kw


def _gcs_kwargs(
    options: dict[str, Any], credentials: dict[str, Any], from_env: bool
) -> dict[str, Any]:
    kw: dict[str, Any] = {"skip_instance_cache": True, "use_listings_cache": False}
    if options.get("project"):
        kw["project"] = options["project"]
    endpoint = options.get("endpoint_url") or (
        os.environ.get("STORAGE_EMULATOR_HOST") if from_env else None
    )
    if endpoint:
        kw["endpoint_url"] = endpoint
    sa = credentials.get("service_account_json")
    if sa:
        kw["token"] = json.loads(sa) if isinstance(sa, str) else sa
    elif options.get("anon") or not from_env:
        kw["token"] = "anon"  # noqa: S105 - gcsfs's keyword for anonymous access
    return kw


class RedirectRefused(Exception):
    """A storage endpoint answered with a redirect; tbhub never follows one."""


def _redirect_guard() -> Any:
    """An aiohttp trace hook that refuses every redirect before it is followed.

    aiohttp follows redirects by default and both aiobotocore (S3) and gcsfs (GCS) let it, so an
    allowed endpoint answering `307 Location: http://169.254.169.254/...` would send tbhub's
    requests to any host: the TBHUB_ALLOWED_ENDPOINTS check would be bypassed (SSRF). botocore
    itself never follows redirects, so S3-compatible servers do not need them."""
    import aiohttp

    async def refuse(session: Any, ctx: Any, params: Any) -> None:
        location = str(params.response.headers.get("Location", ""))[:200]
        params.response.close()
        raise RedirectRefused(f"the endpoint redirected to {location!r}; redirects are refused")

    guard = aiohttp.TraceConfig()
    guard.on_request_redirect.append(refuse)
    guard.freeze()
    return guard


def _guard_session(session: Any) -> Any:
    configs = session.trace_configs  # the session's own list: hooks apply to every request
    if not any(getattr(c, "tbhub_redirect_guard", False) for c in configs):
        guard = _redirect_guard()
        guard.tbhub_redirect_guard = True
        configs.append(guard)
    return session


def _no_redirect_s3_session_cls() -> Any:
    from aiobotocore.httpsession import AIOHTTPSession

    class NoRedirectSession(AIOHTTPSession):
        async def _get_session(self, proxy_url: Any) -> Any:
            return _guard_session(await super()._get_session(proxy_url))

    return NoRedirectSession


def _make_fs(protocol: str, kwargs: dict[str, Any]) -> Any:
    global _fs_pid
    key = _cache_key(protocol, kwargs)
    kwargs = dict(kwargs)
    with _fs_lock:
        if os.getpid() != _fs_pid:  # forked: never reuse a parent's event loop or sockets
            _fs_cache.clear()
            _fs_pid = os.getpid()
        fs = _fs_cache.get(key)
        if fs is None:
            if protocol == "s3":
                import s3fs

                config = dict(kwargs.get("config_kwargs") or {})
                config["http_session_cls"] = _no_redirect_s3_session_cls()
                fs = s3fs.S3FileSystem(**{**kwargs, "config_kwargs": config})
            else:
                import gcsfs

                session_kwargs = {"trace_configs": [_redirect_guard()]}
                fs = gcsfs.GCSFileSystem(**kwargs, session_kwargs=session_kwargs)
            # Fewer retries inside one call (s3fs nests two loops of them; gcsfs ignores it).
            fs.retries = CLIENT_RETRIES
            _fs_cache[key] = fs
        return fs


# ---- error translation ------------------------------------------------------------------------


def translate_error(exc: BaseException, url: str) -> SourceError:
    """Turn whatever a storage client raised into a SourceError users can act on."""
    if isinstance(exc, SourceError):
        return exc
    text = str(exc) or exc.__class__.__name__
    name = exc.__class__.__name__
    low = text.lower()
    code = ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
    cause = exc.__cause__ or exc.__context__
    if cause is not None and not code:
        response = getattr(cause, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
    if code in ("NoSuchBucket",) or "nosuchbucket" in low or "bucket does not exist" in low:
        return SourceError("not_found", f"{url}: no such bucket")
    if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"):
        return SourceError("access_denied", f"{url}: credentials rejected ({code})")
    if code in ("AccessDenied", "AllAccessDisabled", "403") or isinstance(exc, PermissionError):
        return SourceError("access_denied", f"{url}: access denied")
    if code in ("SlowDown", "ServiceUnavailable", "InternalError", "503", "500", "RequestTimeout"):
        return SourceError("transient", f"{url}: storage busy ({code}), retrying", transient=True)
    if isinstance(exc, FileNotFoundError):
        return SourceError("not_found", f"{url}: not found")
    if isinstance(exc, RedirectRefused) or "redirects are refused" in low:
        return SourceError(
            "invalid", f"{url}: the endpoint answered with a redirect, which is never followed"
        )
    if (
        isinstance(exc, TimeoutError)
        or name in ("FSTimeoutError", "ReadTimeoutError", "ConnectTimeoutError")
        or "timeout" in low
        or "timed out" in low
    ):
        return SourceError("timeout", f"{url}: storage did not answer in time", transient=True)
    if (
        "could not connect" in low
        or "connection refused" in low
        or "cannot connect" in low
        or "name or service not known" in low
        or "connect call failed" in low
        or "connection reset" in low
        or "server disconnected" in low
        or "connection was closed" in low
        or name
        in (
            "EndpointConnectionError",
            "ClientConnectorError",
            "ServerDisconnectedError",
            "ConnectionClosedError",
            "ConnectionResetError",
        )
    ):
        return SourceError(
            "unreachable", f"{url}: cannot reach the storage endpoint", transient=True
        )
    if isinstance(exc, IsADirectoryError | NotADirectoryError):
        return SourceError("invalid", f"{url}: not a directory")
    if isinstance(exc, OSError) and "50" in code:
        return SourceError("transient", f"{url}: storage error ({code}), retrying", transient=True)
    # Unknown: keep the class name, never a traceback or anything that might echo a secret.
    return SourceError("error", f"{url}: storage error ({name})", transient=True)


# ---- the log directory ------------------------------------------------------------------------


class LogDir:
    """A log directory: list event files, list one run, read byte ranges."""

    def __init__(
        self,
        url: str,
        *,
        options: dict[str, Any] | None = None,
        credentials: dict[str, Any] | None = None,
        from_env: bool = True,
        follow_symlinks: bool = True,
        timeout: float | None = None,
    ) -> None:
        self.url = url
        self.protocol, self.root = split_url(url)
        self.options = dict(options or {})
        self._credentials = dict(credentials or {})
        self.from_env = from_env
        self.follow_symlinks = follow_symlinks
        self.timeout = float(timeout) if timeout and timeout > 0 else default_timeout()
        # Local entries left out of the last listing because their names are not UTF-8.
        self.skipped_names = 0
        self._fs: Any = None

    def __repr__(self) -> str:  # never show credentials
        return f"LogDir({self.url!r})"

    @property
    def is_remote(self) -> bool:
        return self.protocol != "file"

    @property
    def fs(self) -> Any:
        if self._fs is None:
            if self.protocol == "s3":
                kw = _s3_kwargs(self.options, self._credentials, self.from_env, self.timeout)
            elif self.protocol == "gs":
                kw = _gcs_kwargs(self.options, self._credentials, self.from_env)
            else:
                raise SourceError("invalid", "local directories are read without fsspec")
            self._fs = _make_fs(self.protocol, kw)
        return self._fs

    # -- listing

    def _deadline(self, factor: int = CALL_DEADLINE_FACTOR) -> float:
        """The longest one remote call (with the client's own retries) may take."""
        return self.timeout * factor

    def list_event_files(self) -> list[FileInfo]:
        """One recursive listing of the whole source; sorted by (run, name)."""
        self.skipped_names = 0
        try:
            if self.protocol == "file":
                files = list(self._walk_local(self.root, ""))
            else:
                files = self._list_remote(self.root, recursive=True)
        except SourceError:
            raise
        except Exception as exc:
            raise translate_error(exc, self.url) from exc
        files.sort(key=lambda f: (f.run, f.name))
        return files

    def list_run(self, run: str) -> list[FileInfo]:
        """Event files directly in one run directory (one request on object stores)."""
        try:
            if self.protocol == "file":
                base = self.root if run == "." else os.path.join(self.root, run)
                files = list(self._scan_local_dir(base, "" if run == "." else run))
            else:
                prefix = self.root if run == "." else f"{self.root}/{run}"
                files = self._list_remote(prefix, recursive=False, run_prefix=run)
        except SourceError:
            raise
        except Exception as exc:
            raise translate_error(exc, self.url) from exc
        files.sort(key=lambda f: f.name)
        return files

    def _scan_local_dir(self, path: str, rel: str) -> Iterator[FileInfo]:
        try:
            it = os.scandir(path)
        except FileNotFoundError:
            return
        with it:
            for entry in it:
                if not is_event_file(entry.name):
                    continue
                if not utf8_name(entry.name):
                    self.skipped_names += 1
                    continue
                try:
                    st = entry.stat(follow_symlinks=self.follow_symlinks)
                except OSError:
                    continue
                if not stat_mod.S_ISREG(st.st_mode):
                    continue
                yield FileInfo(
                    run=run_name(rel),
                    name=entry.name,
                    path=entry.path,
                    size=st.st_size,
                    etag=f"{st.st_ino}-{st.st_mtime_ns}",
                    mtime=st.st_mtime,
                )

    def _walk_local(self, path: str, rel: str) -> Iterator[FileInfo]:
        if not os.path.isdir(path):
            if os.path.exists(path):
                raise SourceError("invalid", f"{self.url}: not a directory")
            raise SourceError("not_found", f"{self.url}: no such directory")
        stack = [(path, rel)]
        seen: set[tuple[int, int]] = set()
        while stack:
            cur, cur_rel = stack.pop()
            try:
                st = os.stat(cur)
            except OSError:
                continue
            ident = (st.st_dev, st.st_ino)
            if ident in seen:  # symlink loops
                continue
            seen.add(ident)
            try:
                entries = list(os.scandir(cur))
            except (PermissionError, FileNotFoundError, NotADirectoryError):
                continue
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=self.follow_symlinks):
                        if not utf8_name(entry.name):
                            self.skipped_names += 1
                            continue
                        child_rel = f"{cur_rel}/{entry.name}" if cur_rel else entry.name
                        stack.append((entry.path, child_rel))
                except OSError:
                    continue
            yield from self._scan_local_dir(cur, cur_rel)

    def _list_remote(
        self, prefix: str, *, recursive: bool, run_prefix: str | None = None
    ) -> list[FileInfo]:
        fs = self.fs
        out: list[FileInfo] = []
        if recursive:
            entries = fs.find(
                prefix, detail=True, withdirs=False, timeout=self._deadline(LIST_DEADLINE_FACTOR)
            )
            items = entries.values() if isinstance(entries, dict) else entries
        else:
            try:
                items = fs.ls(prefix, detail=True, refresh=True, timeout=self._deadline())
            except FileNotFoundError:
                return []
        root = self.root.rstrip("/")
        if recursive and not items and not fs.exists(prefix, timeout=self._deadline()):
            bucket = prefix.split("/", 1)[0]
            if not fs.exists(bucket, timeout=self._deadline()):
                raise SourceError("not_found", f"{self.url}: no such bucket")
        for info in items:
            if info.get("type", "file") != "file":
                continue
            full = str(info["name"]).rstrip("/")
            base = full.rsplit("/", 1)[-1]
            if not is_event_file(base):
                continue
            parent = full.rsplit("/", 1)[0] if "/" in full else ""
            if parent == root:
                rel = ""
            elif parent.startswith(root + "/"):
                rel = parent[len(root) + 1 :]
            else:
                continue
            if run_prefix is not None and run_name(rel) != run_prefix:
                continue
            etag = str(info.get("ETag") or info.get("etag") or info.get("md5Hash") or "").strip('"')
            mtime = info.get("LastModified") or info.get("updated") or info.get("mtime")
            ts: float | None = None
            if hasattr(mtime, "timestamp"):
                ts = float(mtime.timestamp())
            out.append(
                FileInfo(
                    run=run_name(rel),
                    name=base,
                    path=full,
                    size=int(info.get("size") or 0),
                    etag=etag,
                    mtime=ts,
                )
            )
        return out

    # -- reading

    def size(self, path: str) -> int:
        try:
            if self.protocol == "file":
                return os.stat(path).st_size
            return int(self.fs.info(path, refresh=True, timeout=self._deadline())["size"])
        except Exception as exc:
            raise translate_error(exc, self.url) from exc

    def read_range(self, path: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of a file; shorter when the file ends first."""
        if end <= start:
            return b""
        try:
            if self.protocol == "file":
                with open(path, "rb") as fh:
                    fh.seek(start)
                    return fh.read(end - start)
            data = self.fs.cat_file(path, start=start, end=end, timeout=self._deadline())
            return bytes(data)
        except Exception as exc:
            text = f"{exc} {exc.__cause__ or ''}"
            if "InvalidRange" in text or "416" in text or "range is not satisfiable" in text:
                return b""  # reading at or past the end of an object: nothing new yet
            raise translate_error(exc, self.url) from exc


def open_logdir(
    url: str,
    *,
    options: dict[str, Any] | None = None,
    credentials: dict[str, Any] | None = None,
    from_env: bool = True,
    follow_symlinks: bool = True,
    timeout: float | None = None,
) -> LogDir:
    """Open a log directory. `from_env` lets the usual environment (AWS_*, S3_ENDPOINT,
    GOOGLE_APPLICATION_CREDENTIALS, STORAGE_EMULATOR_HOST) fill in what the source does not say:
    right for `tbhub serve`/`export` on one's own machine, never for team sources."""
    if "::" in url:
        raise SourceError("invalid", "chained fsspec URLs are not supported")
    return LogDir(
        url,
        options=options,
        credentials=credentials,
        from_env=from_env,
        follow_symlinks=follow_symlinks,
        timeout=timeout,
    )
