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

/** The CA that signs the serving certificates, in a Secret of its own: its key never sits beside the leaf. */
const caSecretName = (o: CertificateOptions) => `${o.secretName}-ca`;

function decodeCA(s: Secret | undefined): KeyCert | undefined {
  const ca = { cert: unb64(s?.data?.["tls.crt"]), key: unb64(s?.data?.["tls.key"]) };
  return ca.cert && ca.key ? ca : undefined;
}

function decodeLeaf(s: Secret | undefined): { leaf?: KeyCert; bundle: string } {
  const leaf = { cert: unb64(s?.data?.["tls.crt"]), key: unb64(s?.data?.["tls.key"]) };
  return { ...(leaf.cert && leaf.key ? { leaf } : {}), bundle: unb64(s?.data?.["ca-bundle.crt"]) };
}

/** The new CA first, then the previous bundle's CAs that have not expired (clients mid-rotation still trust them). */
export function caBundle(ca: string, previous: string | undefined, now = Date.now()): string {
  const certs = (previous ?? "").match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
  const valid = (c: string) => { try { return new Date(new X509Certificate(c).validTo).getTime() > now; } catch { return false; } };
  const keep = certs.map((c) => (c.endsWith("\n") ? c : `${c}\n`)).filter((c) => c !== ca && valid(c));
  return [ca, ...keep].slice(0, 3).join("");
}

const getSecret = (client: KubeClient, name: string, namespace: string) =>
  client.get<Secret>(SecretRef, name, namespace).catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));

/** Creates or updates (compare-and-swap on the resourceVersion read) a TLS Secret. */
async function store(client: KubeClient, have: Secret | undefined, name: string, namespace: string, data: Record<string, string>): Promise<void> {
  if (have) await client.update(SecretRef, { ...have, data });
  else await client.create(SecretRef, { apiVersion: "v1", kind: "Secret", metadata: { name, namespace }, type: "kubernetes.io/tls", data } as Secret);
}

/**
 * The certificate to serve, made or renewed as needed; `published` when a renewal has just called
 * `publish` with its bundle (which must reach the configurations before the Secret is written).
 * Anything unreadable counts as due, so a corrupt Secret is replaced rather than served.
 */
export async function certificate(client: KubeClient, o: CertificateOptions, publish: (bundle: string) => Promise<void>, now = Date.now()): Promise<{ material: Material; published: boolean }> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const [caSecret, leafSecret] = await Promise.all([getSecret(client, caSecretName(o), o.namespace), getSecret(client, o.secretName, o.namespace)]);
    const have = decodeCA(caSecret);
    const { leaf: current, bundle: previous } = decodeLeaf(leafSecret);
    const renewCA = !have || needsRenewal(have.cert, o.caValidityMs / 3, new Date(now));
    const renewLeaf = renewCA || !current || needsRenewal(current.cert, o.certValidityMs / 3, new Date(now)) || !servingCertMatches(current.cert, have.cert, o.hosts);
    if (!renewLeaf && have && current) return { material: { ca: have, leaf: current, bundle: previous || have.cert }, published: false };
    const ca = renewCA || !have ? await newCA({ commonName: "cellcloud-webhook-ca", validForMs: o.caValidityMs }) : have;
    const leaf = await newServingCert(ca, o.hosts, { commonName: "cellcloud-webhook", validForMs: o.certValidityMs });
    const bundle = caBundle(ca.cert, previous, now);
    await publish(bundle);
    try {
      if (ca !== have) await store(client, caSecret, caSecretName(o), o.namespace, { "tls.crt": b64(ca.cert), "tls.key": b64(ca.key) });
      await store(client, leafSecret, o.secretName, o.namespace, { "tls.crt": b64(leaf.cert), "tls.key": b64(leaf.key), "ca.crt": b64(ca.cert), "ca-bundle.crt": b64(bundle) });
      return { material: { ca, leaf, bundle }, published: true };
    } catch (e) {
      if (!isConflict(e) && !isAlreadyExists(e)) throw e;
    }
  }
  throw new Error("could not store the webhook certificate: the Secrets kept changing");
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
  /**
   * Fail (the default: the webhook guards something) or Ignore (it only adds something, such as
   * billing's dry-run estimate: a manager that is down must not stop writes for it).
   */
  failurePolicy?: "Fail" | "Ignore";
  /** CEL the apiserver evaluates before calling: the webhook is called only when all are true. */
  matchConditions?: Array<{ name: string; expression: string }>;
}

export interface Registered { type: "validating" | "mutating"; path: string; webhooks: readonly WebhookSpec[] }

export interface Endpoint {
  url?: string;
  service?: { namespace: string; name: string; port?: number };
  /** The manager's namespace, never sent to the webhooks. */
  namespace: string;
}

/** A cluster-scoped object whose deletion takes the configurations with it (the chart's ClusterRole). */
export type Owner = { apiVersion: string; kind: string; name: string; uid: string };

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

/** The two configurations named `name`, holding every registered webhook (fail closed unless one says otherwise). */
export function configurations(name: string, e: Endpoint, registered: readonly Registered[], bundle: string, owner?: Owner): { validating: KubeObject; mutating: KubeObject } {
  const common = { admissionReviewVersions: ["v1"], timeoutSeconds: 10, matchPolicy: "Equivalent", failurePolicy: "Fail" };
  const hooks = (type: Registered["type"]) => registered.filter((r) => r.type === type).flatMap((r) => r.webhooks.map((s) => ({
    name: s.name, clientConfig: clientConfig(e, r.path, bundle), rules: s.rules, namespaceSelector: namespaceSelector(e, s),
    sideEffects: s.sideEffects ?? "None", ...common, ...(type === "mutating" ? { reinvocationPolicy: "Never" } : {}),
    ...(s.failurePolicy ? { failurePolicy: s.failurePolicy } : {}), ...(s.matchConditions ? { matchConditions: s.matchConditions } : {}),
  })));
  const metadata = {
    name, labels: { "app.kubernetes.io/managed-by": "cellcloud-manager" },
    ...(owner ? { ownerReferences: [{ ...owner, controller: false, blockOwnerDeletion: false }] } : {}),
  };
  return {
    validating: { apiVersion: "admissionregistration.k8s.io/v1", kind: "ValidatingWebhookConfiguration", metadata, webhooks: hooks("validating") },
    mutating: { apiVersion: "admissionregistration.k8s.io/v1", kind: "MutatingWebhookConfiguration", metadata, webhooks: hooks("mutating") },
  };
}

export async function applyConfigurations(client: KubeClient, c: { validating: KubeObject; mutating: KubeObject }, fieldManager: string): Promise<void> {
  await client.apply(ValidatingRef, c.validating, fieldManager);
  await client.apply(MutatingRef, c.mutating, fieldManager);
}
