// Reconciles NodePools into KWOK-simulated Nodes: creates the missing hosts (bounded parallelism),
// repairs drifted ones, and on scale-down cordons the highest-numbered hosts, evicts their pods
// through the Eviction API and deletes each host once it is empty. Deleting the pool drains and
// deletes every host first (deletionPolicy Orphan: the hosts stay, no longer owned). Everything is
// read from the shared caches; no per-node GETs.
import { NodePoolRef, nodeAnnotations, nodeLabels, platformFinalizers, type CellObj, type NodePoolObj } from "../api/platform.ts";
import { NodeRef, PodRef, type Node } from "../runtime/core.ts";
import type { Controller } from "../runtime/controller.ts";
import type { Action, ManagedResource, Outcome, Plan } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import { generationChanged } from "../runtime/predicates.ts";
import { cellCache, indexes, nodeCache, nodeChanged, nodePoolCache, podCache } from "./caches.ts";
import { drainPlan, nodeRepair, nodeTemplate, planPool, poolEvents, poolOf, summarizePool, type Drain, type PoolPlan } from "./nodepool.ts";

/** API calls in flight at once per pool: enough to create 5000 nodes quickly, few enough not to flood the apiserver. */
const IN_FLIGHT = 32;
/** Node (and drained-pod) events of one pool within this window become one reconcile. */
const NODE_COALESCE_MS = 200;
/** While draining, look again this often (pod deletions also wake the pool); a PDB may refuse evictions for a while. */
const DRAIN_RECHECK_MS = 5_000;
/** After creating nodes, look again (a create that found the name taken means our cache is behind). */
const SCALE_RECHECK_MS = 2_000;

interface PoolObservation {
  cell?: CellObj;
  plan: PoolPlan;
  drain: Drain;
  /** Kept nodes that drifted from the pool, with the patches that repair them. */
  repairs: Array<{ node: Node; patch?: object; statusPatch?: object }>;
  desired?: (index: number) => Node;
}

export function setupNodePoolController(mgr: Manager): Controller {
  const pools = nodePoolCache(mgr);
  const cells = cellCache(mgr);
  const nodes = nodeCache(mgr);
  const pods = podCache(mgr);
  /** Node name → the pool/cell generation and node resourceVersion it was last found in line at. */
  const verified = new Map<string, string>();
  nodes.addHandler((type, node) => { if (type === "delete") verified.delete(node.metadata.name); });

  /** Kept nodes that differ from the pool; one found in line with this pool and cell, unchanged since, is not compared again. */
  function repairs(pool: NodePoolObj, cell: CellObj, plan: PoolPlan, desired: (i: number) => Node): PoolObservation["repairs"] {
    const version = `${pool.metadata.uid}/${pool.metadata.generation}/${cell.metadata.uid}/${cell.metadata.generation}`;
    return plan.keep.flatMap(({ index, node }) => {
      const seen = `${version}/${node.metadata.resourceVersion}`;
      if (verified.get(node.metadata.name) === seen) return [];
      const r = nodeRepair(node, desired(index));
      if (r.patch || r.statusPatch) return [{ node, ...r }];
      verified.set(node.metadata.name, seen);
      return [];
    });
  }

  const resource: ManagedResource<NodePoolObj, PoolObservation> = {
    finalizer: platformFinalizers.nodes,
    observe(pool) {
      const name = pool.metadata.name;
      const cell = cells.get(pool.spec.cell);
      const deleting = Boolean(pool.metadata.deletionTimestamp);
      const plan = planPool(name, deleting ? 0 : pool.spec.nodes, nodes.byIndex(indexes.nodesByPool, name));
      const drain = drainPlan(plan.surplus, (node) => pods.byIndex(indexes.podsByNode, node), deleting ? "pool deleted" : `scaled down to ${pool.spec.nodes}`);
      if (!cell || deleting) return { ...(cell ? { cell } : {}), plan, drain, repairs: [] };
      const desired = nodeTemplate({ name, uid: pool.metadata.uid ?? "", spec: pool.spec }, cell.spec);
      return { cell, plan, drain, desired, repairs: repairs(pool, cell, plan, desired) };
    },
    plan: (pool, o) => planNodePool(pool, o),
    finalize(pool, o, policy) {
      const owned = [...o.plan.keep.map((k) => k.node), ...o.plan.surplus];
      if (policy === "Orphan") {
        // Hosts stay, released: no owner reference, so garbage collection leaves them.
        const actions: Action[] = owned.map((n) => ({ verb: "update", ref: NodeRef, name: n.metadata.name, patch: { metadata: { ownerReferences: null } } }));
        return { actions, concurrency: IN_FLIGHT, done: true };
      }
      const left = nodes.byIndex(indexes.nodesByPool, pool.metadata.name).length;
      const drained = planNodePool(pool, o);
      return left === 0 ? { done: true } : { ...drained, requeueAfterMs: o.plan.surplus.length ? DRAIN_RECHECK_MS : 1_000 };
    },
  };

  const poolsOfNode = (n: Node) => { const p = poolOf(n); return p ? [p] : []; };
  return mgr.controller("nodepool").for(NodePoolRef)
    .watches(cells.ref, (c) => pools.byIndex(indexes.poolsByCell, c.metadata.name).map((p) => p.metadata.name), { predicate: generationChanged })
    .watches(NodeRef, (n) => poolsOfNode(n as Node), { predicate: nodeChanged, delayMs: NODE_COALESCE_MS })
    // A pod leaving a draining node may be the last one: wake its pool rather than wait for the recheck.
    .watches(PodRef, (p) => {
      const node = nodes.get((p as { spec?: { nodeName?: string } }).spec?.nodeName ?? "");
      return node?.metadata.annotations?.[nodeAnnotations.draining] ? poolsOfNode(node) : [];
    }, { predicate: (type) => type !== "add", delayMs: NODE_COALESCE_MS })
    .manage(resource);
}

/** Create what is missing, repair what drifted, drain the surplus; status from what the calls met. */
function planNodePool(pool: NodePoolObj, o: PoolObservation): Plan {
  const { plan, drain, desired } = o;
  const actions: Action[] = [
    ...(desired ? plan.missing.map((i): Action => ({ verb: "create", ref: NodeRef, object: desired(i) })) : []),
    ...o.repairs.flatMap(({ node, patch, statusPatch }): Action[] => [
      ...(patch ? [{ verb: "update" as const, ref: NodeRef, name: node.metadata.name, patch }] : []),
      ...(statusPatch ? [{ verb: "update" as const, ref: NodeRef, name: node.metadata.name, patch: statusPatch, subresource: "status" }] : []),
    ]),
    ...drain.actions,
  ];
  const blocked = (out: readonly Outcome[]) => out.filter((x) => x.result === "refused").length;
  return {
    actions, concurrency: IN_FLIGHT,
    events: (out) => poolEvents(out, o.repairs.map((r) => r.node.metadata.name), drain),
    status: (out) => {
      const summary = summarizePool(pool.metadata.name, {
        desired: pool.spec.nodes, nodes: [...plan.keep.map((k) => k.node), ...plan.surplus], missing: desired ? plan.missing : [],
        draining: drain.draining, blockedEvictions: blocked(out), cellFound: o.cell !== undefined, cell: pool.spec.cell,
      });
      return {
        conditions: [summary.ready],
        fields: { nodes: summary.nodes, readyNodes: summary.readyNodes, drainingNodes: summary.drainingNodes, selector: `${nodeLabels.pool}=${pool.metadata.name}` },
      };
    },
    requeueAfterMs: plan.surplus.length ? DRAIN_RECHECK_MS : desired && plan.missing.length ? SCALE_RECHECK_MS : undefined,
  };
}
