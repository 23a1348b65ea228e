// Comparison mode (issue #5): the dashboard over a saved selection of runs from several projects,
// read through `/api/v1/shared/{token}` (a share link) or `/api/v1/comparisons/{id}` (its owner).
//
// The hub lists the comparison's runs as {"id","project","name","alias","display_name",
// "available","reason","tags","graph",…}. The dashboard keys runs by name in its view state, so
// here each available run becomes a RunInfo named by its display name (alias, else the run name,
// else "project/name" when the name occurs twice; unique within the comparison). The saved view
// state keys run colours and the run selection by run id instead, so that renaming an alias
// keeps them: `stateToPrefs`/`prefsToState` translate between the two.

import type { KindName, RunInfo } from "./api";

export interface SharedRun {
  id: number;
  project: string;
  project_name: string;
  name: string;
  alias: string;
  display_name: string;
  available: boolean;
  reason: "hidden" | "deleted" | "missing" | null;
  tags: Record<KindName, string[]>;
  graph: boolean;
  start_time: number | null;
  last_update: number | null;
  last_step: number | null;
  deleted_by?: string | null;
}

export interface SharedView {
  title: string;
  state: Record<string, unknown>;
  runs: SharedRun[];
  version: string;
}

export interface ComparisonConfig {
  title: string;
  /** The owner's page (may save the view); false through a share link. */
  owner: boolean;
  /** The owner's sharing page, or null. */
  manage: string | null;
  /** The viewer's list of comparisons, or null (anonymous viewers). */
  list: string | null;
  view: SharedView;
}

export const REASONS: Record<string, string> = {
  hidden: "hidden in its project",
  deleted: "its stored data was deleted",
  missing: "no longer available",
};

export function toRunInfos(view: SharedView): RunInfo[] {
  return view.runs
    .filter((r) => r.available)
    .map((r) => ({
      id: r.id,
      name: r.display_name,
      source: 0,
      start_time: r.start_time,
      last_update: r.last_update,
      last_step: r.last_step,
      hidden: false,
      note: "",
      tags: r.tags,
      graph: r.graph,
      status: {},
      project: r.project,
      runName: r.name,
    }));
}

export function unavailable(view: SharedView): SharedRun[] {
  return view.runs.filter((r) => !r.available);
}

function maps(view: SharedView): { byId: Map<string, string>; byName: Map<string, string> } {
  const byId = new Map<string, string>();
  const byName = new Map<string, string>();
  for (const r of view.runs) {
    byId.set(String(r.id), r.display_name);
    byName.set(r.display_name, String(r.id));
  }
  return { byId, byName };
}

/** Saved comparison state (runs by id) → the dashboard's saved-dashboard document (by name). */
export function stateToPrefs(view: SharedView): Record<string, unknown> {
  const { byId } = maps(view);
  const out: Record<string, unknown> = { ...view.state };
  const colors = view.state.run_colors;
  if (colors && typeof colors === "object" && !Array.isArray(colors)) {
    const named: Record<string, string> = {};
    for (const [id, c] of Object.entries(colors as Record<string, string>)) {
      const n = byId.get(id);
      if (n !== undefined) named[n] = c;
    }
    out.run_colors = named;
  }
  const sel = view.state.selected_runs;
  if (Array.isArray(sel)) out.selected_runs = sel.map((id) => byId.get(String(id))).filter((n) => n !== undefined);
  return out;
}

/** The dashboard's document (runs by name) → a comparison state to save (runs by id). */
export function prefsToState(prefs: Record<string, unknown>, view: SharedView): Record<string, unknown> {
  const { byName } = maps(view);
  const out: Record<string, unknown> = { ...prefs };
  const colors = prefs.run_colors;
  if (colors && typeof colors === "object" && !Array.isArray(colors)) {
    const byIdColors: Record<string, string> = {};
    for (const [name, c] of Object.entries(colors as Record<string, string>)) {
      const id = byName.get(name);
      if (id !== undefined) byIdColors[id] = c;
    }
    out.run_colors = byIdColors;
  }
  const sel = prefs.selected_runs;
  if (Array.isArray(sel)) out.selected_runs = sel.map((n) => byName.get(String(n))).filter((id) => id !== undefined);
  return out;
}
