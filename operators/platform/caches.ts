// The caches the platform controllers share, with the indexes they look things up by. Nodes and pods
// use the manager's unfiltered informers, the same ones the cell scheduler reads, so a manager that
// runs both keeps one copy of 5000 nodes and 30,000 pods, not two. Index functions are module
// constants: the informers are shared, and adding the same index twice is then a no-op.
import { CellRef, NodePoolRef, nodeAnnotations, nodeLabels, type CellObj, type NodePoolObj } from "../api/platform.ts";
import { NodeRef, PodRef, type Node, type Pod } from "../runtime/core.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Manager } from "../runtime/manager.ts";
import { changed } from "../runtime/predicates.ts";
import { isReady, poolOf } from "./nodepool.ts";

/** Index names are prefixed: the informers are shared with controllers that may add indexes of their own. */
export const indexes = {
  nodesByPool: "platform.cellcloud.io/node-pool",
  nodesByCell: "platform.cellcloud.io/node-cell",
  podsByNode: "platform.cellcloud.io/pod-node",
  poolsByCell: "platform.cellcloud.io/pool-cell",
} as const;

const byPool = (n: Node): string[] => { const p = poolOf(n); return p ? [p] : []; };
const byCellLabel = (n: Node): string[] => { const c = n.metadata.labels?.[nodeLabels.cell]; return c ? [c] : []; };
const byNode = (p: Pod): string[] => (p.spec?.nodeName ? [p.spec.nodeName] : []);
const poolByCell = (p: NodePoolObj): string[] => [p.spec.cell];

export function nodeCache(mgr: Manager): Informer<Node> {
  const nodes = mgr.informer<Node>(NodeRef);
  nodes.addIndexer(indexes.nodesByPool, byPool);
  nodes.addIndexer(indexes.nodesByCell, byCellLabel);
  return nodes;
}

export function podCache(mgr: Manager): Informer<Pod> {
  const pods = mgr.informer<Pod>(PodRef);
  pods.addIndexer(indexes.podsByNode, byNode);
  return pods;
}

export function nodePoolCache(mgr: Manager): Informer<NodePoolObj> {
  const pools = mgr.informer<NodePoolObj>(NodePoolRef);
  pools.addIndexer(indexes.poolsByCell, poolByCell);
  return pools;
}

export const cellCache = (mgr: Manager): Informer<CellObj> => mgr.informer<CellObj>(CellRef);

/**
 * Node events worth a platform reconcile. KWOK rewrites every node's status on each heartbeat; an
 * update that leaves what the platform reads unchanged wakes nothing.
 */
export const nodeChanged = changed((o) => nodeFingerprint(o as Node));

const nodeFingerprint = (n: Node): unknown[] => [
  n.metadata.labels, n.metadata.ownerReferences, n.metadata.deletionTimestamp,
  n.metadata.annotations?.[nodeAnnotations.draining], n.metadata.annotations?.[nodeAnnotations.managed],
  n.spec?.taints?.map((t) => [t.key, t.value, t.effect]), n.spec?.unschedulable,
  n.status?.capacity, n.status?.allocatable, isReady(n),
];
