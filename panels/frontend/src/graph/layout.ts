// Layout of the visible part of the hierarchy: every expanded group is laid out on its own with
// dagre (inputs at the bottom, like TensorBoard), its children sized by their own layouts, then
// placed inside it. Auxiliary nodes (NoOps and high-degree outliers, or the user's choice) go to
// side columns instead of the main graph, as in TensorBoard's extraction.

import dagre from "@dagrejs/dagre";
import type { Group, MetaEdge, Node } from "./model";

export interface Box {
  node: Node;
  x: number; // centre, relative to the parent's content origin
  y: number;
  w: number;
  h: number;
  expanded: boolean;
  aux: "in" | "out" | null;
  layout: GroupLayout | null;
}

export interface EdgeRoute {
  edge: MetaEdge;
  points: { x: number; y: number }[];
}

export interface GroupLayout {
  group: Group;
  width: number;
  height: number;
  boxes: Box[];
  edges: EdgeRoute[];
  auxIn: Box[];
  auxOut: Box[];
}

export const HEADER = 26;
const PAD = 12;
const AUX_GAP = 24;
const MIN_EXTRACT = 15;

export interface LayoutOptions {
  expanded: Set<string>;
  /** name → "main" | "aux": the user's choice overrides automatic extraction. */
  placement: Map<string, "main" | "aux">;
  extractHighDegree: boolean;
}

function textWidth(s: string, px = 6.6): number {
  return Math.min(220, s.length * px);
}

export function displayLabel(n: Node): string {
  const l = n.label;
  return l.length > 30 ? l.slice(0, 14) + "…" + l.slice(-14) : l;
}

export function collapsedSize(n: Node): { w: number; h: number } {
  const label = displayLabel(n);
  if (n.kind === "op") return { w: Math.max(44, textWidth(label) + 24 + (n.inEmb.length || n.outEmb.length ? 16 : 0)), h: 22 };
  if (n.kind === "series") return { w: Math.max(70, textWidth(label) + 30), h: 30 };
  return { w: Math.max(70, textWidth(label) + 40), h: 28 };
}

function quartile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.round(q * sorted.length));
  return sorted[i] ?? 0;
}

/** TensorBoard's choice of auxiliary nodes for one group's core graph. */
export function extract(group: Group, opts: LayoutOptions): Map<Node, "in" | "out"> {
  const aux = new Map<Node, "in" | "out">();
  const children = group.children;
  for (const c of children) {
    const p = opts.placement.get(c.name);
    if (p === "aux") aux.set(c, "out");
    else if (p !== "main" && c.kind === "op" && c.op === "NoOp") aux.set(c, "out");
  }
  if (opts.extractHighDegree && children.length >= MIN_EXTRACT) {
    const inD = new Map<Node, number>();
    const outD = new Map<Node, number>();
    const inC = new Map<Node, number>();
    const outC = new Map<Node, number>();
    for (const e of (group as unknown as { edges: MetaEdge[] }).edges ?? []) {
      const n = e.base.length;
      const data = e.base.filter((b) => !b.control).length;
      outD.set(e.from, (outD.get(e.from) ?? 0) + (data ? 1 : 0));
      inD.set(e.to, (inD.get(e.to) ?? 0) + (data ? 1 : 0));
      outC.set(e.from, (outC.get(e.from) ?? 0) + (n - data ? 1 : 0));
      inC.set(e.to, (inC.get(e.to) ?? 0) + (n - data ? 1 : 0));
    }
    const deg = (m: Map<Node, number>, c: Map<Node, number>, n: Node) => {
      const d = m.get(n) ?? 0;
      return d > 0 ? d : (c.get(n) ?? 0);
    };
    const ins = children.map((c) => deg(inD, inC, c)).sort((a, b) => a - b);
    const outs = children.map((c) => deg(outD, outC, c)).sort((a, b) => a - b);
    const iq1 = quartile(ins, 0.25);
    const iq3 = quartile(ins, 0.75);
    const oq1 = quartile(outs, 0.25);
    const oq3 = quartile(outs, 0.75);
    const inLimit = Math.max(iq3 + (iq3 - iq1), 4);
    const outLimit = Math.max(oq3 + 4 * (oq3 - oq1), 4);
    for (const c of children) {
      if (opts.placement.get(c.name) === "main" || aux.has(c)) continue;
      if (deg(outD, outC, c) > outLimit) aux.set(c, "out");
      else if (deg(inD, inC, c) > inLimit) aux.set(c, "in");
    }
  }
  return aux;
}

export function layoutGroup(group: Group, opts: LayoutOptions): GroupLayout {
  const aux = extract(group, opts);
  const g = new dagre.graphlib.Graph({ multigraph: false });
  g.setGraph({ rankdir: "BT", nodesep: 18, ranksep: 32, edgesep: 8, marginx: 0, marginy: 0 });
  g.setDefaultEdgeLabel(() => ({}));
  const boxes: Box[] = [];
  const auxIn: Box[] = [];
  const auxOut: Box[] = [];
  for (const c of group.children) {
    const exp = c.kind !== "op" && opts.expanded.has(c.name);
    const sub = exp ? layoutGroup(c as Group, opts) : null;
    const size = sub ? { w: sub.width, h: sub.height } : collapsedSize(c);
    const box: Box = { node: c, x: 0, y: 0, w: size.w, h: size.h, expanded: exp, aux: aux.get(c) ?? null, layout: sub };
    if (box.aux === "in") auxIn.push(box);
    else if (box.aux === "out") auxOut.push(box);
    else {
      boxes.push(box);
      g.setNode(c.name, { width: size.w, height: size.h });
    }
  }
  const edges = ((group as { edges?: MetaEdge[] }).edges ?? []).filter((e) => !aux.has(e.from) && !aux.has(e.to));
  for (const e of edges) g.setEdge(e.from.name, e.to.name, { weight: e.control ? 1 : 2, minlen: 1 });
  if (boxes.length) dagre.layout(g);
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const b of boxes) {
    const n = g.node(b.node.name);
    b.x = n.x;
    b.y = n.y;
    minX = Math.min(minX, b.x - b.w / 2);
    maxX = Math.max(maxX, b.x + b.w / 2);
    minY = Math.min(minY, b.y - b.h / 2);
    maxY = Math.max(maxY, b.y + b.h / 2);
  }
  if (!boxes.length) minX = minY = maxX = maxY = 0;
  const routes: EdgeRoute[] = edges.map((e) => ({ edge: e, points: (g.edge(e.from.name, e.to.name)?.points ?? []).map((p: { x: number; y: number }) => ({ ...p })) }));
  // Side columns for auxiliary nodes.
  const colW = (list: Box[]) => (list.length ? Math.max(...list.map((b) => b.w)) : 0);
  const inW = colW(auxIn);
  const outW = colW(auxOut);
  const coreW = maxX - minX;
  const coreH = maxY - minY;
  const offX = PAD + (inW ? inW + AUX_GAP : 0) - minX;
  const offY = HEADER + PAD - minY;
  for (const b of boxes) {
    b.x += offX;
    b.y += offY;
  }
  for (const r of routes) for (const p of r.points) {
    p.x += offX;
    p.y += offY;
  }
  const stack = (list: Box[], cx: number) => {
    let y = HEADER + PAD;
    for (const b of list) {
      b.x = cx;
      b.y = y + b.h / 2;
      y += b.h + 8;
    }
    return y;
  };
  const inBottom = stack(auxIn, PAD + inW / 2);
  const outBottom = stack(auxOut, PAD + (inW ? inW + AUX_GAP : 0) + coreW + AUX_GAP + outW / 2);
  const width = PAD * 2 + coreW + (inW ? inW + AUX_GAP : 0) + (outW ? outW + AUX_GAP : 0);
  const height = Math.max(HEADER + PAD * 2 + coreH, inBottom + PAD, outBottom + PAD);
  return {
    group,
    width: Math.max(width, textWidth(group.label) + 60),
    height,
    boxes,
    edges: routes,
    auxIn,
    auxOut,
  };
}
