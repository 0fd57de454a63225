// Keeps each Cell's status (node counts, per-architecture capacity, allocatable and allocated) and
// the matching Prometheus gauges current. Churn is coalesced: node and pod events mark the cell dirty
// and one reconcile follows after a short delay, however many pods moved in between.
import { Gauge } from "prom-client";
import type { Controller } from "../runtime/controller.ts";
import { isNotFound } from "../runtime/kube.ts";
import type { Manager } from "../runtime/manager.ts";
import { addFinalizer, isDeleting, removeFinalizer } from "../runtime/finalizers.ts";
import { markReady, withCondition, writeStatus } from "../runtime/status.ts";
import { keyOf, type KubeObject } from "../runtime/types.ts";
import { aggregateCell, cellStatus, nodeAmounts, type Amounts, type CellAggregate, type NodeAmounts } from "./cell.ts";
import { CellRef, coalescing, indexes, nodeCache, nodePoolCache, onNodeChange, onSpecChange, podCache, type CellObj } from "./caches.ts";
import { nodeLabels, type Pod } from "./nodepool.ts";
import { occupiesNode, podResources } from "./scheduler/podrequest.ts";

/** Held while node pools name the Cell, so deleting it cannot strand their hosts. */
export const IN_USE = "platform.cellcloud.io/in-use";

/** How long node and pod events for one cell are gathered before it is aggregated again. */
export const COALESCE_MS = 500;

/** A value computed from an object, kept until the object's resourceVersion changes. */
class Memo<V> {
  private readonly entries = new Map<string, { rv: string | undefined; value: V }>();

  get<T extends KubeObject>(obj: T, compute: (obj: T) => V): V {
    const key = keyOf(obj);
    const hit = this.entries.get(key);
    if (hit && hit.rv === obj.metadata.resourceVersion) return hit.value;
    const value = compute(obj);
    this.entries.set(key, { rv: obj.metadata.resourceVersion, value });
    return value;
  }

  delete(obj: KubeObject): void {
    this.entries.delete(keyOf(obj));
  }
}

const ignoreNotFound = (e: unknown): void => {
  if (!isNotFound(e)) throw e; // the cell was deleted while being aggregated
};

const resources = ["cpu", "memory", "pods"] as const;
const nodeStates = ["ready", "notReady", "cordoned"] as const;

class CellMetrics {
  private readonly capacity: Gauge<"cell" | "architecture" | "resource">;
  private readonly allocatable: Gauge<"cell" | "architecture" | "resource">;
  private readonly allocated: Gauge<"cell" | "architecture" | "resource">;
  private readonly nodes: Gauge<"cell" | "state">;
  private readonly archs = new Map<string, Set<string>>();

  constructor(mgr: Manager) {
    const registers = [mgr.metrics.registry];
    const labelNames = ["cell", "architecture", "resource"] as const;
    const help = (what: string) => `${what} of a cell's nodes per architecture; cpu in cores, memory in bytes, pods as a count`;
    this.capacity = new Gauge({ name: "cellcloud_cell_capacity", help: help("Physical capacity"), labelNames, registers });
    this.allocatable = new Gauge({ name: "cellcloud_cell_allocatable", help: help("Allocatable resources (overcommit included)"), labelNames, registers });
    this.allocated = new Gauge({ name: "cellcloud_cell_allocated", help: help("Requests of the pods bound"), labelNames, registers });
    this.nodes = new Gauge({ name: "cellcloud_cell_nodes", help: "Nodes of a cell by state (ready, notReady, cordoned)", labelNames: ["cell", "state"], registers });
  }

  set(cell: string, agg: CellAggregate): void {
    const seen = new Set(agg.architectures.keys());
    for (const arch of this.archs.get(cell) ?? []) if (!seen.has(arch)) this.removeArch(cell, arch);
    this.archs.set(cell, seen);
    for (const [architecture, t] of agg.architectures) {
      const put = (g: Gauge<"cell" | "architecture" | "resource">, a: Amounts) => {
        for (const resource of resources) g.set({ cell, architecture, resource }, resource === "cpu" ? a.cpu / 1000 : a[resource]);
      };
      put(this.capacity, t.capacity);
      put(this.allocatable, t.allocatable);
      put(this.allocated, t.allocated);
    }
    for (const state of nodeStates) this.nodes.set({ cell, state }, agg.nodes[state]);
  }

  remove(cell: string): void {
    for (const arch of this.archs.get(cell) ?? []) this.removeArch(cell, arch);
    this.archs.delete(cell);
    for (const state of nodeStates) this.nodes.remove({ cell, state });
  }

  private removeArch(cell: string, architecture: string): void {
    for (const g of [this.capacity, this.allocatable, this.allocated]) {
      for (const resource of resources) g.remove({ cell, architecture, resource });
    }
  }
}

/** What a pod contributes to its cell's allocation; pod updates that keep it leave the cell alone. */
function footprint(pod: Pod): string {
  if (!occupiesNode(pod)) return "";
  return `${pod.spec?.nodeName}\n${JSON.stringify(pod.spec?.containers.map((c) => c.resources?.requests))}\n${JSON.stringify(pod.spec?.initContainers?.map((c) => c.resources?.requests))}`;
}

export function setupCellController(mgr: Manager): Controller {
  const cells = mgr.informer<CellObj>(CellRef);
  const pools = nodePoolCache(mgr);
  const nodes = nodeCache(mgr);
  const pods = podCache(mgr);
  const metrics = new CellMetrics(mgr);
  const { client } = mgr;

  // Parsed quantities per object version: at 5000 nodes and 30,000 pods parsing is most of an aggregation.
  const nodeMemo = new Memo<NodeAmounts>();
  const podMemo = new Memo<Amounts | undefined>();
  const podAmounts = (pod: Pod): Amounts | undefined => {
    try {
      return occupiesNode(pod) ? podResources(pod) : undefined;
    } catch {
      return undefined; // the apiserver validated the quantities; this only guards against a parser gap
    }
  };
  const requested = (nodeName: string): Amounts => {
    const sum: Amounts = { cpu: 0, memory: 0, pods: 0 };
    for (const pod of pods.byIndex(indexes.podsByNode, nodeName)) {
      const r = podMemo.get(pod, podAmounts);
      if (!r) continue;
      sum.cpu += r.cpu;
      sum.memory += r.memory;
      sum.pods += r.pods;
    }
    return sum;
  };

  const controller = mgr.controller("cell").for(CellRef)
    .complete(async (req) => {
      let cell = cells.get(req.name);
      if (!cell) {
        metrics.remove(req.name);
        return;
      }
      // In-use protection, as pvc-protection does for claims: a Cell goes only once no pool names it.
      if (isDeleting(cell)) {
        const users = pools.byIndex(indexes.poolsByCell, req.name).map((p) => p.metadata.name).sort();
        if (users.length === 0) return void (await removeFinalizer(client, CellRef, cell, IN_USE));
        const message = `cell is still used by node pool(s) ${users.slice(0, 10).join(", ")}${users.length > 10 ? ` and ${users.length - 10} more` : ""}; delete them first`;
        await writeStatus(client, CellRef, cell, withCondition(cell, { type: "Ready", status: "False", reason: "InUse", message })).catch(ignoreNotFound);
        return;
      }
      cell = await addFinalizer(client, CellRef, cell, IN_USE);
      const agg = aggregateCell(nodes.byIndex(indexes.nodesByCell, req.name), pools.byIndex(indexes.poolsByCell, req.name).length,
        (node) => requested(node.metadata.name), (node) => nodeMemo.get(node, nodeAmounts));
      metrics.set(req.name, agg);
      const { fields, ready } = cellStatus(agg);
      await writeStatus(client, CellRef, cell, { ...markReady(cell, ready.reason, ready.message), ...fields }).catch(ignoreNotFound);
    });

  onSpecChange(pools, (pool) => controller.enqueue(pool.spec.cell)); // the pool count; nodes tell the rest
  const soon = coalescing(controller, COALESCE_MS);
  // Node changes are coalesced too: a 5000-node scale-up is a few aggregations, not 5000.
  onNodeChange(nodes, (node) => {
    const cell = node.metadata.labels?.[nodeLabels.cell];
    if (cell) soon(cell);
  });
  nodes.addHandler((type, node) => { if (type === "delete") nodeMemo.delete(node); });
  pods.addHandler((type, pod, old) => {
    if (type === "delete") podMemo.delete(pod);
    if (type === "update" && old && footprint(old) === footprint(pod)) return;
    for (const p of old && old !== pod ? [old, pod] : [pod]) {
      const nodeName = p.spec?.nodeName;
      const cell = nodeName ? nodes.get(nodeName)?.metadata.labels?.[nodeLabels.cell] : undefined;
      if (cell) soon(cell);
    }
  });
  return controller;
}
