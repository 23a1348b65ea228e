"""Event files written at test time by real writers, and the ingest loop the workers run."""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
from django.utils import timezone
from PIL import Image

from hub.models import Project
from ingest.models import Run, Series, Source
from panels import selectors
from tests.ingest.drive import ingest_all as ingest_all  # re-exported for the retention tests

NOW = timezone.now()
DAY = 86400.0
_files = itertools.count(1)


def _suffix() -> str:
    """Writers name files by the second: a suffix keeps two files of one second apart."""
    return f".{next(_files)}"


def png(seed: int, size: tuple[int, int] = (6, 4)) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(
        buf, format="PNG"
    )
    return buf.getvalue()


def write_scalars(
    logdir: Path,
    tag: str,
    values: Iterable[float],
    walls: Iterable[float],
    *,
    start: int = 0,
) -> None:
    """tensorboardX scalars with explicit wall times (one file per call)."""
    from tensorboardX import SummaryWriter

    w = SummaryWriter(logdir=str(logdir), flush_secs=3600, filename_suffix=_suffix())
    for i, (v, wall) in enumerate(zip(values, walls, strict=True)):
        w.add_scalar(tag, float(v), start + i, walltime=float(wall))
    w.close()


def write_images(logdir: Path, tag: str, steps: Iterable[int], wall: float) -> None:
    """tensorboardX images, one per step."""
    from tensorboardX import SummaryWriter

    rng = np.random.default_rng(7)
    w = SummaryWriter(logdir=str(logdir), flush_secs=3600, filename_suffix=_suffix())
    for step in steps:
        w.add_image(tag, rng.random((3, 4, 6)), step, walltime=wall + step)
    w.close()


def write_multi_images(logdir: Path, tag: str, steps: Iterable[int], samples: int) -> None:
    """TF2-style image summaries: one event carries `samples` images ([w, h, png, png, ...])."""
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from tests.ingest.writers import string_tensor, tensor_event

    writer = EventFileWriter(str(logdir), filename_suffix=_suffix())
    for step in steps:
        blobs = [png(step * 10 + i) for i in range(samples)]
        t = string_tensor([b"6", b"4", *blobs], [2 + samples])
        writer.add_event(tensor_event(tag, t, step, "images"))
    writer.close()


def write_mixed(logdir: Path, *, steps: int = 20, wall: float | None = None) -> None:
    """tensorboardX: scalars, a histogram, an image and text (one file)."""
    from tensorboardX import SummaryWriter

    wall0 = wall if wall is not None else NOW.timestamp()
    rng = np.random.default_rng(0)
    w = SummaryWriter(logdir=str(logdir), flush_secs=3600, filename_suffix=_suffix())
    for step in range(steps):
        w.add_scalar("loss", 1.0 / (step + 1), step, walltime=wall0 + step)
        if step % 5 == 0:
            w.add_histogram("weights", rng.standard_normal(100), step, walltime=wall0 + step)
            w.add_image("sample", rng.random((3, 4, 6)), step, walltime=wall0 + step)
            w.add_text("notes", f"step {step}", step, walltime=wall0 + step)
    w.close()


def make_source(url: str, project: Project | None = None) -> Source:
    if project is None:
        project, _ = Project.objects.get_or_create(slug="p", defaults={"name": "P"})
    return Source.objects.create(project=project, url=url)


def scalar_points(run: Run, tag: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = selectors.series_get(run=run, tag=tag, kind="scalar")
    d = selectors.scalar_series_read(series=s)
    return d.steps, d.wall_times, d.values


def age(run: Run, days: float) -> None:
    """Pretend the hub last stored events for `run` `days` ago."""
    Run.objects.filter(pk=run.pk).update(updated_at=NOW - timedelta(days=days))


def series_state(run: Run) -> dict[str, Any]:
    return {
        s.tag: (s.count, s.chunk_count, s.tail_points, s.stored_bytes, s.first_step, s.last_step)
        for s in Series.objects.filter(run=run)
    }
