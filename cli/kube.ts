// The plugin's apiserver client: kubeconfig loading as kubectl does it (KUBECONFIG merge, --context,
// client certificates, tokens, exec credential plugins) and JSON requests over node:https. Written
// small instead of using client-node, whose import alone takes ~0.6 s, on every command and <TAB>.
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { homedir } from "node:os";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { ResourceRef } from "./api.ts";
import { CliError } from "./errors.ts";

export { CliError };

/** What the user asked for on the command line, as kubectl's global flags. */
export interface ConnectOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  as?: string;
  asGroups?: string[];
  /** Per request; kubectl's --request-timeout (default: 30 s). */
  timeoutMs?: number;
}

/** The apiserver's refusal: `message` is its Status message, unchanged. */
export class ApiError extends CliError {
  readonly code: number;
  constructor(code: number, reason: string, message: string) {
    super(reason, message);
    this.code = code;
  }
}

interface Named<T> { name: string; [k: string]: unknown; cluster?: T; user?: T; context?: T }
interface ClusterEntry { server?: string; "certificate-authority"?: string; "certificate-authority-data"?: string; "insecure-skip-tls-verify"?: boolean; "tls-server-name"?: string }
interface ExecConfig { command: string; args?: string[]; env?: Array<{ name: string; value: string }>; apiVersion?: string }
interface UserEntry {
  "client-certificate"?: string; "client-certificate-data"?: string; "client-key"?: string; "client-key-data"?: string;
  token?: string; tokenFile?: string; username?: string; password?: string; exec?: ExecConfig; "auth-provider"?: { name: string };
}
interface ContextEntry { cluster?: string; user?: string; namespace?: string }
interface KubeconfigFile {
  "current-context"?: string;
  clusters?: Array<Named<ClusterEntry>>;
  users?: Array<Named<UserEntry>>;
  contexts?: Array<Named<ContextEntry>>;
}

/** One entry of a merged kubeconfig, with the directory its relative file paths are relative to. */
interface Located<T> { entry: T; dir: string }

interface Merged {
  currentContext?: string;
  clusters: Map<string, Located<ClusterEntry>>;
  users: Map<string, Located<UserEntry>>;
  contexts: Map<string, Located<ContextEntry>>;
}

/** The kubeconfig files kubectl would read: --kubeconfig, else $KUBECONFIG (a list), else ~/.kube/config. */
export function kubeconfigPaths(flag: string | undefined, env = process.env): string[] {
  if (flag) return [flag];
  const list = (env.KUBECONFIG ?? "").split(":").filter(Boolean);
  return list.length ? list : [`${homedir()}/.kube/config`];
}

/** Merges the files as kubectl does: the first file to name an entry (or the current context) wins. */
export function mergeKubeconfigs(files: Array<{ path: string; text: string }>): Merged {
  const merged: Merged = { clusters: new Map(), users: new Map(), contexts: new Map() };
  for (const { path, text } of files) {
    const doc = (parseYaml(text) ?? {}) as KubeconfigFile;
    const dir = dirname(resolve(path));
    merged.currentContext ||= doc["current-context"] || undefined;
    for (const c of doc.clusters ?? []) if (!merged.clusters.has(c.name)) merged.clusters.set(c.name, { entry: c.cluster ?? {}, dir });
    for (const u of doc.users ?? []) if (!merged.users.has(u.name)) merged.users.set(u.name, { entry: u.user ?? {}, dir });
    for (const x of doc.contexts ?? []) if (!merged.contexts.has(x.name)) merged.contexts.set(x.name, { entry: x.context ?? {}, dir });
  }
  return merged;
}

export function readKubeconfig(flag: string | undefined): Merged {
  const paths = kubeconfigPaths(flag);
  if (flag && !existsSync(flag)) throw new CliError("NoKubeconfig", `--kubeconfig: ${flag}: no such file`);
  return mergeKubeconfigs(paths.filter((p) => existsSync(p)).map((path) => ({ path, text: readFileSync(path, "utf8") })));
}

/** The context names of the kubeconfig (for completion of --context). */
export function contextNames(flag: string | undefined): string[] {
  return [...readKubeconfig(flag).contexts.keys()];
}

const fileOrData = (dir: string, file: string | undefined, data: string | undefined): Buffer | undefined =>
  data ? Buffer.from(data, "base64") : file ? readFileSync(isAbsolute(file) ? file : resolve(dir, file)) : undefined;

interface Credentials { cert?: Buffer; key?: Buffer; headers: Record<string, string> }

/** Runs an exec credential plugin (client.authentication.k8s.io ExecCredential) and reads its answer. */
async function execCredentials(exec: ExecConfig, server: string): Promise<Credentials> {
  const apiVersion = exec.apiVersion ?? "client.authentication.k8s.io/v1";
  const env: NodeJS.ProcessEnv = { ...process.env, KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion, kind: "ExecCredential", spec: { interactive: false, cluster: { server } } }) };
  for (const e of exec.env ?? []) env[e.name] = e.value;
  const stdout = await new Promise<string>((ok, fail) => execFile(exec.command, exec.args ?? [], { env }, (err, out, stderr) =>
    err ? fail(new CliError("ExecCredentialFailed", `exec credential plugin ${exec.command}: ${stderr.trim() || err.message}`)) : ok(out)));
  const status = (JSON.parse(stdout) as { status?: { token?: string; clientCertificateData?: string; clientKeyData?: string } }).status ?? {};
  return {
    headers: status.token ? { authorization: `Bearer ${status.token}` } : {},
    ...(status.clientCertificateData ? { cert: Buffer.from(status.clientCertificateData) } : {}),
    ...(status.clientKeyData ? { key: Buffer.from(status.clientKeyData) } : {}),
  };
}

async function credentials(user: Located<UserEntry>, server: string): Promise<Credentials> {
  const u = user.entry;
  if (u["auth-provider"]) throw new CliError("Unsupported", `user auth-provider ${u["auth-provider"].name} is not supported by kubectl-cellcloud; use an exec credential plugin`);
  if (u.exec) return execCredentials(u.exec, server);
  const headers: Record<string, string> = {};
  const token = u.token ?? (u.tokenFile ? readFileSync(resolve(user.dir, u.tokenFile), "utf8").trim() : undefined);
  if (token) headers.authorization = `Bearer ${token}`;
  else if (u.username) headers.authorization = `Basic ${Buffer.from(`${u.username}:${u.password ?? ""}`).toString("base64")}`;
  const cert = fileOrData(user.dir, u["client-certificate"], u["client-certificate-data"]);
  const key = fileOrData(user.dir, u["client-key"], u["client-key-data"]);
  return { headers, ...(cert ? { cert } : {}), ...(key ? { key } : {}) };
}

export interface Query { [k: string]: string | number | boolean | undefined }

export interface RequestOptions { query?: Query; body?: unknown; contentType?: string }

export const MERGE_PATCH = "application/merge-patch+json";

/** Path of a resource (or a collection of it) on the apiserver. */
export function resourcePath(ref: ResourceRef, namespace?: string, name?: string): string {
  const base = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
  const ns = ref.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${ref.plural}${name ? `/${encodeURIComponent(name)}` : ""}`;
}

/** A connection to one context's apiserver, as one user, with the namespace that context (or -n) names. */
export class Client {
  readonly namespace: string;
  readonly context: string;
  private readonly server: URL;
  private readonly agent: http.Agent;
  private readonly headers: Record<string, string | string[]>;
  private readonly timeoutMs: number;

  constructor(opts: { server: string; namespace: string; context: string; agent: http.Agent; headers: Record<string, string | string[]>; timeoutMs?: number }) {
    this.server = new URL(opts.server);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.namespace = opts.namespace;
    this.context = opts.context;
    this.agent = opts.agent;
    this.headers = opts.headers;
  }

  request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const url = new URL(this.server.pathname.replace(/\/$/, "") + path, this.server);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const body = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const headers: Record<string, string | string[]> = { accept: "application/json", "user-agent": "kubectl-cellcloud", ...this.headers };
    if (body !== undefined) headers["content-type"] = opts.contentType ?? "application/json";
    const send = url.protocol === "http:" ? http.request : https.request;
    return new Promise<T>((ok, fail) => {
      const req = send(url, { method, headers, agent: this.agent }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) return ok((text ? JSON.parse(text) : {}) as T);
          fail(apiError(status, text));
        });
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Error(`no answer in ${this.timeoutMs / 1000}s`)));
      req.on("error", (e) => fail(new CliError("Unreachable", `cannot reach the apiserver ${this.server.origin} (context ${this.context}): ${e.message}`)));
      req.end(body);
    });
  }

  get<T>(ref: ResourceRef, name: string, namespace?: string): Promise<T> {
    return this.request<T>("GET", resourcePath(ref, namespace, name));
  }

  async list<T>(ref: ResourceRef, namespace?: string, query: Query = {}): Promise<T[]> {
    return (await this.request<{ items?: T[] }>("GET", resourcePath(ref, namespace), { query })).items ?? [];
  }

  /** A JSON merge patch: only the fields in `patch` change, nothing is read and written back. */
  patch<T>(ref: ResourceRef, name: string, namespace: string | undefined, patch: unknown, fieldManager: string): Promise<T> {
    return this.request<T>("PATCH", resourcePath(ref, namespace, name), { body: patch, contentType: MERGE_PATCH, query: { fieldManager } });
  }

  close(): void {
    this.agent.destroy();
  }
}

function apiError(code: number, text: string): ApiError {
  try {
    const s = JSON.parse(text) as { kind?: string; reason?: string; message?: string };
    if (s.kind === "Status" && s.message) return new ApiError(code, s.reason ?? "Failed", s.message);
  } catch { /* not a Status: the body is the message */ }
  return new ApiError(code, "Failed", text.trim() || `HTTP ${code}`);
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.code === 404;

/** Connects as kubectl would with the same flags. */
export async function connect(opts: ConnectOptions): Promise<Client> {
  const cfg = readKubeconfig(opts.kubeconfig);
  const contextName = opts.context ?? cfg.currentContext;
  if (!contextName) throw new CliError("NoContext", `no context: the kubeconfig (${kubeconfigPaths(opts.kubeconfig).join(":")}) has no current-context; pass --context`);
  const ctx = cfg.contexts.get(contextName);
  if (!ctx) throw new CliError("NoContext", `--context: context "${contextName}" not found in the kubeconfig`);
  const cluster = cfg.clusters.get(ctx.entry.cluster ?? "");
  if (!cluster?.entry.server) throw new CliError("NoCluster", `context "${contextName}": cluster "${ctx.entry.cluster ?? ""}" not found or has no server`);
  const server = cluster.entry.server;
  const user = cfg.users.get(ctx.entry.user ?? "") ?? { entry: {}, dir: cluster.dir };
  const creds = await credentials(user, server);
  const c = cluster.entry;
  const ca = fileOrData(cluster.dir, c["certificate-authority"], c["certificate-authority-data"]);
  const agent = server.startsWith("http:") ? new http.Agent({ keepAlive: true }) : new https.Agent({
    keepAlive: true, rejectUnauthorized: !c["insecure-skip-tls-verify"],
    ...(ca ? { ca } : {}), ...(creds.cert ? { cert: creds.cert } : {}), ...(creds.key ? { key: creds.key } : {}),
    ...(c["tls-server-name"] ? { servername: c["tls-server-name"] } : {}),
  });
  const headers: Record<string, string | string[]> = { ...creds.headers };
  if (opts.as) headers["impersonate-user"] = opts.as;
  if (opts.asGroups?.length) headers["impersonate-group"] = opts.asGroups; // one header line per group
  return new Client({ server, namespace: opts.namespace ?? ctx.entry.namespace ?? "default", context: contextName, agent, headers, ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}) });
}
