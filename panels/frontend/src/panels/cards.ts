// Shared layout for the card dashboards: collapsible groups by tag prefix, a pinned group,
// lazy cards (built only when they scroll into view). As in TensorBoard, a pinned card is a copy:
// the card stays in its own group too, and the pinned copy stays whatever the tag filter says.

import type { App } from "../app";
import type { KindName, RunInfo } from "../api";
import type { UpdateMsg } from "../live";
import { groupTags } from "../sort";
import { h } from "../util";

export interface CardLike {
  el: HTMLElement;
  /** Called once when the card first comes near the viewport. */
  activate(): void;
  destroy(): void;
  /** Called on every render with whether the card's tag is pinned (its pin button's state). */
  setPinned?(on: boolean): void;
}

/** Card-map key of the copy of `key` shown in the Pinned group. */
const PIN_PREFIX = "\u0000pin|";

const MAX_CARDS_PER_GROUP = 200;

/** Renders groups of cards keyed by `key`; reuses cards that already exist. */
export class CardGrid<C extends CardLike> {
  el: HTMLElement;
  cards = new Map<string, C>();
  private observer: IntersectionObserver;
  private expandedGroups = new Set<string>();

  constructor(
    private app: App,
    private panelId: string,
    private make: (key: string, tag: string) => C,
    private emptyText: () => string,
  ) {
    this.el = h("div", { class: "groups" });
    this.observer = new IntersectionObserver(
      (entries) => {
        for (const e of entries) {
          if (!e.isIntersecting) continue;
          const key = (e.target as HTMLElement).dataset.key!;
          this.observer.unobserve(e.target);
          this.cards.get(key)?.activate();
        }
      },
      { rootMargin: "300px 0px" },
    );
  }

  /**
   * `items`: [card key, tag] pairs, already filtered; grouped by the tag's first `/`.
   * `pinnedExtra`: cards of pinned tags the tag filter hides; they are shown in the Pinned group only.
   */
  render(items: [string, string][], pinnedExtra: [string, string][] = []): void {
    const wanted = new Map(items);
    const byTag = new Map<string, string[]>();
    for (const [key, tag] of [...items, ...pinnedExtra]) {
      let l = byTag.get(tag);
      if (!l) byTag.set(tag, (l = []));
      l.push(key);
    }
    const pinnedTags = this.app.state.pinned
      .filter((p) => p.startsWith(this.panelId + ":"))
      .map((p) => p.slice(this.panelId.length + 1))
      .filter((t) => byTag.has(t));
    const pinnedSet = new Set(pinnedTags);
    // Every card this render shows: [card-map key, the panel's key, tag].
    const shownKeys = new Map<string, [string, string]>();
    for (const [key, tag] of items) shownKeys.set(key, [key, tag]);
    for (const t of pinnedTags) for (const key of byTag.get(t) ?? []) shownKeys.set(PIN_PREFIX + key, [key, t]);
    for (const [ckey, card] of this.cards) {
      if (!shownKeys.has(ckey)) {
        this.observer.unobserve(card.el);
        card.destroy();
        this.cards.delete(ckey);
      }
    }
    const groupsEl = document.createDocumentFragment();
    const groups = groupTags(new Set(items.map(([, t]) => t)));
    if (pinnedTags.length) groups.unshift({ name: "\u0000pinned", tags: pinnedTags });
    for (const g of groups) {
      const pinned = g.name === "\u0000pinned";
      const title = pinned ? "Pinned" : g.name;
      const ckey = `${this.panelId}:${pinned ? "\u0000pinned" : g.name}`;
      const collapsed = this.app.state.collapsed.includes(ckey);
      const keys = pinned
        ? g.tags.flatMap((t) => (byTag.get(t) ?? []).map((k) => PIN_PREFIX + k))
        : g.tags.flatMap((t) => (byTag.get(t) ?? []).filter((k) => wanted.has(k)));
      if (!keys.length) continue;
      const btn = h(
        "button",
        { type: "button", class: "group-toggle", "aria-expanded": collapsed ? "false" : "true" },
        h("span", { class: "caret", "aria-hidden": "true", text: collapsed ? "▸" : "▾" }),
        h("span", { class: "group-name", text: title }),
        h("span", { class: "group-count", text: String(keys.length) }),
      );
      btn.addEventListener("click", () => {
        const set = new Set(this.app.state.collapsed);
        if (set.has(ckey)) set.delete(ckey);
        else set.add(ckey);
        this.app.state.collapsed = [...set];
        this.app.afterChange(new Set(["collapsed"]));
      });
      const grid = h("div", { class: "card-grid" });
      const section = h(
        "section",
        { class: pinned ? "group group--pinned" : "group", "data-group": title },
        h("h3", { class: "group-title" }, btn),
      );
      if (!collapsed) {
        const all = this.expandedGroups.has(ckey);
        const shown = all ? keys : keys.slice(0, MAX_CARDS_PER_GROUP);
        for (const key of shown) {
          let card = this.cards.get(key);
          const [pkey, tag] = shownKeys.get(key)!;
          if (!card) {
            card = this.make(pkey, tag);
            card.el.dataset.key = key;
            this.cards.set(key, card);
            this.observer.observe(card.el);
          }
          card.setPinned?.(pinnedSet.has(tag));
          grid.appendChild(card.el);
        }
        section.appendChild(grid);
        if (shown.length < keys.length) {
          const more = h("button", { type: "button", class: "more-cards", text: `Show all ${keys.length} cards` });
          more.addEventListener("click", () => {
            this.expandedGroups.add(ckey);
            this.render(items, pinnedExtra);
          });
          section.appendChild(more);
        }
      }
      groupsEl.appendChild(section);
    }
    this.el.replaceChildren(groupsEl);
    if (!items.length) this.el.appendChild(h("p", { class: "empty", text: this.emptyText() }));
  }

  /** The card shown under `key` and, if its tag is pinned, its copy in the Pinned group. */
  cardsOf(key: string): C[] {
    return [this.cards.get(key), this.cards.get(PIN_PREFIX + key)].filter((c): c is C => !!c);
  }

  /** Pinned tags of this panel (the caller keeps those that exist). */
  pinnedTags(): string[] {
    return this.app.state.pinned.filter((p) => p.startsWith(this.panelId + ":")).map((p) => p.slice(this.panelId.length + 1));
  }

  isPinned(tag: string): boolean {
    return this.app.state.pinned.includes(`${this.panelId}:${tag}`);
  }

  togglePin(tag: string): void {
    const k = `${this.panelId}:${tag}`;
    const set = new Set(this.app.state.pinned);
    if (set.has(k)) set.delete(k);
    else set.add(k);
    this.app.state.pinned = [...set];
    this.app.afterChange(new Set(["pinned"]));
  }
}

/** State changes after which a card panel rebuilds its set of cards. */
export const GRID_KEYS = ["runs", "runFilter", "tagFilter", "runsList", "pinned", "collapsed", "all", "panel"];

/** A card showing one run's series of one tag, which it (re)loads itself. */
export interface RunTagCard extends CardLike {
  run: RunInfo;
  load(): Promise<void>;
}

/**
 * What DISTRIBUTIONS, HISTOGRAMS and TEXT share: one card per selected run × tag of one data kind
 * (keys `runId|tag`), rebuilt when the selection or filters change, and live — a change notice
 * reloads exactly the cards of its run and tags, a catch-up those of the runs that changed.
 * Subclasses build `grid` and their settings, and add their own redraws to `refresh`.
 */
export abstract class RunTagPanel<C extends RunTagCard> {
  protected abstract grid: CardGrid<C>;
  protected view!: HTMLElement;
  protected visible = false;

  constructor(
    public app: App,
    private kind: KindName,
  ) {}

  protected render(): void {
    const items: [string, string][] = [];
    for (const t of this.app.tagsFor(this.kind))
      for (const r of this.app.selectedRuns()) if ((r.tags[this.kind] ?? []).includes(t)) items.push([`${r.id}|${t}`, t]);
    this.grid.render(items);
    this.view.dataset.cards = String(items.length);
  }

  refresh(changed: Set<string>): void {
    if (this.visible && GRID_KEYS.some((k) => changed.has(k))) this.render();
  }

  onUpdate(msg: UpdateMsg): void {
    const tags = msg.kinds[this.kind];
    if (!tags || !this.visible) return;
    for (const t of tags) void this.grid.cards.get(`${msg.run_id}|${t}`)?.load();
  }

  catchUp(changed: Set<number>): void {
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

/** A settings row: label + control. */
export function field(label: string, control: HTMLElement, hint?: string): HTMLElement {
  return h("div", { class: "field" }, h("span", { class: "field-label", text: label }), control, hint ? h("span", { class: "hint", text: hint }) : null);
}

export function radioGroup<T extends string>(
  name: string,
  label: string,
  options: [T, string][],
  value: T,
  onChange: (v: T) => void,
): HTMLElement {
  const box = h("fieldset", { class: "radio-group" }, h("legend", { text: label }));
  for (const [v, text] of options) {
    const id = `${name}-${v}`;
    const input = h("input", { type: "radio", name, id, value: v });
    input.checked = v === value;
    input.addEventListener("change", () => input.checked && onChange(v));
    box.appendChild(h("label", { for: id, class: "radio" }, input, text));
  }
  return box;
}

export function setRadio(box: HTMLElement, value: string): void {
  for (const input of box.querySelectorAll<HTMLInputElement>("input[type=radio]")) input.checked = input.value === value;
}

export function checkbox(id: string, label: string, checked: boolean, onChange: (v: boolean) => void): HTMLElement {
  const input = h("input", { type: "checkbox", id });
  input.checked = checked;
  input.addEventListener("change", () => onChange(input.checked));
  return h("label", { for: id, class: "check" }, input, label);
}

export function setChecked(box: HTMLElement, v: boolean): void {
  const input = box.querySelector<HTMLInputElement>("input[type=checkbox]");
  if (input) input.checked = v;
}
