// The tenancy admission webhook's HTTPS server. It runs in every manager replica (not only the
// leader): admission is answered from caches and the ledger's compare-and-swap, so replicas never
// disagree. Its serving certificate comes from a Secret that any replica renews (compare-and-swap
// too) when a third of its validity is left; the webhook configurations' caBundle is updated to
// hold the new CA *before* any replica serves with it, and keeps the previous CA until it expires.
import { createServer, type Server } from "node:https";
import { X509Certificate } from "node:crypto";
import { Histogram } from "prom-client";
import type { Logger } from "pino";
import { newCA, newServingCert, needsRenewal, servingCertMatches, type KeyCert } from "../runtime/certs.ts";
import { isAlreadyExists, isConflict, isNotFound, type KubeClient } from "../runtime/kube.ts";
import type { Manager, Runnable } from "../runtime/manager.ts";
import type { KubeObject, ResourceRef } from "../runtime/types.ts";
import { TENANT_LABEL } from "../api/tenancy.ts";
import { Admission, type AdmissionRequest, type AdmissionResponse } from "./admission.ts";
import type { LedgerStore } from "./ledger-store.ts";
import { tenancyOf } from "./tenant-controller.ts";
import { chargedKinds, type TenancyView } from "./view.ts";

export const SecretRef: ResourceRef = { group: "", version: "v1", kind: "Secret", plural: "secrets", namespaced: true };
export const ValidatingRef: ResourceRef = { group: "admissionregistration.k8s.io", version: "v1", kind: "ValidatingWebhookConfiguration", plural: "validatingwebhookconfigurations", namespaced: false };
export const MutatingRef: ResourceRef = { group: "admissionregistration.k8s.io", version: "v1", kind: "MutatingWebhookConfiguration", plural: "mutatingwebhookconfigurations", namespaced: false };
export const WEBHOOK_CONFIG = "cellcloud-tenancy";

const DAY = 86_400_000;

export interface WebhookOptions {
  /** Port to serve on, and the address to bind (default all interfaces). */
  port: number;
  bindAddress?: string;
  /** How the apiserver reaches it: a base URL (local control plane) or a Service (in cluster). */
  url?: string;
  service?: { namespace: string; name: string; port?: number };
  /** DNS names and IPs the serving certificate is valid for. */
  hosts: string[];
  /** The manager's namespace: it holds the certificate Secret and is excluded from the webhook. */
  namespace: string;
  secretName?: string;
  caValidityMs?: number;
  certValidityMs?: number;
  /** How often the certificate is checked for renewal (and re-read from the Secret). */
  checkEveryMs?: number;
}

interface Material { ca: KeyCert; leaf: KeyCert; bundle: string }

export class TenancyWebhook implements Runnable {
  readonly admission: Admission;
  readonly view: TenancyView;
  readonly store: LedgerStore;
  private readonly client: KubeClient;
  private readonly log: Logger;
  private readonly opts: Required<Omit<WebhookOptions, "url" | "service" | "bindAddress">> & WebhookOptions;
  private readonly latency: Histogram;
  private server?: Server;
  private timer?: NodeJS.Timeout;
  /** Serving certificates used so far (their serial numbers), for tests of rotation. */
  readonly served: string[] = [];
  /** Called with every answered admission's server-side time (bench/webhook records them). */
  onAdmission?: (path: "validate" | "mutate", ms: number, allowed: boolean) => void;

  constructor(mgr: Manager, opts: WebhookOptions) {
    this.client = mgr.client;
    this.log = mgr.log.child({ component: "tenancy-webhook" });
    this.opts = { secretName: "cellcloud-webhook-cert", caValidityMs: 365 * DAY, certValidityMs: 90 * DAY, checkEveryMs: 3_600_000, ...opts };
    ({ view: this.view, store: this.store } = tenancyOf(mgr));
    this.admission = new Admission(this.view, this.store, mgr.client);
    this.latency = new Histogram({
      name: "cellcloud_webhook_admission_duration_seconds", help: "Time to answer one admission request",
      labelNames: ["webhook", "operation", "allowed"], buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [mgr.metrics.registry],
    });
  }

  /** Serves at once (refusing until caches sync), then keeps the certificate and configurations current. */
  start(): void {
    void this.run();
  }

  private async run(): Promise<void> {
    try {
      await this.refresh();
    } catch (e) {
      this.log.error({ err: e }, "webhook certificate setup failed; retrying");
    }
    this.timer = setInterval(() => void this.refresh().catch((e: unknown) => this.log.error({ err: e }, "webhook certificate refresh failed")), this.opts.checkEveryMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); });
  }

  /** Where it listens (useful with port 0). */
  get port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === "object" ? a.port : undefined;
  }

  /** Reads (or makes, or renews) the certificate, publishes the CA bundle, then serves with it. */
  async refresh(): Promise<void> {
    const { material: m, published } = await this.certificate();
    // Applied on every check, so a configuration someone edited or deleted comes back.
    if (!published) await this.ensureConfigurations(m.bundle);
    const serial = new X509Certificate(m.leaf.cert).serialNumber;
    if (!this.server) await this.listen(m);
    else if (this.served.at(-1) !== serial) this.server.setSecureContext({ cert: m.leaf.cert, key: m.leaf.key });
    if (this.served.at(-1) !== serial) {
      this.served.push(serial);
      this.log.info({ serial, validTo: new X509Certificate(m.leaf.cert).validTo }, "serving webhook certificate");
    }
  }

  private async listen(m: Material): Promise<void> {
    const server = createServer({ cert: m.leaf.cert, key: m.leaf.key }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        void this.handle(req.url ?? "", Buffer.concat(chunks)).then(({ code, body }) => {
          res.writeHead(code, { "content-type": "application/json" });
          res.end(body);
        });
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.opts.port, this.opts.bindAddress ?? "0.0.0.0", () => resolve());
    });
    this.server = server;
  }

  private async handle(url: string, body: Buffer): Promise<{ code: number; body: string }> {
    const path = url.split("?")[0];
    if (path === "/healthz") return { code: 200, body: '"ok"' };
    if (path !== "/validate" && path !== "/mutate") return { code: 404, body: '"not found"' };
    let review: { apiVersion?: string; request?: AdmissionRequest };
    try {
      review = JSON.parse(body.toString("utf8")) as typeof review;
    } catch {
      return { code: 400, body: '"not an AdmissionReview"' };
    }
    const req = review.request;
    if (!req) return { code: 400, body: '"AdmissionReview without a request"' };
    const started = performance.now();
    let response: AdmissionResponse;
    try {
      response = path === "/mutate" ? this.admission.mutate(req) : await this.admission.validate(req);
    } catch (e) {
      this.log.error({ err: e, resource: req.resource.resource, namespace: req.namespace, name: req.name }, "admission failed");
      response = { uid: req.uid, allowed: false, status: { code: 500, reason: "InternalError", message: `CellCloud quota webhook: ${(e as Error).message}` } };
    }
    const ms = performance.now() - started;
    this.latency.observe({ webhook: path.slice(1), operation: req.operation, allowed: String(response.allowed) }, ms / 1000);
    this.onAdmission?.(path === "/mutate" ? "mutate" : "validate", ms, response.allowed);
    return { code: 200, body: JSON.stringify({ apiVersion: review.apiVersion ?? "admission.k8s.io/v1", kind: "AdmissionReview", response }) };
  }

  // ---------------- certificate ----------------

  /** The certificate to serve; `published` when a renewal has just put its bundle into the configurations. */
  private async certificate(): Promise<{ material: Material; published: boolean }> {
    const { namespace, secretName: name, hosts } = this.opts;
    for (let attempt = 0; attempt < 5; attempt++) {
      const secret = await this.client.get<Secret>(SecretRef, name, namespace).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
      const have = secret && decodeSecret(secret);
      const renewCA = !have || needsRenewal(have.ca.cert, this.opts.caValidityMs / 3);
      const renewLeaf = renewCA || !have || needsRenewal(have.leaf.cert, this.opts.certValidityMs / 3) || !servingCertMatches(have.leaf.cert, have.ca.cert, hosts);
      if (have && !renewLeaf) return { material: have, published: false };
      const ca = renewCA ? newCA({ commonName: "cellcloud-webhook-ca", validForMs: this.opts.caValidityMs }) : have!.ca;
      const leaf = newServingCert(ca, hosts, { commonName: "cellcloud-webhook", validForMs: this.opts.certValidityMs });
      const bundle = caBundle(ca.cert, have?.bundle);
      // Publish the bundle first: until the Secret is written no replica serves the new certificate.
      await this.ensureConfigurations(bundle);
      const data = encodeSecret({ ca, leaf, bundle });
      try {
        if (secret) await this.client.update(SecretRef, { ...secret, data });
        else await this.client.create(SecretRef, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, type: "kubernetes.io/tls", data } as Secret);
        this.log.info({ renewedCA: renewCA }, "renewed the webhook certificate");
        return { material: { ca, leaf, bundle }, published: true };
      } catch (e) {
        if (!isConflict(e) && !isAlreadyExists(e)) throw e;
      }
    }
    throw new Error("could not store the webhook certificate: the Secret kept changing");
  }

  // ---------------- configurations ----------------

  private clientConfig(path: string, bundle: string): Record<string, unknown> {
    const caBundle = Buffer.from(bundle).toString("base64");
    if (this.opts.service) {
      const { namespace, name, port } = this.opts.service;
      return { caBundle, service: { namespace, name, path, port: port ?? 443 } };
    }
    if (!this.opts.url) throw new Error("the webhook needs a URL or a Service the apiserver can reach");
    return { caBundle, url: `${this.opts.url.replace(/\/$/, "")}${path}` };
  }

  /** Tenant namespaces only, never kube-system or the manager's own namespace. */
  private namespaceSelector() {
    return {
      matchExpressions: [
        { key: TENANT_LABEL, operator: "Exists" },
        { key: "kubernetes.io/metadata.name", operator: "NotIn", values: [...new Set(["kube-system", this.opts.namespace])] },
      ],
    };
  }

  private async ensureConfigurations(bundle: string): Promise<void> {
    const products = chargedKinds.map((k) => ({ apiGroups: [k.ref.group], apiVersions: ["*"], resources: [k.ref.plural], operations: ["CREATE", "UPDATE"], scope: "Namespaced" }));
    const common = { admissionReviewVersions: ["v1"], timeoutSeconds: 10, matchPolicy: "Equivalent", failurePolicy: "Fail" };
    const validating = {
      apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", metadata: { name: WEBHOOK_CONFIG, labels: { "app.kubernetes.io/managed-by": "cellcloud-manager" } },
      webhooks: [
        { name: "quota.tenancy.cellcloud.io", clientConfig: this.clientConfig("/validate", bundle), rules: products, namespaceSelector: this.namespaceSelector(), sideEffects: "NoneOnDryRun", ...common },
        {
          name: "tree.tenancy.cellcloud.io", clientConfig: this.clientConfig("/validate", bundle), sideEffects: "None", ...common,
          rules: [
            { apiGroups: ["tenancy.cellcloud.io"], apiVersions: ["*"], resources: ["tenants"], operations: ["CREATE", "UPDATE", "DELETE"], scope: "Cluster" },
            { apiGroups: ["tenancy.cellcloud.io"], apiVersions: ["*"], resources: ["quotas"], operations: ["CREATE", "UPDATE"], scope: "Cluster" },
          ],
        },
      ],
    };
    const mutating = {
      apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration", metadata: { name: WEBHOOK_CONFIG, labels: { "app.kubernetes.io/managed-by": "cellcloud-manager" } },
      webhooks: [{
        name: "defaults.tenancy.cellcloud.io", clientConfig: this.clientConfig("/mutate", bundle), namespaceSelector: this.namespaceSelector(), sideEffects: "None", reinvocationPolicy: "Never",
        rules: products, ...common,
      }],
    };
    await this.client.apply(ValidatingRef, validating as unknown as KubeObject, "cellcloud-manager");
    await this.client.apply(MutatingRef, mutating as unknown as KubeObject, "cellcloud-manager");
  }
}

interface Secret extends KubeObject { data?: Record<string, string>; type?: string }

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString("utf8") : "");

function encodeSecret(m: Material): Record<string, string> {
  return { "ca.crt": b64(m.ca.cert), "ca.key": b64(m.ca.key), "tls.crt": b64(m.leaf.cert), "tls.key": b64(m.leaf.key), "ca-bundle.crt": b64(m.bundle) };
}

function decodeSecret(s: Secret): Material | undefined {
  const d = s.data ?? {};
  const m = { ca: { cert: unb64(d["ca.crt"]), key: unb64(d["ca.key"]) }, leaf: { cert: unb64(d["tls.crt"]), key: unb64(d["tls.key"]) }, bundle: unb64(d["ca-bundle.crt"]) };
  return m.ca.cert && m.ca.key && m.leaf.cert && m.leaf.key ? { ...m, bundle: m.bundle || m.ca.cert } : undefined;
}

/** The new CA first, then the previous bundle's CAs that have not expired (clients mid-rotation still trust them). */
export function caBundle(ca: string, previous: string | undefined, now = Date.now()): string {
  const certs = (previous ?? "").match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  const keep = certs.map((c) => (c.endsWith("\n") ? c : `${c}\n`)).filter((c) => c !== ca && new Date(new X509Certificate(c).validTo).getTime() > now);
  return [ca, ...keep].slice(0, 3).join("");
}

/** Registers the webhook to serve in every replica, leader or not. */
export function setupTenancyWebhook(mgr: Manager, opts: WebhookOptions): TenancyWebhook {
  return mgr.addAlways(new TenancyWebhook(mgr, opts));
}
