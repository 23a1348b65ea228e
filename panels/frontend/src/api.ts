// The hub's JSON API (README.md#api), as the dashboard uses it.

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
    return `${this.base}/${path}${s ? "?" + s : ""}`;
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
    const resp = await fetch(this.url(path), {
      method: "PUT",
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
