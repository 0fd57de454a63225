// HTTP endpoints of the manager: /metrics (Prometheus), /healthz (process alive) and /readyz
// (informer caches synced). An address "0" disables a listener.
import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export interface Endpoints {
  registry?: Registry;
  ready?: () => boolean;
}

export async function listen(address: string, endpoints: Endpoints): Promise<Server | undefined> {
  if (!address || address === "0") return undefined;
  const i = address.lastIndexOf(":");
  const host = i > 0 ? address.slice(0, i) : "0.0.0.0";
  const port = Number(address.slice(i + 1));
  const server = createServer((req, res) => {
    void handle(req.url ?? "/", endpoints).then(({ code, type, body }) => {
      res.writeHead(code, { "content-type": type });
      res.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

async function handle(url: string, e: Endpoints): Promise<{ code: number; type: string; body: string }> {
  const path = url.split("?")[0];
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
