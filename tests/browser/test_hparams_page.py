"""HPARAMS tab against `tbhub serve` on log directories written by tensorboardX's `add_hparams`:
the table (exact values, sorting, filters, selection), the parallel coordinates (lines, tooltip,
brushes that are the table's filters), URL state, and the tab's inactive → active move when
sessions appear live."""

from __future__ import annotations

import http.cookiejar
import json
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser.conftest import Hub, new_context

pytestmark = pytest.mark.browser

# run name → (hparams, metrics); the metric values are float32 scalars on disk.
SESSIONS: dict[str, tuple[dict[str, Any], dict[str, float]]] = {
    "run_a": (
        {"lr": 0.1, "optimizer": "sgd", "batch_size": 32, "dropout": True},
        {"hparam/accuracy": 0.81, "hparam/loss": 0.52},
    ),
    "run_b": (
        {"lr": 0.01, "optimizer": "adam", "batch_size": 64, "dropout": False},
        {"hparam/accuracy": 0.93, "hparam/loss": 0.21},
    ),
    "run_c": (
        {"lr": 0.001, "optimizer": "adam", "batch_size": 128, "dropout": True},
        {"hparam/accuracy": 0.88, "hparam/loss": 0.35},
    ),
}
# What the table shows for them (compact numbers: float32 0.81 reads 0.81).
EXPECTED_ROWS = {
    "run_a": ["0.1", "sgd", "32", "true", "0.81", "0.52", "success"],
    "run_b": ["0.01", "adam", "64", "false", "0.93", "0.21", "success"],
    "run_c": ["0.001", "adam", "128", "true", "0.88", "0.35", "success"],
}
COLUMNS = [
    "hp:lr",
    "hp:optimizer",
    "hp:batch_size",
    "hp:dropout",
    "metric:hparam/accuracy",
    "metric:hparam/loss",
    "status",
]
ACC = "metric:hparam/accuracy"


def write_sessions(logdir: Path, names: list[str]) -> None:
    from tensorboardX import SummaryWriter

    with SummaryWriter(str(logdir)) as w:
        for name in names:
            hp, metrics = SESSIONS[name]
            w.add_hparams(hp, metrics, name=name)


def wait_sessions(hub: Hub, n: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = hub.api("hparams")
        if len(body["sessions"]) >= n:
            return body
        time.sleep(0.2)
    raise AssertionError(f"hparams never had {n} sessions: {body}")


@pytest.fixture(scope="module")
def hp_hub(
    tmp_path_factory: pytest.TempPathFactory, start_hub: Callable[[Path], Hub], bundle_built: None
) -> Hub:
    logdir = tmp_path_factory.mktemp("hparams") / "logs"
    write_sessions(logdir, ["run_a", "run_b", "run_c"])
    hub = start_hub(logdir)
    wait_sessions(hub, 3)
    return hub


@pytest.fixture
def hub(hp_hub: Hub) -> Hub:
    hp_hub.reset_prefs()
    return hp_hub


def open_hparams(page: Any, hub: Hub, query: str = "") -> None:
    page.goto(hub.url + "/" + query)
    page.wait_for_selector("#app[aria-busy=false]")
    # The tab is active (among the tabs, not under INACTIVE) once the endpoint has sessions.
    page.wait_for_selector(".tabs [role=tab][data-panel=hparams]", timeout=20_000)
    if "panel=hparams" not in query:
        page.click(".tabs [role=tab][data-panel=hparams]")
    page.wait_for_selector("#panel-hparams[data-sessions='3']", timeout=20_000)


def row_runs(page: Any) -> list[str]:
    return page.locator(".hp-table tbody tr").evaluate_all("rs => rs.map(r => r.dataset.run)")


def row_cells(page: Any, run: str) -> list[str]:
    row = page.locator(f".hp-table tbody tr[data-run='{run}']")
    return [row.locator(f"td[data-col='{c}']").inner_text() for c in COLUMNS]


def query(page: Any) -> dict[str, list[str]]:
    return parse_qs(urlparse(page.url).query)


def test_table_values_sorting_and_url(page: Any, hub: Hub) -> None:
    open_hparams(page, hub)
    assert page.locator("[role=tab][aria-selected=true]").inner_text() == "HPARAMS"
    assert row_runs(page) == ["run_a", "run_b", "run_c"]
    headers = page.locator(".hp-table thead th .hp-col-label").all_inner_texts()
    assert headers == [
        "Run",
        "lr",
        "optimizer",
        "batch_size",
        "dropout",
        "hparam/accuracy",
        "hparam/loss",
        "Status",
    ]
    for run, cells in EXPECTED_ROWS.items():
        assert row_cells(page, run) == cells
        assert page.locator(f".hp-table tr[data-run='{run}'] .run-text").inner_text() == run
    # Numbers are right-aligned, text is not.
    align = page.locator(".hp-table tr[data-run='run_a'] td[data-col='hp:lr']").evaluate(
        "td => getComputedStyle(td).textAlign"
    )
    assert align == "right"
    # The chip has the run selector's colour.
    run_b = next(r for r in hub.api("runs")["runs"] if r["name"] == "run_b")
    chip = page.locator(".hp-table tr[data-run='run_b'] .chip").get_attribute("style")
    assert chip == page.locator(f".run[data-run-id='{run_b['id']}'] .chip").get_attribute("style")

    # Sort by a metric: ascending, then descending; aria-sort and the URL follow.
    th = page.locator(f".hp-table thead th[data-col='{ACC}']")
    th.locator("button").click()
    page.wait_for_function(
        f"document.querySelector(\".hp-table th[data-col='{ACC}']\").getAttribute('aria-sort') === 'ascending'"
    )
    assert row_runs(page) == ["run_a", "run_c", "run_b"]
    assert page.locator(".hp-table thead th[aria-sort]").count() == 1
    page.wait_for_function("location.search.includes('hpsort=')")
    assert query(page)["hpsort"] == [ACC]
    assert "hpdesc" not in query(page)
    # Keyboard: Enter on the focused header button toggles the direction and keeps focus.
    page.locator(f".hp-table thead th[data-col='{ACC}'] button").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"document.querySelector(\".hp-table th[data-col='{ACC}']\").getAttribute('aria-sort') === 'descending'"
    )
    assert row_runs(page) == ["run_b", "run_c", "run_a"]
    page.wait_for_function("location.search.includes('hpdesc=1')")
    focused = page.evaluate("document.activeElement.closest('th')?.dataset.col")
    assert focused == ACC
    # Sorting by a string column: asciinumeric, with the hub's order for ties.
    page.locator(".hp-table thead th[data-col='hp:optimizer'] button").click()
    page.wait_for_function("location.search.includes('hpsort=hp%3Aoptimizer')")
    assert row_runs(page) == ["run_b", "run_c", "run_a"]

    # A copied URL restores the sort.
    url = hub.url + f"/?panel=hparams&hpsort={ACC.replace('/', '%2F')}&hpdesc=1"
    page.goto(url)
    page.wait_for_selector("#panel-hparams[data-sessions='3'] .hp-table tbody tr")
    assert row_runs(page) == ["run_b", "run_c", "run_a"]
    assert th.get_attribute("aria-sort") == "descending"


def test_filters_hide_rows(page: Any, hub: Hub) -> None:
    open_hparams(page, hub)
    # A discrete filter: unchecking "sgd" hides run_a.
    box = page.locator(".hp-filter[data-col='hp:optimizer']")
    assert box.locator("label.hp-value").all_inner_texts() == ["adam", "sgd"]
    box.get_by_label("sgd").uncheck()
    page.wait_for_selector("#panel-hparams[data-shown='2']")
    assert row_runs(page) == ["run_b", "run_c"]
    assert page.locator(".hp-count").inner_text() == "2 of 3 sessions"
    box.get_by_label("sgd").check()
    page.wait_for_selector("#panel-hparams[data-shown='3']")
    # A metric range: loss >= 0.3 keeps run_a (0.52) and run_c (0.35).
    page.get_by_label("hparam/loss minimum").fill("0.3")
    page.wait_for_selector("#panel-hparams[data-shown='2']")
    assert row_runs(page) == ["run_a", "run_c"]
    page.get_by_label("hparam/loss maximum").fill("0.4")
    page.wait_for_selector("#panel-hparams[data-shown='1']")
    assert row_runs(page) == ["run_c"]
    page.get_by_role("button", name="Reset filters").click()
    page.wait_for_selector("#panel-hparams[data-shown='3']")
    assert page.get_by_label("hparam/loss minimum").input_value() == ""
    # The run selector's regex applies too.
    page.fill("input[aria-label='Filter runs (regular expression)']", "run_[bc]")
    page.wait_for_selector("#panel-hparams[data-shown='2']")
    assert row_runs(page) == ["run_b", "run_c"]


def test_row_checkbox_is_the_run_selection(page: Any, hub: Hub) -> None:
    open_hparams(page, hub)
    runs = {r["name"]: r["id"] for r in hub.api("runs")["runs"]}
    selector_cb = page.locator(f"#run-cb-{runs['run_a']}")
    assert selector_cb.is_checked()
    row_cb = page.get_by_label("Select run run_a")
    assert row_cb.is_checked()
    row_cb.uncheck()
    page.wait_for_function(f"!document.getElementById('run-cb-{runs['run_a']}').checked")
    assert page.locator(".run-count").inner_text() == "3 of 4"
    assert not page.get_by_label("Select run run_a").is_checked()
    # The run selector drives the rows' checkboxes too.
    page.locator(f"#run-cb-{runs['run_a']}").check()
    page.wait_for_function(
        "document.querySelector(\"input[aria-label='Select run run_a']\").checked"
    )
    page.locator(f"#run-cb-{runs['run_c']}").uncheck()
    page.wait_for_function(
        "!document.querySelector(\"input[aria-label='Select run run_c']\").checked"
    )
    # "Show only selected runs" hides the unselected session.
    page.get_by_label("Show only selected runs").check()
    page.wait_for_selector("#panel-hparams[data-shown='2']")
    assert row_runs(page) == ["run_a", "run_b"]


def test_parallel_coordinates_lines_tooltip_and_brush(page: Any, hub: Hub) -> None:
    open_hparams(page, hub)
    page.get_by_role("button", name="PARALLEL COORDINATES VIEW").click()
    page.wait_for_selector(".hp-svg polyline.hp-line")
    assert (
        page.get_by_role("button", name="PARALLEL COORDINATES VIEW").get_attribute("aria-pressed")
        == "true"
    )
    page.wait_for_function("location.search.includes('hpview=parallel')")
    lines = page.locator(".hp-svg polyline.hp-line")
    assert lines.count() == 3
    assert sorted(lines.evaluate_all("ls => ls.map(l => l.dataset.run)")) == [
        "run_a",
        "run_b",
        "run_c",
    ]
    # One axis per hparam and metric, titled with its name.
    assert page.locator(".hp-axis").evaluate_all("as => as.map(a => a.dataset.col)") == COLUMNS[:-1]
    # Each line has a vertex per axis, in its run's colour.
    runs = {r["name"]: r["id"] for r in hub.api("runs")["runs"]}
    line_b = page.locator(".hp-svg polyline.hp-line[data-run='run_b']")
    assert len(line_b.get_attribute("points").split()) == 6
    chip = page.locator(f".run[data-run-id='{runs['run_b']}'] .chip").get_attribute("style")
    assert chip == f"background:{line_b.get_attribute('stroke')}"
    # run_b has the best accuracy: its vertex on that axis is the highest (smallest y).
    ys = {
        name: float(
            page.locator(f".hp-svg polyline.hp-line[data-run='{name}']")
            .get_attribute("points")
            .split()[4]
            .split(",")[1]
        )
        for name in ("run_a", "run_b", "run_c")
    }
    assert ys["run_b"] < ys["run_c"] < ys["run_a"]

    # Hovering a line shows its session's values as text.
    hit = page.locator(f".hp-session[data-run-id='{runs['run_b']}'] .hp-hit")
    assert hit.get_attribute("aria-label") == "Session run_b"
    pts = [tuple(map(float, p.split(","))) for p in line_b.get_attribute("points").split()]
    svg_box = page.locator(".hp-svg").bounding_box()
    assert svg_box is not None
    mx = svg_box["x"] + (pts[0][0] + pts[1][0]) / 2
    my = svg_box["y"] + (pts[0][1] + pts[1][1]) / 2
    page.mouse.move(mx, my)
    tip = page.locator(".hp-tooltip")
    tip.wait_for(state="visible")
    assert tip.get_attribute("data-run") == "run_b"
    texts = tip.locator("tr").all_inner_texts()
    assert [t.split("\t") for t in texts] == [
        ["lr", "0.01"],
        ["optimizer", "adam"],
        ["batch_size", "64"],
        ["dropout", "false"],
        ["hparam/accuracy", "0.93"],
        ["hparam/loss", "0.21"],
        ["Status", "success"],
    ]
    page.mouse.move(5, 5)
    tip.wait_for(state="hidden")

    # Brushing the top of the accuracy axis keeps run_b only; it is the table's filter.
    area = page.locator(f".hp-axis[data-col='{ACC}'] .hp-brush-area")
    box = area.bounding_box()
    assert box is not None
    x = box["x"] + box["width"] / 2
    top = box["y"] + 6
    height = box["height"] - 12
    page.mouse.move(x, top - 2)
    page.mouse.down()
    page.mouse.move(x, top + height * 0.2, steps=5)
    page.mouse.up()
    page.wait_for_selector("#panel-hparams[data-shown='1']")
    assert page.locator(".hp-svg polyline.hp-line:not(.hp-line--filtered)").evaluate_all(
        "ls => ls.map(l => l.dataset.run)"
    ) == ["run_b"]
    assert page.locator(".hp-svg polyline.hp-line--filtered").count() == 2
    lo = float(page.get_by_label("hparam/accuracy minimum").input_value())
    hi = float(page.get_by_label("hparam/accuracy maximum").input_value())
    assert 0.88 < lo < 0.93 < hi
    page.get_by_role("button", name="TABLE VIEW").click()
    page.wait_for_selector(".hp-table tbody tr")
    assert row_runs(page) == ["run_b"]
    # A click on the axis (no drag) clears its brush.
    page.get_by_role("button", name="PARALLEL COORDINATES VIEW").click()
    box = page.locator(f".hp-axis[data-col='{ACC}'] .hp-brush-area").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_selector("#panel-hparams[data-shown='3']")
    assert page.get_by_label("hparam/accuracy minimum").input_value() == ""


def hub_post(hub: Hub, path: str, body: Any) -> Any:
    """POST to the hub's API as the embedded mode's local user (session cookie + CSRF)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(hub.url + "/", timeout=10).read()
    token = next(c.value or "" for c in jar if c.name == "csrftoken")
    req = urllib.request.Request(
        hub.url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Content-Type": "application/json",
            "X-CSRFToken": token,
            "Referer": hub.url + "/",
        },
    )
    with opener.open(req, timeout=10) as r:
        return json.loads(r.read())


def test_comparison_and_share_link(browser: Any, hub: Hub) -> None:
    runs = {r["name"]: r["id"] for r in hub.api("runs")["runs"]}
    cmp = hub_post(
        hub,
        "/api/v1/comparisons",
        {"title": "hp", "runs": [{"id": runs["run_a"], "alias": "alpha"}, runs["run_c"]]},
    )
    link = hub_post(hub, f"/api/v1/comparisons/{cmp['id']}/links", {"public": True})
    for path in (f"/c/{cmp['id']}", f"/s/{link['token']}"):
        ctx = new_context(browser)
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        try:
            page.goto(hub.url + path + "?panel=hparams&hpsort=hp%3Alr")
            page.wait_for_selector("#panel-hparams[data-sessions='2'] .hp-table tbody tr")
            # Only the comparison's runs, named as the comparison names them (alias), by lr.
            assert row_runs(page) == ["run_c", "alpha"]
            assert row_cells(page, "alpha") == EXPECTED_ROWS["run_a"]
            assert row_cells(page, "run_c") == EXPECTED_ROWS["run_c"]
            page.get_by_label("Select run alpha").uncheck()
            page.wait_for_function(f"!document.getElementById('run-cb-{runs['run_a']}').checked")
        finally:
            ctx.close()
        assert not errors, errors


def test_inactive_without_hparams_then_live(
    browser: Any, start_hub: Callable[[Path], Hub], tmp_path: Path
) -> None:
    from tensorboardX import SummaryWriter

    logdir = tmp_path / "logs"
    with SummaryWriter(str(logdir / "plain"), max_queue=1, flush_secs=1) as w:
        for step in range(3):
            w.add_scalar("loss", 1.0 / (step + 1), step)
    hub = start_hub(logdir)
    hub.wait_runs(lambda runs: any(r["last_step"] == 2 for r in runs))
    assert hub.api("hparams")["sessions"] == []
    ctx = new_context(browser)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(hub.url + "/")
        page.wait_for_selector(".live.live--live", timeout=20_000)
        # No sessions: HPARAMS is in the DOM, under INACTIVE.
        page.wait_for_function(
            'document.querySelector(".inactive-list [role=tab][data-panel=hparams]") !== null'
        )
        assert page.locator(".tabs [role=tab][data-panel=hparams]").count() == 0
        # Sessions appear while the page is open: the tab moves out of INACTIVE, no reload.
        page.evaluate("window.__noReload = 1")
        write_sessions(logdir, ["run_b"])
        page.wait_for_selector(".tabs [role=tab][data-panel=hparams]", timeout=30_000)
        assert page.locator(".inactive-list [role=tab][data-panel=hparams]").count() == 0
        page.click(".tabs [role=tab][data-panel=hparams]")
        page.wait_for_selector("#panel-hparams[data-sessions='1'] .hp-table tbody tr")
        assert row_cells(page, "run_b") == EXPECTED_ROWS["run_b"]
        # A second session while the tab is shown: a new row.
        write_sessions(logdir, ["run_c"])
        page.wait_for_selector("#panel-hparams[data-sessions='2']", timeout=30_000)
        assert row_runs(page) == ["run_b", "run_c"]
        # A session with other hparams and one metric only: its missing values are empty cells,
        # sorted last either way, and drawn at the axes' "missing" position.
        from tensorboardX import SummaryWriter

        with SummaryWriter(str(logdir)) as w:
            w.add_hparams({"lr": 0.5, "momentum": 0.9}, {"hparam/accuracy": 0.5}, name="run_d")
        page.wait_for_selector("#panel-hparams[data-sessions='3']", timeout=30_000)
        cols = ["hp:lr", "hp:optimizer", "hp:momentum", "metric:hparam/loss"]
        row = page.locator(".hp-table tbody tr[data-run='run_d']")
        assert [row.locator(f"td[data-col='{c}']").inner_text() for c in cols] == [
            "0.5",
            "",
            "0.9",
            "",
        ]
        loss = page.locator(".hp-table thead th[data-col='metric:hparam/loss'] button")
        loss.click()
        page.wait_for_function("location.search.includes('hpsort=metric')")
        assert row_runs(page) == ["run_b", "run_c", "run_d"]
        loss.click()
        page.wait_for_function("location.search.includes('hpdesc=1')")
        assert row_runs(page) == ["run_c", "run_b", "run_d"]
        page.get_by_role("button", name="PARALLEL COORDINATES VIEW").click()
        page.wait_for_selector(".hp-axis[data-col='metric:hparam/loss'] .hp-missing")
        assert page.locator(".hp-axis[data-col='hp:momentum'] .hp-missing").text_content() == (
            "missing"
        )
        assert page.locator(".hp-axis[data-col='metric:hparam/accuracy'] .hp-missing").count() == 0
        assert page.evaluate("window.__noReload") == 1
    finally:
        ctx.close()
    assert not errors, errors
