"""Every panel on the shared corpus, as a user sees it: what is drawn, controls, URL state."""

from __future__ import annotations

import json
import math
import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import Hub, new_context

pytestmark = pytest.mark.browser
PANELS = ["SCALARS", "IMAGES", "GRAPHS", "DISTRIBUTIONS", "HISTOGRAMS", "TEXT", "HPARAMS"]


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


def num(v: Any) -> float:
    return {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}.get(v, v)  # type: ignore[arg-type]


def open_dash(page: Any, hub: Hub, query: str = "") -> None:
    page.goto(hub.url + "/" + query)
    page.wait_for_selector("#app[aria-busy=false]")


def wait_charts(page: Any, n: int) -> None:
    page.wait_for_function(
        f"document.querySelectorAll('.scalar-card[data-drawn]').length >= {n}", timeout=20_000
    )


def test_frame_tabs_and_scalars(page: Any, small: Hub) -> None:
    open_dash(page, small)
    # Every tab is in the DOM, as a tab; SCALARS is selected by default.
    tabs = page.locator("[role=tab]")
    assert sorted(tabs.all_text_contents()) == sorted(PANELS)
    # The small corpus has no hparams sessions: HPARAMS waits under INACTIVE.
    page.wait_for_selector(".inactive-list [role=tab][data-panel=hparams]", state="attached")
    assert page.locator(".tabs [role=tab]").all_text_contents() == PANELS[:-1]
    assert page.locator("[role=tab][aria-selected=true]").inner_text() == "SCALARS"
    # One chart per scalar tag (union over the 4 runs), grouped by the part before the first "/".
    wait_charts(page, 4)
    cards = page.locator(".scalar-card")
    assert cards.count() == 4
    assert page.locator(".scalar-card .tag-name").all_inner_texts() == [
        "accuracy",
        "loss/eval",
        "loss/train",
        "lr",
    ]
    assert page.locator(".group .group-name").all_inner_texts() == ["accuracy", "loss", "lr"]
    # loss/train: a line per run, every run named in the DOM.
    card = page.locator(".scalar-card[data-tag='loss/train']")
    legend = card.locator(".legend-item")
    assert sorted(legend.locator(".legend-name").all_inner_texts()) == [
        "mnist/lr=0.01",
        "mnist/lr=0.1",
        "resnet/seed1",
        "resnet/seed2",
    ]
    # The legend shows the debiased EMA (w=0.6) of the full-resolution series' last point.
    run = next(r for r in small.api("runs")["runs"] if r["name"] == "mnist/lr=0.1")
    pts = small.api(f"scalars?run_id={run['id']}&tag=loss/train")["points"]
    expected = tb_smooth([num(p[2]) for p in pts], 0.6)[-1]
    shown = float(card.locator(".legend-item[data-run='mnist/lr=0.1'] .legend-value").inner_text())
    assert shown == pytest.approx(expected, rel=1e-4)


def test_smoothing_changes_the_drawn_path_and_the_url(page: Any, small: Hub) -> None:
    open_dash(page, small)
    wait_charts(page, 4)
    canvas = page.locator(".scalar-card[data-tag='loss/train'] canvas").first
    before = canvas.evaluate("c => c.toDataURL()")
    value = page.locator(
        ".scalar-card[data-tag='loss/train'] .legend-item[data-run='resnet/seed1'] .legend-value"
    )
    v_before = value.inner_text()
    page.fill("input.num-input[aria-label='Smoothing value']", "0")
    page.press("input.num-input[aria-label='Smoothing value']", "Enter")
    page.wait_for_function(
        "document.querySelector(\"input[aria-label='Smoothing']\").value === '0'"
    )
    page.wait_for_function(
        "(b) => document.querySelector(\".scalar-card[data-tag='loss/train'] canvas\").toDataURL() !== b",
        arg=before,
    )
    assert value.inner_text() != v_before
    page.wait_for_function("location.search.includes('smoothing=0')")
    # The exact smoothing of the reference (§6.1) in the shipped code.
    got = page.evaluate("Array.from(window.tbhubLib.smooth([1, 2, NaN, 4, 3], 0.6))")
    assert got[0] == 1
    assert got[1] == pytest.approx(1.625)
    assert got[2] is None or math.isnan(got[2])
    assert got[3] == pytest.approx(2.836734693877551)
    assert got[4] == pytest.approx(2.911764705882353)
    assert page.evaluate("window.tbhubLib.compareTagNames('a2b', 'a10b')") < 0
    assert page.evaluate("window.tbhubLib.compareTagNames('a/a', 'a+/a')") < 0
    assert page.evaluate("window.tbhubLib.compareTagNames('loss_2', 'loss_10')") < 0


def test_tag_filter_regex_and_error(page: Any, small: Hub) -> None:
    open_dash(page, small)
    wait_charts(page, 4)
    page.fill(".tag-filter", "LOSS")  # case-insensitive, matched anywhere
    page.wait_for_function("document.querySelectorAll('.scalar-card').length === 2")
    page.fill(".tag-filter", "loss/(")
    page.wait_for_selector(".tagbar .filter-error:has-text('Invalid regex')")
    assert page.locator(".scalar-card").count() == 0
    assert page.locator(".tag-filter[aria-invalid=true]").count() == 1
    page.fill(".tag-filter", "")
    page.wait_for_function("document.querySelectorAll('.scalar-card').length === 4")


def test_run_selector_url_state_and_restore(page: Any, small: Hub) -> None:
    open_dash(page, small)
    wait_charts(page, 4)
    chips = page.locator(".run-list .chip")
    colors = chips.evaluate_all("els => els.map(e => e.style.background)")
    assert len(set(colors)) == 4
    page.uncheck(".run-cb[data-run='resnet/seed2']")
    page.wait_for_function(
        "document.querySelectorAll(\".scalar-card[data-tag='loss/train'] .legend-item\").length === 3"
    )
    page.wait_for_function("location.search.includes('runs=')")
    page.check("input[name=x-axis][value=relative]")
    page.check("#log-scale")
    page.wait_for_function(
        "location.search.includes('log=1') && location.search.includes('x=relative')"
    )
    url = page.url
    q = parse_qs(urlparse(url).query)
    assert "resnet/seed2" not in json.loads(q["runs"][0])
    # A copied link restores the view, in a fresh page.
    page.goto(url)
    page.wait_for_selector("#app[aria-busy=false]")
    wait_charts(page, 3)
    assert not page.is_checked(".run-cb[data-run='resnet/seed2']")
    assert page.is_checked("input[name=x-axis][value=relative]")
    assert page.is_checked("#log-scale")
    assert (
        page.locator(".run-list .chip").evaluate_all("els => els.map(e => e.style.background)")
        == colors
    )
    # Select none, then all (the run regex filter narrows the list first).
    page.click(".runs-head button:has-text('None')")
    page.wait_for_function("document.querySelectorAll('.scalar-card').length === 0")
    page.fill(".runs .filter", "^mnist")
    assert page.locator(".run-list .run").count() == 2
    page.click(".runs-head button:has-text('All')")
    page.wait_for_function(
        "document.querySelectorAll(\".scalar-card[data-tag='loss/train'] .legend-item\").length === 2"
    )


def test_settings_follow_the_user_to_another_browser(browser: Any, small: Hub) -> None:
    ctx1 = new_context(browser)
    p1 = ctx1.new_page()
    p1.goto(small.url + "/")
    p1.wait_for_selector("#app[aria-busy=false]")
    with p1.expect_response(lambda r: r.url.endswith("/prefs") and r.request.method == "PUT"):
        p1.fill("input.num-input[aria-label='Smoothing value']", "0.85")
        p1.press("input.num-input[aria-label='Smoothing value']", "Enter")
    ctx1.close()
    ctx2 = new_context(browser)  # another browser: no cookies, no URL state
    p2 = ctx2.new_page()
    p2.goto(small.url + "/")
    p2.wait_for_selector("#app[aria-busy=false]")
    assert p2.input_value("input.num-input[aria-label='Smoothing value']") == "0.85"
    # The URL wins over the saved dashboard.
    p2.goto(small.url + "/?smoothing=0.3")
    p2.wait_for_selector("#app[aria-busy=false]")
    assert p2.input_value("input.num-input[aria-label='Smoothing value']") == "0.3"
    with p2.expect_response(lambda r: r.url.endswith("/prefs") and r.request.method == "PUT"):
        p2.fill("input.num-input[aria-label='Smoothing value']", "0.6")
        p2.press("input.num-input[aria-label='Smoothing value']", "Enter")
    ctx2.close()


def test_zoom_fetches_finer_data_and_resets(page: Any, small: Hub) -> None:
    open_dash(page, small)
    wait_charts(page, 4)
    card = page.locator(".scalar-card[data-tag='loss/train']")
    card.scroll_into_view_if_needed()
    over = card.locator(".u-over")
    over.wait_for()
    box = over.bounding_box()
    with page.expect_response(lambda r: "scalars/batch" in r.url and "start=" in r.url):
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + 5)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] - 5, steps=5)
        page.mouse.up()
    assert card.get_attribute("data-zoomed") == "1"
    card.locator(".icon-btn.fit").click()
    assert card.get_attribute("data-zoomed") is None
    # Tooltip: every run's value at the hovered step.
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5)
    page.wait_for_selector(".scalar-card[data-tag='loss/train'] .tooltip:not([hidden]) .tt-run")
    assert card.locator(".tooltip .tt-run").count() == 4
    # Full screen and back with Escape.
    card.locator(".icon-btn.fullscreen").click()
    assert "card--full" in card.get_attribute("class")
    page.keyboard.press("Escape")
    assert "card--full" not in card.get_attribute("class")


def test_images_step_slider_covers_every_step(page: Any, small: Hub) -> None:
    open_dash(page, small, "?panel=images")
    sel = ".image-card[data-run='mnist/lr=0.1'][data-tag='inputs/digit']"
    page.wait_for_selector(f"{sel}[data-step]")
    card = page.locator(sel)
    run = next(r for r in small.api("runs")["runs"] if r["name"] == "mnist/lr=0.1")
    steps = [s["step"] for s in small.api(f"images?run_id={run['id']}&tag=inputs/digit")["steps"]]
    assert card.get_attribute("data-steps") == str(len(steps))
    assert card.get_attribute("data-step") == str(steps[-1])  # initially the latest
    src_last = card.locator("img").get_attribute("src")
    card.locator(".step-slider").focus()
    page.keyboard.press("Home")
    page.wait_for_function(f"document.querySelector(\"{sel}\").dataset.step === '{steps[0]}'")
    assert card.locator("img").get_attribute("src") != src_last
    assert f"step {steps[0]}" in card.locator(".img-step").inner_text()
    assert "sample 1 of" in card.inner_text()
    page.wait_for_function("location.search.includes('isteps=')")
    page.check("#actual-size")
    assert card.locator(".img-frame.actual-size").count() == 1
    bright = page.locator("input[aria-label=Brightness]")
    assert bright.locator("xpath=following-sibling::output").inner_text() == "100%"
    bright.fill("1.5")
    assert "brightness(1.5)" in card.locator("img").get_attribute("style")
    assert bright.locator("xpath=following-sibling::output").inner_text() == "150%"
    assert bright.get_attribute("aria-valuetext") == "150%"
    # one card per run, tag and sample
    cards = page.locator(".image-card")
    expected = sum(len(r["tags"]["images"]) for r in small.api("runs")["runs"])
    assert cards.count() >= expected


def test_graph_expand_search_and_info(page: Any, small: Hub) -> None:
    open_dash(page, small, "?panel=graphs&grun=mnist/lr%3D0.1")
    page.wait_for_selector(".graph-svg .node")
    root_nodes = int(page.locator("#panel-graphs").get_attribute("data-nodes"))
    meta = page.locator(".graph-svg .node--meta[data-expanded='0']").first
    name = meta.get_attribute("data-name")
    meta.dblclick()
    page.wait_for_selector(f".graph-svg .node[data-name='{name}'][data-expanded='1']")
    assert int(page.locator("#panel-graphs").get_attribute("data-nodes")) > root_nodes
    page.wait_for_function("location.search.includes('gexp=')")
    # Search a node by name, reveal it and show its info card.
    page.fill("input[aria-label='Search a node by name']", "Gemm|MatMul|Linear|addmm")
    page.locator(".search-results button").first.click()
    page.wait_for_selector(".info-card:not([hidden]) .info-name")
    assert page.locator(".info-card dt:has-text('Operation')").count() == 1
    # Colour by device with a legend; PNG download.
    page.check("input[name=graph-color][value=device]")
    with page.expect_download() as dl:
        page.click("button:has-text('Download PNG')")
    assert dl.value.suggested_filename.endswith(".png")


def test_graph_session_runs_and_compute_time(page: Any, tf_hub: Hub) -> None:
    open_dash(page, tf_hub, "?panel=graphs&grun=tf1_session&gtag=step10&gcolor=compute")
    page.wait_for_selector(".graph-svg .node")
    opts = page.locator("#graph-tag option").all_inner_texts()
    assert any(o.startswith("step10") for o in opts)
    assert any(o.startswith("step35") for o in opts)
    page.wait_for_selector(".graph-legend .gradient")
    fills = page.locator(".graph-svg .node .shape").evaluate_all(
        "els => els.map(e => e.getAttribute('fill'))"
    )
    assert any(f and f.startswith("rgb(") and f != "rgb(255,245,240)" for f in fills)


def test_distributions_histograms_and_text(page: Any, small: Hub) -> None:
    runs = small.api("runs")["runs"]
    n_hist = sum(len(r["tags"]["histograms"]) for r in runs)
    open_dash(page, small, "?panel=distributions")
    page.wait_for_function(
        f"document.querySelectorAll('.dist-card').length === {n_hist}", timeout=20_000
    )
    # Cards load when they scroll into view.
    page.locator(".dist-card").last.scroll_into_view_if_needed()
    page.wait_for_selector(".dist-card:last-child[data-points] canvas")
    page.click("[role=tab][data-panel=histograms]")
    page.wait_for_function(
        f"document.querySelectorAll('.hist-card').length === {n_hist}", timeout=20_000
    )
    page.locator(".hist-card").first.scroll_into_view_if_needed()
    page.wait_for_selector(".hist-card[data-ridges]")
    first = page.locator(".hist-card[data-ridges]").first
    assert first.get_attribute("data-mode") == "offset"
    page.check("input[name=hist-mode][value=overlay]")
    page.wait_for_function(
        "document.querySelector('.hist-card[data-ridges]').dataset.mode === 'overlay'"
    )
    page.wait_for_function("location.search.includes('hist=overlay')")
    page.click("[role=tab][data-panel=text]")
    page.wait_for_selector(".text-card[data-run='mnist/lr=0.1'] .text-body strong")
    md = page.locator(".text-card[data-run='mnist/lr=0.1'] .text-body")
    assert md.locator("strong").inner_text() == "markdown"
    log = page.locator(".text-card[data-run='resnet/seed1'][data-tag=log]")
    assert log.get_attribute("data-steps") == "4"
    assert "step 120" in log.locator(".text-body").inner_text()


def test_keyboard_tabs(page: Any, small: Hub) -> None:
    open_dash(page, small)
    page.locator("[role=tab][aria-selected=true]").focus()
    page.keyboard.press("ArrowRight")
    assert page.locator("[role=tab][aria-selected=true]").inner_text() == "IMAGES"
    page.wait_for_function("location.search.includes('panel=images')")
    assert re.search(r"panel=images", page.url)


def test_aggregation_band_and_axes(page: Any, small: Hub) -> None:
    open_dash(page, small, "?group=%5E(mnist)&band=std&x=wall&tagFilter=loss%2Ftrain")
    card = page.locator(".scalar-card[data-tag='loss/train']")
    page.wait_for_selector(".scalar-card[data-tag='loss/train'][data-drawn]")
    names = card.locator(".legend-name").all_inner_texts()
    assert "mnist (2 runs, mean ± std)" in names
    assert sorted(n for n in names if not n.startswith("mnist")) == ["resnet/seed1", "resnet/seed2"]
    assert page.is_checked("input[name=x-axis][value=wall]")
    page.check("input[name=x-axis][value=relative]")
    page.wait_for_function("location.search.includes('x=relative')")
    assert card.locator(".legend-item").count() == 3


def test_only_the_shown_panels_settings_are_in_the_sidebar(page: Any, small: Hub) -> None:
    # `.controls` sets `display: flex`, which used to override the `hidden` attribute: every
    # panel visited left its settings stacked above the next one's.
    open_dash(page, small)
    wait_charts(page, 4)
    for panel in ("images", "graphs", "text"):
        page.click(f".tab[data-panel={panel}]")
        page.wait_for_selector(f"section.controls[data-panel={panel}]:not([hidden])")
        shown = page.eval_on_selector_all(
            "section.controls", "els => els.filter(e => e.offsetParent).map(e => e.dataset.panel)"
        )
        assert shown == [panel]
    assert page.locator("section.controls[data-panel=scalars]").is_hidden()
    assert page.locator("#smoothing").is_hidden()


def test_all_and_none_through_a_run_filter_keep_the_runs_it_hides(page: Any, small: Hub) -> None:
    open_dash(page, small)
    wait_charts(page, 4)
    page.fill(".runs .filter", "seed")
    page.wait_for_function("document.querySelectorAll('.run-list .run').length === 2")
    page.click(".runs-head button:has-text('None')")
    page.wait_for_selector(".run-count:has-text('0 of 4')")
    page.fill(".runs .filter", "")
    page.wait_for_function("document.querySelectorAll('.run-list .run').length === 4")
    checked = page.eval_on_selector_all(
        ".run-list .run-cb", "els => els.filter(e => e.checked).map(e => e.dataset.run)"
    )
    assert checked == ["mnist/lr=0.1", "mnist/lr=0.01"]
    # One checkbox through a filter, from the default selection, keeps the hidden runs too.
    page.click(".runs-head button:has-text('All')")
    page.wait_for_selector(".run-count:has-text('4 of 4')")
    page.fill(".runs .filter", "lr=0.01")
    page.wait_for_function("document.querySelectorAll('.run-list .run').length === 1")
    page.uncheck(".run-cb[data-run='mnist/lr=0.01']")
    page.fill(".runs .filter", "")
    page.wait_for_selector(".run-count:has-text('3 of 4')")


def test_zoom_between_sparse_points_keeps_the_lines_through_the_window(
    page: Any, small: Hub
) -> None:
    # mnist/lr=0.1 logs loss/eval every 10 steps: a window from 61 to 79 holds only step 70;
    # the line must still run to the window's edges (the points on either side are kept), not
    # shrink to one dot.
    open_dash(page, small, "?runs=" + json.dumps(["mnist/lr=0.1"]))
    sel = ".scalar-card[data-tag='loss/eval']"
    page.wait_for_selector(f"{sel}[data-drawn]", timeout=20_000)
    card = page.locator(sel)
    card.scroll_into_view_if_needed()
    box = card.locator(".u-over").bounding_box()
    lo, hi = (float(v) for v in card.get_attribute("data-x-range").split(","))

    def px(x: float) -> float:
        return float(box["x"] + (x - lo) / (hi - lo) * box["width"])

    page.mouse.move(px(61), box["y"] + 5)
    page.mouse.down()
    page.mouse.move(px(79), box["y"] + box["height"] - 5, steps=5)
    page.mouse.up()
    page.wait_for_selector(f"{sel}[data-refined='1']", timeout=20_000)
    zlo, zhi = (float(v) for v in card.get_attribute("data-x-range").split(","))
    assert 59 < zlo < 63 and 77 < zhi < 81
    (line,) = card.evaluate("el => el.tbhubChart()")
    assert line["steps"] == [60, 70, 80]
    got = page.evaluate(
        """() => window.tbhubLib.withNeighbours(
             {steps: [20, 30], walls: [2, 3], values: [0.2, 0.3]},
             {steps: [0, 10, 20, 40, 50], walls: [0, 1, 2, 4, 5], values: [0, 0.1, 0.2, 0.4, 0.5]})"""
    )
    assert got == {"steps": [10, 20, 30, 40], "walls": [1, 2, 3, 4], "values": [0.1, 0.2, 0.3, 0.4]}


def test_pinned_charts_stay_in_their_group_survive_any_filter_and_travel_in_the_url(
    page: Any, small: Hub
) -> None:
    open_dash(page, small)
    wait_charts(page, 4)
    pin = page.locator(".group[data-group='lr'] .scalar-card[data-tag='lr'] button.pin")
    assert pin.get_attribute("aria-pressed") == "false"
    unpressed_bg = pin.evaluate("b => getComputedStyle(b).backgroundColor")
    pin.click()
    page.wait_for_selector(".group--pinned .scalar-card[data-tag='lr']")
    # TensorBoard keeps the original card in its group: the pinned one is a copy.
    assert page.locator(".group[data-group='lr'] .scalar-card[data-tag='lr']").count() == 1
    pressed = page.locator(".scalar-card[data-tag='lr'] button.pin")
    assert pressed.evaluate_all("bs => bs.map(b => b.getAttribute('aria-pressed'))") == [
        "true",
        "true",
    ]
    assert pressed.first.evaluate("b => getComputedStyle(b).backgroundColor") != unpressed_bg
    assert pressed.first.get_attribute("aria-label") == "Unpin chart lr"
    # Both copies draw.
    page.wait_for_function(
        "document.querySelectorAll(\".scalar-card[data-tag='lr'][data-drawn]\").length === 2",
        timeout=20_000,
    )
    # Pins are in the URL, one short `pin=` per chart.
    page.wait_for_function("new URLSearchParams(location.search).getAll('pin').length === 1")
    assert parse_qs(urlparse(page.url).query)["pin"] == ["scalars:lr"]
    # A filter that hides the tag, or an invalid one, leaves the pinned chart in place.
    page.fill(".tag-filter", "loss")
    page.wait_for_function("document.querySelectorAll('.scalar-card').length === 3")
    assert page.locator(".group--pinned .scalar-card[data-tag='lr']").count() == 1
    assert page.locator(".group[data-group='lr']").count() == 0
    page.fill(".tag-filter", "loss/(")
    page.wait_for_selector(".tagbar .filter-error:has-text('Invalid regex')")
    page.wait_for_function("document.querySelectorAll('.scalar-card').length === 1")
    assert page.locator(".group--pinned .scalar-card[data-tag='lr']").count() == 1
    assert (
        page.locator(".empty").inner_text() == "The tag filter is not a valid regular expression."
    )
    with page.expect_response(lambda r: r.url.endswith("/prefs") and r.request.method == "PUT"):
        page.fill(".tag-filter", "")
    page.wait_for_function("document.querySelectorAll('.scalar-card').length === 5")
    page.wait_for_function("!location.search.includes('tagFilter')")
    # A copied link carries the pins to someone without them in their saved dashboard.
    url = page.url
    small.reset_prefs()
    page.goto(small.url + "/")
    page.wait_for_selector("#app[aria-busy=false]")
    wait_charts(page, 4)
    assert page.locator(".group--pinned").count() == 0
    page.goto(url)
    page.wait_for_selector("#app[aria-busy=false]")
    page.wait_for_selector(".group--pinned .scalar-card[data-tag='lr']")
    # Unpinning from the pinned copy removes the Pinned group and the URL key.
    page.locator(".group--pinned .scalar-card[data-tag='lr'] button.pin").click()
    page.wait_for_function("!document.querySelector('.group--pinned')")
    page.wait_for_function("!location.search.includes('pin=')")
    assert page.locator(".scalar-card[data-tag='lr'] button.pin").get_attribute("aria-pressed") == (
        "false"
    )


def test_histogram_axes_show_compact_ticks(page: Any, small: Hub) -> None:
    # About 3 significant digits, as TensorBoard's d3 formats; round values like d3's ticks.
    open_dash(page, small)
    lib = "window.tbhubLib"
    assert page.evaluate(f"{lib}.fmtTick(5.2042e-5)") == "5.2e-5"
    assert page.evaluate(f"{lib}.fmtTick(0.0084098)") == "0.00841"
    assert page.evaluate(f"{lib}.fmtTick(123456)") == "1.23e5"
    assert page.evaluate(f"{lib}.fmtTicks([1.0001, 1.00015, 1.0002])") == [
        "1.0001",
        "1.00015",
        "1.0002",
    ]
    assert page.evaluate(f"{lib}.niceTicks(-0.118, 0.118, 5)") == [-0.1, -0.05, 0, 0.05, 0.1]
    page.click("[role=tab][data-panel=histograms]")
    page.wait_for_selector(".hist-card[data-x-ticks]", timeout=20_000)
    for ticks in page.locator(".hist-card[data-x-ticks]").evaluate_all(
        "els => els.map(e => e.dataset.xTicks)"
    ):
        for t in ticks.split(","):
            mantissa = t.split("e")[0].lstrip("-").replace(".", "").lstrip("0")
            assert len(mantissa) <= 3, ticks
    page.click("[role=tab][data-panel=distributions]")
    page.wait_for_selector(".dist-card[data-points] canvas", timeout=20_000)


def test_graph_edge_labels_do_not_overlap(page: Any, tf_hub: Hub) -> None:
    open_dash(page, tf_hub, "?panel=graphs&grun=tf1_session")
    page.wait_for_selector(".graph-svg .edge-label")
    boxes = page.evaluate(
        """() => {
          const r = (e) => { const b = e.getBBox(); return [b.x, b.y, b.width, b.height, e.textContent || e.getAttribute('data-name')]; };
          return {
            labels: [...document.querySelectorAll('.graph-svg text.edge-label')].map(r),
            nodes: [...document.querySelectorAll('.graph-svg .node[data-expanded="0"]')].map(r),
          };
        }"""
    )

    def overlap(a: list[Any], b: list[Any]) -> bool:
        return (
            a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]
        )

    labels = boxes["labels"]
    assert len(labels) >= 8
    clashes = [(a[4], b[4]) for i, a in enumerate(labels) for b in labels[i + 1 :] if overlap(a, b)]
    assert not clashes
    covered = [(a[4], n[4]) for a in labels for n in boxes["nodes"] if overlap(a, n)]
    assert not covered
    hint = page.locator(".field:has(#graph-tag) .hint").inner_text()
    assert "tagged" not in hint and "compute time" in hint


def test_markdown_lists_render_as_written(page: Any, small: Hub) -> None:
    open_dash(page, small)
    html = page.evaluate(
        """(src) => { const d = document.createElement('div');
           d.append(window.tbhubLib.renderMarkdown(src)); return d.innerHTML; }""",
        "1. one\n2. two\n\n- a\n- b\n\ntext\n\n3. three\n4. four\n\n- loose\n\n- list\n",
    )
    # A list from 1 needs no start (it was start="0": "0. one, 1. two"); one from 3 keeps it.
    assert "<ol><li>one</li><li>two</li></ol>" in html
    assert '<ol start="3"><li>three</li><li>four</li></ol>' in html
    # Tight list items hold their text directly; a loose list keeps its paragraphs.
    assert "<ul><li>a</li><li>b</li></ul>" in html
    assert "<ul><li><p>loose</p></li><li><p>list</p></li></ul>" in html
