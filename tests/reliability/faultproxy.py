"""A fault-injecting HTTP proxy for S3 tests, on loopback only.

    proxy = FaultProxy("http://127.0.0.1:<moto port>")
    proxy.start()                     # listens on 127.0.0.1:<free port>; proxy.url
    proxy.fault("503")                # every request: 503 SlowDown
    proxy.fault("hang", hang=5.0)     # accept, read the request, answer nothing for 5 s, close
    proxy.fault("reset")              # read the request, then reset the connection (RST)
    proxy.fault("500", times=3)       # the next three requests: 500 InternalError
    proxy.fault("403")                # 403 InvalidAccessKeyId (credentials revoked)
    proxy.clear()                     # pass everything through again
    proxy.requests                    # (monotonic time, method, path, what happened) per request

Requests are forwarded to the upstream (moto) one per connection (`Connection: close`), headers
unchanged otherwise (moto does not check SigV4 signatures, so the Host header may differ).
Only loopback addresses are ever connected to: the upstream must be http://127.x.x.x.
"""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

ERRORS: dict[str, tuple[int, str, str, str]] = {
    "500": (500, "Internal Server Error", "InternalError", "We encountered an internal error."),
    "503": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "403": (
        403,
        "Forbidden",
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
    ),
}
MODES = ("pass", "hang", "reset", *ERRORS)


@dataclass(frozen=True, slots=True)
class Seen:
    at: float
    method: str
    path: str
    outcome: str


@dataclass(slots=True)
class _Rule:
    mode: str
    hang: float
    times: int | None
    match: Callable[[str, str], bool] | None


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    proxy: FaultProxy


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        proxy = self.server.proxy
        sock: socket.socket = self.request
        sock.settimeout(60)
        try:
            head, body = _read_request(sock)
        except (OSError, ValueError):
            return
        if not head:
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, _, rest = request_line.partition(" ")
        path = rest.rsplit(" ", 1)[0]
        outcome = proxy._decide(method, path)
        proxy._record(Seen(time.monotonic(), method, path, outcome))
        if outcome == "reset":
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        if outcome.startswith("hang:"):
            proxy._released.wait(float(outcome.split(":", 1)[1]))
            return  # closed without an answer
        if outcome in ERRORS:
            sock.sendall(_error_response(outcome, method))
            return
        self._forward(proxy, sock, head, body)

    def _forward(self, proxy: FaultProxy, sock: socket.socket, head: bytes, body: bytes) -> None:
        lines = head.split(b"\r\n")
        kept = [ln for ln in lines[1:] if ln and not ln.lower().startswith(b"connection:")]
        out = b"\r\n".join([lines[0], *kept, b"Connection: close", b"", b""]) + body
        try:
            with socket.create_connection(proxy.upstream, timeout=60) as up:
                up.sendall(out)
                while True:
                    chunk = up.recv(65536)
                    if not chunk:
                        break
                    sock.sendall(chunk)
        except OSError:
            return


def _read_request(sock: socket.socket) -> tuple[bytes, bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            return b"", b""
        buf += chunk
        if len(buf) > 1 << 20:
            raise ValueError("request head too large")
    head, _, body = buf.partition(b"\r\n\r\n")
    length = 0
    chunked = False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while not body.endswith(b"0\r\n\r\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    else:
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return head + b"\r\n\r\n", body


def _error_response(mode: str, method: str) -> bytes:
    status, reason, code, message = ERRORS[mode]
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message>"
        "<RequestId>faultproxy</RequestId></Error>"
    ).encode()
    body = b"" if method == "HEAD" else xml
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: application/xml\r\n"
        f"Content-Length: {len(body)}\r\n"
        "x-amz-request-id: faultproxy\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head + body


class FaultProxy:
    def __init__(self, upstream: str, *, host: str = "127.0.0.1") -> None:
        parts = urlsplit(upstream)
        if parts.scheme != "http" or not (parts.hostname or "").startswith("127."):
            raise ValueError("the fault proxy only forwards to http://127.x.x.x (loopback)")
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.host = host
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._rule = _Rule("pass", 0.0, None, None)
        self._released = threading.Event()
        self.requests: list[Seen] = []

    # -- lifecycle

    def start(self) -> None:
        server = _Server((self.host, 0), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="faultproxy", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._released.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- faults

    def fault(
        self,
        mode: str,
        *,
        hang: float = 30.0,
        times: int | None = None,
        match: Callable[[str, str], bool] | None = None,
    ) -> None:
        """Apply `mode` to every request (or the next `times` ones, or those `match(method,
        path)` accepts) until `clear()`."""
        if mode not in MODES:
            raise ValueError(f"unknown fault {mode!r} (one of {', '.join(MODES)})")
        with self._lock:
            self._released.clear()
            self._rule = _Rule(mode, hang, times, match)

    def clear(self) -> None:
        with self._lock:
            self._rule = _Rule("pass", 0.0, None, None)
            self._released.set()

    def _decide(self, method: str, path: str) -> str:
        with self._lock:
            rule = self._rule
            if rule.mode == "pass" or (rule.match is not None and not rule.match(method, path)):
                return "pass"
            if rule.times is not None:
                if rule.times <= 0:
                    return "pass"
                rule.times -= 1
            return f"hang:{rule.hang}" if rule.mode == "hang" else rule.mode

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def seen(self, outcome: str | None = None, since: float = 0.0) -> list[Seen]:
        with self._lock:
            return [
                s
                for s in self.requests
                if s.at >= since and (outcome is None or s.outcome.split(":")[0] == outcome)
            ]
