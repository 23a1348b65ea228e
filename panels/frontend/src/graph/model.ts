// The graph hierarchy, built the way TensorBoard's graph dashboard builds it (reference §6.7):
// names split on `/` into metanodes (root `__root__`); a name that is both an op and a scope
// becomes `name/(name)`; Const ops become in-embeddings and `*Summary` ops out-embeddings of the
// nodes they feed / read; `^x` inputs are control edges and `x:k` refers to output k; numbered
// ops of one type in one scope form a series (`prefix_[a-b]`) when at least 5 are consecutive.
// Beyond TensorBoard: a scope with more than MAX_CHILDREN direct children (a graph with no name
// scopes) is split into synthetic groups by op type, so that it stays usable.

export interface RawNode {
  name: string;
  op: string;
  inputs?: string[];
  device?: string;
  attr?: [string, string][];
  shapes?: (number[] | null)[];
}

export interface RawFunction {
  name: string;
  inputs: [string, string][];
  outputs: [string, string][];
  nodes: RawNode[];
}

export interface NodeStat {
  compute_time_us: number | null;
  memory_bytes: number | null;
  device?: string;
  start_us?: number | null;
  end_us?: number | null;
  /** [device index, first start, last end, max bytes] per device, for other device selections. */
  per_device?: [number, number | null, number | null, number][];
}

export interface GraphPayload {
  run: string;
  run_id: number;
  tag: string | null;
  kind: string;
  node_count: number;
  nodes: RawNode[];
  functions: RawFunction[];
  stats: { devices: string[]; default_devices: string[]; nodes: Record<string, NodeStat> } | null;
}

export type NodeKind = "meta" | "op" | "series";

export interface Stats {
  start: number | null;
  end: number | null;
  bytes: number;
  timed: boolean;
}

interface Base {
  name: string;
  label: string;
  kind: NodeKind;
  parent: Meta | Series | null;
  stats: Stats | null;
}

export interface Op extends Base {
  kind: "op";
  raw: RawNode;
  op: string;
  device: string;
  inEmb: Op[];
  outEmb: Op[];
  embedded: boolean;
}

export interface Group extends Base {
  children: Node[];
  opCount: number;
  ops: Map<string, number>;
  devices: Map<string, number>;
}

export interface Meta extends Group {
  kind: "meta";
  synthetic: boolean;
  template: number | null;
  /** Edges whose lowest common ancestor is this group, lifted to its children. */
  edges: MetaEdge[];
}

export interface Series extends Group {
  kind: "series";
  op: string;
  edges: MetaEdge[];
}

export type Node = Op | Meta | Series;

export interface BaseEdge {
  src: Op;
  dst: Op;
  control: boolean;
  output: number;
  shape: number[] | null | undefined;
}

export interface MetaEdge {
  from: Node;
  to: Node;
  base: BaseEdge[];
  control: boolean; // every base edge is a control edge
}

export const ROOT = "__root__";
export const FUNCTION_LIBRARY = "__function_library__";
export const SERIES_MIN = 5;
export const MAX_CHILDREN = 300;
const SYNTH_CHUNK = 200;
const OUT_EMBED_RE = /^[a-zA-Z]+Summary$/;

export interface Hierarchy {
  root: Meta;
  index: Map<string, Node>;
  /** Original TensorFlow node name → op. */
  byOrig: Map<string, Op>;
  edges: BaseEdge[];
  devices: string[];
  templates: number;
  hasStats: boolean;
  hasShapes: boolean;
  maxEdgeCount: number;
}

function newMeta(name: string, label: string, parent: Meta | null, synthetic = false): Meta {
  return {
    name,
    label,
    kind: "meta",
    parent,
    stats: null,
    children: [],
    opCount: 0,
    ops: new Map(),
    devices: new Map(),
    synthetic,
    template: null,
    edges: [],
  };
}

function parseInput(inp: string): { name: string; control: boolean; output: number } {
  let control = false;
  let s = inp;
  if (s.startsWith("^")) {
    control = true;
    s = s.slice(1);
  }
  let output = 0;
  const m = /^(.*):(\d+)$/.exec(s);
  if (m) {
    s = m[1];
    output = Number(m[2]);
  }
  return { name: s, control, output };
}

export function shapeText(dims: number[] | null | undefined): string {
  if (dims === undefined) return "";
  if (dims === null) return "?";
  if (!dims.length) return "scalar";
  return dims.map((d) => (d < 0 ? "?" : String(d))).join("×");
}

/** Function library definitions become nodes under `__function_library__/<function>/`. */
function functionNodes(fns: RawFunction[]): RawNode[] {
  const out: RawNode[] = [];
  for (const f of fns) {
    const p = `${FUNCTION_LIBRARY}/${f.name}/`;
    const local = new Set(f.nodes.map((n) => n.name));
    for (const [arg, type] of f.inputs) out.push({ name: p + arg, op: "_Arg", attr: [["T", type]] });
    for (const n of f.nodes) {
      out.push({
        ...n,
        name: p + n.name,
        inputs: (n.inputs ?? []).map((i) => {
          const ctrl = i.startsWith("^");
          const body = ctrl ? i.slice(1) : i;
          const base = body.split(":")[0];
          const target = local.has(base) || f.inputs.some(([a]) => a === base) ? p + body : body;
          return (ctrl ? "^" : "") + target;
        }),
      });
    }
  }
  return out;
}

export function buildHierarchy(g: GraphPayload): Hierarchy {
  const raws = g.functions?.length ? [...g.nodes, ...functionNodes(g.functions)] : g.nodes;
  // 1. Names that are also scopes get `name/(leaf)`.
  const scopes = new Set<string>();
  for (const n of raws) {
    let i = n.name.indexOf("/");
    while (i >= 0) {
      scopes.add(n.name.slice(0, i));
      i = n.name.indexOf("/", i + 1);
    }
  }
  const root = newMeta(ROOT, ROOT, null);
  const index = new Map<string, Node>([[ROOT, root]]);
  const byOrig = new Map<string, Op>();
  const ops: Op[] = [];
  const devices = new Set<string>();
  for (const raw of raws) {
    let name = raw.name;
    if (scopes.has(name)) {
      const leaf = name.slice(name.lastIndexOf("/") + 1);
      name = `${name}/(${leaf})`;
    }
    if (index.has(name)) continue; // duplicate names: first one wins
    const op: Op = {
      name,
      label: name.slice(name.lastIndexOf("/") + 1),
      kind: "op",
      parent: null,
      stats: null,
      raw,
      op: raw.op,
      device: raw.device ?? "",
      inEmb: [],
      outEmb: [],
      embedded: false,
    };
    if (op.device) devices.add(op.device);
    index.set(name, op);
    byOrig.set(raw.name, op);
    ops.push(op);
  }
  // 2. Edges and embeddings.
  const edges: BaseEdge[] = [];
  const consumers = new Map<Op, number>();
  const parsed: [Op, { name: string; control: boolean; output: number }[]][] = ops.map((op) => [
    op,
    (op.raw.inputs ?? []).map(parseInput),
  ]);
  for (const [, ins] of parsed)
    for (const i of ins) {
      const src = byOrig.get(i.name);
      if (src) consumers.set(src, (consumers.get(src) ?? 0) + 1);
    }
  for (const [op, ins] of parsed) {
    if (OUT_EMBED_RE.test(op.op)) {
      const first = ins.find((i) => !i.control && byOrig.has(i.name));
      if (first) {
        const host = byOrig.get(first.name)!;
        if (!(OUT_EMBED_RE.test(host.op))) {
          host.outEmb.push(op);
          op.embedded = true;
          continue;
        }
      }
    }
    for (const i of ins) {
      const src = byOrig.get(i.name);
      if (!src || src === op) continue;
      if (src.op === "Const" && !(src.raw.inputs ?? []).length) {
        if (!op.inEmb.includes(src)) op.inEmb.push(src);
        src.embedded = true;
        continue;
      }
      edges.push({ src, dst: op, control: i.control, output: i.output, shape: src.raw.shapes?.[i.output] });
    }
  }
  // A Const nobody consumes stays a node; one consumed only by embeddings stays embedded.
  for (const op of ops) if (op.op === "Const" && !consumers.get(op)) op.embedded = false;
  // Drop edges from ops that ended up embedded (e.g. summaries' inputs are kept, summaries gone).
  const live = edges.filter((e) => !e.src.embedded && !e.dst.embedded);

  // 3. Metanodes by name scope.
  const metaFor = (path: string): Meta => {
    const hit = index.get(path);
    if (hit && hit.kind === "meta") return hit;
    const slash = path.lastIndexOf("/");
    const parent = slash < 0 ? root : metaFor(path.slice(0, slash));
    const m = newMeta(path, path.slice(slash + 1), parent);
    parent.children.push(m);
    index.set(path, m);
    return m;
  };
  for (const op of ops) {
    if (op.embedded) continue;
    const slash = op.name.lastIndexOf("/");
    const parent = slash < 0 ? root : metaFor(op.name.slice(0, slash));
    op.parent = parent;
    parent.children.push(op);
  }
  // Embedded ops keep their scope's parent for naming but are not children.
  for (const op of ops) {
    if (!op.embedded) continue;
    const slash = op.name.lastIndexOf("/");
    const p = slash < 0 ? root : (index.get(op.name.slice(0, slash)) as Meta | undefined);
    op.parent = p && p.kind === "meta" ? p : root;
  }

  // 4. Series, then synthetic groups for very wide scopes, bottom-up.
  const groupAll = (m: Meta) => {
    for (const c of m.children) if (c.kind === "meta") groupAll(c);
    detectSeries(m, index);
    if (m.children.length > MAX_CHILDREN) splitWide(m, index);
  };
  groupAll(root);

  // 5. Op histograms, devices, stats (bottom-up).
  const stats = g.stats?.nodes ?? null;
  if (stats) {
    for (const op of [...ops]) {
      const s = stats[op.raw.name];
      if (!s) continue;
      op.stats = {
        start: s.start_us ?? null,
        end: s.end_us ?? null,
        bytes: s.memory_bytes ?? 0,
        timed: s.compute_time_us != null,
      };
      if (s.device) {
        op.device = s.device;
        devices.add(s.device);
      }
    }
  }
  const summarize = (grp: Meta | Series) => {
    grp.opCount = 0;
    grp.ops = new Map();
    grp.devices = new Map();
    let st: Stats | null = null;
    for (const c of grp.children) {
      if (c.kind === "op") {
        grp.opCount++;
        grp.ops.set(c.op, (grp.ops.get(c.op) ?? 0) + 1);
        if (c.device) grp.devices.set(c.device, (grp.devices.get(c.device) ?? 0) + 1);
      } else {
        summarize(c);
        grp.opCount += c.opCount;
        for (const [k, v] of c.ops) grp.ops.set(k, (grp.ops.get(k) ?? 0) + v);
        for (const [k, v] of c.devices) grp.devices.set(k, (grp.devices.get(k) ?? 0) + v);
      }
      const cs = c.stats;
      if (cs) {
        if (!st) st = { start: null, end: null, bytes: 0, timed: false };
        st.bytes += cs.bytes;
        if (cs.timed && cs.start !== null && cs.end !== null) {
          st.start = st.start === null ? cs.start : Math.min(st.start, cs.start);
          st.end = st.end === null ? cs.end : Math.max(st.end, cs.end);
          st.timed = true;
        }
      }
    }
    grp.stats = st;
  };
  summarize(root);

  // 6. Lift every edge to the children of its endpoints' lowest common ancestor.
  let maxEdgeCount = 1;
  const maps = new Map<Group, Map<string, MetaEdge>>();
  for (const e of live) {
    const a = chain(e.src);
    const b = chain(e.dst);
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    if (i === 0 || i >= a.length || i >= b.length) continue;
    const lca = a[i - 1] as Meta | Series;
    const from = a[i];
    const to = b[i];
    let m = maps.get(lca);
    if (!m) maps.set(lca, (m = new Map()));
    const key = `${from.name}\u0000${to.name}`;
    let me = m.get(key);
    if (!me) m.set(key, (me = { from, to, base: [], control: true }));
    me.base.push(e);
    if (!e.control) me.control = false;
    maxEdgeCount = Math.max(maxEdgeCount, me.base.length);
  }
  for (const [grp, m] of maps) (grp as Meta).edges = [...m.values()];

  // 7. Templates: metanodes with the same op histogram and shape share a colour.
  const sigs = new Map<string, number>();
  const counts = new Map<string, number>();
  const walk = (m: Meta, visit: (m: Meta) => void) => {
    visit(m);
    for (const c of m.children) if (c.kind === "meta") walk(c, visit);
  };
  const sigOf = (m: Meta) =>
    `${m.children.length}|${[...m.ops.entries()].sort((x, y) => (x[0] < y[0] ? -1 : 1)).map(([k, v]) => `${k}:${v}`).join(",")}`;
  walk(root, (m) => {
    if (m === root || m.synthetic) return;
    const s = sigOf(m);
    counts.set(s, (counts.get(s) ?? 0) + 1);
  });
  walk(root, (m) => {
    if (m === root || m.synthetic) return;
    const s = sigOf(m);
    if (!sigs.has(s)) sigs.set(s, sigs.size);
    m.template = sigs.get(s)!;
  });

  return {
    root,
    index,
    byOrig,
    edges: live,
    devices: [...devices].sort(),
    templates: sigs.size,
    hasStats: !!stats,
    hasShapes: raws.some((r) => r.shapes && r.shapes.length),
    maxEdgeCount,
  };
}

/** Ancestors from the root down to the node itself. */
export function chain(n: Node): Node[] {
  const out: Node[] = [];
  let c: Node | null = n;
  while (c) {
    out.push(c);
    c = c.parent;
  }
  return out.reverse();
}

function detectSeries(m: Meta, index: Map<string, Node>): void {
  const byKey = new Map<string, { id: number; op: Op }[]>();
  for (const c of m.children) {
    if (c.kind !== "op") continue;
    const mm = /^(\D*)_(\d+)$/.exec(c.label);
    const prefix = mm ? mm[1] : c.label;
    const id = mm ? Number(mm[2]) : 0;
    const key = `${c.op}\u0000${prefix}`;
    let l = byKey.get(key);
    if (!l) byKey.set(key, (l = []));
    l.push({ id, op: c });
  }
  const grouped = new Set<Op>();
  const added: Series[] = [];
  for (const [key, list] of byKey) {
    if (list.length < SERIES_MIN) continue;
    list.sort((a, b) => a.id - b.id);
    const prefix = key.split("\u0000")[1];
    let run: { id: number; op: Op }[] = [list[0]];
    const flush = () => {
      if (run.length >= SERIES_MIN) {
        const first = run[0].id;
        const last = run[run.length - 1].id;
        const label = `${prefix}_[${first}-${last}]`;
        const name = m === index.get(ROOT) ? label : `${m.name}/${label}`;
        if (index.has(name)) return;
        const s: Series = {
          name,
          label,
          kind: "series",
          parent: m,
          stats: null,
          children: run.map((r) => r.op),
          opCount: 0,
          ops: new Map(),
          devices: new Map(),
          op: run[0].op.op,
          edges: [],
        };
        for (const r of run) {
          r.op.parent = s;
          grouped.add(r.op);
        }
        index.set(name, s);
        added.push(s);
      }
    };
    for (let i = 1; i < list.length; i++) {
      if (list[i].id === run[run.length - 1].id + 1) run.push(list[i]);
      else {
        flush();
        run = [list[i]];
      }
    }
    flush();
  }
  if (added.length) m.children = [...m.children.filter((c) => !(c.kind === "op" && grouped.has(c))), ...added];
}

/** Splits a scope with too many direct children into synthetic groups by op type. */
function splitWide(m: Meta, index: Map<string, Node>): void {
  const keep: Node[] = [];
  const byOp = new Map<string, Node[]>();
  for (const c of m.children) {
    if (c.kind === "meta") {
      keep.push(c);
      continue;
    }
    const op = c.kind === "op" ? c.op : c.op;
    let l = byOp.get(op);
    if (!l) byOp.set(op, (l = []));
    l.push(c);
  }
  const prefix = m.name === ROOT ? "" : `${m.name}/`;
  const make = (label: string, members: Node[]): Meta => {
    const g = newMeta(`${prefix}${label}`, label, m, true);
    g.children = members;
    for (const c of members) c.parent = g;
    index.set(g.name, g);
    return g;
  };
  for (const [op, members] of [...byOp.entries()].sort((a, b) => b[1].length - a[1].length)) {
    if (members.length === 1 && keep.length < MAX_CHILDREN / 2) {
      keep.push(members[0]);
      continue;
    }
    members.sort((a, b) => (a.name < b.name ? -1 : 1));
    if (members.length <= SYNTH_CHUNK) {
      keep.push(make(`⟨${op} ×${members.length}⟩`, members));
      continue;
    }
    const chunks: Meta[] = [];
    for (let i = 0; i < members.length; i += SYNTH_CHUNK) {
      const part = members.slice(i, i + SYNTH_CHUNK);
      chunks.push(make(`⟨${op} ${i + 1}–${i + part.length}⟩`, part));
    }
    if (chunks.length > MAX_CHILDREN / 3) {
      const outer = make(`⟨${op} ×${members.length}⟩`, chunks);
      if (outer.children.length > MAX_CHILDREN) splitWide(outer, index);
      keep.push(outer);
    } else keep.push(...chunks);
  }
  m.children = keep;
}

/** Transitive inputs of an op (names of ops, and of every group holding one). */
export function traceInputs(h: Hierarchy, start: Op): Set<string> {
  const incoming = new Map<Op, Op[]>();
  for (const e of h.edges) {
    let l = incoming.get(e.dst);
    if (!l) incoming.set(e.dst, (l = []));
    l.push(e.src);
  }
  const seen = new Set<Op>([start]);
  const stack = [start];
  while (stack.length) {
    const n = stack.pop()!;
    for (const s of incoming.get(n) ?? []) {
      if (!seen.has(s)) {
        seen.add(s);
        stack.push(s);
      }
    }
  }
  const names = new Set<string>();
  for (const op of seen) for (const a of chain(op)) names.add(a.name);
  return names;
}

/** Recomputes every node's statistics from the devices in `include` (indices into
 * `stats.devices`), the way TensorBoard's device include list does: an op's compute time spans
 * its executions on those devices, its memory is the largest; groups span / sum their children. */
export function applyDeviceSelection(h: Hierarchy, g: GraphPayload, include: Set<number>): void {
  const nodes = g.stats?.nodes;
  if (!nodes) return;
  const walk = (n: Node): Stats | null => {
    if (n.kind === "op") {
      const s = nodes[n.raw.name];
      let st: Stats | null = null;
      for (const [di, start, end, bytes] of s?.per_device ?? []) {
        if (!include.has(di)) continue;
        if (!st) st = { start: null, end: null, bytes: 0, timed: false };
        st.bytes = Math.max(st.bytes, bytes);
        if (start !== null && end !== null) {
          st.start = st.start === null ? start : Math.min(st.start, start);
          st.end = st.end === null ? end : Math.max(st.end, end);
          st.timed = true;
        }
      }
      n.stats = st;
      return st;
    }
    let st: Stats | null = null;
    for (const c of n.children) {
      const cs = walk(c);
      if (!cs) continue;
      if (!st) st = { start: null, end: null, bytes: 0, timed: false };
      st.bytes += cs.bytes;
      if (cs.timed && cs.start !== null && cs.end !== null) {
        st.start = st.start === null ? cs.start : Math.min(st.start, cs.start);
        st.end = st.end === null ? cs.end : Math.max(st.end, cs.end);
        st.timed = true;
      }
    }
    n.stats = st;
    return st;
  };
  walk(h.root);
}
