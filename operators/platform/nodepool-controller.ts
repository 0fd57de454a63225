// Reconciles NodePools into KWOK-simulated Nodes: creates the missing hosts (bounded parallelism),
// repairs drifted ones, and on scale-down cordons the highest-numbered hosts, evicts their pods
// through the Eviction API and deletes each host once it is empty. A finalizer drains and deletes
// every host before the pool goes. Everything is read from the shared caches; no per-node GETs.
import type { Controller } from "../runtime/controller.ts";
import { NodeRef, PodRef } from "../runtime/core.ts";
import { addFinalizer, hasFinalizer, isDeleting, removeFinalizer } from "../runtime/finalizers.ts";
import { ApiError, isAlreadyExists, isNotFound, resourcePath } from "../runtime/kube.ts";
import type { Manager } from "../runtime/manager.ts";
import { forEachLimit, type Settled } from "../runtime/parallel.ts";
import { withCondition, writeStatus } from "../runtime/status.ts";
import { keyOf } from "../runtime/types.ts";
import { CellRef, NodePoolRef, coalescing, indexes, nodeCache, nodePoolCache, onNodeChange, onSpecChange, podCache, type CellObj, type NodePoolObj } from "./caches.ts";
import {
  drainStep, nameList, nodeAnnotations, nodeLabels, nodeRepair, nodeTemplate, planPool, poolOf, summarizePool,
  type Node, type PoolView,
} from "./nodepool.ts";

const FINALIZER = "platform.cellcloud.io/nodes";
/** API calls in flight at once per pool: enough to create 5000 nodes quickly, few enough not to flood the apiserver. */
const IN_FLIGHT = 32;
/** Node (and drained-pod) events of one pool within this window become one reconcile. */
const NODE_COALESCE_MS = 200;
/** While draining, look again this often (pod deletions also wake the pool); a PDB may refuse evictions for a while. */
const DRAIN_RECHECK_MS = 5_000;

const isTooManyRequests = (e: unknown): boolean => e instanceof ApiError && e.code === 429;
const ignoreNotFound = (e: unknown): void => {
  if (!isNotFound(e)) throw e;
};

export function setupNodePoolController(mgr: Manager): Controller {
  const pools = nodePoolCache(mgr);
  const cells = mgr.informer<CellObj>(CellRef);
  const nodes = nodeCache(mgr);
  const pods = podCache(mgr);
  const { client, events } = mgr;
  /** Node name → the pool/cell generation and node resourceVersion it was last found in line at. */
  const verified = new Map<string, string>();

  /** Cordons, evicts and deletes; returns what is still in the way. */
  async function drain(pool: NodePoolObj, surplus: readonly Node[]) {
    const draining: Array<{ name: string; pods: number }> = [];
    let blocked = 0;
    const cordon: Node[] = [];
    const empty: Node[] = [];
    const evict: Array<{ name: string; namespace?: string }> = [];
    for (const node of surplus) {
      const name = node.metadata.name;
      const cordoned = node.spec?.unschedulable === true && node.metadata.annotations?.[nodeAnnotations.draining] !== undefined;
      if (!cordoned) {
        cordon.push(node);
        draining.push({ name, pods: 0 });
        continue;
      }
      // Deleted only once the cache shows it cordoned, so nothing new can have been placed on it since.
      const step = drainStep(pods.byIndex(indexes.podsByNode, name));
      draining.push({ name, pods: step.remaining.length });
      if (step.remaining.length === 0) empty.push(node);
      for (const p of step.evict) evict.push({ name: p.metadata.name, namespace: p.metadata.namespace });
    }
    const reason = isDeleting(pool) ? "pool deleted" : `scaled down to ${pool.spec.nodes}`;
    const failures = [
      ...(await forEachLimit(cordon, IN_FLIGHT, (n) => client.patch(NodeRef, n.metadata.name, undefined, {
        metadata: { annotations: { [nodeAnnotations.draining]: reason } }, spec: { unschedulable: true },
      }, "merge").catch(ignoreNotFound))),
      ...(await forEachLimit(evict, IN_FLIGHT, async (p) => {
        const body = { apiVersion: "policy/v1", kind: "Eviction", metadata: { name: p.name, namespace: p.namespace } };
        try {
          await client.request("POST", resourcePath(PodRef, p.namespace, p.name, "eviction"), { body });
        } catch (e) {
          if (isTooManyRequests(e)) blocked++;
          else ignoreNotFound(e);
        }
      })),
      ...(await forEachLimit(empty, IN_FLIGHT, (n) => client.delete(NodeRef, n.metadata.name).catch(ignoreNotFound))),
    ];
    if (cordon.length) events.record(pool, "Normal", "Draining", `cordoned ${cordon.length} node(s) (${reason}): ${nameList(cordon.map((n) => n.metadata.name))}`);
    if (evict.length) events.record(pool, "Normal", "Evicting", `evicting ${evict.length} pod(s) from draining nodes`);
    if (blocked) events.record(pool, "Warning", "EvictionBlocked", `${blocked} eviction(s) refused by a PodDisruptionBudget; retrying`);
    if (empty.length) events.record(pool, "Normal", "NodesDeleted", `deleted ${empty.length} drained node(s): ${nameList(empty.map((n) => n.metadata.name))}`);
    return { draining, blocked, failures };
  }

  async function finalize(pool: NodePoolObj) {
    if (!hasFinalizer(pool, FINALIZER)) return;
    const owned = planPool(pool.metadata.name, 0, nodes.byIndex(indexes.nodesByPool, pool.metadata.name));
    const { failures } = await drain(pool, owned.surplus);
    throwFirst(failures);
    const left = nodes.byIndex(indexes.nodesByPool, pool.metadata.name).length;
    if (left > 0) return { requeueAfterMs: owned.surplus.length ? DRAIN_RECHECK_MS : 1_000 };
    await removeFinalizer(client, NodePoolRef, pool, FINALIZER);
  }

  const controller = mgr.controller("nodepool").for(NodePoolRef)
    .complete(async (req) => {
      let pool = pools.get(req.name);
      if (!pool) return;
      if (isDeleting(pool)) return finalize(pool);
      pool = await addFinalizer(client, NodePoolRef, pool, FINALIZER);
      const name = pool.metadata.name;
      const view: PoolView = { name, uid: pool.metadata.uid ?? "", spec: pool.spec };
      const cell = cells.get(pool.spec.cell);
      const plan = planPool(name, pool.spec.nodes, nodes.byIndex(indexes.nodesByPool, name));

      const failures: Settled<number | Node | object>[] = [];
      let raced = 0;
      if (cell) {
        const desired = nodeTemplate(view, cell.spec);
        failures.push(...await forEachLimit(plan.missing, IN_FLIGHT, async (i) => {
          try {
            await client.create(NodeRef, desired(i));
          } catch (e) {
            if (!isAlreadyExists(e)) throw e;
            raced++; // our cache is behind, or someone else's node holds the name: look again soon
          }
        }));
        const created = plan.missing.length - failures.length - raced;
        if (created > 0) events.record(pool, "Normal", "ScaledUp", `created ${created} node(s)`);
        // A node already found in line with this generation of pool and cell, unchanged since, is not compared again.
        const version = `${pool.metadata.uid}/${pool.metadata.generation}/${cell.metadata.uid}/${cell.metadata.generation}`;
        const repairs = plan.keep.flatMap(({ index, node }) => {
          const seen = `${version}/${node.metadata.resourceVersion}`;
          if (verified.get(node.metadata.name) === seen) return [];
          const r = nodeRepair(node, desired(index));
          if (r.patch || r.statusPatch) return [{ node, ...r }];
          verified.set(node.metadata.name, seen);
          return [];
        });
        failures.push(...await forEachLimit(repairs, IN_FLIGHT, async ({ node, patch, statusPatch }) => {
          if (patch) await client.patch(NodeRef, node.metadata.name, undefined, patch, "merge");
          if (statusPatch) await client.patch(NodeRef, node.metadata.name, undefined, statusPatch, "merge", { subresource: "status" });
        }));
        if (repairs.length) events.record(pool, "Normal", "NodesRepaired", `brought ${repairs.length} node(s) back in line with the pool: ${nameList(repairs.map((r) => r.node.metadata.name))}`);
      }
      const drained = await drain(pool, plan.surplus);
      failures.push(...drained.failures);

      const summary = summarizePool(name, {
        desired: pool.spec.nodes, nodes: [...plan.keep.map((k) => k.node), ...plan.surplus], missing: plan.missing, draining: drained.draining,
        blockedEvictions: drained.blocked, cellFound: cell !== undefined, cell: pool.spec.cell,
      });
      const status = withCondition(pool, summary.ready);
      await writeStatus(client, NodePoolRef, pool, {
        ...status,
        conditions: status.conditions?.filter((c) => c.type !== "Stalled"),
        nodes: summary.nodes, readyNodes: summary.readyNodes, drainingNodes: summary.drainingNodes,
        selector: `${nodeLabels.pool}=${name}`,
      });
      throwFirst(failures);
      if (plan.surplus.length) return { requeueAfterMs: DRAIN_RECHECK_MS };
      if (raced) return { requeueAfterMs: 2_000 };
    });

  onSpecChange(cells, (cell) => {
    for (const pool of pools.byIndex(indexes.poolsByCell, cell.metadata.name)) controller.enqueue(keyOf(pool));
  });
  nodes.addHandler((type, node) => { if (type === "delete") verified.delete(node.metadata.name); });
  const soon = coalescing(controller, NODE_COALESCE_MS);
  onNodeChange(nodes, (node) => {
    const pool = poolOf(node);
    if (pool) soon(pool);
  });
  // A pod leaving a draining node may be the last one: wake its pool rather than wait for the recheck.
  pods.addHandler((type, pod) => {
    if (type === "add" || !pod.spec?.nodeName) return;
    const node = nodes.get(pod.spec.nodeName);
    if (!node?.metadata.annotations?.[nodeAnnotations.draining]) return;
    const pool = poolOf(node);
    if (pool) soon(pool);
  });
  return controller;
}

function throwFirst(failures: ReadonlyArray<{ error: unknown }>): void {
  const first = failures[0];
  if (!first) return;
  const err = first.error instanceof Error ? first.error : new Error(String(first.error));
  if (failures.length > 1) err.message = `${err.message} (and ${failures.length - 1} more failed call(s))`;
  throw err;
}
