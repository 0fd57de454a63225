// Priority preemption: when no node fits, find the node where evicting the fewest, least important
// lower-priority pods lets the pod pass every filter. Pure: it names victims, the caller evicts them.
import { type Candidate, Freed, eligibleNodes, fitsAfterEviction, prepare } from "./filters.ts";
import type { StrategyOf } from "./placement.ts";
import type { NodeState, PlacedPod, PodRequest, Snapshot } from "./snapshot.ts";

export interface Preemption {
  node: string;
  victims: string[]; // pod keys, in eviction order
}

/**
 * Whose pods a preemptor may evict: its own tenant's (by namespace), a namespace no tenant owns only
 * another such, and anyone's only at the platform's own priorities (system-cluster-critical and up).
 */
export const PLATFORM_PRIORITY = 2_000_000_000;
export function sameTenant(tenantOf: (namespace: string) => string | undefined, preemptor: PodRequest): (victim: PlacedPod) => boolean {
  if (preemptor.priority >= PLATFORM_PRIORITY) return () => true;
  const mine = tenantOf(namespaceOf(preemptor.key));
  return (victim) => tenantOf(namespaceOf(victim.key)) === mine;
}
const namespaceOf = (key: string) => key.slice(0, Math.max(0, key.indexOf("/")));

/**
 * The node minimizing (highest victim priority, number of victims, node name), or undefined when no
 * eviction of strictly lower-priority pods makes room. `strategy` does not change the choice: the
 * ordering above is total; it is taken so callers can pass the same arguments as to schedule().
 */
export function findPreemption(pod: PodRequest, snapshot: Snapshot, _strategy?: StrategyOf, mayEvict: (victim: PlacedPod) => boolean = () => true): Preemption | undefined {
  const c = prepare(pod, snapshot);
  let best: { node: string; victims: PlacedPod[]; top: number } | undefined;
  for (const n of eligibleNodes(c, snapshot).nodes) {
    const victims = victimsOn(c, n, mayEvict);
    if (!victims) continue;
    const top = Math.max(-Infinity, ...victims.map((v) => v.priority));
    // Nodes come sorted by name, so a strict comparison keeps the earlier one on a tie.
    if (!best || top < best.top || (top === best.top && victims.length < best.victims.length)) {
      best = { node: n.info.name, victims, top };
    }
  }
  return best && { node: best.node, victims: best.victims.map((v) => v.key) };
}

// Greedy in eviction order until the pod fits, then a reprieve pass, as kube-scheduler does: the
// greedy prefix can hold pods that did not help (a small pod evicted before the big one that mattered).
function victimsOn(c: Candidate, n: NodeState, mayEvict: (victim: PlacedPod) => boolean): PlacedPod[] | undefined {
  const candidates = [...n.pods.values()].filter((p) => p.priority < c.pod.priority && mayEvict(p)).sort(evictionOrder(n));
  const freed = new Freed();
  const chosen: PlacedPod[] = [];
  for (const p of candidates) {
    if (fitsAfterEviction(c, n, freed)) break;
    freed.add(p);
    chosen.push(p);
  }
  if (!fitsAfterEviction(c, n, freed)) return undefined;
  return reprieve(c, n, chosen, freed);
}

// Gives back the most important victims first, keeping each one the pod can do without.
function reprieve(c: Candidate, n: NodeState, chosen: readonly PlacedPod[], freed: Freed): PlacedPod[] {
  const victims: PlacedPod[] = [];
  for (const p of chosen.toReversed()) {
    freed.add(p, -1);
    if (fitsAfterEviction(c, n, freed)) continue;
    freed.add(p);
    victims.unshift(p);
  }
  return victims;
}

// Lowest priority first, then the largest request (as a share of this node), then key for determinism.
function evictionOrder(n: NodeState): (a: PlacedPod, b: PlacedPod) => number {
  const { cpu, memory } = n.info.allocatable;
  const size = (p: PlacedPod): number => (cpu > 0 ? p.requests.cpu / cpu : 0) + (memory > 0 ? p.requests.memory / memory : 0);
  return (a, b) => a.priority - b.priority || size(b) - size(a) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}
