"""Restart purges (reference §4.4), checked against TensorBoard's own plugin accumulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tensorboard.backend.event_processing import plugin_event_accumulator as pea
from tensorboard.compat.proto import event_pb2, graph_pb2
from tensorboard.util import tensor_util

from ingest import events
from ingest.decoded import TagRegistry
from ingest.export import RunStore, load_run
from ingest.semantics import LoaderState, Purge, filter_batch, keep_mask, kept, resolve_purges
from tests.ingest import writers as w


def decode(evs: list[Any], registry: TagRegistry | None = None) -> Any:
    return events.decode(w.records(evs), base_offset=0, registry=registry or TagRegistry())


# ---- unit rules --------------------------------------------------------------------------------


def test_first_start_is_ignored_later_starts_purge_everything() -> None:
    state = LoaderState()
    batch = decode(
        [w.file_version_event(), w.session_start(0), w.scalar_event("a", 1, 3), w.session_start(2)]
    )
    purges = resolve_purges(batch, state)
    assert purges == [Purge(seq=3, step=2, tags=None)]
    assert state.file_version == 2.0
    assert state.seen_session_start
    assert state.most_recent_step == 3


def test_start_state_persists_across_batches() -> None:
    state = LoaderState()
    assert resolve_purges(decode([w.file_version_event(), w.session_start(0)]), state) == []
    assert resolve_purges(decode([w.session_start(7)]), state) == [Purge(0, 7, None)]


def test_out_of_order_rule_without_file_version() -> None:
    state = LoaderState()
    evs = [w.scalar_event("a", 1, s) for s in (0, 1, 2, 3)]
    evs.append(w.scalar_event("a", 1, 1))  # back to step 1: purge tag a from 1 on
    ev = event_pb2.Event(step=2)
    ev.summary.value.add(tag="b", simple_value=1.0)
    evs.append(ev)  # 2 >= 1: no purge (most_recent_step became 1, as in the plugin loader)
    purges = resolve_purges(decode(evs), state)
    assert purges == [Purge(seq=4, step=1, tags=frozenset({"a"}))]
    assert state.most_recent_step == 2


def test_out_of_order_steps_in_a_version_2_file_do_not_purge() -> None:
    evs = [w.file_version_event(), w.scalar_event("a", 1, 5), w.scalar_event("a", 1, 2)]
    assert resolve_purges(decode(evs), LoaderState()) == []


def test_out_of_order_across_batches_uses_the_saved_step() -> None:
    state = LoaderState()
    resolve_purges(decode([w.scalar_event("a", 1, 10)]), state)
    purges = resolve_purges(decode([w.scalar_event("a", 1, 4)]), state)
    assert purges == [Purge(0, 4, frozenset({"a"}))]


def test_keep_mask_and_filter_batch() -> None:
    purges = [Purge(seq=5, step=3, tags=None), Purge(seq=8, step=1, tags=frozenset({"x"}))]
    seq = np.arange(10)
    steps = np.array([0, 1, 2, 3, 4, 3, 4, 5, 6, 7])
    assert keep_mask(seq, steps, "y", purges).tolist() == [1, 1, 1, 0, 0, 1, 1, 1, 1, 1]
    assert keep_mask(seq, steps, "x", purges).tolist() == [1, 0, 0, 0, 0, 0, 0, 0, 1, 1]
    assert kept(9, 100, "x", purges)
    assert not kept(0, 3, "y", purges)
    batch = decode([w.scalar_event("y", 1, int(s)) for s in steps])
    filter_batch(batch, purges)
    assert batch.scalars[0].steps.tolist() == [0, 1, 2, 3, 4, 5, 6, 7]


# ---- against TensorBoard's loader --------------------------------------------------------------


def tensorboard_scalars(logdir: Path) -> dict[str, list[tuple[int, float]]]:
    acc = pea.EventAccumulator(
        str(logdir), size_guidance={pea.TENSORS: 0}, purge_orphaned_data=True
    )
    acc.Reload()
    out: dict[str, list[tuple[int, float]]] = {}
    for tag in acc.Tags()["tensors"]:
        meta = acc.SummaryMetadata(tag)
        if meta.plugin_data.plugin_name != "scalars":
            continue
        out[tag] = [
            (e.step, float(tensor_util.make_ndarray(e.tensor_proto).item()))
            for e in acc.Tensors(tag)
        ]
    return out


def tensorboard_graph_present(logdir: Path) -> bool:
    acc = pea.EventAccumulator(
        str(logdir), size_guidance={pea.TENSORS: 0}, purge_orphaned_data=True
    )
    acc.Reload()
    return "__run_graph__" in acc.Tags()["tensors"] and bool(acc.Tensors("__run_graph__"))


class LocalFiles:
    """A minimal stand-in for ingest.sources.LogDir over one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def files(self) -> list[Any]:
        from ingest.sources import FileInfo

        return [
            FileInfo(run=".", name=p.name, path=str(p), size=p.stat().st_size)
            for p in sorted(self.root.iterdir())
            if "tfevents" in p.name
        ]

    def list_event_files(self) -> list[Any]:
        return self.files()

    def read_range(self, path: str, start: int, end: int) -> bytes:
        with open(path, "rb") as fh:
            fh.seek(start)
            return fh.read(end - start)


def ours(logdir: Path, window: int = 1 << 20) -> RunStore:
    src = LocalFiles(logdir)
    return load_run(src, ".", src.files(), window_bytes=window)


def our_scalars(store: RunStore) -> dict[str, list[tuple[int, float]]]:
    out = {}
    for tag, series in store.scalars.items():
        steps, _, values = series.arrays()
        out[tag] = list(zip(steps.tolist(), values.astype(np.float64).tolist(), strict=True))
    return out


def write(logdir: Path, name: str, evs: list[Any]) -> None:
    (logdir / f"events.out.tfevents.{name}").write_bytes(w.records(evs))


SCENARIOS: dict[str, list[tuple[str, list[Any]]]] = {
    "restart_in_second_file": [
        (
            "001",
            [w.file_version_event(), w.session_start(0)]
            + [w.scalar_event(t, s, s) for s in range(20) for t in "ab"],
        ),
        (
            "002",
            [w.file_version_event(), w.session_start(10)]
            + [w.scalar_event("a", -s, s) for s in range(10, 25)],
        ),
    ],
    "restart_in_one_file": [
        (
            "001",
            [w.file_version_event(), w.session_start(0)]
            + [w.tensor_scalar_event(t, s, s) for s in range(30) for t in ("x", "y")]
            + [w.session_start(12)]
            + [w.tensor_scalar_event("x", 100 + s, s) for s in range(12, 40)],
        ),
    ],
    "pytorch_purge_step_without_earlier_start": [
        ("001", [w.file_version_event()] + [w.scalar_event("l", s, s) for s in range(10)]),
        (
            "002",
            [w.file_version_event(wall=w.WALL0 + 99), w.session_start(5)]
            + [w.scalar_event("l", -s, s) for s in range(5, 12)],
        ),
    ],
    "no_file_version_out_of_order": [
        (
            "001",
            [w.scalar_event(t, s, s) for s in range(10) for t in "ab"]
            + [w.scalar_event("a", 50, 5)]
            + [w.scalar_event("a", 60, 7), w.scalar_event("b", 70, 3)],
        ),
    ],
    "no_file_version_step_10_5_7": [
        ("001", [w.scalar_event("a", s, s) for s in (8, 9, 10, 5, 7, 6)]),
    ],
    "old_file_version": [
        (
            "001",
            [w.file_version_event(version="brain.Event:1")]
            + [w.scalar_event("a", s, s % 7) for s in range(30)],
        ),
    ],
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
@pytest.mark.parametrize("window", [1 << 20, 200])
def test_purges_match_tensorboard(scenario: str, window: int, tmp_path: Path) -> None:
    for name, evs in SCENARIOS[scenario]:
        write(tmp_path, name, evs)
    assert our_scalars(ours(tmp_path, window)) == tensorboard_scalars(tmp_path)


def test_graph_purged_by_a_restart_like_tensorboard(tmp_path: Path) -> None:
    graph = graph_pb2.GraphDef()
    graph.node.add(name="n", op="NoOp")
    write(
        tmp_path,
        "001",
        [
            w.file_version_event(),
            w.session_start(0),
            event_pb2.Event(step=5, graph_def=graph.SerializeToString()),
            w.scalar_event("a", 1, 6),
            w.session_start(3),
        ],
    )
    store = ours(tmp_path)
    assert store.graph_nodes() is None
    assert not tensorboard_graph_present(tmp_path)


def test_tensorboardx_purge_step_like_tensorboard(tmp_path: Path) -> None:
    """A resumed tensorboardX writer (purge_step) in a second file, read like TensorBoard."""
    from tensorboardX import SummaryWriter

    first = SummaryWriter(str(tmp_path), filename_suffix=".1")
    for step in range(10):
        first.add_scalar("loss", float(step), step, walltime=w.WALL0 + step)
    first.close()
    second = SummaryWriter(str(tmp_path), purge_step=5, filename_suffix=".2")
    for step in range(5, 12):
        second.add_scalar("loss", float(-step), step, walltime=w.WALL0 + 100 + step)
    second.close()
    assert our_scalars(ours(tmp_path)) == tensorboard_scalars(tmp_path)
