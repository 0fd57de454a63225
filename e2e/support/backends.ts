// Small HTTP servers on loopback addresses that answer with their own name (members of a load
// balancer under test), and a client that sends requests on fresh connections and counts who answered.
import { createServer, request, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

export class Backend {
  readonly name: string;
  readonly address: string;
  port = 0;
  /** Requests answered (health checks excluded). */
  hits = 0;
  /** Milliseconds each answer waits. */
  delayMs = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();

  constructor(name: string, address: string) {
    this.name = name;
    this.address = address;
  }

  async start(port = this.port): Promise<this> {
    const server = createServer((req, res) => {
      const check = req.headers.host === "cellcloud-slb";
      if (!check) this.hits++;
      const answer = () => res.writeHead(200, { "content-type": "text/plain", "content-length": Buffer.byteLength(this.name) }).end(this.name);
      if (this.delayMs && !check) setTimeout(answer, this.delayMs);
      else answer();
    });
    server.on("connection", (s) => { this.sockets.add(s); s.on("close", () => this.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => { server.once("error", reject); server.listen(port, this.address, () => resolve()); });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  /** Stops listening and cuts every connection: the process died. */
  async kill(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    for (const c of this.sockets) c.destroy();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

export interface Reply {
  ok: boolean;
  body: string;
  /** The Set-Cookie headers of the answer. */
  cookies?: string[];
  error?: string;
  ms: number;
}

/** One GET on a fresh connection. */
export function get(url: string, opts: { localAddress?: string; timeoutMs?: number; headers?: Record<string, string> } = {}): Promise<Reply> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = request(url, { agent: false, localAddress: opts.localAddress, timeout: opts.timeoutMs ?? 5_000, headers: opts.headers }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => { body += d.toString(); });
      res.on("end", () => resolve({ ok: res.statusCode === 200, body, ms: performance.now() - t0, cookies: res.headers["set-cookie"] ?? [], ...(res.statusCode === 200 ? {} : { error: `HTTP ${res.statusCode}` }) }));
      res.on("error", (e) => resolve({ ok: false, body, error: e.message, ms: performance.now() - t0 }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e) => resolve({ ok: false, body: "", error: e.message, ms: performance.now() - t0 }));
    req.end();
  });
}

/** `total` requests, `concurrency` at a time, each from `send`; the replies in order of completion. */
export async function load(total: number, concurrency: number, send: (i: number) => Promise<Reply>): Promise<Reply[]> {
  const out: Reply[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < total) out.push(await send(next++));
  }));
  return out;
}

/** How many replies each body (backend name) gave. */
export function tally(replies: readonly Reply[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const r of replies) if (r.ok) t[r.body] = (t[r.body] ?? 0) + 1;
  return t;
}
