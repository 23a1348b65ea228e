// The dashboard frame: tabs, run selector, tag filter, view state (URL + saved dashboard), live
// updates. Panels plug in through the Panel interface and read everything through the context.

import { Api, ApiError, type Config, type KindName, type RunInfo } from "./api";
import { colorFor } from "./colors";
import {
  REASONS,
  prefsToState,
  stateToPrefs,
  toRunInfos,
  unavailable,
  type SharedRun,
  type SharedView,
} from "./comparison";
import { Live, type LiveStatus, type UpdateMsg } from "./live";
import { compareTagNames } from "./sort";
import {
  DEFAULTS,
  PANELS,
  fromPrefs,
  fromUrl,
  toPrefs,
  toUrl,
  type PanelId,
  type ViewState,
} from "./state";
import { clear, compileFilter, debounce, h } from "./util";

/** Runs selected by default when a project has at most this many (TensorBoard: 40 / 500). */
export const DEFAULT_SELECTION_LIMIT = 200;
const RUN_LIST_RENDER_CAP = 2000;
/** Panels whose tab depends on their own endpoint: created at boot to watch it (Panel.watch). */
const WATCHED_PANELS: PanelId[] = ["hparams"];

export interface Panel {
  id: PanelId;
  /** Builds the panel's DOM once, the first time it is shown. */
  mount(view: HTMLElement, controls: HTMLElement): void;
  /** Re-renders after a change of runs, selection, filter or settings. */
  refresh(changed: Set<string>): void;
  /** A change notice for the project (called for every panel that was mounted). */
  onUpdate(msg: UpdateMsg): void;
  /** After a websocket (re)connection: refetch what is shown of the runs that changed. */
  catchUp(changed: Set<number>): void;
  show(): void;
  hide(): void;
  /** Optional: a panel whose activity only its own endpoint knows (HPARAMS) is created at boot,
   * before it is ever shown, and reports through `App.setPanelActive`; it then also gets every
   * change notice and catch-up, mounted or not. */
  watch?(): void;
}

export type PanelFactory = (ctx: App) => Panel;

export class App {
  api: Api;
  state: ViewState = { ...DEFAULTS };
  runs: RunInfo[] = [];
  runById = new Map<number, RunInfo>();
  private colorIndex = new Map<number, number>();
  private panels = new Map<PanelId, Panel>();
  private mounted = new Set<PanelId>();
  private views = new Map<PanelId, HTMLElement>();
  private controlBoxes = new Map<PanelId, HTMLElement>();
  private tabs = new Map<PanelId, HTMLButtonElement>();
  /** Activity reported by watching panels (see Panel.watch). */
  private reportedActive = new Map<PanelId, boolean>();
  private inactiveBox!: HTMLElement;
  private activeTabs!: HTMLElement;
  private liveEl!: HTMLElement;
  private runListEl!: HTMLElement;
  private runCountEl!: HTMLElement;
  private runFilterErr!: HTMLElement;
  private tagFilterErr!: HTMLElement;
  private tagFilterInput!: HTMLInputElement;
  private runFilterInput!: HTMLInputElement;
  private messageEl!: HTMLElement;
  private unavailableEl!: HTMLElement;
  private saveViewBtn: HTMLButtonElement | null = null;
  /** Comparison mode (issue #5): the comparison's runs and saved state as the hub sent them. */
  comparisonView: SharedView | null = null;
  private initialVersion: string | undefined;
  live: Live;
  private booted = false;
  private pendingCatchUp = false;
  private savePrefs: () => void;
  private writeUrl: () => void;
  private refreshRunsSoon: () => void;

  constructor(
    public cfg: Config,
    private factories: Partial<Record<PanelId, PanelFactory>>,
  ) {
    this.api = new Api(cfg.api);
    this.comparisonView = cfg.comparison?.view ?? null;
    this.initialVersion = cfg.comparison ? cfg.comparison.view.version : cfg.initial?.version;
    this.live = new Live(
      cfg.ws,
      (m) => this.onUpdate(m),
      (s) => this.setLive(s),
      (first, version) => {
        // Notices sent before the subscription are lost: fetch what changed since the page's data
        // was read, unless the hub says nothing did (the data version the page embeds).
        if (first && version && version === this.initialVersion) return;
        if (this.booted) void this.catchUp();
        else this.pendingCatchUp = true;
      },
      (msg) => {
        // The owner changed the comparison (runs, aliases, state): reload its runs.
        if (msg.type === "comparison.changed" && this.booted) void this.catchUp();
      },
    );
    this.savePrefs = debounce(() => {
      if (this.cfg.comparison) {
        // A comparison's view is saved on request (the owner's "Save view"), never per change.
        if (this.saveViewBtn) this.saveViewBtn.disabled = false;
        return;
      }
      this.api.put("prefs", toPrefs(this.state)).catch(() => {
        /* best effort: the URL still holds the view */
      });
    }, 800);
    this.writeUrl = debounce(() => {
      const url = location.pathname + toUrl(this.state) + location.hash;
      if (url !== location.pathname + location.search + location.hash) history.replaceState(null, "", url);
    }, 150);
    this.refreshRunsSoon = debounce(() => void this.reloadRuns(), 300);
  }

  // ---- boot --------------------------------------------------------------------------------

  async start(): Promise<void> {
    const root = document.getElementById("app")!;
    this.build(root);
    this.live.start(); // subscribe first, then read: nothing committed in between is missed
    // The page embeds the runs and the saved dashboard; fetch them only if it did not.
    const initial = this.cfg.comparison
      ? { version: this.cfg.comparison.view.version, runs: toRunInfos(this.cfg.comparison.view), prefs: stateToPrefs(this.cfg.comparison.view) }
      : this.cfg.initial;
    const [prefs, runs] = await Promise.all([
      initial
        ? { prefs: initial.prefs }
        : this.api.get<{ prefs: Record<string, unknown> }>("prefs").catch(() => ({ prefs: {} })),
      initial
        ? { runs: initial.runs }
        : this.api.get<{ runs: RunInfo[] }>("runs").catch((e: unknown) => {
            this.message(e instanceof ApiError ? e.message : "The hub did not answer.", true);
            return { runs: [] as RunInfo[] };
          }),
    ]);
    const saved: Record<string, unknown> = prefs.prefs ?? {};
    const savedPanel = this.cfg.comparison && typeof saved.panel === "string" ? fromUrl(`panel=${encodeURIComponent(saved.panel)}`) : {};
    this.state = { ...DEFAULTS, ...fromPrefs(saved), ...savedPanel, ...fromUrl(location.search) };
    this.setRuns(runs.runs);
    this.renderUnavailable();
    this.tagFilterInput.value = this.state.tagFilter;
    this.runFilterInput.value = this.state.runFilter;
    this.checkFilters();
    this.renderTabs();
    this.renderRunList();
    this.selectPanel(this.state.panel, false);
    root.setAttribute("aria-busy", "false");
    this.booted = true;
    for (const id of WATCHED_PANELS) this.panelObject(id)?.watch?.();
    if (this.pendingCatchUp) void this.catchUp();
    window.addEventListener("popstate", () => {
      this.state = { ...this.state, ...fromUrl(location.search) };
      this.afterChange(new Set(["all"]));
    });
    (window as unknown as { tbhub: unknown }).tbhub = { app: this };
  }

  private build(root: HTMLElement): void {
    clear(root);
    this.activeTabs = h("div", { class: "tabs", role: "tablist", "aria-label": "Dashboards" });
    this.inactiveBox = h("div", { class: "inactive-list", role: "group", "aria-label": "Inactive dashboards" });
    const inactive = h(
      "details",
      { class: "inactive" },
      h("summary", { text: "INACTIVE" }),
      this.inactiveBox,
    );
    this.liveEl = h("span", { class: "live live--connecting", role: "status", "aria-live": "polite", text: "connecting…" });
    const right = h("div", { class: "topbar-right" }, this.liveEl);
    const cmp = this.cfg.comparison;
    if (cmp?.owner) {
      this.saveViewBtn = h("button", { type: "button", class: "linkish save-view", title: "Save the current view (panel, filters, smoothing, axis, colours, …) with the comparison", text: "Save view" });
      this.saveViewBtn.disabled = true;
      this.saveViewBtn.addEventListener("click", () => void this.saveView());
      right.appendChild(this.saveViewBtn);
    }
    if (cmp?.manage) right.appendChild(h("a", { href: cmp.manage, class: "toplink share-link", text: "Share…" }));
    if (cmp?.list) right.appendChild(h("a", { href: cmp.list, class: "toplink", text: "Comparisons" }));
    if (this.cfg.user) right.appendChild(h("span", { class: "user", text: this.cfg.user }));
    if (this.cfg.home) right.appendChild(h("a", { href: this.cfg.home, class: "toplink", text: "Projects" }));
    if (this.cfg.logout) {
      const form = h("form", { method: "post", action: this.cfg.logout, class: "logout" });
      const csrf = h("input", { type: "hidden", name: "csrfmiddlewaretoken" });
      csrf.value = (document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/) ?? [])[1] ?? "";
      form.append(csrf, h("button", { type: "submit", class: "linkish", text: "Sign out" }));
      right.appendChild(form);
    }
    const topbar = h(
      "header",
      { class: "topbar" },
      h("a", { class: "brand", href: this.cfg.home ?? "/", text: "tbhub" }),
      cmp ? h("span", { class: "mode-badge", title: "A saved comparison of runs from one or several projects", text: "comparison" }) : null,
      h("span", { class: "project-name", title: this.cfg.project.slug, text: this.cfg.project.name }),
      h("nav", { class: "tabnav", "aria-label": "Dashboards" }, this.activeTabs, inactive),
      right,
    );

    // Sidebar: the active panel's settings, then the runs.
    const controls = h("div", { class: "panel-controls" });
    for (const p of PANELS) {
      const box = h("section", { class: "controls", "data-panel": p.id, hidden: true, "aria-label": `${p.label} settings` });
      this.controlBoxes.set(p.id, box);
      controls.appendChild(box);
    }
    this.runFilterInput = h("input", {
      type: "search",
      class: "filter",
      placeholder: "Filter runs (regex)",
      "aria-label": "Filter runs (regular expression)",
      spellcheck: "false",
    });
    this.runFilterInput.addEventListener("input", () => {
      this.state.runFilter = this.runFilterInput.value;
      this.checkFilters();
      this.renderRunList();
      this.afterChange(new Set(["runFilter", "runs"]));
    });
    this.runFilterErr = h("div", { class: "filter-error", role: "alert" });
    this.runCountEl = h("span", { class: "run-count" });
    const all = h("button", { type: "button", class: "small", text: "All" });
    const none = h("button", { type: "button", class: "small", text: "None" });
    all.addEventListener("click", () => this.selectAll(true));
    none.addEventListener("click", () => this.selectAll(false));
    this.runListEl = h("ul", { class: "run-list", "aria-label": "Runs" });
    this.unavailableEl = h("ul", { class: "run-list run-list--unavailable", "aria-label": "Runs not shown", hidden: true });
    const head = h("div", { class: "runs-head" }, h("h2", { text: "Runs" }), this.runCountEl, all, none);
    if (this.cfg.compare && !this.cfg.comparison) {
      const compare = h("button", { type: "button", class: "small compare-btn", title: "Save the selected runs (and this view) as a comparison, and add runs of other projects", text: "Compare…" });
      compare.addEventListener("click", () => this.compare());
      head.appendChild(compare);
    }
    const runsBox = h(
      "section",
      { class: "runs", "aria-label": "Runs" },
      head,
      this.runFilterInput,
      this.runFilterErr,
      this.runListEl,
      this.unavailableEl,
    );
    const sidebar = h("aside", { class: "sidebar" }, controls, runsBox);

    this.tagFilterInput = h("input", {
      type: "search",
      class: "filter tag-filter",
      placeholder: "Filter tags (regular expressions supported)",
      "aria-label": "Filter tags (regular expression, case-insensitive)",
      spellcheck: "false",
    });
    this.tagFilterInput.addEventListener(
      "input",
      debounce(() => {
        this.state.tagFilter = this.tagFilterInput.value;
        this.checkFilters();
        this.afterChange(new Set(["tagFilter"]));
      }, 120),
    );
    this.tagFilterErr = h("div", { class: "filter-error", role: "alert" });
    this.messageEl = h("div", { class: "message", role: "status", hidden: true });
    const main = h(
      "main",
      { class: "content", id: "content" },
      h("div", { class: "tagbar" }, this.tagFilterInput, this.tagFilterErr),
      this.messageEl,
    );
    for (const p of PANELS) {
      const view = h("section", {
        class: "panel-view",
        "data-panel": p.id,
        id: `panel-${p.id}`,
        role: "tabpanel",
        "aria-label": p.label,
        hidden: true,
      });
      this.views.set(p.id, view);
      main.appendChild(view);
    }
    root.append(topbar, h("div", { class: "body" }, sidebar, main));
  }

  // ---- runs ----------------------------------------------------------------------------------

  private setRuns(runs: RunInfo[]): void {
    this.runs = runs.filter((r) => !r.hidden);
    this.runById = new Map(this.runs.map((r) => [r.id, r]));
    if (this.comparisonView) {
      // A comparison's colours follow its order (every run's place, shown or not).
      this.colorIndex = new Map(this.comparisonView.runs.map((r, i) => [r.id, i]));
      return;
    }
    const byId = [...runs].sort((a, b) => a.id - b.id);
    this.colorIndex = new Map(byId.map((r, i) => [r.id, i]));
  }

  private async fetchRuns(): Promise<{ runs: RunInfo[] }> {
    if (!this.cfg.comparison) return this.api.get<{ runs: RunInfo[] }>("runs");
    const view = await this.api.get<SharedView>("");
    this.comparisonView = view;
    this.renderUnavailable();
    return { runs: toRunInfos(view) };
  }

  /** Comparison mode: the runs that are listed but not shown, with the reason. */
  private renderUnavailable(): void {
    const list: SharedRun[] = this.comparisonView ? unavailable(this.comparisonView) : [];
    clear(this.unavailableEl);
    this.unavailableEl.hidden = list.length === 0;
    for (const r of list) {
      const why = REASONS[r.reason ?? "missing"] ?? String(r.reason);
      this.unavailableEl.appendChild(
        h(
          "li",
          { class: "run run--unavailable", "data-run-id": String(r.id), "data-reason": r.reason ?? "missing", title: `${r.project}/${r.name}: ${why}` },
          h("span", { class: "run-name", text: r.display_name }),
          h("span", { class: "run-reason", text: ` — ${r.reason ?? "missing"}` }),
        ),
      );
    }
  }

  /** Owner of a comparison: save the current view with it. */
  private async saveView(): Promise<void> {
    const view = this.comparisonView;
    if (!view || !this.saveViewBtn) return;
    const doc = prefsToState({ ...toPrefs(this.state), panel: this.state.panel }, view);
    this.saveViewBtn.disabled = true;
    try {
      const res = await this.api.patch<SharedView>("", { state: doc });
      this.comparisonView = { ...view, state: res.state };
      this.message("View saved with the comparison.");
      window.setTimeout(() => this.message(""), 2500);
    } catch (e) {
      this.saveViewBtn.disabled = false;
      this.message(e instanceof ApiError ? e.message : "The view could not be saved.", true);
    }
  }

  /** Project dashboard: open the comparison picker with the selected runs and this view. */
  private compare(): void {
    if (!this.cfg.compare) return;
    const sel = this.selectedRuns();
    const prefs = toPrefs(this.state);
    const colors: Record<string, string> = {};
    for (const r of sel) {
      const c = this.state.runColors[r.name];
      if (c) colors[String(r.id)] = c;
    }
    const state = { ...prefs, panel: this.state.panel, run_colors: colors, selected_runs: null, run_filter: "" };
    const q = new URLSearchParams({
      runs: sel.map((r) => r.id).join(","),
      title: this.cfg.project.name,
      state: JSON.stringify(state),
    });
    location.assign(`${this.cfg.compare}?${q.toString()}`);
  }

  async reloadRuns(): Promise<void> {
    try {
      const res = await this.fetchRuns();
      const before = new Set(this.runs.map((r) => `${r.id}:${JSON.stringify(r.tags)}:${r.graph}`));
      this.setRuns(res.runs);
      const after = new Set(this.runs.map((r) => `${r.id}:${JSON.stringify(r.tags)}:${r.graph}`));
      const changed = before.size !== after.size || [...after].some((k) => !before.has(k));
      if (changed) {
        this.renderTabs();
        this.renderRunList();
        this.afterChange(new Set(["runsList"]), false);
      }
    } catch {
      /* a later notice or reconnect retries */
    }
  }

  colorOf(run: RunInfo): string {
    return this.state.runColors[run.name] ?? colorFor(this.colorIndex.get(run.id) ?? 0);
  }

  runFilterRe(): RegExp | null {
    return compileFilter(this.state.runFilter).re;
  }

  tagFilterRe(): { re: RegExp | null; error: string | null } {
    return compileFilter(this.state.tagFilter);
  }

  /** Runs passing the run filter, in the hub's order (start time, then name). */
  visibleRuns(): RunInfo[] {
    const { re, error } = compileFilter(this.state.runFilter);
    if (error) return [];
    return re ? this.runs.filter((r) => re.test(r.name)) : this.runs;
  }

  selectedRuns(): RunInfo[] {
    const vis = this.visibleRuns();
    if (this.state.runs === null) return vis.slice(0, DEFAULT_SELECTION_LIMIT);
    const sel = new Set(this.state.runs);
    return vis.filter((r) => sel.has(r.name));
  }

  isSelected(run: RunInfo): boolean {
    if (this.state.runs === null) {
      const vis = this.visibleRuns();
      const i = vis.indexOf(run);
      return i >= 0 && i < DEFAULT_SELECTION_LIMIT;
    }
    return this.state.runs.includes(run.name);
  }

  /** The selection as a list of names. The default one (`state.runs` null) is what is checked
   * now plus what is checked without the run filter: a change made through a filter (All, None,
   * one checkbox) must not drop the runs the filter hides. */
  private explicitSelection(): string[] {
    if (this.state.runs !== null) return this.state.runs;
    const names = new Set(this.runs.slice(0, DEFAULT_SELECTION_LIMIT).map((r) => r.name));
    for (const r of this.selectedRuns()) names.add(r.name);
    return this.runs.filter((r) => names.has(r.name)).map((r) => r.name);
  }

  private selectAll(on: boolean): void {
    if (on) {
      const vis = this.visibleRuns();
      this.state.runs = this.state.runFilter ? [...new Set([...this.explicitSelection(), ...vis.map((r) => r.name)])] : null;
      if (!this.state.runFilter && vis.length > DEFAULT_SELECTION_LIMIT) this.state.runs = vis.map((r) => r.name);
    } else {
      const vis = new Set(this.visibleRuns().map((r) => r.name));
      this.state.runs = this.explicitSelection().filter((n) => !vis.has(n));
    }
    this.renderRunList();
    this.afterChange(new Set(["runs"]));
  }

  /** Selects or deselects one run, as its checkbox in the run list does (used by HPARAMS). */
  setRunSelected(run: RunInfo, on: boolean): void {
    this.toggleRun(run, on);
    this.renderRunList();
  }

  private toggleRun(run: RunInfo, on: boolean): void {
    const cur = new Set(this.explicitSelection());
    if (on) cur.add(run.name);
    else cur.delete(run.name);
    this.state.runs = [...cur];
    this.updateRunCount();
    this.afterChange(new Set(["runs"]));
  }

  private updateRunCount(): void {
    const sel = this.selectedRuns().length;
    this.runCountEl.textContent = `${sel} of ${this.runs.length}`;
  }

  private renderRunList(): void {
    clear(this.runListEl);
    const vis = this.visibleRuns();
    const frag = document.createDocumentFragment();
    for (const run of vis.slice(0, RUN_LIST_RENDER_CAP)) {
      const id = `run-cb-${run.id}`;
      const cb = h("input", { type: "checkbox", id, class: "run-cb", "data-run": run.name });
      cb.checked = this.isSelected(run);
      cb.addEventListener("change", () => this.toggleRun(run, cb.checked));
      const color = this.colorOf(run);
      const picker = h("input", { type: "color", class: "color-picker", "aria-label": `Colour of run ${run.name}`, tabindex: "-1" });
      picker.value = color.startsWith("#") ? color : "#000000";
      const chip = h("button", {
        type: "button",
        class: "chip",
        title: "Change colour",
        "aria-label": `Change the colour of run ${run.name}`,
        style: `background:${color}`,
      });
      chip.addEventListener("click", () => picker.click());
      picker.addEventListener("input", () => {
        chip.style.background = picker.value;
      });
      picker.addEventListener("change", () => {
        this.state.runColors = { ...this.state.runColors, [run.name]: picker.value };
        this.afterChange(new Set(["colors"]));
      });
      const full = run.project ? `${run.project}/${run.runName ?? run.name}` : run.name;
      const label = h("label", { for: id, class: "run-name", title: full, text: run.name });
      const li = h("li", { class: "run", "data-run-id": String(run.id) }, cb, chip, picker, label);
      if (run.status && (run.status as { error?: string }).error) {
        li.appendChild(h("span", { class: "run-warn", title: String((run.status as { error?: string }).error), text: "!" }));
      }
      frag.appendChild(li);
    }
    if (vis.length > RUN_LIST_RENDER_CAP) {
      frag.appendChild(h("li", { class: "more", text: `… ${vis.length - RUN_LIST_RENDER_CAP} more: narrow the filter` }));
    }
    if (!vis.length) {
      frag.appendChild(h("li", { class: "more", text: this.runs.length ? "No run matches the filter." : "No runs yet: waiting for event files." }));
    }
    this.runListEl.appendChild(frag);
    this.updateRunCount();
  }

  private checkFilters(): void {
    const r = compileFilter(this.state.runFilter);
    this.runFilterErr.textContent = r.error ? `Invalid regex: ${r.error}` : "";
    this.runFilterInput.classList.toggle("invalid", !!r.error);
    this.runFilterInput.setAttribute("aria-invalid", r.error ? "true" : "false");
    const t = compileFilter(this.state.tagFilter);
    this.tagFilterErr.textContent = t.error ? `Invalid regex: ${t.error}` : "";
    this.tagFilterInput.classList.toggle("invalid", !!t.error);
    this.tagFilterInput.setAttribute("aria-invalid", t.error ? "true" : "false");
  }

  // ---- tags ----------------------------------------------------------------------------------

  /** Tags of `kind` over the selected runs, passing the tag filter, asciinumerically sorted. */
  tagsFor(kind: KindName): string[] {
    const { re, error } = this.tagFilterRe();
    if (error) return [];
    const set = new Set<string>();
    for (const r of this.selectedRuns()) for (const t of r.tags[kind] ?? []) if (!re || re.test(t)) set.add(t);
    return [...set].sort(compareTagNames);
  }

  /** `tags` (pinned ones, say) that some selected run has for `kind`, whatever the tag filter. */
  tagsPresent(kind: KindName, tags: string[]): string[] {
    if (!tags.length) return [];
    const set = new Set<string>();
    for (const r of this.selectedRuns()) for (const t of r.tags[kind] ?? []) set.add(t);
    return tags.filter((t) => set.has(t));
  }

  // ---- tabs ----------------------------------------------------------------------------------

  panelActive(id: PanelId): boolean {
    const any = (k: KindName) => this.runs.some((r) => (r.tags[k] ?? []).length > 0);
    switch (id) {
      case "scalars":
        return any("scalars");
      case "images":
        return any("images");
      case "graphs":
        return this.runs.some((r) => r.graph);
      case "distributions":
      case "histograms":
        return any("histograms");
      case "text":
        return any("text");
      case "hparams":
        return this.reportedActive.get(id) ?? false;
    }
  }

  /** A watching panel found (or lost) its data: move its tab between the tabs and INACTIVE. */
  setPanelActive(id: PanelId, on: boolean): void {
    if ((this.reportedActive.get(id) ?? false) === on) return;
    this.reportedActive.set(id, on);
    if (this.booted) this.renderTabs();
  }

  private renderTabs(): void {
    const active: HTMLButtonElement[] = [];
    const inactive: HTMLButtonElement[] = [];
    for (const p of PANELS) {
      let tab = this.tabs.get(p.id);
      if (!tab) {
        tab = h("button", {
          type: "button",
          role: "tab",
          class: "tab",
          id: `tab-${p.id}`,
          "data-panel": p.id,
          "aria-controls": `panel-${p.id}`,
          text: p.label,
        });
        tab.addEventListener("click", () => this.selectPanel(p.id));
        tab.addEventListener("keydown", (ev) => this.tabKey(ev, p.id));
        this.tabs.set(p.id, tab);
      }
      const on = this.panelActive(p.id);
      tab.classList.toggle("tab--inactive", !on);
      tab.dataset.active = on ? "1" : "0";
      (on || p.id === this.state.panel ? active : inactive).push(tab);
    }
    // Move tabs only when their place changes, so that keyboard focus is kept.
    const same = (box: HTMLElement, list: HTMLElement[]) =>
      box.children.length === list.length && list.every((t, i) => box.children[i] === t);
    if (!same(this.activeTabs, active)) this.activeTabs.replaceChildren(...active);
    if (!same(this.inactiveBox, inactive)) this.inactiveBox.replaceChildren(...inactive);
    (this.inactiveBox.parentElement as HTMLElement).hidden = inactive.length === 0;
    this.syncTabs();
  }

  private tabKey(ev: KeyboardEvent, id: PanelId): void {
    const order = [...this.activeTabs.querySelectorAll<HTMLButtonElement>("[role=tab]")];
    const i = order.findIndex((t) => t.dataset.panel === id);
    let next = -1;
    if (ev.key === "ArrowRight") next = (i + 1) % order.length;
    else if (ev.key === "ArrowLeft") next = (i - 1 + order.length) % order.length;
    else if (ev.key === "Home") next = 0;
    else if (ev.key === "End") next = order.length - 1;
    if (next >= 0 && order[next]) {
      ev.preventDefault();
      order[next].focus();
      this.selectPanel(order[next].dataset.panel as PanelId);
    }
  }

  private syncTabs(): void {
    for (const [id, tab] of this.tabs) {
      const sel = id === this.state.panel;
      tab.setAttribute("aria-selected", sel ? "true" : "false");
      tab.tabIndex = sel ? 0 : -1;
      tab.classList.toggle("tab--selected", sel);
    }
  }

  selectPanel(id: PanelId, record = true): void {
    const prev = this.state.panel;
    this.state.panel = id;
    document.getElementById("app")?.setAttribute("data-panel", id);
    for (const [pid, view] of this.views) {
      view.hidden = pid !== id;
      this.controlBoxes.get(pid)!.hidden = pid !== id;
    }
    if (prev !== id) this.panels.get(prev)?.hide();
    const panel = this.ensurePanel(id);
    this.renderTabs();
    panel?.show();
    if (!panel) this.views.get(id)!.replaceChildren(h("p", { class: "empty", text: "This dashboard is not available." }));
    (this.inactiveBox.parentElement as HTMLDetailsElement).open = false;
    if (record) this.afterChange(new Set(["panel"]));
  }

  /** The panel's object, created (not mounted) on first use. */
  private panelObject(id: PanelId): Panel | undefined {
    let panel = this.panels.get(id);
    if (!panel) {
      const f = this.factories[id];
      if (!f) return undefined;
      panel = f(this);
      this.panels.set(id, panel);
    }
    return panel;
  }

  private ensurePanel(id: PanelId): Panel | undefined {
    const panel = this.panelObject(id);
    if (!panel) return undefined;
    if (!this.mounted.has(id)) {
      this.mounted.add(id);
      panel.mount(this.views.get(id)!, this.controlBoxes.get(id)!);
    }
    return panel;
  }

  // ---- state changes -------------------------------------------------------------------------

  /** Panels call this after changing `state`; it re-renders, writes the URL and saves prefs. */
  afterChange(changed: Set<string>, persist = true): void {
    this.writeUrl();
    if (persist) this.savePrefs();
    if (changed.has("colors") || changed.has("all")) this.renderRunList();
    if (changed.has("all")) {
      this.tagFilterInput.value = this.state.tagFilter;
      this.runFilterInput.value = this.state.runFilter;
      this.checkFilters();
      this.selectPanel(this.state.panel, false);
    }
    for (const id of this.mounted) this.panels.get(id)?.refresh(changed);
  }

  set<K extends keyof ViewState>(key: K, value: ViewState[K]): void {
    this.state[key] = value;
    this.afterChange(new Set([key]));
  }

  message(text: string, error = false): void {
    this.messageEl.textContent = text;
    this.messageEl.hidden = !text;
    this.messageEl.classList.toggle("message--error", error);
  }

  // ---- live ----------------------------------------------------------------------------------

  private setLive(s: LiveStatus): void {
    const labels: Record<LiveStatus, string> = {
      connecting: "connecting…",
      live: "live",
      reconnecting: "reconnecting…",
      offline: "offline",
    };
    this.liveEl.textContent = labels[s];
    this.liveEl.className = `live live--${s}`;
    this.liveEl.title =
      s === "live" ? "New data appears as it is written" : "Live updates paused; the page catches up when the connection returns";
  }

  private onUpdate(msg: UpdateMsg): void {
    const run = this.runById.get(msg.run_id);
    if (!run || msg.new_run || msg.new_tags || msg.purged || (msg.graph && !run.graph)) {
      this.refreshRunsSoon();
    } else {
      run.last_step = msg.last_step;
      for (const [k, tags] of Object.entries(msg.kinds)) {
        const kind = k as KindName;
        if (!tags || !(kind in run.tags)) continue;
        const have = new Set(run.tags[kind]);
        if (tags.some((t) => !have.has(t))) this.refreshRunsSoon();
      }
    }
    for (const panel of this.panels.values()) panel.onUpdate(msg);
  }

  private async catchUp(): Promise<void> {
    const sig = (r: RunInfo) => `${r.last_step}|${r.last_update}|${JSON.stringify(r.tags)}`;
    const before = new Map(this.runs.map((r) => [r.id, sig(r)]));
    await this.reloadRuns();
    const changed = new Set(this.runs.filter((r) => before.get(r.id) !== sig(r)).map((r) => r.id));
    if (!changed.size) return;
    for (const panel of this.panels.values()) panel.catchUp(changed);
  }
}
