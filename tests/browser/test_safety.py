"""Run names, tag names and text summaries containing HTML/JS are shown as text, never run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Hub

pytestmark = pytest.mark.browser

RUN = "<img src=x onerror=alert(1)>"
TAG = "<script>alert(2)</script>/x"
TEXT = "<b>raw</b> [click](javascript:alert(3)) <img src=x onerror=alert(4)>"


def test_hostile_names_render_as_text(page: Any, start_hub: Any, tmp_path: Path) -> None:
    from tensorboardX import SummaryWriter
    from tensorboardX.proto.summary_pb2 import Summary

    logdir = tmp_path / "logs"
    w = SummaryWriter(str(logdir / RUN))
    for step in range(3):
        # Raw protos: tensorboardX's add_scalar would replace the "<" and ">" of the tag.
        w.file_writer.add_summary(
            Summary(value=[Summary.Value(tag=TAG, simple_value=float(step))]), step
        )
    w.add_text("notes", TEXT, 0)
    w.close()
    hub: Hub = start_hub(logdir)
    hub.wait_runs(
        lambda runs: (
            any(r["tags"]["text"] for r in runs) and any(r["tags"]["scalars"] for r in runs)
        )
    )
    page.goto(hub.url + "/")
    page.wait_for_selector(".scalar-card[data-drawn]")
    assert page.locator(".scalar-card .tag-name").inner_text() == TAG
    assert page.locator(".run-list .run-name").inner_text() == RUN
    assert page.locator(".scalar-card .legend-name").inner_text() == RUN
    assert (
        page.evaluate(
            "document.querySelectorAll('#content script, img[onerror], [onerror]').length"
        )
        == 0
    )
    page.click("[role=tab][data-panel=text]")
    body = page.locator(".text-card .text-body")
    page.wait_for_selector(".text-card .text-body")
    assert "<b>raw</b>" in body.inner_text()
    assert body.locator("b").count() == 0
    assert "click" in body.inner_text()
    assert page.evaluate("document.querySelectorAll('a[href^=\"javascript\"]').length") == 0
    # the page fixture fails the test if any alert() dialog opened
