// The scheduler's view of the cluster between cycles: node facts, and every pod that holds node
// resources — bound ones as the informer reports them, assumed ones the scheduler placed and is
// still binding, and reservations for preemptors waiting for their victims to go. The Snapshot a
// cycle reads is kept incrementally for pods; a change of node facts rebuilds it on next use.
// Pure: fed by informer events, no client.
import type * as k8s from "@kubernetes/client-node";
import { keyOf } from "../../runtime/types.ts";
import { nodeFacts, occupiesNode, placedPodOf } from "./podrequest.ts";
import { Snapshot, type NodeInfo, type PlacedPod } from "./snapshot.ts";

type State = "bound" | "assumed";

interface Placement {
  node: string;
  pod: PlacedPod;
  state: State;
}

const podKey = (pod: k8s.V1Pod): string => keyOf(pod as { metadata: { name: string; namespace?: string } });

export class SchedulerCache {
  private readonly nodes = new Map<string, { facts: Omit<NodeInfo, "pods">; fingerprint: string }>();
  private readonly placed = new Map<string, Placement>();
  private snap?: Snapshot;
  /** How often the snapshot was rebuilt (node changes); for metrics and tests. */
  rebuilds = 0;

  /** Records a node; true when a fact placement depends on changed (or the node is new). */
  setNode(node: k8s.V1Node): boolean {
    const facts = nodeFacts(node);
    const fingerprint = JSON.stringify(facts);
    if (this.nodes.get(facts.name)?.fingerprint === fingerprint) return false;
    this.nodes.set(facts.name, { facts, fingerprint });
    this.snap = undefined;
    return true;
  }

  deleteNode(name: string): void {
    if (this.nodes.delete(name)) this.snap = undefined;
  }

  get nodeCount(): number {
    return this.nodes.size;
  }

  /**
   * Follows a pod's informer state. Returns true when it stopped holding resources (finished or
   * moved), which may let a waiting pod fit. An assumed pod still unbound in the cache stays assumed.
   */
  observePod(pod: k8s.V1Pod): boolean {
    const key = podKey(pod);
    const current = this.placed.get(key);
    if (occupiesNode(pod)) {
      const node = pod.spec?.nodeName ?? "";
      if (current?.node === node) {
        current.state = "bound";
        // An in-place resize (pods/resize) changes what the pod holds on the same node.
        const placed = placedPodOf(pod);
        const was = current.pod.requests;
        if (placed.requests.cpu === was.cpu && placed.requests.memory === was.memory) return false;
        this.drop(key);
        this.put(key, { node, pod: placed, state: "bound" });
        return placed.requests.cpu < was.cpu || placed.requests.memory < was.memory;
      }
      if (current) this.drop(key);
      this.put(key, { node, pod: placedPodOf(pod), state: "bound" });
      return current !== undefined;
    }
    if (!current || (current.state === "assumed" && !pod.spec?.nodeName && !isFinished(pod))) return false;
    this.drop(key);
    return true;
  }

  /** The pod is gone; true when it held resources. */
  deletePod(key: string): boolean {
    if (!this.placed.has(key)) return false;
    this.drop(key);
    return true;
  }

  /** Counts `pod` on `node` before its Binding is written (or while a preemptor waits, under a reservation key). */
  assume(key: string, node: string, pod: PlacedPod): void {
    if (this.placed.has(key)) this.drop(key);
    this.put(key, { node, pod: { ...pod, key }, state: "assumed" });
  }

  /** Undoes assume() if the pod is still only assumed (a bind failed); a bound pod stays. */
  forget(key: string): void {
    if (this.placed.get(key)?.state === "assumed") this.drop(key);
  }

  isPlaced(key: string): boolean {
    return this.placed.has(key);
  }

  nodeOf(key: string): string | undefined {
    return this.placed.get(key)?.node;
  }

  /** The snapshot for the next cycle: the same object until a node changes, kept current for pods. */
  snapshot(): Snapshot {
    if (this.snap) return this.snap;
    const byNode = new Map<string, PlacedPod[]>();
    for (const p of this.placed.values()) {
      if (!this.nodes.has(p.node)) continue; // bound to a node we have not seen (yet): counted once it appears
      const list = byNode.get(p.node);
      if (list) list.push(p.pod);
      else byNode.set(p.node, [p.pod]);
    }
    this.snap = new Snapshot([...this.nodes.values()].map(({ facts }) => ({ ...facts, pods: byNode.get(facts.name) ?? [] })));
    this.rebuilds++;
    return this.snap;
  }

  private put(key: string, p: Placement): void {
    this.placed.set(key, p);
    if (this.snap?.node(p.node)) this.snap.assume(p.node, p.pod);
  }

  private drop(key: string): void {
    const p = this.placed.get(key);
    this.placed.delete(key);
    if (p && this.snap?.nodeOf(key) === p.node) this.snap.forget(p.node, key);
  }
}

function isFinished(pod: k8s.V1Pod): boolean {
  const phase = pod.status?.phase;
  return phase === "Succeeded" || phase === "Failed";
}
