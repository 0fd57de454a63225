// Cells and NodePools against the real apiserver and KWOK: pools become labelled, Ready Nodes of both
// architectures, cells aggregate their capacity, `kubectl scale` adds hosts, scale-down drains
// (cordon, evict through the Eviction API, honouring a PodDisruptionBudget, then delete), a failed
// host shows in the cell, bad specs are refused by the apiserver, and a missing Cell holds a pool.
import { PolicyV1Api, type V1Node } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clients, eventually, eventuallyGone, kubectl, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { metricValue, startManager, type InProcessManager } from "./support/manager.ts";
import { NODE_NOT_READY_LABEL, condition } from "./support/nodes.ts";
import { conditionOf, isReadyAtGeneration, platformIn, poolSpec, type PlatformObject } from "./support/platform.ts";

const ns = useNamespace("platform");
const cellName = uniqueName("pf-cell");
const x86 = uniqueName("pf-x86");
const arm = uniqueName("pf-arm");
const TEST_LABEL = { "cellcloud.io/test": "platform" };

let m: InProcessManager;
const platform = () => platformIn(clients().kc);
const core = () => clients().core;
const nodesOf = async (pool: string): Promise<V1Node[]> =>
  (await core().listNode({ labelSelector: `cellcloud.io/pool=${pool}` })).items;
const waitPoolReady = (name: string) =>
  eventually(async () => { const p = await platform().nodePools.read(name); return isReadyAtGeneration(p) && p; }, { what: `NodePool ${name} Ready` });
const readCell = () => platform().cells.read(cellName) as Promise<PlatformObject & { status?: CellStatus }>;

interface Res { cpu: string; memory: string; pods: string }
interface CellStatus {
  pools?: number;
  nodes?: { total: number; ready: number; notReady: number; cordoned: number };
  total?: { allocated: Res; allocatable: Res; capacity: Res };
  architectures?: Record<string, { nodes: number; capacity: Res; allocatable: Res; allocated: Res }>;
}

/** The apiserver's answer to a create/patch that should be refused, as text. */

function boundPod(name: string, node: string, cpu: string) {
  return {
    metadata: { name, namespace: ns.name, labels: { app: name } },
    spec: { nodeName: node, containers: [{ name: "c", image: "registry.k8s.io/pause:3.10", resources: { requests: { cpu, memory: "1Gi" } } }] },
  };
}

beforeAll(async () => {
  m = await startManager(["nodepool", "cell", "platform-pools"]);
});

afterAll(async () => {
  const p = platform();
  for (const pool of [x86, arm, `${cellName}-orphan`]) await p.nodePools.delete(pool).catch(() => undefined);
  await eventually(async () => (await p.nodePools.list("cellcloud.io/test=platform")).length === 0, { what: "pools finalized", timeoutMs: 30_000 })
    .catch(async () => {
      for (const pool of await p.nodePools.list("cellcloud.io/test=platform")) {
        await p.nodePools.patch(pool.metadata.name, [{ op: "remove", path: "/metadata/finalizers" }]).catch(() => undefined);
      }
    });
  for (const cell of [cellName, `${cellName}-late`]) await p.cells.delete(cell).catch(() => undefined);
  await eventually(async () => (await p.cells.list("cellcloud.io/test=platform")).length === 0, { what: "cells finalized", timeoutMs: 30_000 })
    .catch(async () => {
      for (const cell of await p.cells.list("cellcloud.io/test=platform")) {
        await p.cells.patch(cell.metadata.name, [{ op: "remove", path: "/metadata/finalizers" }]).catch(() => undefined);
      }
    });
  await m?.mgr.stop();
});

describe("cells and node pools", () => {
  it("turns an amd64 and an arm64 pool into Ready KWOK nodes with the scheduler's labels and overcommitted allocatable", async () => {
    const p = platform();
    await p.cells.create(cellName, { region: "region-t", zone: "az-t", placementStrategy: "Spread" }, TEST_LABEL);
    await p.nodePools.create(x86, poolSpec(cellName, {
      cpuVendor: "hygon", nodes: 3, capacity: { cpu: 16, memory: "64Gi", pods: 110 }, overcommit: { cpu: 2, memory: 1.5 },
      topology: { racks: 4, hostsPerRack: 2 }, labels: { "hostgroup.example.com/name": "general" },
    }), TEST_LABEL);
    await p.nodePools.create(arm, poolSpec(cellName, {
      architecture: "arm64", cpuVendor: "kunpeng", nodes: 2, capacity: { cpu: "96", memory: "384Gi" },
      taints: [{ key: "dedicated", value: "tenant-a", effect: "NoSchedule" }],
    }), TEST_LABEL);
    const pool = await waitPoolReady(x86);
    expect(pool.status).toMatchObject({ nodes: 3, readyNodes: 3, selector: `cellcloud.io/pool=${x86}` });
    await waitPoolReady(arm);

    const nodes = await nodesOf(x86);
    expect(nodes.map((n) => n.metadata?.name).sort()).toEqual([0, 1, 2].map((i) => `${x86}-${i}`));
    const n2 = nodes.find((n) => n.metadata?.name === `${x86}-2`)!;
    expect(n2.metadata?.labels).toMatchObject({
      "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "kubernetes.io/hostname": `${x86}-2`,
      "topology.kubernetes.io/region": "region-t", "topology.kubernetes.io/zone": "az-t",
      "cellcloud.io/cell": cellName, "cellcloud.io/pool": x86, "cellcloud.io/cpu-vendor": "hygon",
      "cellcloud.io/rack": `${x86}-r1`, "cellcloud.io/switch": `${x86}-s1`, "hostgroup.example.com/name": "general",
    });
    expect(n2.metadata?.annotations?.["kwok.x-k8s.io/node"]).toBe("fake");
    expect(n2.metadata?.ownerReferences?.[0]).toMatchObject({ kind: "NodePool", name: x86, controller: true });
    expect(n2.spec?.providerID).toBe(`kwok://${x86}-2`);
    // KWOK's node-initialize stage keeps the status the controller wrote: allocatable already includes overcommit
    expect(n2.status?.capacity).toMatchObject({ cpu: "16", memory: "64Gi", pods: "110" });
    expect(n2.status?.allocatable).toMatchObject({ cpu: "32", memory: "96Gi", pods: "110" });
    expect(condition(n2, "Ready")).toBe("True");

    // the node lifecycle controller briefly adds node.kubernetes.io/not-ready to a new node and lifts it
    // after the first Ready heartbeat; on a loaded machine that lags the pool's readyNodes, so wait it out
    const armNode = await eventually(async () => {
      const n = (await nodesOf(arm))[0];
      return n?.spec?.taints?.every((t) => !t.key.startsWith("node.kubernetes.io/")) && n;
    }, { what: "the arm node carries only its pool's taints" });
    expect(armNode.metadata?.labels).toMatchObject({ "kubernetes.io/arch": "arm64", "cellcloud.io/cpu-vendor": "kunpeng" });
    expect(armNode.status?.nodeInfo?.architecture).toBe("arm64");
    expect(armNode.spec?.taints).toEqual([{ key: "dedicated", value: "tenant-a", effect: "NoSchedule" }]);
  });

  it("shows the cell's capacity per architecture in its status and in `kubectl get cells`", async () => {
    const cell = await eventually(async () => { const c = await readCell(); return c.status?.nodes?.ready === 5 && c; }, { what: "cell sees 5 ready nodes" });
    expect(cell.status?.pools).toBe(2);
    expect(cell.status?.nodes).toEqual({ total: 5, ready: 5, notReady: 0, cordoned: 0 });
    expect(cell.status?.architectures?.amd64).toMatchObject({ nodes: 3, capacity: { cpu: "48", memory: "192Gi", pods: "330" }, allocatable: { cpu: "96", memory: "288Gi" } });
    expect(cell.status?.architectures?.arm64).toMatchObject({ nodes: 2, capacity: { cpu: "192", memory: "768Gi" }, allocatable: { cpu: "192" } });
    expect(cell.status?.total).toMatchObject({ allocatable: { cpu: "288" }, allocated: { cpu: "0", pods: "0" } });
    expect(conditionOf(cell)).toMatchObject({ status: "True", message: expect.stringContaining("5 Ready") });
    const table = kubectl(["get", "cells", cellName]);
    expect(table).toMatch(/REGION\s+ZONE\s+STRATEGY\s+NODES\s+READY-NODES\s+CPU-ALLOCATED\s+CPU-ALLOCATABLE\s+READY/);
    expect(table).toMatch(new RegExp(`${cellName}\\s+region-t\\s+az-t\\s+Spread\\s+5\\s+5\\s+0\\s+288\\s+True`));
    const text = await (await fetch(m.mgr.metricsUrl!)).text();
    expect(metricValue(text, "cellcloud_cell_allocatable", `cell="${cellName}",architecture="amd64",resource="cpu"`)).toBe(96);
    expect(metricValue(text, "cellcloud_cell_capacity", `cell="${cellName}",architecture="arm64",resource="memory"`)).toBe(768 * 1024 ** 3);
  });

  it("adds hosts with `kubectl scale`, and counts a bound pod's requests as allocated", async () => {
    kubectl(["scale", "nodepool", x86, "--replicas=4"]);
    const pool = await waitPoolReady(x86);
    expect(pool.status).toMatchObject({ nodes: 4, readyNodes: 4 });
    expect((await nodesOf(x86)).find((n) => n.metadata?.name === `${x86}-3`)?.metadata?.labels?.["cellcloud.io/rack"]).toBe(`${x86}-r1`);
    const scale = JSON.parse(kubectl(["get", "--raw", `/apis/platform.cellcloud.io/v1alpha1/nodepools/${x86}/scale`])) as { spec: object; status: object };
    expect(scale).toMatchObject({ spec: { replicas: 4 }, status: { replicas: 4, selector: `cellcloud.io/pool=${x86}` } });
    await core().createNamespacedPod({ namespace: ns.name, body: boundPod("tenant-vm", `${x86}-3`, "1500m") });
    const cell = await eventually(async () => { const c = await readCell(); return c.status?.total?.allocated.cpu === "1500m" && c; }, { what: "allocated cpu 1500m" });
    expect(cell.status?.architectures?.amd64?.allocated).toEqual({ cpu: "1500m", memory: "1Gi", pods: "1" });
  });

  it("drains before removing a host: cordons, waits for a PodDisruptionBudget, evicts, then deletes", async () => {
    const policy = clients().kc.makeApiClient(PolicyV1Api);
    await policy.createNamespacedPodDisruptionBudget({
      namespace: ns.name, body: { metadata: { name: "keep-vm" }, spec: { minAvailable: 1, selector: { matchLabels: { app: "tenant-vm" } } } },
    });
    await eventually(async () => (await policy.readNamespacedPodDisruptionBudget({ name: "keep-vm", namespace: ns.name })).status?.expectedPods === 1,
      { what: "PDB observed the pod" });
    kubectl(["scale", "np", x86, "--replicas=3"]);
    const draining = await eventually(async () => {
      const p = await platform().nodePools.read(x86);
      return conditionOf(p)?.reason === "Draining" && /PodDisruptionBudget/.test(conditionOf(p)?.message ?? "") && p;
    }, { what: "Ready=False Draining, eviction blocked by the PDB" });
    expect(conditionOf(draining)).toMatchObject({ status: "False", message: expect.stringContaining(`${x86}-3`) });
    const node = await core().readNode({ name: `${x86}-3` });
    expect(node.spec?.unschedulable).toBe(true);
    await eventually(async () => (await readCell()).status?.nodes?.cordoned === 1, { what: "cell counts the cordoned host" });
    // the pod is still there: the budget forbids evicting it
    expect((await core().readNamespacedPod({ name: "tenant-vm", namespace: ns.name })).metadata?.deletionTimestamp).toBeUndefined();

    await policy.deleteNamespacedPodDisruptionBudget({ name: "keep-vm", namespace: ns.name });
    await eventuallyGone(() => core().readNamespacedPod({ name: "tenant-vm", namespace: ns.name }), "pod evicted", 30_000);
    await eventuallyGone(() => core().readNode({ name: `${x86}-3` }), "drained node deleted", 30_000);
    const pool = await waitPoolReady(x86);
    expect(pool.status).toMatchObject({ nodes: 3, readyNodes: 3, drainingNodes: 0 });
    const events = await clients().core.listNamespacedEvent({ namespace: "default", fieldSelector: `involvedObject.name=${x86}` });
    expect(events.items.map((e) => e.reason)).toEqual(expect.arrayContaining(["ScaledUp", "Draining", "EvictionBlocked", "NodesDeleted"]));
  });

  it("shows a failed host as notReady in the cell, and recovers", async () => {
    const node = `${arm}-1`;
    kubectl(["label", "node", node, `${NODE_NOT_READY_LABEL}=true`]);
    const cell = await eventually(async () => { const c = await readCell(); return c.status?.nodes?.notReady === 1 && c; }, { what: "cell counts 1 notReady" });
    expect(cell.status?.nodes).toMatchObject({ total: 5, ready: 4, notReady: 1 });
    const pool = await eventually(async () => { const p = await platform().nodePools.read(arm); return conditionOf(p)?.reason === "NodesNotReady" && p; },
      { what: "pool NodesNotReady" });
    expect(conditionOf(pool)?.message).toContain(node);
    kubectl(["label", "node", node, `${NODE_NOT_READY_LABEL}-`]);
    await eventually(async () => (await readCell()).status?.nodes?.notReady === 0, { what: "cell recovered" });
    await waitPoolReady(arm);
  });

  it("repairs a drifted node, and makes no writes while nothing changes", async () => {
    const node = `${x86}-0`;
    kubectl(["label", "node", node, "cellcloud.io/rack=moved", "--overwrite"]);
    await eventually(async () => (await core().readNode({ name: node })).metadata?.labels?.["cellcloud.io/rack"] === `${x86}-r0`, { what: "rack label restored" });
    await new Promise((r) => setTimeout(r, 1000));
    const before = m.writes.length;
    await new Promise((r) => setTimeout(r, 3000));
    expect(m.writes.slice(before)).toEqual([]);
  });

  it("refuses bad specs with a message naming the field", async () => {
    const pools = platform().nodePools;
    const bad = (name: string, o: Record<string, unknown>) => refusal(pools.create(uniqueName(name), poolSpec(cellName, o), TEST_LABEL));
    expect(await bad("armintel", { architecture: "arm64", cpuVendor: "intel" })).toContain("spec.cpuVendor must be kunpeng or phytium for arm64");
    expect(await bad("x86kunpeng", { cpuVendor: "kunpeng" })).toContain("intel, amd or hygon for amd64");
    expect(await bad("toomany", { nodes: 9, topology: { racks: 2, hostsPerRack: 4 } })).toContain("spec.nodes must not exceed spec.topology.racks × spec.topology.hostsPerRack");
    expect(await bad("fewpods", { capacity: { cpu: 8, memory: "32Gi", pods: 50 } })).toMatch(/spec\.capacity\.pods.*greater than or equal to 100/);
    expect(await bad("nocpu", { capacity: { cpu: 0, memory: "32Gi" } })).toContain("spec.capacity.cpu must be greater than zero");
    expect(await refusal(pools.patch(x86, [{ op: "replace", path: "/spec/cell", value: "elsewhere" }]))).toContain("spec.cell is immutable");
    expect(await refusal(pools.patch(arm, [{ op: "replace", path: "/spec/architecture", value: "amd64" }]))).toContain("spec.architecture is immutable");
    expect(await refusal(platform().cells.patch(cellName, [{ op: "replace", path: "/spec/zone", value: "az-other" }]))).toContain("spec.zone is immutable");
    expect(() => kubectl(["scale", "np", x86, "--replicas=9"])).toThrow(/spec\.nodes must not exceed/);
  });

  it("holds a pool whose Cell does not exist at Ready=False CellNotFound, and creates its nodes once the Cell appears", async () => {
    const late = `${cellName}-late`;
    const orphan = `${cellName}-orphan`;
    await platform().nodePools.create(orphan, poolSpec(late, { nodes: 1 }), TEST_LABEL);
    const pool = await eventually(async () => { const p = await platform().nodePools.read(orphan); return conditionOf(p)?.reason === "CellNotFound" && p; },
      { what: "CellNotFound" });
    expect(conditionOf(pool)).toMatchObject({ status: "False", message: expect.stringContaining(late) });
    expect(await nodesOf(orphan)).toEqual([]);
    await platform().cells.create(late, { region: "region-t", zone: "az-late" }, TEST_LABEL);
    await waitPoolReady(orphan);
    expect((await nodesOf(orphan))[0]?.metadata?.labels?.["topology.kubernetes.io/zone"]).toBe("az-late");
  });

  it("drains and deletes every host when the pool is deleted", async () => {
    await core().createNamespacedPod({ namespace: ns.name, body: boundPod("last-vm", `${arm}-0`, "1") });
    await platform().nodePools.delete(arm);
    await eventuallyGone(() => core().readNamespacedPod({ name: "last-vm", namespace: ns.name }), "pod evicted", 30_000);
    await eventually(async () => (await nodesOf(arm)).length === 0, { what: "arm nodes gone" });
    await eventuallyGone(() => platform().nodePools.read(arm), "pool gone after its finalizer", 30_000);
    await eventually(async () => { const c = await readCell(); return c.status?.pools === 1 && c.status?.architectures?.arm64 === undefined; },
      { what: "cell without arm64" });
  });

  it("keeps a Cell that a pool still uses, saying which, and lets it go once the pool is gone", async () => {
    await platform().cells.delete(cellName);
    const held = await eventually(async () => { const c = await readCell(); return conditionOf(c)?.reason === "InUse" && c; }, { what: "Cell InUse" });
    expect(conditionOf(held)).toMatchObject({ status: "False", message: expect.stringContaining(x86) });
    expect(await nodesOf(x86)).not.toEqual([]);
    await platform().nodePools.delete(x86);
    await eventuallyGone(() => readCell(), "Cell deleted after its last pool", 60_000);
    expect(await nodesOf(x86)).toEqual([]);
  });
});
