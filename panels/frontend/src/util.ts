// Small DOM and number helpers. Every user string goes through textContent (never innerHTML).

export type Attrs = Record<string, string | number | boolean | null | undefined>;
type Child = Node | string | null | undefined | false;

/** Creates an element; `text` children become text nodes, so user strings are never parsed. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = String(v);
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

export function append(el: Node, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
}

export function clear(el: Node): void {
  while (el.firstChild) el.removeChild(el.firstChild);
}

const SVGNS = "http://www.w3.org/2000/svg";
export function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Child | Child[])[]
): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.setAttribute("class", String(v));
    else if (k === "text") el.textContent = String(v);
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

/** JSON numbers from tbhub.jsonutil: non-finite values arrive as strings. */
export function num(v: unknown): number {
  if (typeof v === "number") return v;
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  if (typeof v === "string") return Number(v);
  return NaN;
}

export function fmtValue(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? "NaN" : v > 0 ? "∞" : "-∞";
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(4);
  return Number(v.toPrecision(5)).toString();
}

/** An axis tick: about 3 significant digits, like TensorBoard's d3 formats ("5.2e-5", "0.00841"). */
export function fmtTick(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return fmtValue(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) {
    const [m, e] = v.toExponential(digits - 1).split("e");
    return `${Number(m)}e${e.replace("+", "")}`;
  }
  return Number(v.toPrecision(digits)).toString();
}

/** Labels for a row of ticks: 3 significant digits, more only where neighbours would read the same. */
export function fmtTicks(vs: number[]): string[] {
  let out = vs.map((v) => fmtTick(v));
  for (let d = 4; d <= 8 && new Set(out).size < new Set(vs).size; d++) out = vs.map((v) => fmtTick(v, d));
  return out;
}

/** About `count` round tick values (steps of 1, 2 or 5 × 10^k) inside [lo, hi], like d3's ticks. */
export function niceTicks(lo: number, hi: number, count: number): number[] {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return Number.isFinite(lo) ? [lo] : [];
  const raw = (hi - lo) / Math.max(1, count);
  const pow = Math.pow(10, Math.floor(Math.log10(raw)));
  const r = raw / pow;
  const step = (r >= 7.07 ? 10 : r >= 3.16 ? 5 : r >= 1.41 ? 2 : 1) * pow;
  const out: number[] = [];
  for (let i = Math.ceil(lo / step); i <= Math.floor(hi / step); i++) {
    // i / (1/step) rather than i * step when step < 1: 3 * 0.1 would read 0.30000000000000004.
    out.push(step < 1 ? i / Math.round(1 / step) : i * step);
  }
  return out;
}

export function fmtStep(s: number): string {
  return Math.abs(s) >= 1e6 ? s.toExponential(3) : s.toLocaleString("en-US");
}

export function fmtTime(sec: number): string {
  if (!Number.isFinite(sec)) return "";
  const d = new Date(sec * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function fmtRelative(hours: number): string {
  const s = Math.round(hours * 3600);
  const hh = Math.floor(s / 3600);
  const mm = Math.floor((s % 3600) / 60);
  const ss = s % 60;
  // "3m", not "3m 0s" (axis ticks fall on round values): trailing zero units are left out.
  const parts = hh > 0 ? [`${hh}h`, `${mm}m`, `${ss}s`] : mm > 0 ? [`${mm}m`, `${ss}s`] : [`${ss}s`];
  while (parts.length > 1 && parts[parts.length - 1].startsWith("0")) parts.pop();
  return parts.join(" ");
}

export function fmtBytes(b: number): string {
  if (b < 1024) return `${b} B`;
  const u = ["KB", "MB", "GB", "TB"];
  let v = b / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${u[i]}`;
}

export function fmtMicros(us: number): string {
  if (us < 1000) return `${us} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

export function debounce<A extends unknown[]>(fn: (...a: A) => void, ms: number): (...a: A) => void {
  let t: number | undefined;
  return (...a: A) => {
    if (t !== undefined) clearTimeout(t);
    t = window.setTimeout(() => {
      t = undefined;
      fn(...a);
    }, ms);
  };
}

/** Calls `fn` on the next animation frame, once however often it is scheduled. */
export function rafOnce(fn: () => void): () => void {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      fn();
    });
  };
}

/** Index of the element of sorted `xs` nearest to `x`. */
export function nearestIndex(xs: ArrayLike<number>, x: number): number {
  let lo = 0;
  let hi = xs.length - 1;
  if (hi < 0) return -1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x)) return lo - 1;
  return lo;
}

/** d3.quantile on sorted values (linear interpolation, R-7). */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (!n) return NaN;
  if (p <= 0 || n < 2) return sorted[0];
  if (p >= 1) return sorted[n - 1];
  const i = (n - 1) * p;
  const i0 = Math.floor(i);
  return sorted[i0] + (sorted[i0 + 1] - sorted[i0]) * (i - i0);
}

export function compileFilter(src: string): { re: RegExp | null; error: string | null } {
  if (!src) return { re: null, error: null };
  try {
    return { re: new RegExp(src, "i"), error: null };
  } catch (e) {
    return { re: null, error: e instanceof Error ? e.message : String(e) };
  }
}

const ICONS: Record<string, string> = {
  pin: "M9 3h6l-1 6 3.5 3.5h-11L10 9z M12 12.5V21",
  fullscreen: "M4 9V4h5 M15 4h5v5 M20 15v5h-5 M9 20H4v-5",
  fit: "M4 12h16 M12 4v16 M8 8l-4 4 4 4 M16 8l4 4-4 4",
  close: "M6 6l12 12 M18 6L6 18",
};

/** A small stroked SVG icon (no icon font, nothing fetched). */
export function icon(name: keyof typeof ICONS | string): SVGSVGElement {
  return svg(
    "svg",
    { viewBox: "0 0 24 24", width: "16", height: "16", "aria-hidden": "true", focusable: "false" },
    svg("path", { d: ICONS[name] ?? "", fill: "none", stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round", "stroke-linejoin": "round" }),
  );
}
