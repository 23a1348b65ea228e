"""End-to-end ingest benchmark (issue 2, "Benchmark"): tbhub against TensorBoard's own loader.

    .venv/bin/python benchmarks/ingest.py --scale small|medium|full [--only abcdefg]
        [--cache DIR] [--repeat N] [--tb-jobs N] [--profile] [--py-spy PATH] [--json PATH]

`make bench` runs `--scale small` (a smoke check, ~2 minutes). docs/PERFORMANCE.md records the
figures and how to read them.

The scale corpus is generated once into `--cache` (default $TBHUB_BENCH_CACHE or
/tmp/tbhub-bench) and reused when its manifest matches. Runs alternate between two wire formats:
even runs are PyTorch/TF1 style (`simple_value`, plugin metadata on a tag's first value only,
legacy `histo` and `image` values), odd runs TF2 style (rank-0 DT_FLOAT tensors in
`tensor_content` with `scalars` metadata on every value, histograms as [k, 3] DT_DOUBLE tensors,
images as [w, h, png] DT_STRING tensors). Every step writes one event per scalar tag (step-major,
like a training loop); histograms every `hist_every` steps, an image every `image_every` steps.
Records are built with our own `ingest.proto` messages (one template per tag and step-varint
width, see `_scalar_rows`) whose wall/step/value columns are filled with numpy, so a 20M-event
corpus takes seconds to write; TensorBoard's loader in (a) verifies every CRC of it.

Then, in the same run:
  (a) TensorBoard's `EventFileLoader` (its pure-Python CRC replaced by google-crc32c, its best
      case) reads every event of the corpus on one core: the anchor;
  (b) `ingest.events.decode` over 16 MiB windows of every file, one core;
  (c) `tbhub worker --concurrency 2` (real Celery, Redis broker) into a fresh PostgreSQL database,
      the poll task sent every TBHUB_TICK_SECONDS as beat would, until every EventFile's offset
      equals its size; workers' peak RSS (VmHWM) and CPU, PostgreSQL backends' CPU;
  (d) a 1M-point scalar series: every point and a 1,000-point view, through the selectors +
      `points_json`, through the API view (Django test Client) and over HTTP to `tbhub web`;
  (e) `tbhub serve` from process start until `/api/v1/runs` reports every byte of a ~1M-event
      subset read, against TensorBoard's loader over the same files (from (a)) and, unless
      --no-tb-server, a real `tensorboard --load_fast=false` until it serves the last step of
      every run;
  (f) `tbhub export --format jsonl` of ~200k events (a subprocess, start-up included) against
      TensorBoard's loader over the same files (from (a));
  (g) an idle 100-run source on moto's S3 server behind a counting proxy: storage requests per
      hour by kind, first inside the hot window that follows ingest, then once the hot window has
      elapsed (fast-forwarded by moving Run.hot_until into the past).

The machine is shared (and small), so (a) and (b) are measured in CPU time of one pinned process,
the others in wall-clock time with "CPU vs CPU" ratios next to them, and every phase reports how
many cores other processes kept busy meanwhile.

Everything it starts (workers, web, serve, tensorboard, moto, the proxy) is stopped on exit, and
its database (`tbhub_bench_<pid>`) is dropped, on Ctrl-C too. Databases of earlier benchmark
processes that no longer exist are dropped at start.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import http.client
import http.server
import io
import itertools
import json
import os
import pstats
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import google_crc32c  # noqa: E402
import numpy as np  # noqa: E402

from ingest.proto import event_pb2, summary_pb2  # noqa: E402
from ingest.tfrecord import frame_record  # noqa: E402

BIN = Path(sys.executable).parent
GEN_VERSION = 3
WINDOW = 16 * 1024 * 1024
WALL0 = 1_700_000_000.0
PG_ADMIN_URL = os.environ.get("TBHUB_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TBHUB_BENCH_REDIS", "redis://127.0.0.1:6379/7")
MB = 1e6

# ---- scales ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scale:
    runs: int
    tags: int
    steps: int
    hist_tags: int = 2
    hist_every: int = 50
    hist_buckets: int = 30
    image_every: int = 500
    subset_e_runs: int = 10  # ~1M scalar events at 20 tags x 5,000 steps
    subset_f_runs: int = 2  # ~200k
    hot_seconds: float = 60.0  # (g) observation inside the hot window
    idle_seconds: float = 180.0  # (g) observation once idle
    repeat: int = 3
    tb_server: bool = True


SCALES: dict[str, Scale] = {
    "small": Scale(
        runs=10,
        tags=20,
        steps=2000,
        subset_e_runs=10,
        subset_f_runs=5,
        hot_seconds=10,
        idle_seconds=15,
        repeat=1,
        tb_server=False,
    ),
    "medium": Scale(runs=50, tags=20, steps=5000, hot_seconds=60, idle_seconds=120, repeat=3),
    "full": Scale(runs=200, tags=20, steps=5000, hot_seconds=60, idle_seconds=180, repeat=3),
}
QUERY_POINTS = 1_000_000
IDLE_RUNS = 100

TARGETS = {
    "b_ratio": 30.0,
    "c_events_per_s": 1_000_000.0,
    "d_down_ms": 50.0,
    "d_all_ms": 300.0,
    "e_ratio": 8.0,
    "f_ratio": 3.0,
    "rss_mb": 400.0,
}


# Set by SIGINT/SIGTERM/SIGHUP. The handler also raises KeyboardInterrupt, but a library may
# swallow that in a C call, so every loop and every line printed checks this flag too.
INTERRUPTED = threading.Event()


STOPPING = threading.Event()  # set once we are cleaning up: no more interrupts raised


def check_interrupt() -> None:
    if INTERRUPTED.is_set() and not STOPPING.is_set():
        raise KeyboardInterrupt


def say(msg: str = "") -> None:
    check_interrupt()
    print(msg, flush=True)


def fmt_rate(x: float) -> str:
    return f"{x:,.0f}"


def pass_fail(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# ---- process bookkeeping (everything started is stopped on exit) -------------------------------


class Cleanup:
    """LIFO stack of clean-up actions, run once, on normal exit, exceptions and signals."""

    def __init__(self) -> None:
        self._actions: list[tuple[str, Callable[[], None]]] = []
        self._done = False

    def push(self, what: str, fn: Callable[[], None]) -> None:
        self._actions.append((what, fn))

    def remove(self, fn: Callable[[], None]) -> None:
        self._actions = [(w, f) for w, f in self._actions if f is not fn]

    def run(self) -> None:
        if self._done:
            return
        self._done = True
        STOPPING.set()
        old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut it short
        try:
            while self._actions:
                what, fn = self._actions.pop()
                try:
                    fn()
                except BaseException as exc:  # keep cleaning, whatever happens
                    say(f"  ! clean-up of {what} failed: {exc.__class__.__name__}: {exc}")
        finally:
            signal.signal(signal.SIGINT, old)


CLEANUP = Cleanup()


def start_process(
    name: str, argv: list[str], *, env: dict[str, str], log_dir: Path, stdout: Any = None
) -> subprocess.Popen[bytes]:
    """Start a child in its own session (so Ctrl-C reaches only us and we stop it ourselves)."""
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed by the stop action
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=stdout if stdout is not None else log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(log_dir),
    )

    def stop() -> None:
        stop_process(proc)
        log.close()

    CLEANUP.push(f"{name} (pid {proc.pid})", stop)
    proc.stop = stop  # type: ignore[attr-defined]
    return proc


def stop_process(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace: float = 15
) -> None:
    """Stop a child we started and its process group (same id: start_new_session)."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    # Anything left in its group (a forked child that outlived the parent).
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def finish_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    stopper = getattr(proc, "stop", None)
    if stopper is not None:
        stop_process(proc, sig)
        stopper()
        CLEANUP.remove(stopper)


def _stop_stray_children() -> None:
    """After a failed phase: stop the processes it started (their clean-up actions)."""
    for what, fn in list(CLEANUP._actions):
        if "(pid " in what:
            with contextlib.suppress(BaseException):
                fn()
            CLEANUP.remove(fn)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout}s")


# ---- /proc -------------------------------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")


def _proc_stat(pid: int) -> tuple[int, float] | None:
    """(ppid, user+system CPU seconds) of a live process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rfind(")") + 2 :].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def descendants(pid: int) -> list[int]:
    """pid and every live process below it."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _proc_stat(int(entry))
            if st is not None:
                children[st[0]].append(int(entry))
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(children.get(p, []))
    return out


def vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float:
    st = _proc_stat(pid)
    return st[1] if st else 0.0


class RssWatch:
    """Peak RSS (VmHWM) and CPU per process of a tree, sampled until stopped."""

    def __init__(self, root_pid: int) -> None:
        self.root = root_pid
        self.peak: dict[int, float] = {}
        self.cpu: dict[int, float] = {}

    def sample(self) -> None:
        for pid in descendants(self.root):
            hwm = vm_hwm_mb(pid)
            if hwm is not None:
                self.peak[pid] = max(self.peak.get(pid, 0.0), hwm)
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), cpu_seconds(pid))


class Busy:
    """How busy the machine was during a phase, and how much of that was not us: the machine is
    shared, so every phase reports the average number of cores other processes kept busy."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.busy0 = self._busy()
        self.ours0 = self._ours()

    @staticmethod
    def _busy() -> float:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
        return (user + nice + system + irq + softirq + steal) / _TICK

    @staticmethod
    def _ours() -> float:
        import resource

        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    def stop(self, extra_ours: float = 0.0) -> dict[str, float]:
        """extra_ours: CPU seconds of our work not counted in our process tree (PostgreSQL
        backends, children still running)."""
        wall = time.perf_counter() - self.t0
        busy = self._busy() - self.busy0
        ours = self._ours() - self.ours0 + extra_ours
        return {
            "wall_s": wall,
            "busy_cores": busy / wall,
            "our_cores": ours / wall,
            "other_cores": max(0.0, busy - ours) / wall,
        }


def busy_text(b: dict[str, float]) -> str:
    return (
        f"machine: {b['busy_cores']:.2f} of {os.cpu_count()} cores busy on average, "
        f"{b['other_cores']:.2f} by other processes"
    )


# ---- corpus generation -------------------------------------------------------------------------

_MASK_DELTA = np.uint32(0xA282EAD8)
_tail_tables: dict[int, np.ndarray] = {}


def _tail_table(after: int) -> np.ndarray:
    """CRC32C contribution of one byte value followed by `after` bytes (CRC-32C is affine, so
    equal-length rows differ in CRC by the XOR of their differing bytes' contributions)."""
    table = _tail_tables.get(after)
    if table is None:
        tail = bytes(after)
        base = google_crc32c.value(bytes(1) + tail)
        table = np.zeros(256, dtype=np.uint32)
        values = np.arange(256, dtype=np.uint32)
        for bit in range(8):
            contrib = np.uint32(google_crc32c.value(bytes((1 << bit,)) + tail) ^ base)
            table ^= np.where((values >> np.uint32(bit)) & np.uint32(1), contrib, np.uint32(0))
        _tail_tables[after] = table.astype(np.uint32)
        table = _tail_tables[after]
    return table


def _masked_crc_rows(rows: np.ndarray, columns: list[int]) -> np.ndarray:
    """Masked CRC32C of every row of `rows` (n x L), which equal row 0 outside `columns`."""
    n, length = rows.shape
    tmpl = rows[0]
    crc = np.full(n, google_crc32c.value(tmpl.tobytes()), dtype=np.uint32)
    for col in columns:
        crc ^= _tail_table(length - 1 - col)[(rows[:, col] ^ tmpl[col]).astype(np.intp)]
    return ((crc >> np.uint32(15)) | (crc << np.uint32(17))) + _MASK_DELTA


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


_SENTINEL_F32 = struct.unpack("<f", b"\x5a\xa5\x3c\x3f")[0]
_SENTINEL_WALL = struct.unpack("<d", b"\x11\x22\x33\x44\x55\x66\x77\x41")[0]


def _varint_width(n: int) -> int:
    if n == 0:
        return 0  # proto3 leaves a zero step out
    width = 1
    while n >= 0x80:
        n >>= 7
        width += 1
    return width


def _scalar_template(tag: str, step: int, tensor: bool, metadata: bool) -> bytes:
    ev = event_pb2.Event(wall_time=_SENTINEL_WALL, step=step)
    value = ev.summary.value.add(tag=tag.encode())
    if tensor:
        value.tensor.dtype = 1  # type: ignore[assignment]  # DT_FLOAT
        value.tensor.tensor_shape.SetInParent()
        value.tensor.tensor_content = struct.pack("<f", _SENTINEL_F32)
        value.metadata.plugin_data.plugin_name = b"scalars"
        value.metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    else:
        value.simple_value = _SENTINEL_F32
        if metadata:
            value.metadata.plugin_data.plugin_name = b"scalars"
    return ev.SerializeToString()


def _scalar_rows(
    tag: str,
    steps: np.ndarray,
    walls: np.ndarray,
    values: np.ndarray,
    *,
    tensor: bool,
    metadata: bool,
) -> np.ndarray:
    """Framed records (n x (L + 16) bytes) of one tag's scalar events whose steps all have the
    same varint width: one protobuf template, numpy-filled columns, vectorised CRCs."""
    n = len(steps)
    payload = _scalar_template(tag, int(steps[0]), tensor, metadata)
    width = _varint_width(int(steps[0]))
    length = len(payload)
    voff = payload.find(struct.pack("<f", _SENTINEL_F32))
    layout_ok = (
        payload[0] == 0x09  # wall_time first
        and payload[1:9] == struct.pack("<d", _SENTINEL_WALL)
        and (width == 0 or payload[9] == 0x10)  # then the step varint
        and voff > 0
        and payload.count(struct.pack("<f", _SENTINEL_F32)) == 1
    )
    if not layout_ok:
        raise RuntimeError(f"unexpected Event layout for {tag!r}: {payload!r}")
    rows = np.empty((n, length + 16), dtype=np.uint8)
    rows[:, :8] = np.frombuffer(struct.pack("<Q", length), dtype=np.uint8)
    rows[:, 8:12] = np.frombuffer(
        struct.pack("<I", _masked_crc(struct.pack("<Q", length))), dtype=np.uint8
    )
    body = rows[:, 12 : 12 + length]
    body[:] = np.frombuffer(payload, dtype=np.uint8)
    body[:, 1:9] = np.ascontiguousarray(walls, dtype="<f8").view(np.uint8).reshape(n, 8)
    s = steps.astype(np.uint64)
    for j in range(width):
        byte = (s >> np.uint64(7 * j)) & np.uint64(0x7F)
        if j < width - 1:
            byte |= np.uint64(0x80)
        body[:, 10 + j] = byte.astype(np.uint8)
    body[:, voff : voff + 4] = (
        np.ascontiguousarray(values, dtype="<f4").view(np.uint8).reshape(n, 4)
    )
    columns = list(range(1, 9)) + list(range(10, 10 + width)) + list(range(voff, voff + 4))
    crc = _masked_crc_rows(body, columns)
    rows[:, 12 + length :] = crc.astype("<u4").view(np.uint8).reshape(n, 4)
    return rows


def _histogram_record(
    tag: str,
    step: int,
    wall: float,
    rng: np.random.Generator,
    *,
    tensor: bool,
    first: bool,
    buckets: int,
) -> bytes:
    sample = rng.standard_normal(256)
    counts, edges = np.histogram(sample, bins=buckets)
    ev = event_pb2.Event(wall_time=wall, step=step)
    value = ev.summary.value.add(tag=tag.encode())
    if tensor:
        arr = np.stack([edges[:-1], edges[1:], counts.astype(np.float64)], axis=1)
        value.tensor.dtype = 2  # type: ignore[assignment]  # DT_DOUBLE
        value.tensor.tensor_shape.dim.add(size=buckets)
        value.tensor.tensor_shape.dim.add(size=3)
        value.tensor.tensor_content = arr.astype("<f8").tobytes()
        value.metadata.plugin_data.plugin_name = b"histograms"
    else:
        h = value.histo
        h.min, h.max = float(sample.min()), float(sample.max())
        h.num, h.sum = float(len(sample)), float(sample.sum())
        h.sum_squares = float((sample * sample).sum())
        h.bucket_limit.extend(edges[1:].tolist())
        h.bucket.extend(counts.astype(float).tolist())
        if first:
            value.metadata.plugin_data.plugin_name = b"histograms"
    return frame_record(ev.SerializeToString())


def _png(seed: int) -> bytes:
    from PIL import Image

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8), "RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _image_record(tag: str, step: int, wall: float, png: bytes, *, tensor: bool) -> bytes:
    ev = event_pb2.Event(wall_time=wall, step=step)
    value = ev.summary.value.add(tag=tag.encode())
    if tensor:
        value.tensor.dtype = 7  # type: ignore[assignment]  # DT_STRING
        value.tensor.tensor_shape.dim.add(size=3)
        value.tensor.string_val.extend([b"16", b"16", png])
        value.metadata.plugin_data.plugin_name = b"images"
    else:
        value.image.height, value.image.width, value.image.colorspace = 16, 16, 3
        value.image.encoded_image_string = png
    return frame_record(ev.SerializeToString())


TAG_NAMES = ["loss", "accuracy", "learning_rate", "grad_norm", "throughput"]


def tag_names(tags: int) -> list[str]:
    return [f"metrics/{TAG_NAMES[i % len(TAG_NAMES)]}_{i:02d}" for i in range(tags)]


@dataclass
class FileSpec:
    run: str
    path: str  # relative to the dataset's logs/ directory
    bytes: int
    records: int
    scalars: int
    histograms: int
    images: int
    tensor: bool


def write_run(
    path: Path,
    *,
    seed: int,
    tags: int,
    steps: int,
    tensor: bool,
    hist_tags: int = 0,
    hist_every: int = 0,
    hist_buckets: int = 30,
    image_every: int = 0,
) -> dict[str, int]:
    """Write one run's event file; returns its counts."""
    rng = np.random.default_rng(seed)
    names = tag_names(tags)
    extras: dict[int, list[bytes]] = collections.defaultdict(list)
    n_hist = n_img = 0
    png = _png(seed) if image_every else b""
    if hist_every and hist_tags:
        for step in range(0, steps, hist_every):
            for h in range(hist_tags):
                wall = WALL0 + step * 0.25 + 0.01 + h * 1e-4
                extras[step].append(
                    _histogram_record(
                        f"weights/layer_{h}",
                        step,
                        wall,
                        rng,
                        tensor=tensor,
                        first=step == 0,
                        buckets=hist_buckets,
                    )
                )
                n_hist += 1
    if image_every:
        for step in range(0, steps, image_every):
            extras[step].append(
                _image_record("samples/input", step, WALL0 + step * 0.25 + 0.02, png, tensor=tensor)
            )
            n_img += 1
    values = rng.standard_normal((steps, tags)).astype(np.float32)
    all_steps = np.arange(steps, dtype=np.int64)
    parts: list[bytes] = [
        frame_record(
            event_pb2.Event(
                wall_time=WALL0 - 1.0, file_version=b"brain.Event:2"
            ).SerializeToString()
        )
    ]
    # Ranges of steps with one varint width; step 0 alone (no step field, and metadata).
    bounds = [0, 1]
    b = 128
    while b < steps:
        bounds.append(b)
        b <<= 7
    bounds.append(steps)
    bounds = sorted({min(x, steps) for x in bounds})
    for lo, hi in itertools.pairwise(bounds):
        if hi <= lo:
            continue
        st = all_steps[lo:hi]
        block = np.hstack(
            [
                _scalar_rows(
                    name,
                    st,
                    WALL0 + st * 0.25 + t * 1e-5,
                    values[lo:hi, t],
                    tensor=tensor,
                    metadata=lo == 0,
                )
                for t, name in enumerate(names)
            ]
        )
        cut = lo
        for step in sorted(s for s in extras if lo <= s < hi):
            parts.append(block[cut - lo : step - lo + 1].tobytes())
            parts.extend(extras[step])
            cut = step + 1
        parts.append(block[cut - lo :].tobytes())
    data = b"".join(parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    scalars = tags * steps
    return {
        "bytes": len(data),
        "records": 1 + scalars + n_hist + n_img,
        "scalars": scalars,
        "histograms": n_hist,
        "images": n_img,
    }


def event_file_name(i: int) -> str:
    return f"events.out.tfevents.{int(WALL0) + i}.benchhost.{1000 + i}.0"


@dataclass
class Dataset:
    root: Path
    files: list[FileSpec]

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    def runs(self) -> list[str]:
        return sorted({f.run for f in self.files})

    def total(self, key: str) -> int:
        return sum(int(getattr(f, key)) for f in self.files)

    def subset(self, runs: list[str], name: str) -> Dataset:
        """Hard links of some runs' files in a directory of their own."""
        sub = self.root / name
        files = [f for f in self.files if f.run in runs]
        return Dataset(sub, files)


def _manifest_ok(root: Path, spec: dict[str, Any]) -> list[FileSpec] | None:
    try:
        manifest = json.loads((root / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    if manifest.get("version") != GEN_VERSION or manifest.get("spec") != spec:
        return None
    files = [FileSpec(**f) for f in manifest["files"]]
    for f in files:
        p = root / "logs" / f.path
        if not p.is_file() or p.stat().st_size != f.bytes:
            return None
    return files


def build_dataset(
    root: Path, spec: dict[str, Any], runs: list[dict[str, Any]]
) -> tuple[Dataset, bool]:
    """Generate (or reuse) a dataset. `runs` = [{"name", "seed", "tensor", ...write_run kw}]."""
    files = _manifest_ok(root, spec)
    if files is not None:
        return Dataset(root, files), True
    tmp = root.with_name(root.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    CLEANUP.push(f"partial corpus {tmp}", lambda: shutil.rmtree(tmp, ignore_errors=True))
    out: list[FileSpec] = []
    for i, r in enumerate(runs):
        kw = {k: v for k, v in r.items() if k not in ("name",)}
        rel = f"{r['name']}/{event_file_name(i)}"
        counts = write_run(tmp / "logs" / rel, **kw)
        out.append(FileSpec(run=r["name"], path=rel, tensor=bool(r["tensor"]), **counts))
    (tmp / "manifest.json").write_text(
        json.dumps(
            {"version": GEN_VERSION, "spec": spec, "files": [asdict(f) for f in out]}, indent=1
        )
    )
    shutil.rmtree(root, ignore_errors=True)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(root)
    return Dataset(root, out), False


def link_subset(ds: Dataset, runs: list[str], name: str) -> Dataset:
    sub = ds.subset(runs, name)
    for f in sub.files:
        dst = sub.logs / f.path
        src = ds.logs / f.path
        if dst.is_file() and dst.stat().st_size == f.bytes:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            dst.unlink()
        try:
            os.link(src, dst)
        except OSError:
            shutil.copyfile(src, dst)
    return sub


def scale_corpus(cache: Path, name: str, sc: Scale) -> tuple[Dataset, bool]:
    spec = {
        "runs": sc.runs,
        "tags": sc.tags,
        "steps": sc.steps,
        "hist_tags": sc.hist_tags,
        "hist_every": sc.hist_every,
        "hist_buckets": sc.hist_buckets,
        "image_every": sc.image_every,
    }
    runs = [
        {
            "name": f"run_{i:03d}_{'tf2' if i % 2 else 'torch'}",
            "seed": 1000 + i,
            "tensor": bool(i % 2),
            "tags": sc.tags,
            "steps": sc.steps,
            "hist_tags": sc.hist_tags,
            "hist_every": sc.hist_every,
            "hist_buckets": sc.hist_buckets,
            "image_every": sc.image_every,
        }
        for i in range(sc.runs)
    ]
    return build_dataset(cache / name, spec, runs)


def query_corpus(cache: Path) -> tuple[Dataset, bool]:
    spec = {"points": QUERY_POINTS}
    runs = [{"name": "q1m", "seed": 7, "tensor": False, "tags": 1, "steps": QUERY_POINTS}]
    return build_dataset(cache / "query1m", spec, runs)


def idle_corpus(cache: Path) -> tuple[Dataset, bool]:
    spec = {"runs": IDLE_RUNS, "tags": 5, "steps": 50}
    runs = [
        {
            "name": f"run_{i:03d}",
            "seed": 5000 + i,
            "tensor": bool(i % 2),
            "tags": 5,
            "steps": 50,
            "hist_tags": 1,
            "hist_every": 25,
        }
        for i in range(IDLE_RUNS)
    ]
    return build_dataset(cache / "idle100", spec, runs)


# ---- (a) TensorBoard's loader, (b) our decoder -------------------------------------------------


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {sorted(before)[-1]})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _pin_worker(counter: Any) -> None:
    """Pool initializer: each (a) process on a core of its own; signals are the parent's job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[index % len(cores)]})


def tensorboard_load(paths: list[Path]) -> tuple[int, list[float]]:
    """EventFileLoader over each file with google-crc32c in place of its pure-Python CRC.
    Returns (events, CPU seconds per file)."""
    from tensorboard.backend.event_processing import event_file_loader
    from tensorboard.compat.tensorflow_stub import pywrap_tensorflow

    original = pywrap_tensorflow.crc32c
    pywrap_tensorflow.crc32c = lambda data: google_crc32c.value(bytes(data))
    events = 0
    times = []
    try:
        for p in paths:
            t0 = time.process_time()
            for _ in event_file_loader.EventFileLoader(str(p)).Load():
                events += 1
            times.append(time.process_time() - t0)
    finally:
        pywrap_tensorflow.crc32c = original
    return events, times


def tbhub_decode(paths: list[Path]) -> tuple[int, int]:
    """ingest.events.decode over 16 MiB windows of every file, one registry per file (run).
    Returns (records, scalar points)."""
    from ingest import events
    from ingest.decoded import TagRegistry

    records = points = 0
    for p in paths:
        registry = TagRegistry()
        size = p.stat().st_size
        offset = 0
        with open(p, "rb") as fh:
            while offset < size:
                fh.seek(offset)
                buf = fh.read(WINDOW)
                batch = events.decode(buf, base_offset=offset, registry=registry)
                records += batch.records
                points += sum(len(b.seq) for b in batch.scalars)
                if batch.end_offset <= offset:
                    break
                offset = batch.end_offset
    return records, points


# ---- Django (team mode) ------------------------------------------------------------------------


def team_env(db_name: str, prefix: str, local_root: str, endpoint: str) -> dict[str, str]:
    return {
        # The source policy (hub.policy) reads local paths only under TBHUB_LOCAL_ROOTS and
        # custom S3 endpoints only from TBHUB_ALLOWED_ENDPOINTS: the corpus and the S3 proxy.
        "TBHUB_LOCAL_ROOTS": local_root,
        "TBHUB_ALLOWED_ENDPOINTS": endpoint,
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{db_name}",
        "REDIS_URL": REDIS_URL,
        "TBHUB_SECRET_KEY": "bench",
        "TBHUB_REDIS_PREFIX": prefix,
        "TBHUB_LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "tbhub.settings",
    }


def embedded_env() -> dict[str, str]:
    env = dict(os.environ)
    for k in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "TBHUB_REDIS_PREFIX"):
        env.pop(k, None)
    env["TBHUB_LOG_LEVEL"] = "WARNING"
    return env


def pg_admin(sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        cur = conn.execute(sql)
        return list(cur.fetchall()) if cur.description else []


def drop_stale_databases() -> None:
    """Drop tbhub_bench_<pid> databases of benchmark processes that are gone."""
    for (name,) in pg_admin(
        "SELECT datname FROM pg_database WHERE datname LIKE 'tbhub\\_bench\\_%'"
    ):
        m = re.fullmatch(r"tbhub_bench_(\d+)", name)
        if m and not Path(f"/proc/{m.group(1)}").exists():
            say(f"  dropping stale database {name}")
            pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Team:
    """A fresh database + Redis prefix for this process, Django configured in team mode."""

    def __init__(self, log_dir: Path, local_root: Path) -> None:
        self.db = f"tbhub_bench_{os.getpid()}"
        self.prefix = f"tbbench{os.getpid()}"
        self.proxy_port = free_port()  # (g)'s S3 proxy, allowed as an endpoint up front
        self.team_vars = team_env(
            self.db,
            self.prefix,
            os.path.realpath(local_root),
            f"http://127.0.0.1:{self.proxy_port}",
        )
        self.env = {**os.environ, **self.team_vars}
        self.log_dir = log_dir
        self.ready = False

    def setup(self) -> None:
        if self.ready:
            return
        drop_stale_databases()
        pg_admin(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        pg_admin(f'CREATE DATABASE "{self.db}"')
        CLEANUP.push(f"database {self.db}", self.teardown)
        t0 = time.perf_counter()
        subprocess.run(
            [str(BIN / "tbhub"), "manage", "migrate", "-v", "0"],
            env=self.env,
            check=True,
            cwd=str(self.log_dir),
            stdout=subprocess.DEVNULL,
        )
        say(f"  database {self.db} migrated in {time.perf_counter() - t0:.1f} s")
        os.environ.update(self.team_vars)
        import django

        django.setup()
        import tbhub.celery  # noqa: F401  (the Celery app our .delay() calls use)

        self.ready = True

    def teardown(self) -> None:
        if self.ready:
            from django.db import connections

            connections.close_all()
        pg_admin(f'DROP DATABASE IF EXISTS "{self.db}" WITH (FORCE)')
        self._redis_clean()

    def _redis_clean(self) -> None:
        try:
            import redis

            r = redis.Redis.from_url(REDIS_URL)
            keys = list(r.scan_iter(match=f"{self.prefix}*", count=1000))
            for i in range(0, len(keys), 500):
                r.delete(*keys[i : i + 500])
            r.close()
        except Exception as exc:
            say(f"  ! Redis clean-up: {exc}")

    def project(self, slug: str) -> Any:
        from hub.models import Project

        return Project.objects.create(name=slug, slug=slug)

    def source(self, project: Any, url: str, **kw: Any) -> Any:
        from ingest.models import Source

        if url.startswith("/"):
            url = os.path.realpath(url)  # what the source policy stores and checks
        return Source.objects.create(project=project, url=url, **kw)

    def source_failed(self, source_id: int) -> str | None:
        """The source's message if it is in the error state (a refused or broken source never
        finishes: fail now rather than at the timeout)."""
        from ingest.models import Source, SourceStatus

        src = Source.objects.filter(pk=source_id).values("status", "status_message").first()
        if src and src["status"] == SourceStatus.ERROR:
            return str(src["status_message"])
        return None

    def progress(self, source_id: int) -> tuple[int, int, int]:
        from django.db.models import Count, Sum

        from ingest.models import EventFile

        agg = EventFile.objects.filter(run__source_id=source_id).aggregate(
            n=Count("id"), size=Sum("size"), off=Sum("offset")
        )
        return int(agg["n"] or 0), int(agg["size"] or 0), int(agg["off"] or 0)

    def stored(self, source_id: int) -> dict[str, int]:
        from django.db.models import Sum

        from ingest.models import Series

        return {
            str(k): int(v or 0)
            for k, v in Series.objects.filter(run__source_id=source_id)
            .values_list("kind")
            .annotate(n=Sum("count"))
        }

    def sessions(self) -> int:
        """Connections ever opened to our database (pg_stat_database.sessions, PostgreSQL 14+;
        the statistics are flushed lazily, so read with a pause before)."""
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("SELECT pg_stat_clear_snapshot()")
            cur.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", [self.db])
            row = cur.fetchone()
        return int(row[0]) if row and row[0] is not None else -1

    def backend_pids(self) -> list[int]:
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [self.db],
            )
            return [int(r[0]) for r in cur.fetchall()]


def ingest_inprocess(source_id: int, *, profile: cProfile.Profile | None = None) -> None:
    """Run a source's listing and tails in this process (as the embedded runner does)."""
    from ingest import dispatch, services

    queue: collections.deque[tuple[str, int]] = collections.deque()
    dispatch.local_set(lambda kind, ident: queue.append((kind, ident)))
    try:
        services.source_list(source_id=source_id)
        while queue:
            kind, ident = queue.popleft()
            if kind == "list":
                services.source_list(source_id=ident)
                continue
            if profile is not None:
                profile.enable()
            try:
                services.run_tail(run_id=ident)
            finally:
                if profile is not None:
                    profile.disable()
    finally:
        dispatch.local_set(None)
    from ingest.models import Source, SourceStatus

    src = Source.objects.get(pk=source_id)
    if src.status == SourceStatus.ERROR:
        raise RuntimeError(f"source {src.url}: {src.status_message}")


# ---- results -----------------------------------------------------------------------------------


@dataclass
class Results:
    scale: str
    started: str
    machine: dict[str, Any]
    corpus: dict[str, Any] = field(default_factory=dict)
    a: dict[str, Any] = field(default_factory=dict)
    b: dict[str, Any] = field(default_factory=dict)
    c: dict[str, Any] = field(default_factory=dict)
    d: dict[str, Any] = field(default_factory=dict)
    e: dict[str, Any] = field(default_factory=dict)
    f: dict[str, Any] = field(default_factory=dict)
    g: dict[str, Any] = field(default_factory=dict)
    profile: dict[str, Any] = field(default_factory=dict)
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    code: dict[str, Any] = field(default_factory=dict)


CODE_FILES = (
    "ingest/events.py",
    "ingest/tfrecord.py",
    "ingest/store.py",
    "ingest/services.py",
    "ingest/export.py",
    "panels/selectors.py",
    "panels/api/data.py",
    "tbhub/embedded.py",
    "tbhub/jsonutil.py",
)


def code_fingerprint() -> dict[str, str]:
    """The commit and a hash of the files measured, so a table can say what it measured (and a
    run can tell when someone edited them while it ran)."""
    import hashlib

    out = {}
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(ROOT), "status", "--porcelain", "--", *CODE_FILES],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        out["commit"] = head + ("+uncommitted" if dirty else "")
    except OSError:
        out["commit"] = "?"
    digest = hashlib.sha256()
    for name in CODE_FILES:
        with contextlib.suppress(OSError):
            digest.update((ROOT / name).read_bytes())
    out["files_sha256"] = digest.hexdigest()[:12]
    return out


def machine_info() -> dict[str, Any]:
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    load = os.getloadavg()
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "mem_mb": mem,
        "python": sys.version.split()[0],
        "loadavg_at_start": [round(x, 2) for x in load],
    }


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def py_spy_summary(path: Path, top: int = 18) -> str:
    """Top functions of py-spy raw stacks ("f1;f2;... count"): by samples spent in the function
    itself, and tbhub's own functions by samples anywhere below them."""
    total = 0
    leaf: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    strip = re.compile(
        r"\s*\((?:"
        + re.escape(str(ROOT))
        + r"/)?(?:\.venv/lib/python3\.11/site-packages/)?([^:)]*)(?::\d+)?\)"
    )
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [strip.sub(r" (\1)", f) for f in stack.split(";")]
        leaf[frames[-1]] += n
        for f in set(frames):
            if re.search(r"\((ingest|panels|tbhub|hub)/", f):
                inclusive[f] += n
    if not total:
        return "  (no samples)"
    lines = [f"  {total} samples; self time:"]
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in leaf.most_common(top)]
    lines.append("  tbhub functions, inclusive:")
    lines += [f"    {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    return "\n".join(lines)


def profile_text(prof: cProfile.Profile | pstats.Stats, by_tottime: int, by_cumulative: int) -> str:
    """The top of a profile, as text (indented two spaces)."""
    buf = io.StringIO()
    st = prof if isinstance(prof, pstats.Stats) else pstats.Stats(prof)
    st.stream = buf  # type: ignore[attr-defined]
    if by_tottime:
        st.sort_stats("tottime").print_stats(by_tottime)
    if by_cumulative:
        st.sort_stats("cumulative").print_stats(by_cumulative)
    text = re.sub(r"^\s*\n", "", buf.getvalue(), flags=re.M)
    text = text.replace(str(ROOT) + "/", "").replace(
        str(ROOT / ".venv/lib/python3.11/site-packages") + "/", ""
    )
    return "\n".join("  " + line for line in text.splitlines())


# ---- the phases --------------------------------------------------------------------------------


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.sc = SCALES[args.scale]
        if args.repeat:
            self.sc = Scale(**{**asdict(self.sc), "repeat": args.repeat})
        if args.idle_seconds is not None:
            self.sc = Scale(**{**asdict(self.sc), "idle_seconds": args.idle_seconds})
        if args.hot_seconds is not None:
            self.sc = Scale(**{**asdict(self.sc), "hot_seconds": args.hot_seconds})
        self.cache = Path(args.cache)
        self.work = Path(tempfile.mkdtemp(prefix="tbhub-bench-"))
        CLEANUP.push("work dir", self._remove_work)
        self.team = Team(self.work, self.cache)
        self.res = Results(
            scale=args.scale,
            started=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            machine=machine_info(),
            code={"start": code_fingerprint()},
        )
        self.tb_seconds: dict[str, float] = {}  # file path -> (a)'s CPU seconds for it
        self.extra_cpu = 0.0  # CPU seconds of a phase's work outside our process tree

    def _remove_work(self) -> None:
        if self.args.keep_logs:
            say(f"  logs kept in {self.work}")
        else:
            shutil.rmtree(self.work, ignore_errors=True)

    # -- corpus

    def corpus(self) -> None:
        say(
            f"== tbhub ingest benchmark, scale {self.args.scale}, pid {os.getpid()} "
            f"(database {self.team.db}, work dir {self.work}); code {self.res.code['start']}"
        )
        say(f"== corpus ({self.args.scale}) in {self.cache}")
        t0 = time.perf_counter()
        self.ds, reused = scale_corpus(self.cache, self.args.scale, self.sc)
        t_main = time.perf_counter() - t0
        runs = self.ds.runs()
        self.sub_e = link_subset(self.ds, runs[: self.sc.subset_e_runs], "subset_e")
        self.sub_f = link_subset(self.ds, runs[: self.sc.subset_f_runs], "subset_f")
        t1 = time.perf_counter()
        self.q1m, q_reused = query_corpus(self.cache)
        self.idle, i_reused = idle_corpus(self.cache)
        t_other = time.perf_counter() - t1
        ds = self.ds
        info = {
            "runs": len(runs),
            "files": len(ds.files),
            "events": ds.total("records"),
            "scalars": ds.total("scalars"),
            "histograms": ds.total("histograms"),
            "images": ds.total("images"),
            "bytes": ds.total("bytes"),
            "torch_runs": sum(1 for f in ds.files if not f.tensor),
            "tf2_runs": sum(1 for f in ds.files if f.tensor),
            "generated_seconds": None if reused else round(t_main, 1),
            "subset_e": {
                "runs": len(self.sub_e.files),
                "events": self.sub_e.total("records"),
                "bytes": self.sub_e.total("bytes"),
            },
            "subset_f": {
                "runs": len(self.sub_f.files),
                "events": self.sub_f.total("records"),
                "bytes": self.sub_f.total("bytes"),
            },
        }
        self.res.corpus = info
        say(
            f"  {info['runs']} runs ({info['torch_runs']} simple_value, {info['tf2_runs']} TF2 tensor) x "
            f"{self.sc.tags} tags x {self.sc.steps} steps: {info['events']:,} events "
            f"({info['scalars']:,} scalars, {info['histograms']:,} histograms, {info['images']:,} images), "
            f"{info['bytes'] / MB:,.1f} MB — "
            + (
                "reused"
                if reused
                else f"generated in {t_main:.1f} s ({info['events'] / t_main:,.0f} events/s)"
            )
        )
        say(
            f"  query series: {QUERY_POINTS:,} points ({'reused' if q_reused else 'generated'}); "
            f"idle source: {IDLE_RUNS} runs ({'reused' if i_reused else 'generated'}); {t_other:.1f} s"
        )

    # -- (a)

    def phase_a(self) -> None:
        ds = self.ds
        say(
            f"== (a) TensorBoard EventFileLoader (google-crc32c), one core, every event ({ds.total('records'):,})"
        )
        paths = [ds.logs / f.path for f in ds.files]
        jobs = max(1, min(self.args.tb_jobs or (2 if self.args.scale == "full" else 1), len(paths)))
        t0 = time.perf_counter()
        if jobs == 1:
            with one_core():
                events, per_file = tensorboard_load(paths)
        else:
            # CPU time is what is measured, so sharing the files between processes (one core
            # each) only shortens the wall-clock wait.
            import multiprocessing

            ctx = multiprocessing.get_context("fork")
            shares = [paths[i::jobs] for i in range(jobs)]
            with ctx.Pool(jobs, initializer=_pin_worker, initargs=(ctx.Value("i", 0),)) as pool:
                parts = pool.map(tensorboard_load, shares)
                pool.close()
                pool.join()
            events = sum(p[0] for p in parts)
            by_path = {
                path: secs
                for share, (_, times) in zip(shares, parts, strict=True)
                for path, secs in zip(share, times, strict=True)
            }
            per_file = [by_path[p] for p in paths]
        wall = time.perf_counter() - t0
        cpu = sum(per_file)
        for f, s in zip(ds.files, per_file, strict=True):
            self.tb_seconds[f.path] = s
        if events != ds.total("records"):
            raise RuntimeError(
                f"TensorBoard's loader read {events} events, expected {ds.total('records')}"
            )
        rate = events / cpu
        fmt_rates = {}
        for tensor in (False, True):
            fs = [f for f in ds.files if f.tensor == tensor]
            if fs:
                key = "tf2_tensor" if tensor else "simple_value"
                fmt_rates[key] = sum(f.records for f in fs) / sum(
                    self.tb_seconds[f.path] for f in fs
                )
        self.res.a = {
            "events": events,
            "cpu_seconds": cpu,
            "wall_seconds": wall,
            "processes": jobs,
            "events_per_s": rate,
            "events_per_wall_s": events / wall,
            "mb_per_s": ds.total("bytes") / cpu / MB,
            "by_format": fmt_rates,
        }
        say(
            f"  {fmt_rate(rate)} events/s per CPU-second, {ds.total('bytes') / cpu / MB:.2f} MB/s "
            f"({cpu:.1f} s CPU; {wall:.1f} s wall in {jobs} process{'es' if jobs > 1 else ''}); "
            f"simple_value {fmt_rate(fmt_rates.get('simple_value', 0))}/s, "
            f"TF2 tensor {fmt_rate(fmt_rates.get('tf2_tensor', 0))}/s"
        )

    def tb_time(self, ds: Dataset) -> float:
        """(a)'s CPU seconds for the files of a subset (the same files, hard-linked)."""
        if not all(f.path in self.tb_seconds for f in ds.files):
            return float("nan")  # (a) did not run
        return sum(self.tb_seconds[f.path] for f in ds.files)

    def anchor(self) -> float:
        return float(self.res.a.get("events_per_s") or float("nan"))

    # -- (b)

    def phase_b(self) -> None:
        ds = self.ds
        say(
            f"== (b) tbhub reader+decoder (ingest.events.decode, 16 MiB windows), one core, median of {self.sc.repeat}"
        )
        paths = [ds.logs / f.path for f in ds.files]
        cpus, walls = [], []
        by_fmt: dict[str, float] = {}
        with one_core():
            for _ in range(self.sc.repeat):
                t0, c0 = time.perf_counter(), time.process_time()
                records, points = tbhub_decode(paths)
                walls.append(time.perf_counter() - t0)
                cpus.append(time.process_time() - c0)
                if records != ds.total("records") or points != ds.total("scalars"):
                    raise RuntimeError(
                        f"decode: {records} records / {points} points, expected "
                        f"{ds.total('records')} / {ds.total('scalars')}"
                    )
            for tensor, key in ((False, "simple_value"), (True, "tf2_tensor")):
                fs = [f for f in ds.files if f.tensor == tensor]
                if fs:
                    c0 = time.process_time()
                    tbhub_decode([ds.logs / f.path for f in fs])
                    by_fmt[key] = sum(f.records for f in fs) / (time.process_time() - c0)
        cpu = median(cpus)
        rate = ds.total("records") / cpu
        ratio = rate / self.anchor()
        self.res.b = {
            "cpu_seconds_runs": [round(t, 3) for t in cpus],
            "wall_seconds_runs": [round(t, 3) for t in walls],
            "cpu_seconds": cpu,
            "events_per_s": rate,
            "events_per_wall_s": ds.total("records") / median(walls),
            "mb_per_s": ds.total("bytes") / cpu / MB,
            "ratio": ratio,
            "by_format": by_fmt,
        }
        say(
            f"  {fmt_rate(rate)} events/s per CPU-second, {ds.total('bytes') / cpu / MB:.1f} MB/s "
            f"(CPU {', '.join(f'{t:.2f}' for t in cpus)} s; wall median {median(walls):.2f} s) = {ratio:.1f}x (a); "
            f"simple_value {fmt_rate(by_fmt.get('simple_value', 0))}/s, TF2 {fmt_rate(by_fmt.get('tf2_tensor', 0))}/s"
        )
        self.verdict(
            "b",
            "decode vs (a)",
            f"{ratio:.1f}x",
            f">= {TARGETS['b_ratio']:.0f}x",
            ratio >= TARGETS["b_ratio"],
        )
        self._decode_sensitivity()

    def _decode_sensitivity(self) -> None:
        """How the layout of a file moves (b): one run's worth of scalars (20 tags x 5,000
        steps) alone, with an image every 500 steps, with 2 histograms every 500 and every 50
        steps (the corpus), in both formats. Written to the work dir, not cached."""
        variants = {
            "scalars only": {},
            "+ image every 500 steps": {"image_every": 500},
            "+ 2 histograms every 500 steps": {"hist_tags": 2, "hist_every": 500},
            "+ 2 histograms every 50 steps": {"hist_tags": 2, "hist_every": 50},
        }
        out: dict[str, dict[str, float]] = {}
        say("  decode rate by file layout (one 20-tag x 5,000-step run, CPU time, median of 3):")
        say(f"    {'':34s} {'simple_value':>14s} {'TF2 tensor':>14s}")
        with one_core():
            for name, kw in variants.items():
                row = {}
                for tensor in (False, True):
                    path = self.work / f"sens-{len(out)}-{int(tensor)}.tfevents"
                    counts = write_run(path, seed=3, tags=20, steps=5000, tensor=tensor, **kw)
                    cpus = []
                    for _ in range(3):
                        c0 = time.process_time()
                        tbhub_decode([path])
                        cpus.append(time.process_time() - c0)
                    row["tf2_tensor" if tensor else "simple_value"] = counts["records"] / median(
                        cpus
                    )
                    path.unlink()
                out[name] = row
                say(
                    f"    {name:34s} {fmt_rate(row['simple_value']):>14s} "
                    f"{fmt_rate(row['tf2_tensor']):>14s}"
                )
        self.res.b["by_layout"] = out

    # -- (c)

    def phase_c(self) -> None:
        ds = self.ds
        say(
            "== (c) tbhub end to end into PostgreSQL: `tbhub worker --concurrency 2` "
            "(real Celery, Redis broker), the poll task sent every TBHUB_TICK_SECONDS"
        )
        self.team.setup()
        from django.conf import settings

        from ingest.tasks import poll_task

        project = self.team.project("bench")
        source = self.team.source(project, str(ds.logs))
        expected_files, expected_bytes = len(ds.files), ds.total("bytes")
        worker = start_process(
            "worker",
            [
                str(BIN / "tbhub"),
                "worker",
                "--concurrency",
                "2",
                "-n",
                f"bench{os.getpid()}@%h",
                "-l",
                "info",
            ],
            env={**self.team.env, "TBHUB_LOG_LEVEL": "INFO"},
            log_dir=self.work,
        )
        log_path = self.work / "worker.log"
        self._wait_worker_ready(worker, f"bench{os.getpid()}@{socket.gethostname()}", log_path)
        spy = self._py_spy_attach("worker", worker.pid)
        watch = RssWatch(worker.pid)
        watch.sample()
        cpu0 = dict(watch.cpu)
        pg0 = {pid: cpu_seconds(pid) for pid in self.team.backend_pids()}
        tick = float(settings.TBHUB_TICK_SECONDS)
        timeout = max(600.0, ds.total("records") / 20_000)
        busy = Busy()
        t0 = time.perf_counter()
        next_tick = next_check = next_sample = 0.0
        pg_cpu: dict[int, float] = {}
        last = (0, 0, 0)
        while True:
            check_interrupt()
            now = time.perf_counter()
            if now >= next_tick:
                poll_task.apply_async(expires=max(2.0, tick * 4))
                next_tick = now + tick
            if now >= next_check:
                last = self.team.progress(source.pk)
                n, size, off = last
                if n == expected_files and size == expected_bytes and off == expected_bytes:
                    break
                next_check = now + 0.1
            if now >= next_sample:
                failed = self.team.source_failed(source.pk)
                if failed:
                    raise RuntimeError(f"(c) the source failed: {failed}")
                watch.sample()
                for pid in self.team.backend_pids():
                    pg_cpu[pid] = max(pg_cpu.get(pid, 0.0), cpu_seconds(pid))
                next_sample = now + 1.0
            if worker.poll() is not None:
                raise RuntimeError(f"worker exited; see {log_path}")
            if now - t0 > timeout:
                raise RuntimeError(f"(c) timed out after {timeout:.0f} s at {last}")
            time.sleep(0.02)
        elapsed = time.perf_counter() - t0
        watch.sample()
        for pid in self.team.backend_pids():
            pg_cpu[pid] = max(pg_cpu.get(pid, 0.0), cpu_seconds(pid))
        worker_cpu = sum(v - cpu0.get(pid, 0.0) for pid, v in watch.cpu.items())
        postgres_cpu = sum(v - pg0.get(pid, 0.0) for pid, v in pg_cpu.items())
        machine = busy.stop(worker_cpu + postgres_cpu)
        self.extra_cpu = postgres_cpu
        self._py_spy_report("worker", spy)
        finish_process(worker)
        stored = self.team.stored(source.pk)
        want = {
            "scalar": ds.total("scalars"),
            "histogram": ds.total("histograms"),
            "image": ds.total("images"),
        }
        ok = all(stored.get(k, 0) == v for k, v in want.items())
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("SELECT pg_database_size(%s)", [self.team.db])
            db_bytes = int(cur.fetchone()[0])
        events = ds.total("records")
        rate = events / elapsed
        peaks = sorted(watch.peak.values(), reverse=True)
        ours = worker_cpu + postgres_cpu
        cores = os.cpu_count() or 2
        self.res.c = {
            "seconds": elapsed,
            "events_per_s": rate,
            "mb_per_s": expected_bytes / elapsed / MB,
            "ratio": rate / self.anchor(),
            "peak_rss_mb_per_process": [round(p, 1) for p in peaks],
            "peak_rss_mb": peaks[0] if peaks else None,
            "worker_cpu_s": worker_cpu,
            "postgres_cpu_s": postgres_cpu,
            "events_per_cpu_s": events / ours,
            "ratio_cpu": events / ours / self.anchor(),
            "events_per_worker_cpu_s": events / worker_cpu,
            "uncontended_bound_events_per_s": events / (ours / cores),
            "during": machine,
            "stored": stored,
            "verified": ok,
            "database_mb": db_bytes / MB,
        }
        say(
            f"  {fmt_rate(rate)} events/s, {expected_bytes / elapsed / MB:.1f} MB/s "
            f"({elapsed:.1f} s wall) = {rate / self.anchor():.1f}x (a); stored {stored} "
            + ("(verified)" if ok else f"!! MISMATCH, expected {want}")
        )
        say(
            f"  CPU: workers {worker_cpu:.1f} s + PostgreSQL backends {postgres_cpu:.1f} s = "
            f"{fmt_rate(events / ours)} events per CPU-second "
            f"({fmt_rate(events / worker_cpu)} per worker CPU-second); with {cores} idle cores "
            f"at most {fmt_rate(events / (ours / cores))} events/s; {busy_text(machine)}"
        )
        say(
            f"  peak RSS per worker process (MB): {', '.join(f'{p:.0f}' for p in peaks)}; "
            f"database {db_bytes / MB:,.0f} MB ({db_bytes / max(1, ds.total('scalars')):.1f} B/point)"
        )
        self.verdict(
            "c",
            "end to end into PostgreSQL",
            f"{fmt_rate(rate)} ev/s",
            f">= {fmt_rate(TARGETS['c_events_per_s'])} ev/s",
            rate >= TARGETS["c_events_per_s"],
        )
        self.verdict(
            "c",
            "worker peak RSS",
            f"{peaks[0]:.0f} MB",
            f"< {TARGETS['rss_mb']:.0f} MB",
            peaks[0] < TARGETS["rss_mb"],
        )
        if not ok:
            self.verdict("c", "stored counts", str(stored), str(want), False)

    def _wait_worker_ready(
        self, worker: subprocess.Popen[bytes], name: str, log_path: Path
    ) -> None:
        """Until the worker answers a control ping (its " ready." log line counts too)."""
        from tbhub.celery import app

        deadline = time.monotonic() + 120
        while True:
            check_interrupt()
            if b" ready." in log_path.read_bytes():
                return
            with contextlib.suppress(Exception):
                if app.control.ping(destination=[name], timeout=0.5):
                    return
            if worker.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"worker did not start; see {log_path}\n{tail}")
            time.sleep(0.1)

    # -- profile of the end-to-end path (in-process)

    def phase_profile(self) -> None:
        sub = self.sub_f
        say(
            f"== profile: services.run_tail in-process over subset_f "
            f"({sub.total('records'):,} events, {len(sub.files)} runs) under cProfile"
        )
        self.team.setup()
        project = self.team.project("bench-profile")
        source = self.team.source(project, str(sub.logs))
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        ingest_inprocess(source.pk, profile=prof)
        elapsed = time.perf_counter() - t0
        _, size, off = self.team.progress(source.pk)
        keep = self.cache / f"profile_run_tail_{self.args.scale}.prof"
        prof.dump_stats(str(keep))
        text = profile_text(prof, 22, 28)
        self.res.profile["run_tail"] = {
            "events": sub.total("records"),
            "seconds_with_profiler": elapsed,
            "complete": off == size == sub.total("bytes"),
            "stats_file": str(keep),
            "text": text,
        }
        say(
            f"  {elapsed:.1f} s with the profiler on "
            f"({sub.total('records') / elapsed:,.0f} events/s); stats in {keep}"
        )
        say(text)

    # -- (d)

    def phase_d(self) -> None:
        reps = max(5, self.sc.repeat * 2 + 1)
        reps_gz = 0 if self.args.scale == "small" else 3  # ~5-10 s each: skipped on small
        say(
            f"== (d) scalar query on one series of {QUERY_POINTS:,} points "
            f"(median of {reps}; gzip: {reps_gz})"
        )
        self.team.setup()
        from django.contrib.auth import get_user_model
        from django.test import Client

        from hub.services import token_create
        from ingest.models import Kind, Series
        from panels import selectors
        from tbhub.jsonutil import points_json

        project = self.team.project("bench-query")
        source = self.team.source(project, str(self.q1m.logs))
        t0 = time.perf_counter()
        ingest_inprocess(source.pk)
        t_ingest = time.perf_counter() - t0
        n, size, off = self.team.progress(source.pk)
        if not off == size == self.q1m.total("bytes"):
            raise RuntimeError(f"(d) 1M-point series not ingested: {(n, size, off)}")
        say(
            f"  ingested in-process (one run, one process): {t_ingest:.1f} s, "
            f"{self.q1m.total('records') / t_ingest:,.0f} events/s"
        )
        series = Series.objects.get(run__source=source, tag=tag_names(1)[0], kind=Kind.SCALAR)

        def timed(fn: Callable[[int], Any], n: int = reps) -> tuple[list[float], Any]:
            out = []
            result = None
            for i in range(n):
                check_interrupt()
                t = time.perf_counter()
                result = fn(i)
                out.append((time.perf_counter() - t) * 1000)
            return out, result

        def sel_all(i: int) -> bytes:
            d = selectors.scalar_series_read(series=series)
            return points_json(d.steps, d.wall_times, d.values)

        def sel_down(i: int) -> bytes:
            d = selectors.scalar_series_downsampled(series=series, max_points=1000)
            return points_json(d.steps, d.wall_times, d.values)

        def read_only(i: int) -> int:
            return len(selectors.scalar_series_read(series=series).steps)

        sel_all_ms, body = timed(sel_all)
        n_all = len(json.loads(body))
        sel_down_ms, body = timed(sel_down)
        n_down = len(json.loads(body))
        read_ms, _ = timed(read_only)
        user = get_user_model().objects.create_user("bench", is_superuser=True, is_staff=True)
        _, token = token_create(user=user, name="bench")
        client = Client(HTTP_HOST="127.0.0.1", HTTP_AUTHORIZATION=f"Bearer {token}")
        base = (
            f"/api/v1/projects/{project.slug}/scalars?run=q1m&tag={urllib.parse.quote(series.tag)}"
        )

        def api(url: str | Callable[[int], str], **headers: str) -> Callable[[int], int]:
            def go(i: int) -> int:
                resp = client.get(url(i) if callable(url) else url, **headers)
                assert resp.status_code == 200, resp.content[:300]
                return len(resp.content)

            return go

        # A dashboard's first look at a view is a cache miss (and every commit to a live run
        # bumps the run's version, which is part of the cache key): "cold" asks for a
        # different max_points each time, so every request misses; "warm" repeats one.
        def cold(i: int) -> str:
            return f"{base}&max_points={1000 - reps + i}"

        api_all_ms, all_bytes = timed(api(base))
        api_cold_ms, _ = timed(api(cold))
        api_warm_ms, _ = timed(api(base + "&max_points=1000"))
        api_all_gz_ms, gz_bytes = (
            timed(api(base, HTTP_ACCEPT_ENCODING="gzip"), reps_gz) if reps_gz else ([], 0)
        )
        if self.args.profile:
            for name, url in (("api_all_points", base), ("api_cold_view", cold(reps + 7))):
                prof = cProfile.Profile()
                prof.enable()
                client.get(url)
                prof.disable()
                text = profile_text(prof, 14, 0)
                self.res.profile[name] = {"text": text}
                say(f"  -- cProfile of one {name.replace('_', ' ')} request:")
                say(text)
        port = free_port()
        web = start_process(
            "web",
            [str(BIN / "tbhub"), "web", "--host", "127.0.0.1", "--port", str(port)],
            env=self.team.env,
            log_dir=self.work,
        )
        wait_port(port, 60, web)

        def over_http(path: str | Callable[[int], str], gzip: bool = False) -> Callable[[int], int]:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            headers = {"Authorization": f"Bearer {token}"}
            if gzip:
                headers["Accept-Encoding"] = "gzip"

            def go(i: int) -> int:
                conn.request("GET", path(i) if callable(path) else path, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                assert resp.status == 200, data[:300]
                return len(data)

            return go

        def cold_http(i: int) -> str:
            return f"{base}&max_points={2000 - reps + i}"

        http_all_ms, _ = timed(over_http(base))
        http_cold_ms, _ = timed(over_http(cold_http))
        http_warm_ms, _ = timed(over_http(base + "&max_points=1000"))
        http_all_gz_ms, _ = timed(over_http(base, gzip=True), reps_gz) if reps_gz else ([], 0)
        finish_process(web)
        self.res.d = {
            "points": n_all,
            "downsampled_points": n_down,
            "json_mb": all_bytes / MB,
            "gzip_mb": gz_bytes / MB,
            "ingest_seconds": t_ingest,
            "selector_read_only_ms": median(read_ms),
            "selector_all_ms": median(sel_all_ms),
            "selector_down_ms": median(sel_down_ms),
            "api_all_ms": median(api_all_ms),
            "api_down_cold_ms": median(api_cold_ms),
            "api_down_warm_ms": median(api_warm_ms),
            "api_all_gzip_ms": median(api_all_gz_ms),
            "http_all_ms": median(http_all_ms),
            "http_down_cold_ms": median(http_cold_ms),
            "http_down_warm_ms": median(http_warm_ms),
            "http_all_gzip_ms": median(http_all_gz_ms),
            "runs_ms": {
                "selector_all": sel_all_ms,
                "selector_down": sel_down_ms,
                "api_all": api_all_ms,
                "api_down_cold": api_cold_ms,
                "api_down_warm": api_warm_ms,
                "http_all": http_all_ms,
                "http_down_cold": http_cold_ms,
                "http_down_warm": http_warm_ms,
            },
        }
        d = self.res.d
        say(
            f"  points: {n_all:,} ({all_bytes / MB:.1f} MB JSON, {gz_bytes / MB:.1f} MB gzipped); "
            f"downsampled view: {n_down} points"
        )
        say(f"  {'':36s} {'all points':>11s} {'view, uncached':>15s} {'view, cached':>13s}")
        rows = [
            ("selector read (numpy arrays only)", d["selector_read_only_ms"], None, None),
            ("selector + points_json", d["selector_all_ms"], d["selector_down_ms"], None),
            (
                "API view (Django test Client)",
                d["api_all_ms"],
                d["api_down_cold_ms"],
                d["api_down_warm_ms"],
            ),
            ("API view, Accept-Encoding: gzip", d["api_all_gzip_ms"], None, None),
            (
                "HTTP to `tbhub web` (client side)",
                d["http_all_ms"],
                d["http_down_cold_ms"],
                d["http_down_warm_ms"],
            ),
            ("HTTP, Accept-Encoding: gzip", d["http_all_gzip_ms"], None, None),
        ]
        for name, *cells in rows:
            if all(c is None or c != c for c in cells):
                continue
            say(
                f"  {name:36s} "
                + " ".join(
                    f"{'' if c is None else f'{c:.1f} ms':>{w}s}"
                    for c, w in zip(cells, (11, 15, 13), strict=True)
                )
            )
        self.verdict(
            "d",
            "1,000-point view, uncached (API)",
            f"{d['api_down_cold_ms']:.1f} ms",
            f"< {TARGETS['d_down_ms']:.0f} ms",
            d["api_down_cold_ms"] < TARGETS["d_down_ms"],
        )
        self.verdict(
            "d",
            "1,000-point view, cached (API)",
            f"{d['api_down_warm_ms']:.1f} ms",
            f"< {TARGETS['d_down_ms']:.0f} ms",
            d["api_down_warm_ms"] < TARGETS["d_down_ms"],
        )
        self.verdict(
            "d",
            "all 1M points (API)",
            f"{d['api_all_ms']:.0f} ms",
            f"< {TARGETS['d_all_ms']:.0f} ms",
            d["api_all_ms"] < TARGETS["d_all_ms"],
        )

    # -- (e)

    def _py_spy_attach(self, name: str, pid: int) -> subprocess.Popen[bytes] | None:
        if not self.args.py_spy:
            return None
        out = self.work / f"py-spy-{name}.txt"
        return start_process(
            f"py-spy-{name}",
            [
                self.args.py_spy,
                "record",
                "--pid",
                str(pid),
                "--subprocesses",
                "--format",
                "raw",
                "-r",
                "100",
                "-o",
                str(out),
            ],
            env=dict(os.environ),
            log_dir=self.work,
        )

    def _py_spy_report(self, name: str, spy: subprocess.Popen[bytes] | None) -> None:
        if spy is None:
            return
        finish_process(spy, signal.SIGINT)
        self._py_spy_text(name, self.work / f"py-spy-{name}.txt")

    def _py_spy_text(self, name: str, path: Path) -> None:
        if not path.exists():
            say(f"  ! py-spy wrote nothing for {name}; see {self.work}/py-spy-{name}.log")
            return
        keep = self.cache / f"py-spy-{name}-{self.args.scale}.txt"
        shutil.copyfile(path, keep)
        text = py_spy_summary(path)
        self.res.profile[f"py_spy_{name}"] = {"raw": str(keep), "text": text}
        say(f"  -- py-spy of {name} (on-CPU samples; raw stacks in {keep}):")
        say(text)

    def _serve_once(
        self, name: str, logdir: Path, runs: int, nbytes: int, wrap: list[str] | None = None
    ) -> dict[str, float]:
        """`tbhub serve` from exec until /api/v1/runs shows `runs` runs and `nbytes` read."""
        port = free_port()
        db_dir = Path(tempfile.mkdtemp(prefix="serve-", dir=self.work))
        t0 = time.perf_counter()
        proc = start_process(
            name,
            [
                *(wrap or []),
                str(BIN / "tbhub"),
                "serve",
                "--logdir",
                str(logdir),
                "--port",
                str(port),
            ],
            env={**embedded_env(), "TMPDIR": str(db_dir)},
            log_dir=self.work,
        )
        first = None
        conn: http.client.HTTPConnection | None = None
        limit = max(600.0, nbytes / 50_000)
        try:
            while True:
                check_interrupt()
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"tbhub serve exited with {proc.returncode}; see {self.work}/{name}.log"
                    )
                if time.perf_counter() - t0 > limit:
                    raise RuntimeError(f"(e) tbhub serve not done after {limit:.0f} s")
                try:
                    if conn is None:
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                    conn.request("GET", "/api/v1/runs")
                    resp = conn.getresponse()
                    body = resp.read()
                except (OSError, http.client.HTTPException):
                    if conn is not None:
                        conn.close()
                    conn = None
                    time.sleep(0.05)
                    continue
                if resp.status == 200:
                    if first is None:
                        first = time.perf_counter() - t0
                    listed = json.loads(body)["runs"]
                    read = sum(r["status"]["bytes_read"] for r in listed)
                    total = sum(r["status"]["bytes_total"] for r in listed)
                    if len(listed) == runs and read == total == nbytes:
                        break
                time.sleep(0.1)
            elapsed = time.perf_counter() - t0
            rss = max(vm_hwm_mb(p) or 0.0 for p in descendants(proc.pid))
            cpu = sum(cpu_seconds(p) for p in descendants(proc.pid))
        finally:
            if conn is not None:
                conn.close()
            finish_process(proc, signal.SIGINT)
            shutil.rmtree(db_dir, ignore_errors=True)
        return {"seconds": elapsed, "first_answer": first or float("nan"), "rss": rss, "cpu": cpu}

    def phase_e(self) -> None:
        sub = self.sub_e
        events, nbytes = sub.total("records"), sub.total("bytes")
        say(
            f"== (e) `tbhub serve` from exec until {events:,} events are served "
            f"({len(sub.files)} runs, {nbytes / MB:.1f} MB), median of {self.sc.repeat}"
        )
        empty = self.work / "empty-logdir"
        empty.mkdir(exist_ok=True)
        starts = [
            self._serve_once(f"serve-empty{i}", empty, 0, 0)["first_answer"]
            for i in range(self.sc.repeat)
        ]
        runs = [
            self._serve_once(f"serve{i}", sub.logs, len(sub.runs()), nbytes)
            for i in range(self.sc.repeat)
        ]
        total = median([r["seconds"] for r in runs])
        first = median([r["first_answer"] for r in runs])
        cpu = median([r["cpu"] for r in runs])
        rss = max(r["rss"] for r in runs)
        tb_loader = self.tb_time(sub)
        ratio = tb_loader / total
        rate = events / total
        self.res.e = {
            "events": events,
            "bytes": nbytes,
            "seconds_runs": [r["seconds"] for r in runs],
            "seconds": total,
            "first_answer_s": first,
            "startup_empty_logdir_s": median(starts),
            "serve_cpu_s": cpu,
            "events_per_s": rate,
            "events_per_s_after_first_answer": events / (total - first),
            "mb_per_s": nbytes / total / MB,
            "peak_rss_mb": rss,
            "tb_loader_seconds": tb_loader,
            "ratio_vs_tb_loader": ratio,
            "ratio_cpu": tb_loader / cpu,
            "ratio_vs_a": rate / self.anchor(),
        }
        say(f"  start-up on an empty log directory: {median(starts):.2f} s to the first API answer")
        runs_txt = ", ".join(f"{r['seconds']:.1f}" for r in runs)
        say(
            f"  tbhub serve: {total:.1f} s from exec to fully served "
            f"(runs {runs_txt} s; first API answer after "
            f"{first:.1f} s) = {fmt_rate(rate)} events/s, {nbytes / total / MB:.1f} MB/s; "
            f"{fmt_rate(events / (total - first))} events/s once answering; "
            f"{cpu:.1f} CPU-s; peak RSS {rss:.0f} MB"
        )
        say(
            f"  TensorBoard EventFileLoader over the same files (CPU time from (a)): "
            f"{tb_loader:.1f} s -> tbhub serve is {ratio:.1f}x faster (CPU time against CPU "
            f"time: {tb_loader / cpu:.1f}x)"
        )
        if self.args.py_spy:
            # One more run under the sampler (not timed): where a serve process spends its time.
            spy_out = self.work / "py-spy-serve.txt"
            self._serve_once(
                "serve-py-spy",
                sub.logs,
                len(sub.runs()),
                nbytes,
                wrap=[
                    self.args.py_spy,
                    "record",
                    "--format",
                    "raw",
                    "-r",
                    "100",
                    "-o",
                    str(spy_out),
                    "--",
                ],
            )
            self._py_spy_text("serve", spy_out)
        if self.sc.tb_server and not self.args.no_tb_server:
            self._tensorboard_server(sub)
        self.verdict(
            "e",
            "serve ~1M events vs TB loader",
            f"{ratio:.1f}x",
            f">= {TARGETS['e_ratio']:.0f}x",
            ratio >= TARGETS["e_ratio"],
        )

    def _tensorboard_server(self, sub: Dataset) -> None:
        """A real `tensorboard --load_fast=false` (the loader TensorBoard uses for S3, with its
        own CRC): from exec until its scalars API serves the last step of every run."""
        port = free_port()
        runs = sub.runs()
        last_tag = tag_names(self.sc.tags)[-1]
        last_step = self.sc.steps - 1
        t0 = time.perf_counter()
        proc = start_process(
            "tensorboard",
            [
                str(BIN / "tensorboard"),
                "--logdir",
                str(sub.logs),
                "--port",
                str(port),
                "--host",
                "127.0.0.1",
                "--load_fast=false",
            ],
            env={**embedded_env(), "TMPDIR": str(self.work)},
            log_dir=self.work,
        )
        done: set[str] = set()
        conn: http.client.HTTPConnection | None = None
        limit = max(900.0, sub.total("records") / 5000)
        rss = 0.0
        while len(done) < len(runs):
            check_interrupt()
            if proc.poll() is not None:
                raise RuntimeError(f"tensorboard exited; see {self.work}/tensorboard.log")
            if time.perf_counter() - t0 > limit:
                say(
                    f"  ! tensorboard did not finish in {limit:.0f} s ({len(done)}/{len(runs)} runs)"
                )
                break
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                for run in runs:
                    if run in done:
                        continue
                    q = urllib.parse.urlencode({"run": run, "tag": last_tag})
                    conn.request("GET", f"/data/plugin/scalars/scalars?{q}")
                    resp = conn.getresponse()
                    data = resp.read()
                    if resp.status == 200:
                        pts = json.loads(data)
                        if pts and pts[-1][1] == last_step:
                            done.add(run)
            except (OSError, http.client.HTTPException, ValueError):
                if conn is not None:
                    conn.close()
                conn = None
            rss = max([rss] + [vm_hwm_mb(p) or 0.0 for p in descendants(proc.pid)])
            if len(done) < len(runs):
                time.sleep(0.5)
        elapsed = time.perf_counter() - t0
        if conn is not None:
            conn.close()
        finish_process(proc, signal.SIGINT)
        total = self.res.e["seconds"]
        self.res.e.update(
            {
                "tb_server_seconds": elapsed,
                "tb_server_complete": len(done) == len(runs),
                "tb_server_peak_rss_mb": rss,
                "ratio_vs_tb_server": elapsed / total,
            }
        )
        say(
            f"  tensorboard --load_fast=false (pure-Python CRC, keeps 1,000 points/tag): {elapsed:.1f} s "
            f"until every run's last step is served, peak RSS {rss:.0f} MB -> tbhub serve is {elapsed / total:.1f}x faster"
        )

    # -- (f)

    def phase_f(self) -> None:
        sub = self.sub_f
        events = sub.total("records")
        say(
            f"== (f) `tbhub export --format jsonl` of {events:,} events ({len(sub.files)} runs), "
            f"a subprocess from exec to exit, median of {self.sc.repeat}"
        )
        expected_lines = sub.total("scalars") + sub.total("histograms") + sub.total("images")
        times: list[float] = []
        cpus: list[float] = []
        out = self.work / "export.jsonl"
        argv = [str(BIN / "tbhub"), "export", str(sub.logs), "--format", "jsonl"]
        for _ in range(self.sc.repeat):
            with open(out, "wb") as fh:
                t0 = time.perf_counter()
                proc = start_process(
                    "export", argv, env=embedded_env(), log_dir=self.work, stdout=fh
                )
                _, status, usage = os.wait4(proc.pid, 0)
                times.append(time.perf_counter() - t0)
                proc.returncode = rc = os.waitstatus_to_exitcode(status)
                cpus.append(usage.ru_utime + usage.ru_stime)
                finish_process(proc)
            if rc != 0:
                raise RuntimeError(f"tbhub export exited with {rc}; see {self.work}/export.log")
            with open(out, "rb") as fh:
                lines = sum(1 for _ in fh)
            if lines != expected_lines:
                raise RuntimeError(f"tbhub export wrote {lines} lines, expected {expected_lines}")
        size = out.stat().st_size
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", "import tbhub.cli, ingest.export"], check=True, cwd=str(ROOT)
        )
        imports = time.perf_counter() - t0
        seconds = median(times)
        tb = self.tb_time(sub)
        ratio = tb / seconds
        self.res.f = {
            "events": events,
            "lines": expected_lines,
            "jsonl_mb": size / MB,
            "seconds_runs": times,
            "seconds": seconds,
            "python_and_imports_s": imports,
            "events_per_s": events / seconds,
            "mb_per_s": sub.total("bytes") / seconds / MB,
            "tb_loader_seconds": tb,
            "ratio": ratio,
            "cpu_seconds": median(cpus),
            "ratio_cpu": tb / median(cpus),
        }
        say(
            f"  tbhub export: {seconds:.2f} s (runs {', '.join(f'{t:.2f}' for t in times)}; "
            f"of which {imports:.2f} s is starting Python and importing) = "
            f"{fmt_rate(events / seconds)} events/s, {size / MB:.0f} MB of JSONL"
        )
        say(
            f"  TensorBoard's loader over the same files (CPU time from (a)): {tb:.2f} s "
            f"-> {ratio:.1f}x (CPU time against CPU time: {tb / median(cpus):.1f}x)"
        )
        if self.args.profile:
            prof_path = self.cache / f"profile_export_{self.args.scale}.prof"
            with open(os.devnull, "wb") as devnull:
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "cProfile",
                        "-o",
                        str(prof_path),
                        "-m",
                        "tbhub.cli",
                        *argv[1:],
                    ],
                    check=True,
                    stdout=devnull,
                    cwd=str(self.work),
                    env=embedded_env(),
                )
            st = pstats.Stats(str(prof_path))
            text = profile_text(st, 16, 0)
            self.res.profile["export"] = {"stats_file": str(prof_path), "text": text}
            say(f"  -- cProfile of `tbhub export` (stats in {prof_path}):")
            say(text)
        self.verdict(
            "f",
            "export ~200k events vs TB loader",
            f"{ratio:.1f}x",
            f">= {TARGETS['f_ratio']:.0f}x",
            ratio >= TARGETS["f_ratio"],
        )

    # -- (g)

    def phase_g(self) -> None:
        sc = self.sc
        say(
            f"== (g) storage requests of an idle {IDLE_RUNS}-run source on moto's S3 server (poll_tick every TBHUB_TICK_SECONDS, in-process)"
        )
        self.team.setup()
        import boto3
        from django.conf import settings
        from django.utils import timezone

        from hub.crypto import credentials_encrypt
        from ingest import dispatch, services
        from ingest.models import Run, Source

        # Other sources of this database would be polled too: only the S3 source stays.
        Source.objects.all().delete()
        moto_port = free_port()
        moto = start_process(
            "moto",
            [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
            env={**os.environ},
            log_dir=self.work,
        )
        wait_port(moto_port, 60, moto)
        endpoint = f"http://127.0.0.1:{moto_port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        bucket = "bench-idle"
        s3.create_bucket(Bucket=bucket)
        for f in self.idle.files:
            s3.put_object(
                Bucket=bucket, Key=f"logs/{f.path}", Body=(self.idle.logs / f.path).read_bytes()
            )
        proxy = CountingProxy(moto_port, self.team.proxy_port)
        CLEANUP.push("S3 proxy", proxy.stop)
        project = self.team.project("bench-s3")
        source = self.team.source(
            project,
            f"s3://{bucket}/logs",
            options={"endpoint_url": proxy.url, "region": "us-east-1"},
            credentials_encrypted=credentials_encrypt({"key": "testing", "secret": "testing"}),
        )
        queue: collections.deque[tuple[str, int]] = collections.deque()
        dispatch.local_set(lambda kind, ident: queue.append((kind, ident)))
        tick = float(settings.TBHUB_TICK_SECONDS)
        backends: list[int] = []

        def drive(seconds: float, until: Callable[[], bool] | None = None) -> float:
            t0 = time.monotonic()
            next_tick = 0.0
            while time.monotonic() - t0 < seconds:
                check_interrupt()
                now = time.monotonic()
                if now >= next_tick:
                    services.poll_tick()
                    next_tick = now + tick
                    backends.append(len(self.team.backend_pids()))
                while queue:
                    kind, ident = queue.popleft()
                    if kind == "list":
                        services.source_list(source_id=ident)
                    else:
                        services.run_tail(run_id=ident)
                if until is not None and until():
                    return time.monotonic() - t0
                time.sleep(max(0.0, min(0.05, next_tick - time.monotonic())))
            return time.monotonic() - t0

        expected = self.idle.total("bytes")

        def ingested() -> bool:
            failed = self.team.source_failed(source.pk)
            if failed:
                raise RuntimeError(f"(g) the S3 source failed: {failed}")
            n, size, off = self.team.progress(source.pk)
            return n == len(self.idle.files) and off == size == expected

        try:
            t_ingest = drive(300, ingested)
            if not ingested():
                raise RuntimeError(
                    f"(g) S3 ingest incomplete: {self.team.progress(source.pk)}; {Source.objects.get(pk=source.pk).status_message}"
                )
            ingest_counts = proxy.take()
            say(
                f"  ingest of {IDLE_RUNS} runs through the proxy: {t_ingest:.1f} s, {sum(ingest_counts.values())} requests {dict(ingest_counts)}"
            )
            phases = {}
            sessions: dict[str, float] = {}
            proxy.take()
            s0 = self.team.sessions()
            t = drive(sc.hot_seconds)
            phases["hot"] = (t, proxy.take())
            time.sleep(1.0)  # let backends that exited report to the statistics
            sessions["hot"] = (self.team.sessions() - s0) * 3600 / t
            # Fast-forward: the hot window (TBHUB_HOT_WINDOW_SECONDS) has elapsed for every run.
            Run.objects.filter(source=source).update(
                hot_until=timezone.now() - timedelta(seconds=1)
            )
            proxy.take()
            s0 = self.team.sessions()
            t = drive(sc.idle_seconds)
            phases["idle"] = (t, proxy.take())
            time.sleep(1.0)
            sessions["idle"] = (self.team.sessions() - s0) * 3600 / t
        finally:
            dispatch.local_set(None)
            proxy.stop()
            CLEANUP.remove(proxy.stop)
            finish_process(moto)
        result: dict[str, Any] = {
            "ingest_seconds": t_ingest,
            "ingest_requests": dict(ingest_counts),
            "db_connections_max": max(backends) if backends else None,
            "db_sessions_opened_per_h": sessions,
            "settings": {
                "TBHUB_TICK_SECONDS": tick,
                "TBHUB_HOT_POLL_SECONDS_REMOTE": float(settings.TBHUB_HOT_POLL_SECONDS_REMOTE),
                "TBHUB_LIST_SECONDS_REMOTE": float(settings.TBHUB_LIST_SECONDS_REMOTE),
                "TBHUB_HOT_WINDOW_SECONDS": float(settings.TBHUB_HOT_WINDOW_SECONDS),
            },
            "samples": proxy.samples,
        }
        say(
            f"  {'':28s} {'observed':>10s} {'full lists/h':>13s} {'run lists/h':>12s} {'per-file/h':>11s} {'other/h':>9s} {'total/h':>9s}"
        )
        for name, (secs, counts) in phases.items():
            per_h = 3600.0 / secs
            full = counts.get("list_full", 0)
            runl = counts.get("list_run", 0)
            per_file = sum(v for k, v in counts.items() if k.startswith("file_"))
            other = sum(counts.values()) - full - runl - per_file
            row = {
                "seconds": secs,
                "counts": dict(counts),
                "full_listings_per_h": full * per_h,
                "run_listings_per_h": runl * per_h,
                "per_file_per_h": per_file * per_h,
                "other_per_h": other * per_h,
                "total_per_h": sum(counts.values()) * per_h,
            }
            result[name] = row
            label = "inside the hot window" if name == "hot" else "idle (hot window elapsed)"
            say(
                f"  {label:28s} {secs:>9.0f}s {row['full_listings_per_h']:>13,.0f} {row['run_listings_per_h']:>12,.0f} "
                f"{row['per_file_per_h']:>11,.0f} {row['other_per_h']:>9,.0f} {row['total_per_h']:>9,.0f}"
            )
        self.res.g = result
        say(
            f"  PostgreSQL connections opened by the poller: {sessions.get('hot', 0):,.0f}/h in the "
            f"hot window, {sessions.get('idle', 0):,.0f}/h idle (up to {result['db_connections_max']} "
            "open at once)"
        )
        idle = result["idle"]
        secs = idle["seconds"]
        full_allowed = secs / 60.0 + 1
        self.verdict(
            "g",
            "idle: per-file requests",
            f"{idle['per_file_per_h']:,.0f}/h",
            "0/h",
            idle["per_file_per_h"] == 0,
        )
        self.verdict(
            "g",
            "idle: full listings",
            f"{idle['counts'].get('list_full', 0)} in {secs:.0f} s",
            "<= 1/min",
            idle["counts"].get("list_full", 0) <= full_allowed,
        )
        hot = result["hot"]
        self.verdict(
            "g",
            "hot window: per-file requests",
            f"{hot['per_file_per_h']:,.0f}/h",
            "0/h (idle runs)",
            hot["per_file_per_h"] == 0,
        )

    # -- verdicts and report

    def verdict(self, phase: str, what: str, got: str, target: str, ok: bool) -> None:
        self.res.verdicts.append(
            {"phase": phase, "what": what, "got": got, "target": target, "ok": ok}
        )

    def summary(self) -> None:
        r = self.res
        a = self.anchor()
        say("")
        say(
            f"== summary ({r.scale}: {r.corpus.get('events', 0):,} events, {r.corpus.get('bytes', 0) / MB:,.0f} MB; "
            f"{r.machine['cores']} cores {r.machine['cpu']}; load at start {r.machine['loadavg_at_start']})"
        )
        rows: list[tuple[str, str, str, str, str, str]] = []

        def ratio(x: float | None) -> str:
            return "" if x is None or x != x else f"{x:.1f}x"

        if r.a:
            rows.append(
                (
                    "(a) TensorBoard EventFileLoader, 1 core",
                    fmt_rate(r.a["events_per_s"]),
                    f"{r.a['mb_per_s']:.1f}",
                    "",
                    "1.0x",
                    "1.0x",
                )
            )
        if r.b:
            rows.append(
                (
                    "(b) tbhub decode, 1 core",
                    fmt_rate(r.b["events_per_s"]),
                    f"{r.b['mb_per_s']:.1f}",
                    "",
                    ratio(r.b["ratio"]),
                    ratio(r.b["ratio"]),
                )
            )
        if r.c:
            rows.append(
                (
                    "(c) tbhub -> PostgreSQL, 2 processes",
                    fmt_rate(r.c["events_per_s"]),
                    f"{r.c['mb_per_s']:.1f}",
                    f"{r.c['peak_rss_mb']:.0f}",
                    ratio(r.c["events_per_s"] / a),
                    ratio(r.c["ratio_cpu"]),
                )
            )
        if r.e:
            rows.append(
                (
                    "(e) tbhub serve, subset from exec",
                    fmt_rate(r.e["events_per_s"]),
                    f"{r.e['mb_per_s']:.1f}",
                    f"{r.e['peak_rss_mb']:.0f}",
                    ratio(r.e["ratio_vs_tb_loader"]),
                    ratio(r.e["ratio_cpu"]),
                )
            )
        if r.f:
            rows.append(
                (
                    "(f) tbhub export, subset from exec",
                    fmt_rate(r.f["events_per_s"]),
                    f"{r.f['mb_per_s']:.1f}",
                    "",
                    ratio(r.f["ratio"]),
                    ratio(r.f["ratio_cpu"]),
                )
            )
        say(
            f"  {'':38s} {'events/s':>10s} {'MB/s':>6s} {'peak RSS':>9s} {'vs (a)':>7s} "
            f"{'CPU vs CPU':>11s}"
        )
        for name, rate, mbs, rss, r1, r2 in rows:
            say(
                f"  {name:38s} {rate:>10s} {mbs:>6s} {rss + (' MB' if rss else ''):>9s} {r1:>7s} {r2:>11s}"
            )
        say(
            "  ((a) and (b) are per CPU-second of one core; (c), (e), (f) are wall-clock on a shared "
            "machine; 'CPU vs CPU' divides TensorBoard's CPU time by ours)"
        )
        if r.d:
            say(
                f"  (d) 1M-point series, API view: all points {r.d['api_all_ms']:.0f} ms; "
                f"1,000-point view {r.d['api_down_cold_ms']:.1f} ms uncached, "
                f"{r.d['api_down_warm_ms']:.1f} ms cached (over HTTP: {r.d['http_all_ms']:.0f} / "
                f"{r.d['http_down_cold_ms']:.1f} / {r.d['http_down_warm_ms']:.1f} ms)"
            )
        if r.c:
            say(
                f"  (c) {fmt_rate(r.c['events_per_cpu_s'])} events per CPU-second (workers + "
                f"PostgreSQL); other processes kept {r.c['during']['other_cores']:.2f} cores busy"
            )
        if r.e:
            line = (
                f"  (e) vs TensorBoard's loader on the same files: {r.e['ratio_vs_tb_loader']:.1f}x"
            )
            if "ratio_vs_tb_server" in r.e:
                line += (
                    f"; vs a real `tensorboard --load_fast=false`: {r.e['ratio_vs_tb_server']:.1f}x"
                )
            say(line)
        if r.f:
            say(f"  (f) vs TensorBoard's loader on the same files: {r.f['ratio']:.1f}x")
        if r.g:
            i = r.g["idle"]
            say(
                f"  (g) idle: {i['total_per_h']:,.0f} requests/h ({i['full_listings_per_h']:,.0f} full listings, {i['run_listings_per_h']:,.0f} run listings, "
                f"{i['per_file_per_h']:,.0f} per-file); hot window: {r.g['hot']['total_per_h']:,.0f}/h"
            )
        say("")
        say("  targets:")
        for v in r.verdicts:
            say(
                f"    {pass_fail(v['ok']):4s} ({v['phase']}) {v['what']:34s} {v['got']:>18s}   target {v['target']}"
            )


# ---- the counting S3 proxy ---------------------------------------------------------------------


class CountingProxy:
    """A tiny HTTP/1.1 forward proxy in front of moto that counts requests by kind:
    list_full (ListObjects without delimiter: a recursive listing), list_run (with delimiter: one
    directory), file_GET / file_HEAD (requests on one object), bucket_* (anything else)."""

    def __init__(self, upstream_port: int, port: int = 0) -> None:
        self.upstream = upstream_port
        self.counts: collections.Counter[str] = collections.Counter()
        self.samples: dict[str, str] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                kind = outer.classify(self.command, self.path)
                with outer.lock:
                    outer.counts[kind] += 1
                    outer.samples.setdefault(kind, f"{self.command} {self.path}")
                conn = getattr(self, "_upstream", None)
                if conn is None:
                    conn = self._upstream = http.client.HTTPConnection(
                        "127.0.0.1", outer.upstream, timeout=60
                    )
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in ("connection", "proxy-connection", "keep-alive")
                }
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    resp = conn.getresponse()
                    data = resp.read()
                except (OSError, http.client.HTTPException):
                    conn.close()
                    self._upstream = None
                    self.send_error(502)
                    return
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() in (
                        "transfer-encoding",
                        "connection",
                        "keep-alive",
                        "server",
                        "date",
                    ):
                        continue
                    if k.lower() == "content-length" and self.command != "HEAD":
                        continue
                    self.send_header(k, v)
                if self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, name="s3-proxy", daemon=True
        )
        self.thread.start()

    @staticmethod
    def classify(method: str, path: str) -> str:
        parts = urllib.parse.urlsplit(path)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        bucket_key = parts.path.lstrip("/").split("/", 1)
        key = bucket_key[1] if len(bucket_key) > 1 else ""
        if key:
            return f"file_{method}"
        if method == "GET" and ("list-type" in query or "prefix" in query or "delimiter" in query):
            return "list_run" if query.get("delimiter", [""])[0] else "list_full"
        return f"bucket_{method}"

    def take(self) -> collections.Counter[str]:
        with self.lock:
            out = self.counts
            self.counts = collections.Counter()
        return out

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---- main --------------------------------------------------------------------------------------

PHASES = "abcdefg"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=sorted(SCALES), default="small")
    parser.add_argument(
        "--only", default=PHASES, help="phases to run, e.g. 'abf' (a is needed for every ratio)"
    )
    parser.add_argument(
        "--cache",
        default=os.environ.get("TBHUB_BENCH_CACHE")
        or os.path.join(tempfile.gettempdir(), "tbhub-bench"),
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="repetitions for (b), (d), (e), (f) (default: per scale)",
    )
    parser.add_argument(
        "--hot-seconds", type=float, default=None, help="(g) observation inside the hot window"
    )
    parser.add_argument(
        "--idle-seconds", type=float, default=None, help="(g) observation once idle"
    )
    parser.add_argument(
        "--no-tb-server", action="store_true", help="(e): skip the real `tensorboard` process"
    )
    parser.add_argument(
        "--tb-jobs", type=int, default=0, help="(a) processes (default: 2 on full, else 1)"
    )
    parser.add_argument(
        "--py-spy",
        default=shutil.which("py-spy"),
        help="py-spy binary: sample the workers in (c) and one extra `tbhub serve` in (e) "
        "(default: py-spy on PATH; not a tbhub dependency)",
    )
    parser.add_argument("--profile", action="store_true", help="also cProfile run_tail in-process")
    parser.add_argument(
        "--json", default=None, help="write the results here (default: in the cache dir)"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    args = parser.parse_args()
    only = set(args.only)

    def on_signal(signum: int, frame: Any) -> None:
        if not INTERRUPTED.is_set():
            INTERRUPTED.set()
            raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    bench = Bench(args)
    status = 0
    try:
        bench.corpus()
        if only & set("bcdef") and "a" not in only:
            say("  (a) not selected: ratios to (a) are not available")
        for phase in PHASES:
            if phase in only:
                bench.extra_cpu = 0.0
                meter = Busy()
                t0 = time.perf_counter()
                try:
                    getattr(bench, f"phase_{phase}")()
                except Exception as exc:
                    # One broken phase must not hide the others: report it and go on.
                    import traceback

                    traceback.print_exc()
                    bench.verdict(phase, "phase failed", exc.__class__.__name__, "runs", False)
                    status = 1
                    _stop_stray_children()
                load = meter.stop(bench.extra_cpu)
                result = getattr(bench.res, phase)
                if isinstance(result, dict):
                    result["machine"] = load
                say(f"  [{time.perf_counter() - t0:.0f} s; {busy_text(load)}]")
        if args.profile:
            bench.phase_profile()
    except KeyboardInterrupt:
        STOPPING.set()
        say("\ninterrupted: cleaning up")
        status = 130
    except Exception:
        import traceback

        traceback.print_exc()
        status = 1
    finally:
        CLEANUP.run()
    bench.res.code["end"] = code_fingerprint()
    if bench.res.code["end"] != bench.res.code["start"]:
        say(
            f"  ! the measured code changed while this ran ({bench.res.code['start']} -> "
            f"{bench.res.code['end']}): figures may mix versions"
        )
    if status != 130:
        bench.summary()
        out = (
            Path(args.json)
            if args.json
            else bench.cache / f"results-{args.scale}-{time.strftime('%Y%m%d-%H%M%S')}.json"
        )
        with contextlib.suppress(OSError):
            out.write_text(json.dumps(asdict(bench.res), indent=1, default=str))
            say(f"\n  results: {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
