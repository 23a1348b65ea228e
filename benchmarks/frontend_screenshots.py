"""Screenshots of every dashboard for the README (docs/screenshots/*.png), taken from the shared
corpus through the real product path (`tbhub serve`) in Debian's Chromium.

    .venv/bin/python benchmarks/frontend_screenshots.py [--corpus ../shared/corpus] [--out docs/screenshots]
        [--only hparams,scalars,...]

The corpus has no hparams sessions: the HPARAMS shot reads a small sweep written here with
tensorboardX's `add_hparams` (deterministic values).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Serve:
    def __init__(self, logdir: Path, tmp: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")
        }
        self.proc = subprocess.Popen(
            [
                str(REPO / ".venv/bin/tbhub"),
                "serve",
                "--logdir",
                str(logdir),
                "--port",
                str(self.port),
                "--db",
                str(tmp / f"{self.port}.sqlite3"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        for _ in range(300):
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):
                    break
            except Exception:
                time.sleep(0.1)
        time.sleep(4)  # let the first ingest pass finish

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def shot(
    browser: Any,
    url: str,
    out: Path,
    ready: str,
    before: str | None = None,
    hover: str | None = None,
) -> None:
    ctx = browser.new_context(
        viewport={"width": 1440, "height": 900}, device_scale_factor=1, bypass_csp=True
    )
    page = ctx.new_page()
    page.goto(url)
    page.wait_for_selector(ready, timeout=30_000)
    if before:
        page.evaluate(before)
    time.sleep(1.0)
    if hover:
        box = page.locator(hover).first.bounding_box()
        if box:
            page.mouse.move(box["x"] + box["width"] * 0.62, box["y"] + box["height"] * 0.45)
            time.sleep(0.4)
    page.screenshot(path=str(out))
    ctx.close()
    print(out)


def write_hparams_sweep(logdir: Path) -> None:
    """12 sessions (lr x optimizer x dropout) with made-up, deterministic final metrics."""
    import math

    from tensorboardX import SummaryWriter

    with SummaryWriter(str(logdir)) as w:
        for lr in (1e-4, 1e-3, 1e-2):
            for opt in ("adam", "sgd"):
                for dropout in (0.0, 0.5):
                    acc = 0.93 - 0.05 * abs(math.log10(lr) + 3) - (0.04 if opt == "sgd" else 0)
                    acc -= 0.015 * dropout + 0.004 * ((len(opt) * 7 + int(dropout * 10)) % 3)
                    hp = {"lr": lr, "optimizer": opt, "dropout": dropout, "batch_size": 64}
                    metrics = {"hparam/accuracy": acc, "hparam/loss": 1.05 - acc}
                    w.add_hparams(hp, metrics, name=f"lr={lr:g},{opt},dropout={dropout:g}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", default=str(REPO.parent / "shared" / "corpus"))
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    ap.add_argument("--only", default="", help="comma-separated shot names (default: all)")
    args = ap.parse_args()
    only = {n for n in args.only.split(",") if n}

    def want(name: str) -> bool:
        return not only or name in only

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    corpus = Path(args.corpus)
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="tbhub-shots-"))
    small = Serve(corpus / "small", tmp)
    tf = Serve(corpus / "tf", tmp)
    write_hparams_sweep(tmp / "hparams")
    hp = Serve(tmp / "hparams", tmp)
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            if want("hparams"):
                shot(
                    b,
                    hp.url + "/?panel=hparams&hpview=parallel&hplog=%5B%22hp%3Alr%22%5D",
                    out / "hparams.png",
                    "#panel-hparams[data-sessions='12'] .hp-svg polyline.hp-line",
                    # Keyboard focus on the best session's line: highlighted, with its tooltip.
                    before="document.querySelector(\".hp-line[data-run='lr=0.001,adam,dropout=0']\")"
                    ".nextElementSibling.focus()",
                )
            shots: list[tuple[str, str, str, str | None]] = [
                (
                    "scalars",
                    small.url + "/?tagFilter=loss%7Caccuracy",
                    ".scalar-card[data-drawn]",
                    ".scalar-card[data-tag='loss/train'] .u-over",
                ),
                ("images", tf.url + "/?panel=images", ".image-card[data-step] img", None),
                (
                    "graphs",
                    tf.url
                    + "/?panel=graphs&grun=tf1_session&gtag=step10&gcolor=compute&gexp=%5B%22conv1%22%5D&node=conv1%2FWx_plus_b%2FConv2D",
                    ".graph-svg .node--expanded",
                    None,
                ),
                (
                    "distributions",
                    tf.url + "/?panel=distributions&runs=%5B%22tf1_session%22%5D",
                    ".dist-card[data-points]",
                    None,
                ),
                (
                    "histograms",
                    tf.url + "/?panel=histograms&runs=%5B%22tf1_session%22%5D",
                    ".hist-card[data-ridges]",
                    None,
                ),
                ("text", tf.url + "/?panel=text", ".text-card .text-body", None),
            ]
            for name, url, ready, hover in shots:
                if want(name):
                    shot(b, url, out / f"{name}.png", ready, hover=hover)
            b.close()
    finally:
        small.stop()
        tf.stop()
        hp.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
