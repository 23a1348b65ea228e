// HPARAMS: TensorBoard's hparams plugin data (GET {api}/hparams: one session per run, its hparam
// values and the last value of each metric) as a TABLE VIEW and a PARALLEL COORDINATES VIEW.
//
// Both views share one filter state (in memory): per column a set of excluded discrete values or
// a min/max range, "show only selected runs", and the run regex of the run selector. The table's
// filter inputs and the parallel coordinates' brushes read and write the same maps. A column
// filter that restricts a column hides sessions without a value in it (as a brush does).
// The view, the sorted column and the log-scaled axes are in the URL (state.ts: hpview, hpsort,
// hpdesc, hplog). The tab is inactive until the endpoint returns a session; the panel is created
// at boot to watch the endpoint (Panel.watch) and refetches, throttled, on change notices.

import type { App, Panel } from "../app";
import { ApiError, type HParamInfo, type HParamsResponse, type HParamsSession, type MetricInfo, type RunInfo } from "../api";
import type { UpdateMsg } from "../live";
import { compareTagNames } from "../sort";
import { compileFilter, h, num, rafOnce, svg } from "../util";
import { checkbox, setChecked } from "./cards";

/** A cell: a number (NaN/±Inf allowed), a string, a bool, or null when the session has none. */
type Cell = number | string | boolean | null;

interface Column {
  /** "hp:<name>" or "metric:<group/tag>": the sort key in the URL and the filter key. */
  key: string;
  label: string;
  /** Description (and, for metrics, the full name and dataset), shown as a tooltip. */
  title: string;
  kind: "hparam" | "metric";
  numeric: boolean;
  /** Discrete values offered as checkboxes (strings, bools, a discrete domain), else null. */
  values: Cell[] | null;
  /** Metrics: the index into the response's `metrics` (and each session's `metrics`). */
  metric?: number;
  get(s: HParamsSession): Cell;
}

interface Range {
  min: number | null;
  max: number | null;
}

/** Re-fetch at most once per this many ms after change notices. */
const REFETCH_MS = 1000;
const ROW_CAP = 2000;
const STATUSES = new Set(["unknown", "success", "failure", "running"]);

/** Compact, exact-looking numbers: integers in full, others with 6 significant digits. */
export function fmtCompact(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "∞" : "-∞";
  if (Number.isInteger(v) && Math.abs(v) < 1e15) return String(v);
  return String(Number(v.toPrecision(6)));
}

function fmtCell(c: Cell): string {
  if (c === null) return "";
  if (typeof c === "number") return fmtCompact(c);
  return String(c);
}

/** A key that tells values of different types apart ("1" the string vs 1 the number). */
function cellKey(c: Cell): string {
  if (c === null) return "null";
  if (typeof c === "number") return `n:${c}`;
  if (typeof c === "boolean") return `b:${c}`;
  return `s:${c}`;
}

function typeRank(c: Cell): number {
  return typeof c === "number" ? (Number.isNaN(c) ? 1 : 0) : typeof c === "boolean" ? 2 : 3;
}

/** Ascending order of present values: finite numbers, NaN, bools, strings (asciinumeric). */
function compareCells(a: Cell, b: Cell): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra - rb;
  if (typeof a === "number" && typeof b === "number") return Number.isNaN(a) ? 0 : a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === "boolean" && typeof b === "boolean") return Number(a) - Number(b);
  return compareTagNames(String(a), String(b));
}

/** An hparam value as the hub sent it; float hparams follow the non-finite string convention. */
function hparamCell(info: HParamInfo, raw: unknown): Cell {
  if (raw === null || raw === undefined) return null;
  if (typeof raw === "number" || typeof raw === "boolean") return raw;
  if (typeof raw === "string") {
    if (info.type === "float" && (raw === "NaN" || raw === "Infinity" || raw === "-Infinity")) return num(raw);
    return raw;
  }
  return JSON.stringify(raw);
}

function metricName(m: MetricInfo): string {
  return m.group ? `${m.group}/${m.tag}` : m.tag;
}

function arr<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

/** `v` rounded outwards (down, or up) to 4 significant digits: a brushed range that reads
 * well in the filter inputs and never loses a value at its edge (float32 metrics included). */
function roundOut(v: number, up: boolean): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const unit = 10 ** (Math.floor(Math.log10(Math.abs(v))) - 3);
  return Number(((up ? Math.ceil(v / unit - 1e-9) : Math.floor(v / unit + 1e-9)) * unit).toPrecision(12));
}

/** Round-ish tick values for a linear axis. */
function niceTicks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo;
  if (!(span > 0) || !Number.isFinite(span)) return [lo];
  const raw = span / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const r = raw / mag;
  const step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

interface Axis {
  col: Column;
  x: number;
  /** Pixel y of a value, or null for the "missing" position. */
  y(c: Cell): number | null;
  /** The values (numeric) or categories (categorical) between two pixel rows. */
  brushed(y0: number, y1: number): Range | Set<string> | null;
  ticks: { y: number; label: string }[];
  log: boolean;
  categories: { key: string; y: number }[] | null;
}

export class HParamsPanel implements Panel {
  id = "hparams" as const;
  private data: HParamsResponse | null = null;
  private columns: Column[] = [];
  private error = "";
  private loaded = false;
  private active = false;
  private visible = false;
  private mounted = false;
  private stale = false;
  private inflight = false;
  private again = false;
  private timer: number | undefined;
  // Filter state, shared by the table's filters and the parallel coordinates' brushes.
  private excluded = new Map<string, Set<string>>();
  private ranges = new Map<string, Range>();
  private onlySelected = false;
  // DOM
  private view!: HTMLElement;
  private statusEl!: HTMLElement;
  private countEl!: HTMLElement;
  private tableBox!: HTMLElement;
  private pcBox!: HTMLElement;
  private pcLogBox!: HTMLElement;
  private pcStage!: HTMLElement;
  private tooltip!: HTMLElement;
  private viewBtns = new Map<string, HTMLButtonElement>();
  private filtersBox!: HTMLElement;
  private onlySelectedBox!: HTMLElement;
  private filterSig = "";
  private rangeInputs = new Map<string, [HTMLInputElement, HTMLInputElement]>();
  private setInputs = new Map<string, Map<string, HTMLInputElement>>();
  private redrawSoon = rafOnce(() => this.visible && this.app.state.hpView === "parallel" && this.drawParallel());
  private brushing = false;

  constructor(private app: App) {}

  // ---- Panel ---------------------------------------------------------------------------------

  watch(): void {
    void this.fetch();
  }

  mount(view: HTMLElement, controls: HTMLElement): void {
    this.view = view;
    this.mounted = true;
    const views = h("div", { class: "hp-views", role: "group", "aria-label": "HParams view" });
    for (const [v, text] of [
      ["table", "TABLE VIEW"],
      ["parallel", "PARALLEL COORDINATES VIEW"],
    ] as const) {
      const b = h("button", { type: "button", class: "hp-view-btn", "data-view": v, "data-focus-key": `view:${v}`, text });
      b.addEventListener("click", () => this.app.set("hpView", v));
      this.viewBtns.set(v, b);
      views.appendChild(b);
    }
    this.countEl = h("span", { class: "hp-count", role: "status" });
    this.statusEl = h("p", { class: "empty", hidden: true });
    this.tableBox = h("div", { class: "hp-table-box" });
    this.pcLogBox = h("div", { class: "hp-log-axes" });
    this.pcStage = h("div", { class: "hp-stage" });
    this.pcBox = h("div", { class: "hp-parallel" }, this.pcLogBox, this.pcStage);
    this.tooltip = h("div", { class: "tooltip hp-tooltip", role: "tooltip", hidden: true });
    view.append(h("div", { class: "hp-head" }, views, this.countEl), this.statusEl, this.tableBox, this.pcBox, this.tooltip);
    new ResizeObserver(() => this.redrawSoon()).observe(this.pcStage);

    this.onlySelectedBox = checkbox("hp-only-selected", "Show only selected runs", this.onlySelected, (v) => {
      this.onlySelected = v;
      this.render();
    });
    const reset = h("button", { type: "button", class: "small", text: "Reset filters" });
    reset.addEventListener("click", () => {
      this.excluded.clear();
      this.ranges.clear();
      this.syncFilterInputs();
      this.render();
    });
    this.filtersBox = h("div", { class: "hp-filters" });
    controls.append(
      h("h2", { text: "Hparams" }),
      this.onlySelectedBox,
      h("div", { class: "button-row" }, reset),
      h("p", { class: "hint", text: "Filters apply to both views; drag on an axis of the parallel coordinates to set a range. A filter on a column hides sessions without a value in it." }),
      this.filtersBox,
    );
    this.buildFilters();
  }

  refresh(changed: Set<string>): void {
    if (!this.visible) return;
    const keys = ["runs", "runFilter", "runsList", "colors", "hpView", "hpSort", "hpDesc", "hpLog", "all", "panel"];
    if (keys.some((k) => changed.has(k))) this.render();
  }

  onUpdate(msg: UpdateMsg): void {
    // Any notice may move a metric's last value; while hidden, only what can create a session
    // (new runs, new tags, other plugins' tensors, purges) is worth a request before `show`.
    if (this.visible) this.soon();
    else if (!this.active && (msg.new_run || msg.new_tags || msg.purged || (msg.kinds.tensors ?? []).length)) this.soon();
    else this.stale = true;
  }

  catchUp(): void {
    if (this.visible || !this.active) this.soon();
    else this.stale = true;
  }

  show(): void {
    this.visible = true;
    this.render();
    if (this.stale || !this.loaded || this.error) void this.fetch();
  }

  hide(): void {
    this.visible = false;
    this.tooltip.hidden = true;
  }

  // ---- data ----------------------------------------------------------------------------------

  private soon(): void {
    if (this.timer !== undefined) return;
    this.timer = window.setTimeout(() => {
      this.timer = undefined;
      void this.fetch();
    }, REFETCH_MS);
  }

  private async fetch(): Promise<void> {
    if (this.inflight) {
      this.again = true;
      return;
    }
    this.inflight = true;
    this.stale = false;
    try {
      const res = await this.app.api.get<HParamsResponse>("hparams");
      this.error = "";
      this.setData(res);
    } catch (e) {
      // A hub without the endpoint (404) simply has no hparams data.
      if (e instanceof ApiError && e.status === 404) {
        this.error = "";
        this.setData(null);
      } else {
        this.error = e instanceof ApiError ? e.message : "The hub did not answer.";
        if (this.visible) this.render();
      }
    } finally {
      this.inflight = false;
      this.loaded = true;
      if (this.again) {
        this.again = false;
        void this.fetch();
      }
    }
  }

  private setData(res: HParamsResponse | null): void {
    const data: HParamsResponse | null =
      res && typeof res === "object"
        ? { ...res, hparams: arr<HParamInfo>(res.hparams), metrics: arr<MetricInfo>(res.metrics), sessions: arr<HParamsSession>(res.sessions) }
        : null;
    this.data = data;
    this.columns = data ? this.buildColumns(data) : [];
    this.active = !!data && data.sessions.length > 0;
    this.app.setPanelActive("hparams", this.active);
    // Sessions of runs the page does not know yet: the run list catches up (then refresh renders).
    if (data?.sessions.some((s) => !this.app.runById.has(s.run_id))) void this.app.reloadRuns();
    if (this.mounted) this.buildFilters();
    if (this.visible) this.render();
  }

  private buildColumns(data: HParamsResponse): Column[] {
    const cols: Column[] = [];
    for (const info of data.hparams) {
      const get = (s: HParamsSession) => hparamCell(info, (s.hparams ?? {})[info.name]);
      const present = data.sessions.map(get).filter((c): c is Exclude<Cell, null> => c !== null);
      const numeric = info.type === "float" || (info.type !== "string" && info.type !== "bool" && present.length > 0 && present.every((c) => typeof c === "number"));
      let values: Cell[] | null = null;
      const dom = info.domain;
      if (dom && "values" in dom && Array.isArray(dom.values)) values = dom.values.map((v) => hparamCell(info, v)).filter((c) => c !== null);
      else if (!numeric) values = present;
      if (values) {
        const seen = new Map(values.map((v) => [cellKey(v), v]));
        for (const c of present) if (!seen.has(cellKey(c))) seen.set(cellKey(c), c);
        values = [...seen.values()].sort(compareCells);
      }
      const label = info.display_name || info.name;
      cols.push({ key: `hp:${info.name}`, label, title: [info.name !== label ? info.name : "", info.description].filter(Boolean).join(" — "), kind: "hparam", numeric, values, get });
    }
    data.metrics.forEach((m, k) => {
      const name = metricName(m);
      const label = m.display_name || name;
      const title = [name !== label ? name : "", m.description, m.dataset && m.dataset !== "unknown" ? `dataset: ${m.dataset}` : ""].filter(Boolean).join(" — ");
      cols.push({
        key: `metric:${name}`,
        label,
        title,
        kind: "metric",
        numeric: true,
        values: null,
        metric: k,
        get: (s) => {
          const v = arr<HParamsSession["metrics"][number]>(s.metrics)[k];
          return v && typeof v === "object" ? num(v.value) : null;
        },
      });
    });
    return cols;
  }

  // ---- filtering and sorting -------------------------------------------------------------------

  private runOf(s: HParamsSession): RunInfo | undefined {
    return this.app.runById.get(s.run_id);
  }

  private nameOf(s: HParamsSession): string {
    return this.runOf(s)?.name ?? s.run;
  }

  /** Sessions the run regex and "show only selected runs" let through (drawn at all). */
  private listed(): HParamsSession[] {
    const sessions = this.data?.sessions ?? [];
    const { re, error } = compileFilter(this.app.state.runFilter);
    if (error) return [];
    return sessions.filter((s) => {
      if (re && !re.test(this.nameOf(s))) return false;
      if (this.onlySelected) {
        const run = this.runOf(s);
        if (!run || !this.app.isSelected(run)) return false;
      }
      return true;
    });
  }

  private passesColumn(col: Column, s: HParamsSession): boolean {
    const c = col.get(s);
    const ex = this.excluded.get(col.key);
    const r = this.ranges.get(col.key);
    const restricted = (ex && ex.size > 0) || (r && (r.min !== null || r.max !== null));
    if (!restricted) return true;
    if (c === null) return false;
    if (ex && ex.has(cellKey(c))) return false;
    if (r && (r.min !== null || r.max !== null)) {
      if (typeof c !== "number" || Number.isNaN(c)) return false;
      if (r.min !== null && c < r.min) return false;
      if (r.max !== null && c > r.max) return false;
    }
    return true;
  }

  private passes(s: HParamsSession): boolean {
    return this.columns.every((col) => this.passesColumn(col, s));
  }

  private sortKeyCell(key: string, s: HParamsSession): Cell {
    if (key === "run") return this.nameOf(s);
    if (key === "status") return s.status ?? null;
    return this.columns.find((c) => c.key === key)?.get(s) ?? null;
  }

  private sorted(rows: HParamsSession[]): HParamsSession[] {
    const key = this.app.state.hpSort;
    if (!key || (key !== "run" && key !== "status" && !this.columns.some((c) => c.key === key))) return rows;
    const dir = this.app.state.hpDesc ? -1 : 1;
    const cells = new Map(rows.map((s) => [s, this.sortKeyCell(key, s)]));
    return [...rows].sort((a, b) => {
      const ca = cells.get(a)!;
      const cb = cells.get(b)!;
      if (ca === null || cb === null) return ca === cb ? 0 : ca === null ? 1 : -1; // missing last
      return dir * compareCells(ca, cb);
    });
  }

  private setSort(key: string): void {
    const st = this.app.state;
    if (st.hpSort === key) st.hpDesc = !st.hpDesc;
    else {
      st.hpSort = key;
      st.hpDesc = false;
    }
    this.app.afterChange(new Set(["hpSort", "hpDesc"]));
  }

  // ---- filters (sidebar) -----------------------------------------------------------------------

  private buildFilters(): void {
    const sig = JSON.stringify(this.columns.map((c) => [c.key, c.label, c.numeric, c.values?.map(cellKey) ?? null]));
    if (sig === this.filterSig) return;
    this.filterSig = sig;
    const focusKey = this.focusKey(this.filtersBox);
    this.rangeInputs.clear();
    this.setInputs.clear();
    // Filters of columns that no longer exist (or whose values changed) are dropped.
    const keys = new Set(this.columns.map((c) => c.key));
    for (const k of [...this.excluded.keys()]) if (!keys.has(k)) this.excluded.delete(k);
    for (const k of [...this.ranges.keys()]) if (!keys.has(k)) this.ranges.delete(k);
    const parts: HTMLElement[] = [];
    this.columns.forEach((col, i) => {
      if (i === 0 || col.kind !== this.columns[i - 1].kind) parts.push(h("h3", { class: "hp-filter-head", text: col.kind === "hparam" ? "Hyperparameters" : "Metrics" }));
      const box = h("fieldset", { class: "hp-filter", "data-col": col.key }, h("legend", { title: col.title || null, text: col.label }));
      if (col.values) {
        const inputs = new Map<string, HTMLInputElement>();
        col.values.forEach((v, j) => {
          const id = `hp-f-${i}-${j}`;
          const k = cellKey(v);
          const cb = h("input", { type: "checkbox", id, "data-value": fmtCell(v), "data-focus-key": `f:${col.key}:${k}` });
          cb.checked = !this.excluded.get(col.key)?.has(k);
          cb.addEventListener("change", () => {
            const set = new Set(this.excluded.get(col.key) ?? []);
            if (cb.checked) set.delete(k);
            else set.add(k);
            this.excluded.set(col.key, set);
            this.render();
          });
          inputs.set(k, cb);
          box.appendChild(h("label", { for: id, class: "check hp-value" }, cb, h("span", { text: fmtCell(v) })));
        });
        this.setInputs.set(col.key, inputs);
      }
      if (col.numeric && !col.values) {
        const mk = (which: "min" | "max") => {
          const input = h("input", {
            type: "number",
            step: "any",
            class: "num-input",
            placeholder: which,
            "aria-label": `${col.label} ${which === "min" ? "minimum" : "maximum"}`,
            "data-focus-key": `f:${col.key}:${which}`,
          });
          input.addEventListener("input", () => {
            if (input.validity.badInput) return;
            const v = input.value.trim() === "" ? null : Number(input.value);
            const r = { ...(this.ranges.get(col.key) ?? { min: null, max: null }) };
            r[which] = v !== null && Number.isFinite(v) ? v : null;
            this.ranges.set(col.key, r);
            this.render();
          });
          return input;
        };
        const pair: [HTMLInputElement, HTMLInputElement] = [mk("min"), mk("max")];
        this.rangeInputs.set(col.key, pair);
        box.appendChild(h("div", { class: "hp-range" }, pair[0], h("span", { "aria-hidden": "true", text: "–" }), pair[1]));
      }
      parts.push(box);
    });
    if (!parts.length) parts.push(h("p", { class: "hint", text: "No hyperparameters or metrics yet." }));
    this.filtersBox.replaceChildren(...parts);
    this.syncFilterInputs();
    this.restoreFocus(this.filtersBox, focusKey);
  }

  /** Shows the filter state (e.g. after a brush or a reset) in the sidebar's inputs. */
  private syncFilterInputs(): void {
    for (const [key, [lo, hi]] of this.rangeInputs) {
      const r = this.ranges.get(key);
      const show = (input: HTMLInputElement, v: number | null | undefined) => {
        const want = v === null || v === undefined ? "" : String(v);
        if (input.value !== want && !(want !== "" && Number(input.value) === v)) input.value = want;
      };
      show(lo, r?.min);
      show(hi, r?.max);
    }
    for (const [key, inputs] of this.setInputs) {
      const ex = this.excluded.get(key);
      for (const [k, cb] of inputs) cb.checked = !ex?.has(k);
    }
  }

  // ---- rendering -------------------------------------------------------------------------------

  private focusKey(root: HTMLElement): string | undefined {
    const ae = document.activeElement as HTMLElement | null;
    return ae && root.contains(ae) ? ae.dataset.focusKey : undefined;
  }

  private restoreFocus(root: HTMLElement, key: string | undefined): void {
    if (!key) return;
    const el = root.querySelector<HTMLElement>(`[data-focus-key="${CSS.escape(key)}"]`);
    if (el && document.activeElement !== el) el.focus();
  }

  private render(): void {
    if (!this.mounted) return;
    const st = this.app.state;
    for (const [v, b] of this.viewBtns) {
      b.setAttribute("aria-pressed", v === st.hpView ? "true" : "false");
      b.classList.toggle("hp-view-btn--on", v === st.hpView);
    }
    this.view.dataset.view = st.hpView;
    setChecked(this.onlySelectedBox, this.onlySelected);
    const sessions = this.data?.sessions ?? [];
    const listed = this.listed();
    const shown = listed.filter((s) => this.passes(s));
    this.view.dataset.sessions = String(sessions.length);
    this.view.dataset.shown = String(shown.length);
    this.countEl.textContent = sessions.length ? (shown.length === sessions.length ? `${sessions.length} sessions` : `${shown.length} of ${sessions.length} sessions`) : "";
    let status = "";
    if (this.error) status = this.error;
    else if (!this.loaded) status = "Loading…";
    else if (!sessions.length) status = "No hparams data in these runs. Sessions appear here when runs write TensorBoard's hparams summaries (hp.hparams, tensorboardX or torch.utils.tensorboard's add_hparams).";
    else if (compileFilter(st.runFilter).error) status = "The run filter is not a valid regular expression.";
    else if (!shown.length) status = "No session matches the filters.";
    this.statusEl.textContent = status;
    this.statusEl.hidden = !status;
    this.statusEl.classList.toggle("message--error", !!this.error);
    const table = st.hpView === "table";
    this.tableBox.hidden = !table;
    this.pcBox.hidden = table;
    if (table) {
      this.tooltip.hidden = true;
      this.renderTable(this.sorted(shown));
    } else if (!this.brushing) {
      this.drawParallel();
    }
  }

  private renderTable(rows: HParamsSession[]): void {
    const focusKey = this.focusKey(this.tableBox);
    const st = this.app.state;
    if (!this.data || !this.data.sessions.length) {
      this.tableBox.replaceChildren();
      return;
    }
    const head = h("tr", {}, h("th", { scope: "col", class: "hp-sel" }, h("span", { class: "sr-only", text: "Selected" })));
    const sortable = (key: string, label: string, title: string, numeric: boolean) => {
      const on = st.hpSort === key;
      const th = h("th", { scope: "col", class: numeric ? "num" : null, "data-col": key, "aria-sort": on ? (st.hpDesc ? "descending" : "ascending") : null });
      const btn = h(
        "button",
        { type: "button", class: "hp-sort", title: title || null, "data-focus-key": `sort:${key}` },
        h("span", { class: "hp-col-label", text: label }),
        h("span", { class: "hp-sort-mark", "aria-hidden": "true", text: on ? (st.hpDesc ? "▼" : "▲") : "" }),
      );
      btn.addEventListener("click", () => this.setSort(key));
      th.appendChild(btn);
      head.appendChild(th);
    };
    sortable("run", "Run", "", false);
    for (const c of this.columns) sortable(c.key, c.label, c.title, c.numeric);
    sortable("status", "Status", "", false);
    const body = h("tbody", {});
    for (const s of rows.slice(0, ROW_CAP)) {
      const run = this.runOf(s);
      const name = this.nameOf(s);
      const cb = h("input", { type: "checkbox", class: "hp-select", "aria-label": `Select run ${name}`, "data-focus-key": `sel:${s.run_id}` });
      cb.checked = !!run && this.app.isSelected(run);
      cb.disabled = !run;
      cb.addEventListener("change", () => {
        const r = this.runOf(s);
        if (r) this.app.setRunSelected(r, cb.checked);
      });
      const color = run ? this.app.colorOf(run) : "#9e9e9e";
      const tr = h(
        "tr",
        { "data-run": name, "data-run-id": String(s.run_id) },
        h("td", { class: "hp-sel" }, cb),
        h(
          "th",
          { scope: "row", class: "hp-run-cell" },
          h("span", { class: "hp-run" }, h("span", { class: "chip", style: `background:${color}`, "aria-hidden": "true" }), h("span", { class: "run-text", title: name, text: name })),
        ),
      );
      for (const c of this.columns) {
        const v = c.get(s);
        const mv = c.metric === undefined ? null : arr<HParamsSession["metrics"][number]>(s.metrics)[c.metric];
        const title = typeof v === "number" && Number.isFinite(v) ? String(v) + (mv ? ` (step ${mv.step})` : "") : null;
        tr.appendChild(h("td", { class: typeof v === "number" ? "num" : null, "data-col": c.key, title, text: fmtCell(v) }));
      }
      const status = STATUSES.has(s.status) ? s.status : "unknown";
      tr.appendChild(h("td", { class: `hp-status hp-status--${status}`, "data-col": "status", text: status }));
      body.appendChild(tr);
    }
    if (rows.length > ROW_CAP) {
      body.appendChild(h("tr", {}, h("td", { colspan: String(this.columns.length + 3), class: "muted", text: `… ${rows.length - ROW_CAP} more sessions: narrow the filters` })));
    }
    const table = h("table", { class: "hp-table" }, h("caption", { class: "sr-only", text: "Hyperparameter sessions: one row per run" }), h("thead", {}, head), body);
    this.tableBox.replaceChildren(table);
    this.restoreFocus(this.tableBox, focusKey);
  }

  // ---- parallel coordinates --------------------------------------------------------------------

  private axes(listed: HParamsSession[], width: number, top: number, bottom: number): Axis[] {
    const cols = this.columns;
    const left = 80;
    const right = 80;
    const inner = Math.max(10, width - left - right);
    const logs = new Set(this.app.state.hpLog);
    return cols.map((col, i): Axis => {
      const x = cols.length === 1 ? left + inner / 2 : left + (i * inner) / (cols.length - 1);
      const cells = listed.map((s) => col.get(s));
      if (!col.numeric || col.values) {
        const vals = new Map<string, Cell>();
        for (const v of col.values ?? []) vals.set(cellKey(v), v);
        for (const c of cells) if (c !== null && !vals.has(cellKey(c))) vals.set(cellKey(c), c);
        const list = [...vals.entries()].sort((a, b) => compareCells(a[1], b[1]));
        const n = list.length;
        const pos = new Map(list.map(([k], j) => [k, n === 1 ? (top + bottom) / 2 : top + (j * (bottom - top)) / (n - 1)]));
        const categories = list.map(([k]) => ({ key: k, y: pos.get(k)! }));
        return {
          col,
          x,
          log: false,
          categories,
          ticks: list.map(([k, v]) => ({ y: pos.get(k)!, label: fmtCell(v) })),
          y: (c) => (c === null ? null : (pos.get(cellKey(c)) ?? null)),
          brushed: (y0, y1) => new Set(categories.filter((c) => c.y >= y0 - 2 && c.y <= y1 + 2).map((c) => c.key)),
        };
      }
      const finite = cells.filter((c): c is number => typeof c === "number" && Number.isFinite(c));
      let lo = finite.length ? Math.min(...finite) : 0;
      let hi = finite.length ? Math.max(...finite) : 1;
      const log = logs.has(col.key) && finite.length > 0 && lo > 0;
      const f = log ? Math.log10 : (v: number) => v;
      const inv = log ? (t: number) => 10 ** t : (t: number) => t;
      let tlo = f(lo);
      let thi = f(hi);
      if (thi === tlo) {
        const pad = log ? 0.5 : tlo === 0 ? 1 : Math.abs(tlo) * 0.5;
        tlo -= pad;
        thi += pad;
        lo = inv(tlo);
        hi = inv(thi);
      }
      const toY = (v: number) => bottom - ((f(v) - tlo) / (thi - tlo)) * (bottom - top);
      const fromY = (y: number) => inv(tlo + ((bottom - y) / (bottom - top)) * (thi - tlo));
      let tickVals: number[];
      if (log) {
        tickVals = [];
        for (let e = Math.ceil(tlo - 1e-9); e <= Math.floor(thi + 1e-9); e++) tickVals.push(Number((10 ** e).toPrecision(12)));
        if (tickVals.length < 2) tickVals = [lo, hi];
      } else tickVals = niceTicks(lo, hi, Math.max(2, Math.min(6, Math.floor((bottom - top) / 45))));
      return {
        col,
        x,
        log,
        categories: null,
        ticks: tickVals.map((v) => ({ y: toY(v), label: fmtCompact(v) })),
        y: (c) => (typeof c === "number" && Number.isFinite(c) ? toY(c) : null),
        brushed: (y0, y1) => ({ min: roundOut(fromY(Math.min(bottom, y1)), false), max: roundOut(fromY(Math.max(top, y0)), true) }),
      };
    });
  }

  private drawParallel(): void {
    const listed = this.listed();
    const cols = this.columns;
    // Log toggles: numeric axes whose values are all > 0.
    const logs = new Set(this.app.state.hpLog);
    const logBoxes: HTMLElement[] = [];
    cols.forEach((col, i) => {
      if (!col.numeric || col.values) return;
      const vals = listed.map((s) => col.get(s)).filter((c): c is number => typeof c === "number" && Number.isFinite(c));
      if (!vals.length || vals.some((v) => v <= 0)) return;
      logBoxes.push(
        checkbox(`hp-log-${i}`, col.label, logs.has(col.key), (on) => {
          const set = new Set(this.app.state.hpLog);
          if (on) set.add(col.key);
          else set.delete(col.key);
          this.app.set("hpLog", [...set]);
        }),
      );
    });
    const focusKey = this.focusKey(this.pcLogBox);
    this.pcLogBox.replaceChildren(...(logBoxes.length ? [h("span", { class: "field-label", text: "Log scale:" }), ...logBoxes] : []));
    for (const cb of this.pcLogBox.querySelectorAll<HTMLInputElement>("input")) cb.dataset.focusKey = cb.id;
    this.restoreFocus(this.pcLogBox, focusKey);
    if (!cols.length || !listed.length) {
      this.pcStage.replaceChildren();
      return;
    }
    const width = Math.max(360, this.pcStage.clientWidth || 900);
    const height = 420;
    const top = 58;
    const bottom = height - 52;
    const missingY = bottom + 28;
    const axes = this.axes(listed, width, top, bottom);
    const root = svg("svg", { class: "hp-svg", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": `Parallel coordinates of ${listed.length} sessions over ${cols.length} axes` });
    const linesG = svg("g", { class: "hp-lines" });
    const hlG = svg("g", { class: "hp-highlight", "pointer-events": "none" });
    const axesG = svg("g", { class: "hp-axes" });
    const spacing = axes.length > 1 ? axes[1].x - axes[0].x : width;
    // Axes, titles, ticks, the "missing" position, existing filters, brush areas.
    axes.forEach((ax, i) => {
      const g = svg("g", { class: "hp-axis", "data-col": ax.col.key, transform: `translate(${ax.x},0)` });
      const maxChars = Math.max(6, Math.floor((spacing * (spacing < 140 ? 2 : 1)) / 7));
      const label = ax.col.label.length > maxChars ? ax.col.label.slice(0, maxChars - 1) + "…" : ax.col.label;
      const titleY = spacing < 140 && i % 2 ? 34 : 18;
      g.appendChild(svg("text", { class: `hp-axis-title hp-axis-title--${ax.col.kind}`, x: 0, y: titleY, "text-anchor": "middle" }, svg("title", { text: ax.col.label }), label));
      if (ax.log) g.appendChild(svg("text", { class: "hp-axis-note", x: 0, y: titleY + 13, "text-anchor": "middle", text: "log" }));
      g.appendChild(svg("line", { class: "hp-axis-line", x1: 0, x2: 0, y1: top, y2: bottom }));
      for (const t of ax.ticks) {
        g.appendChild(svg("line", { class: "hp-tick", x1: -4, x2: 0, y1: t.y, y2: t.y }));
        g.appendChild(svg("text", { class: "hp-tick-label", x: -7, y: t.y + 3.5, "text-anchor": "end", text: t.label }));
      }
      if (listed.some((s) => ax.y(ax.col.get(s)) === null)) {
        g.appendChild(svg("circle", { class: "hp-missing-dot", cx: 0, cy: missingY, r: 2.5 }));
        g.appendChild(svg("text", { class: "hp-tick-label hp-missing", x: -7, y: missingY + 3.5, "text-anchor": "end", text: "missing" }));
      }
      // The column's filter, drawn where a brush would be.
      const r = this.ranges.get(ax.col.key);
      if (r && (r.min !== null || r.max !== null) && !ax.categories) {
        const yMax = r.max === null ? top : Math.max(top, Math.min(bottom, ax.y(r.max) ?? top));
        const yMin = r.min === null ? bottom : Math.max(top, Math.min(bottom, ax.y(r.min) ?? bottom));
        g.appendChild(svg("rect", { class: "hp-brush", x: -8, width: 16, y: Math.min(yMax, yMin), height: Math.max(2, Math.abs(yMin - yMax)) }));
      }
      const ex = this.excluded.get(ax.col.key);
      if (ex && ex.size && ax.categories) {
        for (const c of ax.categories) if (!ex.has(c.key)) g.appendChild(svg("rect", { class: "hp-brush", x: -8, width: 16, y: c.y - 6, height: 12 }));
      }
      const area = svg("rect", { class: "hp-brush-area", x: -14, width: 28, y: top - 6, height: bottom - top + 12 });
      const live = svg("rect", { class: "hp-brush hp-brush--live", x: -8, width: 16, y: 0, height: 0, visibility: "hidden" });
      g.append(live, area);
      this.brushable(area, live, ax, top, bottom);
      axesG.appendChild(g);
    });
    // One polyline per session: filtered-out sessions in grey underneath, the others in run colour.
    const showTip = (s: HParamsSession, x: number, y: number) => this.showTooltip(s, x, y);
    const entries = listed.map((s) => ({ s, ok: this.passes(s) }));
    entries.sort((a, b) => Number(a.ok) - Number(b.ok));
    for (const { s, ok } of entries) {
      const pts = axes.map((ax) => `${ax.x.toFixed(1)},${(ax.y(ax.col.get(s)) ?? missingY).toFixed(1)}`).join(" ");
      const run = this.runOf(s);
      const name = this.nameOf(s);
      const color = ok ? (run ? this.app.colorOf(run) : "#9e9e9e") : "#cfcfcf";
      const line = svg("polyline", { class: ok ? "hp-line" : "hp-line hp-line--filtered", points: pts, stroke: color, "data-run": name, "data-run-id": String(s.run_id) });
      const hit = svg("polyline", { class: "hp-hit", points: pts, tabindex: ok ? "0" : null, "aria-label": ok ? `Session ${name}` : null });
      const g = svg("g", { class: "hp-session", "data-run-id": String(s.run_id) }, line, hit);
      const enter = (x: number, y: number) => {
        root.classList.add("hp-svg--hover");
        hlG.replaceChildren(svg("polyline", { class: "hp-line-hl", points: pts, stroke: color }));
        showTip(s, x, y);
      };
      const leave = () => {
        root.classList.remove("hp-svg--hover");
        hlG.replaceChildren();
        this.tooltip.hidden = true;
      };
      hit.addEventListener("pointermove", (ev) => enter(ev.clientX, ev.clientY));
      hit.addEventListener("pointerleave", leave);
      hit.addEventListener("focus", () => {
        const b = hit.getBoundingClientRect();
        enter(b.left + b.width / 2, b.top + b.height / 2);
      });
      hit.addEventListener("blur", leave);
      linesG.appendChild(g);
    }
    root.append(linesG, hlG, axesG);
    this.pcStage.replaceChildren(root);
  }

  /** Drag on an axis to set its filter; a click without a drag clears it. */
  private brushable(area: SVGRectElement, live: SVGRectElement, ax: Axis, top: number, bottom: number): void {
    let y0 = 0;
    let dragging = false;
    const localY = (ev: PointerEvent) => {
      const svgEl = area.ownerSVGElement!;
      const b = svgEl.getBoundingClientRect();
      return Math.max(top, Math.min(bottom, ev.clientY - b.top));
    };
    area.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      ev.preventDefault();
      dragging = true;
      this.brushing = true;
      y0 = localY(ev);
      area.setPointerCapture(ev.pointerId);
      live.setAttribute("y", String(y0));
      live.setAttribute("height", "0");
      live.setAttribute("visibility", "visible");
    });
    area.addEventListener("pointermove", (ev) => {
      if (!dragging) return;
      const y = localY(ev);
      live.setAttribute("y", String(Math.min(y0, y)));
      live.setAttribute("height", String(Math.abs(y - y0)));
    });
    const end = (ev: PointerEvent, apply: boolean) => {
      if (!dragging) return;
      dragging = false;
      this.brushing = false;
      const y1 = localY(ev);
      const key = ax.col.key;
      if (apply) {
        if (Math.abs(y1 - y0) < 3) {
          this.excluded.delete(key);
          this.ranges.delete(key);
        } else {
          const got = ax.brushed(Math.min(y0, y1), Math.max(y0, y1));
          if (got instanceof Set) {
            this.excluded.set(key, new Set((ax.categories ?? []).map((c) => c.key).filter((k) => !got.has(k))));
          } else if (got) {
            this.ranges.set(key, got);
          }
        }
        this.syncFilterInputs();
      }
      this.render();
    };
    area.addEventListener("pointerup", (ev) => end(ev, true));
    area.addEventListener("pointercancel", (ev) => end(ev, false));
  }

  private showTooltip(s: HParamsSession, x: number, y: number): void {
    const name = this.nameOf(s);
    const run = this.runOf(s);
    const rows = this.columns.map((c) => {
      const v = c.get(s);
      return h("tr", {}, h("th", { text: c.label }), h("td", { class: typeof v === "number" ? "num" : null, text: v === null ? "missing" : fmtCell(v) }));
    });
    rows.push(h("tr", {}, h("th", { text: "Status" }), h("td", { text: STATUSES.has(s.status) ? s.status : "unknown" })));
    this.tooltip.replaceChildren(
      h("div", { class: "hp-tt-run" }, h("span", { class: "chip", style: `background:${run ? this.app.colorOf(run) : "#9e9e9e"}`, "aria-hidden": "true" }), h("span", { text: name })),
      h("table", { class: "tt" }, h("tbody", {}, rows)),
    );
    this.tooltip.dataset.run = name;
    this.tooltip.hidden = false;
    const tw = this.tooltip.offsetWidth;
    const th = this.tooltip.offsetHeight;
    let left = x + 16;
    if (left + tw > window.innerWidth - 8) left = x - tw - 16;
    let topPx = y + 12;
    if (topPx + th > window.innerHeight - 8) topPx = Math.max(8, y - th - 12);
    this.tooltip.style.left = `${Math.max(8, left)}px`;
    this.tooltip.style.top = `${topPx}px`;
  }
}
