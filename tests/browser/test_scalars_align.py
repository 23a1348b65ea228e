"""SCALARS: "Align runs at step 0" and smoothing that continues across a zoom window.

Two runs of one tag: runA logs steps 0..99 (value step/100), runB steps 1000..1099 (value
2 + (step - 1000)/4), as a run resumed from a checkpoint would. Charts are read through the
card's `tbhubChart()` snapshot (the arrays uPlot draws), its `data-x-range` and the tooltip.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import Hub

pytestmark = pytest.mark.browser
CARD = ".scalar-card[data-tag='loss']"


def value_a(step: int) -> float:
    return step / 100


def value_b(step: int) -> float:
    return 2 + (step - 1000) / 4


def tb_smooth(ys: list[float], w: float) -> list[float]:
    """Reference §6.1, transcribed independently of the front end."""
    if all(y == ys[0] for y in ys):
        return list(ys)
    acc, n, out = 0.0, 0, []
    for y in ys:
        if not math.isfinite(y):
            out.append(y)
            continue
        acc = w * acc + (1 - w) * y
        n += 1
        out.append(acc / (1 - w**n))
    return out


@pytest.fixture(scope="module")
def align_hub(
    start_hub: Callable[[Path], Hub], tmp_path_factory: pytest.TempPathFactory, bundle_built: None
) -> Hub:
    from tensorboardX import SummaryWriter

    logdir = tmp_path_factory.mktemp("align") / "logs"
    for name, steps, fn in (
        ("runA", range(100), value_a),
        ("runB", range(1000, 1100), value_b),
    ):
        with SummaryWriter(str(logdir / name)) as w:
            for step in steps:
                w.add_scalar("loss", fn(step), step)
    hub = start_hub(logdir)
    hub.wait_runs(
        lambda runs: (
            sorted((r["name"], r["last_step"]) for r in runs) == [("runA", 99), ("runB", 1099)]
        )
    )
    return hub


@pytest.fixture
def hub(align_hub: Hub) -> Hub:
    align_hub.reset_prefs()
    return align_hub


def open_chart(page: Any, hub: Hub, query: str = "") -> Any:
    page.goto(hub.url + "/" + query)
    page.wait_for_selector("#app[aria-busy=false]")
    page.wait_for_selector(f"{CARD}[data-drawn]", timeout=20_000)
    return page.locator(CARD)


def snapshot(page: Any) -> dict[str, dict[str, list[float]]]:
    lines = page.locator(CARD).evaluate("el => el.tbhubChart()")
    return {line["label"]: line for line in lines}


def x_range(page: Any) -> tuple[float, float]:
    lo, hi = page.locator(CARD).get_attribute("data-x-range").split(",")
    return float(lo), float(hi)


def px_of(page: Any, x: float) -> float:
    """The page x coordinate of chart value `x` (the plot area spans the drawn x range)."""
    box = page.locator(f"{CARD} .u-over").bounding_box()
    lo, hi = x_range(page)
    return float(box["x"] + (x - lo) / (hi - lo) * box["width"])


def drag_zoom(page: Any, x0: float, x1: float) -> None:
    box = page.locator(f"{CARD} .u-over").bounding_box()
    a, b = px_of(page, x0), px_of(page, x1)
    page.mouse.move(a, box["y"] + 5)
    page.mouse.down()
    page.mouse.move(b, box["y"] + box["height"] - 5, steps=5)
    page.mouse.up()
    page.wait_for_selector(f"{CARD}[data-refined='1']", timeout=20_000)


def series(hub: Hub, name: str) -> tuple[list[int], list[float]]:
    run = next(r for r in hub.api("runs")["runs"] if r["name"] == name)
    pts = hub.api(f"scalars?run_id={run['id']}&tag=loss")["points"]
    return [int(p[0]) for p in pts], [float(p[2]) for p in pts]


def wait_pref(hub: Hub, key: str, expected: Any) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if hub.api("prefs")["prefs"].get(key) == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"prefs never had {key}={expected!r}: {hub.api('prefs')}")


def test_align_runs_at_step_zero(page: Any, hub: Hub) -> None:
    open_chart(page, hub)
    box = page.locator("#align-steps")
    assert not box.is_checked()
    lines = snapshot(page)
    assert lines["runA"]["xs"][0] == 0
    assert lines["runB"]["xs"][0] == 1000
    assert x_range(page) == (0, 1099)

    box.check()
    page.wait_for_function("location.search.includes('align=1')")
    page.wait_for_function(f"document.querySelector(\"{CARD}\").dataset.xRange === '0,99'")
    lines = snapshot(page)
    assert lines["runA"]["xs"] == list(range(100))
    assert lines["runB"]["xs"] == list(range(100))
    assert lines["runB"]["steps"] == list(range(1000, 1100))
    assert lines["runB"]["raw"] == [value_b(s) for s in range(1000, 1100)]
    assert lines["runA"]["raw"] == pytest.approx([value_a(s) for s in range(100)], rel=1e-7)

    # The tooltip at x = 10: both runs' exact values, the aligned x and the real step.
    over = page.locator(f"{CARD} .u-over").bounding_box()
    page.mouse.move(px_of(page, 10), over["y"] + over["height"] / 2)
    page.wait_for_selector(f"{CARD} .tooltip:not([hidden]) tr[data-run='runB']")
    tip = page.locator(f"{CARD} .tooltip")
    assert tip.locator("th").all_inner_texts()[-4:] == ["Aligned step", "Step", "Time", "Relative"]
    row_a = tip.locator("tr[data-run='runA']")
    row_b = tip.locator("tr[data-run='runB']")
    assert row_a.locator(".tt-raw").inner_text() == "0.1"
    assert row_b.locator(".tt-raw").inner_text() == "4.5"
    assert row_a.locator(".tt-aligned").inner_text() == "10"
    assert row_b.locator(".tt-aligned").inner_text() == "10"
    assert row_a.locator(".tt-step").inner_text() == "10"
    assert row_b.locator(".tt-step").inner_text() == "1,010"
    page.mouse.move(0, 0)

    # Saved with the user's dashboard, restored by a reload and by a page without the URL key.
    wait_pref(hub, "align_steps", True)
    page.reload()
    page.wait_for_selector(f"{CARD}[data-drawn]", timeout=20_000)
    assert "align=1" in page.url
    assert page.is_checked("#align-steps")
    assert x_range(page) == (0, 99)
    open_chart(page, hub)
    assert "align=1" not in page.url
    assert page.is_checked("#align-steps")
    assert x_range(page) == (0, 99)

    # WALL: not applicable, the box is disabled and says why; RELATIVE is aligned in time.
    page.check("input[name=x-axis][value=wall]")
    page.wait_for_function("location.search.includes('x=wall')")
    assert box.is_disabled()
    assert "WALL" in page.locator("label.align-steps").get_attribute("title")
    page.check("input[name=x-axis][value=relative]")
    assert box.is_disabled()
    assert "own start" in page.locator("label.align-steps").get_attribute("title")
    page.check("input[name=x-axis][value=step]")
    assert box.is_enabled()
    page.wait_for_function(f"document.querySelector(\"{CARD}\").dataset.xRange === '0,99'")


def test_aligned_zoom_fetches_each_run_in_its_own_steps(page: Any, hub: Hub) -> None:
    open_chart(page, hub, "?align=1")
    page.wait_for_function(f"document.querySelector(\"{CARD}\").dataset.xRange === '0,99'")
    coarse = snapshot(page)
    starts: list[float] = []

    def on_request(req: Any) -> None:
        if "scalars/batch" in req.url and "start=" in req.url:
            from urllib.parse import parse_qs, urlparse

            starts.append(float(parse_qs(urlparse(req.url).query)["start"][0]))

    page.on("request", on_request)
    drag_zoom(page, 20, 40)
    lo, hi = x_range(page)
    assert 18 < lo < 22 and 38 < hi < 42
    # One request per first step: the window translated back to each run's absolute steps.
    pad = (hi - lo) * 0.02
    assert sorted(starts) == pytest.approx([lo - pad, lo - pad + 1000])
    lines = snapshot(page)
    for name, first in (("runA", 0), ("runB", 1000)):
        line = lines[name]
        assert line["xs"] == [s - first for s in line["steps"]]
        # Only the window's points, and the nearest point on each side (the lines run to the
        # window's edges): a wrong (absolute) range would leave runB's window empty and fall
        # back to its whole series.
        inner = line["xs"][1:-1]
        assert lo - pad <= inner[0] <= lo + 1
        assert hi - 1 <= inner[-1] <= hi + pad
        assert line["xs"][0] == inner[0] - 1 and line["xs"][-1] == inner[-1] + 1
        # The smoothing continues the zoomed-out curve at the window's first visible point.
        i = next(k for k, x in enumerate(line["xs"]) if x >= lo)
        j = coarse[name]["xs"].index(line["xs"][i])
        assert line["smoothed"][i] == pytest.approx(coarse[name]["smoothed"][j], rel=1e-6)


def test_aggregated_band_uses_aligned_steps(page: Any, hub: Hub) -> None:
    open_chart(page, hub, "?group=%5Erun&align=1")
    page.wait_for_function(f"document.querySelector(\"{CARD}\").dataset.xRange === '0,99'")
    (group,) = snapshot(page).values()
    assert group["label"] == "run (2 runs, mean ± min/max)"
    assert group["xs"] == list(range(100))
    assert group["steps"] == list(range(100))  # the lowest real step at each aligned x
    assert group["raw"][10] == pytest.approx((value_a(10) + value_b(1010)) / 2, rel=1e-7)
    # Not aligned, the two runs never share a step: 200 means of one run each.
    page.uncheck("#align-steps")
    page.wait_for_function(f"document.querySelector(\"{CARD}\").dataset.xRange === '0,1099'")
    (group,) = snapshot(page).values()
    assert group["xs"] == list(range(100)) + list(range(1000, 1100))
    assert group["raw"][10] == pytest.approx(value_a(10), rel=1e-7)


def test_zoomed_smoothing_continues_the_full_range_curve(page: Any, hub: Hub) -> None:
    open_chart(page, hub, "?runs=" + json.dumps(["runA"]))
    coarse = snapshot(page)["runA"]
    steps, values = series(hub, "runA")
    expected = tb_smooth(values, 0.6)
    assert coarse["smoothed"] == pytest.approx(expected, rel=1e-9)
    drag_zoom(page, 40, 70)
    lo, _hi = x_range(page)
    zoomed = snapshot(page)["runA"]
    # The window's points and the nearest point on each side.
    assert lo - 2 < zoomed["xs"][0] and zoomed["xs"][-1] < 80
    i = next(k for k, x in enumerate(zoomed["xs"]) if x >= lo)
    step = int(zoomed["steps"][i])
    assert zoomed["smoothed"][i] == pytest.approx(
        coarse["smoothed"][coarse["steps"].index(step)], rel=1e-6
    )
    assert zoomed["smoothed"][i] == pytest.approx(expected[steps.index(step)], rel=1e-6)
    # Restarting the average at the window would reproduce its first raw value instead.
    assert zoomed["smoothed"][0] != pytest.approx(zoomed["raw"][0], rel=1e-3)


def test_seeded_smoothing_and_alignment_helpers(page: Any, hub: Hub) -> None:
    open_chart(page, hub)
    got = page.evaluate(
        """() => {
          const L = window.tbhubLib;
          const ys = [1, 2, NaN, 4, 3, 7, -1, 5];
          const xs = ys.map((_, i) => i * 10);
          const whole = Array.from(L.smooth(ys, 0.6));
          const seed = L.emaStateBefore(xs, ys, 0.6, 40);
          const tail = Array.from(L.smoothFrom(ys.slice(4), 0.6, seed));
          return {
            whole, tail, seed,
            restarted: Array.from(L.smoothFrom(ys.slice(4), 0.6, null)),
            empty: Array.from(L.smoothFrom([3, 3], 0.6, {acc: 0, count: 0})),
            aligned: Array.from(L.alignSteps([1000, 1001, 1005], 1000)),
            ranges: L.absoluteRanges([20, 40], [[1, 0], [2, 1000], [3, 0]]),
          };
        }"""
    )
    assert got["seed"]["count"] == 3  # the NaN does not count
    assert got["tail"] == got["whole"][4:]
    assert got["restarted"][0] == pytest.approx(3, rel=1e-15)  # what the seed avoids
    assert got["tail"][0] == pytest.approx(2.911764705882353)
    assert got["empty"] == [3, 3]
    assert got["aligned"] == [0, 1, 5]
    assert got["ranges"] == [
        {"start": 20, "end": 40, "runIds": [1, 3]},
        {"start": 1020, "end": 1040, "runIds": [2]},
    ]
