// The product smoke suite: what every CellCloud install must do, observed from outside with the
// admin client. The chart-RBAC test runs it against a manager that has only the chart's
// permissions, so each step must need (and therefore prove) some of them. Each product issue adds
// its kinds here.
import { EventsV1Api, SchedulingV1Api, type KubeConfig } from "@kubernetes/client-node";
import { ExternalIPPoolRef, schedulerName } from "../../operators/api/platform.ts";
import { KubeClient } from "../../operators/runtime/kube.ts";
import type { KubeObject, ResourceRef } from "../../operators/runtime/types.ts";
import { clients, eventually, eventuallyGone, kubectl } from "./kube.ts";
import { createCatalog, instancesIn } from "./compute.ts";
import { storageIn } from "./storage.ts";
import { metricValue, webhookArgs } from "./manager.ts";
import { isReadyAtGeneration, platformIn, poolSpec } from "./platform.ts";
import { instance, quota, tenant } from "./tenancy.ts";
import { widgetsIn } from "./widgets.ts";
import { DeploymentSetRef, FlavorRef, ImageRef, InstanceRef, KeyPairRef } from "../../operators/api/compute.ts";
import { EIPBindingRef, ElasticIPRef, IPAllocationRef, LoadBalancerRef, SecurityGroupRef, SubnetRef, VNIClaimRef, VPCRef } from "../../operators/api/network.ts";
import { VolumeRef, VolumeSnapshotRef, VolumeTypeRef } from "../../operators/api/storage.ts";
import { ConfigMapRef, DeploymentRef, EndpointSliceRef, MutatingRef, NamespaceRef, NetworkPolicyRef, RoleBindingRef, SecretRef, ServiceRef, ValidatingRef, type EndpointSlice, type Service } from "../../operators/runtime/core.ts";
import { DBBackupRef, DBInstanceRef } from "../../operators/api/database.ts";
import { MQInstanceRef, MQTopicRef, MQUserRef } from "../../operators/api/messaging.ts";
import { AppliedQuotaRef, QuotaRef, TenantRef } from "../../operators/api/tenancy.ts";
import { BillRef, ESTIMATE_ANNOTATION, EXPIRED_ANNOTATION, PriceListRef, SubscriptionRef } from "../../operators/api/billing.ts";
import { connect } from "../../operators/billing/ledger.ts";
import { period } from "../../operators/billing/periods.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WEBHOOK_CONFIG } from "../../operators/runtime/webhook.ts";

/** The controllers whose behaviour runSmoke checks: a manager under test runs these (chart-rbac, smoke). */
export const SMOKE_CONTROLLERS = ["widget", "nodepool", "cell", "platform-pools", "scheduler", "compute-catalog", "instance", "volume", "vpc", "subnet", "securitygroup", "elasticip", "loadbalancer", "dbinstance", "dbbackup", "mqinstance", "mqtopic", "mquser", "tenancy", "billing"];

/** Flags of a manager under test whose billing ledger is `ledger` (a scratch database). */
export function smokeBillingArgs(ledger: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), "cellcloud-ledger-"));
  writeFileSync(join(dir, "url"), ledger, { mode: 0o600 });
  return [`--billing-database-url-file=${join(dir, "url")}`, "--billing-rate-every=1"];
}

/**
 * Flags that make a manager under test serve the tenancy webhook on `port`, with a certificate that
 * lives 12 s (renewed with 4 s left, checked every second), so a smoke run sees it rotate.
 */
export function smokeWebhookArgs(port: number, namespace: string): string[] {
  return [...webhookArgs(port, namespace), "--webhook-cert-validity=12", "--webhook-cert-check=1"];
}
/** Cluster-scoped smoke objects carry this label, valued with the run's namespace, so cleanSmoke finds them. */
const SMOKE_LABEL = "cellcloud.io/smoke";

/** The smoke suite's parts, in the order they run. */
export type SmokeSection = "runtime" | "platform" | "catalog" | "network" | "database" | "messaging" | "tenancy" | "billing";

export interface SmokeOptions {
  /** Only these parts (all by default): a run that must fail at one part need not run the others. */
  sections?: readonly SmokeSection[];
  namespace: string;
  prefix: string;
  timeoutMs?: number;
  /** The Lease the manager under test holds: its renewal must be seen. */
  lease?: { namespace: string; name: string };
  /** The manager's /metrics: its caches must have run without a failed list or watch. */
  metricsUrl?: string;
  /** Another cluster than the harness's (the k3s suite). */
  kubeConfig?: KubeConfig;
  /** Where the webhook keeps its certificate Secret, and whether its certificate is short-lived enough to see it rotate. */
  webhook: { namespace: string; rotates: boolean };
  /** The manager's ServiceAccount, when it has only the chart's rights: bound as a tenant namespace binds it where the database part runs. */
  managerServiceAccount?: { namespace: string; name: string };
  /** The manager's billing ledger (smokeBillingArgs): the billing part seeds history there. Without it, that part is skipped. */
  ledger?: string;
}

export async function runSmoke({ namespace, prefix, timeoutMs = 30_000, lease, metricsUrl, kubeConfig, webhook, sections, managerServiceAccount, ledger }: SmokeOptions): Promise<void> {
  const part = (s: SmokeSection) => !sections || sections.includes(s);
  const { kc, core, coordination } = clients(kubeConfig);
  const widgets = widgetsIn(kc, namespace);
  const events = kc.makeApiClient(EventsV1Api);
  const opts = { timeoutMs };
  const ready = async (name: string) => {
    const w = await widgets.read(name);
    return w.status?.conditions?.find((c) => c.type === "Ready")?.status;
  };

  // Leadership: the lease is held and renewed.
  if (lease) {
    const first = await eventually(async () => (await coordination.readNamespacedLease(lease)).spec?.renewTime, { ...opts, what: "lease acquired" });
    await eventually(async () => String((await coordination.readNamespacedLease(lease)).spec?.renewTime) !== String(first), { ...opts, what: "lease renewed" });
  }
  if (part("runtime")) {
    // A widget becomes Ready and gets its owned ConfigMap.
    await widgets.create(`${prefix}-ok`, { size: 2 });
    await eventually(async () => (await ready(`${prefix}-ok`)) === "True", { ...opts, what: "widget Ready" });
    const cm = await core.readNamespacedConfigMap({ name: `${prefix}-ok`, namespace });
    if (cm.metadata?.ownerReferences?.[0]?.kind !== "Widget") throw new Error("ConfigMap is not owned by its Widget");
    // A terminal error shows in Ready=False and as an Event; a repeat adds to the Event's series.
    await widgets.create(`${prefix}-bad`, { size: 1, behavior: "Terminal" });
    await eventually(async () => (await ready(`${prefix}-bad`)) === "False", { ...opts, what: "terminal widget Ready=False" });
    const terminalEvents = async () =>
      (await events.listNamespacedEvent({ namespace })).items.filter((e) => e.regarding?.name === `${prefix}-bad` && e.reason === "BehaviorTerminal");
    await eventually(async () => (await terminalEvents()).length > 0, { ...opts, what: "terminal Event" });
    await widgets.patch(`${prefix}-bad`, [{ op: "replace", path: "/spec/size", value: 3 }]);
    await eventually(async () => (await terminalEvents()).some((e) => (e.series?.count ?? 1) >= 2), { ...opts, what: "Event series count 2" });
    // Drift is repaired: a deleted child comes back (the controller watches what it owns).
    const uid = cm.metadata?.uid;
    await core.deleteNamespacedConfigMap({ name: `${prefix}-ok`, namespace });
    await eventually(async () => (await core.readNamespacedConfigMap({ name: `${prefix}-ok`, namespace })).metadata?.uid !== uid,
      { ...opts, what: "deleted ConfigMap recreated" });
    // Deletion runs the finalizer's cleanup: the ConfigMap goes too.
    await widgets.delete(`${prefix}-ok`);
    await eventuallyGone(() => core.readNamespacedConfigMap({ name: `${prefix}-ok`, namespace }), "ConfigMap cleaned up", timeoutMs);
  }
  if (part("platform")) await platformSmoke(kc, namespace, `${namespace}-${prefix}`, timeoutMs);
  if (part("catalog")) await computeCatalogSmoke(kc, namespace, `${namespace}-${prefix}`, timeoutMs);
  if (part("network")) await networkSmoke(kc, namespace, `${prefix}-vpc`, timeoutMs);
  // real PostgreSQL runs only where the local data plane does (the harness's plane, not k3s)
  // RDS and MQ (each on a cell of its own) at once: their real servers take a while to start
  await Promise.all([
    part("database") && !kubeConfig ? databaseSmoke(kc, namespace, `${namespace}-${prefix}`, timeoutMs, managerServiceAccount) : undefined,
    part("messaging") && !kubeConfig ? messagingSmoke(kc, namespace, `${namespace}-${prefix}`, timeoutMs, managerServiceAccount) : undefined,
  ]);
  if (part("tenancy")) await tenancySmoke(kc, namespace, `${namespace}-${prefix}`, timeoutMs, webhook);
  if (part("billing") && ledger) await billingSmoke(kc, namespace, `${namespace}-${prefix}`, timeoutMs, ledger, metricsUrl);
  if (metricsUrl) {
    const text = await (await fetch(metricsUrl)).text();
    const failures = metricValue(text, "cellcloud_informer_errors_total");
    // which resources and operations, so a failure here says where to look
    const which = text.split("\n").filter((l) => l.startsWith("cellcloud_informer_errors_total{") && !l.endsWith(" 0")).join("; ");
    if (failures > 0) throw new Error(`the manager's informers had ${failures} failed list/watch requests: ${which}`);
  }
}

/**
 * The platform: a Cell and a 2-host NodePool become Ready KWOK nodes that the Cell counts; storage
 * and IP pools report their totals; an overcommit change reaches the nodes' allocatable and a new
 * pool label their labels; scaling down evicts the pod on the removed host and deletes it; deleting
 * the pool removes its hosts.
 */
async function platformSmoke(kc: KubeConfig, namespace: string, base: string, timeoutMs: number): Promise<void> {
  const { core } = clients(kc);
  const p = platformIn(kc);
  const opts = { timeoutMs };
  const labels = { [SMOKE_LABEL]: namespace };
  const cell = `${base}-cell`;
  const pool = `${base}-np`;
  const nodesOf = async () => (await core.listNode({ labelSelector: `cellcloud.io/pool=${pool}` })).items;
  const ready = async (kind: keyof typeof p, name: string) => isReadyAtGeneration(await p[kind].read(name));

  const zone = `${base}-az`.slice(-63).replace(/^[^a-z0-9]+/, "");
  await p.cells.create(cell, { region: "smoke", zone }, labels);
  await p.storagePools.create(`${base}-sp`, { cell, mediaType: "SSD", capacity: "10Ti" }, labels);
  await p.externalIPPools.create(`${base}-ip`, { region: "smoke", cell, cidrs: ["192.0.2.0/28"] }, labels);
  await p.nodePools.create(pool, poolSpec(cell, { nodes: 2 }), labels);
  await eventually(() => ready("nodePools", pool), { ...opts, what: "NodePool Ready (2 KWOK nodes)" });
  const readyInCell = async () => ((await p.cells.read(cell)).status?.nodes as { ready?: number } | undefined)?.ready;
  await eventually(async () => (await readyInCell()) === 2, { ...opts, what: "Cell counts 2 ready nodes" });
  await eventually(() => ready("storagePools", `${base}-sp`), { ...opts, what: "StoragePool Ready" });
  await eventually(async () => (await p.externalIPPools.read(`${base}-ip`)).status?.total === 14, { ...opts, what: "ExternalIPPool total 14" });

  await p.nodePools.patch(pool, [
    { op: "replace", path: "/spec/overcommit/cpu", value: 2 },
    { op: "add", path: "/spec/labels", value: { "smoke.example.com/group": "a" } },
  ]);
  await eventually(async () => (await nodesOf()).every((n) => n.status?.allocatable?.cpu === "16" && n.metadata?.labels?.["smoke.example.com/group"] === "a"),
    { ...opts, what: "nodes repaired: allocatable cpu 8 × 2 and the new label" });

  await schedulerSmoke(kc, namespace, base, pool, timeoutMs);
  await instanceSmoke(kc, namespace, base, zone, timeoutMs);

  await core.createNamespacedPod({ namespace, body: {
    metadata: { name: `${base}-vm`, labels },
    spec: { nodeName: `${pool}-1`, containers: [{ name: "vm", image: "registry.k8s.io/pause:3.10" }] },
  } });
  await p.nodePools.patch(pool, [{ op: "replace", path: "/spec/nodes", value: 1 }]);
  await eventuallyGone(() => core.readNamespacedPod({ name: `${base}-vm`, namespace }), "pod evicted from the drained node", timeoutMs);
  await eventually(async () => (await nodesOf()).map((n) => n.metadata?.name).join() === `${pool}-0`, { ...opts, what: "drained node deleted" });

  await p.nodePools.delete(pool);
  await eventuallyGone(() => p.nodePools.read(pool), "NodePool deleted after its finalizer removed its nodes", timeoutMs);
  if ((await nodesOf()).length) throw new Error(`NodePool ${pool} is gone but its nodes are not`);
  for (const kind of ["cells", "storagePools", "externalIPPools"] as const) {
    for (const o of await p[kind].list(`${SMOKE_LABEL}=${namespace}`)) await p[kind].delete(o.metadata.name);
  }
  // The Cell's in-use finalizer goes once no pool names it.
  await eventuallyGone(() => p.cells.read(cell), "Cell deleted after its last pool", timeoutMs);
}

/**
 * The cell scheduler on the pool's two 16-cpu hosts: pods are bound (pods/binding), one that fits
 * nowhere gets PodScheduled=False (pods/status), and a high-priority pod preempts (pods delete).
 */
async function schedulerSmoke(kc: KubeConfig, namespace: string, base: string, pool: string, timeoutMs: number): Promise<void> {
  const { core } = clients(kc);
  const scheduling = kc.makeApiClient(SchedulingV1Api);
  const opts = { timeoutMs };
  const labels = { [SMOKE_LABEL]: namespace };
  for (const [name, value] of [[`${base}-low`, 10], [`${base}-high`, 1000]] as const) {
    await scheduling.createPriorityClass({ body: { metadata: { name, labels }, value } });
  }
  const pod = (name: string, cpu: string, priorityClassName: string) => core.createNamespacedPod({ namespace, body: {
    metadata: { name, labels },
    spec: {
      schedulerName, priorityClassName, nodeSelector: { "cellcloud.io/pool": pool },
      containers: [{ name: "vm", image: "registry.k8s.io/pause:3.10", resources: { requests: { cpu, memory: "1Gi" } } }],
    },
  } });
  const read = (name: string) => core.readNamespacedPod({ name, namespace });
  const nodeOf = async (name: string) => (await read(name)).spec?.nodeName;
  await pod(`${base}-s0`, "12", `${base}-low`);
  await pod(`${base}-s1`, "12", `${base}-low`);
  await eventually(async () => (await nodeOf(`${base}-s0`)) && (await nodeOf(`${base}-s1`)), { ...opts, what: "scheduler bound 2 pods" });
  await pod(`${base}-huge`, "100", `${base}-low`);
  await eventually(async () => (await read(`${base}-huge`)).status?.conditions?.some((c) => c.type === "PodScheduled" && c.status === "False"),
    { ...opts, what: "PodScheduled=False on a pod that fits nowhere" });
  const uids = await Promise.all([`${base}-s0`, `${base}-s1`].map(async (n) => (await read(n)).metadata?.uid));
  await pod(`${base}-vip`, "12", `${base}-high`);
  await eventually(async () => await nodeOf(`${base}-vip`), { ...opts, what: "high-priority pod bound after preemption" });
  const left = (await core.listNamespacedPod({ namespace, labelSelector: `${SMOKE_LABEL}=${namespace}` })).items
    .filter((p) => uids.includes(p.metadata?.uid) && !p.metadata?.deletionTimestamp);
  if (left.length !== 1) throw new Error(`preemption should have deleted exactly one low-priority pod; ${left.length} remain`);
  await core.deleteCollectionNamespacedPod({ namespace, labelSelector: `${SMOKE_LABEL}=${namespace}`, gracePeriodSeconds: 0 });
  await scheduling.deleteCollectionPriorityClass({ labelSelector: `${SMOKE_LABEL}=${namespace}` });
}

/**
 * An ECS instance on the pool's hosts: it runs (pods create; the HA PriorityClasses exist), pauses
 * (pods patch), grows online (pods/resize), stops (pods delete) and is deleted (its finalizer goes).
 */
async function instanceSmoke(kc: KubeConfig, namespace: string, base: string, zone: string, timeoutMs: number): Promise<void> {
  const { core } = clients(kc);
  const labels = { [SMOKE_LABEL]: namespace };
  const cat = await createCatalog(kc, `${base}-ecs`, labels);
  const ecs = instancesIn(kc, core, namespace);
  const vm = `${base}-vm1`.slice(-40).replace(/^[^a-z0-9]+/, "");
  const opts = { timeoutMs };
  // EVS: a volume with a snapshot schedule (the first is taken at once; a second makes the schedule
  // prune one), grown (PV and claim follow), then attached to the instance and deleted with it.
  const evs = storageIn(kc, namespace);
  const vt = `${base}-ssd`.slice(-63).replace(/^[^a-z0-9]+/, "");
  await evs.createType(vt, { mediaType: "SSD", iops: { base: 1800, perGiB: 50, max: 10000 } }, labels);
  const disk = `${base}-disk`.slice(-60).replace(/^[^a-z0-9]+/, "");
  await evs.create(disk, { size: "10Gi", type: vt, zone, snapshotSchedule: { every: "1d", keep: 1 } });
  await eventually(() => evs.settled(disk, "Available"), { ...opts, what: "Volume Available" });
  const scheduled = `storage.cellcloud.io/scheduled-for=${disk}`;
  await eventually(async () => (await evs.snapshots(scheduled)).length === 1, { ...opts, what: "the first scheduled snapshot" });
  await evs.snapshot(`${disk}-extra`, disk, { "storage.cellcloud.io/scheduled-for": disk });
  await eventually(async () => (await evs.snapshots(scheduled)).length === 1, { ...opts, what: "the schedule pruning to keep 1" });
  await evs.patch(disk, { size: "20Gi" });
  await eventually(async () => { const v = await evs.settled(disk); return v && v.status?.capacity === "20Gi"; }, { ...opts, what: "Volume grown to 20Gi" });
  await ecs.create(vm, { flavor: cat.flavor, image: cat.x86, zone, terminationGracePeriodSeconds: 0, dataVolumes: [{ volume: disk, deleteWithInstance: true }] });
  await eventually(() => ecs.settled(vm), { ...opts, what: "Instance Running" });
  await eventually(async () => (await evs.read(disk)).status?.attachments?.[0]?.instance === vm, { ...opts, what: "Volume attached" });
  await ecs.patch(vm, { powerState: "Paused" });
  await eventually(() => ecs.settled(vm, "Paused"), { ...opts, what: "Instance Paused" });
  await ecs.patch(vm, { powerState: "Running", flavor: cat.bigFlavor });
  await eventually(async () => { const i = await ecs.settled(vm); return i && i.status?.vcpus === 4; }, { ...opts, what: "Instance resized online to 4 vCPU" });
  await ecs.patch(vm, { powerState: "Stopped" });
  await eventually(() => ecs.settled(vm, "Stopped"), { ...opts, what: "Instance Stopped" });
  await ecs.delete(vm);
  await eventuallyGone(() => ecs.read(vm), "Instance deleted", timeoutMs);
  await eventuallyGone(() => evs.read(disk), "Volume deleted with its instance (claim and PV first)", timeoutMs);
  for (const s of await evs.snapshots()) await evs.deleteSnapshot(s.metadata.name);
  await evs.deleteType(vt);
  const client = new KubeClient(kc);
  for (const [ref, name, ns] of cat.all) await client.delete(ref, name, ns);
}

const smokeKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBCv2o//hoglfeaB8uulpobDLmoPPYqgGaVA63agx92X smoke@cellcloud";

/** The ECS catalog: a Flavor, an Image, a KeyPair (with its fingerprint) and a DeploymentSet report Ready. */
async function computeCatalogSmoke(kc: KubeConfig, namespace: string, base: string, timeoutMs: number): Promise<void> {
  const client = new KubeClient(kc);
  const labels = { [SMOKE_LABEL]: namespace };
  const objects: Array<[ResourceRef, KubeObject & { spec: Record<string, unknown> }]> = [
    [FlavorRef, { metadata: { name: `${base}-flv`, labels }, spec: { vcpus: 2, memory: "4Gi", family: "general", architectures: ["amd64"] } }],
    [ImageRef, { metadata: { name: `${base}-img`, namespace, labels }, spec: { os: { type: "linux", distribution: "ubuntu", version: "22.04" }, architecture: "amd64", source: { url: "https://images.example.com/ubuntu.img" } } }],
    [KeyPairRef, { metadata: { name: `${base}-kp`, namespace, labels }, spec: { publicKey: smokeKey } }],
    [DeploymentSetRef, { metadata: { name: `${base}-ds`, namespace, labels }, spec: { domain: "rack" } }],
  ];
  for (const [ref, body] of objects) await client.create(ref, { apiVersion: `${ref.group}/${ref.version}`, kind: ref.kind, ...body });
  for (const [ref, { metadata: { name, namespace: ns } }] of objects) {
    await eventually(async () => isReadyAtGeneration(await client.get(ref, name, ns) as never), { timeoutMs, what: `${ref.kind} ${name} Ready` });
  }
  const kp = await client.get<KubeObject & { status?: { fingerprint?: string } }>(KeyPairRef, `${base}-kp`, namespace);
  if (!kp.status?.fingerprint?.startsWith("SHA256:")) throw new Error(`KeyPair has no fingerprint: ${JSON.stringify(kp.status)}`);
  for (const [ref, { metadata: { name, namespace: ns } }] of objects) await client.delete(ref, name, ns);
}

/**
 * VPC: a VNI is claimed (a VNIClaim named by it, held by the VPC) before status shows it; a Subnet of
 * it counts its addresses; an Instance's NIC gets an address held by an IPAllocation (named by it)
 * before status shows it, released when the instance goes; the subnet, then the VPC, then the claim go.
 */
async function networkSmoke(kc: KubeConfig, namespace: string, name: string, timeoutMs: number): Promise<void> {
  const client = new KubeClient(kc);
  type Vpc = KubeObject & { status?: { vni?: number; conditions?: Array<{ type: string; status: string }> } };
  const api = "network.cellcloud.io/v1alpha1";
  await client.create(VPCRef, { apiVersion: api, kind: "VPC", metadata: { name, namespace }, spec: { cidrBlocks: ["10.20.0.0/16"], tunnelType: "vxlan" } });
  const vpc = await eventually(async () => { const v = await client.get<Vpc>(VPCRef, name, namespace); return isReadyAtGeneration(v as never) && v; }, { timeoutMs, what: "VPC Ready" });
  const vni = vpc.status?.vni ?? 0;
  if (vni < 1 || vni > 4095) throw new Error(`a vxlan VPC got VNI ${vni}`);
  const claim = await client.get<KubeObject & { spec: { holder: { uid: string } } }>(VNIClaimRef, String(vni));
  if (claim.spec.holder.uid !== vpc.metadata.uid) throw new Error(`VNIClaim ${vni} is not held by the VPC`);

  // its default security group and isolation policy: NetworkPolicies the manager writes
  await eventually(async () => isReadyAtGeneration(await client.get(SecurityGroupRef, `${name}-default`, namespace) as never), { timeoutMs, what: "default SecurityGroup Ready" });
  await eventually(() => client.get(NetworkPolicyRef, `sg-${name}-default`, namespace), { timeoutMs, what: "default group's NetworkPolicy" });
  await eventually(() => client.get(NetworkPolicyRef, `vpc-${name}-isolation`, namespace), { timeoutMs, what: "VPC isolation NetworkPolicy" });
  await client.create(SubnetRef, { apiVersion: api, kind: "Subnet", metadata: { name, namespace }, spec: { vpc: name, cidrBlock: "10.20.1.0/29" } });
  await eventually(async () => isReadyAtGeneration(await client.get(SubnetRef, name, namespace) as never), { timeoutMs, what: "Subnet Ready" });
  // the image need not exist: a NIC is addressed whether or not the instance can boot yet
  await client.create(InstanceRef, {
    apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", metadata: { name: `${name}-vm`, namespace },
    spec: { image: "smoke-missing", resources: { vcpus: 2, memory: "4Gi" }, systemDisk: {}, nics: [{ subnet: name }] },
  });
  type Nics = KubeObject & { status?: { nics?: Array<{ ip?: string; mac?: string }> } };
  const ip = await eventually(async () => (await client.get<Nics>(InstanceRef, `${name}-vm`, namespace)).status?.nics?.[0]?.ip, { timeoutMs, what: "NIC addressed" });
  const allocation = await client.get<KubeObject & { spec: { owner: { kind: string; name: string } } }>(IPAllocationRef, `${namespace}.${name}.${ip}`);
  if (allocation.spec.owner.name !== `${name}-vm`) throw new Error(`IPAllocation of ${ip} is held by ${allocation.spec.owner.name}`);
  await eventually(async () => ((await client.get<KubeObject & { status?: { allocated?: number; available?: number } }>(SubnetRef, name, namespace)).status?.allocated) === 1, { timeoutMs, what: "Subnet counts 1 allocated" });
  // an ElasticIP from a pool, bound to the instance (its lock made), unbound (lock released), deleted (address released)
  const pool = `${namespace}-${name}`.slice(0, 60);
  await client.create(ExternalIPPoolRef, { apiVersion: "platform.cellcloud.io/v1alpha1", kind: "ExternalIPPool", metadata: { name: pool, labels: { [SMOKE_LABEL]: namespace } }, spec: { region: "smoke", cidrs: ["198.51.100.0/30"] } });
  await client.create(ElasticIPRef, { apiVersion: api, kind: "ElasticIP", metadata: { name, namespace }, spec: { pool, target: { name: `${name}-vm` } } });
  type Eip = KubeObject & { status?: { address?: string; boundTo?: { name: string; privateIP?: string } } };
  const eip = await eventually(async () => { const e = await client.get<Eip>(ElasticIPRef, name, namespace); return e.status?.boundTo?.privateIP === ip && e; }, { timeoutMs, what: "ElasticIP bound" });
  await client.get(EIPBindingRef, `instance.${name}-vm`, namespace);
  await eventually(async () => ((await client.get<KubeObject & { status?: { allocated?: number } }>(ExternalIPPoolRef, pool)).status?.allocated) === 1, { timeoutMs, what: "pool counts 1 allocated" });
  await client.patch(ElasticIPRef, name, namespace, { spec: { target: null } }, "merge");
  await eventuallyGone(() => client.get(EIPBindingRef, `instance.${name}-vm`, namespace), "binding lock released", timeoutMs);
  await loadBalancerSmoke(client, namespace, name, eip.status!.address!, timeoutMs);
  await client.delete(ElasticIPRef, name, namespace);
  await eventuallyGone(() => client.get(IPAllocationRef, `external.${eip.status!.address}`), "external address released", timeoutMs);
  await client.delete(ExternalIPPoolRef, pool);

  await client.delete(InstanceRef, `${name}-vm`, namespace);
  await eventuallyGone(() => client.get(IPAllocationRef, allocation.metadata.name), `address ${ip} released`, timeoutMs);
  await client.delete(SubnetRef, name, namespace);
  await eventuallyGone(() => client.get(SubnetRef, name, namespace), "Subnet deleted", timeoutMs);

  await client.delete(VPCRef, name, namespace);
  await eventuallyGone(() => client.get(VNIClaimRef, String(vni)), `VNIClaim ${vni} released`, timeoutMs);
  await eventuallyGone(() => client.get(VPCRef, name, namespace), "VPC deleted", timeoutMs);
}

/**
 * An SLB load balancer on the smoke subnet: its VIP, the Service of its class (the VIP and then the
 * ElasticIP bound to it in the Service's status), an EndpointSlice of its address member, its
 * HAProxy ConfigMap and Deployment; a changed listener and member port rewrite them (a slice for a
 * port no member uses goes), a drained member leaves the ready set; deleting it releases the VIP.
 * The instance member cannot boot (no image): it is OFFLINE and in no slice.
 */
async function loadBalancerSmoke(client: KubeClient, namespace: string, name: string, publicIP: string, timeoutMs: number): Promise<void> {
  const api = "network.cellcloud.io/v1alpha1";
  type Lb = KubeObject & { status?: { vip?: string; publicIP?: string; pools?: Array<{ members: Array<{ operatingStatus: string }> }> } };
  const pools = (port: number, weight: number) => [{ name: "web", protocol: "HTTP", members: [{ instance: `${name}-vm`, port }, { address: "10.20.1.6", port, weight }] }];
  await client.create(LoadBalancerRef, { apiVersion: api, kind: "LoadBalancer", metadata: { name, namespace }, spec: {
    vip: { subnet: name }, listeners: [{ name: "http", protocol: "HTTP", port: 80, defaultPool: "web" }], pools: pools(8080, 1),
  } });
  const lb = await eventually(async () => { const o = await client.get<Lb>(LoadBalancerRef, name, namespace); return o.status?.vip ? o : false; }, { timeoutMs, what: "LoadBalancer VIP held" });
  const vip = lb.status!.vip!;
  const svc = `slb-${name}`;
  await eventually(async () => (await client.get<Service>(ServiceRef, svc, namespace)).status?.loadBalancer?.ingress?.[0]?.ip === vip, { timeoutMs, what: "Service ingress shows the VIP" });
  await client.get(ConfigMapRef, svc, namespace);
  await client.get(DeploymentRef, svc, namespace);
  const endpoints = async () => (await client.list<EndpointSlice>(EndpointSliceRef, { labelSelector: `kubernetes.io/service-name=${svc}` }, namespace)).items
    .flatMap((sl) => (sl.endpoints ?? []).map((e) => `${sl.metadata.name} ${e.addresses[0]} ${e.conditions?.ready}`)).join();
  await eventually(async () => (await endpoints()) === `${svc}-http-8080 10.20.1.6 true`, { timeoutMs, what: "EndpointSlice of the address member" });
  await client.patch(LoadBalancerRef, name, namespace, { spec: { listeners: [{ name: "http", protocol: "HTTP", port: 81, defaultPool: "web" }], pools: pools(9090, 1) } }, "merge");
  await eventually(async () => (await endpoints()) === `${svc}-http-9090 10.20.1.6 true`, { timeoutMs, what: "the slice follows the member's new port" });
  await eventually(async () => (await client.get<Service>(ServiceRef, svc, namespace)).spec?.ports?.[0]?.port === 81, { timeoutMs, what: "Service port 81" });
  await client.patch(LoadBalancerRef, name, namespace, { spec: { pools: pools(9090, 0) } }, "merge");
  await eventually(async () => (await endpoints()) === `${svc}-http-9090 10.20.1.6 false`, { timeoutMs, what: "a drained member leaves the ready set" });
  // public: the ElasticIP bound to the load balancer maps to its VIP and joins the Service's ingress
  await client.patch(ElasticIPRef, name, namespace, { spec: { target: { kind: "LoadBalancer", name } } }, "merge");
  await eventually(async () => (await client.get<Lb>(LoadBalancerRef, name, namespace)).status?.publicIP === publicIP, { timeoutMs, what: "LoadBalancer shows its public IP" });
  await eventually(async () => (await client.get<Service>(ServiceRef, svc, namespace)).status?.loadBalancer?.ingress?.map((i) => i.ip).join() === `${vip},${publicIP}`, { timeoutMs, what: "Service ingress: VIP and ElasticIP" });
  await client.patch(ElasticIPRef, name, namespace, { spec: { target: null } }, "merge");
  await eventuallyGone(() => client.get(EIPBindingRef, `loadbalancer.${name}`, namespace), "load balancer's binding lock released", timeoutMs);
  await client.delete(LoadBalancerRef, name, namespace);
  await eventuallyGone(() => client.get(LoadBalancerRef, name, namespace), "LoadBalancer deleted", timeoutMs);
  await eventuallyGone(() => client.get(IPAllocationRef, `${namespace}.${name}.${vip}`), `VIP ${vip} released`, timeoutMs);
}

/**
 * Tenancy: a Tenant claims an existing namespace (labelled) and a new one (created), with role
 * bindings; its Quota counts what the webhook admits and refuses what does not fit, naming the quota
 * (instances by cpu, load balancers by count);
 * a snapshot and a volume are charged too; each tenant namespace gets an AppliedQuota with the quota's
 * figures (gone once the namespace leaves the tenant); an approval is checked by SubjectAccessReview; the
 * webhook rotates its certificate; deleting releases everything (the quota finalizer comes off).
 */
async function tenancySmoke(kc: KubeConfig, namespace: string, base: string, timeoutMs: number, webhook: SmokeOptions["webhook"]): Promise<void> {
  const client = new KubeClient(kc);
  const { core } = clients(kc);
  const labels = { [SMOKE_LABEL]: namespace };
  const opts = { timeoutMs };
  const name = `${base}-t`;
  const [nsOld, nsNew] = [`${base}-t1`, `${base}-t2`];
  const secret = async () => (await core.readNamespacedSecret({ name: "cellcloud-webhook-cert", namespace: webhook.namespace })).data?.["tls.crt"];
  const firstCert = await eventually(secret, { ...opts, what: "webhook certificate Secret" });
  // An existing namespace goes to a tenant only when a cluster admin hands it over.
  await core.createNamespace({ body: { metadata: { name: nsOld, labels, annotations: { "tenancy.cellcloud.io/adopt": name } } } });
  await client.create(TenantRef, tenant(name, { namespaces: [nsOld, nsNew], admins: [{ kind: "User", name: `${base}-admin` }] }, labels));
  await eventually(async () => isReadyAtGeneration(await client.get(TenantRef, name) as never), { ...opts, what: "Tenant Ready" });
  for (const ns of [nsOld, nsNew]) {
    const got = await core.readNamespace({ name: ns });
    if (got.metadata?.labels?.["cellcloud.io/tenant"] !== name) throw new Error(`namespace ${ns} is not labelled for tenant ${name}`);
    await client.patch(NamespaceRef, ns, undefined, { metadata: { labels } }, "merge");
    await client.get(RoleBindingRef, "cellcloud-tenant-admins", ns);
  }
  await client.create(QuotaRef, quota(name, { tenant: name, hard: { cpu: 4, instances: 5, snapshots: 2, loadbalancers: 1 } }, labels));
  await eventually(async () => isReadyAtGeneration(await client.get(QuotaRef, name) as never), { ...opts, what: "Quota Ready" });
  const cat = await createCatalog(kc, `${base}-q`, labels);
  const vm = (n: string) => instance(n, nsNew, { flavor: cat.flavor, image: cat.x86 }); // Stopped
  // The webhook may take a moment to be called after its configuration appears: retry until charged.
  await eventually(() => client.create(InstanceRef, vm("a")).then(() => true), { ...opts, what: "Instance admitted" });
  await client.create(InstanceRef, vm("b"));
  const refused = await client.create(InstanceRef, vm("c")).then(() => "accepted", (e: unknown) => String(e));
  if (!refused.includes(`quota "${name}" exceeded for cpu: requested 2, used 4, limit 4`)) throw new Error(`third Instance: ${refused}`);
  await client.create(VolumeRef, { apiVersion: "storage.cellcloud.io/v1alpha1", kind: "Volume", metadata: { name: "v", namespace: nsNew }, spec: { size: "10Gi", type: "none", zone: "az1" } });
  await client.create(VolumeSnapshotRef, { apiVersion: "storage.cellcloud.io/v1alpha1", kind: "VolumeSnapshot", metadata: { name: "s", namespace: nsNew }, spec: { volume: "v" } });
  const used = (want: Record<string, string>) => eventually(async () => {
    const q = await client.get<KubeObject & { status?: { used?: Record<string, string> } }>(QuotaRef, name);
    return Object.entries(want).every(([k, v]) => q.status?.used?.[k] === v);
  }, { ...opts, what: `Quota used ${JSON.stringify(want)}` });
  // load balancers are charged one each (no subnet here: admitted and charged, never realized)
  const lbSpec = { vip: { subnet: "none" }, listeners: [{ name: "http", protocol: "HTTP", port: 80, defaultPool: "p" }], pools: [{ name: "p", protocol: "HTTP" }] };
  const lb = (n: string) => client.create(LoadBalancerRef, { apiVersion: "network.cellcloud.io/v1alpha1", kind: "LoadBalancer", metadata: { name: n, namespace: nsNew }, spec: lbSpec });
  await lb("lb1");
  const lbRefused = await lb("lb2").then(() => "accepted", (e: unknown) => String(e));
  if (!lbRefused.includes(`quota "${name}" exceeded for loadbalancers: requested 1, used 1, limit 1`)) throw new Error(`second LoadBalancer: ${lbRefused}`);
  await used({ cpu: "4", instances: "2", snapshots: "1", loadbalancers: "1" });
  // each tenant namespace holds a copy of the quota its users may read, with the quota's figures
  await eventually(async () => {
    const aq = await client.get<KubeObject & { spec: { relation?: string }; status?: { used?: Record<string, string> } }>(AppliedQuotaRef, name, nsNew);
    return aq.spec.relation === "Self" && aq.status?.used?.cpu === "4" && aq.status.used.instances === "2";
  }, { ...opts, what: `AppliedQuota ${name} in ${nsNew} with the quota's used figures` });
  await eventually(() => client.get(AppliedQuotaRef, name, nsOld), { ...opts, what: `AppliedQuota ${name} in ${nsOld}` });
  await client.delete(LoadBalancerRef, "lb1", nsNew);
  await eventuallyGone(() => client.get(LoadBalancerRef, "lb1", nsNew), "LoadBalancer lb1 deleted", timeoutMs);
  // approving asks the apiserver whether the user may `approve` (the admin may)
  await client.patch(InstanceRef, "a", nsNew, { metadata: { annotations: { "tenancy.cellcloud.io/approved-by": "smoke" } } }, "merge");
  // before boot the manager looks at the user data Secret (secrets get, granted in tenant namespaces only)
  const readyReason = async () => (await client.get<KubeObject & { status?: { conditions?: Array<{ type: string; reason?: string }> } }>(InstanceRef, "a", nsNew))
    .status?.conditions?.find((c) => c.type === "Ready")?.reason;
  const recheck = { timeoutMs: Math.max(timeoutMs, 25_000) };
  await client.patch(InstanceRef, "a", nsNew, { spec: { powerState: "Running", userData: { secretName: "init" } } }, "merge");
  await eventually(async () => (await readyReason()) === "UserDataNotFound", { ...recheck, what: "Instance Ready=False UserDataNotFound" });
  await core.createNamespacedSecret({ namespace: nsNew, body: { metadata: { name: "init" }, stringData: { userdata: "#cloud-config" } } });
  await eventually(async () => !(await readyReason())?.startsWith("UserData"), { ...recheck, what: "Instance past its user data check" });
  // a namespace taken out of the tenant loses its label and the tenant's role bindings
  await client.patch(TenantRef, name, undefined, { spec: { namespaces: [nsNew] } }, "merge");
  await eventually(async () => (await core.readNamespace({ name: nsOld })).metadata?.labels?.["cellcloud.io/tenant"] === undefined, { ...opts, what: `${nsOld} released` });
  await eventuallyGone(() => client.get(RoleBindingRef, "cellcloud-tenant-admins", nsOld), `role binding in ${nsOld} deleted`, timeoutMs);
  await eventuallyGone(() => client.get(AppliedQuotaRef, name, nsOld), `AppliedQuota in ${nsOld} deleted`, timeoutMs);
  if (webhook.rotates) await eventually(async () => (await secret()) !== firstCert, { timeoutMs: Math.max(timeoutMs, 20_000), what: "webhook certificate rotated" });
  for (const n of ["a", "b"]) await client.delete(InstanceRef, n, nsNew);
  await client.delete(VolumeSnapshotRef, "s", nsNew);
  await client.delete(VolumeRef, "v", nsNew);
  await used({ cpu: "0", instances: "0", snapshots: "0", loadbalancers: "0" });
  for (const n of ["a", "b"]) await eventuallyGone(() => client.get(InstanceRef, n, nsNew), `Instance ${n} deleted`, timeoutMs);
  await eventuallyGone(() => client.get(VolumeSnapshotRef, "s", nsNew), "VolumeSnapshot deleted", timeoutMs);
  await eventuallyGone(() => client.get(VolumeRef, "v", nsNew), "Volume deleted", timeoutMs);
  await client.delete(QuotaRef, name);
  await client.delete(TenantRef, name);
  for (const [ref, n, ns] of cat.all) await client.delete(ref, n, ns);
}

/**
 * A cell of its own for a product with real servers (RDS, MQ): a one-host pool, SSD storage and a
 * VolumeType, and a VPC with a Subnet named `<name>-net`; teardown() removes them once the product's
 * objects are gone.
 */
async function serverCell(kc: KubeConfig, namespace: string, base: string, tag: string, name: string, octet: number, sa?: SmokeOptions["managerServiceAccount"]) {
  const client = new KubeClient(kc);
  const p = platformIn(kc);
  const labels = { [SMOKE_LABEL]: namespace };
  const cell = `${base}-${tag}cell`;
  const zone = `${base}-${tag}az`.slice(-63).replace(/^[^a-z0-9]+/, "");
  const vtype = `${base}-${tag}ssd`.slice(-63).replace(/^[^a-z0-9]+/, "");
  const net = "network.cellcloud.io/v1alpha1";
  const subnet = `${name}-net`;
  await bindUserData(client, namespace, sa);
  await p.cells.create(cell, { region: "smoke", zone }, labels);
  await p.storagePools.create(`${base}-${tag}sp`, { cell, mediaType: "SSD", capacity: "1Ti" }, labels);
  await p.nodePools.create(`${base}-${tag}np`, poolSpec(cell, { nodes: 1, capacity: { cpu: "8", memory: "16Gi" } }), labels);
  await storageIn(kc, namespace).createType(vtype, { mediaType: "SSD", iops: { base: 1000, perGiB: 10, max: 5000 } }, labels);
  await client.create(VPCRef, { apiVersion: net, kind: "VPC", metadata: { name: subnet, namespace }, spec: { cidrBlocks: [`10.${octet}.0.0/16`] } });
  await client.create(SubnetRef, { apiVersion: net, kind: "Subnet", metadata: { name: subnet, namespace }, spec: { vpc: subnet, cidrBlock: `10.${octet}.1.0/24` } });
  return {
    zone, vtype, subnet,
    async teardown(timeoutMs: number): Promise<void> {
      await client.delete(SubnetRef, subnet, namespace);
      await eventuallyGone(() => client.get(SubnetRef, subnet, namespace), `${tag} Subnet deleted`, timeoutMs);
      await client.delete(VPCRef, subnet, namespace);
      await p.nodePools.delete(`${base}-${tag}np`);
      await eventually(async () => (await p.nodePools.list()).every((np) => np.metadata.name !== `${base}-${tag}np`), { timeoutMs, what: `${tag} pool deleted` });
      await p.storagePools.delete(`${base}-${tag}sp`);
      await p.cells.delete(cell);
      await storageIn(kc, namespace).deleteType(vtype).catch(() => undefined);
    },
  };
}

/**
 * RDS: a single-member DBInstance on its own cell, pool and storage: its volumes, its pod running
 * PostgreSQL (the local data plane), its Services, NetworkPolicy and credential Secrets; a schedule
 * takes backups (scheduled DBBackups created, each Completed) and retention deletes all but the
 * newest; deleting the instance takes its members and volumes with it.
 */
async function databaseSmoke(kc: KubeConfig, namespace: string, base: string, timeoutMs: number, sa?: SmokeOptions["managerServiceAccount"]): Promise<void> {
  const client = new KubeClient(kc);
  const name = "db";
  const { zone, vtype, teardown } = await serverCell(kc, namespace, base, "db", name, 30, sa);
  await client.create(DBInstanceRef, {
    apiVersion: "database.cellcloud.io/v1alpha1", kind: "DBInstance", metadata: { name, namespace },
    spec: { edition: "single", flavor: "2C4G", storage: { size: "1Gi", type: vtype }, zone, subnet: `${name}-net`, backup: { schedule: "*/2 * * * * *", retentionCount: 1 } },
  });
  type Db = KubeObject & { status?: { conditions?: Array<{ type: string; status: string; message?: string }>; currentPrimary?: string } };
  await eventually(async () => {
    const o = await client.get<Db>(DBInstanceRef, name, namespace);
    if (o.status?.conditions?.find((c) => c.type === "Ready")?.status === "True") return o;
    throw new Error(JSON.stringify(o.status?.conditions?.map((c) => [c.type, c.status, c.message])));
  }, { timeoutMs, what: "DBInstance Ready (PostgreSQL running)" });
  for (const s of [`${name}-connection`, `${name}-internal`]) await client.get(SecretRef, s, namespace);
  for (const s of [`${name}-rw`, `${name}-ro`]) await client.get(ServiceRef, s, namespace);
  await client.get(NetworkPolicyRef, `rds-${name}`, namespace);
  type Bk = KubeObject & { status?: { phase?: string } };
  const scheduled = () => client.list<Bk>(DBBackupRef, { labelSelector: "database.cellcloud.io/scheduled=true" }, namespace).then((l) => l.items);
  // retention keeps the newest completed one only: older ones are deleted as new ones complete
  await eventually(async () => (await scheduled()).filter((b) => b.status?.phase === "Completed").length >= 1 && (await scheduled()).length >= 2, { timeoutMs, what: "scheduled DBBackups" });
  await client.patch(DBInstanceRef, name, namespace, { spec: { backup: { schedule: null } } }, "merge");
  await eventually(async () => { const bs = await scheduled(); return bs.length === 1 && bs[0]!.status?.phase === "Completed"; }, { timeoutMs, what: "retention leaves the newest completed backup" });
  await client.delete(DBInstanceRef, name, namespace);
  await eventuallyGone(() => client.get(DBInstanceRef, name, namespace), "DBInstance deleted", timeoutMs);
  await eventually(async () => (await client.list(VolumeRef, { labelSelector: `database.cellcloud.io/instance=${name}` }, namespace)).items.length === 0, { timeoutMs, what: "its volumes deleted" });
  await client.delete(DBBackupRef, (await scheduled())[0]?.metadata.name ?? "none", namespace).catch(() => undefined);
  await teardown(timeoutMs);
}

/** As a tenant namespace binds it: the manager creates (and reads) credential Secrets here only. */
async function bindUserData(client: KubeClient, namespace: string, sa?: SmokeOptions["managerServiceAccount"]): Promise<void> {
  if (!sa) return;
  await client.create(RoleBindingRef, {
    apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "smoke-user-data", namespace },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "cellcloud-user-data-reader" },
    subjects: [{ kind: "ServiceAccount", name: sa.name, namespace: sa.namespace }],
  } as KubeObject).catch((e: unknown) => { if (!String(e).includes("409") && !String(e).includes("already exists")) throw e; });
}

/**
 * MQ: a one-broker Kafka MQInstance on its own cell, pool and storage (the broker a real Kafka the
 * local data plane runs), its Service, NetworkPolicy, ConfigMap and Secrets; an MQTopic and an MQUser
 * (its generated Secret) made on the broker; deleting them and the instance removes them all.
 */
async function messagingSmoke(kc: KubeConfig, namespace: string, base: string, timeoutMs: number, sa?: SmokeOptions["managerServiceAccount"]): Promise<void> {
  const client = new KubeClient(kc);
  const name = "mq";
  const api = "messaging.cellcloud.io/v1alpha1";
  const { zone, vtype, teardown } = await serverCell(kc, namespace, base, "mq", name, 31, sa);
  await client.create(MQInstanceRef, {
    apiVersion: api, kind: "MQInstance", metadata: { name, namespace },
    spec: { engine: "kafka", brokers: 1, storage: { size: "1Gi", type: vtype }, zone, subnet: `${name}-net` },
  });
  type Obj = KubeObject & { status?: { conditions?: Array<{ type: string; status: string; message?: string }> } };
  const readyOf = (ref: ResourceRef, n: string, what: string, ms = timeoutMs) => eventually(async () => {
    const o = await client.get<Obj>(ref, n, namespace);
    if (o.status?.conditions?.find((c) => c.type === "Ready")?.status === "True") return o;
    throw new Error(JSON.stringify(o.status?.conditions?.map((c) => [c.type, c.status, c.message])));
  }, { timeoutMs: ms, what });
  // a JVM's start on a busy 2-core machine (a cut run's short timeout stays short: it waits to fail)
  await readyOf(MQInstanceRef, name, "MQInstance Ready (Kafka running)", timeoutMs * 2);
  for (const s of [`${name}-mq-credentials`, `${name}-mq-internal`]) await client.get(SecretRef, s, namespace);
  await client.get(ServiceRef, `${name}-client`, namespace);
  await client.get(ConfigMapRef, `${name}-mq-config`, namespace);
  await client.get(NetworkPolicyRef, `mq-${name}`, namespace);
  await client.create(MQTopicRef, { apiVersion: api, kind: "MQTopic", metadata: { name: "events", namespace }, spec: { instance: name, partitions: 2, replicationFactor: 1 } });
  await client.create(MQUserRef, { apiVersion: api, kind: "MQUser", metadata: { name: "reader", namespace }, spec: { instance: name, acls: [{ resource: { type: "topic", name: "events" }, operations: ["Read"] }] } });
  await readyOf(MQTopicRef, "events", "MQTopic Ready (on the broker)");
  await readyOf(MQUserRef, "reader", "MQUser Ready (on the broker)");
  await client.get(SecretRef, "reader-mquser", namespace);
  for (const [ref, n] of [[MQTopicRef, "events"], [MQUserRef, "reader"], [MQInstanceRef, name]] as const) {
    await client.delete(ref, n, namespace);
    await eventuallyGone(() => client.get(ref, n, namespace), `${ref.kind} ${n} deleted`, timeoutMs);
  }
  await eventually(async () => (await client.list(VolumeRef, { labelSelector: `messaging.cellcloud.io/instance=${name}` }, namespace)).items.length === 0, { timeoutMs, what: "the broker's volume deleted" });
  await teardown(timeoutMs);
}

/** Removes what a failed smoke run left behind, finalizers included, so namespaces can go. */
/**
 * Billing: a tenant's objects are metered and its month's bill opens; a subscription whose paid
 * period ended long ago (history seeded in the ledger) stops what it pays for, or deletes it once
 * the grace period is over, for every billable kind; a price list reports its state; the bill's CSV
 * needs a token allowed to get the Bill.
 */
async function billingSmoke(kc: KubeConfig, namespace: string, base: string, timeoutMs: number, ledgerUrl: string, metricsUrl?: string): Promise<void> {
  const client = new KubeClient(kc);
  const labels = { [SMOKE_LABEL]: namespace };
  const opts = { timeoutMs };
  const name = `${base}-bill`;
  const make = (ref: ResourceRef, n: string, spec: Record<string, unknown>, ns?: string) =>
    client.create(ref, { apiVersion: `${ref.group}/${ref.version}`, kind: ref.kind, metadata: { name: n, ...(ns ? { namespace: ns } : {}), labels }, spec } as KubeObject);
  await make(PriceListRef, name, { currency: "CNY", scale: 1_000_000, effectiveFrom: new Date(Date.now() - 86_400_000).toISOString(), items: [{ product: "evs", meter: "disk.GiB-hour", unitPrice: 1_000 }] });
  await make(TenantRef, name, { namespaces: [name] });
  await eventually(async () => (await client.get(NamespaceRef, name)).metadata.labels?.["cellcloud.io/tenant"] === name, { ...opts, what: "the billing tenant's namespace" });
  const cat = await createCatalog(kc, `${base}-b`, labels);
  // one object of every billable kind, each paid for by a subscription that expired a month ago
  const objects: Array<[ResourceRef, Record<string, unknown>]> = [
    [VolumeRef, { size: "1Gi", type: "none", zone: "az1" }],
    [InstanceRef, { flavor: cat.flavor, image: cat.x86, powerState: "Stopped" }],
    [ElasticIPRef, {}],
    [LoadBalancerRef, { vip: { subnet: "none" }, replicas: 1, listeners: [{ name: "http", protocol: "HTTP", port: 80, defaultPool: "p" }], pools: [{ name: "p", protocol: "HTTP", members: [] }] }],
    [DBInstanceRef, { flavor: "2C4G", storage: { size: "1Gi", type: "none" }, zone: "az1", subnet: "none" }],
    [MQInstanceRef, { engine: "kafka", brokers: 1, storage: { size: "1Gi", type: "none" }, zone: "az1", subnet: "none" }],
  ];
  const sql = connect(ledgerUrl, { max: 1 });
  /** A Subscription of `object` (not made yet) whose one paid period [starts, ends) the ledger already holds. */
  const subscribed = async (ref: ResourceRef, object: string, starts: number, ends: number, gracePeriodHours: number) => {
    const sub = await make(SubscriptionRef, `sub-${object}`, { resource: { kind: ref.kind, name: object }, period: { unit: "Month", count: 1 }, gracePeriodHours }, name);
    await eventually(async () => (await client.get<KubeObject & { status?: { conditions?: Array<{ reason?: string }> } }>(SubscriptionRef, sub.metadata.name, name)).status?.conditions?.some((c) => c.reason === "ResourceNotFound"),
      { ...opts, what: `Subscription ${sub.metadata.name} waits for its object` });
    await sql`INSERT INTO subscription_periods (key, subscription_uid, period, tenant, namespace, name, resource_uid, resource_kind, resource_name, starts, ends, amount, price_list, charged_at)
      VALUES (${`${sub.metadata.uid}/0`}, ${sub.metadata.uid!}, 0, ${name}, ${name}, ${sub.metadata.name}, 'seeded', ${ref.kind}, ${object},
              ${new Date(starts)}, ${new Date(ends)}, 1000, 'seeded', ${new Date(starts)})`;
  };
  try {
    const ended = Date.now() - 31 * 86_400_000;
    // the volume keeps a year of grace (stopped: annotated); the others none (deleted)
    for (const [ref] of objects) await subscribed(ref, `b-${ref.plural}`, ended - 31 * 86_400_000, ended, ref === VolumeRef ? 8760 : 0);
    // and one paid until a few days from now: among those expiring within 7 days (the billing dashboard's gauge)
    const dueFrom = Date.now() - 25 * 86_400_000;
    await subscribed(VolumeRef, "b-due", dueFrom, period(dueFrom, { unit: "Month", count: 1 }, 0).end, 168);
    // the apiserver may take a moment to call the manager's webhooks for the new namespace's objects
    for (const [ref, spec] of objects) await eventually(() => make(ref, `b-${ref.plural}`, spec, name).then(() => true), { ...opts, what: `${ref.kind} created` });
    await make(VolumeRef, "b-due", objects[0]![1], name);
    await eventually(async () => (await client.get<KubeObject & { status?: { phase?: string } }>(SubscriptionRef, "sub-b-due", name)).status?.phase === "Active", { ...opts, what: "the due subscription Active" });
    if (metricsUrl) {
      const expiring = async () => metricValue(await (await fetch(metricsUrl)).text(), "cellcloud_billing_expiring_subscriptions", `tenant="${name}"`);
      await eventually(async () => (await expiring()) === 1, { ...opts, what: "cellcloud_billing_expiring_subscriptions counts the due subscription" });
    }
    for (const [ref] of objects.slice(1)) await eventuallyGone(() => client.get(ref, `b-${ref.plural}`, name), `${ref.kind} deleted at the end of its grace period`, timeoutMs);
    await eventually(async () => (await client.get(VolumeRef, `b-${VolumeRef.plural}`, name)).metadata.annotations?.[EXPIRED_ANNOTATION], { ...opts, what: "the expired volume marked" });
    const bill = await eventually(async () => {
      const b = await client.get<KubeObject & { status?: { phase?: string } }>(BillRef, `${name}-${new Date().toISOString().slice(0, 7)}`, name);
      return b.status?.phase === "Open" && b;
    }, { ...opts, what: "the month's Bill opened" });
    await eventually(async () => (await client.get<KubeObject & { status?: { state?: string } }>(PriceListRef, name)).status?.state === "Effective", { ...opts, what: "PriceList Effective" });
    // a server-side dry run shows the price before the object exists: 10 GiB at 0.001/GiB-hour
    const dry = await client.create(VolumeRef, { apiVersion: "storage.cellcloud.io/v1alpha1", kind: "Volume", metadata: { name: "estimate", namespace: name }, spec: { size: "10Gi", type: "none", zone: "az1" } } as KubeObject, { dryRun: "All" });
    const estimate = dry.metadata.annotations?.[ESTIMATE_ANNOTATION] ?? "";
    if (!estimate.startsWith(`hourly=0.010000 monthly=7.300000 CNY (${name}`)) throw new Error(`dry-run estimate of a 10 GiB volume: "${estimate}"`);
    if (metricsUrl) {
      const csv = metricsUrl.replace("/metrics", `/billing/v1/bills/${name}/${bill.metadata.name}.csv`);
      const token = kubectl(["create", "token", "default", "-n", name, "--duration=10m"]).trim();
      const refused = await fetch(csv, { headers: { authorization: `Bearer ${token}` } });
      if (refused.status !== 403) throw new Error(`bill CSV for a token without get on bills: ${refused.status}`);
    }
  } finally {
    await sql.end();
  }
}

export async function cleanSmoke(namespace: string): Promise<void> {
  const { kc, core } = clients();
  const widgets = widgetsIn(kc, namespace);
  for (const { metadata: { name } } of await widgets.list()) {
    await widgets.patch(name, [{ op: "remove", path: "/metadata/finalizers" }]).catch(() => undefined);
    await widgets.delete(name).catch(() => undefined);
  }
  const p = platformIn(kc);
  const selector = `${SMOKE_LABEL}=${namespace}`;
  for (const pool of await p.nodePools.list(selector)) {
    await p.nodePools.patch(pool.metadata.name, [{ op: "remove", path: "/metadata/finalizers" }]).catch(() => undefined);
    await p.nodePools.delete(pool.metadata.name).catch(() => undefined);
    await core.deleteCollectionNode({ labelSelector: `cellcloud.io/pool=${pool.metadata.name}` }).catch(() => undefined);
  }
  for (const kind of ["cells", "storagePools", "externalIPPools"] as const) {
    for (const o of await p[kind].list(selector)) {
      if (kind === "cells") await p.cells.patch(o.metadata.name, [{ op: "remove", path: "/metadata/finalizers" }]).catch(() => undefined);
      await p[kind].delete(o.metadata.name).catch(() => undefined);
    }
  }
  const client = new KubeClient(kc);
  for (const i of (await client.list(InstanceRef, {}, namespace).catch(() => ({ items: [] as KubeObject[] }))).items) {
    await client.patch(InstanceRef, i.metadata.name, namespace, { metadata: { finalizers: null } }, "merge").catch(() => undefined);
    await client.delete(InstanceRef, i.metadata.name, namespace).catch(() => undefined);
  }
  for (const ref of [DBBackupRef, DBInstanceRef, MQTopicRef, MQUserRef, MQInstanceRef, VolumeRef, ElasticIPRef, SubnetRef, SecurityGroupRef, VPCRef]) {
    for (const v of (await client.list(ref, {}, namespace).catch(() => ({ items: [] as KubeObject[] }))).items) {
      await client.patch(ref, v.metadata.name, namespace, { metadata: { finalizers: null } }, "merge").catch(() => undefined);
      await client.delete(ref, v.metadata.name, namespace).catch(() => undefined);
    }
  }
  for (const c of (await client.list<KubeObject & { spec: { holder: { namespace: string } } }>(VNIClaimRef).catch(() => ({ items: [] }))).items) {
    if (c.spec.holder.namespace === namespace) await client.delete(VNIClaimRef, c.metadata.name).catch(() => undefined);
  }
  for (const a of (await client.list<KubeObject & { spec: { owner: { namespace: string } } }>(IPAllocationRef).catch(() => ({ items: [] }))).items) {
    if (a.spec.owner.namespace === namespace) await client.delete(IPAllocationRef, a.metadata.name).catch(() => undefined);
  }
  for (const ref of [VolumeTypeRef]) {
    for (const o of (await client.list(ref, { labelSelector: selector }).catch(() => ({ items: [] as KubeObject[] }))).items) await client.delete(ref, o.metadata.name).catch(() => undefined);
  }
  await core.deleteCollectionNamespacedPod({ namespace, labelSelector: selector, gracePeriodSeconds: 0 }).catch(() => undefined);
  await kc.makeApiClient(SchedulingV1Api).deleteCollectionPriorityClass({ labelSelector: selector }).catch(() => undefined);
  for (const ref of [FlavorRef, ImageRef]) {
    for (const o of (await client.list(ref, { labelSelector: selector }).catch(() => ({ items: [] as KubeObject[] }))).items) {
      await client.delete(ref, o.metadata.name, o.metadata.namespace).catch(() => undefined);
    }
  }
  // tenancy: the webhook goes first (its manager is gone, and it fails closed), then what it guarded
  await client.delete(ValidatingRef, WEBHOOK_CONFIG).catch(() => undefined);
  await client.delete(MutatingRef, WEBHOOK_CONFIG).catch(() => undefined);
  for (const ns of (await core.listNamespace({ labelSelector: selector }).catch(() => ({ items: [] }))).items) {
    const n = ns.metadata?.name ?? "";
    for (const ref of [InstanceRef, VolumeRef, VolumeSnapshotRef]) {
      for (const o of (await client.list(ref, {}, n).catch(() => ({ items: [] as KubeObject[] }))).items) {
        await client.patch(ref, o.metadata.name, n, { metadata: { finalizers: null } }, "merge").catch(() => undefined);
      }
    }
    await core.deleteNamespace({ name: n }).catch(() => undefined);
  }
  for (const ref of [QuotaRef, TenantRef, PriceListRef]) {
    for (const o of (await client.list(ref, { labelSelector: selector }).catch(() => ({ items: [] as KubeObject[] }))).items) await client.delete(ref, o.metadata.name).catch(() => undefined);
  }
}
