// GRAPHS: the run's graph as TensorBoard draws it — metanodes by name scope (double-click or "+"
// to expand), series of numbered ops, auxiliary nodes beside the main graph (right-click to move
// a node in or out), edges with tensor shapes, zoom/pan/fit, PNG download, a node info card,
// search, trace inputs, run and session-run selectors, colour by structure / device / compute
// time / memory with a legend. Rendered as SVG with the node names as text in the DOM.

import type { App, Panel } from "../app";
import { ApiError } from "../api";
import type { UpdateMsg } from "../live";
import { collapsedSize, displayLabel, HEADER, layoutGroup, type Box, type GroupLayout } from "../graph/layout";
import {
  applyDeviceSelection,
  buildHierarchy,
  chain,
  shapeText,
  traceInputs,
  ROOT,
  type GraphPayload,
  type Group,
  type Hierarchy,
  type Node,
  type Op,
} from "../graph/model";
import { clear, fmtBytes, fmtMicros, h, svg } from "../util";
import { checkbox, field, radioGroup, setRadio } from "./cards";

type ColorBy = "structure" | "device" | "compute" | "memory";
type Rect = { x: number; y: number; w: number; h: number };

const HUES = [220, 100, 180, 40, 20, 340, 260, 300, 140, 60];
/** TensorBoard's MetanodeColors.STRUCTURE_PALETTE. */
export function structColor(id: number, lightened = false): string {
  const hue = HUES[id % HUES.length];
  const m = Math.sin((hue * Math.PI) / 360);
  const sat = lightened ? 30 : 90 - 60 * m;
  const light = lightened ? 95 : 80;
  return `hsl(${hue}, ${sat.toFixed(1)}%, ${light}%)`;
}
const GRAD = ["#fff5f0", "#fb6a4a"];
function gradient(t: number): string {
  const a = [0xff, 0xf5, 0xf0];
  const b = [0xfb, 0x6a, 0x4a];
  const c = a.map((v, i) => Math.round(v + (b[i] - v) * Math.min(1, Math.max(0, t))));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

interface GraphInfo {
  runs: {
    run: string;
    run_id: number;
    run_graph: boolean;
    node_count: number | null;
    tags: { tag: string; profile: boolean; op_graph: boolean; conceptual_graph: boolean; step: number }[];
  }[];
}

export class GraphsPanel implements Panel {
  id = "graphs" as const;
  private view!: HTMLElement;
  private svgEl!: SVGSVGElement;
  private scene!: SVGGElement;
  private stage!: HTMLElement;
  private infoCard!: HTMLElement;
  private statusEl!: HTMLElement;
  private legendEl!: HTMLElement;
  private runSelect!: HTMLSelectElement;
  private tagSelect!: HTMLSelectElement;
  private colorBox!: HTMLElement;
  private searchInput!: HTMLInputElement;
  private searchResults!: HTMLElement;
  private menu!: HTMLElement;
  private traceBox!: HTMLElement;
  private extractBox!: HTMLElement;
  private devicesBox!: HTMLElement;
  private visible = false;
  private hier: Hierarchy | null = null;
  private payload: GraphPayload | null = null;
  private layout: GroupLayout | null = null;
  private expanded = new Set<string>();
  private placement = new Map<string, "main" | "aux">();
  private extractHighDegree = true;
  private trace = false;
  private selected: Node | null = null;
  private k = 1;
  private tx = 0;
  private ty = 0;
  private loadedKey = "";
  private loading: Promise<void> | null = null;
  private scales = { compute: [0, 1] as [number, number], memory: [0, 1] as [number, number] };
  private deviceColor = new Map<string, string>();
  private nodeEls = new Map<string, SVGGElement>();
  private labelRects: Rect[] = []; // edge labels placed by the current draw
  timings: Record<string, number> = {};

  constructor(private app: App) {}

  mount(view: HTMLElement, controls: HTMLElement): void {
    this.view = view;
    const st = this.app.state;
    this.runSelect = h("select", { id: "graph-run", "aria-label": "Run" });
    this.runSelect.addEventListener("change", () => {
      this.app.state.graphRun = this.runSelect.value;
      this.app.state.graphTag = "";
      this.app.state.graphNode = "";
      this.app.state.graphExpanded = [];
      this.app.afterChange(new Set(["graphRun"]));
      void this.load();
    });
    this.tagSelect = h("select", { id: "graph-tag", "aria-label": "Session run (tag)" });
    this.tagSelect.addEventListener("change", () => {
      this.app.state.graphTag = this.tagSelect.value;
      this.app.afterChange(new Set(["graphTag"]));
      void this.load();
    });
    this.colorBox = radioGroup<ColorBy>(
      "graph-color",
      "Color by",
      [
        ["structure", "Structure"],
        ["device", "Device"],
        ["compute", "Compute time"],
        ["memory", "Memory"],
      ],
      st.graphColor,
      (v) => {
        this.app.set("graphColor", v);
      },
    );
    this.legendEl = h("div", { class: "graph-legend", "aria-label": "Colour legend" });
    this.devicesBox = h("fieldset", { class: "devices", hidden: true });
    this.traceBox = checkbox("trace-inputs", "Trace inputs", false, (v) => {
      this.trace = v;
      this.paintHighlight();
    });
    this.extractBox = checkbox("extract-high-degree", "Extract high-degree nodes to the side", true, (v) => {
      this.extractHighDegree = v;
      this.relayout(false);
    });
    const fit = h("button", { type: "button", class: "small", text: "Fit to screen" });
    fit.addEventListener("click", () => this.fit());
    const png = h("button", { type: "button", class: "small", text: "Download PNG" });
    png.addEventListener("click", () => void this.downloadPng());
    const collapseAll = h("button", { type: "button", class: "small", text: "Collapse all" });
    collapseAll.addEventListener("click", () => {
      this.expanded.clear();
      this.saveExpanded();
      this.relayout(true);
    });
    this.searchInput = h("input", { type: "search", class: "filter", placeholder: "Search nodes (regex)", "aria-label": "Search a node by name", spellcheck: "false" });
    this.searchResults = h("ul", { class: "search-results", "aria-label": "Matching nodes" });
    this.searchInput.addEventListener("input", () => this.search());
    this.searchInput.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        const first = this.searchResults.querySelector("button");
        if (first) (first as HTMLButtonElement).click();
      }
    });
    controls.append(
      h("h2", { text: "Graphs" }),
      field("Run", this.runSelect),
      field("Session run", this.tagSelect, "Steps traced with timings and memory; pick one to colour nodes by compute time or memory."),
      this.searchInput,
      this.searchResults,
      h("div", { class: "button-row" }, fit, png, collapseAll),
      this.traceBox,
      this.extractBox,
      this.colorBox,
      this.legendEl,
      this.devicesBox,
    );

    this.svgEl = svg("svg", { class: "graph-svg", role: "group", "aria-label": "Graph", tabindex: "0" });
    this.scene = svg("g", { class: "scene" });
    this.svgEl.appendChild(
      svg(
        "defs",
        {},
        svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#999" })),
        svg("marker", { id: "arrow-hl", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", markerUnits: "userSpaceOnUse", orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#f57c00" })),
      ),
    );
    this.svgEl.appendChild(this.scene);
    this.statusEl = h("div", { class: "graph-status", role: "status" });
    this.infoCard = h("aside", { class: "info-card", hidden: true, "aria-label": "Node information" });
    this.menu = h("div", { class: "context-menu", hidden: true, role: "menu" });
    this.stage = h("div", { class: "graph-stage" }, this.svgEl, this.statusEl, this.infoCard, this.menu);
    view.appendChild(this.stage);
    this.bindPanZoom();
    document.addEventListener("click", () => (this.menu.hidden = true));
  }

  // ---- loading ---------------------------------------------------------------------------

  private graphRuns() {
    return this.app.runs.filter((r) => r.graph);
  }

  private async load(): Promise<void> {
    const runs = this.graphRuns();
    clear(this.runSelect);
    for (const r of runs) this.runSelect.appendChild(h("option", { value: r.name, text: r.name }));
    if (!runs.length) {
      this.showStatus("No graph in this project yet: a run shows one when it writes a GraphDef (add_graph, tf.summary.trace_export, or a TF1 FileWriter with a graph).");
      clear(this.scene);
      return;
    }
    let run = runs.find((r) => r.name === this.app.state.graphRun) ?? runs[0];
    if (!runs.includes(run)) run = runs[0];
    this.runSelect.value = run.name;
    // The graph and the run's session runs are fetched together: the graph does not wait.
    const wanted = this.app.state.graphTag;
    if (`${run.id}|${wanted}` === this.loadedKey && this.hier) return;
    const t0 = performance.now();
    const fetchGraph = (tag: string) =>
      this.app.api.get<GraphPayload>("graphs", { run_id: run.id, tag: tag || undefined });
    let graphP: Promise<GraphPayload> | null = fetchGraph(wanted);
    graphP.catch(() => undefined);
    let info: GraphInfo["runs"][number] | undefined;
    try {
      info = (await this.app.api.get<GraphInfo>("graphs/info", { run_id: run.id })).runs[0];
    } catch {
      info = undefined;
    }
    clear(this.tagSelect);
    if (info?.run_graph !== false) this.tagSelect.appendChild(h("option", { value: "", text: "(run graph)" }));
    for (const t of info?.tags ?? []) {
      const kinds = [t.profile ? "profile" : "", t.op_graph ? "op graph" : "", t.conceptual_graph ? "conceptual" : ""].filter(Boolean).join(", ");
      this.tagSelect.appendChild(h("option", { value: t.tag, text: `${t.tag} (${kinds})` }));
    }
    let tag = wanted;
    if (![...this.tagSelect.options].some((o) => o.value === tag)) tag = this.tagSelect.options[0]?.value ?? "";
    this.tagSelect.value = tag;
    this.tagSelect.disabled = this.tagSelect.options.length <= 1;
    const key = `${run.id}|${tag}`;
    if (key === this.loadedKey && this.hier) return;
    this.loadedKey = key;
    if (tag !== wanted) graphP = fetchGraph(tag);
    this.showStatus("Loading graph…");
    let payload: GraphPayload;
    try {
      payload = await graphP;
    } catch (e) {
      this.hier = null;
      clear(this.scene);
      this.showStatus(e instanceof ApiError ? e.message : "The graph could not be loaded.", true);
      this.view.dataset.error = e instanceof ApiError ? String(e.status) : "1";
      return;
    }
    delete this.view.dataset.error;
    const t1 = performance.now();
    this.payload = payload;
    this.hier = buildHierarchy(payload);
    const t2 = performance.now();
    this.expanded = new Set(this.app.state.graphExpanded.filter((n) => this.hier!.index.has(n)));
    this.selected = this.app.state.graphNode ? (this.hier.index.get(this.app.state.graphNode) ?? null) : null;
    this.renderDevices();
    this.computeScales();
    this.showStatus("");
    this.relayout(true);
    const t3 = performance.now();
    this.timings = { fetch: t1 - t0, build: t2 - t1, layoutRender: t3 - t2, total: t3 - t0 };
    this.view.dataset.timings = Object.entries(this.timings)
      .map(([k, v]) => `${k}=${Math.round(v)}`)
      .join(" ");
    this.view.dataset.loadedMs = String(Math.round(t3 - t0));
    if (this.selected) this.showInfo(this.selected);
    this.renderLegend();
  }

  private showStatus(text: string, error = false): void {
    this.statusEl.textContent = text;
    this.statusEl.hidden = !text;
    this.statusEl.classList.toggle("graph-status--error", error);
  }

  private computeScales(): void {
    const hier = this.hier!;
    this.deviceColor = new Map(hier.devices.map((d, i) => [d, structColor(i)]));
    const top = hier.root.children;
    const ts = top.map((c) => c.stats).filter((s) => s && s.timed && s.start !== null && s.end !== null).map((s) => s!.end! - s!.start!);
    const ms = top.map((c) => c.stats).filter(Boolean).map((s) => s!.bytes);
    this.scales.compute = ts.length ? [Math.min(...ts), Math.max(...ts)] : [0, 1];
    this.scales.memory = ms.length ? [Math.min(...ms), Math.max(...ms)] : [0, 1];
  }

  // ---- layout and drawing ----------------------------------------------------------------

  private relayout(fit: boolean): void {
    const hier = this.hier;
    if (!hier) return;
    const t0 = performance.now();
    this.layout = layoutGroup(hier.root, { expanded: this.expanded, placement: this.placement, extractHighDegree: this.extractHighDegree });
    const t1 = performance.now();
    this.draw();
    const t2 = performance.now();
    this.timings.layout = t1 - t0;
    this.timings.render = t2 - t1;
    if (fit) this.fit();
    else this.applyTransform();
  }

  private fill(n: Node, expanded: boolean): string {
    const by = this.app.state.graphColor;
    if (by === "structure") {
      if (n.kind === "meta") {
        if (n.name === ROOT) return "#fff";
        if (n.synthetic || n.template === null) return expanded ? "#f6f6f6" : "#eee";
        return structColor(n.template, expanded);
      }
      return expanded ? "#f0f0f0" : "#fff";
    }
    if (expanded) return "#f0f0f0";
    if (by === "device") {
      if (n.kind === "op") return n.device ? (this.deviceColor.get(n.device) ?? "#fff") : "#fff";
      const grp = n as Group;
      if (!grp.devices.size) return "#eee";
      let best = "";
      let bestN = -1;
      for (const [d, c] of grp.devices) if (c > bestN) [best, bestN] = [d, c];
      return this.deviceColor.get(best) ?? "#eee";
    }
    const s = n.stats;
    if (!s) return "#fff";
    const [lo, hi] = by === "compute" ? this.scales.compute : this.scales.memory;
    const v = by === "compute" ? (s.timed && s.start !== null && s.end !== null ? s.end - s.start : null) : s.bytes;
    if (v === null) return "#fff";
    return gradient(hi > lo ? (v - lo) / (hi - lo) : 1);
  }

  private draw(): void {
    clear(this.scene);
    this.nodeEls.clear();
    this.labelRects = [];
    const L = this.layout!;
    const edgesG = svg("g", { class: "edges" });
    const nodesG = svg("g", { class: "nodes" });
    this.scene.append(edgesG, nodesG);
    this.drawGroup(L, 0, 0, edgesG, nodesG);
    this.view.dataset.nodes = String(this.nodeEls.size);
    this.view.dataset.run = this.payload?.run ?? "";
    this.paintHighlight();
  }

  private drawGroup(L: GroupLayout, ox: number, oy: number, edgesG: SVGGElement, nodesG: SVGGElement): void {
    const maxCount = this.hier?.maxEdgeCount ?? 1;
    // Edge labels must not cover the group's nodes (an expanded group: its header).
    const obstacles: Rect[] = [...L.boxes, ...L.auxIn, ...L.auxOut].map((b) => ({
      x: b.x + ox - b.w / 2,
      y: b.y + oy - b.h / 2,
      w: b.w,
      h: b.expanded ? HEADER : b.h,
    }));
    for (const r of L.edges) {
      if (r.points.length < 2) continue;
      const pts = r.points.map((p) => `${(p.x + ox).toFixed(1)},${(p.y + oy).toFixed(1)}`);
      const n = r.edge.base.length;
      const width = 1 + (Math.log(n) / Math.log(Math.max(2, maxCount))) * 3;
      const path = svg("path", {
        d: `M${pts.join(" L")}`,
        fill: "none",
        stroke: "#aaa",
        "stroke-width": width.toFixed(2),
        "stroke-dasharray": r.edge.control ? "3,3" : null,
        "marker-end": "url(#arrow)",
        class: "edge",
        "data-from": r.edge.from.name,
        "data-to": r.edge.to.name,
      });
      edgesG.appendChild(path);
      const label = this.edgeLabel(r.edge.base);
      if (label) {
        const at = this.placeLabel(r.points, ox, oy, label, obstacles);
        if (at) edgesG.appendChild(svg("text", { x: at.x.toFixed(1), y: at.y.toFixed(1), class: "edge-label", "font-size": "9", fill: "#777", "font-family": "system-ui, sans-serif", text: label }));
        // No free spot beside the edge: the label would cover another one or a node; hover shows it.
        else path.appendChild(svg("title", { text: label }));
      }
    }
    for (const b of [...L.boxes, ...L.auxIn, ...L.auxOut]) this.drawBox(b, ox, oy, edgesG, nodesG);
    if (L.auxIn.length || L.auxOut.length) {
      for (const [list, side] of [
        [L.auxIn, "in"],
        [L.auxOut, "out"],
      ] as const) {
        if (!list.length) continue;
        const x0 = Math.min(...list.map((b) => b.x - b.w / 2)) - 6 + ox;
        const x1 = Math.max(...list.map((b) => b.x + b.w / 2)) + 6 + ox;
        const y0 = Math.min(...list.map((b) => b.y - b.h / 2)) - 6 + oy;
        const y1 = Math.max(...list.map((b) => b.y + b.h / 2)) + 6 + oy;
        nodesG.insertBefore(
          svg("rect", { x: x0, y: y0, width: x1 - x0, height: y1 - y0, rx: 4, fill: "none", stroke: "#ccc", "stroke-dasharray": "4,3", class: `aux-box aux-${side}` }),
          nodesG.firstChild,
        );
      }
    }
  }

  /**
   * Where to write an edge's label: beside the edge (right, then left) at its middle, then further
   * along it, at the first spot that covers no label already placed and no node. Null if none.
   */
  private placeLabel(points: { x: number; y: number }[], ox: number, oy: number, label: string, obstacles: Rect[]): { x: number; y: number } | null {
    const w = label.length * 4.9 + 2;
    const h = 10;
    const seg: number[] = [0];
    for (let i = 1; i < points.length; i++) seg.push(seg[i - 1] + Math.hypot(points[i].x - points[i - 1].x, points[i].y - points[i - 1].y));
    const total = seg[seg.length - 1];
    const at = (f: number): { x: number; y: number } => {
      const d = f * total;
      let i = 1;
      while (i < points.length - 1 && seg[i] < d) i++;
      const t = seg[i] > seg[i - 1] ? (d - seg[i - 1]) / (seg[i] - seg[i - 1]) : 0;
      return { x: points[i - 1].x + (points[i].x - points[i - 1].x) * t + ox, y: points[i - 1].y + (points[i].y - points[i - 1].y) * t + oy };
    };
    const hits = (r: Rect, o: Rect) => r.x < o.x + o.w + 1 && o.x < r.x + r.w + 1 && r.y < o.y + o.h + 1 && o.y < r.y + r.h + 1;
    for (const f of [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8]) {
      const p = at(f);
      for (const x of [p.x + 4, p.x - 4 - w]) {
        const r = { x, y: p.y - h / 2, w, h };
        if (this.labelRects.some((o) => hits(r, o)) || obstacles.some((o) => hits(r, o))) continue;
        this.labelRects.push(r);
        return { x, y: p.y + 3 }; // baseline: the text is centred on the edge's point
      }
    }
    return null;
  }

  private edgeLabel(base: { shape: number[] | null | undefined; control: boolean }[]): string {
    const data = base.filter((b) => !b.control);
    if (!data.length) return "";
    if (data.length === 1) return shapeText(data[0].shape);
    return `${data.length} tensors`;
  }

  private drawBox(b: Box, ox: number, oy: number, edgesG: SVGGElement, nodesG: SVGGElement): void {
    const n = b.node;
    const cx = b.x + ox;
    const cy = b.y + oy;
    const x = cx - b.w / 2;
    const y = cy - b.h / 2;
    const g = svg("g", {
      class: `node node--${n.kind}${b.expanded ? " node--expanded" : ""}${b.aux ? " node--aux" : ""}`,
      "data-name": n.name,
      "data-kind": n.kind,
      "data-expanded": b.expanded ? "1" : "0",
      tabindex: "0",
      role: "button",
      "aria-label": `${n.kind === "op" ? (n as Op).op + " " : n.kind === "series" ? "series " : "scope "}${n.name}`,
    });
    g.appendChild(svg("title", { text: n.name }));
    const fill = this.fill(n, b.expanded);
    const stroke = n.kind === "op" ? "#999" : "#888";
    if (b.expanded) {
      g.appendChild(svg("rect", { x, y, width: b.w, height: b.h, rx: 6, fill, stroke, "stroke-width": 1, class: "shape" }));
      g.appendChild(svg("text", { x: x + 26, y: y + HEADER / 2 + 4, "font-size": "12", "font-family": "system-ui, sans-serif", fill: "#333", class: "label", text: displayLabel(n) }));
      g.appendChild(this.toggleButton(n, x + 12, y + HEADER / 2, true));
      nodesG.appendChild(g);
      this.nodeEls.set(n.name, g);
      this.bindNode(g, n);
      // The group's content is drawn above its box: its own edge and node layers.
      const innerEdges = svg("g", { class: "edges" });
      const innerNodes = svg("g", { class: "nodes" });
      nodesG.append(innerEdges, innerNodes);
      this.drawGroup(b.layout!, x, y, innerEdges, innerNodes);
      return;
    }
    if (n.kind === "op") {
      g.appendChild(svg("ellipse", { cx, cy, rx: b.w / 2, ry: b.h / 2, fill, stroke, "stroke-width": 1, class: "shape" }));
      const op = n as Op;
      op.inEmb.slice(0, 5).forEach((_, i) => g.appendChild(svg("circle", { cx: x - 4 - i * 7, cy: cy + 6, r: 3, fill: "#fff", stroke: "#aaa", class: "embedding" })));
      op.outEmb.slice(0, 5).forEach((_, i) => g.appendChild(svg("rect", { x: x + b.w + 2 + i * 7, y: cy - 9, width: 5, height: 5, fill: "#fff", stroke: "#aaa", class: "embedding" })));
    } else if (n.kind === "series") {
      for (let i = 2; i >= 0; i--)
        g.appendChild(svg("rect", { x: x + i * 3, y: y + 4 - i * 3, width: b.w - 6, height: b.h - 6, rx: 8, fill, stroke, "stroke-width": 1, class: i === 0 ? "shape" : "" }));
    } else {
      g.appendChild(svg("rect", { x, y, width: b.w, height: b.h, rx: 5, fill, stroke, "stroke-width": 1, class: "shape" }));
    }
    const tx = n.kind === "op" ? cx : cx + 8;
    g.appendChild(svg("text", { x: tx, y: cy + 4, "text-anchor": "middle", "font-size": n.kind === "op" ? "10" : "11", "font-family": "system-ui, sans-serif", fill: "#333", class: "label", text: displayLabel(n) }));
    if (n.kind !== "op") g.appendChild(this.toggleButton(n, x + 10, cy, false));
    nodesG.appendChild(g);
    this.nodeEls.set(n.name, g);
    this.bindNode(g, n);
    void collapsedSize;
  }

  private toggleButton(n: Node, cx: number, cy: number, expanded: boolean): SVGGElement {
    const btn = svg(
      "g",
      { class: "toggle", "data-toggle": n.name, role: "button", "aria-label": `${expanded ? "Collapse" : "Expand"} ${n.name}` },
      svg("circle", { cx, cy, r: 6, fill: "#fff", stroke: "#777" }),
      svg("text", { x: cx, y: cy + 3.5, "text-anchor": "middle", "font-size": "11", "font-family": "system-ui, sans-serif", fill: "#333", text: expanded ? "−" : "+" }),
    );
    btn.addEventListener("click", (ev) => {
      ev.stopPropagation();
      this.toggle(n);
    });
    return btn;
  }

  private bindNode(g: SVGGElement, n: Node): void {
    g.addEventListener("click", (ev) => {
      ev.stopPropagation();
      this.select(n);
    });
    g.addEventListener("dblclick", (ev) => {
      ev.stopPropagation();
      if (n.kind !== "op") this.toggle(n);
    });
    g.addEventListener("contextmenu", (ev) => {
      ev.preventDefault();
      ev.stopPropagation();
      this.openMenu(n, ev.clientX, ev.clientY);
    });
    g.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") {
        ev.preventDefault();
        this.select(n);
      } else if ((ev.key === " " || ev.key === "+" || ev.key === "-") && n.kind !== "op") {
        ev.preventDefault();
        this.toggle(n);
      }
    });
  }

  toggle(n: Node): void {
    if (n.kind === "op") return;
    if (this.expanded.has(n.name)) this.expanded.delete(n.name);
    else this.expanded.add(n.name);
    this.saveExpanded();
    this.relayout(false);
    this.nodeEls.get(n.name)?.focus({ preventScroll: true });
  }

  private saveExpanded(): void {
    this.app.state.graphExpanded = [...this.expanded];
    this.app.afterChange(new Set(["graphExpanded"]), false);
  }

  private select(n: Node | null): void {
    this.selected = n;
    this.app.state.graphNode = n ? n.name : "";
    this.app.afterChange(new Set(["graphNode"]), false);
    this.paintHighlight();
    if (n) this.showInfo(n);
    else this.infoCard.hidden = true;
  }

  private paintHighlight(): void {
    const sel = this.selected;
    let traced: Set<string> | null = null;
    if (this.trace && sel && sel.kind === "op" && this.hier) traced = traceInputs(this.hier, sel);
    for (const [name, g] of this.nodeEls) {
      g.classList.toggle("selected", !!sel && sel.name === name);
      g.classList.toggle("traced", !!traced && traced.has(name));
      g.classList.toggle("faded", !!traced && !traced.has(name));
      const shape = g.querySelector(".shape");
      if (shape) {
        shape.setAttribute("stroke", sel && sel.name === name ? "#f57c00" : traced && traced.has(name) ? "#f57c00" : name.startsWith("") && g.dataset.kind === "op" ? "#999" : "#888");
        shape.setAttribute("stroke-width", sel && sel.name === name ? "2.5" : traced && traced.has(name) ? "1.8" : "1");
      }
      g.setAttribute("opacity", traced && !traced.has(name) ? "0.3" : "1");
    }
    for (const p of this.scene.querySelectorAll<SVGPathElement>("path.edge")) {
      const on = !!traced && traced.has(p.dataset.from!) && traced.has(p.dataset.to!);
      p.setAttribute("stroke", on ? "#f57c00" : "#aaa");
      p.setAttribute("marker-end", on ? "url(#arrow-hl)" : "url(#arrow)");
      p.setAttribute("opacity", traced && !on ? "0.3" : "1");
    }
  }

  // ---- info card, search, menu -----------------------------------------------------------

  private showInfo(n: Node): void {
    const hier = this.hier!;
    const card = this.infoCard;
    clear(card);
    const close = h("button", { type: "button", class: "icon-btn close", "aria-label": "Close node information", text: "×" });
    close.addEventListener("click", () => this.select(null));
    card.append(h("div", { class: "info-head" }, h("h3", { class: "info-name", text: n.label }), close), h("div", { class: "info-full", text: n.name }));
    const dl = h("dl", { class: "info-list" });
    const row = (k: string, v: string) => dl.append(h("dt", { text: k }), h("dd", { text: v }));
    if (n.kind === "op") {
      const op = n as Op;
      row("Operation", op.op);
      if (op.device) row("Device", op.device);
      const outs = op.raw.shapes ?? [];
      if (outs.length) row("Output shapes", outs.map((s, i) => `${i}: ${shapeText(s)}`).join("  "));
    } else {
      const grp = n as Group;
      row(n.kind === "series" ? "Series" : "Subgraph", `${grp.opCount} ops`);
      const top = [...grp.ops.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
      row("Operations", top.map(([k, v]) => `${k} ×${v}`).join(", "));
      if (grp.devices.size) row("Devices", [...grp.devices.keys()].join(", "));
    }
    const s = n.stats;
    if (s) {
      if (s.timed && s.start !== null && s.end !== null) row("Compute time", fmtMicros(s.end - s.start));
      row("Memory", fmtBytes(s.bytes));
    }
    card.appendChild(dl);
    if (n.kind === "op") {
      const op = n as Op;
      const attrs = op.raw.attr ?? [];
      if (attrs.length) {
        const t = h("table", { class: "attr-table" }, h("caption", { text: "Attributes" }));
        for (const [k, v] of attrs) t.appendChild(h("tr", {}, h("th", { text: k }), h("td", { text: v })));
        card.appendChild(t);
      }
      const ins = hier.edges.filter((e) => e.dst === op);
      const outs = hier.edges.filter((e) => e.src === op);
      card.appendChild(this.nodeList("Inputs", ins.map((e) => [e.src, e.control ? "control" : shapeText(e.shape)])));
      card.appendChild(this.nodeList("Outputs", outs.map((e) => [e.dst, e.control ? "control" : shapeText(e.shape)])));
      if (op.inEmb.length) card.appendChild(this.nodeList("Constants", op.inEmb.map((c) => [c, ""])));
      if (op.outEmb.length) card.appendChild(this.nodeList("Summaries", op.outEmb.map((c) => [c, ""])));
    } else {
      const grp = n as Group;
      const btn = h("button", { type: "button", class: "small", text: this.expanded.has(n.name) ? "Collapse" : "Expand" });
      btn.addEventListener("click", () => {
        this.toggle(n);
        this.showInfo(n);
      });
      card.appendChild(btn);
      if (n.kind === "series") card.appendChild(this.nodeList("Members", grp.children.slice(0, 50).map((c) => [c, ""])));
    }
    card.hidden = false;
  }

  private nodeList(title: string, items: [Node, string][]): HTMLElement {
    const box = h("div", { class: "node-list" }, h("h4", { text: `${title} (${items.length})` }));
    const ul = h("ul", {});
    for (const [n, extra] of items.slice(0, 100)) {
      const b = h("button", { type: "button", class: "linkish", title: n.name, text: n.name });
      b.addEventListener("click", () => this.reveal(n));
      ul.appendChild(h("li", {}, b, extra ? h("span", { class: "muted", text: ` ${extra}` }) : null));
    }
    if (items.length > 100) ul.appendChild(h("li", { class: "muted", text: `… ${items.length - 100} more` }));
    box.appendChild(ul);
    return box;
  }

  private search(): void {
    clear(this.searchResults);
    const q = this.searchInput.value.trim();
    if (!q || !this.hier) return;
    let re: RegExp;
    try {
      re = new RegExp(q, "i");
    } catch {
      this.searchResults.appendChild(h("li", { class: "filter-error", text: "Invalid regex" }));
      return;
    }
    let count = 0;
    for (const [name, n] of this.hier.index) {
      if (name === ROOT || !re.test(name)) continue;
      const b = h("button", { type: "button", class: "linkish", title: name, text: name });
      b.addEventListener("click", () => this.reveal(n));
      this.searchResults.appendChild(h("li", {}, b, h("span", { class: "muted", text: ` ${n.kind === "op" ? (n as Op).op : n.kind}` })));
      if (++count >= 50) {
        this.searchResults.appendChild(h("li", { class: "muted", text: "… more: refine the search" }));
        break;
      }
    }
    if (!count) this.searchResults.appendChild(h("li", { class: "muted", text: "No node matches." }));
  }

  /** Expands every ancestor so that `n` is drawn, selects it and centres the view on it. */
  reveal(n: Node): void {
    let target = n;
    if (n.kind === "op" && (n as Op).embedded && n.parent) target = n;
    for (const a of chain(target)) if (a !== target && a.name !== ROOT) this.expanded.add(a.name);
    this.saveExpanded();
    this.relayout(false);
    this.select(this.nodeEls.has(n.name) ? n : target);
    this.centerOn(n.name);
  }

  private openMenu(n: Node, x: number, y: number): void {
    clear(this.menu);
    const item = (text: string, fn: () => void) => {
      const b = h("button", { type: "button", role: "menuitem", text });
      b.addEventListener("click", (ev) => {
        ev.stopPropagation();
        this.menu.hidden = true;
        fn();
      });
      this.menu.appendChild(b);
    };
    const box = this.findBox(n.name);
    if (box?.aux) item("Add to main graph", () => {
      this.placement.set(n.name, "main");
      this.relayout(false);
    });
    else item("Remove from main graph", () => {
      this.placement.set(n.name, "aux");
      this.relayout(false);
    });
    if (n.kind !== "op") item(this.expanded.has(n.name) ? "Collapse" : "Expand", () => this.toggle(n));
    item("Show information", () => this.select(n));
    if (n.kind === "op")
      item("Trace inputs", () => {
        this.trace = true;
        (this.traceBox.querySelector("input") as HTMLInputElement).checked = true;
        this.select(n);
      });
    const rect = this.stage.getBoundingClientRect();
    this.menu.style.left = `${x - rect.left}px`;
    this.menu.style.top = `${y - rect.top}px`;
    this.menu.hidden = false;
    (this.menu.querySelector("button") as HTMLButtonElement | null)?.focus();
  }

  private findBox(name: string): Box | null {
    const walk = (L: GroupLayout): Box | null => {
      for (const b of [...L.boxes, ...L.auxIn, ...L.auxOut]) {
        if (b.node.name === name) return b;
        if (b.layout) {
          const f = walk(b.layout);
          if (f) return f;
        }
      }
      return null;
    };
    return this.layout ? walk(this.layout) : null;
  }

  /** TensorBoard's device include list for session-run statistics (default: `device:X:n`). */
  private renderDevices(): void {
    const box = this.devicesBox;
    clear(box);
    const stats = this.payload?.stats;
    box.hidden = !stats || !stats.devices.length;
    if (!stats) return;
    box.appendChild(h("legend", { text: "Devices included in compute time and memory" }));
    const include = new Set(stats.devices.map((d, i) => (stats.default_devices.includes(d) ? i : -1)).filter((i) => i >= 0));
    stats.devices.forEach((d, i) => {
      const id = `graph-device-${i}`;
      const cb = h("input", { type: "checkbox", id });
      cb.checked = include.has(i);
      cb.addEventListener("change", () => {
        if (cb.checked) include.add(i);
        else include.delete(i);
        if (!this.hier || !this.payload) return;
        applyDeviceSelection(this.hier, this.payload, include);
        this.computeScales();
        this.draw();
        this.applyTransform();
        this.renderLegend();
        if (this.selected) this.showInfo(this.selected);
      });
      box.appendChild(h("label", { for: id, class: "check device-check", title: d }, cb, d));
    });
  }

  // ---- legend ----------------------------------------------------------------------------

  private renderLegend(): void {
    clear(this.legendEl);
    const by = this.app.state.graphColor;
    const hier = this.hier;
    if (!hier) return;
    if (by === "structure") {
      this.legendEl.append(
        h("p", { class: "hint", text: "Scopes with the same colour have the same structure. White ellipses are operations; stacked boxes are series of numbered operations." }),
      );
    } else if (by === "device") {
      if (!hier.devices.length) this.legendEl.appendChild(h("p", { class: "hint", text: "This graph records no devices." }));
      const ul = h("ul", { class: "legend" });
      for (const d of hier.devices) ul.appendChild(h("li", { class: "legend-item" }, h("span", { class: "chip", style: `background:${this.deviceColor.get(d)}` }), h("span", { class: "legend-name", text: d })));
      this.legendEl.appendChild(ul);
    } else {
      if (!hier.hasStats) {
        this.legendEl.appendChild(h("p", { class: "hint", text: "Pick a traced step under Session run to colour by compute time or memory." }));
        return;
      }
      const [lo, hi] = by === "compute" ? this.scales.compute : this.scales.memory;
      const f = by === "compute" ? fmtMicros : fmtBytes;
      this.legendEl.append(
        h("div", { class: "gradient", style: `background:linear-gradient(to right, ${GRAD[0]}, ${GRAD[1]})` }),
        h("div", { class: "gradient-labels" }, h("span", { text: f(Math.round(lo)) }), h("span", { text: f(Math.round(hi)) })),
      );
    }
  }

  // ---- pan, zoom, fit, PNG ---------------------------------------------------------------

  private applyTransform(): void {
    this.scene.setAttribute("transform", `translate(${this.tx.toFixed(1)},${this.ty.toFixed(1)}) scale(${this.k.toFixed(4)})`);
  }

  fit(): void {
    const L = this.layout;
    if (!L) return;
    const W = this.svgEl.clientWidth || 800;
    const H = this.svgEl.clientHeight || 600;
    this.k = Math.min(1.25, Math.max(0.02, Math.min((W - 40) / L.width, (H - 40) / L.height)));
    this.tx = (W - L.width * this.k) / 2;
    this.ty = (H - L.height * this.k) / 2;
    this.applyTransform();
  }

  private centerOn(name: string): void {
    const g = this.nodeEls.get(name);
    if (!g) return;
    const bb = (g as SVGGraphicsElement).getBBox();
    const W = this.svgEl.clientWidth || 800;
    const H = this.svgEl.clientHeight || 600;
    this.k = Math.max(this.k, 0.8);
    this.tx = W / 2 - (bb.x + bb.width / 2) * this.k;
    this.ty = H / 2 - (bb.y + bb.height / 2) * this.k;
    this.applyTransform();
  }

  private bindPanZoom(): void {
    const s = this.svgEl;
    s.addEventListener(
      "wheel",
      (ev) => {
        ev.preventDefault();
        const r = s.getBoundingClientRect();
        const mx = ev.clientX - r.left;
        const my = ev.clientY - r.top;
        const f = Math.exp(-ev.deltaY * 0.0015);
        const k = Math.min(8, Math.max(0.01, this.k * f));
        this.tx = mx - ((mx - this.tx) * k) / this.k;
        this.ty = my - ((my - this.ty) * k) / this.k;
        this.k = k;
        this.applyTransform();
      },
      { passive: false },
    );
    let drag: { x: number; y: number; tx: number; ty: number } | null = null;
    s.addEventListener("pointerdown", (ev) => {
      if ((ev.target as Element).closest(".node")) return;
      drag = { x: ev.clientX, y: ev.clientY, tx: this.tx, ty: this.ty };
      s.setPointerCapture(ev.pointerId);
      s.classList.add("panning");
    });
    s.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      this.tx = drag.tx + ev.clientX - drag.x;
      this.ty = drag.ty + ev.clientY - drag.y;
      this.applyTransform();
    });
    const end = () => {
      drag = null;
      s.classList.remove("panning");
    };
    s.addEventListener("pointerup", end);
    s.addEventListener("pointercancel", end);
    s.addEventListener("click", (ev) => {
      if (!(ev.target as Element).closest(".node")) this.select(null);
    });
    s.addEventListener("keydown", (ev) => {
      const step = 40;
      if (ev.target !== s) return;
      if (ev.key === "ArrowLeft") this.tx += step;
      else if (ev.key === "ArrowRight") this.tx -= step;
      else if (ev.key === "ArrowUp") this.ty += step;
      else if (ev.key === "ArrowDown") this.ty -= step;
      else if (ev.key === "+" || ev.key === "=") this.k = Math.min(8, this.k * 1.2);
      else if (ev.key === "-") this.k = Math.max(0.01, this.k / 1.2);
      else if (ev.key === "0") return this.fit();
      else return;
      ev.preventDefault();
      this.applyTransform();
    });
  }

  private async downloadPng(): Promise<void> {
    const L = this.layout;
    if (!L) return;
    const clone = this.svgEl.cloneNode(true) as SVGSVGElement;
    const scene = clone.querySelector(".scene") as SVGGElement;
    scene.setAttribute("transform", "translate(20,20)");
    const W = Math.ceil(L.width + 40);
    const H = Math.ceil(L.height + 40);
    clone.setAttribute("xmlns", "http://www.w3.org/2000/svg");
    clone.setAttribute("width", String(W));
    clone.setAttribute("height", String(H));
    clone.setAttribute("viewBox", `0 0 ${W} ${H}`);
    clone.insertBefore(svg("rect", { x: 0, y: 0, width: W, height: H, fill: "#fff" }), clone.firstChild);
    const text = new XMLSerializer().serializeToString(clone);
    const url = URL.createObjectURL(new Blob([text], { type: "image/svg+xml" }));
    const img = new Image();
    await new Promise<void>((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error("render failed"));
      img.src = url;
    });
    const scale = Math.min(2, 16000 / Math.max(W, H));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(W * scale));
    canvas.height = Math.max(1, Math.round(H * scale));
    const ctx = canvas.getContext("2d")!;
    ctx.scale(scale, scale);
    ctx.drawImage(img, 0, 0);
    URL.revokeObjectURL(url);
    const blob: Blob | null = await new Promise((r) => canvas.toBlob(r, "image/png"));
    if (!blob) return;
    const a = h("a", { href: URL.createObjectURL(blob), download: `${(this.payload?.run || "graph").replace(/[\\/:*?"<>|]/g, "_")}.png` });
    document.body.appendChild(a);
    a.click();
    a.remove();
  }

  // ---- Panel -----------------------------------------------------------------------------

  refresh(changed: Set<string>): void {
    if (changed.has("all") || changed.has("graphColor")) setRadio(this.colorBox, this.app.state.graphColor);
    if (!this.visible) return;
    if (changed.has("graphColor")) {
      this.draw();
      this.applyTransform();
      this.renderLegend();
    }
    if (changed.has("runsList") || changed.has("all")) {
      if (changed.has("all")) this.loadedKey = "";
      void this.load();
    }
  }

  onUpdate(msg: UpdateMsg): void {
    if (!msg.graph || !this.visible) return;
    const run = this.app.runById.get(msg.run_id);
    if (run && run.name === this.runSelect.value) {
      this.loadedKey = "";
      void this.load();
    }
  }

  catchUp(changed: Set<number>): void {
    if (!this.visible || !this.payload || !changed.has(this.payload.run_id)) return;
    this.loadedKey = "";
    void this.load();
  }

  show(): void {
    this.visible = true;
    if (!this.loading) this.loading = this.load().finally(() => (this.loading = null));
  }

  hide(): void {
    this.visible = false;
    this.menu.hidden = true;
  }
}
