// Platform's placement API: the one file of the platform folder other products may import (the
// dependency rule's single exception). A product that places pods on the cell scheduler's hosts
// reads the same shared node and pod caches, and asks here whether a host is down and how much
// room it has left.
import { bytes, cpuMillis } from "../api/quantity.ts";
import type { Node, Pod } from "../runtime/core.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Manager } from "../runtime/manager.ts";
import { indexes, nodeCache, podCache } from "./caches.ts";
import { isReady } from "./nodepool.ts";
import { occupiesNode, podResources } from "./scheduler/podrequest.ts";

export interface Hosts {
  nodes: Informer<Node>;
  pods: Informer<Pod>;
  /** Pods bound to a host. */
  podsOn(node: string): Pod[];
}

export function hosts(mgr: Manager): Hosts {
  const nodes = nodeCache(mgr);
  const pods = podCache(mgr);
  return { nodes, pods, podsOn: (node) => pods.byIndex(indexes.podsByNode, node) };
}

/** A host that will never confirm a pod's deletion: gone, not Ready, or tainted unreachable by the node controller. */
export function hostDown(node: Node | undefined): boolean {
  return !node || !isReady(node) || (node.spec?.taints ?? []).some((t) => t.effect === "NoExecute" && t.key.startsWith("node.kubernetes.io/"));
}

/** Room left on a host for an in-place resize, in millicores and bytes; `except` is the resizing pod's uid. */
export function headroom(node: Node | undefined, bound: readonly Pod[], except: string): { cpu: number; memory: number } {
  const alloc = node?.status?.allocatable ?? {};
  let cpu = alloc.cpu ? cpuMillis(alloc.cpu) : 0;
  let memory = alloc.memory ? bytes(alloc.memory) : 0;
  for (const p of bound) {
    if (p.metadata.uid === except || !occupiesNode(p)) continue;
    const r = podResources(p);
    cpu -= r.cpu;
    memory -= r.memory;
  }
  return { cpu, memory };
}
