import { describe, expect, it } from "vitest";
import type { CellSpec, NodePoolSpec } from "../api/platform.ts";
import { overcommitted } from "../api/quantity.ts";
import {
  desiredNode, drainPlan, drainStep, nodeIndex, nodeName, nodeRepair, nodeResources, planPool, poolEvents, rackOf, summarizePool,
  type Node, type Pod, type PoolView,
} from "./nodepool.ts";

const cell: CellSpec = { region: "region-1", zone: "az1", placementStrategy: "Binpack" };

function pool(spec: Partial<NodePoolSpec> = {}, name = "x86"): PoolView {
  return {
    name, uid: "uid-1",
    spec: {
      cell: "cell-a", architecture: "amd64", cpuVendor: "intel", nodes: 4,
      capacity: { cpu: "64", memory: "256Gi", pods: 110, ephemeralStorage: "1Ti" },
      overcommit: { cpu: 1, memory: 1 }, topology: { racks: 125, hostsPerRack: 40 },
      ...spec,
    },
  };
}

/** A node as the apiserver would return it after creation: desired plus server fields. */
function existing(p: PoolView, i: number, patch: (n: Node) => void = () => {}): Node {
  const n = structuredClone(desiredNode(p, cell, i));
  n.metadata.resourceVersion = "42";
  n.status = { ...n.status, conditions: [{ type: "Ready", status: "True" } as never] };
  patch(n);
  return n;
}

const pod = (name: string, extra: Partial<Pod> = {}): Pod =>
  ({ metadata: { name, namespace: "ns", ...(extra.metadata ?? {}) }, spec: { containers: [], nodeName: "n" }, status: { phase: "Running" }, ...extra }) as Pod;

describe("node naming and racks", () => {
  it("names hosts <pool>-<i> and parses only exact indexes back", () => {
    expect(nodeName("x86", 7)).toBe("x86-7");
    expect(nodeIndex("x86", "x86-7")).toBe(7);
    expect(nodeIndex("x86", "x86-0")).toBe(0);
    for (const bad of ["x86-07", "x86-", "x86-a", "x86-7-1", "arm-7", "x86x-7"]) expect(nodeIndex("x86", bad)).toBeUndefined();
    // a pool whose name extends another's does not claim its nodes
    expect(nodeIndex("x86", "x86-big-3")).toBeUndefined();
  });

  it("puts hostsPerRack consecutive hosts in one rack behind one switch", () => {
    expect(rackOf("p", 0, 40)).toEqual({ rack: "p-r0", switch: "p-s0" });
    expect(rackOf("p", 39, 40)).toEqual({ rack: "p-r0", switch: "p-s0" });
    expect(rackOf("p", 40, 40)).toEqual({ rack: "p-r1", switch: "p-s1" });
    expect(rackOf("p", 4999, 40)).toEqual({ rack: "p-r124", switch: "p-s124" });
  });
});

describe("capacity and overcommit", () => {
  it("multiplies cpu and memory, never pods or disk", () => {
    const r = nodeResources(pool({ overcommit: { cpu: 2.5, memory: 1.5 } }).spec);
    expect(r.capacity).toEqual({ cpu: "64", memory: "256Gi", pods: "110", "ephemeral-storage": "1Ti" });
    expect(r.allocatable).toEqual({ cpu: "160", memory: "384Gi", pods: "110", "ephemeral-storage": "1Ti" });
  });

  it("rounds overcommitted memory down to whole MiB", () => {
    expect(nodeResources(pool({ capacity: { cpu: "96", memory: "384Gi", pods: 110, ephemeralStorage: "1Ti" }, overcommit: { cpu: 1, memory: 1.2 } }).spec).allocatable.memory)
      .toBe("471859Mi");
  });

  it("rounds down without float error", () => {
    expect(overcommitted(1000, 1.1)).toBe(1100);
    expect(overcommitted(3, 1.5)).toBe(4);
    expect(overcommitted(96_000, 1.15)).toBe(110_400);
    expect(nodeResources(pool({ capacity: { cpu: "500m", memory: "1.5Gi", pods: 100, ephemeralStorage: 10 ** 12 } }).spec).allocatable)
      .toEqual({ cpu: "500m", memory: "1536Mi", pods: "100", "ephemeral-storage": "1000000000000" });
  });
});

describe("desiredNode", () => {
  it("carries every label the scheduler relies on, KWOK's annotation, the owner and the taints", () => {
    const p = pool({ labels: { "example.com/host-group": "hpc" }, taints: [{ key: "dedicated", value: "tenant-a", effect: "NoSchedule" }] });
    const n = desiredNode(p, cell, 41);
    expect(n.metadata.name).toBe("x86-41");
    expect(n.metadata.labels).toEqual({
      "example.com/host-group": "hpc",
      "kubernetes.io/arch": "amd64", "kubernetes.io/os": "linux", "kubernetes.io/hostname": "x86-41",
      "topology.kubernetes.io/region": "region-1", "topology.kubernetes.io/zone": "az1",
      "cellcloud.io/cell": "cell-a", "cellcloud.io/pool": "x86", "cellcloud.io/rack": "x86-r1", "cellcloud.io/switch": "x86-s1",
      "cellcloud.io/cpu-vendor": "intel",
    });
    expect(n.metadata.annotations?.["kwok.x-k8s.io/node"]).toBe("fake");
    expect(n.metadata.ownerReferences).toEqual([{ apiVersion: "platform.cellcloud.io/v1alpha1", kind: "NodePool", name: "x86", uid: "uid-1", controller: true }]);
    expect(n.spec).toEqual({ providerID: "kwok://x86-41", taints: [{ key: "dedicated", value: "tenant-a", effect: "NoSchedule" }] });
    expect(n.status?.allocatable).toEqual({ cpu: "64", memory: "256Gi", pods: "110", "ephemeral-storage": "1Ti" });
    expect(n.status?.nodeInfo?.architecture).toBe("amd64");
  });

  it("does not let spec.labels override the controller's labels", () => {
    const n = desiredNode(pool({ labels: { "kubernetes.io/arch": "arm64" } }), cell, 0);
    expect(n.metadata.labels?.["kubernetes.io/arch"]).toBe("amd64");
  });
});

describe("nodeRepair", () => {
  it("changes nothing on a node that matches, whatever the apiserver's quantity spelling", () => {
    const p = pool({ capacity: { cpu: "1.5", memory: "1.5Gi", pods: 110, ephemeralStorage: "1Ti" } });
    const n = existing(p, 0, (x) => { x.status!.capacity = { ...x.status!.capacity, cpu: "1500m", memory: "1536Mi" }; });
    expect(nodeRepair(n, desiredNode(p, cell, 0))).toEqual({});
  });

  it("restores a changed label, removes a label the pool no longer sets, keeps other people's labels", () => {
    const before = pool({ labels: { old: "x", kept: "1" } });
    const after = pool({ labels: { kept: "2" } });
    const n = existing(before, 0, (x) => {
      x.metadata.labels!["cellcloud.io/rack"] = "wrong";
      x.metadata.labels!["someone/else"] = "y";
    });
    const { patch, statusPatch } = nodeRepair(n, desiredNode(after, cell, 0));
    expect(statusPatch).toBeUndefined();
    expect(patch).toMatchObject({ metadata: { resourceVersion: "42", labels: { old: null, kept: "2", "cellcloud.io/rack": "x86-r0" } } });
    expect((patch!.metadata as { labels: object }).labels).not.toHaveProperty("someone/else");
  });

  it("replaces the pool's taints but keeps the node lifecycle controller's", () => {
    const before = pool({ taints: [{ key: "dedicated", value: "a", effect: "NoSchedule" }] });
    const after = pool({ taints: [{ key: "dedicated", value: "b", effect: "NoSchedule" }] });
    const notReady = { key: "node.kubernetes.io/not-ready", effect: "NoExecute", timeAdded: "2026-01-01T00:00:00Z" } as never;
    const n = existing(before, 0, (x) => { x.spec!.taints = [notReady, ...x.spec!.taints!]; });
    const { patch } = nodeRepair(n, desiredNode(after, cell, 0));
    expect(patch?.spec).toEqual({ taints: [notReady, { key: "dedicated", value: "b", effect: "NoSchedule" }] });
    // and nothing to do once applied, in any order
    const applied = existing(after, 0, (x) => { x.spec!.taints = [...x.spec!.taints!, notReady]; });
    expect(nodeRepair(applied, desiredNode(after, cell, 0)).patch).toBeUndefined();
  });

  it("patches status when capacity or overcommit changed", () => {
    const n = existing(pool(), 0);
    const { statusPatch } = nodeRepair(n, desiredNode(pool({ overcommit: { cpu: 2, memory: 1 } }), cell, 0));
    expect(statusPatch).toEqual({ status: { capacity: n.status!.capacity, allocatable: { cpu: "128", memory: "256Gi", pods: "110", "ephemeral-storage": "1Ti" } } });
  });

  it("uncordons a node whose drain was cancelled by a scale-up", () => {
    const n = existing(pool(), 0, (x) => {
      x.metadata.annotations!["platform.cellcloud.io/draining"] = "scaled down to 0";
      x.spec!.unschedulable = true;
    });
    expect(nodeRepair(n, desiredNode(pool(), cell, 0)).patch).toEqual({
      metadata: { annotations: { "platform.cellcloud.io/draining": null }, resourceVersion: "42" }, spec: { unschedulable: null },
    });
  });

  it("leaves a node a user cordoned by hand alone", () => {
    const n = existing(pool(), 0, (x) => { x.spec!.unschedulable = true; });
    expect(nodeRepair(n, desiredNode(pool(), cell, 0))).toEqual({});
  });
});

describe("planPool", () => {
  const p = pool();
  const nodes = [0, 1, 2, 3, 5].map((i) => existing(p, i));

  it("lists missing indexes, keeps the lower ones and drains the highest first", () => {
    const plan = planPool("x86", 3, nodes);
    expect(plan.missing).toEqual([]);
    expect(plan.keep.map((k) => k.index)).toEqual([0, 1, 2]);
    expect(plan.surplus.map((n) => n.metadata.name)).toEqual(["x86-5", "x86-3"]);
    expect(planPool("x86", 7, nodes).missing).toEqual([4, 6]);
  });

  it("ignores nodes the pool does not own and nodes already being deleted", () => {
    const foreign = existing(p, 9, (x) => { x.metadata.ownerReferences = []; });
    const going = existing(p, 1, (x) => { x.metadata.deletionTimestamp = "2026-01-01T00:00:00Z" as never; });
    const plan = planPool("x86", 2, [existing(p, 0), going, foreign]);
    expect(plan.missing).toEqual([]); // x86-1 comes back after it is gone, not while it terminates
    expect(plan.keep.map((k) => k.index)).toEqual([0]);
    expect(plan.surplus).toEqual([]);
  });
});

describe("drainStep", () => {
  it("evicts workload pods and ignores finished, DaemonSet and mirror pods", () => {
    const pods = [
      pod("web"),
      pod("leaving", { metadata: { name: "leaving", deletionTimestamp: "2026-01-01T00:00:00Z" as never } }),
      pod("done", { status: { phase: "Succeeded" } }),
      pod("ds", { metadata: { name: "ds", ownerReferences: [{ apiVersion: "apps/v1", kind: "DaemonSet", name: "d", uid: "u", controller: true }] } }),
      pod("static", { metadata: { name: "static", annotations: { "kubernetes.io/config.mirror": "x" } } }),
    ];
    const step = drainStep(pods);
    expect(step.remaining.map((p) => p.metadata.name)).toEqual(["web", "leaving"]);
    expect(step.evict.map((p) => p.metadata.name)).toEqual(["web"]);
    expect(drainStep([pods[2]!, pods[3]!])).toEqual({ remaining: [], evict: [] });
  });
});

describe("drainPlan", () => {
  const p = pool();
  it("cordons first; evicts the pods of a cordoned host; deletes a cordoned host once it is empty", () => {
    const fresh = existing(p, 3);
    const cordoned = existing(p, 2, (n) => { n.spec = { ...n.spec, unschedulable: true }; n.metadata.annotations = { ...n.metadata.annotations, "platform.cellcloud.io/draining": "scaled down to 2" }; });
    const empty = existing(p, 1, (n) => { n.spec = { ...n.spec, unschedulable: true }; n.metadata.annotations = { ...n.metadata.annotations, "platform.cellcloud.io/draining": "scaled down to 1" }; });
    const on: Record<string, Pod[]> = { "x86-2": [pod("a"), pod("b", { metadata: { name: "b", deletionTimestamp: "t" } } as Partial<Pod>)] };
    const d = drainPlan([fresh, cordoned, empty], (n) => on[n] ?? [], "scaled down to 1");
    expect(d.cordoned).toEqual(["x86-3"]);
    expect(d.draining).toEqual([{ name: "x86-3", pods: 0 }, { name: "x86-2", pods: 2 }, { name: "x86-1", pods: 0 }]);
    expect(d.actions.map((a) => `${a.verb} ${a.ref.kind}${"subresource" in a && a.subresource ? `/${a.subresource}` : ""}`)).toEqual([
      "update Node", "create Pod/eviction", "delete Node",
    ]);
    expect(d.evictions).toBe(1);
    expect(d.emptied).toEqual(["x86-1"]);
  });

  it("turns what the calls met into Events: created, repaired, draining, evictions refused by a PodDisruptionBudget, deleted", () => {
    const d = drainPlan([existing(p, 3)], () => [], "pool deleted");
    const node = { verb: "create" as const, ref: { group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false }, object: { metadata: { name: "x" } } };
    const evict = { verb: "create" as const, ref: { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true }, object: { metadata: { name: "a" } }, subresource: "eviction" };
    const events = poolEvents([{ action: node, result: "created" }, { action: node, result: "exists" }, { action: evict, result: "refused" }], ["x86-0"], d);
    expect(events.map((e) => [e.type, e.reason, e.message])).toEqual([
      ["Normal", "ScaledUp", "created 1 node(s)"],
      ["Normal", "NodesRepaired", "brought 1 node(s) back in line with the pool: x86-0"],
      ["Normal", "Draining", "cordoned 1 node(s) (pool deleted): x86-3"],
      ["Warning", "EvictionBlocked", "1 eviction(s) refused by a PodDisruptionBudget; retrying"],
    ]);
  });
});

describe("summarizePool", () => {
  const p = pool();
  const base = { desired: 2, missing: [], draining: [], blockedEvictions: 0, cellFound: true, cell: "cell-a" };
  const ready = [existing(p, 0), existing(p, 1)];

  it("is Ready when every desired node exists and is Ready", () => {
    expect(summarizePool("x86", { ...base, nodes: ready })).toMatchObject({ nodes: 2, readyNodes: 2, ready: { status: "True", reason: "NodesReady" } });
  });

  it("says why not, in order: missing cell, draining, scaling, not-ready nodes", () => {
    expect(summarizePool("x86", { ...base, nodes: [], cellFound: false }).ready).toMatchObject({ status: "False", reason: "CellNotFound", message: expect.stringContaining("cell-a") });
    expect(summarizePool("x86", { ...base, nodes: ready, draining: [{ name: "x86-2", pods: 3 }], blockedEvictions: 1 }).ready)
      .toMatchObject({ reason: "Draining", message: expect.stringMatching(/draining 1 node.*3 pod.*x86-2.*PodDisruptionBudget/) });
    expect(summarizePool("x86", { ...base, desired: 3, nodes: ready, missing: [2] }).ready).toMatchObject({ reason: "Scaling", message: "2/3 nodes exist; creating x86-2" });
    const sick = existing(p, 1, (x) => { x.status!.conditions = [{ type: "Ready", status: "False" } as never]; });
    expect(summarizePool("x86", { ...base, nodes: [ready[0]!, sick] })).toMatchObject({ readyNodes: 1, ready: { reason: "NodesNotReady", message: "1/2 nodes are Ready; not ready: x86-1" } });
  });
});
