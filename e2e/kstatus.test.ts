// Every CellCloud kind follows kstatus (what Flux and Argo CD's health checks read): its example
// in examples/ becomes Current (Ready=True at the observed generation), a spec change is
// InProgress until observed, and its CRD is kubectl-friendly (category, Ready column).
import { readdirSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { refOf } from "../operators/api/crd.ts";
import { kinds } from "../operators/api/index.ts";
import { Cell } from "../operators/api/platform.ts";
import { VolumeRef } from "../operators/api/storage.ts";
import { TENANT_LABEL } from "../operators/api/tenancy.ts";
import { NamespaceRef } from "../operators/runtime/core.ts";
import { KubeClient, isAlreadyExists, isConflict, isNotFound } from "../operators/runtime/kube.ts";
import { kstatus } from "../operators/runtime/kstatus.ts";
import type { KubeObject, ResourceRef } from "../operators/runtime/types.ts";
import { eventually, kubeConfig, useNamespace } from "./support/kube.ts";
import { startManager, type InProcessManager } from "./support/manager.ts";
import { repoRoot } from "./support/plane.ts";

const ns = useNamespace("kstatus");
let m: InProcessManager;
beforeAll(async () => { m = await startManager(); });
afterAll(async () => { await m?.mgr.stop(); });
// Cluster-scoped copies outlive the namespace: delete them while the manager still runs their finalizers.
const clusterScoped: Array<{ ref: ResourceRef; name: string }> = [];
afterAll(async () => {
  const client = new KubeClient(kubeConfig());
  for (const { ref, name } of clusterScoped.reverse()) await client.delete(ref, name).catch(() => undefined);
  for (const { ref, name } of clusterScoped) {
    await eventually(() => client.get(ref, name).then(() => false, (e: unknown) => isNotFound(e)), { what: `${ref.kind} ${name} deleted` });
  }
});

const examples = readdirSync(`${repoRoot}/examples`).filter((f) => f.endsWith(".yaml") && f !== "kustomization.yaml")
  .flatMap((f) => parseAllDocuments(readFileSync(`${repoRoot}/examples/${f}`, "utf8")).map((d) => d.toJSON() as KubeObject | null))
  .filter((o): o is KubeObject => Boolean(o?.kind));

describe.each(kinds.map((k) => [k.kind, k] as const))("%s", (_name, kind) => {
  const example = examples.find((o) => o.apiVersion === kind.apiVersion && o.kind === kind.kind);
  // A lock object (a VNIClaim: named by the value it holds, whole once created, as Kubernetes'
  // IPAddress) is nobody's to apply and nothing reconciles it: no example, no Ready.
  const lock = kind.readyColumn === false;

  if (!lock) it("has an example in examples/", () => {
    expect(example, `examples/ has a ${kind.kind}`).toBeDefined();
  });

  if (!lock) it("reaches kstatus Current from its example, and is InProgress until a spec change is observed", async () => {
    const body = structuredClone(example!) as KubeObject;
    if (kind.scope === "Namespaced") body.metadata.namespace = ns.name;
    body.metadata.name = `ks-${body.metadata.name}`;
    const client = new KubeClient(kubeConfig());
    const ref = refOf(kind);
    await createReferenced(client, body);
    await client.create(ref, body);
    if (kind.scope === "Cluster") clusterScoped.push({ ref, name: body.metadata.name });
    const read = () => client.get(ref, body.metadata.name, body.metadata.namespace);
    const current = await eventually(async () => { const o = await read(); return kstatus(o).status === "Current" && o; },
      { what: `${kind.kind} Current` });
    expect(current.status).toMatchObject({ observedGeneration: current.metadata.generation });
    // A spec change bumps the generation; until the controller observes it, kstatus says InProgress.
    const before = current.metadata.generation ?? 0;
    // A controller may still write status after Current (a resync): on a conflict, re-read and retry.
    const update = async (): Promise<KubeObject> => {
      const latest = await read();
      if ((latest.metadata.generation ?? 0) !== before) throw new Error(`${kind.kind} changed generation under the test`);
      const changed = { ...latest, spec: { ...(latest.spec as object), [kstatusProbeField(kind.kind)]: kstatusProbeValue(kind.kind) } };
      return client.update(ref, changed).catch((e: unknown) => (isConflict(e) ? update() : Promise.reject(e)));
    };
    const updated = await update();
    expect(updated.metadata.generation).toBe(before + 1);
    expect(kstatus(updated).status).toBe("InProgress");
    await eventually(async () => kstatus(await read()).status === "Current", { what: `${kind.kind} Current again` });
  });

  it("is kubectl-friendly: category cellcloud, a Ready column, a status subresource", () => {
    const crd = kind.crd() as { spec: { names: { categories: string[] }; versions: Array<{ additionalPrinterColumns: Array<{ name: string }>; subresources: object }> } };
    expect(crd.spec.names.categories).toContain("cellcloud");
    if (!lock) expect(crd.spec.versions[0]!.additionalPrinterColumns.map((c) => c.name)).toContain("Ready");
    expect(crd.spec.versions[0]!.subresources).toHaveProperty("status");
  });
});

// A harmless spec change per kind; each product adds its own line when it adds a kind.
function kstatusProbeField(kind: string): string {
  return ({ Widget: "size", Cell: "description", NodePool: "cpuModel", StoragePool: "oversubscriptionRatio", ExternalIPPool: "excludedIPs", Flavor: "family", Image: "minDiskGiB", KeyPair: "description", DeploymentSet: "mode", Instance: "terminationGracePeriodSeconds", VolumeType: "description", Volume: "size", VolumeSnapshot: "description", Tenant: "displayName", Quota: "hard", QuotaLedger: "description", VPC: "dnsServers", Subnet: "dnsServers", SecurityGroup: "description", ElasticIP: "bandwidth", LoadBalancer: "replicas", DBInstance: "failoverDelaySeconds", DBBackup: "description", MQInstance: "allowedCIDRs", MQTopic: "retentionMs", MQUser: "deletionPolicy", PriceList: "description", Bill: "purchaseOrder", Subscription: "renewBeforeHours" } as Record<string, string>)[kind] ?? "";
}
function kstatusProbeValue(kind: string): unknown {
  return ({ Widget: 7, Cell: "probe", NodePool: "probe", StoragePool: 2, ExternalIPPool: ["203.0.113.254"], Flavor: "basic", Image: 30, KeyPair: "probe", DeploymentSet: "best-effort", Instance: 5, VolumeType: "probe", Volume: "60Gi", VolumeSnapshot: "probe", Tenant: "probe", Quota: { cpu: 8 }, QuotaLedger: "probe", VPC: ["10.0.0.53"], Subnet: ["10.0.0.53"], SecurityGroup: "probe", ElasticIP: { ingressMbps: 7, egressMbps: 7 }, LoadBalancer: 1, DBInstance: 5, DBBackup: "probe", MQInstance: ["10.0.0.0/8"], MQTopic: 3_600_000, MQUser: "Orphan", PriceList: "probe", Bill: "PO-probe", Subscription: 48 } as Record<string, unknown>)[kind];
}

/**
 * Examples name each other (a NodePool its Cell): the copy names the copy, which is made from its
 * example if missing. An Instance names the copies of its flavor, image, key pair and deployment set,
 * which the earlier kinds' tests made (kinds run in registry order: platform, then the catalog), and
 * runs on the hosts of the NodePool example's copy.
 */
async function createReferenced(client: KubeClient, body: KubeObject): Promise<void> {
  // Tenancy: the Tenant copy is a root without namespaces, the Quota limits that copy, and the
  // ledger copy must not be the one the tenant controller makes for it.
  // Billing: a Bill and a Subscription live in a tenant's namespace (a copy gets one of its own, for
  // the example's tenant), and a subscription pays for an object there (a volume copy).
  if (body.kind === "Bill" || body.kind === "Subscription") {
    const spec = body.spec as { tenant?: string; resource?: { kind: string; name: string } };
    // a tenant no Tenant object names (the Tenant copy would take the namespace's label back)
    if (spec.tenant) spec.tenant = `ks-billing-${spec.tenant}`;
    const namespace = `ks-${body.kind.toLowerCase()}-${ns.name}`.slice(0, 63);
    await client.create(NamespaceRef, { apiVersion: "v1", kind: "Namespace", metadata: { name: namespace, labels: { [TENANT_LABEL]: spec.tenant ?? "ks-billing-subscriptions", "cellcloud.io/test": "true" } } });
    clusterScoped.push({ ref: NamespaceRef, name: namespace });
    body.metadata.namespace = namespace;
    if (spec.resource) {
      await client.create(VolumeRef, { apiVersion: "storage.cellcloud.io/v1alpha1", kind: "Volume", metadata: { name: spec.resource.name, namespace }, spec: { size: "1Gi", type: "ssd", zone: "az1" } });
      spec.resource.kind = "Volume";
    }
    return;
  }
  if (body.kind === "Tenant") {
    const spec = body.spec as { parent?: string; namespaces?: string[] };
    delete spec.parent;
    delete spec.namespaces;
    return;
  }
  if (body.kind === "Quota") {
    const spec = body.spec as { tenant: string; zone?: string; architecture?: string };
    spec.tenant = `ks-${spec.tenant}`;
    return;
  }
  if (body.kind === "QuotaLedger") {
    body.metadata.name = `ks-spare-${body.metadata.name}`;
    return;
  }
  if (body.kind === "SecurityGroup") {
    // its rules name other groups of the example; the copy stands alone
    const spec = body.spec as Record<string, unknown>;
    delete spec.ingress;
  }
  if (body.kind === "ElasticIP") {
    // unbound, from the pool copy's example (the platform kinds ran first)
    const spec = body.spec as Record<string, unknown>;
    delete spec.target;
    spec.pool = `ks-${String(spec.pool)}`;
    return;
  }
  if (body.kind === "LoadBalancer") {
    // its VIP from the subnet copy, its instance members the instance copies
    const spec = body.spec as { vip: { subnet: string }; pools: Array<{ members: Array<{ instance?: string }> }> };
    spec.vip.subnet = `ks-${spec.vip.subnet}`;
    for (const m of spec.pools.flatMap((p) => p.members)) if (m.instance) m.instance = `ks-${m.instance}`;
    return;
  }
  if (body.kind === "DBInstance") {
    // its volumes of the VolumeType copy; members on the hosts of the NodePool copy (its zone)
    const spec = body.spec as { storage: { type: string }; subnet: string };
    spec.storage.type = `ks-${spec.storage.type}`;
    // the Subnet kind's copy is of its first example
    spec.subnet = `ks-${examples.find((o) => o.kind === "Subnet")!.metadata.name}`;
    return;
  }
  if (body.kind === "MQInstance") {
    // like a DBInstance's: the VolumeType and Subnet copies
    const spec = body.spec as { storage: { type: string }; subnet: string };
    spec.storage.type = `ks-${spec.storage.type}`;
    spec.subnet = `ks-${examples.find((o) => o.kind === "Subnet")!.metadata.name}`;
    return;
  }
  if (body.kind === "MQTopic" || body.kind === "MQUser") {
    // on the MQInstance kind's copy (brokers already running); a topic keeps its name on the brokers
    (body.spec as { instance: string }).instance = `ks-${(body.spec as { instance: string }).instance}`;
    return;
  }
  if (body.kind === "DBBackup") {
    (body.spec as { instance: string }).instance = `ks-${(body.spec as { instance: string }).instance}`;
    return;
  }
  if (["Instance", "Volume", "VolumeSnapshot", "Subnet", "SecurityGroup"].includes(body.kind ?? "")) {
    const refs = body.spec as Record<string, unknown>;
    for (const field of ["flavor", "image", "keyPair", "deploymentSet", "type", "volume", "vpc"]) if (typeof refs[field] === "string") refs[field] = `ks-${refs[field]}`;
    return;
  }
  const spec = body.spec as { cell?: unknown } | undefined;
  if (!spec || typeof spec.cell !== "string") return;
  const cell = examples.find((o) => o.apiVersion === Cell.apiVersion && o.kind === Cell.kind && o.metadata.name === spec.cell);
  const name = `ks-${spec.cell}`;
  spec.cell = name;
  if (!cell) return;
  try {
    await client.create(refOf(Cell), { ...structuredClone(cell), metadata: { name } });
    clusterScoped.push({ ref: refOf(Cell), name });
  } catch (e) {
    if (!isAlreadyExists(e)) throw e;
  }
}
