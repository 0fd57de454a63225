// The caches the platform controllers share, with the indexes they look things up by. Nodes and pods
// use the manager's unfiltered informers, the same ones the cell scheduler reads, so a manager that
// runs both keeps one copy of 5000 nodes and 30,000 pods, not two.
import { refOf } from "../api/crd.ts";
import { Cell, ExternalIPPool, NodePool, StoragePool, type CellSpec, type CellStatus, type ExternalIPPoolSpec, type ExternalIPPoolStatus, type NodePoolSpec, type NodePoolStatus, type StoragePoolSpec, type StoragePoolStatus } from "../api/platform.ts";
import { NodeRef, PodRef } from "../runtime/core.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Manager } from "../runtime/manager.ts";
import type { KubeObject } from "../runtime/types.ts";
import { isReady, nodeAnnotations, nodeLabels, poolOf, type Node, type Pod } from "./nodepool.ts";

export const CellRef = refOf(Cell);
export const NodePoolRef = refOf(NodePool);
export const StoragePoolRef = refOf(StoragePool);
export const ExternalIPPoolRef = refOf(ExternalIPPool);

export type CellObj = KubeObject & { spec: CellSpec; status?: CellStatus };
export type NodePoolObj = KubeObject & { spec: NodePoolSpec; status?: NodePoolStatus };
export type StoragePoolObj = KubeObject & { spec: StoragePoolSpec; status?: StoragePoolStatus };
export type ExternalIPPoolObj = KubeObject & { spec: ExternalIPPoolSpec; status?: ExternalIPPoolStatus };

/** Index names are prefixed: the informers are shared with controllers that may add indexes of their own. */
export const indexes = {
  nodesByPool: "platform.cellcloud.io/node-pool",
  nodesByCell: "platform.cellcloud.io/node-cell",
  podsByNode: "platform.cellcloud.io/pod-node",
  poolsByCell: "platform.cellcloud.io/pool-cell",
} as const;

const labelIndex = (key: string) => (o: KubeObject): string[] => {
  const v = o.metadata.labels?.[key];
  return v ? [v] : [];
};

export function nodeCache(mgr: Manager): Informer<Node> {
  const nodes = mgr.informer<Node>(NodeRef);
  nodes.addIndexer(indexes.nodesByPool, (n) => { const p = poolOf(n); return p ? [p] : []; });
  nodes.addIndexer(indexes.nodesByCell, labelIndex(nodeLabels.cell));
  return nodes;
}

export function podCache(mgr: Manager): Informer<Pod> {
  const pods = mgr.informer<Pod>(PodRef);
  pods.addIndexer(indexes.podsByNode, (p) => (p.spec?.nodeName ? [p.spec.nodeName] : []));
  return pods;
}

export function nodePoolCache(mgr: Manager): Informer<NodePoolObj> {
  const pools = mgr.informer<NodePoolObj>(NodePoolRef);
  pools.addIndexer(indexes.poolsByCell, (p) => [p.spec.cell]);
  return pools;
}

/**
 * What the platform controllers read from a node. KWOK rewrites every node's status on each
 * heartbeat; an update that leaves this unchanged wakes no controller.
 */
export function nodeFingerprint(n: Node): string {
  return JSON.stringify([
    n.metadata.labels, n.metadata.ownerReferences, n.metadata.deletionTimestamp,
    n.metadata.annotations?.[nodeAnnotations.draining], n.metadata.annotations?.[nodeAnnotations.managed],
    n.spec?.taints?.map((t) => [t.key, t.value, t.effect]), n.spec?.unschedulable,
    n.status?.capacity, n.status?.allocatable, isReady(n),
  ]);
}

/** Calls `onChange` for added and deleted nodes and for updates that change the node's fingerprint. */
export function onNodeChange(nodes: Informer<Node>, onChange: (node: Node) => void): void {
  nodes.addHandler((type, node, old) => {
    if (type === "update" && old && nodeFingerprint(old) === nodeFingerprint(node)) return;
    onChange(node);
  });
}

/**
 * Calls `onChange` when an object is added or deleted or its spec changes (a new generation), not
 * when only its status does: a Cell's status moves with every pod placed, its pools need not follow.
 */
export function onSpecChange<T extends KubeObject>(informer: Informer<T>, onChange: (obj: T) => void): void {
  informer.addHandler((type, obj, old) => {
    if (type === "update" && old && old.metadata.generation === obj.metadata.generation) return;
    onChange(obj);
  });
}

/**
 * Enqueues a key once, `delayMs` after the first of any number of calls for it: a burst of node or
 * pod events (a scale-up, KWOK marking hundreds of hosts Ready) becomes one reconcile, not hundreds.
 */
export function coalescing(controller: { enqueue(key: string): void }, delayMs: number): (key: string) => void {
  const pending = new Set<string>();
  return (key) => {
    if (pending.has(key)) return;
    pending.add(key);
    setTimeout(() => {
      pending.delete(key);
      controller.enqueue(key);
    }, delayMs).unref();
  };
}
