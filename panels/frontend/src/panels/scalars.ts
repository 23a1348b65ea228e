// SCALARS: one chart per tag, one line per selected run (uPlot, one x array per series), debiased
// EMA smoothing with the raw line faded behind, STEP/RELATIVE/WALL, outlier-robust scaling,
// log scale, drag to zoom with finer data fetched for the visible range, full screen, a tooltip
// with every run's value, data downloads, and mean ± band aggregation of runs by a regex group.
// On the STEP axis runs can be aligned at step 0 (align.ts): x = step − the run's first step.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import type { App, Panel } from "../app";
import type { RunInfo } from "../api";
import { withAlpha } from "../colors";
import type { UpdateMsg } from "../live";
import { absoluteRanges, alignSteps } from "../align";
import { emaStateBefore, smoothFrom, type EmaState } from "../smoothing";
import type { XAxis } from "../state";
import {
  clear,
  compileFilter,
  debounce,
  fmtRelative,
  fmtStep,
  fmtTime,
  fmtValue,
  h,
  icon,
  nearestIndex,
  num,
  quantileSorted,
} from "../util";
import { CardGrid, checkbox, field, radioGroup, setChecked, setRadio, type CardLike } from "./cards";

type Point = [number, number, number | string];
interface BatchResponse {
  tag: string;
  runs: Record<string, { run: string; points: Point[] }>;
  missing: number[];
}

interface SeriesData {
  steps: number[];
  walls: number[];
  values: number[];
}

/** What one drawn line is made of (a run, or an aggregated group of runs). */
interface Line {
  key: string;
  label: string;
  color: string;
  runs: RunInfo[];
  xs: Float64Array;
  /** Real (absolute) steps; for a group aligned at step 0, the lowest of its runs' steps there. */
  steps: Float64Array;
  /** Aligned groups only: the highest of its runs' real steps at each x. */
  stepsHi?: Float64Array;
  walls: Float64Array;
  raw: Float64Array;
  smoothed: Float64Array;
  lo?: Float64Array;
  hi?: Float64Array;
}

/** What a chart draws, as plain arrays: exposed on the card element for tests and the curious. */
export interface ChartSnapshot {
  key: string;
  label: string;
  xs: number[];
  steps: number[];
  raw: number[];
  smoothed: number[];
}

const CHART_HEIGHT = 240;
/** Points fetched for one chart, all runs together. */
const POINT_BUDGET = 60_000;

function toSeries(points: Point[]): SeriesData {
  const n = points.length;
  const s: SeriesData = { steps: new Array(n), walls: new Array(n), values: new Array(n) };
  for (let i = 0; i < n; i++) {
    const p = points[i];
    s.steps[i] = p[0];
    s.walls[i] = p[1];
    s.values[i] = num(p[2]);
  }
  return s;
}

/** A zoom window's points plus the coarse series' nearest point on each side of them, so that a
 * line crossing the window's edges between two sparse points is still drawn up to them (the
 * window alone may hold one point, or none between two far-apart ones). Series are in step order. */
export function withNeighbours(win: SeriesData, coarse: SeriesData | undefined): SeriesData {
  const n = win.steps.length;
  if (!coarse || !n) return win;
  const first = win.steps[0];
  const last = win.steps[n - 1];
  let before = -1;
  while (before + 1 < coarse.steps.length && coarse.steps[before + 1] < first) before++;
  let after = coarse.steps.length - 1;
  while (after - 1 >= 0 && coarse.steps[after - 1] > last) after--;
  const head = before >= 0 ? [before] : [];
  const tail = after >= 0 && coarse.steps[after] > last ? [after] : [];
  if (!head.length && !tail.length) return win;
  const take = (k: keyof SeriesData) => [...head.map((i) => coarse[k][i]), ...win[k], ...tail.map((i) => coarse[k][i])];
  return { steps: take("steps"), walls: take("walls"), values: take("values") };
}

function xOf(axis: XAxis, s: SeriesData | { steps: ArrayLike<number>; walls: ArrayLike<number> }, i: number, w0: number): number {
  if (axis === "step") return s.steps[i];
  if (axis === "wall") return s.walls[i];
  return (s.walls[i] - w0) / 3600;
}

/** Y extent TensorBoard's way: finite values (positive for log), 5th–95th percentile when
 * ignoring outliers, padded 5 %; a zero-width extent widens to [0, 2y] / [2y, 0] / [-1, 1]. */
export function yExtent(values: ArrayLike<number>, ignoreOutliers: boolean, log: boolean): [number, number] | null {
  const vs = new Float64Array(values.length);
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (log) {
      if (v > 0 && Number.isFinite(v)) vs[n++] = Math.log10(v);
    } else if (Number.isFinite(v)) vs[n++] = v;
  }
  if (!n) return null;
  const sorted = vs.subarray(0, n).sort();
  let lo = ignoreOutliers ? quantileSorted(sorted, 0.05) : sorted[0];
  let hi = ignoreOutliers ? quantileSorted(sorted, 0.95) : sorted[n - 1];
  if (log) {
    lo = Math.pow(10, lo);
    hi = Math.pow(10, hi);
    return [Math.max(Number.MIN_VALUE, lo / 2), hi * 2];
  }
  if (lo === hi) {
    if (lo > 0) return [0, 2 * lo];
    if (lo < 0) return [2 * lo, 0];
    return [-1, 1];
  }
  const pad = (hi - lo) * 0.05;
  return [lo - pad, hi + pad];
}

class ScalarCard implements CardLike {
  el: HTMLElement;
  private chartBox: HTMLElement;
  private legendEl: HTMLElement;
  private statusEl: HTMLElement;
  private downloadsEl: HTMLElement;
  private tooltip: HTMLElement;
  private dots: HTMLElement;
  private u: uPlot | null = null;
  private data = new Map<number, SeriesData>(); // run id → downsampled full range
  private zoomData: Map<number, SeriesData> | null = null;
  private zoom: { x: [number, number]; y: [number, number] | null } | null = null;
  private lines: Line[] = [];
  private ranges: { x: [number, number]; y: [number, number] } = { x: [0, 1], y: [0, 1] };
  private active = false;
  private loading: Promise<void> | null = null;
  private fetchedRuns = new Set<number>();
  private full = false;
  private resizeObs: ResizeObserver;
  private hoverX: number | null = null;
  private hoverPos: { left: number; top: number } | null = null;
  private pendingLive = new Set<number>();
  private liveSoon: () => void;
  maxPoints = 1000;
  private loadStart: number | null = null;
  private pinBtn!: HTMLElement;

  constructor(
    private app: App,
    private panel: ScalarsPanel,
    public tag: string,
  ) {
    const title = h("figcaption", { class: "card-title", title: tag }, h("span", { class: "tag-name", text: tag }));
    this.statusEl = h("span", { class: "card-status", role: "status" });
    const pin = h("button", { type: "button", class: "icon-btn pin", title: "Pin this chart", "aria-label": `Pin chart ${tag}` }, icon("pin"));
    pin.addEventListener("click", () => this.panel.grid.togglePin(tag));
    this.pinBtn = pin;
    this.setPinned(this.panel.grid.isPinned(tag));
    const fit = h("button", { type: "button", class: "icon-btn fit", title: "Fit domain to data (reset zoom)", "aria-label": `Fit chart ${tag} to its data` }, icon("fit"));
    fit.addEventListener("click", () => this.resetZoom());
    const fs = h("button", { type: "button", class: "icon-btn fullscreen", title: "Full screen", "aria-label": `Show chart ${tag} full screen` }, icon("fullscreen"));
    fs.addEventListener("click", () => this.toggleFull());
    this.chartBox = h("div", { class: "chart", role: "img", "aria-label": `Line chart of ${tag}` });
    this.tooltip = h("div", { class: "tooltip", hidden: true, role: "tooltip" });
    this.dots = h("div", { class: "hover-dots" });
    this.legendEl = h("ul", { class: "legend", "aria-label": `Runs in ${tag}` });
    this.downloadsEl = h("div", { class: "downloads" });
    this.el = h(
      "figure",
      { class: "card scalar-card", "data-tag": tag },
      h("div", { class: "card-head" }, title, h("div", { class: "card-actions" }, this.statusEl, pin, fit, fs)),
      this.chartBox,
      this.legendEl,
      this.downloadsEl,
      this.tooltip,
    );
    this.el.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape" && this.full) this.toggleFull();
    });
    this.resizeObs = new ResizeObserver(
      debounce(() => {
        if (this.u) this.u.setSize(this.size());
      }, 50),
    );
    this.liveSoon = debounce(() => void this.fetchLive(), 250);
    (this.el as HTMLElement & { tbhubChart?: () => ChartSnapshot[] }).tbhubChart = () => this.snapshot();
  }

  /** The drawn lines as plain arrays (x, real step, raw and smoothed value per point). */
  snapshot(): ChartSnapshot[] {
    return this.lines.map((l) => ({
      key: l.key,
      label: l.label,
      xs: Array.from(l.xs),
      steps: Array.from(l.steps),
      raw: Array.from(l.raw),
      smoothed: Array.from(l.smoothed),
    }));
  }

  private size(): { width: number; height: number } {
    const w = Math.max(200, this.chartBox.clientWidth || 400);
    const hgt = this.full ? Math.max(300, window.innerHeight - 220) : CHART_HEIGHT;
    return { width: w, height: hgt };
  }

  activate(): void {
    if (this.active) return;
    this.active = true;
    this.resizeObs.observe(this.chartBox);
    void this.load();
  }

  setPinned(on: boolean): void {
    this.pinBtn.setAttribute("aria-pressed", on ? "true" : "false");
    this.pinBtn.title = on ? "Unpin this chart" : "Pin this chart";
    this.pinBtn.setAttribute("aria-label", `${on ? "Unpin" : "Pin"} chart ${this.tag}`);
  }

  destroy(): void {
    this.resizeObs.disconnect();
    this.u?.destroy();
    this.u = null;
    this.active = false;
  }

  runs(): RunInfo[] {
    return this.app.selectedRuns().filter((r) => (r.tags.scalars ?? []).includes(this.tag));
  }

  /** Fetches the runs not fetched yet (all of them the first time), then draws. */
  async load(force = false): Promise<void> {
    if (!this.active) return;
    if (this.loading) await this.loading;
    const runs = this.runs();
    const need = runs.filter((r) => force || !this.fetchedRuns.has(r.id));
    if (!need.length) {
      this.draw();
      return;
    }
    this.statusEl.textContent = "loading…";
    const t0 = performance.now();
    // Two points per pixel, within a budget for charts of many runs (min/max downsampling keeps
    // every spike; zooming in fetches finer data for the visible range).
    const perPixel = Math.round((this.chartBox.clientWidth || 500) * 2);
    const budget = Math.floor(POINT_BUDGET / Math.max(1, runs.length));
    this.maxPoints = Math.max(300, Math.min(4000, perPixel, budget));
    this.loading = (async () => {
      try {
        const res = await this.fetchBatch(need.map((r) => r.id), {});
        for (const r of need) {
          this.fetchedRuns.add(r.id);
          const got = res.runs[String(r.id)];
          if (got) this.data.set(r.id, toSeries(got.points));
          else this.data.delete(r.id);
        }
        this.statusEl.textContent = "";
      } catch (e) {
        this.statusEl.textContent = e instanceof Error ? e.message : "error";
      } finally {
        this.loading = null;
      }
    })();
    await this.loading;
    this.loadStart = t0;
    this.draw();
  }

  private fetchBatch(ids: number[], range: { start?: number; end?: number; x?: string }): Promise<BatchResponse> {
    // Batches keep URLs short for hundreds of runs.
    const chunks: number[][] = [];
    for (let i = 0; i < ids.length; i += 200) chunks.push(ids.slice(i, i + 200));
    return Promise.all(
      chunks.map((c) =>
        this.app.api.get<BatchResponse>("scalars/batch", {
          tag: this.tag,
          run_ids: c.join(","),
          max_points: this.maxPoints,
          x: range.x,
          start: range.start,
          end: range.end,
        }),
      ),
    ).then((parts) => ({ tag: this.tag, runs: Object.assign({}, ...parts.map((p) => p.runs)), missing: parts.flatMap((p) => p.missing) }));
  }

  /** A change notice touched this tag for `runId`: fetch the points after the last one. */
  liveUpdate(runId: number): void {
    if (!this.active) return;
    this.pendingLive.add(runId);
    this.liveSoon();
  }

  private async fetchLive(): Promise<void> {
    const shown = new Set(this.runs().map((r) => r.id));
    const ids = [...this.pendingLive].filter((id) => shown.has(id));
    this.pendingLive.clear();
    // One request for every run that moved: points after the earliest of their last steps.
    const append: number[] = [];
    let from = Infinity;
    for (const id of ids) {
      const have = this.data.get(id);
      if (!have || !have.steps.length) this.fetchedRuns.delete(id);
      else {
        append.push(id);
        from = Math.min(from, have.steps[have.steps.length - 1] + 1);
      }
    }
    if (append.length) {
      try {
        const res = await this.fetchBatch(append, { start: from });
        for (const id of append) {
          const have = this.data.get(id)!;
          const got = res.runs[String(id)];
          if (!got) continue;
          const last = have.steps[have.steps.length - 1];
          const add = toSeries(got.points);
          for (let i = 0; i < add.steps.length; i++) {
            if (add.steps[i] <= last) continue;
            have.steps.push(add.steps[i]);
            have.walls.push(add.walls[i]);
            have.values.push(add.values[i]);
          }
          if (have.steps.length > this.maxPoints * 2) this.fetchedRuns.delete(id); // re-downsample
        }
      } catch {
        for (const id of append) this.fetchedRuns.delete(id);
      }
    }
    if (this.runs().some((r) => !this.fetchedRuns.has(r.id))) await this.load();
    else this.draw();
  }

  refetch(): void {
    this.fetchedRuns.clear();
    this.zoomData = null;
    void this.load(true);
  }

  /** Refetch only these runs (after a reconnect, or a purge of one run). */
  refetchRuns(ids: Set<number>): void {
    let any = false;
    for (const id of ids) any = this.fetchedRuns.delete(id) || any;
    if (any) void this.load();
  }

  // ---- lines -------------------------------------------------------------------------------

  /** Runs are aligned at step 0: only on the STEP axis (RELATIVE already counts each run's time
   * from its own start; WALL is absolute by definition). */
  private aligned(): boolean {
    const st = this.app.state;
    return st.alignSteps && st.xAxis === "step";
  }

  /** The first step of the run's whole series. The full-range fetch (`load`, no start/end) keeps
   * the range's first point exactly whatever the downsampling, and live updates only append, so
   * its first point is the series' first; neither a zoom window nor a bucket can move it. */
  private firstStep(runId: number): number | undefined {
    const s = this.data.get(runId);
    return s && s.steps.length ? s.steps[0] : undefined;
  }

  private buildLines(): Line[] {
    const w = this.app.state.smoothing;
    const lines = this.linesFrom(this.zoomData ?? this.data);
    // Zoomed in, the window's finer points are smoothed from the state the zoomed-out curve had
    // just before the window (its last accumulator and debias count, §6.1), so the two curves
    // meet at the window's left edge instead of the window restarting the average there.
    // The seed comes from the downsampled full-range points, i.e. from the curve the user saw,
    // not from the full-resolution history: that would need every earlier point and would still
    // not match the zoomed-out line. Inside the window the EMA then runs over more points per
    // step than the coarse one (the average is per point, not per step, as in TensorBoard), so
    // the zoomed curve can drift from the coarse one further right; it starts where it should.
    const coarse = this.zoomData ? new Map(this.linesFrom(this.data).map((l) => [l.key, l])) : null;
    for (const l of lines) {
      const c = coarse?.get(l.key);
      const seed: EmaState | null = c && l.xs.length ? emaStateBefore(c.xs, c.raw, w, l.xs[0]) : null;
      l.smoothed = smoothFrom(l.raw, w, seed);
    }
    return lines;
  }

  /** The lines of `source` (unsmoothed: `buildLines` smooths them). */
  private linesFrom(source: Map<number, SeriesData>): Line[] {
    const st = this.app.state;
    const axis = st.xAxis;
    const aligned = this.aligned();
    // Aligned, a run whose first step is not known yet (its full-range fetch is pending) waits.
    const runs = this.runs().filter((r) => source.has(r.id) && (!aligned || this.firstStep(r.id) !== undefined));
    const { re } = compileFilter(st.groupRegex);
    const groups = new Map<string, RunInfo[]>();
    const singles: RunInfo[] = [];
    for (const r of runs) {
      const m = re ? re.exec(r.name) : null;
      if (m) {
        const key = m[1] ?? m[0];
        let g = groups.get(key);
        if (!g) groups.set(key, (g = []));
        g.push(r);
      } else singles.push(r);
    }
    const lines: Line[] = [];
    for (const r of singles) {
      const s = source.get(r.id)!;
      const full = this.data.get(r.id) ?? s;
      const w0 = full.walls.length ? full.walls[0] : 0;
      const n = s.steps.length;
      let xs: Float64Array;
      if (aligned) xs = alignSteps(s.steps, this.firstStep(r.id)!);
      else {
        xs = new Float64Array(n);
        for (let i = 0; i < n; i++) xs[i] = xOf(axis, s, i, w0);
      }
      lines.push({
        key: `r${r.id}`,
        label: r.name,
        color: this.app.colorOf(r),
        runs: [r],
        xs,
        steps: Float64Array.from(s.steps),
        walls: Float64Array.from(s.walls),
        raw: Float64Array.from(s.values),
        smoothed: new Float64Array(0),
      });
    }
    for (const [key, members] of groups) lines.push(this.aggregate(key, members, source, aligned));
    return lines;
  }

  /** Mean of the group's runs at each step any of them logged, with min/max or ±std band.
   * Runs are matched by step (aligned: by step − their own first step, so the band compares
   * runs from their start); on the RELATIVE axis each run's time counts from its own start,
   * and the group's x is the mean over the runs that logged the step (WALL: the earliest). */
  private aggregate(key: string, members: RunInfo[], source: Map<number, SeriesData>, aligned: boolean): Line {
    const st = this.app.state;
    type Acc = { sum: number; sq: number; n: number; min: number; max: number; wall: number; rel: number; nt: number; s0: number; s1: number };
    const bySt = new Map<number, Acc>();
    for (const r of members) {
      const s = source.get(r.id)!;
      const w0 = (this.data.get(r.id) ?? s).walls[0] ?? 0;
      const shift = aligned ? this.firstStep(r.id)! : 0;
      for (let i = 0; i < s.steps.length; i++) {
        const step = s.steps[i];
        const k = step - shift;
        let e = bySt.get(k);
        if (!e) bySt.set(k, (e = { sum: 0, sq: 0, n: 0, min: Infinity, max: -Infinity, wall: Infinity, rel: 0, nt: 0, s0: step, s1: step }));
        e.wall = Math.min(e.wall, s.walls[i]);
        e.rel += s.walls[i] - w0;
        e.nt++;
        e.s0 = Math.min(e.s0, step);
        e.s1 = Math.max(e.s1, step);
        const v = s.values[i];
        if (!Number.isFinite(v)) continue;
        e.sum += v;
        e.sq += v * v;
        e.n++;
        e.min = Math.min(e.min, v);
        e.max = Math.max(e.max, v);
      }
    }
    const keys = [...bySt.keys()].sort((a, b) => a - b);
    const n = keys.length;
    const out = {
      xs: new Float64Array(n),
      steps: new Float64Array(n),
      stepsHi: new Float64Array(n),
      walls: new Float64Array(n),
      raw: new Float64Array(n),
      lo: new Float64Array(n),
      hi: new Float64Array(n),
    };
    keys.forEach((k, i) => {
      const e = bySt.get(k)!;
      const mean = e.n ? e.sum / e.n : NaN;
      out.steps[i] = e.s0;
      out.stepsHi[i] = e.s1;
      out.walls[i] = e.wall;
      out.xs[i] = st.xAxis === "step" ? k : st.xAxis === "wall" ? e.wall : e.rel / e.nt / 3600;
      out.raw[i] = mean;
      if (st.band === "std") {
        const sd = Math.sqrt(Math.max(0, e.sq / e.n - mean * mean));
        out.lo[i] = mean - sd;
        out.hi[i] = mean + sd;
      } else {
        out.lo[i] = e.n ? e.min : NaN;
        out.hi[i] = e.n ? e.max : NaN;
      }
    });
    if (st.xAxis !== "step") {
      // Keep the line monotonic in time: runs of a group rarely log a step at the same moment.
      const order = Array.from(out.xs.keys()).sort((a, b) => out.xs[a] - out.xs[b]);
      for (const k of ["xs", "steps", "stepsHi", "walls", "raw", "lo", "hi"] as const) {
        const src = out[k];
        out[k] = Float64Array.from(order, (i) => src[i]);
      }
    }
    return {
      key: `g${key}`,
      label: `${key} (${members.length} run${members.length === 1 ? "" : "s"}, mean ± ${st.band === "std" ? "std" : "min/max"})`,
      color: this.app.colorOf(members[0]),
      runs: members,
      xs: out.xs,
      steps: out.steps,
      stepsHi: aligned ? out.stepsHi : undefined,
      walls: out.walls,
      raw: out.raw,
      smoothed: new Float64Array(0),
      lo: out.lo,
      hi: out.hi,
    };
  }

  // ---- drawing -----------------------------------------------------------------------------

  draw(): void {
    if (!this.active) return;
    const tDraw = performance.now();
    const st = this.app.state;
    this.lines = this.buildLines();
    const tLines = performance.now();
    this.renderLegend();
    this.renderDownloads();
    const tLegend = performance.now();
    this.el.dataset.lines = String(this.lines.length);
    if (!this.lines.length) {
      this.u?.destroy();
      this.u = null;
      clear(this.chartBox);
      this.chartBox.appendChild(h("p", { class: "empty small", text: this.loading ? "Loading…" : "No data for the selected runs." }));
      return;
    }
    const log = st.logScale;
    const smoothing = st.smoothing > 0;
    const series: uPlot.Series[] = [{}];
    const data: uPlot.AlignedData | unknown[] = [null];
    const clean = (ys: Float64Array): (number | null)[] => {
      const out: (number | null)[] = new Array(ys.length);
      for (let i = 0; i < ys.length; i++) {
        const v = ys[i];
        out[i] = Number.isFinite(v) && (!log || v > 0) ? v : null;
      }
      return out;
    };
    const xsArr = (l: Line) => Array.from(l.xs);
    for (const l of this.lines) {
      const xs = xsArr(l);
      if (l.lo && l.hi) {
        const lo = clean(l.lo);
        const hi = clean(l.hi);
        series.push({
          label: `${l.label} band`,
          stroke: "transparent",
          fill: withAlpha(l.color, 0.18),
          points: { show: false },
          facets: [{ scale: "x", auto: true }, { scale: "y", auto: true }],
          paths: bandPath(lo, hi),
        } as uPlot.Series);
        (data as unknown[]).push([xs, hi]);
      }
      if (smoothing) {
        series.push({
          label: `${l.label} (raw)`,
          stroke: withAlpha(l.color, 0.25),
          width: 1,
          points: { show: false },
          facets: [{ scale: "x", auto: true }, { scale: "y", auto: true }],
          paths: uPlot.paths.linear!(),
        } as uPlot.Series);
        (data as unknown[]).push([xs, clean(l.raw)]);
      }
      series.push({
        label: l.label,
        stroke: l.color,
        width: 1.5,
        points: { show: false },
        facets: [{ scale: "x", auto: true }, { scale: "y", auto: true }],
        paths: uPlot.paths.linear!(),
      } as uPlot.Series);
      (data as unknown[]).push([xs, clean(smoothing ? l.smoothed : l.raw)]);
    }
    const tData = performance.now();
    const xr = this.zoom?.x ?? this.xDataRange();
    const yr = this.zoom?.y ?? this.yRange(xr);
    this.ranges = { x: xr, y: yr };
    const axis = st.xAxis;
    const tRange = performance.now();
    const opts: uPlot.Options = {
      mode: 2,
      ...this.size(),
      pxAlign: 0,
      legend: { show: false },
      cursor: {
        drag: { x: true, y: true, uni: 40, setScale: false },
        points: { show: false },
        x: true,
        y: false,
        focus: { prox: -1 },
      },
      scales: {
        x: { time: axis === "wall", auto: false, range: () => this.ranges.x },
        y: {
          auto: false,
          distr: log ? 3 : 1,
          log: 10,
          range: () => [this.ranges.y[0], this.ranges.y[1]],
        },
      },
      axes: [
        {
          stroke: "#555",
          grid: { stroke: "#eee", width: 1 },
          ticks: { stroke: "#ddd", width: 1 },
          // WALL ticks are two lines (time, then the date at day changes) and wider.
          size: axis === "wall" ? 48 : 36,
          space: axis === "wall" ? 80 : 50,
          font: "11px system-ui, sans-serif",
          values:
            axis === "relative"
              ? (_u, vals) => vals.map((v) => (v == null ? "" : fmtRelative(v)))
              : axis === "step"
                ? (_u, vals) => vals.map((v) => (v == null ? "" : fmtAxisNum(v)))
                : undefined,
        },
        {
          stroke: "#555",
          grid: { stroke: "#eee", width: 1 },
          ticks: { stroke: "#ddd", width: 1 },
          size: 56,
          font: "11px system-ui, sans-serif",
          values: (_u, vals) => vals.map((v) => (v == null ? "" : fmtAxisNum(v))),
        },
      ],
      series,
      hooks: {
        setSelect: [(u) => this.onSelect(u)],
      },
    };
    const tOpts = performance.now();
    this.u?.destroy();
    clear(this.chartBox);
    this.u = new uPlot(opts, data as uPlot.AlignedData, this.chartBox);
    this.el.dataset.drawMs = [tDraw, tLines, tLegend, tData, tRange, tOpts, performance.now()].map((t, i, a) => (i ? Math.round(t - a[i - 1]) : 0)).slice(1).join("/");
    this.chartBox.appendChild(this.dots);
    const over = this.u.over;
    over.addEventListener("mousemove", (ev) => this.hover(ev));
    over.addEventListener("mouseleave", () => this.unhover());
    over.addEventListener("dblclick", () => this.resetZoom());
    if (this.loadStart !== null) {
      // Request → drawn, for benchmarks/frontend_bench.py.
      this.el.dataset.loadMs = String(Math.round(performance.now() - this.loadStart));
      this.loadStart = null;
    }
    this.el.dataset.drawn = String(Date.now());
    this.el.dataset.smoothedLast = this.lines.map((l) => fmtValue(l.smoothed[l.smoothed.length - 1] ?? NaN)).join(",");
    this.el.dataset.xRange = `${this.ranges.x[0]},${this.ranges.x[1]}`;
  }

  private xDataRange(): [number, number] {
    let lo = Infinity;
    let hi = -Infinity;
    for (const l of this.lines) {
      if (!l.xs.length) continue;
      for (const x of [l.xs[0], l.xs[l.xs.length - 1]]) {
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
      }
    }
    if (!Number.isFinite(lo)) return [0, 1];
    if (lo === hi) return [lo - 1, hi + 1];
    return [lo, hi];
  }

  private yRange(xr: [number, number]): [number, number] {
    const st = this.app.state;
    let total = 0;
    for (const l of this.lines) total += l.xs.length * (2 + (l.lo ? 2 : 0));
    const vals = new Float64Array(total);
    let n = 0;
    const sm = st.smoothing > 0;
    for (const l of this.lines) {
      const xs = l.xs;
      for (let i = 0; i < xs.length; i++) {
        if (xs[i] < xr[0] || xs[i] > xr[1]) continue;
        vals[n++] = l.raw[i];
        if (sm) vals[n++] = l.smoothed[i];
        if (l.lo && l.hi) {
          vals[n++] = l.lo[i];
          vals[n++] = l.hi[i];
        }
      }
    }
    return yExtent(vals.subarray(0, n), st.ignoreOutliers, st.logScale) ?? (st.logScale ? [0.1, 10] : [-1, 1]);
  }

  private onSelect(u: uPlot): void {
    const sel = u.select;
    if (sel.width < 4 && sel.height < 4) return;
    const x0 = u.posToVal(sel.left, "x");
    const x1 = u.posToVal(sel.left + sel.width, "x");
    const fullH = sel.height >= u.over.clientHeight - 1;
    const y: [number, number] | null = fullH ? null : [u.posToVal(sel.top + sel.height, "y"), u.posToVal(sel.top, "y")];
    u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
    this.zoomTo([Math.min(x0, x1), Math.max(x0, x1)], y);
  }

  /** Zooms, then fetches the visible range at full resolution (min/max-preserving). */
  zoomTo(x: [number, number], y: [number, number] | null): void {
    this.zoom = { x, y };
    this.el.dataset.zoomed = "1";
    delete this.el.dataset.refined;
    this.draw();
    void this.fetchZoom(x);
  }

  private async fetchZoom(x: [number, number]): Promise<void> {
    const axis = this.app.state.xAxis;
    const runs = this.runs();
    if (!runs.length) return;
    const scale = axis === "relative" ? 3600 : 1;
    const pad = (x[1] - x[0]) * 0.02;
    const win: [number, number] = [(x[0] - pad) * scale, (x[1] + pad) * scale];
    // Ranges are absolute steps: aligned, each run's window is shifted back by its first step.
    const requests = this.aligned()
      ? absoluteRanges(
          win,
          runs.flatMap((r): [number, number][] => {
            const first = this.firstStep(r.id);
            return first === undefined ? [] : [[r.id, first]];
          }),
        )
      : [{ start: win[0], end: win[1], runIds: runs.map((r) => r.id) }];
    this.statusEl.textContent = "refining…";
    try {
      const parts = await Promise.all(requests.map((q) => this.fetchBatch(q.runIds, { x: axis, start: q.start, end: q.end })));
      if (!this.zoom || this.zoom.x !== x) return;
      const res = { runs: Object.assign({}, ...parts.map((p) => p.runs)) as BatchResponse["runs"] };
      const zd = new Map<number, SeriesData>();
      for (const r of runs) {
        const got = res.runs[String(r.id)];
        if (got && got.points.length) zd.set(r.id, withNeighbours(toSeries(got.points), this.data.get(r.id)));
      }
      // Keep runs whose zoomed window is empty visible with their coarse data.
      for (const r of runs) if (!zd.has(r.id) && this.data.has(r.id)) zd.set(r.id, this.data.get(r.id)!);
      this.zoomData = zd;
      this.statusEl.textContent = "";
      this.el.dataset.refined = "1";
      this.draw();
    } catch {
      this.statusEl.textContent = "";
    }
  }

  resetZoom(): void {
    this.zoom = null;
    this.zoomData = null;
    delete this.el.dataset.zoomed;
    delete this.el.dataset.refined;
    this.draw();
  }

  private toggleFull(): void {
    this.full = !this.full;
    this.el.classList.toggle("card--full", this.full);
    document.body.classList.toggle("has-full-card", this.full);
    if (this.u) this.u.setSize(this.size());
    if (this.full) (this.el.querySelector(".fullscreen") as HTMLElement)?.focus();
  }

  // ---- legend, tooltip, downloads ----------------------------------------------------------

  private renderLegend(): void {
    const frag = document.createDocumentFragment();
    const sm = this.app.state.smoothing > 0;
    for (const l of this.lines) {
      const last = l.raw.length - 1;
      const v = last >= 0 ? (sm ? l.smoothed[last] : l.raw[last]) : NaN;
      frag.appendChild(
        h(
          "li",
          { class: "legend-item", "data-run": l.label },
          h("span", { class: "chip", style: `background:${l.color}`, "aria-hidden": "true" }),
          h("span", { class: "legend-name", text: l.label }),
          h("span", { class: "legend-value", text: last >= 0 ? fmtValue(v) : "" }),
          h("span", { class: "legend-step", text: last >= 0 ? `step ${fmtStep(l.steps[last])}` : "" }),
        ),
      );
    }
    this.legendEl.replaceChildren(frag);
  }

  private renderDownloads(): void {
    clear(this.downloadsEl);
    if (!this.app.state.showDownloads) return;
    const runs = this.runs();
    if (!runs.length) return;
    const select = h("select", { "aria-label": `Run to download for ${this.tag}` });
    for (const r of runs) select.appendChild(h("option", { value: String(r.id), text: r.name }));
    const csv = h("a", { class: "dl", text: "CSV" });
    const json = h("a", { class: "dl", text: "JSON" });
    const upd = () => {
      const r = runs.find((x) => String(x.id) === select.value) ?? runs[0];
      const base = `run-${r.name}-tag-${this.tag}`.replace(/[\\/:*?"<>|]/g, "_");
      csv.href = this.app.api.url("scalars", { run_id: r.id, tag: this.tag, format: "csv" });
      csv.setAttribute("download", `${base}.csv`);
      json.href = this.app.api.url("scalars", { run_id: r.id, tag: this.tag });
      json.setAttribute("download", `${base}.json`);
    };
    select.addEventListener("change", upd);
    upd();
    this.downloadsEl.append(h("span", { text: "Download data (full resolution): " }), select, " ", csv, " ", json);
  }

  private hover(ev: MouseEvent): void {
    const u = this.u;
    if (!u) return;
    const rect = u.over.getBoundingClientRect();
    const left = ev.clientX - rect.left;
    const top = ev.clientY - rect.top;
    this.hoverX = u.posToVal(left, "x");
    this.hoverPos = { left, top };
    this.renderTooltip();
  }

  private unhover(): void {
    this.hoverX = null;
    this.tooltip.hidden = true;
    clear(this.dots);
  }

  private renderTooltip(): void {
    const u = this.u;
    if (!u || this.hoverX === null || !this.hoverPos) return;
    const st = this.app.state;
    const sm = st.smoothing > 0;
    const rows: { l: Line; i: number; y: number; dist: number; px: number; py: number }[] = [];
    for (const l of this.lines) {
      if (!l.xs.length) continue;
      const i = nearestIndex(l.xs, this.hoverX);
      if (i < 0) continue;
      const y = sm ? l.smoothed[i] : l.raw[i];
      const px = u.valToPos(l.xs[i], "x");
      const py = Number.isFinite(y) && (!st.logScale || y > 0) ? u.valToPos(y, "y") : NaN;
      const dist = Math.hypot(px - this.hoverPos.left, (Number.isFinite(py) ? py : 1e9) - this.hoverPos.top);
      rows.push({ l, i, y, dist, px, py });
    }
    const sort = st.tooltipSort;
    if (sort === "descending") rows.sort((a, b) => cmpNum(b.y, a.y));
    else if (sort === "ascending") rows.sort((a, b) => cmpNum(a.y, b.y));
    else if (sort === "nearest") rows.sort((a, b) => a.dist - b.dist);
    const table = h("table", { class: "tt" });
    const head = h("tr", {}, h("th", {}), h("th", { text: "Run" }), h("th", { text: sm ? "Smoothed" : "Value" }));
    if (sm) head.appendChild(h("th", { text: "Value" }));
    const aligned = this.aligned();
    if (aligned) head.appendChild(h("th", { text: "Aligned step", title: "Steps since the run's first step" }));
    head.append(h("th", { text: "Step" }), h("th", { text: "Time" }), h("th", { text: "Relative" }));
    table.appendChild(head);
    const dots = document.createDocumentFragment();
    for (const r of rows.slice(0, 60)) {
      const l = r.l;
      const w0 = l.walls[0];
      const tr = h(
        "tr",
        { "data-run": l.label },
        h("td", {}, h("span", { class: "chip", style: `background:${l.color}` })),
        h("td", { class: "tt-run", text: l.label }),
        h("td", { class: "num tt-value", text: fmtValue(r.y) }),
      );
      if (sm) tr.appendChild(h("td", { class: "num tt-raw", text: fmtValue(l.raw[r.i]) }));
      if (aligned) tr.appendChild(h("td", { class: "num tt-aligned", text: fmtStep(l.xs[r.i]) }));
      const s0 = l.steps[r.i];
      const s1 = l.stepsHi ? l.stepsHi[r.i] : s0;
      tr.append(
        h("td", { class: "num tt-step", text: s1 === s0 ? fmtStep(s0) : `${fmtStep(s0)}–${fmtStep(s1)}` }),
        h("td", { text: fmtTime(l.walls[r.i]) }),
        h("td", { text: fmtRelative((l.walls[r.i] - w0) / 3600) }),
      );
      table.appendChild(tr);
      if (Number.isFinite(r.py) && rows.length <= 100) {
        dots.appendChild(
          h("span", {
            class: "dot",
            style: `left:${r.px + u.over.offsetLeft}px;top:${r.py + u.over.offsetTop}px;border-color:${l.color}`,
          }),
        );
      }
    }
    if (rows.length > 60) table.appendChild(h("tr", {}, h("td", { colspan: "8", text: `… ${rows.length - 60} more` })));
    this.tooltip.replaceChildren(table);
    this.dots.replaceChildren(dots);
    this.tooltip.hidden = false;
    // Place the tooltip beside the cursor, inside the viewport.
    const over = u.over.getBoundingClientRect();
    const tw = this.tooltip.offsetWidth;
    const th = this.tooltip.offsetHeight;
    let x = over.left + this.hoverPos.left + 16;
    if (x + tw > window.innerWidth - 8) x = over.left + this.hoverPos.left - tw - 16;
    let y = over.top + this.hoverPos.top + 16;
    if (y + th > window.innerHeight - 8) y = Math.max(8, window.innerHeight - th - 8);
    this.tooltip.style.left = `${Math.max(8, x)}px`;
    this.tooltip.style.top = `${y}px`;
  }
}

function cmpNum(a: number, b: number): number {
  const fa = Number.isFinite(a);
  const fb = Number.isFinite(b);
  if (!fa || !fb) return fa ? -1 : fb ? 1 : 0;
  return a - b;
}

function fmtAxisNum(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e5 || (a > 0 && a < 1e-3)) return v.toExponential(1);
  return String(Number(v.toPrecision(6)));
}

/** A filled band between `lo` and `hi` sharing the series' x array (uPlot mode 2 has no bands). */
function bandPath(lo: (number | null)[], hi: (number | null)[]): uPlot.Series.PathBuilder {
  return (u, sidx) => {
    const xs = (u.data[sidx] as unknown as [number[], unknown])[0];
    const fill = new Path2D();
    const X = (x: number) => u.valToPos(x, "x", true);
    const Y = (y: number) => u.valToPos(y, "y", true);
    let i = 0;
    const n = xs.length;
    while (i < n) {
      while (i < n && (lo[i] == null || hi[i] == null)) i++;
      const start = i;
      while (i < n && lo[i] != null && hi[i] != null) i++;
      const end = i - 1;
      if (end < start) continue;
      fill.moveTo(X(xs[start]), Y(hi[start]!));
      for (let k = start + 1; k <= end; k++) fill.lineTo(X(xs[k]), Y(hi[k]!));
      for (let k = end; k >= start; k--) fill.lineTo(X(xs[k]), Y(lo[k]!));
      fill.closePath();
    }
    return { stroke: new Path2D(), fill, clip: undefined, flags: 0 } as unknown as uPlot.Series.Paths;
  };
}

export class ScalarsPanel implements Panel {
  id = "scalars" as const;
  grid: CardGrid<ScalarCard>;
  private view!: HTMLElement;
  private smoothingInput!: HTMLInputElement;
  private smoothingNum!: HTMLInputElement;
  private axisBox!: HTMLElement;
  private alignBox!: HTMLElement;
  private sortSelect!: HTMLSelectElement;
  private outliersBox!: HTMLElement;
  private logBox!: HTMLElement;
  private dlBox!: HTMLElement;
  private groupInput!: HTMLInputElement;
  private groupErr!: HTMLElement;
  private bandBox!: HTMLElement;
  private visible = false;

  constructor(private app: App) {
    this.grid = new CardGrid<ScalarCard>(app, "scalars", (_key, tag) => new ScalarCard(app, this, tag), () =>
      this.app.tagFilterRe().error ? "The tag filter is not a valid regular expression." : this.app.selectedRuns().length ? "No scalar tag matches." : "No run selected.",
    );
  }

  mount(view: HTMLElement, controls: HTMLElement): void {
    this.view = view;
    const st = this.app.state;
    this.smoothingInput = h("input", { type: "range", min: "0", max: "0.999", step: "0.001", id: "smoothing", "aria-label": "Smoothing" });
    this.smoothingNum = h("input", { type: "number", min: "0", max: "0.999", step: "0.001", class: "num-input", "aria-label": "Smoothing value" });
    this.smoothingInput.value = this.smoothingNum.value = String(st.smoothing);
    const setSmoothing = (v: number) => {
      if (!Number.isFinite(v)) return;
      v = Math.min(0.999, Math.max(0, v));
      this.smoothingInput.value = String(v);
      this.smoothingNum.value = String(v);
      this.app.set("smoothing", v);
    };
    this.smoothingInput.addEventListener("input", () => setSmoothing(Number(this.smoothingInput.value)));
    this.smoothingNum.addEventListener("change", () => setSmoothing(Number(this.smoothingNum.value)));
    this.sortSelect = h("select", { id: "tooltip-sort", "aria-label": "Tooltip sorting method" });
    for (const [v, t] of [
      ["default", "Default"],
      ["descending", "Descending"],
      ["ascending", "Ascending"],
      ["nearest", "Nearest"],
    ]) this.sortSelect.appendChild(h("option", { value: v, text: t }));
    this.sortSelect.value = st.tooltipSort;
    this.sortSelect.addEventListener("change", () => this.app.set("tooltipSort", this.sortSelect.value as typeof st.tooltipSort));
    this.outliersBox = checkbox("ignore-outliers", "Ignore outliers in chart scaling", st.ignoreOutliers, (v) => this.app.set("ignoreOutliers", v));
    this.logBox = checkbox("log-scale", "Log scale (y)", st.logScale, (v) => this.app.set("logScale", v));
    this.dlBox = checkbox("show-downloads", "Show data download links", st.showDownloads, (v) => this.app.set("showDownloads", v));
    this.axisBox = radioGroup<XAxis>(
      "x-axis",
      "Horizontal axis",
      [
        ["step", "STEP"],
        ["relative", "RELATIVE"],
        ["wall", "WALL"],
      ],
      st.xAxis,
      (v) => this.app.set("xAxis", v),
    );
    this.alignBox = checkbox("align-steps", "Align runs at step 0", st.alignSteps, (v) => this.app.set("alignSteps", v));
    this.alignBox.classList.add("align-steps");
    this.syncAlignBox();
    this.groupInput = h("input", { type: "search", class: "filter", placeholder: "e.g. (.*)/seed\\d+", "aria-label": "Aggregate runs by regex group", spellcheck: "false" });
    this.groupInput.value = st.groupRegex;
    this.groupErr = h("div", { class: "filter-error", role: "alert" });
    this.groupInput.addEventListener(
      "input",
      debounce(() => {
        const { error } = compileFilter(this.groupInput.value);
        this.groupErr.textContent = error ? `Invalid regex: ${error}` : "";
        if (!error) this.app.set("groupRegex", this.groupInput.value);
      }, 200),
    );
    this.bandBox = radioGroup<"minmax" | "std">(
      "band",
      "Band",
      [
        ["minmax", "min/max"],
        ["std", "± std"],
      ],
      st.band,
      (v) => this.app.set("band", v),
    );
    controls.append(
      h("h2", { text: "Scalars" }),
      field("Smoothing", h("div", { class: "slider-row" }, this.smoothingInput, this.smoothingNum)),
      field("Tooltip sorting method", this.sortSelect),
      this.outliersBox,
      this.logBox,
      this.dlBox,
      this.axisBox,
      this.alignBox,
      h(
        "details",
        { class: "aggregate" },
        h("summary", { text: "Aggregate runs (mean ± band)" }),
        h("p", { class: "hint", text: "Runs whose names match are averaged; the first capture group (or the match) names the group." }),
        this.groupInput,
        this.groupErr,
        this.bandBox,
      ),
    );
    view.appendChild(this.grid.el);
    this.render();
  }

  private render(): void {
    const tags = this.app.tagsFor("scalars");
    const shown = new Set(tags);
    const pinnedHidden = this.app.tagsPresent("scalars", this.grid.pinnedTags()).filter((t) => !shown.has(t));
    this.grid.render(
      tags.map((t) => [t, t]),
      pinnedHidden.map((t) => [t, t]),
    );
    this.view.dataset.charts = String(tags.length);
  }

  refresh(changed: Set<string>): void {
    const st = this.app.state;
    if (changed.has("all")) {
      this.smoothingInput.value = this.smoothingNum.value = String(st.smoothing);
      this.sortSelect.value = st.tooltipSort;
      setChecked(this.outliersBox, st.ignoreOutliers);
      setChecked(this.logBox, st.logScale);
      setChecked(this.dlBox, st.showDownloads);
      setRadio(this.axisBox, st.xAxis);
      setChecked(this.alignBox, st.alignSteps);
      setRadio(this.bandBox, st.band);
      this.groupInput.value = st.groupRegex;
    }
    if (changed.has("all") || changed.has("xAxis")) this.syncAlignBox();
    if (!this.visible) return;
    if (["runs", "runFilter", "tagFilter", "runsList", "pinned", "collapsed", "all", "panel"].some((k) => changed.has(k))) this.render();
    const redraw = ["smoothing", "logScale", "ignoreOutliers", "colors", "showDownloads", "groupRegex", "band", "runs", "runFilter", "runsList", "all"];
    if (changed.has("xAxis") || changed.has("alignSteps")) {
      // A zoom window is in the old x coordinates: drop it.
      for (const c of this.grid.cards.values()) c.resetZoom();
    } else if (redraw.some((k) => changed.has(k))) {
      for (const c of this.grid.cards.values()) void c.load();
    }
  }

  /** Alignment only means something on the STEP axis: elsewhere the box is disabled, and says why. */
  private syncAlignBox(): void {
    const axis = this.app.state.xAxis;
    const input = this.alignBox.querySelector<HTMLInputElement>("input")!;
    input.disabled = axis !== "step";
    this.alignBox.classList.toggle("check--disabled", input.disabled);
    this.alignBox.title =
      axis === "wall"
        ? "Not available on the WALL axis: wall time is absolute, runs cannot be shifted on it."
        : axis === "relative"
          ? "RELATIVE already counts each run's time from its own start."
          : "Draw each run from its first step (x = step − the run's first step), e.g. runs resumed from a checkpoint.";
  }

  onUpdate(msg: UpdateMsg): void {
    const tags = msg.kinds.scalars;
    if (!tags || !this.visible) return;
    if (msg.purged) {
      for (const t of tags) for (const c of this.grid.cardsOf(t)) c.refetchRuns(new Set([msg.run_id]));
      return;
    }
    for (const t of tags) for (const c of this.grid.cardsOf(t)) c.liveUpdate(msg.run_id);
  }

  catchUp(changed: Set<number>): void {
    for (const c of this.grid.cards.values()) c.refetchRuns(changed);
  }

  show(): void {
    this.visible = true;
    this.render();
    for (const c of this.grid.cards.values()) void c.load();
  }

  hide(): void {
    this.visible = false;
  }
}
