// A small JSON client over the apiserver's REST API, using client-node only for kubeconfig
// authentication and TLS. Controllers get plain objects, typed errors and a streaming watch.
import type { KubeConfig } from "@kubernetes/client-node";
import { RequestContext, HttpMethod } from "@kubernetes/client-node";
import { createInterface } from "node:readline";
import { Readable } from "node:stream";
import { fetch } from "undici";
import { ReasonedError } from "./errors.ts";
import { checkFence } from "./fence.ts";
import type { KubeObject, ResourceRef } from "./types.ts";

const anySignal = (a: AbortSignal | undefined, b: AbortSignal) => (a ? AbortSignal.any([a, b]) : b);

interface Auth {
  headers: Record<string, string>;
  dispatcher: ReturnType<RequestContext["getDispatcher"]>;
}

const AUTH_TTL_MS = 5 * 60_000;

export type Query = Record<string, string | number | boolean | undefined>;
export type PatchType = "merge" | "json" | "apply" | "strategic";

const contentTypes: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
  strategic: "application/strategic-merge-patch+json",
};

/** An apiserver error response: `code` is the HTTP status, `reason` the Status reason (Conflict, NotFound…). */
export class ApiError extends ReasonedError {
  readonly code: number;
  constructor(code: number, reason: string, message: string) {
    super(reason, message);
    this.code = code;
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.code === 409;
export const isForbidden = (e: unknown): boolean => e instanceof ApiError && e.code === 403;
export const isAlreadyExists = (e: unknown): boolean => e instanceof ApiError && e.code === 409 && e.reason === "AlreadyExists";
export const isGone = (e: unknown): boolean => e instanceof ApiError && e.code === 410;

export function resourcePath(ref: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  const base = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
  const ns = ref.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  const n = name ? `/${encodeURIComponent(name)}` : "";
  return `${base}${ns}/${ref.plural}${n}${subresource && name ? `/${subresource}` : ""}`;
}

export interface WatchEvent<T = KubeObject> {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: T;
}

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  patchType?: PatchType;
  signal?: AbortSignal;
  /** Give up after this long (default: the client's; watches have none, the server ends them). */
  timeoutMs?: number;
}

/** Counts of requests by verb, so tests and metrics can see writes the manager made. */
export type RequestObserver = (method: string, path: string, code: number, query: Query) => void;

export class KubeClient {
  readonly kc: KubeConfig;
  private readonly server: string;
  private readonly userAgent: string;
  private readonly observers: RequestObserver[] = [];
  private cachedAuth?: { at: number; value: Promise<Auth> };

  /** Every request but a watch gives up after this long, so a hung connection never blocks a caller forever. */
  readonly timeoutMs: number;

  constructor(kc: KubeConfig, userAgent = "cellcloud-manager", timeoutMs = 30_000) {
    this.timeoutMs = timeoutMs;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    this.kc = kc;
    this.server = cluster.server.replace(/\/$/, "");
    this.userAgent = userAgent;
  }

  /**
   * Auth headers and the TLS dispatcher, shared by all requests for AUTH_TTL_MS. client-node builds
   * a new undici Agent per request, so using its dispatcher directly costs a TLS handshake and a
   * socket for every call (measured: the scheduler bound 3× slower than kube-scheduler and grew to
   * 700 MiB). Refreshing periodically still follows rotated tokens and certificates.
   */
  private async auth(): Promise<Auth> {
    const now = Date.now();
    if (!this.cachedAuth || now - this.cachedAuth.at > AUTH_TTL_MS) {
      this.cachedAuth = { at: now, value: this.loadAuth() };
      this.cachedAuth.value.catch(() => { this.cachedAuth = undefined; });
    }
    return this.cachedAuth.value;
  }

  private async loadAuth(): Promise<Auth> {
    const ctx = new RequestContext(this.server, HttpMethod.GET);
    await this.kc.applySecurityAuthentication(ctx);
    return { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() };
  }

  onRequest(observer: RequestObserver): void {
    this.observers.push(observer);
  }

  private async send(method: string, path: string, opts: RequestOptions, accept = "application/json", timeout = true) {
    if (method !== "GET") checkFence();
    const url = new URL(this.server + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const auth = await this.auth();
    const headers: Record<string, string> = { ...auth.headers, accept, "user-agent": this.userAgent };
    if (opts.body !== undefined) headers["content-type"] = opts.patchType ? contentTypes[opts.patchType] : "application/json";
    const res = await fetch(url, {
      method,
      headers,
      dispatcher: auth.dispatcher,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
      signal: timeout ? anySignal(opts.signal, AbortSignal.timeout(opts.timeoutMs ?? this.timeoutMs)) : opts.signal,
    });
    for (const o of this.observers) o(method, path, res.status, opts.query ?? {});
    if (res.status >= 400) throw toApiError(res.status, await res.text());
    return res;
  }

  async request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.send(method, path, opts);
    return (await res.json()) as T;
  }

  get<T extends KubeObject>(ref: ResourceRef, name: string, namespace?: string, opts: { timeoutMs?: number } = {}): Promise<T> {
    return this.request("GET", resourcePath(ref, namespace, name), opts);
  }

  list<T extends KubeObject>(ref: ResourceRef, query: Query = {}, namespace?: string) {
    return this.request<{ metadata: { resourceVersion: string; continue?: string }; items: T[] }>(
      "GET", resourcePath(ref, namespace), { query },
    );
  }

  create<T extends KubeObject>(ref: ResourceRef, obj: T, query?: Query, opts: { timeoutMs?: number } = {}): Promise<T> {
    return this.request("POST", resourcePath(ref, obj.metadata.namespace), { body: obj, query, ...opts });
  }

  update<T extends KubeObject>(ref: ResourceRef, obj: T, subresource?: string, opts: { timeoutMs?: number } = {}): Promise<T> {
    const path = resourcePath(ref, obj.metadata.namespace, obj.metadata.name, subresource);
    return this.request("PUT", path, { body: obj, ...opts });
  }

  patch<T extends KubeObject>(
    ref: ResourceRef, name: string, namespace: string | undefined, body: unknown,
    patchType: PatchType, opts: { subresource?: string; query?: Query } = {},
  ): Promise<T> {
    const path = resourcePath(ref, namespace, name, opts.subresource);
    return this.request("PATCH", path, { body, patchType, query: opts.query });
  }

  /** Server-side apply with a field manager; `force` takes over fields other managers own. */
  apply<T extends KubeObject>(ref: ResourceRef, obj: T, fieldManager: string, subresource?: string): Promise<T> {
    const query = { fieldManager, force: true };
    return this.patch(ref, obj.metadata.name, obj.metadata.namespace, obj, "apply", { subresource, query });
  }

  delete(ref: ResourceRef, name: string, namespace?: string, body?: unknown): Promise<unknown> {
    return this.request("DELETE", resourcePath(ref, namespace, name), { body });
  }

  /**
   * Streams a watch. Resolves when the server closes the stream; rejects on transport errors or
   * an HTTP error. ERROR events (such as 410 Gone) are passed to `onEvent` like any other.
   */
  async watch<T>(path: string, query: Query, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void> {
    const res = await this.send("GET", path, { query: { ...query, watch: true }, signal }, "application/json", false);
    if (!res.body) return;
    const lines = createInterface({ input: Readable.fromWeb(res.body), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim()) onEvent(JSON.parse(line) as WatchEvent<T>);
    }
  }
}

function toApiError(code: number, text: string): ApiError {
  try {
    const s = JSON.parse(text) as { reason?: string; message?: string };
    return new ApiError(code, s.reason || `Http${code}`, s.message || text);
  } catch {
    return new ApiError(code, `Http${code}`, text.slice(0, 500));
  }
}
