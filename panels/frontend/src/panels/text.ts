// TEXT: per tag and run, the text summary of a step rendered as Markdown (no raw HTML, built
// from tokens), string tensors of rank 1–2 as tables of rendered cells (higher ranks reduced to
// 2-D with a warning), a step slider over every stored step (initially the latest).

import type { App, Panel } from "../app";
import type { RunInfo } from "../api";
import { renderMarkdown } from "../markdown";
import { fmtStep, fmtTime, h } from "../util";
import { CardGrid, RunTagPanel, type CardLike } from "./cards";

interface TextPoint {
  step: number;
  wall_time: number;
  shape: number[];
  values: string[];
}

function cell(text: string, tag: "td" | "th" = "td"): HTMLElement {
  const c = h(tag, { class: "md" });
  c.appendChild(renderMarkdown(text));
  return c;
}

export function renderTensor(p: TextPoint): HTMLElement {
  const shape = p.shape ?? [];
  const vals = p.values ?? [];
  const box = h("div", { class: "text-body" });
  if (shape.length === 0) {
    const d = h("div", { class: "md" });
    d.appendChild(renderMarkdown(vals[0] ?? ""));
    box.appendChild(d);
    return box;
  }
  let rows: number;
  let cols: number;
  if (shape.length === 1) {
    rows = shape[0];
    cols = 1;
  } else {
    rows = shape[0];
    cols = vals.length / Math.max(1, rows);
    if (shape.length > 2) {
      box.appendChild(
        h("p", { class: "warning", text: `This text tensor has rank ${shape.length} (shape [${shape.join(", ")}]); it is shown as a ${rows} × ${cols} table.` }),
      );
    }
  }
  const table = h("table", { class: "text-table" });
  for (let r = 0; r < rows; r++) {
    const tr = h("tr", {});
    for (let c = 0; c < cols; c++) tr.appendChild(cell(vals[r * cols + c] ?? ""));
    table.appendChild(tr);
  }
  box.appendChild(table);
  return box;
}

class TextCard implements CardLike {
  el: HTMLElement;
  private body: HTMLElement;
  private slider: HTMLInputElement;
  private meta: HTMLElement;
  private pts: TextPoint[] = [];
  private active = false;

  constructor(
    private app: App,
    public key: string,
    public run: RunInfo,
    public tag: string,
  ) {
    this.body = h("div", { class: "text-content" });
    this.meta = h("div", { class: "img-meta" });
    this.slider = h("input", { type: "range", min: "0", max: "0", step: "1", class: "step-slider", "aria-label": `Step of ${tag} for ${run.name}` });
    this.slider.addEventListener("input", () => this.pick(Number(this.slider.value), true));
    this.el = h(
      "figure",
      { class: "card text-card", "data-tag": tag, "data-run": run.name },
      h(
        "figcaption",
        { class: "card-title" },
        h("span", { class: "tag-name", text: tag }),
        h("span", { class: "run-label" }, h("span", { class: "chip", style: `background:${app.colorOf(run)}` }), h("span", { class: "run-text", text: run.name })),
      ),
      this.meta,
      this.slider,
      this.body,
    );
  }

  activate(): void {
    if (this.active) return;
    this.active = true;
    void this.load();
  }

  destroy(): void {
    this.active = false;
  }

  async load(): Promise<void> {
    if (!this.active) return;
    try {
      const res = await this.app.api.get<{ points: TextPoint[] }>("text", { run_id: this.run.id, tag: this.tag });
      this.pts = res.points;
    } catch (e) {
      this.meta.textContent = e instanceof Error ? e.message : "error";
      return;
    }
    const n = this.pts.length;
    this.slider.max = String(Math.max(0, n - 1));
    this.slider.disabled = n <= 1;
    this.el.dataset.steps = String(n);
    const want = this.app.state.textSteps[this.key];
    let idx = n - 1;
    if (want !== undefined) {
      const f = this.pts.findIndex((p) => p.step === want);
      if (f >= 0) idx = f;
    }
    this.pick(idx, false);
  }

  private pick(i: number, user: boolean): void {
    const p = this.pts[i];
    if (!p) {
      this.body.replaceChildren(h("p", { class: "empty small", text: "No text." }));
      return;
    }
    this.slider.value = String(i);
    this.slider.setAttribute("aria-valuetext", `step ${p.step}`);
    this.meta.replaceChildren(h("span", { text: `step ${fmtStep(p.step)}` }), h("span", { text: fmtTime(p.wall_time) }), h("span", { text: `${i + 1} of ${this.pts.length}` }));
    this.body.replaceChildren(renderTensor(p));
    this.el.dataset.step = String(p.step);
    if (user) {
      const steps = { ...this.app.state.textSteps };
      if (i === this.pts.length - 1) delete steps[this.key];
      else steps[this.key] = p.step;
      this.app.state.textSteps = steps;
      this.app.afterChange(new Set(["textSteps"]), false);
    }
  }
}

export class TextPanel extends RunTagPanel<TextCard> implements Panel {
  id = "text" as const;
  protected grid: CardGrid<TextCard>;

  constructor(app: App) {
    super(app, "text");
    this.grid = new CardGrid<TextCard>(
      app,
      "text",
      (key, tag) => new TextCard(app, key, app.runById.get(Number(key.split("|")[0]))!, tag),
      () => (app.tagFilterRe().error ? "The tag filter is not a valid regular expression." : "No text tag matches."),
    );
  }

  mount(view: HTMLElement, controls: HTMLElement): void {
    this.view = view;
    controls.append(h("h2", { text: "Text" }), h("p", { class: "hint", text: "Text summaries are rendered as Markdown; raw HTML is shown as text." }));
    view.appendChild(this.grid.el);
  }

}
