// HISTOGRAMS: per tag and run, OFFSET mode (ridges stacked by step: earlier darker at the back/top,
// later lighter at the front/bottom; the default) and OVERLAY mode (every step on one axis,
// coloured by time). Like TensorBoard, every histogram is re-binned onto 30 equal-width bins over
// the range of all steps shown; hover shows the step and the bin's value.

import type { App, Panel } from "../app";
import type { RunInfo } from "../api";
import { darken, lighten } from "../colors";
import type { XAxis } from "../state";
import { debounce, fmtRelative, fmtStep, fmtTick, fmtTicks, fmtTime, fmtValue, h, niceTicks, num } from "../util";
import { CardGrid, radioGroup, RunTagPanel, setRadio, type CardLike } from "./cards";

const BINS = 30;
const MAX_RIDGES = 50;
const HEIGHT = 260;

interface HistResponse {
  run: string;
  tag: string;
  points: [number, number, [number | string, number | string, number | string][]][];
}

interface Ridge {
  step: number;
  wall: number;
  bins: Float64Array;
}

/** TensorBoard's browser re-binning (histogramCore.ts). */
export function rebin(events: HistResponse["points"], bins = BINS): { lo: number; hi: number; ridges: Ridge[] } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const [, , b] of events) {
    if (!b.length) continue;
    lo = Math.min(lo, num(b[0][0]));
    hi = Math.max(hi, num(b[b.length - 1][1]));
  }
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) {
    lo = 0;
    hi = 1;
  }
  if (lo === hi) {
    const x = lo;
    lo = x / 1.1 - 1;
    hi = 1.1 * x + 1;
    if (lo > hi) [lo, hi] = [hi, lo];
  }
  const width = (hi - lo) / bins;
  const ridges = events.map(([step, wall, b]) => {
    const out = new Float64Array(bins);
    for (const row of b) {
      const l = num(row[0]);
      const r = num(row[1]);
      const c = num(row[2]);
      if (!Number.isFinite(c) || c === 0) continue;
      if (r - l <= 0) {
        const i = Math.min(bins - 1, Math.max(0, Math.floor((l - lo) / width)));
        out[i] += c;
        continue;
      }
      const i0 = Math.max(0, Math.floor((l - lo) / width));
      const i1 = Math.min(bins - 1, Math.floor((r - lo) / width));
      for (let i = i0; i <= i1; i++) {
        const bl = lo + i * width;
        const br = bl + width;
        const ov = Math.min(r, br) - Math.max(l, bl);
        if (ov > 0) out[i] += (c * ov) / (r - l);
      }
    }
    return { step, wall, bins: out };
  });
  return { lo, hi, ridges };
}

function pickEvents<T>(xs: T[], max: number): T[] {
  if (xs.length <= max) return xs;
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(xs[Math.round((i * (xs.length - 1)) / (max - 1))]);
  return out;
}

class HistCard implements CardLike {
  el: HTMLElement;
  private canvas: HTMLCanvasElement;
  private info: HTMLElement;
  private active = false;
  private pts: HistResponse["points"] = [];
  private hover: number | null = null;
  private hoverX: number | null = null;
  private ro: ResizeObserver;
  private geom: { lo: number; hi: number; ridges: Ridge[]; plotL: number; plotR: number; plotT: number; plotB: number; ys: number[]; maxC: number } | null = null;

  constructor(
    private app: App,
    private panel: HistogramsPanel,
    public run: RunInfo,
    public tag: string,
  ) {
    this.canvas = h("canvas", { class: "hist-canvas", role: "img", "aria-label": `Histograms of ${tag} for run ${run.name}` });
    this.info = h("div", { class: "hover-info" });
    this.el = h(
      "figure",
      { class: "card hist-card", "data-tag": tag, "data-run": run.name },
      h(
        "figcaption",
        { class: "card-title" },
        h("span", { class: "tag-name", text: tag }),
        h("span", { class: "run-label" }, h("span", { class: "chip", style: `background:${app.colorOf(run)}` }), h("span", { class: "run-text", text: run.name })),
      ),
      this.canvas,
      this.info,
    );
    this.canvas.addEventListener("mousemove", (ev) => this.onMove(ev));
    this.canvas.addEventListener("mouseleave", () => {
      this.hover = null;
      this.info.textContent = "";
      this.draw();
    });
    this.ro = new ResizeObserver(debounce(() => this.draw(), 50));
  }

  activate(): void {
    if (this.active) return;
    this.active = true;
    this.ro.observe(this.el);
    void this.load();
  }

  destroy(): void {
    this.ro.disconnect();
    this.active = false;
  }

  async load(): Promise<void> {
    if (!this.active) return;
    try {
      const res = await this.panel.app.api.get<HistResponse>("histograms", { run_id: this.run.id, tag: this.tag });
      this.pts = res.points;
    } catch (e) {
      this.info.textContent = e instanceof Error ? e.message : "error";
      return;
    }
    this.draw();
  }

  private yValue(r: Ridge, w0: number, axis: XAxis): number {
    return axis === "step" ? r.step : axis === "wall" ? r.wall : (r.wall - w0) / 3600;
  }

  draw(): void {
    if (!this.active) return;
    const st = this.app.state;
    const mode = st.histMode;
    const axis = st.xAxis;
    const cssW = Math.max(200, this.el.clientWidth - 24);
    const dpr = window.devicePixelRatio || 1;
    this.canvas.width = Math.round(cssW * dpr);
    this.canvas.height = Math.round(HEIGHT * dpr);
    this.canvas.style.width = `${cssW}px`;
    this.canvas.style.height = `${HEIGHT}px`;
    const ctx = this.canvas.getContext("2d")!;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, HEIGHT);
    const events = pickEvents(this.pts, MAX_RIDGES);
    this.el.dataset.ridges = String(events.length);
    this.el.dataset.mode = mode;
    if (!events.length) {
      ctx.fillStyle = "#777";
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillText("No data.", 10, 20);
      return;
    }
    const { lo, hi, ridges } = rebin(events);
    let maxC = 0;
    for (const r of ridges) for (const c of r.bins) maxC = Math.max(maxC, c);
    if (maxC <= 0) maxC = 1;
    const plotL = 8;
    const plotR = cssW - (mode === "offset" ? 70 : 50);
    const plotT = 10;
    const plotB = HEIGHT - 24;
    const X = (v: number) => plotL + ((v - lo) / (hi - lo)) * (plotR - plotL);
    const color = this.app.colorOf(this.run);
    const base = color.startsWith("#") ? color : "#0077bb";
    const w0 = Math.min(...ridges.map((r) => r.wall));
    const yv = ridges.map((r) => this.yValue(r, w0, axis));
    const y0 = Math.min(...yv);
    const y1 = Math.max(...yv);
    const ridgeH = mode === "offset" && ridges.length > 1 ? Math.min(80, (plotB - plotT) * 0.45) : plotB - plotT;
    const ys: number[] = ridges.map((_, i) => {
      if (mode === "overlay") return plotB;
      const t = y1 === y0 ? (ridges.length > 1 ? i / (ridges.length - 1) : 1) : (yv[i] - y0) / (y1 - y0);
      return plotT + ridgeH + t * (plotB - plotT - ridgeH);
    });
    this.geom = { lo, hi, ridges, plotL, plotR, plotT, plotB, ys, maxC };
    const n = ridges.length;
    const binW = (hi - lo) / BINS;
    ridges.forEach((r, i) => {
      const t = n > 1 ? i / (n - 1) : 1;
      const c = mode === "offset" ? (t < 0.5 ? darken(base, 0.55 * (1 - 2 * t)) : lighten(base, 0.6 * (2 * t - 1))) : t < 0.5 ? darken(base, 0.6 * (1 - 2 * t)) : lighten(base, 0.65 * (2 * t - 1));
      const yb = ys[i];
      ctx.beginPath();
      ctx.moveTo(X(lo), yb);
      for (let b = 0; b < BINS; b++) {
        const cx = X(lo + (b + 0.5) * binW);
        ctx.lineTo(cx, yb - (r.bins[b] / maxC) * ridgeH);
      }
      ctx.lineTo(X(hi), yb);
      if (mode === "offset") {
        ctx.closePath();
        ctx.fillStyle = c;
        ctx.globalAlpha = 1;
        ctx.fill();
        ctx.strokeStyle = "rgba(255,255,255,0.7)";
        ctx.lineWidth = 0.6;
        ctx.stroke();
      } else {
        ctx.strokeStyle = c;
        ctx.lineWidth = 1;
        ctx.stroke();
      }
      if (this.hover === i) {
        ctx.strokeStyle = "#000";
        ctx.lineWidth = 1.5;
        ctx.stroke();
      }
    });
    // Axes: values along the bottom, steps (offset) on the right.
    ctx.fillStyle = "#555";
    ctx.strokeStyle = "#bbb";
    ctx.lineWidth = 1;
    ctx.font = "11px system-ui, sans-serif";
    ctx.beginPath();
    ctx.moveTo(plotL, plotB + 0.5);
    ctx.lineTo(plotR, plotB + 0.5);
    ctx.stroke();
    // Round values (1, 2 or 5 × 10^k apart), as d3's linear ticks in TensorBoard.
    const ticks = niceTicks(lo, hi, 5);
    const tickText = fmtTicks(ticks);
    this.el.dataset.xTicks = tickText.join(",");
    ctx.textAlign = "left";
    ticks.forEach((v, k) => {
      const tw = ctx.measureText(tickText[k]).width;
      const tx = Math.min(Math.max(X(v) - tw / 2, plotL), plotR - tw);
      ctx.fillText(tickText[k], tx, plotB + 15);
      ctx.beginPath();
      ctx.moveTo(Math.round(X(v)) + 0.5, plotB);
      ctx.lineTo(Math.round(X(v)) + 0.5, plotB + 4);
      ctx.stroke();
    });
    if (mode === "offset") {
      ctx.textAlign = "left";
      const labelled = new Set([0, n - 1, Math.round((n - 1) / 2)]);
      for (const i of labelled) {
        const v = yv[i];
        const txt = axis === "step" ? fmtStep(v) : axis === "wall" ? fmtTime(v).slice(11) : fmtRelative(v);
        ctx.fillText(txt, plotR + 6, ys[i] + 4);
      }
    } else {
      ctx.textAlign = "left";
      ctx.fillText(fmtTick(maxC), plotR + 4, plotT + 8);
    }
    if (this.hover !== null && this.hoverX !== null) {
      ctx.strokeStyle = "rgba(0,0,0,0.35)";
      ctx.beginPath();
      ctx.moveTo(this.hoverX + 0.5, plotT);
      ctx.lineTo(this.hoverX + 0.5, plotB);
      ctx.stroke();
    }
  }

  private onMove(ev: MouseEvent): void {
    const g = this.geom;
    if (!g) return;
    const rect = this.canvas.getBoundingClientRect();
    const x = ev.clientX - rect.left;
    const y = ev.clientY - rect.top;
    if (x < g.plotL || x > g.plotR) return;
    const v = g.lo + ((x - g.plotL) / (g.plotR - g.plotL)) * (g.hi - g.lo);
    const b = Math.min(BINS - 1, Math.max(0, Math.floor(((v - g.lo) / (g.hi - g.lo)) * BINS)));
    let best = 0;
    let bestD = Infinity;
    const ridgeH = this.app.state.histMode === "offset" && g.ridges.length > 1 ? Math.min(80, (g.plotB - g.plotT) * 0.45) : g.plotB - g.plotT;
    g.ridges.forEach((r, i) => {
      const yy = g.ys[i] - (r.bins[b] / g.maxC) * ridgeH;
      const d = this.app.state.histMode === "offset" ? Math.abs(g.ys[i] - y) : Math.abs(yy - y);
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    });
    this.hover = best;
    this.hoverX = x;
    const r = g.ridges[best];
    const binW = (g.hi - g.lo) / BINS;
    const bl = g.lo + b * binW;
    this.info.textContent = `step ${fmtStep(r.step)} · ${fmtTime(r.wall)} · bin [${fmtValue(bl)}, ${fmtValue(bl + binW)}) · count ${fmtValue(r.bins[b])}`;
    this.draw();
  }
}

export class HistogramsPanel extends RunTagPanel<HistCard> implements Panel {
  id = "histograms" as const;
  protected grid: CardGrid<HistCard>;
  private modeBox!: HTMLElement;
  private axisBox!: HTMLElement;

  constructor(app: App) {
    super(app, "histograms");
    this.grid = new CardGrid<HistCard>(
      app,
      "histograms",
      (key, tag) => new HistCard(app, this, app.runById.get(Number(key.split("|")[0]))!, tag),
      () => (app.tagFilterRe().error ? "The tag filter is not a valid regular expression." : "No histogram tag matches."),
    );
  }

  mount(view: HTMLElement, controls: HTMLElement): void {
    this.view = view;
    this.modeBox = radioGroup<"offset" | "overlay">(
      "hist-mode",
      "Histogram mode",
      [
        ["offset", "OFFSET"],
        ["overlay", "OVERLAY"],
      ],
      this.app.state.histMode,
      (v) => this.app.set("histMode", v),
    );
    this.axisBox = radioGroup<XAxis>(
      "hist-x",
      "Offset time axis",
      [
        ["step", "STEP"],
        ["relative", "RELATIVE"],
        ["wall", "WALL"],
      ],
      this.app.state.xAxis,
      (v) => this.app.set("xAxis", v),
    );
    controls.append(h("h2", { text: "Histograms" }), this.modeBox, this.axisBox);
    view.appendChild(this.grid.el);
  }

  refresh(changed: Set<string>): void {
    if (changed.has("all") || changed.has("histMode")) setRadio(this.modeBox, this.app.state.histMode);
    if (changed.has("all") || changed.has("xAxis")) setRadio(this.axisBox, this.app.state.xAxis);
    super.refresh(changed);
    if (!this.visible) return;
    if (["histMode", "xAxis", "colors", "all"].some((k) => changed.has(k))) for (const c of this.grid.cards.values()) c.draw();
  }
}
