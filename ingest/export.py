"""`tbhub export SOURCE [--format jsonl|csv] [--run REGEX] [--tag REGEX]`: a log directory as lines.

Documented in docs/ARCHITECTURE.md (ingest/export.py) and README.md#export. The same decoder
(`ingest.events`) and restart semantics (`ingest.semantics`) as the hub, applied to an in-memory
store (`RunStore`) exactly as `ingest.store` applies them to the database, so an export shows
what the hub serves: every point, in TensorBoard's load order, after restart purges.

Output (stdout carries data only; progress, warnings and logs go to stderr):

- JSONL, one object per line, keys in this order:
  `{"kind":"scalar","run","tag","step","wall_time","value"}`,
  `{"kind":"histogram","run","tag","step","wall_time","buckets":[[left,right,count],...]}`,
  `{"kind":"image","run","tag","step","wall_time","index","width","height","sha256"}` (index =
  position among that event's images; sha256 of the encoded bytes),
  `{"kind":"text","run","tag","step","wall_time","text"}` and `{"kind":"graph","run","nodes"}`
  (node count of the run's latest GraphDef that survived purges).
- CSV with the header `kind,run,tag,step,wall_time,value,buckets,index,width,height,sha256,text,
  nodes`, empty cells where a column does not apply, buckets as a JSON string.

Numbers follow `tbhub.jsonutil` (float32 widened exactly, non-finite as "NaN"/"Infinity"/
"-Infinity"). Runs are written in name order; within a run: scalars, histograms, images, text
(tags in name order, events in load order), then the graph. A text tensor with one element is
its string; with more, it is rendered as a Markdown table (rank 1: one column; higher ranks:
the last dimension as columns), cells with `|` escaped and line breaks turned into spaces.
`--run` and `--tag` are Python regular expressions matched with `re.search`; `--tag` keeps only
lines that have a tag (so the graph line is left out when it is given).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any, Final, Protocol

import numpy as np
import numpy.typing as npt
import orjson

from ingest import events, tfrecord
from ingest.decoded import GRAPH_DEF, DecodedBatch, TagRegistry
from ingest.semantics import LoaderState, Purge, filter_batch, resolve_purges, stored_cutoff
from tbhub import jsonutil

log = logging.getLogger("ingest.export")

DEFAULT_WINDOW_BYTES: Final = 16 * 1024 * 1024
CSV_HEADER: Final = (
    "kind",
    "run",
    "tag",
    "step",
    "wall_time",
    "value",
    "buckets",
    "index",
    "width",
    "height",
    "sha256",
    "text",
    "nodes",
)


class EventFile(Protocol):
    """What export needs of a listed file (`ingest.sources.FileInfo`)."""

    @property
    def run(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def path(self) -> str: ...

    @property
    def size(self) -> int: ...


class LogDirLike(Protocol):
    """What export needs of a log directory (`ingest.sources.LogDir`)."""

    def list_event_files(self) -> list[Any]: ...

    def read_range(self, path: str, start: int, end: int) -> bytes: ...


# ---- the in-memory store -----------------------------------------------------------------------


@dataclass(slots=True)
class ScalarSeries:
    """Columnar chunks of one scalar series, in load order."""

    steps: list[npt.NDArray[np.int64]] = field(default_factory=list)
    walls: list[npt.NDArray[np.float64]] = field(default_factory=list)
    values: list[npt.NDArray[np.floating[Any]]] = field(default_factory=list)
    wide: bool = False  # float64 values were written

    def arrays(
        self,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.floating[Any]]]:
        dtype = np.float64 if self.wide else np.float32
        if not self.steps:
            return np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, dtype)
        return (
            np.concatenate(self.steps),
            np.concatenate(self.walls),
            np.concatenate([v.astype(dtype, copy=False) for v in self.values]),
        )

    def cut(self, step: int) -> None:
        """Remove points with step >= `step` (a purge)."""
        for i, steps in enumerate(self.steps):
            keep = steps < step
            if not keep.all():
                self.steps[i] = steps[keep]
                self.walls[i] = self.walls[i][keep]
                self.values[i] = self.values[i][keep]


@dataclass(slots=True)
class Item:
    """One stored non-scalar event: what export writes about it."""

    step: int
    wall_time: float
    payload: Any


@dataclass(slots=True)
class RunStore:
    """Everything of one run, kept the way the hub's store keeps it (one run at a time)."""

    name: str
    registry: TagRegistry = field(default_factory=TagRegistry)
    state: LoaderState = field(default_factory=LoaderState)
    scalars: dict[str, ScalarSeries] = field(default_factory=dict)
    histograms: dict[str, list[Item]] = field(default_factory=dict)
    images: dict[str, list[Item]] = field(default_factory=dict)
    texts: dict[str, list[Item]] = field(default_factory=dict)
    # GraphDef events: (tag, step, node count); tag is "__run_graph__" for purges by tag.
    graphs: list[tuple[str, int, int | None]] = field(default_factory=list)
    records: int = 0
    problems: int = 0

    def apply(self, batch: DecodedBatch) -> list[Purge]:
        """Apply one decoded batch: resolve its purges, purge stored data, append the rest."""
        purges = resolve_purges(batch, self.state)
        if purges:
            self._purge_stored(purges)
            filter_batch(batch, purges)
        self.records += batch.records
        self.problems += len(batch.problems)
        for block in batch.scalars:
            series = self.scalars.setdefault(block.tag, ScalarSeries())
            series.steps.append(block.steps)
            series.walls.append(block.wall_times)
            series.values.append(block.values)
            series.wide = series.wide or block.values.dtype == np.float64
        for h in batch.histograms:
            self.histograms.setdefault(h.tag, []).append(Item(h.step, h.wall_time, h.buckets))
        for im in batch.images:
            digests = [(hashlib.sha256(b).hexdigest(), len(b)) for b in im.images]
            payload = (im.width, im.height, digests)
            self.images.setdefault(im.tag, []).append(Item(im.step, im.wall_time, payload))
        for t in batch.texts:
            self.texts.setdefault(t.tag, []).append(Item(t.step, t.wall_time, (t.shape, t.values)))
        for g in batch.graphs:
            if g.kind == GRAPH_DEF:
                self.graphs.append((g.tag, g.step, _count_nodes(g.data)))
        return purges

    def _purge_stored(self, purges: list[Purge]) -> None:
        for tag, series in self.scalars.items():
            cut = stored_cutoff(tag, purges)
            if cut is not None:
                series.cut(cut)
        for store in (self.histograms, self.images, self.texts):
            for tag, items in store.items():
                cut = stored_cutoff(tag, purges)
                if cut is not None:
                    store[tag] = [item for item in items if item.step < cut]
        kept = []
        for tag, step, nodes in self.graphs:
            cut = stored_cutoff(tag, purges)
            if cut is None or step < cut:
                kept.append((tag, step, nodes))
        self.graphs = kept

    def graph_nodes(self) -> int | None:
        """Node count of the latest surviving GraphDef (None: no graph)."""
        for _, _, nodes in reversed(self.graphs):
            if nodes is not None:
                return nodes
        return None

    def scalar_dtype(self, tag: str) -> str:
        return "float64" if self.scalars[tag].wide else "float32"


def _count_nodes(data: bytes) -> int | None:
    from ingest.graphs import count_nodes

    return count_nodes(data)


# ---- reading -----------------------------------------------------------------------------------


@dataclass(slots=True)
class ExportStats:
    runs: int = 0
    files: int = 0
    records: int = 0
    problems: int = 0
    read_errors: int = 0


def _describe(file: EventFile) -> str:
    return f"{file.run}/{file.name}" if file.run != "." else file.name


def load_file(
    logdir: LogDirLike,
    file: EventFile,
    store: RunStore,
    *,
    max_record_bytes: int = tfrecord.DEFAULT_MAX_RECORD_BYTES,
    window_bytes: int = DEFAULT_WINDOW_BYTES,
    progress: Any = None,
) -> None:
    """Read one event file in bounded windows and apply every batch to `store`.

    A record larger than the window widens the next read to its size (up to max_record_bytes);
    a truncated tail (a writer still writing) ends the file; a too-large record is skipped once
    the file holds it. Problems are logged as warnings with the file and offset.
    """
    size = int(file.size)
    offset = 0
    window = window_bytes
    where = _describe(file)
    while offset < size:
        end = min(size, offset + window)
        buf = logdir.read_range(file.path, offset, end)
        if not buf:
            break
        batch = events.decode(
            buf, base_offset=offset, registry=store.registry, max_record_bytes=max_record_bytes
        )
        for problem in batch.problems:
            log.warning(
                "%s: offset %d: %s: %s", where, problem.offset, problem.kind, problem.message
            )
        store.apply(batch)
        if progress is not None:
            progress.update(batch.end_offset - offset)
        # A short read means the file ends there (for now), whatever the listing said.
        reached_end = offset + len(buf) >= size or len(buf) < end - offset
        if batch.stop == "too_large":
            skip_to = batch.skip_to if batch.skip_to is not None else size
            if progress is not None:
                progress.update(min(skip_to, size) - batch.end_offset)
            offset = skip_to
            window = window_bytes
            continue
        if batch.stop == "truncated":
            if reached_end:
                log.info(
                    "%s: ends with an incomplete record at offset %d (still being written?)",
                    where,
                    batch.end_offset,
                )
                break
            if batch.end_offset == offset:
                # Not even one record fits in the window: widen it to the record (bounded).
                need = batch.need_bytes or (window + tfrecord.OVERHEAD)
                window = max(window * 2 if need <= window else need, tfrecord.OVERHEAD)
                continue
        else:
            window = window_bytes
        offset = batch.end_offset


def load_run(
    logdir: LogDirLike,
    run: str,
    files: Iterable[EventFile],
    *,
    max_record_bytes: int = tfrecord.DEFAULT_MAX_RECORD_BYTES,
    window_bytes: int = DEFAULT_WINDOW_BYTES,
    progress: Any = None,
) -> RunStore:
    """All files of one run, in lexicographic order, into a fresh RunStore."""
    store = RunStore(run)
    for file in sorted(files, key=lambda f: f.name):
        load_file(
            logdir,
            file,
            store,
            max_record_bytes=max_record_bytes,
            window_bytes=window_bytes,
            progress=progress,
        )
    return store


def group_runs(files: Iterable[EventFile]) -> dict[str, list[EventFile]]:
    runs: dict[str, list[EventFile]] = {}
    for f in files:
        runs.setdefault(f.run, []).append(f)
    return {run: sorted(runs[run], key=lambda f: f.name) for run in sorted(runs)}


# ---- writing -----------------------------------------------------------------------------------


def render_text(shape: list[int], values: list[str]) -> str:
    """A text tensor as one string: one element → itself; more → a Markdown table."""
    if len(values) == 1:
        return values[0]
    if not values:
        return ""
    columns = shape[-1] if len(shape) >= 2 and shape[-1] > 0 else 1

    def cell(value: str) -> str:
        return (
            value.replace("\\", "\\\\").replace("|", "\\|").replace("\r\n", " ").replace("\n", " ")
        )

    lines = ["|" + " |" * columns, "|" + " --- |" * columns]
    for start in range(0, len(values), columns):
        row = values[start : start + columns]
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def _tokens(values: npt.NDArray[Any], *, quote: bool = True) -> list[bytes]:
    """JSON text of every element (float32 widened), via orjson's C formatting; non-finite
    values as "NaN"/"Infinity"/"-Infinity" (quoted for JSON, bare for CSV)."""
    as64 = np.asarray(values, dtype=np.float64)
    tokens = orjson.dumps(as64, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1].split(b",")
    for i in np.flatnonzero(~np.isfinite(as64)).tolist():
        word = jsonutil.nonfinite_text(float(as64[i])).encode()
        tokens[i] = b'"' + word + b'"' if quote else word
    return tokens


class _Writer:
    """Writes one run's lines; everything goes to `out` as bytes (CSV rows are formatted with
    the csv module into a small text buffer first, so quoting follows RFC 4180)."""

    def __init__(self, out: IO[bytes], fmt: str, tag_filter: re.Pattern[str] | None) -> None:
        self.out = out
        self.csv_mode = fmt == "csv"
        self.tag_filter = tag_filter
        self._text = io.StringIO()
        self._csv = csv.writer(self._text, lineterminator="\n")
        if self.csv_mode:
            self.out.write(self._csv_row(CSV_HEADER))

    def _csv_row(self, row: Iterable[Any]) -> bytes:
        self._text.seek(0)
        self._text.truncate()
        self._csv.writerow(row)
        return self._text.getvalue().encode("utf-8")

    def close(self) -> None:
        self.out.flush()

    def _wanted(self, tag: str) -> bool:
        return self.tag_filter is None or self.tag_filter.search(tag) is not None

    def run(self, store: RunStore) -> None:
        run = store.name
        for tag in sorted(store.scalars):
            if self._wanted(tag):
                self._scalars(run, tag, *store.scalars[tag].arrays())
        for tag in sorted(store.histograms):
            if self._wanted(tag):
                for item in store.histograms[tag]:
                    buckets = np.asarray(item.payload, dtype=np.float64)
                    self._line("histogram", run, tag, item, buckets=buckets)
        for tag in sorted(store.images):
            if self._wanted(tag):
                for item in store.images[tag]:
                    width, height, digests = item.payload
                    for index, (digest, _size) in enumerate(digests):
                        extra = {"index": index, "width": width, "height": height, "sha256": digest}
                        self._line("image", run, tag, item, **extra)
        for tag in sorted(store.texts):
            if self._wanted(tag):
                for item in store.texts[tag]:
                    shape, values = item.payload
                    self._line("text", run, tag, item, text=render_text(shape, values))
        nodes = store.graph_nodes()
        if nodes is not None and self.tag_filter is None:
            if self.csv_mode:
                self.out.write(self._csv_row(["graph", run] + [""] * 10 + [nodes]))
            else:
                self.out.write(orjson.dumps({"kind": "graph", "run": run, "nodes": nodes}) + b"\n")

    def _scalars(
        self,
        run: str,
        tag: str,
        steps: npt.NDArray[np.int64],
        walls: npt.NDArray[np.float64],
        values: npt.NDArray[np.floating[Any]],
    ) -> None:
        if self.csv_mode:
            # "scalar,<run>,<tag>," then step,wall,value and the 7 empty columns.
            prefix = self._csv_row(["scalar", run, tag, ""])[:-1]
            line = b"%s%d,%s,%s,,,,,,,\n"
        else:
            prefix = (
                b'{"kind":"scalar","run":' + jsonutil.dumps(run) + b',"tag":' + jsonutil.dumps(tag)
            )
            line = b'%s,"step":%d,"wall_time":%s,"value":%s}\n'
        chunk = 1 << 16
        for a in range(0, len(steps), chunk):
            s = steps[a : a + chunk].tolist()
            w = _tokens(walls[a : a + chunk], quote=not self.csv_mode)
            v = _tokens(values[a : a + chunk], quote=not self.csv_mode)
            self.out.write(
                b"".join(line % (prefix, si, wi, vi) for si, wi, vi in zip(s, w, v, strict=True))
            )

    def _line(self, kind: str, run: str, tag: str, item: Item, **extra: Any) -> None:
        if self.csv_mode:
            row: dict[str, Any] = dict.fromkeys(CSV_HEADER, "")
            row.update(
                kind=kind,
                run=run,
                tag=tag,
                step=item.step,
                wall_time=jsonutil.number_text(item.wall_time),
            )
            for key, value in extra.items():
                row[key] = jsonutil.dumps(value).decode() if key == "buckets" else value
            self.out.write(self._csv_row(row[k] for k in CSV_HEADER))
            return
        obj: dict[str, Any] = {
            "kind": kind,
            "run": run,
            "tag": tag,
            "step": item.step,
            "wall_time": item.wall_time,
        }
        obj.update(extra)
        self.out.write(jsonutil.dumps(obj) + b"\n")


# ---- the command -------------------------------------------------------------------------------


def export_logdir(
    logdir: LogDirLike,
    out: IO[bytes],
    *,
    fmt: str = "jsonl",
    run_filter: re.Pattern[str] | None = None,
    tag_filter: re.Pattern[str] | None = None,
    max_record_bytes: int = tfrecord.DEFAULT_MAX_RECORD_BYTES,
    window_bytes: int = DEFAULT_WINDOW_BYTES,
    progress: bool | None = None,
) -> ExportStats:
    """Export a whole log directory, run by run (memory is bounded by the largest run).

    Args:
        logdir: an opened log directory (`ingest.sources.open_logdir`).
        out: binary stream for the data (stdout).
        fmt: "jsonl" or "csv".
        run_filter / tag_filter: regular expressions (re.search) selecting runs / tags.
        max_record_bytes: the record-size cap.
        window_bytes: bytes read per range request.
        progress: show a progress bar on stderr; None = only when stderr is a terminal.
    """
    from tqdm import tqdm

    stats = ExportStats()
    runs = group_runs(logdir.list_event_files())
    if not runs:
        log.warning("no event files (names containing 'tfevents') found")
    if run_filter is not None:
        runs = {run: files for run, files in runs.items() if run_filter.search(run)}
    total = sum(int(f.size) for files in runs.values() for f in files)
    disable = not sys.stderr.isatty() if progress is None else not progress
    writer = _Writer(out, fmt, tag_filter)
    with tqdm(total=total, unit="B", unit_scale=True, file=sys.stderr, disable=disable) as bar:
        for run, files in runs.items():
            bar.set_description(run)
            store = RunStore(run)
            for file in files:
                try:
                    load_file(
                        logdir,
                        file,
                        store,
                        max_record_bytes=max_record_bytes,
                        window_bytes=window_bytes,
                        progress=bar,
                    )
                except Exception as exc:  # a storage error: report, go on with the next file
                    stats.read_errors += 1
                    log.error("%s: cannot be read: %s", _describe(file), exc)
            writer.run(store)
            stats.runs += 1
            stats.files += len(files)
            stats.records += store.records
            stats.problems += store.problems
    writer.close()
    return stats


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tbhub export",
        description="Decode a TensorBoard log directory (local path, s3:// or gs://) and print "
        "every point as JSON lines or CSV, after TensorBoard's restart purges.",
    )
    parser.add_argument("source", help="log directory: a path, s3://bucket/prefix or gs://...")
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    parser.add_argument("--run", metavar="REGEX", help="only runs whose name matches (re.search)")
    parser.add_argument("--tag", metavar="REGEX", help="only tags that match (re.search)")
    parser.add_argument(
        "--max-record-bytes",
        type=int,
        default=None,
        help="skip records declaring more bytes (default: TBHUB_MAX_RECORD_BYTES or 256 MiB)",
    )
    parser.add_argument(
        "--window-bytes", type=int, default=DEFAULT_WINDOW_BYTES, help="bytes per range read"
    )
    parser.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=None, help="progress bar"
    )
    return parser


def _compile(
    pattern: str | None, what: str, parser: argparse.ArgumentParser
) -> re.Pattern[str] | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        parser.error(f"--{what}: invalid regular expression: {exc}")


def _default_max_record_bytes() -> int:
    """TBHUB_MAX_RECORD_BYTES as the hub reads it (README.md#configuration), without importing
    Django settings: export runs without a database or any other configuration."""
    raw = os.environ.get("TBHUB_MAX_RECORD_BYTES", "").strip()
    try:
        value = int(raw) if raw else tfrecord.DEFAULT_MAX_RECORD_BYTES
    except ValueError:
        log.warning("TBHUB_MAX_RECORD_BYTES=%r is not an integer; using the default", raw)
        value = tfrecord.DEFAULT_MAX_RECORD_BYTES
    return max(value, 1)


def export_main(argv: list[str] | None = None) -> int:
    """Entry point of `tbhub export` (the CLI passes the arguments after "export").

    Returns the process exit status: 0 on success (corrupt records are warnings), 1 when the
    source cannot be opened or a file cannot be read, 2 for usage errors.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    run_filter = _compile(args.run, "run", parser)
    tag_filter = _compile(args.tag, "tag", parser)
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stderr, level=logging.WARNING, format="tbhub export: %(message)s"
        )
    from ingest.sources import SourceError, open_logdir

    max_record_bytes = args.max_record_bytes or _default_max_record_bytes()
    try:
        logdir = open_logdir(args.source)
        stats = export_logdir(
            logdir,
            sys.stdout.buffer,
            fmt=args.format,
            run_filter=run_filter,
            tag_filter=tag_filter,
            max_record_bytes=max_record_bytes,
            window_bytes=max(args.window_bytes, 1024),
            progress=args.progress,
        )
    except SourceError as exc:
        log.error("%s: %s", args.source, exc)
        return 1
    except BrokenPipeError:  # `tbhub export ... | head`
        return 0
    if stats.problems:
        log.warning("%d corrupt or unusable records were skipped (see above)", stats.problems)
    return 1 if stats.read_errors else 0


def iter_lines(data: bytes) -> Iterator[dict[str, Any]]:
    """Parse JSONL export output (tests and scripts)."""
    for line in data.splitlines():
        if line:
            yield orjson.loads(line)
