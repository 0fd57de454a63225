// The bench's own apiserver client: one keep-alive undici Agent (many connections, TLS set up once)
// from the kubeconfig's embedded certificates. The bench creates and deletes tens of thousands of
// pods and streams a pod watch; it must not be the bottleneck or spend CPU on TLS handshakes.
import { KubeConfig } from "@kubernetes/client-node";
import { createInterface } from "node:readline";
import { Agent } from "undici";

export class HttpError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, method: string, path: string, body: string) {
    super(`${method} ${path}: HTTP ${status}: ${body.slice(0, 300)}`);
    this.status = status;
    this.body = body;
  }
}

export interface WatchEvent<T> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

type Query = Record<string, string | number | boolean | undefined>;

export class Api {
  private readonly origin: string;
  private readonly agent: Agent;

  constructor(kubeconfigPath: string, connections = 64) {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    const cluster = kc.getCurrentCluster();
    const user = kc.getCurrentUser();
    if (!cluster?.caData || !user?.certData || !user.keyData) {
      throw new Error(`${kubeconfigPath}: expected embedded CA, client certificate and key (hack/up writes them so)`);
    }
    const b64 = (s: string) => Buffer.from(s, "base64");
    this.origin = cluster.server.replace(/\/$/, "");
    this.agent = new Agent({
      connections,
      keepAliveTimeout: 60_000,
      connect: { ca: b64(cluster.caData), cert: b64(user.certData), key: b64(user.keyData) },
    });
  }

  private url(path: string, query: Query = {}): string {
    const u = new URL(this.origin + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) u.searchParams.set(k, String(v));
    return u.toString();
  }

  async request<T>(method: string, path: string, opts: { query?: Query; body?: unknown } = {}): Promise<T> {
    const res = await this.agent.request({
      origin: this.origin,
      path: this.url(path, opts.query).slice(this.origin.length),
      method: method as "GET",
      headers: { accept: "application/json", "content-type": "application/json", "user-agent": "cellcloud-bench" },
      ...(opts.body === undefined ? {} : { body: JSON.stringify(opts.body) }),
    });
    const text = await res.body.text();
    if (res.statusCode >= 400) throw new HttpError(res.statusCode, method, path, text);
    return JSON.parse(text) as T;
  }

  /** A plain-text GET (the apiserver's /metrics). */
  async text(path: string): Promise<string> {
    const res = await this.agent.request({ origin: this.origin, path, method: "GET", headers: { accept: "text/plain", "user-agent": "cellcloud-bench" } });
    const text = await res.body.text();
    if (res.statusCode >= 400) throw new HttpError(res.statusCode, "GET", path, text);
    return text;
  }

  get<T>(path: string, query?: Query): Promise<T> {
    return this.request("GET", path, query ? { query } : {});
  }

  post<T>(path: string, body: unknown): Promise<T> {
    return this.request("POST", path, { body });
  }

  delete(path: string, query?: Query): Promise<unknown> {
    return this.request("DELETE", path, query ? { query } : {});
  }

  /**
   * All items of a list, paged. A loaded apiserver's watch cache can lag the resourceVersion that a
   * continue token pins (HTTP 504, ResourceVersionTooLarge, after the apiserver waited 3 s for it):
   * the list starts again after a second, as client-go's reflector relists, for up to a minute.
   */
  async list<T>(path: string, query: Query = {}): Promise<{ items: T[]; resourceVersion: string }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.listOnce<T>(path, query);
      } catch (err) {
        if (!(err instanceof HttpError && err.status === 504 && err.body.includes("ResourceVersionTooLarge")) || attempt >= 60) throw err;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
  }

  private async listOnce<T>(path: string, query: Query): Promise<{ items: T[]; resourceVersion: string }> {
    const items: T[] = [];
    let cont: string | undefined;
    let rv = "";
    do {
      const page = await this.get<{ items: T[]; metadata: { continue?: string; resourceVersion: string } }>(path, { ...query, limit: 2000, continue: cont });
      items.push(...page.items);
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (cont);
    return { items, resourceVersion: rv };
  }

  /** Streams one watch until the server ends it or `signal` aborts; ERROR events are passed on. */
  async watch<T>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const res = await this.agent.request({
      origin: this.origin,
      path: this.url(path, { ...query, watch: true }).slice(this.origin.length),
      method: "GET",
      headers: { accept: "application/json", "user-agent": "cellcloud-bench" },
      signal,
      bodyTimeout: 0,
    });
    if (res.statusCode >= 400) throw new HttpError(res.statusCode, "WATCH", path, await res.body.text());
    const lines = createInterface({ input: res.body, crlfDelay: Infinity });
    try {
      for await (const line of lines) if (line) onEvent(JSON.parse(line) as WatchEvent<T>);
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; collects the errors instead of throwing. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<unknown[]> {
  const errors: unknown[] = [];
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      try {
        await fn(items[i]!, i);
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return errors;
}
