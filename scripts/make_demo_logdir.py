"""Write a demo TensorBoard log directory with real writers (tensorboardX and TensorBoard's own).

Used by `make serve` when no LOGDIR is given. Three "seeds" of a small training run (scalars with
one real spike, histograms, images, text), a run with a graph and a small hyperparameter sweep
(hparams sessions), so every panel has data.
With --live, keeps appending points to one run until interrupted, to show live updates.
"""

from __future__ import annotations

import argparse
import io
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _sample_image(step: int, seed: int) -> np.ndarray:
    h, w = 48, 64
    y, x = np.mgrid[0:h, 0:w]
    phase = step / 40.0 + seed
    r = (127 + 127 * np.sin(x / 6.0 + phase)).astype(np.uint8)
    g = (127 + 127 * np.cos(y / 5.0 - phase)).astype(np.uint8)
    b = (127 + 127 * np.sin((x + y) / 9.0 + 2 * phase)).astype(np.uint8)
    return np.stack([r, g, b], axis=-1)


def write_training_run(root: Path, seed: int, steps: int) -> None:
    from tensorboardX import SummaryWriter

    rng = np.random.default_rng(seed)
    w = SummaryWriter(logdir=str(root / "mnist" / f"seed{seed}"), flush_secs=1)
    w.add_text("notes/config", f"**seed** = {seed}\n\n| lr | batch |\n|---|---|\n| 0.01 | 64 |", 0)
    for step in range(steps):
        loss = 2.3 * math.exp(-step / 300.0) + 0.05 * rng.standard_normal() + 0.1
        if seed == 1 and step == steps // 2:
            loss += 4.0  # one real spike: full resolution keeps it, sampling would not
        acc = 1 - 0.9 * math.exp(-step / 250.0) + 0.01 * rng.standard_normal()
        w.add_scalar("loss/train", loss, step)
        w.add_scalar("accuracy/train", acc, step)
        w.add_scalar("lr", 0.01 * (0.5 ** (step // 400)), step)
        if step % 10 == 0:
            w.add_scalar("loss/eval", loss * 1.1 + 0.02, step)
        if step % 50 == 0:
            scale = 1.0 / (1 + step / 500.0)
            w.add_histogram("weights/dense1", rng.normal(0, scale, size=2000), step)
            w.add_histogram("weights/dense2", rng.normal(0.1, scale * 2, size=2000), step)
        if step % 100 == 0:
            w.add_image("samples/input", _sample_image(step, seed), step, dataformats="HWC")
    w.close()


def write_graph_run(root: Path) -> None:
    """A small MLP GraphDef with name scopes, written by TensorBoard's own writer."""
    from tensorboard.compat.proto import event_pb2, graph_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    g = graph_pb2.GraphDef()

    def node(name: str, op: str, *inputs: str) -> None:
        n = g.node.add()
        n.name, n.op = name, op
        n.input.extend(inputs)
        n.device = "/device:CPU:0"

    node("input/x", "Placeholder")
    for layer, prev in (("dense1", "input/x"), ("dense2", "dense1/Relu")):
        node(f"{layer}/kernel", "VariableV2")
        node(f"{layer}/bias", "VariableV2")
        node(f"{layer}/MatMul", "MatMul", prev, f"{layer}/kernel")
        node(f"{layer}/BiasAdd", "BiasAdd", f"{layer}/MatMul", f"{layer}/bias")
        node(f"{layer}/Relu", "Relu", f"{layer}/BiasAdd")
    node("loss/labels", "Placeholder")
    node("loss/xent", "SoftmaxCrossEntropyWithLogits", "dense2/Relu", "loss/labels")
    node("loss/Mean", "Mean", "loss/xent")
    node("train/init", "NoOp", "^dense1/kernel", "^dense2/kernel")
    writer = EventFileWriter(str(root / "graph"))
    writer.add_event(
        event_pb2.Event(wall_time=time.time(), step=0, graph_def=g.SerializeToString())
    )
    writer.close()


def write_hparams_runs(root: Path, steps: int) -> None:
    """Four sessions of a small sweep for the HPARAMS view, by tensorboardX's `add_hparams`
    (what PyTorch users write): each session run holds its loss curve, the hparams summaries
    (session start, end and its own copy of the experiment) and the final metrics."""
    from tensorboardX import SummaryWriter

    sweep = [(0.1, "sgd", 32), (0.01, "sgd", 64), (0.01, "adam", 32), (0.001, "adam", 64)]
    for i, (lr, optimizer, batch) in enumerate(sweep):
        rng = np.random.default_rng(100 + i)
        name = f"lr={lr},opt={optimizer},batch={batch}"
        floor = 0.05 + abs(math.log10(lr) + 2) * 0.15 + (0.05 if optimizer == "sgd" else 0.0)
        # The suffix keeps this file apart from the one add_hparams writes into the same
        # directory (both would otherwise be named by the same second and host).
        w = SummaryWriter(logdir=str(root / "sweep" / name), flush_secs=1, filename_suffix=".train")
        loss = 0.0
        for step in range(0, steps, 5):
            loss = 2.3 * math.exp(-step / 200.0) + floor + 0.02 * rng.standard_normal()
            w.add_scalar("loss/train", loss, step)
        accuracy = max(0.0, min(1.0, 1.0 - floor - 0.01 * i))
        # name="." puts the hparams session into this writer's own run, next to its curve.
        w.add_hparams(
            {"lr": lr, "optimizer": optimizer, "batch_size": batch, "augment": i % 2 == 0},
            {"hparam/accuracy": accuracy, "hparam/loss": loss},
            name=".",
            global_step=steps - 1,
        )
        w.close()


def live(root: Path) -> None:
    from tensorboardX import SummaryWriter

    w = SummaryWriter(logdir=str(root / "live"), flush_secs=1)
    step = 0
    try:
        while True:
            w.add_scalar("loss/train", 1.0 / (1 + step / 50.0) + 0.02 * math.sin(step), step)
            w.flush()
            step += 1
            time.sleep(1.0)
    except KeyboardInterrupt:
        w.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("logdir")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--live", action="store_true", help="keep appending to run 'live'")
    ap.add_argument("--force", action="store_true", help="rewrite even if it exists")
    args = ap.parse_args()
    root = Path(args.logdir)
    if root.exists() and any(root.iterdir()) and not args.force:
        print(f"demo log directory {root} already exists", file=sys.stderr)
    else:
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir(parents=True)
        for seed in (1, 2, 3):
            write_training_run(root, seed, args.steps)
        write_graph_run(root)
        write_hparams_runs(root, args.steps)
        print(f"wrote demo log directory {root}", file=sys.stderr)
    if args.live:
        live(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
