// HTTP endpoints of the manager: /metrics (Prometheus), /healthz (process alive) and /readyz
// (informer caches synced). An address "0" disables a listener.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { Registry } from "prom-client";

export interface Reply { code: number; type: string; body: string; headers?: Record<string, string> }
/** A product's own endpoint (billing's CSV): it authenticates and authorizes the caller itself. */
export type Route = (req: IncomingMessage, path: string) => Promise<Reply>;

export interface Endpoints {
  registry?: Registry;
  ready?: () => boolean;
  /** Extra GET endpoints by path prefix. */
  routes?: ReadonlyMap<string, Route>;
}

export async function listen(address: string, endpoints: Endpoints): Promise<Server | undefined> {
  if (!address || address === "0") return undefined;
  const i = address.lastIndexOf(":");
  const host = i > 0 ? address.slice(0, i) : "0.0.0.0";
  const port = Number(address.slice(i + 1));
  const server = createServer((req, res) => {
    void handle(req, endpoints).catch((): Reply => ({ code: 500, type: "text/plain", body: "internal error\n" })).then(({ code, type, body, headers }) => {
      res.writeHead(code, { ...headers, "content-type": type });
      res.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

async function handle(req: IncomingMessage, e: Endpoints): Promise<Reply> {
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  for (const [prefix, route] of e.routes ?? []) {
    if (!path.startsWith(prefix)) continue;
    if (req.method !== "GET") return { code: 405, type: "text/plain", body: "only GET\n", headers: { allow: "GET" } };
    return route(req, path);
  }
  if (path === "/metrics" && e.registry) return { code: 200, type: e.registry.contentType, body: await e.registry.metrics() };
  if (path === "/healthz" || path === "/livez") return { code: 200, type: "text/plain", body: "ok" };
  if (path === "/readyz") {
    const ok = e.ready?.() ?? true;
    return { code: ok ? 200 : 503, type: "text/plain", body: ok ? "ok" : "informer caches not synced" };
  }
  return { code: 404, type: "text/plain", body: "not found" };
}

export function close(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}
