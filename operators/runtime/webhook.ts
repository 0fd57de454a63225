// The manager's admission webhook server: any product registers a path, the webhooks it serves and a
// handler (`register`); this serves them over TLS in every replica, leader or not, keeps the serving
// certificate and the configurations current (webhook-config.ts), and reports ready once it listens.
// A handler only sees a checked AdmissionReview; a body that is too large or malformed gets a 4xx,
// and nothing a request does can throw out of the server.
import { X509Certificate } from "node:crypto";
import { createServer, type Server } from "node:https";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Histogram } from "prom-client";
import type { Logger } from "pino";
import { parseReview, type AdmissionRequest, type AdmissionResponse } from "./admission.ts";
import type { Manager, Runnable } from "./manager.ts";
import { ClusterRoleRef } from "./core.ts";
import { applyConfigurations, certificate, configurations, type Endpoint, type Material, type Owner, type Registered, type WebhookSpec } from "./webhook-config.ts";

export type AdmissionHandler = (req: AdmissionRequest) => AdmissionResponse | Promise<AdmissionResponse>;

export interface WebhookServerOptions extends Endpoint {
  /** Port to serve on, and the address to bind (default all interfaces). */
  port: number;
  bindAddress?: string;
  /** DNS names and IPs the serving certificate is valid for. */
  hosts: string[];
  /** The Validating/Mutating configurations' name. */
  configName?: string;
  secretName?: string;
  caValidityMs?: number;
  certValidityMs?: number;
  /** How often the certificate is checked for renewal (and re-read from the Secret). */
  checkEveryMs?: number;
  /**
   * PEM of the CA that signs the apiserver's webhook client certificate (its admission
   * configuration): when set, a caller without a certificate from it is refused at the TLS handshake.
   */
  clientCA?: string;
  /**
   * A cluster-scoped ClusterRole (the chart's) that owns the configurations: when it goes (helm
   * uninstall), garbage collection takes them with it, so no fail-closed webhook outlives the manager.
   */
  ownerClusterRole?: string;
}

const DAY = 86_400_000;
/**
 * The apiserver caps a request at 3 MiB; the product kinds this webhook sees are small (their
 * schemas bound every list), so even a review carrying object and oldObject stays far below.
 */
const MAX_BODY_BYTES = 3 * 1024 * 1024;
export const WEBHOOK_CONFIG = "cellcloud";

type Options = Required<Omit<WebhookServerOptions, "url" | "service" | "bindAddress" | "clientCA" | "ownerClusterRole">> & WebhookServerOptions;

export class WebhookServer implements Runnable {
  private readonly mgr: Manager;
  private readonly log: Logger;
  private readonly opts: Options;
  private readonly latency: Histogram;
  private readonly registered: Array<Registered & { handler: AdmissionHandler }> = [];
  private server?: Server;
  private timer?: NodeJS.Timeout;
  /** Serving certificates used so far (their serial numbers), for tests of rotation. */
  readonly served: string[] = [];
  /** Called with every answered admission's server-side time (bench/webhook records them). */
  onAdmission?: (path: string, ms: number, allowed: boolean) => void;

  constructor(mgr: Manager, opts: WebhookServerOptions) {
    this.mgr = mgr;
    this.log = mgr.log.child({ component: "webhook" });
    this.opts = { configName: WEBHOOK_CONFIG, secretName: "cellcloud-webhook-cert", caValidityMs: 365 * DAY, certValidityMs: 90 * DAY, checkEveryMs: 3_600_000, ...opts };
    this.latency = new Histogram({
      name: "cellcloud_webhook_admission_duration_seconds", help: "Time to answer one admission request",
      labelNames: ["webhook", "operation", "allowed"], buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [mgr.metrics.registry],
    });
    mgr.addReadyCheck("webhook", () => this.server !== undefined);
  }

  /** Serves `webhooks` at `path` with `handler`. Register before the manager starts. */
  register(path: string, type: Registered["type"], webhooks: readonly WebhookSpec[], handler: AdmissionHandler): void {
    if (this.registered.some((r) => r.path === path)) throw new Error(`webhook path ${path} is registered twice`);
    this.registered.push({ path, type, webhooks, handler });
  }

  /** Serves at once, then keeps the certificate and configurations current. */
  start(): void {
    void this.refresh().catch((e: unknown) => this.log.error({ err: String(e) }, "webhook certificate setup failed; retrying"));
    this.timer = setInterval(() => void this.refresh().catch((e: unknown) => this.log.error({ err: String(e) }, "webhook certificate refresh failed")), this.opts.checkEveryMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); });
  }

  /** The manager's own namespace (its certificate lives there; no product may hand it to tenants). */
  get namespace(): string {
    return this.opts.namespace;
  }

  /** Where it listens (useful with port 0). */
  get port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === "object" ? a.port : undefined;
  }

  /** Reads (or makes, or renews) the certificate, publishes the CA bundle, then serves with it. */
  async refresh(): Promise<void> {
    const owner = await this.owner();
    const publish = (bundle: string) => applyConfigurations(this.mgr.client, configurations(this.opts.configName, this.opts, this.registered, bundle, owner), this.mgr.fieldManager);
    const { material: m, published } = await certificate(this.mgr.client, this.opts, publish, this.mgr.clock.now());
    // Applied on every check, so a configuration someone edited or deleted comes back.
    if (!published) await publish(m.bundle);
    const serial = new X509Certificate(m.leaf.cert).serialNumber;
    if (!this.server) await this.listen(m);
    else if (this.served.at(-1) !== serial) this.server.setSecureContext(this.tls(m));
    if (this.served.at(-1) !== serial) {
      this.served.push(serial);
      this.log.info({ serial, validTo: new X509Certificate(m.leaf.cert).validTo }, "serving webhook certificate");
    }
  }

  private async owner(): Promise<Owner | undefined> {
    const name = this.opts.ownerClusterRole;
    if (!name) return undefined;
    const role = await this.mgr.client.get(ClusterRoleRef, name);
    return { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", name, uid: role.metadata.uid ?? "" };
  }

  private tls(m: Material): { cert: string; key: string; ca?: string } {
    return { cert: m.leaf.cert, key: m.leaf.key, ...(this.opts.clientCA ? { ca: this.opts.clientCA } : {}) };
  }

  private async listen(m: Material): Promise<void> {
    const clientAuth = this.opts.clientCA ? { requestCert: true, rejectUnauthorized: true } : {};
    const server = createServer({ ...this.tls(m), ...clientAuth }, (req, res) => this.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, this.opts.bindAddress ?? "0.0.0.0", () => resolve());
    });
    server.on("clientError", (_err, socket) => socket.destroy());
    this.server = server;
  }

  /** Reads at most MAX_BODY_BYTES, then answers; every failure becomes a response, never a throw. */
  private serve(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    const reply = ({ code, body }: { code: number; body: string }) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(code, { "content-type": "application/json" });
      res.end(body);
    };
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reply({ code: 413, body: '"request body too large"' });
        req.destroy();
      } else chunks.push(c);
    });
    req.on("error", () => req.destroy());
    req.on("end", () => {
      this.handle(req.url ?? "", Buffer.concat(chunks)).then(reply, (e: unknown) => {
        this.log.error({ err: String(e) }, "webhook request failed");
        reply({ code: 500, body: '"internal error"' });
      });
    });
  }

  private async handle(url: string, body: Buffer): Promise<{ code: number; body: string }> {
    const path = url.split("?")[0] ?? "";
    if (path === "/healthz") return { code: 200, body: '"ok"' };
    const hook = this.registered.find((r) => r.path === path);
    if (!hook) return { code: 404, body: '"not found"' };
    let json: unknown;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch {
      return { code: 400, body: '"not JSON"' };
    }
    const review = parseReview(json);
    if (typeof review === "string") return { code: 400, body: JSON.stringify(review) };
    const response = await this.answer(path, hook.handler, review.request);
    return { code: 200, body: JSON.stringify({ apiVersion: review.apiVersion, kind: "AdmissionReview", response }) };
  }

  private async answer(path: string, handler: AdmissionHandler, req: AdmissionRequest): Promise<AdmissionResponse> {
    const started = performance.now();
    let response: AdmissionResponse;
    try {
      response = await handler(req);
    } catch (e) {
      this.log.error({ err: String(e), resource: req.resource.resource, namespace: req.namespace, name: req.name }, "admission failed");
      response = { uid: req.uid, allowed: false, status: { code: 500, reason: "InternalError", message: `CellCloud webhook: ${e instanceof Error ? e.message : String(e)}` } };
    }
    const ms = performance.now() - started;
    this.latency.observe({ webhook: path, operation: req.operation, allowed: String(response.allowed) }, ms / 1000);
    this.onAdmission?.(path, ms, response.allowed);
    return response;
  }
}
