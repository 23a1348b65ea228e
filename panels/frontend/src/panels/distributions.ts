// DISTRIBUTIONS: per tag and run, the nine percentile bands (max, 93%, 84%, 69%, 50%, 31%, 16%,
// 7%, min) over steps as nested shaded areas with the median line; x axis step / relative / wall;
// hover shows the values.

import uPlot from "uplot";
import type { App, Panel } from "../app";
import type { RunInfo } from "../api";
import { withAlpha } from "../colors";
import type { XAxis } from "../state";
import { debounce, fmtRelative, fmtStep, fmtTicks, fmtTime, fmtValue, h, num } from "../util";
import { CardGrid, radioGroup, RunTagPanel, setRadio, type CardLike } from "./cards";

export const BPS = [0, 668, 1587, 3085, 5000, 6915, 8413, 9332, 10000];
const LABELS = ["min", "7%", "16%", "31%", "50%", "69%", "84%", "93%", "max"];

interface DistResponse {
  run: string;
  tag: string;
  points: [number, number, (number | string)[]][];
}

class DistCard implements CardLike {
  el: HTMLElement;
  private box: HTMLElement;
  private info: HTMLElement;
  private u: uPlot | null = null;
  private active = false;
  private pts: DistResponse["points"] = [];
  private ro: ResizeObserver;

  constructor(
    private app: App,
    private panel: DistributionsPanel,
    public run: RunInfo,
    public tag: string,
  ) {
    this.box = h("div", { class: "chart", role: "img", "aria-label": `Distribution of ${tag} for run ${run.name}` });
    this.info = h("div", { class: "hover-info", "aria-live": "off" });
    this.el = h(
      "figure",
      { class: "card dist-card", "data-tag": tag, "data-run": run.name },
      h(
        "figcaption",
        { class: "card-title" },
        h("span", { class: "tag-name", text: tag }),
        h("span", { class: "run-label" }, h("span", { class: "chip", style: `background:${app.colorOf(run)}` }), h("span", { class: "run-text", text: run.name })),
      ),
      this.box,
      this.info,
    );
    this.ro = new ResizeObserver(debounce(() => this.u?.setSize({ width: this.width(), height: 220 }), 50));
  }

  private width(): number {
    return Math.max(200, this.box.clientWidth || 400);
  }

  activate(): void {
    if (this.active) return;
    this.active = true;
    this.ro.observe(this.box);
    void this.load();
  }

  destroy(): void {
    this.ro.disconnect();
    this.u?.destroy();
    this.active = false;
  }

  async load(): Promise<void> {
    if (!this.active) return;
    try {
      const res = await this.panel.app.api.get<DistResponse>("distributions", { run_id: this.run.id, tag: this.tag });
      this.pts = res.points;
    } catch (e) {
      this.info.textContent = e instanceof Error ? e.message : "error";
      return;
    }
    this.draw();
  }

  draw(): void {
    if (!this.active) return;
    const axis = this.app.state.xAxis;
    let pts = [...this.pts];
    if (axis === "step") pts.sort((a, b) => a[0] - b[0]);
    if (pts.length === 1) {
      // One step: draw it as a narrow band around that step so that it is visible.
      const [s0, w0, v0] = pts[0];
      const dx = axis === "step" ? 0.5 : 30;
      pts = [[s0 - (axis === "step" ? dx : 0), w0 - (axis === "step" ? 0 : dx), v0], [s0 + (axis === "step" ? dx : 0), w0 + (axis === "step" ? 0 : dx), v0]];
    }
    const w0 = pts.length ? Math.min(...pts.map((p) => p[1])) : 0;
    const xs = pts.map((p) => (axis === "step" ? p[0] : axis === "wall" ? p[1] : (p[1] - w0) / 3600));
    const cols: (number | null)[][] = BPS.map((_, j) => pts.map((p) => {
      const v = num(p[2][j]);
      return Number.isFinite(v) ? v : null;
    }));
    const color = this.app.colorOf(this.run);
    const series: uPlot.Series[] = [{}];
    for (let j = 0; j < 9; j++) {
      series.push({
        label: LABELS[j],
        stroke: j === 4 ? color : "transparent",
        width: j === 4 ? 1.5 : 0,
        points: { show: false },
      });
    }
    const bands: uPlot.Band[] = [];
    for (let j = 0; j < 8; j++) {
      const spacing = (BPS[j + 1] - BPS[j]) / 10000;
      bands.push({ series: [j + 2, j + 1], fill: withAlpha(color.startsWith("#") ? color : "#0077bb", Math.min(0.9, spacing * 2.4)) });
    }
    this.u?.destroy();
    this.box.replaceChildren();
    if (!pts.length) {
      this.box.appendChild(h("p", { class: "empty small", text: "No data." }));
      return;
    }
    this.u = new uPlot(
      {
        width: this.width(),
        height: 220,
        legend: { show: false },
        cursor: { points: { show: false }, drag: { x: false, y: false } },
        scales: { x: { time: axis === "wall" } },
        axes: [
          {
            stroke: "#555",
            grid: { stroke: "#eee" },
            size: axis === "wall" ? 48 : 34,
            space: axis === "wall" ? 80 : 50,
            font: "11px system-ui, sans-serif",
            values: axis === "relative" ? (_u, v) => v.map((x) => (x == null ? "" : fmtRelative(x))) : undefined,
          },
          { stroke: "#555", grid: { stroke: "#eee" }, size: 56, font: "11px system-ui, sans-serif", values: (_u, v) => fmtTicks(v).map((t, i) => (v[i] == null ? "" : t)) },
        ],
        series,
        bands,
        hooks: {
          setCursor: [
            (u) => {
              const i = u.cursor.idx;
              if (i == null || !pts[i]) {
                this.info.textContent = "";
                return;
              }
              const p = pts[i];
              const vals = LABELS.map((l, j) => `${l} ${fmtValue(num(p[2][j]))}`).reverse();
              this.info.textContent = `step ${fmtStep(p[0])} · ${fmtTime(p[1])} · ${vals.join(" · ")}`;
            },
          ],
        },
      },
      [xs, ...cols] as uPlot.AlignedData,
      this.box,
    );
    this.el.dataset.points = String(pts.length);
  }
}

export class DistributionsPanel extends RunTagPanel<DistCard> implements Panel {
  id = "distributions" as const;
  protected grid: CardGrid<DistCard>;
  private axisBox!: HTMLElement;

  constructor(app: App) {
    super(app, "histograms");
    this.grid = new CardGrid<DistCard>(
      app,
      "distributions",
      (key, tag) => new DistCard(app, this, app.runById.get(Number(key.split("|")[0]))!, tag),
      () => (app.tagFilterRe().error ? "The tag filter is not a valid regular expression." : "No histogram tag matches."),
    );
  }

  mount(view: HTMLElement, controls: HTMLElement): void {
    this.view = view;
    this.axisBox = radioGroup<XAxis>(
      "dist-x",
      "Horizontal axis",
      [
        ["step", "STEP"],
        ["relative", "RELATIVE"],
        ["wall", "WALL"],
      ],
      this.app.state.xAxis,
      (v) => this.app.set("xAxis", v),
    );
    controls.append(h("h2", { text: "Distributions" }), this.axisBox);
    view.appendChild(this.grid.el);
  }

  refresh(changed: Set<string>): void {
    if (changed.has("all") || changed.has("xAxis")) setRadio(this.axisBox, this.app.state.xAxis);
    super.refresh(changed);
    if (!this.visible) return;
    if (["xAxis", "colors", "all"].some((k) => changed.has(k))) for (const c of this.grid.cards.values()) c.draw();
  }
}
