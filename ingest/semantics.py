"""TensorBoard's restart/purge rules ("purge orphaned data") as pure functions over a DecodedBatch.

Documented in docs/ARCHITECTURE.md#restart-semantics and reference §4.4. We mirror the Python
loader that `tensorboard --load_fast=false` (and every s3:// logdir) serves from, the
`plugin_event_accumulator.EventAccumulator._MaybePurgeOrphanedData`, which is also what the corpus
oracle ran:

- With file_version >= 2 (every modern writer) only `SessionLog.START` purges. The first START of
  the run is a session start and is ignored; each later START at step S removes every stored item
  of the run (all tags, graphs included) with step >= S.
- Otherwise (no or an old file_version) a summary event whose step is below the step of the
  previous summary event removes, for the tags of that event only, the items with step >= its
  step. The previous step is then updated to this event's step anyway: the plugin accumulator
  updates `most_recent_step` after every summary event, purging or not (the older classic
  accumulator did not; the oracle is the plugin one).

A purge runs before the event that triggers it is added, so it applies to everything stored and to
the batch items with a smaller `seq`. The state that must survive between batches and files of a
run is `LoaderState` (the hub stores it on `Run`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ingest.decoded import SESSION_START, DecodedBatch


@dataclass(slots=True)
class LoaderState:
    """Per-run loader state: the last file_version seen, whether the run's first START was seen,
    and the step of the last summary event (None = none yet, TensorBoard's -1)."""

    file_version: float | None = None
    seen_session_start: bool = False
    most_recent_step: int | None = None


@dataclass(frozen=True, slots=True)
class Purge:
    """Remove items with step >= `step` that were loaded before the record `seq` of the batch
    (and everything already stored). `tags` None means every tag of the run, graphs included."""

    seq: int
    step: int
    tags: frozenset[str] | None


def _uses_session_log(version: float | None) -> bool:
    # TensorBoard: `if self.file_version and self.file_version >= 2` (None, NaN and -1 fail it).
    return version is not None and version >= 2


def _event_tags(batch: DecodedBatch, seqs: list[int]) -> dict[int, set[str]]:
    """The tags carried by the events `seqs` (only needed for the rare out-of-order purges)."""
    wanted = np.asarray(sorted(set(seqs)), dtype=np.int64)
    tags: dict[int, set[str]] = {int(s): set() for s in wanted}
    for block in batch.scalars:
        hits = np.isin(wanted, block.seq)
        for s in wanted[hits].tolist():
            tags[s].add(block.tag)
    for items in (batch.histograms, batch.images, batch.texts, batch.tensors, batch.graphs):
        for item in items:
            if item.seq in tags:
                tags[item.seq].add(item.tag)
    return tags


def resolve_purges(batch: DecodedBatch, state: LoaderState) -> list[Purge]:
    """The purges the batch triggers, in seq order; advances `state` past the batch.

    Args:
        batch: a decoded batch of one file of the run, in file order.
        state: the run's loader state before the batch; mutated to the state after it.

    Returns:
        Purges to apply to stored data (all of it) and to the batch's own items (`filter_batch`).
    """
    steps = batch.event_steps
    summary_seqs = np.flatnonzero(batch.event_has_summary)
    versions = sorted(batch.file_versions, key=lambda fv: fv.seq)
    starts = sorted(
        (log for log in batch.session_logs if log.status == SESSION_START), key=lambda log: log.seq
    )
    bounds = [fv.seq for fv in versions] + [len(steps)]
    purges: list[Purge] = []
    out_of_order: list[tuple[int, int]] = []
    segment_start = 0
    version = state.file_version
    for i, bound in enumerate(bounds):
        # Items [segment_start, bound) are read under `version`; the file_version event at
        # `bound` (if any) changes it before its own purge check, as in TensorBoard.
        in_segment = summary_seqs[(summary_seqs >= segment_start) & (summary_seqs < bound)]
        if _uses_session_log(version):
            for log in starts:
                if segment_start <= log.seq < bound:
                    if not state.seen_session_start:
                        state.seen_session_start = True
                    else:
                        purges.append(Purge(log.seq, log.step, None))
        elif len(in_segment):
            seg_steps = steps[in_segment]
            previous = np.empty_like(seg_steps)
            previous[1:] = seg_steps[:-1]
            if state.most_recent_step is None:
                previous[0] = seg_steps[0]  # nothing before: no purge
            else:
                previous[0] = state.most_recent_step
            for j in np.flatnonzero(seg_steps < previous).tolist():
                out_of_order.append((int(in_segment[j]), int(seg_steps[j])))
        if len(in_segment):
            state.most_recent_step = int(steps[in_segment[-1]])
        if i < len(versions):
            version = versions[i].version
            state.file_version = version
        segment_start = bound
    if out_of_order:
        tags = _event_tags(batch, [seq for seq, _ in out_of_order])
        for seq, step in out_of_order:
            if tags[seq]:
                purges.append(Purge(seq, step, frozenset(tags[seq])))
    purges.sort(key=lambda p: p.seq)
    return purges


def keep_mask(
    seq: npt.NDArray[np.int64], steps: npt.NDArray[np.int64], tag: str, purges: list[Purge]
) -> npt.NDArray[np.bool_]:
    """Which batch items of `tag` (columnar, e.g. a ScalarBlock) survive `purges`."""
    keep = np.ones(len(seq), dtype=bool)
    for p in purges:
        if p.tags is None or tag in p.tags:
            keep &= ~((seq < p.seq) & (steps >= p.step))
    return keep


def kept(seq: int, step: int, tag: str, purges: list[Purge]) -> bool:
    """Whether one batch item survives `purges`."""
    return not any(
        (p.tags is None or tag in p.tags) and seq < p.seq and step >= p.step for p in purges
    )


def stored_cutoff(tag: str, purges: list[Purge]) -> int | None:
    """The smallest step from which stored items of `tag` are removed (None: nothing removed).

    Every stored item precedes the batch, so every purge that names the tag applies to it.
    """
    cut: int | None = None
    for p in purges:
        if (p.tags is None or tag in p.tags) and (cut is None or p.step < cut):
            cut = p.step
    return cut


def filter_batch(batch: DecodedBatch, purges: list[Purge]) -> None:
    """Drop the batch's own items that `purges` remove (in place)."""
    if not purges:
        return
    blocks = []
    for block in batch.scalars:
        keep = keep_mask(block.seq, block.steps, block.tag, purges)
        if keep.all():
            blocks.append(block)
        elif keep.any():
            block.seq = block.seq[keep]
            block.steps = block.steps[keep]
            block.wall_times = block.wall_times[keep]
            block.values = block.values[keep]
            blocks.append(block)
    batch.scalars = blocks
    batch.histograms = [h for h in batch.histograms if kept(h.seq, h.step, h.tag, purges)]
    batch.images = [h for h in batch.images if kept(h.seq, h.step, h.tag, purges)]
    batch.texts = [h for h in batch.texts if kept(h.seq, h.step, h.tag, purges)]
    batch.tensors = [h for h in batch.tensors if kept(h.seq, h.step, h.tag, purges)]
    batch.graphs = [h for h in batch.graphs if kept(h.seq, h.step, h.tag, purges)]
