// IMAGES: one card per run × tag × sample with a step slider over *every* stored step (initially
// the latest), step / wall time / "sample i of N" labels, actual-size toggle, brightness and
// contrast (CSS filters, like TensorBoard).

import type { App, Panel } from "../app";
import type { RunInfo } from "../api";
import type { UpdateMsg } from "../live";
import { fmtStep, fmtTime, h } from "../util";
import { CardGrid, checkbox, field, setChecked, type CardLike } from "./cards";

interface ImageInfo {
  id: number;
  index: number;
  width: number;
  height: number;
  content_type: string;
  size: number;
  url: string;
}
interface ImagesResponse {
  run: string;
  tag: string;
  samples: number;
  steps: { step: number; wall_time: number; images: ImageInfo[] }[];
}

class ImageCard implements CardLike {
  el: HTMLElement;
  private img: HTMLImageElement;
  private slider: HTMLInputElement;
  private stepEl: HTMLElement;
  private timeEl: HTMLElement;
  private sampleEl: HTMLElement;
  private frame: HTMLElement;
  private entries: ImagesResponse["steps"] = [];
  private active = false;

  constructor(
    private app: App,
    private panel: ImagesPanel,
    public key: string,
    public run: RunInfo,
    public tag: string,
    public sample: number,
  ) {
    this.img = h("img", { class: "sample-img", alt: `${tag} (${run.name}), sample ${sample + 1}`, decoding: "async" });
    this.frame = h("div", { class: "img-frame" }, this.img);
    this.slider = h("input", { type: "range", min: "0", max: "0", step: "1", class: "step-slider", "aria-label": `Step of ${tag} for ${run.name}` });
    this.slider.addEventListener("input", () => this.pick(Number(this.slider.value), true));
    this.stepEl = h("span", { class: "img-step" });
    this.timeEl = h("span", { class: "img-time" });
    this.sampleEl = h("span", { class: "img-sample" });
    this.el = h(
      "figure",
      { class: "card image-card", "data-tag": tag, "data-run": run.name, "data-sample": String(sample) },
      h(
        "figcaption",
        { class: "card-title" },
        h("span", { class: "tag-name", text: tag }),
        h("span", { class: "run-label" }, h("span", { class: "chip", style: `background:${app.colorOf(run)}` }), h("span", { class: "run-text", text: run.name })),
      ),
      h("div", { class: "img-meta" }, this.stepEl, this.timeEl, this.sampleEl),
      this.slider,
      this.frame,
    );
    this.applyLook();
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
    let res: ImagesResponse;
    try {
      res = await this.panel.fetch(this.run.id, this.tag);
    } catch (e) {
      this.stepEl.textContent = e instanceof Error ? e.message : "error";
      return;
    }
    this.entries = res.steps.filter((s) => s.images.length > this.sample);
    const n = this.entries.length;
    this.sampleEl.textContent = `sample ${this.sample + 1} of ${Math.max(res.samples, 1)}`;
    this.slider.max = String(Math.max(0, n - 1));
    this.slider.disabled = n <= 1;
    this.el.dataset.steps = String(n);
    const want = this.app.state.imageSteps[this.key];
    let idx = n - 1;
    if (want !== undefined) {
      const found = this.entries.findIndex((e) => e.step === want);
      if (found >= 0) idx = found;
    }
    this.pick(idx, false);
  }

  private pick(i: number, user: boolean): void {
    const e = this.entries[i];
    if (!e) {
      this.stepEl.textContent = "no image";
      return;
    }
    this.slider.value = String(i);
    this.slider.setAttribute("aria-valuetext", `step ${e.step}`);
    const im = e.images[this.sample];
    if (this.img.getAttribute("src") !== im.url) this.img.src = im.url;
    this.img.width = im.width || 0;
    this.img.height = im.height || 0;
    this.stepEl.textContent = `step ${fmtStep(e.step)}`;
    this.timeEl.textContent = fmtTime(e.wall_time);
    this.el.dataset.step = String(e.step);
    if (user) {
      const steps = { ...this.app.state.imageSteps };
      if (i === this.entries.length - 1) delete steps[this.key];
      else steps[this.key] = e.step;
      this.app.state.imageSteps = steps;
      this.app.afterChange(new Set(["imageSteps"]), false);
    }
  }

  applyLook(): void {
    const st = this.app.state;
    this.img.style.filter = `brightness(${st.imageBrightness}) contrast(${st.imageContrast * 100}%)`;
    this.frame.classList.toggle("actual-size", st.imageActualSize);
  }
}

export class ImagesPanel implements Panel {
  id = "images" as const;
  private grid: CardGrid<ImageCard>;
  private cache = new Map<string, Promise<ImagesResponse>>();
  private view!: HTMLElement;
  private visible = false;
  private bright!: HTMLInputElement;
  private contrast!: HTMLInputElement;
  private brightOut!: HTMLElement;
  private contrastOut!: HTMLElement;

  /** The sliders' values as percentages next to them (and for screen readers). */
  private showLook(): void {
    for (const [input, out] of [[this.bright, this.brightOut], [this.contrast, this.contrastOut]] as const) {
      const text = `${Math.round(Number(input.value) * 100)}%`;
      out.textContent = text;
      input.setAttribute("aria-valuetext", text);
    }
  }
  private actual!: HTMLElement;

  constructor(private app: App) {
    this.grid = new CardGrid<ImageCard>(
      app,
      "images",
      (key) => {
        const [rid, sample, ...rest] = key.split("|");
        const tag = rest.join("|");
        return new ImageCard(app, this, key, app.runById.get(Number(rid))!, tag, Number(sample));
      },
      () => (app.tagFilterRe().error ? "The tag filter is not a valid regular expression." : "No image tag matches."),
    );
  }

  fetch(runId: number, tag: string): Promise<ImagesResponse> {
    const k = `${runId}|${tag}`;
    let p = this.cache.get(k);
    if (!p) {
      p = this.app.api.get<ImagesResponse>("images", { run_id: runId, tag });
      p.catch(() => this.cache.delete(k));
      this.cache.set(k, p);
    }
    return p;
  }

  mount(view: HTMLElement, controls: HTMLElement): void {
    this.view = view;
    const st = this.app.state;
    this.actual = checkbox("actual-size", "Show actual image size", st.imageActualSize, (v) => this.app.set("imageActualSize", v));
    this.bright = h("input", { type: "range", min: "0", max: "2", step: "0.01", "aria-label": "Brightness" });
    this.contrast = h("input", { type: "range", min: "0", max: "5", step: "0.01", "aria-label": "Contrast" });
    this.brightOut = h("output", { class: "range-value" });
    this.contrastOut = h("output", { class: "range-value" });
    this.bright.value = String(st.imageBrightness);
    this.contrast.value = String(st.imageContrast);
    this.showLook();
    this.bright.addEventListener("input", () => {
      this.showLook();
      this.app.set("imageBrightness", Number(this.bright.value));
    });
    this.contrast.addEventListener("input", () => {
      this.showLook();
      this.app.set("imageContrast", Number(this.contrast.value));
    });
    const reset = h("button", { type: "button", class: "small", text: "Reset" });
    reset.addEventListener("click", () => {
      this.app.state.imageBrightness = 1;
      this.app.state.imageContrast = 1;
      this.bright.value = this.contrast.value = "1";
      this.showLook();
      this.app.afterChange(new Set(["imageLook"]));
    });
    controls.append(
      h("h2", { text: "Images" }),
      this.actual,
      field("Brightness", h("div", { class: "slider-row" }, this.bright, this.brightOut)),
      field("Contrast", h("div", { class: "slider-row" }, this.contrast, this.contrastOut)),
      reset,
    );
    view.appendChild(this.grid.el);
  }

  private render(): void {
    const tags = new Set(this.app.tagsFor("images"));
    const items: [string, string][] = [];
    for (const t of [...tags]) {
      for (const r of this.app.selectedRuns()) {
        if (!(r.tags.images ?? []).includes(t)) continue;
        // Samples are known once fetched; start with one card and add the rest when known.
        const n = this.samples.get(`${r.id}|${t}`) ?? 1;
        for (let s = 0; s < n; s++) items.push([`${r.id}|${s}|${t}`, t]);
      }
    }
    this.grid.render(items);
    this.view.dataset.cards = String(items.length);
    for (const [key] of items) {
      const [rid, , ...rest] = key.split("|");
      const k = `${rid}|${rest.join("|")}`;
      if (this.samples.has(k)) continue;
      this.samples.set(k, 1);
      void this.fetch(Number(rid), rest.join("|")).then((res) => {
        if (res.samples > 1) {
          this.samples.set(k, res.samples);
          this.render();
        }
      }).catch(() => undefined);
    }
  }
  private samples = new Map<string, number>();

  refresh(changed: Set<string>): void {
    const st = this.app.state;
    if (changed.has("all")) {
      this.bright.value = String(st.imageBrightness);
      this.contrast.value = String(st.imageContrast);
      this.showLook();
      setChecked(this.actual, st.imageActualSize);
    }
    if (["imageBrightness", "imageContrast", "imageActualSize", "imageLook", "all"].some((k) => changed.has(k))) {
      for (const c of this.grid.cards.values()) c.applyLook();
    }
    if (!this.visible) return;
    if (["runs", "runFilter", "tagFilter", "runsList", "pinned", "collapsed", "all", "panel", "colors"].some((k) => changed.has(k))) this.render();
  }

  onUpdate(msg: UpdateMsg): void {
    const tags = msg.kinds.images;
    if (!tags) return;
    for (const t of tags) {
      this.cache.delete(`${msg.run_id}|${t}`);
      this.samples.delete(`${msg.run_id}|${t}`);
    }
    if (!this.visible) return;
    this.render();
    for (const c of this.grid.cards.values()) if (c.run.id === msg.run_id && tags.includes(c.tag)) void c.load();
  }

  catchUp(changed: Set<number>): void {
    for (const k of [...this.cache.keys()]) if (changed.has(Number(k.split("|")[0]))) this.cache.delete(k);
    if (this.visible) for (const c of this.grid.cards.values()) if (changed.has(c.run.id)) void c.load();
  }

  show(): void {
    this.visible = true;
    this.render();
  }

  hide(): void {
    this.visible = false;
  }
}
