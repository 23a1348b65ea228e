// The hub's JSON API (README.md#api), as the dashboard uses it.

import type { ComparisonConfig } from "./comparison";

export interface Config {
  project: { slug: string; name: string };
  mode: "embedded" | "team";
  api: string;
  ws: string;
  user: string;
  home: string | null;
  logout: string | null;
  /** Embedded in the page so that the first render needs no extra round trip. */
  initial?: { version: string; runs: RunInfo[]; prefs: Record<string, unknown> };
  /** The "Compare…" page (team mode's project dashboards), or null. */
  compare?: string | null;
  /** Comparison mode (issue #5): the API base is a comparison's or a share link's prefix. */
  comparison?: ComparisonConfig;
}

export type KindName = "scalars" | "histograms" | "distributions" | "images" | "text";

export interface RunInfo {
  id: number;
  name: string;
  source: number;
  start_time: number | null;
  last_update: number | null;
  last_step: number | null;
  hidden: boolean;
  note: string;
  tags: Record<KindName, string[]>;
  graph: boolean;
  status: Record<string, unknown>;
  /** Comparison mode: the run's project and its own name (`name` is its display name). */
  project?: string;
  runName?: string;
}

/** GET {base}/hparams (README.md#api): TensorBoard's hparams plugin data, one session per run. */
export interface HParamInfo {
  name: string;
  display_name: string;
  description: string;
  type: "float" | "string" | "bool" | "unset";
  domain: { values: unknown[] } | { min: unknown; max: unknown } | null;
  differs: boolean;
}

export interface MetricInfo {
  group: string;
  tag: string;
  display_name: string;
  description: string;
  dataset: "training" | "validation" | "unknown";
}

export interface MetricValue {
  /** A number, or "NaN" / "Infinity" / "-Infinity" (tbhub.jsonutil). */
  value: unknown;
  step: number;
  wall_time: number;
  run_id: number;
}

export interface HParamsSession {
  run_id: number;
  run: string;
  group_name: string;
  status: "unknown" | "success" | "failure" | "running";
  start_time: number | null;
  end_time: number | null;
  model_uri: string;
  monitor_url: string;
  hparams: Record<string, unknown>;
  /** Aligned with HParamsResponse.metrics; null when the session has no value. */
  metrics: (MetricValue | null)[];
}

export interface HParamsResponse {
  experiment: { name: string; description: string; user: string; time_created: number | null; inferred: boolean };
  hparams: HParamInfo[];
  metrics: MetricInfo[];
  sessions: HParamsSession[];
}

export class ApiError extends Error {
  constructor(
    public status: number,
    message: string,
    public body: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function cookie(name: string): string {
  for (const part of document.cookie.split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k === name) return decodeURIComponent(v.join("="));
  }
  return "";
}

export class Api {
  constructor(public base: string) {}

  url(path: string, params: Record<string, string | number | (string | number)[] | undefined> = {}): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const x of v) q.append(k, String(x));
      else q.append(k, String(v));
    }
    const s = q.toString();
    return `${path ? `${this.base}/${path}` : this.base}${s ? "?" + s : ""}`;
  }

  async get<T>(path: string, params: Parameters<Api["url"]>[1] = {}, signal?: AbortSignal): Promise<T> {
    const resp = await fetch(this.url(path, params), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
      signal,
    });
    return this.parse<T>(resp);
  }

  async put<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>("PUT", path, body);
  }

  async patch<T>(path: string, body: unknown): Promise<T> {
    return this.send<T>("PATCH", path, body);
  }

  private async send<T>(method: string, path: string, body: unknown): Promise<T> {
    const resp = await fetch(this.url(path), {
      method,
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRFToken": cookie("csrftoken"),
      },
      body: JSON.stringify(body),
    });
    return this.parse<T>(resp);
  }

  private async parse<T>(resp: Response): Promise<T> {
    if (resp.status === 401) {
      throw new ApiError(401, "Your session has ended: sign in again.");
    }
    const text = await resp.text();
    let body: unknown = null;
    try {
      body = text ? JSON.parse(text) : null;
    } catch {
      body = null;
    }
    if (!resp.ok) {
      const b = (body && typeof body === "object" ? body : {}) as Record<string, unknown>;
      throw new ApiError(resp.status, String(b.error ?? `${resp.status} ${resp.statusText}`), b);
    }
    return body as T;
  }
}
