// Every call goes to the console server's /k8s proxy, which forwards it to the apiserver as the
// signed-in user. Lists stay live with watches (list, then watch from its resourceVersion; relist
// on 410 Gone), never with polling.
import { useEffect, useRef, useState } from "react";

export const CSRF = { "x-cellcloud-console": "1" };

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: any;
  status?: any;
  cells?: unknown[];
  [k: string]: unknown;
}

export interface Resource {
  group: string; // "" for the core group
  version: string;
  plural: string;
  namespaced: boolean;
}

/** An apiserver refusal, with its message as the apiserver (or a webhook) wrote it. */
export class ApiError extends Error {
  constructor(readonly code: number, message: string, readonly reason?: string) {
    super(message);
  }
}

export function collectionPath(r: Resource, namespace?: string): string {
  const base = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return r.namespaced && namespace ? `${base}/namespaces/${namespace}/${r.plural}` : `${base}/${r.plural}`;
}

export function objectPath(r: Resource, name: string, namespace?: string): string {
  return `${collectionPath(r, namespace)}/${encodeURIComponent(name)}`;
}

async function failure(res: Response): Promise<ApiError> {
  const text = await res.text();
  try {
    const s = JSON.parse(text) as { message?: string; reason?: string };
    return new ApiError(res.status, s.message ?? `${res.status} ${res.statusText}`, s.reason);
  } catch {
    return new ApiError(res.status, text.trim() || `${res.status} ${res.statusText}`);
  }
}

export async function k8s<T = unknown>(path: string, init: { method?: string; body?: unknown; contentType?: string; signal?: AbortSignal; accept?: string } = {}): Promise<T> {
  const res = await fetch(`/k8s${path}`, {
    method: init.method ?? "GET",
    headers: { ...CSRF, accept: init.accept ?? "application/json", ...(init.body !== undefined ? { "content-type": init.contentType ?? "application/json" } : {}) },
    body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
    signal: init.signal,
    credentials: "same-origin",
  });
  if (res.status === 401) window.dispatchEvent(new Event("cellcloud:signed-out"));
  if (!res.ok) throw await failure(res);
  return (await res.json()) as T;
}

/** JSON merge patch of an object: the imperative actions write the declarative fields. */
export function mergePatch(r: Resource, name: string, namespace: string | undefined, patch: unknown): Promise<KubeObject> {
  return k8s(objectPath(r, name, namespace), { method: "PATCH", body: patch, contentType: "application/merge-patch+json" });
}

export interface WatchEvent {
  type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  object: KubeObject & { code?: number; message?: string };
}

export interface ListState {
  items: KubeObject[];
  loaded: boolean;
  error?: ApiError;
  /** With `table`: the apiserver's columns (the CRD's printer columns), and each item's `cells`. */
  columns?: TableColumn[];
}

export interface TableColumn { name: string; type: string; description?: string; priority?: number }
interface TableRow { cells: unknown[]; object: KubeObject }
interface Table { kind: "Table"; columnDefinitions?: TableColumn[]; rows?: TableRow[]; metadata?: { resourceVersion?: string } }

/** The server-side table format kubectl asks for: rows with the CRD's printer columns, metadata only. */
const TABLE_ACCEPT = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

/** Items of a Table, each an object's metadata plus its row's cells. */
export function tableItems(t: Table): KubeObject[] {
  return (t.rows ?? []).map((row) => ({ metadata: row.object.metadata, cells: row.cells }));
}

const keyOf = (o: KubeObject) => `${o.metadata.namespace ?? ""}/${o.metadata.name}`;

/**
 * A live list: the objects of a resource (in a namespace, or all), kept current by a watch.
 * `query` adds selectors (e.g. "fieldSelector=involvedObject.uid=…").
 */
export function useWatchList(r: Resource | undefined, namespace?: string, query = "", table = false): ListState {
  const [state, setState] = useState<ListState>({ items: [], loaded: false });
  const key = r ? `${collectionPath(r, namespace)}?${query}${table ? "#table" : ""}` : "";
  const keyRef = useRef(key);
  keyRef.current = key;
  useEffect(() => {
    if (!r) return;
    const abort = new AbortController();
    const objects = new Map<string, KubeObject>();
    let columns: TableColumn[] | undefined;
    const accept = table ? TABLE_ACCEPT : "application/json";
    const publish = (error?: ApiError) => {
      if (keyRef.current !== key) return;
      const items = [...objects.values()].sort((a, b) => keyOf(a).localeCompare(keyOf(b)));
      setState({ items, loaded: true, error, columns });
    };
    const path = collectionPath(r, namespace);
    const sep = query ? `&${query}` : "";
    let backoff = 500;
    const run = async () => {
      while (!abort.signal.aborted) {
        let rv: string;
        try {
          const list = await k8s<{ items?: KubeObject[]; metadata: { resourceVersion: string } } & Table>(`${path}?limit=5000${sep}`, { signal: abort.signal, accept });
          objects.clear();
          if (list.kind === "Table") columns = list.columnDefinitions;
          for (const o of list.kind === "Table" ? tableItems(list) : (list.items ?? [])) objects.set(keyOf(o), o);
          rv = list.metadata.resourceVersion;
          publish();
        } catch (e) {
          if (abort.signal.aborted) return;
          publish(e instanceof ApiError ? e : new ApiError(0, (e as Error).message));
          // a 403 stays a 403: no retry storm; anything else is retried with backoff
          if (e instanceof ApiError && (e.code === 403 || e.code === 404 || e.code === 401)) return;
          await sleep(backoff, abort.signal);
          backoff = Math.min(backoff * 2, 30_000);
          continue;
        }
        // watch until it ends (the apiserver closes watches after a while), then resume from rv
        for (;;) {
          if (abort.signal.aborted) return;
          const url = `${path}?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}${sep}${table ? "&cellcloud-table=1" : ""}`;
          const opened = Date.now();
          const end = await watchSocket(url, abort.signal, (events) => {
            let changed = false;
            for (const ev of events) {
              if (ev.type === "ERROR") continue;
              const got = (ev.object as unknown as Table).kind === "Table" ? tableItems(ev.object as unknown as Table) : [ev.object];
              for (const o of got) {
                if (o.metadata?.resourceVersion) rv = o.metadata.resourceVersion;
                if (ev.type === "BOOKMARK" || !o.metadata?.name) continue;
                if (ev.type === "DELETED") objects.delete(keyOf(o));
                else objects.set(keyOf(o), o);
                changed = true;
              }
            }
            if (changed) publish();
          });
          if (end === "gone") break; // relist
          if (end === "aborted") return;
          // a watch that failed at once (a refusal, the server away): back off before the next try
          if (Date.now() - opened < 2000) {
            await sleep(backoff, abort.signal);
            backoff = Math.min(backoff * 2, 30_000);
            if (backoff > 4000) break; // relist: the list says why (403, 404) or recovers
          } else backoff = 500;
        }
      }
    };
    setState({ items: [], loaded: false });
    void run();
    return () => abort.abort();
  }, [key]);
  return state;
}

/**
 * One watch over a WebSocket (the console server joins it to the apiserver's watch with the user's
 * credential): each message is a watch event. Resolves when it closes: "gone" when the apiserver said
 * 410 (the resourceVersion is too old: relist), "aborted" when the view went away.
 */
export function watchSocket(path: string, signal: AbortSignal, onEvents: (events: WatchEvent[]) => void): Promise<"closed" | "gone" | "aborted"> {
  return new Promise((done) => {
    if (signal.aborted) return done("aborted");
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/k8s${path}`);
    let gone = false;
    const abort = () => { ws.close(); done("aborted"); };
    signal.addEventListener("abort", abort, { once: true });
    ws.onmessage = (m) => {
      try {
        const ev = JSON.parse(String(m.data)) as WatchEvent;
        if (ev.type === "ERROR" && ev.object.code === 410) gone = true;
        onEvents([ev]);
      } catch {
        // not JSON: ignore the frame
      }
    };
    ws.onclose = () => {
      signal.removeEventListener("abort", abort);
      done(signal.aborted ? "aborted" : gone ? "gone" : "closed");
    };
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", () => { clearTimeout(t); done(); }, { once: true });
  });
}

/** May the user do `verb` on `r` in `namespace`? (SelfSubjectAccessReview: asks the apiserver, as the user.) */
export async function can(verb: string, r: Resource, namespace?: string): Promise<boolean> {
  const review = await k8s<{ status?: { allowed?: boolean } }>("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {
    method: "POST",
    body: { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectAccessReview", spec: { resourceAttributes: { verb, group: r.group, resource: r.plural, namespace } } },
  });
  return review.status?.allowed === true;
}

export function age(ts?: string, now = Date.now()): string {
  if (!ts) return "";
  const s = Math.max(0, Math.floor((now - Date.parse(ts)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** The status of a condition type ("True"/"False"/"Unknown") and its message. */
export function condition(o: KubeObject, type = "Ready"): { status?: string; reason?: string; message?: string } {
  const c = (o.status?.conditions as { type: string; status: string; reason?: string; message?: string }[] | undefined)?.find((x) => x.type === type);
  return c ?? {};
}

export interface ResourceRule { verbs: string[]; apiGroups?: string[]; resources?: string[]; resourceNames?: string[] }

/** Whether rules of a SelfSubjectRulesReview let `verb` on every object of group/resource (not only named ones). */
export function allows(rules: ResourceRule[], verb: string, group: string, resource: string): boolean {
  const has = (list: string[] | undefined, v: string) => !!list && (list.includes("*") || list.includes(v));
  return rules.some((r) => has(r.verbs, verb) && has(r.apiGroups, group) && has(r.resources, resource) && !(r.resourceNames?.length));
}

/** What the user may do in a namespace, as the apiserver says (one SelfSubjectRulesReview); undefined while asking. */
export function useRules(namespace: string | undefined): ResourceRule[] | undefined {
  const [rules, setRules] = useState<ResourceRule[]>();
  useEffect(() => {
    if (!namespace) return;
    let live = true;
    setRules(undefined);
    k8s<{ status?: { resourceRules?: ResourceRule[] } }>("/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", {
      method: "POST", body: { apiVersion: "authorization.k8s.io/v1", kind: "SelfSubjectRulesReview", spec: { namespace } },
    }).then((r) => live && setRules(r.status?.resourceRules ?? []), () => live && setRules([]));
    return () => { live = false; };
  }, [namespace]);
  return rules;
}
