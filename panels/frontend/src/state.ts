// The whole view state. It lives in the URL (so a copied link restores the view) and, for the
// per-user settings, in the user's saved dashboard (GET/PUT …/prefs). Order of precedence when a
// page opens: defaults, then the saved dashboard, then the URL (the URL wins).

export type PanelId = "scalars" | "images" | "graphs" | "distributions" | "histograms" | "text" | "hparams";
export const PANELS: { id: PanelId; label: string }[] = [
  { id: "scalars", label: "SCALARS" },
  { id: "images", label: "IMAGES" },
  { id: "graphs", label: "GRAPHS" },
  { id: "distributions", label: "DISTRIBUTIONS" },
  { id: "histograms", label: "HISTOGRAMS" },
  { id: "text", label: "TEXT" },
  { id: "hparams", label: "HPARAMS" },
];

export type XAxis = "step" | "relative" | "wall";
export type TooltipSort = "default" | "descending" | "ascending" | "nearest";

export interface ViewState {
  panel: PanelId;
  runs: string[] | null; // null = every run (up to the selection limit)
  runFilter: string;
  tagFilter: string;
  smoothing: number;
  xAxis: XAxis;
  alignSteps: boolean; // STEP axis: each run's x counts from its own first step
  logScale: boolean;
  ignoreOutliers: boolean;
  tooltipSort: TooltipSort;
  showDownloads: boolean;
  groupRegex: string;
  band: "minmax" | "std";
  histMode: "offset" | "overlay";
  imageBrightness: number;
  imageContrast: number;
  imageActualSize: boolean;
  imageSteps: Record<string, number>; // card key → step
  textSteps: Record<string, number>;
  graphRun: string;
  graphTag: string;
  graphNode: string;
  graphColor: "structure" | "device" | "compute" | "memory";
  graphExpanded: string[];
  pinned: string[];
  collapsed: string[];
  runColors: Record<string, string>;
  hpView: "table" | "parallel";
  hpSort: string; // "" = the hub's order; "run", "status", "hp:<name>" or "metric:<group/tag>"
  hpDesc: boolean;
  hpLog: string[]; // parallel-coordinates axes (column keys) drawn on a log scale
}

export const DEFAULTS: ViewState = {
  panel: "scalars",
  runs: null,
  runFilter: "",
  tagFilter: "",
  smoothing: 0.6,
  xAxis: "step",
  alignSteps: false,
  logScale: false,
  ignoreOutliers: true,
  tooltipSort: "default",
  showDownloads: false,
  groupRegex: "",
  band: "minmax",
  histMode: "offset",
  imageBrightness: 1,
  imageContrast: 1,
  imageActualSize: false,
  imageSteps: {},
  textSteps: {},
  graphRun: "",
  graphTag: "",
  graphNode: "",
  graphColor: "structure",
  graphExpanded: [],
  pinned: [],
  collapsed: [],
  runColors: {},
  hpView: "table",
  hpSort: "",
  hpDesc: false,
  hpLog: [],
};

// URL parameter ↔ state key. Values are strings; lists and maps are JSON.
const URL_KEYS: [keyof ViewState, string][] = [
  ["panel", "panel"],
  ["runs", "runs"],
  ["runFilter", "runFilter"],
  ["tagFilter", "tagFilter"],
  ["smoothing", "smoothing"],
  ["xAxis", "x"],
  ["alignSteps", "align"],
  ["logScale", "log"],
  ["ignoreOutliers", "outliers"],
  ["tooltipSort", "sort"],
  ["showDownloads", "downloads"],
  ["groupRegex", "group"],
  ["band", "band"],
  ["histMode", "hist"],
  ["imageBrightness", "brightness"],
  ["imageContrast", "contrast"],
  ["imageActualSize", "actual"],
  ["imageSteps", "isteps"],
  ["textSteps", "tsteps"],
  ["graphRun", "grun"],
  ["graphTag", "gtag"],
  ["graphNode", "node"],
  ["graphColor", "gcolor"],
  ["graphExpanded", "gexp"],
  ["hpView", "hpview"],
  ["hpSort", "hpsort"],
  ["hpDesc", "hpdesc"],
  ["hpLog", "hplog"],
  ["pinned", "pin"],
];

// Lists written as one repeated parameter per item (`pin=scalars:loss&pin=scalars:lr`), not JSON.
const REPEATED = new Set<keyof ViewState>(["pinned"]);

// State key ↔ saved-dashboard key (panels.kinds.prefs).
const PREF_KEYS: [keyof ViewState, string][] = [
  ["smoothing", "smoothing"],
  ["xAxis", "x_axis"],
  ["alignSteps", "align_steps"],
  ["logScale", "log_scale"],
  ["ignoreOutliers", "ignore_outliers"],
  ["tooltipSort", "tooltip_sort"],
  ["showDownloads", "show_downloads"],
  ["tagFilter", "tag_filter"],
  ["runFilter", "run_filter"],
  ["runs", "selected_runs"],
  ["runColors", "run_colors"],
  ["pinned", "pinned"],
  ["collapsed", "collapsed_groups"],
  ["histMode", "hist_mode"],
  ["imageBrightness", "image_brightness"],
  ["imageContrast", "image_contrast"],
  ["imageActualSize", "image_actual_size"],
  ["groupRegex", "group_regex"],
  ["band", "band"],
  ["graphColor", "graph_color"],
  ["hpView", "hp_view"],
];

function coerce(key: keyof ViewState, raw: unknown): unknown {
  const def = DEFAULTS[key];
  if (key === "runs") {
    if (raw === null) return null;
    if (Array.isArray(raw)) return raw.map(String);
    return undefined;
  }
  if (typeof def === "number") {
    const n = typeof raw === "number" ? raw : Number(raw);
    return Number.isFinite(n) ? n : undefined;
  }
  if (typeof def === "boolean") {
    if (typeof raw === "boolean") return raw;
    if (raw === "1" || raw === "true") return true;
    if (raw === "0" || raw === "false") return false;
    return undefined;
  }
  if (typeof def === "string") return typeof raw === "string" ? raw : undefined;
  if (Array.isArray(def)) return Array.isArray(raw) ? raw.map(String) : undefined;
  if (def && typeof def === "object") return raw && typeof raw === "object" && !Array.isArray(raw) ? raw : undefined;
  return undefined;
}

const ENUMS: Partial<Record<keyof ViewState, string[]>> = {
  panel: ["scalars", "images", "graphs", "distributions", "histograms", "text", "hparams"],
  xAxis: ["step", "relative", "wall"],
  tooltipSort: ["default", "descending", "ascending", "nearest"],
  band: ["minmax", "std"],
  histMode: ["offset", "overlay"],
  graphColor: ["structure", "device", "compute", "memory"],
  hpView: ["table", "parallel"],
};

function valid(key: keyof ViewState, v: unknown): boolean {
  if (v === undefined) return false;
  const allowed = ENUMS[key];
  if (allowed && !allowed.includes(String(v))) return false;
  if (key === "smoothing") return (v as number) >= 0 && (v as number) <= 0.999;
  return true;
}

export function fromPrefs(prefs: Record<string, unknown>): Partial<ViewState> {
  const out: Partial<ViewState> = {};
  for (const [k, p] of PREF_KEYS) {
    if (!(p in prefs)) continue;
    const v = coerce(k, prefs[p]);
    if (valid(k, v)) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

export function toPrefs(s: ViewState): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, p] of PREF_KEYS) out[p] = s[k];
  return out;
}

export function fromUrl(search: string): Partial<ViewState> {
  const q = new URLSearchParams(search);
  const out: Partial<ViewState> = {};
  for (const [k, p] of URL_KEYS) {
    if (REPEATED.has(k)) {
      const all = q.getAll(p);
      if (all.length) (out as Record<string, unknown>)[k] = [...new Set(all.filter((x) => x !== ""))];
      continue;
    }
    const raw = q.get(p);
    if (raw === null) continue;
    let v: unknown = raw;
    const def = DEFAULTS[k];
    if (k === "runs" || Array.isArray(def) || (def && typeof def === "object")) {
      try {
        v = JSON.parse(raw);
      } catch {
        continue;
      }
    }
    v = coerce(k, v);
    if (valid(k, v)) (out as Record<string, unknown>)[k] = v;
  }
  return out;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Only what differs from the defaults goes into the URL, so links stay short. */
export function toUrl(s: ViewState): string {
  const q = new URLSearchParams();
  for (const [k, p] of URL_KEYS) {
    const v = s[k];
    if (same(v, DEFAULTS[k])) continue;
    if (REPEATED.has(k)) for (const item of v as string[]) q.append(p, item);
    else if (k === "runs" || Array.isArray(v) || (v && typeof v === "object")) q.set(p, JSON.stringify(v));
    else if (typeof v === "boolean") q.set(p, v ? "1" : "0");
    else q.set(p, String(v));
  }
  const s2 = q.toString();
  return s2 ? "?" + s2 : "";
}
