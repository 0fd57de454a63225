// The product shape against the real control plane: every product on the managed reconciler makes
// no write at all while its objects are as they should be (100 reconciles each of an unchanged
// Instance, Volume, NodePool, Cell, Tenant and LoadBalancer, whose data plane serves meanwhile), and deletionPolicy: Orphan leaves an Instance's
// launcher pod and a Volume's PV and claim in place, no longer owned.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoadBalancerRef, SubnetRef, VPCRef, type LoadBalancerObj } from "../operators/api/network.ts";
import { TenantRef } from "../operators/api/tenancy.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import { createCatalog, instancesIn } from "./support/compute.ts";
import { clients, eventually, eventuallyGone, uniqueName, useNamespace } from "./support/kube.ts";
import { startManager, type InProcessManager } from "./support/manager.ts";
import { hostsReady } from "./support/nodes.ts";
import { isReadyAtGeneration, platformIn, poolSpec } from "./support/platform.ts";
import { storageIn } from "./support/storage.ts";
import { tenant } from "./support/tenancy.ts";

const { core, kc } = clients();
const ns = useNamespace("shape");
const base = uniqueName("shape");
const cell = `${base}-cell`;
const zone = `${base}-az`;
const pool = `${base}-x86`;
const sp = `${base}-sp`;
const ssd = `${base}-ssd`;
const tnt = `${base}-t`;
const tntNs = `${base}-t-ns`;
const p = platformIn(kc);
const client = new KubeClient(kc);
let m: InProcessManager;
let cat: Awaited<ReturnType<typeof createCatalog>>;
const ecs = () => instancesIn(kc, core, ns.name);
const evs = () => storageIn(kc, ns.name);

beforeAll(async () => {
  m = await startManager(["nodepool", "cell", "platform-pools", "scheduler", "compute-catalog", "instance", "volume", "tenancy", "vpc", "subnet", "loadbalancer"]);
  cat = await createCatalog(kc, base);
  await p.cells.create(cell, { region: "r-shape", zone });
  await p.nodePools.create(pool, poolSpec(cell, { nodes: 2, capacity: { cpu: "16", memory: "64Gi" } }));
  await p.storagePools.create(sp, { cell, mediaType: "SSD", capacity: "100Gi" });
  await evs().createType(ssd, { mediaType: "SSD", iops: { base: 100, perGiB: 10, max: 1000 } });
  await hostsReady(core, `cellcloud.io/cell=${cell}`, 2);
});

afterAll(async () => {
  await Promise.all((await ecs().list().catch(() => [])).map((i) => ecs().delete(i.metadata.name).catch(() => undefined)));
  await eventually(async () => (await ecs().list()).length === 0, { what: "instances deleted", timeoutMs: 60_000 }).catch(() => undefined);
  await Promise.all((await evs().list().catch(() => [])).map((v) => evs().delete(v.metadata.name).catch(() => undefined)));
  await eventually(async () => (await evs().list()).length === 0, { what: "volumes deleted", timeoutMs: 60_000 }).catch(() => undefined);
  await client.delete(TenantRef, tnt).catch(() => undefined);
  await client.delete(LoadBalancerRef, "lb", ns.name).catch(() => undefined);
  await eventually(async () => (await client.list(LoadBalancerRef, {}, ns.name)).items.length === 0, { what: "load balancer deleted", timeoutMs: 60_000 }).catch(() => undefined);
  await p.nodePools.delete(pool).catch(() => undefined);
  await eventually(async () => (await p.nodePools.list()).every((np) => np.metadata.name !== pool), { what: "pool gone", timeoutMs: 60_000 }).catch(() => undefined);
  await p.storagePools.delete(sp).catch(() => undefined);
  await p.cells.delete(cell).catch(() => undefined);
  await evs().deleteType(ssd).catch(() => undefined);
  for (const [ref, name, ns] of cat?.all ?? []) await client.delete(ref, name, ns).catch(() => undefined);
  await core.deleteNamespace({ name: tntNs }).catch(() => undefined);
  await m?.mgr.stop();
});

/** Reconciles counted for one controller, from the manager's own metric. */
async function reconciles(controller: string): Promise<number> {
  const metric = await m.mgr.metrics.registry.getSingleMetric("controller_runtime_reconcile_total")?.get();
  return metric?.values.filter((v) => v.labels.controller === controller).reduce((a, v) => a + v.value, 0) ?? 0;
}

/** Enqueues `key` 100 times, each after the previous reconcile finished. */
async function reconcile100(controller: string, key: string): Promise<void> {
  const c = m.mgr.getController(controller);
  if (!c) throw new Error(`no controller ${controller}`);
  for (let i = 0; i < 100; i++) {
    const n = await reconciles(controller);
    c.enqueue(key);
    await eventually(async () => (await reconciles(controller)) > n, { intervalMs: 2, what: `${controller} reconcile ${i} of ${key}` });
  }
}

describe("the product shape", () => {
  it("makes zero writes in 100 reconciles each of an unchanged Instance, Volume, NodePool, Cell, Tenant and LoadBalancer", async () => {
    const api = "network.cellcloud.io/v1alpha1";
    await client.create(VPCRef, { apiVersion: api, kind: "VPC", metadata: { name: "net", namespace: ns.name }, spec: { cidrBlocks: ["10.0.0.0/16"] } });
    await client.create(SubnetRef, { apiVersion: api, kind: "Subnet", metadata: { name: "lb", namespace: ns.name }, spec: { vpc: "net", cidrBlock: "10.0.7.0/24" } });
    await client.create(LoadBalancerRef, { apiVersion: api, kind: "LoadBalancer", metadata: { name: "lb", namespace: ns.name }, spec: {
      vip: { subnet: "lb" }, zone, listeners: [{ name: "http", protocol: "HTTP", port: 8080, defaultPool: "web" }],
      pools: [{ name: "web", protocol: "HTTP", members: [{ address: "10.0.7.50", port: 80 }] }],
    } });
    await evs().create("disk", { size: "10Gi", type: ssd, zone });
    await eventually(() => evs().settled("disk", "Available"), { what: "volume Available", timeoutMs: 60_000 });
    await ecs().create("vm", { flavor: cat.flavor, image: cat.x86, zone, terminationGracePeriodSeconds: 0, dataVolumes: [{ volume: "disk" }] });
    await eventually(() => ecs().settled("vm"), { what: "instance Running", timeoutMs: 60_000 });
    await eventually(() => evs().settled("disk", "InUse"), { what: "volume InUse", timeoutMs: 60_000 });
    await client.create(TenantRef, tenant(tnt, { namespaces: [tntNs], admins: [{ kind: "User", name: `${base}-admin` }] }));
    await eventually(async () => {
      const t = await client.get<{ metadata: { generation?: number }; status?: { observedGeneration?: number; conditions?: Array<{ type: string; status: string }> } } & { metadata: { name: string } }>(TenantRef, tnt);
      return t.status?.observedGeneration === t.metadata.generation && t.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True");
    }, { what: "tenant Ready" });
    await eventually(async () => isReadyAtGeneration(await p.nodePools.read(pool)) && isReadyAtGeneration(await p.cells.read(cell)), { what: "pool and cell Ready" });
    await eventually(async () => {
      const lb = await client.get<LoadBalancerObj>(LoadBalancerRef, "lb", ns.name);
      return isReadyAtGeneration(lb as never) && lb.status?.readyReplicas === 2;
    }, { what: "load balancer Ready with 2 replicas", timeoutMs: 60_000 });
    // Let the writes of getting here (status, events, pool shares) land, then count from a quiet point.
    await new Promise((r) => setTimeout(r, 3000));
    const mine = (w: string) => [ns.name, tntNs, base].some((s) => w.includes(s));
    const before = m.writes.filter(mine).length;
    await reconcile100("instance", `${ns.name}/vm`);
    await reconcile100("volume", `${ns.name}/disk`);
    await reconcile100("nodepool", pool);
    await reconcile100("cell", cell);
    await reconcile100("tenant", tnt);
    await reconcile100("loadbalancer", `${ns.name}/lb`);
    const writes = m.writes.filter(mine).slice(before);
    expect(writes.slice(0, 10), `${writes.length} write(s)`).toEqual([]);
  }, 240_000);

  it("deletionPolicy Orphan leaves an Instance's launcher pod running, unowned", async () => {
    await ecs().create("keep", { flavor: cat.flavor, image: cat.x86, zone, deletionPolicy: "Orphan" });
    const running = await eventually(() => ecs().settled("keep"), { what: "instance Running", timeoutMs: 60_000 });
    const podName = running.status?.launcherPod ?? "";
    await ecs().delete("keep");
    await eventuallyGone(() => ecs().read("keep"), "the Orphan instance");
    const pod = await core.readNamespacedPod({ name: podName, namespace: ns.name });
    expect(pod.metadata?.deletionTimestamp).toBeUndefined();
    expect(pod.metadata?.ownerReferences ?? []).toEqual([]);
    expect(pod.metadata?.labels?.["compute.cellcloud.io/instance"]).toBeUndefined();
    // Garbage collection has had its chance: the pod is still there.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await core.readNamespacedPod({ name: podName, namespace: ns.name })).metadata?.deletionTimestamp).toBeUndefined();
    await core.deleteNamespacedPod({ name: podName, namespace: ns.name, gracePeriodSeconds: 0 });
  }, 120_000);

  it("deletionPolicy Orphan leaves a Volume's PV and claim, the claim unowned", async () => {
    await evs().create("kept", { size: "5Gi", type: ssd, zone, deletionPolicy: "Orphan" });
    const v = await eventually(() => evs().settled("kept", "Available"), { what: "volume Available", timeoutMs: 60_000 });
    const pv = v.status?.persistentVolume ?? "";
    await evs().delete("kept");
    await eventuallyGone(() => evs().read("kept"), "the Orphan volume");
    await new Promise((r) => setTimeout(r, 3000));
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: "evs-kept", namespace: ns.name });
    expect(claim.metadata?.deletionTimestamp).toBeUndefined();
    expect(claim.metadata?.ownerReferences ?? []).toEqual([]);
    expect(claim.status?.phase).toBe("Bound");
    expect((await core.readPersistentVolume({ name: pv })).metadata?.deletionTimestamp).toBeUndefined();
    await core.deleteNamespacedPersistentVolumeClaim({ name: "evs-kept", namespace: ns.name });
    await core.deletePersistentVolume({ name: pv });
  }, 120_000);
});
