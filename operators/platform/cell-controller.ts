// Keeps each Cell's status (node counts, per-architecture capacity, allocatable and allocated) and
// the matching Prometheus gauges current, and holds a Cell that node pools still name. Churn is
// coalesced: node and pod events wait a short delay, so a burst of them is one aggregation.
import { Gauge } from "prom-client";
import { CellRef, NodePoolRef, nodeLabels, platformFinalizers, type CellObj, type NodePoolObj } from "../api/platform.ts";
import { NodeRef, PodRef, type Pod } from "../runtime/core.ts";
import type { Controller } from "../runtime/controller.ts";
import type { ManagedResource } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import { changed, generationChanged } from "../runtime/predicates.ts";
import { keyOf, type KubeObject } from "../runtime/types.ts";
import { aggregateCell, cellInUse, cellStatus, nodeAmounts, type Amounts, type CellAggregate, type NodeAmounts } from "./cell.ts";
import { cellCache, indexes, nodeCache, nodeChanged, nodePoolCache, podCache } from "./caches.ts";
import { occupiesNode, podResources } from "./scheduler/podrequest.ts";

/** How long node and pod events for one cell are gathered before it is aggregated again. */
const COALESCE_MS = 500;

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
const footprint = (pod: Pod): string => {
  if (!occupiesNode(pod)) return "";
  return `${pod.spec?.nodeName}\n${JSON.stringify(pod.spec?.containers.map((c) => c.resources?.requests))}\n${JSON.stringify(pod.spec?.initContainers?.map((c) => c.resources?.requests))}`;
};

interface CellObservation {
  agg: CellAggregate;
  /** Node pools that name the cell. */
  users: string[];
}

export function setupCellController(mgr: Manager): Controller {
  const cells = cellCache(mgr);
  const pools = nodePoolCache(mgr);
  const nodes = nodeCache(mgr);
  const pods = podCache(mgr);
  const metrics = new CellMetrics(mgr);
  const requested = podTotals(pods);
  // Parsed quantities per object version: at 5000 nodes and 30,000 pods parsing is most of an aggregation.
  const nodeMemo = new Memo<NodeAmounts>();
  nodes.addHandler((type, node) => { if (type === "delete") nodeMemo.delete(node); });
  cells.addHandler((type, cell) => { if (type === "delete") metrics.remove(cell.metadata.name); });

  const cell: ManagedResource<CellObj, CellObservation> = {
    finalizer: platformFinalizers.cellInUse,
    observe(c) {
      const name = c.metadata.name;
      const users = pools.byIndex(indexes.poolsByCell, name).map((p) => p.metadata.name).sort();
      const agg = aggregateCell(nodes.byIndex(indexes.nodesByCell, name), users.length, (n) => requested(n.metadata.name), (n) => nodeMemo.get(n, nodeAmounts));
      metrics.set(name, agg);
      return { agg, users };
    },
    plan(_c, o) {
      const { fields, ready } = cellStatus(o.agg);
      return { status: { conditions: [ready], fields } };
    },
    // In-use protection, as pvc-protection does for claims: a Cell goes only once no pool names it.
    finalize(_c, o) {
      const held = cellInUse(o.users);
      return held ? { status: { conditions: [held] } } : { done: true };
    },
  };

  const cellOf = (p: KubeObject) => {
    const node = (p as Pod).spec?.nodeName;
    return node ? nodes.get(node)?.metadata.labels?.[nodeLabels.cell] : undefined;
  };
  return mgr.controller("cell").for(CellRef)
    .watches(NodePoolRef, (p) => [(p as NodePoolObj).spec.cell], { predicate: generationChanged }) // the pool count; nodes tell the rest
    .watches(NodeRef, (n) => [n.metadata.labels?.[nodeLabels.cell] ?? ""].filter(Boolean), { predicate: nodeChanged, delayMs: COALESCE_MS })
    .watches(PodRef, (p, old) => [...new Set([cellOf(p), old && cellOf(old)])].filter((c): c is string => Boolean(c)),
      { predicate: changed((p) => footprint(p as Pod)), delayMs: COALESCE_MS })
    .manage(cell);
}

/** What the pods bound to a node request, summed (parsed once per pod version). */
function podTotals(pods: ReturnType<typeof podCache>): (node: string) => Amounts {
  const memo = new Memo<Amounts | undefined>();
  pods.addHandler((type, pod) => { if (type === "delete") memo.delete(pod); });
  const amounts = (pod: Pod): Amounts | undefined => {
    try {
      return occupiesNode(pod) ? podResources(pod) : undefined;
    } catch {
      return undefined; // the apiserver validated the quantities; this only guards against a parser gap
    }
  };
  return (node) => {
    const sum: Amounts = { cpu: 0, memory: 0, pods: 0 };
    for (const pod of pods.byIndex(indexes.podsByNode, node)) {
      const r = memo.get(pod, amounts);
      if (!r) continue;
      sum.cpu += r.cpu;
      sum.memory += r.memory;
      sum.pods += r.pods;
    }
    return sum;
  };
}
