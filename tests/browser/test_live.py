"""Live updates: events appended to a log directory while the page is open show up without a
reload (websocket notices), with a "live" indicator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Hub, new_context

pytestmark = pytest.mark.browser


def test_chart_updates_without_reload(browser: Any, start_hub: Any, tmp_path: Path) -> None:
    from tensorboardX import SummaryWriter

    logdir = tmp_path / "logs"
    # tensorboardX flushes from its worker thread: flush_secs=1 puts every event on disk within ~1 s.
    w = SummaryWriter(str(logdir / "run1"), max_queue=1, flush_secs=1)
    for step in range(10):
        w.add_scalar("loss/train", 1.0 / (step + 1), step)
    w.flush()
    hub: Hub = start_hub(logdir)
    hub.wait_runs(lambda runs: any(r["last_step"] == 9 for r in runs))
    ctx = new_context(browser)
    page = ctx.new_page()
    page.goto(hub.url + "/")
    page.wait_for_selector(".live.live--live", timeout=20_000)
    card = ".scalar-card[data-tag='loss/train']"
    page.wait_for_selector(f"{card} .legend-item:has-text('step 9')", timeout=20_000)
    page.evaluate("window.__noReload = 1")
    w2 = None
    try:
        # New points of a known tag.
        for step in range(10, 25):
            w.add_scalar("loss/train", 1.0 / (step + 1), step)
        w.flush()
        page.wait_for_selector(f"{card} .legend-item:has-text('step 24')", timeout=20_000)
        # A new tag and a new run.
        w.add_scalar("acc/new", 0.5, 25)
        w.flush()
        w2 = SummaryWriter(str(logdir / "run2"), max_queue=1, flush_secs=1)
        w2.add_scalar("loss/train", 0.7, 0)
        w2.flush()
        page.wait_for_selector(".scalar-card[data-tag='acc/new'][data-drawn]", timeout=20_000)
        page.wait_for_selector(".run-cb[data-run='run2']", timeout=20_000)
        page.wait_for_selector(f"{card} .legend-item[data-run='run2']", timeout=20_000)
        assert page.evaluate("window.__noReload") == 1  # the page was never reloaded
    finally:
        w.close()
        if w2 is not None:
            w2.close()
        ctx.close()
