// Shared layout for the card dashboards: collapsible groups by tag prefix, a pinned group,
// lazy cards (built only when they scroll into view).

import type { App } from "../app";
import { groupTags } from "../sort";
import { h } from "../util";

export interface CardLike {
  el: HTMLElement;
  /** Called once when the card first comes near the viewport. */
  activate(): void;
  destroy(): void;
}

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

  /** `items`: [card key, tag] pairs, already filtered; grouped by the tag's first `/`. */
  render(items: [string, string][]): void {
    const wanted = new Map(items);
    for (const [key, card] of this.cards) {
      if (!wanted.has(key)) {
        this.observer.unobserve(card.el);
        card.destroy();
        this.cards.delete(key);
      }
    }
    const groupsEl = document.createDocumentFragment();
    const byTag = new Map<string, string[]>();
    for (const [key, tag] of items) {
      let l = byTag.get(tag);
      if (!l) byTag.set(tag, (l = []));
      l.push(key);
    }
    const pinnedTags = this.app.state.pinned
      .filter((p) => p.startsWith(this.panelId + ":"))
      .map((p) => p.slice(this.panelId.length + 1))
      .filter((t) => byTag.has(t));
    const groups = groupTags(byTag.keys());
    if (pinnedTags.length) groups.unshift({ name: "\u0000pinned", tags: pinnedTags });
    for (const g of groups) {
      const pinned = g.name === "\u0000pinned";
      const title = pinned ? "Pinned" : g.name;
      const ckey = `${this.panelId}:${pinned ? "\u0000pinned" : g.name}`;
      const collapsed = this.app.state.collapsed.includes(ckey);
      const keys = g.tags.flatMap((t) => byTag.get(t) ?? []).filter((k) => pinned || !pinnedTags.includes(wanted.get(k)!));
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
          if (!card) {
            card = this.make(key, wanted.get(key)!);
            card.el.dataset.key = key;
            this.cards.set(key, card);
            this.observer.observe(card.el);
          }
          grid.appendChild(card.el);
        }
        section.appendChild(grid);
        if (shown.length < keys.length) {
          const more = h("button", { type: "button", class: "more-cards", text: `Show all ${keys.length} cards` });
          more.addEventListener("click", () => {
            this.expandedGroups.add(ckey);
            this.render(items);
          });
          section.appendChild(more);
        }
      }
      groupsEl.appendChild(section);
    }
    this.el.replaceChildren(groupsEl);
    if (!items.length) this.el.appendChild(h("p", { class: "empty", text: this.emptyText() }));
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
