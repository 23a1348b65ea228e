// Live updates: one websocket per page, subscribed to the project's change notices
// (ingest.notices): {"type":"ingest.update","run_id","run","version","last_step",
// "kinds":{"scalars":[tags],…},"new_run","new_tags","purged","graph"}. Reconnects with
// exponential back-off and jitter; after a reconnect the page fetches what it missed.

export interface UpdateMsg {
  type: "ingest.update";
  /** Absent in comparison mode (the hub does not tell a link which project a run is in). */
  project?: number;
  run_id: number;
  run: string;
  version: number;
  last_step: number | null;
  kinds: Partial<Record<string, string[]>>;
  new_run?: boolean;
  new_tags?: boolean;
  purged?: boolean;
  graph?: boolean;
}

export type LiveStatus = "connecting" | "live" | "reconnecting" | "offline";

export class Live {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private everConnected = false;
  private timer: number | undefined;
  private stopped = false;
  status: LiveStatus = "connecting";

  constructor(
    private path: string,
    private onMessage: (m: UpdateMsg) => void,
    private onStatus: (s: LiveStatus) => void,
    /** After every (re)connection: fetch what may have been missed while not subscribed. */
    private onReconnected: (first: boolean, version: string) => void,
    /** Other messages, e.g. "comparison.changed" (comparison mode). */
    private onOther: (msg: { type?: string }) => void = () => {},
  ) {}

  start(): void {
    this.stopped = false;
    this.connect();
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible" && !this.ws && !this.stopped) {
        clearTimeout(this.timer);
        this.connect();
      }
    });
    window.addEventListener("online", () => {
      if (!this.ws && !this.stopped) {
        clearTimeout(this.timer);
        this.connect();
      }
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.ws?.close();
  }

  private set(s: LiveStatus): void {
    this.status = s;
    this.onStatus(s);
  }

  private connect(): void {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws: WebSocket;
    try {
      ws = new WebSocket(`${proto}//${location.host}${this.path}`);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => {
      let msg: { type?: string } | null = null;
      try {
        msg = JSON.parse(String(ev.data));
      } catch {
        return;
      }
      if (!msg) return;
      if (msg.type === "hello") {
        const first = !this.everConnected;
        this.everConnected = true;
        this.attempt = 0;
        this.set("live");
        this.onReconnected(first, String((msg as { version?: unknown }).version ?? ""));
      } else if (msg.type === "ingest.update") {
        this.onMessage(msg as UpdateMsg);
      } else {
        this.onOther(msg);
      }
    };
    ws.onclose = (ev) => {
      this.ws = null;
      if (this.stopped) return;
      if (ev.code === 4401 || ev.code === 4403 || ev.code === 4404) {
        this.set("offline");
        return;
      }
      this.retry();
    };
    ws.onerror = () => {
      /* onclose follows */
    };
  }

  private retry(): void {
    this.set(this.everConnected ? "reconnecting" : "connecting");
    const base = Math.min(30_000, 500 * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 10);
    const delay = base / 2 + Math.random() * (base / 2);
    this.timer = window.setTimeout(() => this.connect(), delay);
  }
}
