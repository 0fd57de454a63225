// What the apiserver needs to call the manager's webhooks: a serving certificate kept in a Secret
// (any replica renews it, compare-and-swap, when a third of its validity is left; the CA bundle of
// the configurations is updated *before* any replica serves the new certificate, and keeps the
// previous CA until it expires), and the Validating/Mutating configurations built from what the
// products registered.
import { X509Certificate } from "node:crypto";
import { newCA, newServingCert, needsRenewal, servingCertMatches, type KeyCert } from "./certs.ts";
import { MutatingRef, SecretRef, ValidatingRef } from "./core.ts";
import { isAlreadyExists, isConflict, isNotFound, type KubeClient } from "./kube.ts";
import type { KubeObject } from "./types.ts";

export interface Material { ca: KeyCert; leaf: KeyCert; bundle: string }

export interface CertificateOptions {
  namespace: string;
  secretName: string;
  hosts: readonly string[];
  caValidityMs: number;
  certValidityMs: number;
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

/**
 * The certificate to serve, made or renewed as needed; `published` when a renewal has just called
 * `publish` with its bundle (which must reach the configurations before the Secret is written).
 */
export async function certificate(client: KubeClient, o: CertificateOptions, publish: (bundle: string) => Promise<void>, now = Date.now()): Promise<{ material: Material; published: boolean }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const secret = await client.get<Secret>(SecretRef, o.secretName, o.namespace).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
    const have = secret && decodeSecret(secret);
    const renewCA = !have || needsRenewal(have.ca.cert, o.caValidityMs / 3);
    const renewLeaf = renewCA || !have || needsRenewal(have.leaf.cert, o.certValidityMs / 3) || !servingCertMatches(have.leaf.cert, have.ca.cert, o.hosts);
    if (have && !renewLeaf) return { material: have, published: false };
    const ca = renewCA ? newCA({ commonName: "cellcloud-webhook-ca", validForMs: o.caValidityMs }) : have!.ca;
    const leaf = newServingCert(ca, o.hosts, { commonName: "cellcloud-webhook", validForMs: o.certValidityMs });
    const bundle = caBundle(ca.cert, have?.bundle, now);
    await publish(bundle);
    const data = encodeSecret({ ca, leaf, bundle });
    try {
      if (secret) await client.update(SecretRef, { ...secret, data });
      else await client.create(SecretRef, { apiVersion: "v1", kind: "Secret", metadata: { name: o.secretName, namespace: o.namespace }, type: "kubernetes.io/tls", data } as Secret);
      return { material: { ca, leaf, bundle }, published: true };
    } catch (e) {
      if (!isConflict(e) && !isAlreadyExists(e)) throw e;
    }
  }
  throw new Error("could not store the webhook certificate: the Secret kept changing");
}

export interface RuleWithOperations {
  apiGroups: string[];
  apiVersions: string[];
  resources: string[];
  operations: Array<"CREATE" | "UPDATE" | "DELETE" | "CONNECT" | "*">;
  scope: "Namespaced" | "Cluster" | "*";
}

export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }>;
}

/** One webhook of a configuration, as a product registers it. */
export interface WebhookSpec {
  /** A qualified name, e.g. quota.tenancy.cellcloud.io. */
  name: string;
  rules: RuleWithOperations[];
  /** Narrows namespaced rules; kube-system and the manager's own namespace are always left out. */
  namespaceSelector?: LabelSelector;
  sideEffects?: "None" | "NoneOnDryRun";
}

export interface Registered { type: "validating" | "mutating"; path: string; webhooks: readonly WebhookSpec[] }

export interface Endpoint {
  url?: string;
  service?: { namespace: string; name: string; port?: number };
  /** The manager's namespace, never sent to the webhooks. */
  namespace: string;
}

function clientConfig(e: Endpoint, path: string, bundle: string): Record<string, unknown> {
  const caBundle = Buffer.from(bundle).toString("base64");
  if (e.service) return { caBundle, service: { ...e.service, path, port: e.service.port ?? 443 } };
  if (!e.url) throw new Error("the webhook needs a URL or a Service the apiserver can reach");
  return { caBundle, url: `${e.url.replace(/\/$/, "")}${path}` };
}

function namespaceSelector(e: Endpoint, s: WebhookSpec): LabelSelector {
  const never = { key: "kubernetes.io/metadata.name", operator: "NotIn" as const, values: [...new Set(["kube-system", e.namespace])] };
  return { ...s.namespaceSelector, matchExpressions: [...(s.namespaceSelector?.matchExpressions ?? []), never] };
}

/** The two configurations named `name`, holding every registered webhook (fail closed). */
export function configurations(name: string, e: Endpoint, registered: readonly Registered[], bundle: string): { validating: KubeObject; mutating: KubeObject } {
  const common = { admissionReviewVersions: ["v1"], timeoutSeconds: 10, matchPolicy: "Equivalent", failurePolicy: "Fail" };
  const hooks = (type: Registered["type"]) => registered.filter((r) => r.type === type).flatMap((r) => r.webhooks.map((s) => ({
    name: s.name, clientConfig: clientConfig(e, r.path, bundle), rules: s.rules, namespaceSelector: namespaceSelector(e, s),
    sideEffects: s.sideEffects ?? "None", ...common, ...(type === "mutating" ? { reinvocationPolicy: "Never" } : {}),
  })));
  const metadata = { name, labels: { "app.kubernetes.io/managed-by": "cellcloud-manager" } };
  return {
    validating: { apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", metadata, webhooks: hooks("validating") },
    mutating: { apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration", metadata, webhooks: hooks("mutating") },
  };
}

export async function applyConfigurations(client: KubeClient, c: { validating: KubeObject; mutating: KubeObject }, fieldManager: string): Promise<void> {
  await client.apply(ValidatingRef, c.validating, fieldManager);
  await client.apply(MutatingRef, c.mutating, fieldManager);
}
