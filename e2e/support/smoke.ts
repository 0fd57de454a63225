// The product smoke suite: what every CellCloud install must do, observed from outside with the
// admin client. The chart-RBAC test runs it against a manager that has only the chart's
// permissions, so each step must need (and therefore prove) some of them. Each product issue adds
// its kinds here.
import { EventsV1Api, SchedulingV1Api, type KubeConfig } from "@kubernetes/client-node";
import { DeploymentSetRef, FlavorRef, ImageRef, KeyPairRef } from "../../operators/compute/catalog-controller.ts";
import { InstanceRef } from "../../operators/compute/instance-controller.ts";
import { VolumeRef, VolumeTypeRef } from "../../operators/storage/volume-controller.ts";
import { schedulerName } from "../../operators/platform/scheduler/podrequest.ts";
import { KubeClient } from "../../operators/runtime/kube.ts";
import type { KubeObject, ResourceRef } from "../../operators/runtime/types.ts";
import { clients, eventually, eventuallyGone } from "./kube.ts";
import { createCatalog, instancesIn } from "./compute.ts";
import { storageIn } from "./storage.ts";
import { metricValue } from "./manager.ts";
import { isReadyAtGeneration, platformIn, poolSpec } from "./platform.ts";
import { widgetsIn } from "./widgets.ts";

/** The controllers whose behaviour runSmoke checks: a manager under test runs these (chart-rbac, smoke). */
export const SMOKE_CONTROLLERS = ["widget", "nodepool", "cell", "platform-pools", "scheduler", "compute-catalog", "instance", "volume"];
/** Cluster-scoped smoke objects carry this label, valued with the run's namespace, so cleanSmoke finds them. */
const SMOKE_LABEL = "cellcloud.io/smoke";

export interface SmokeOptions {
  namespace: string;
  prefix: string;
  timeoutMs?: number;
  /** The Lease the manager under test holds: its renewal must be seen. */
  lease?: { namespace: string; name: string };
  /** The manager's /metrics: its caches must have run without a failed list or watch. */
  metricsUrl?: string;
  /** Another cluster than the harness's (the k3s suite). */
  kubeConfig?: KubeConfig;
}

export async function runSmoke({ namespace, prefix, timeoutMs = 30_000, lease, metricsUrl, kubeConfig }: SmokeOptions): Promise<void> {
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
  await platformSmoke(kc, namespace, `${namespace}-${prefix}`, timeoutMs);
  await computeCatalogSmoke(kc, namespace, `${namespace}-${prefix}`, timeoutMs);
  if (metricsUrl) {
    const failures = metricValue(await (await fetch(metricsUrl)).text(), "cellcloud_informer_errors_total");
    if (failures > 0) throw new Error(`the manager's informers had ${failures} failed list/watch requests`);
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
  for (const [ref, name] of cat.all) await client.delete(ref, name);
}

const smokeKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBCv2o//hoglfeaB8uulpobDLmoPPYqgGaVA63agx92X smoke@cellcloud";

/** The ECS catalog: a Flavor, an Image, a KeyPair (with its fingerprint) and a DeploymentSet report Ready. */
async function computeCatalogSmoke(kc: KubeConfig, namespace: string, base: string, timeoutMs: number): Promise<void> {
  const client = new KubeClient(kc);
  const labels = { [SMOKE_LABEL]: namespace };
  const objects: Array<[ResourceRef, KubeObject & { spec: Record<string, unknown> }]> = [
    [FlavorRef, { metadata: { name: `${base}-flv`, labels }, spec: { vcpus: 2, memory: "4Gi", family: "general", architectures: ["amd64"] } }],
    [ImageRef, { metadata: { name: `${base}-img`, labels }, spec: { os: { type: "linux", distribution: "ubuntu", version: "22.04" }, architecture: "amd64", source: { url: "https://images.example.com/ubuntu.img" } } }],
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

/** Removes what a failed smoke run left behind, finalizers included, so namespaces can go. */
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
  for (const v of (await client.list(VolumeRef, {}, namespace).catch(() => ({ items: [] as KubeObject[] }))).items) {
    await client.patch(VolumeRef, v.metadata.name, namespace, { metadata: { finalizers: null } }, "merge").catch(() => undefined);
    await client.delete(VolumeRef, v.metadata.name, namespace).catch(() => undefined);
  }
  for (const ref of [VolumeTypeRef]) {
    for (const o of (await client.list(ref, { labelSelector: selector }).catch(() => ({ items: [] as KubeObject[] }))).items) await client.delete(ref, o.metadata.name).catch(() => undefined);
  }
  await core.deleteCollectionNamespacedPod({ namespace, labelSelector: selector, gracePeriodSeconds: 0 }).catch(() => undefined);
  await kc.makeApiClient(SchedulingV1Api).deleteCollectionPriorityClass({ labelSelector: selector }).catch(() => undefined);
  for (const ref of [FlavorRef, ImageRef]) {
    for (const o of (await client.list(ref, { labelSelector: selector }).catch(() => ({ items: [] as KubeObject[] }))).items) {
      await client.delete(ref, o.metadata.name).catch(() => undefined);
    }
  }
}
