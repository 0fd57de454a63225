// One scheduling decision on a snapshot: filter every node, score the ones that pass, pick the best.
// Pure: the caller assumes the pod and binds it; schedule() never changes the snapshot.
import { type Candidate, eligibleNodes, firstFitFailure, prepare, reasons } from "./filters.ts";
import type { NodeState, PlacedPod, PodRequest, Resources, Snapshot } from "./snapshot.ts";

/** Chosen per Cell: pack nodes full first, or keep them evenly loaded. */
export type Strategy = "Binpack" | "Spread";
/** One strategy for every node, or each node's own (its Cell's). */
export type StrategyOf = Strategy | ((node: NodeState) => Strategy);

export interface Unschedulable {
  unschedulable: string; // "0/5000 nodes are available: 3200 wrong architecture, 1800 insufficient cpu."
  reasons: Record<string, number>; // nodes per first failing filter; only non-zero counts
}

export type Decision = { node: string } | Unschedulable;

/** What the caller assumes once a decision names a node: the pod as the snapshot records it. */
export function placedPod(pod: PodRequest): PlacedPod {
  const groups = [pod.spread?.group, pod.antiAffinityGroup].filter((g) => g !== undefined);
  return { key: pod.key, priority: pod.priority, requests: pod.requests, groups: [...new Set(groups)] };
}

/** Picks a node for the pod, or explains per reason why none fits. Ties go to the lowest node name. */
export function schedule(pod: PodRequest, snapshot: Snapshot, strategy: StrategyOf): Decision {
  const c = prepare(pod, snapshot);
  const eligible = eligibleNodes(c, snapshot);
  const failures = [...eligible.failures];
  let best: NodeState | undefined;
  let bestMembers = 0;
  let bestScore = 0;
  for (const n of eligible.nodes) {
    const failed = firstFitFailure(c, n);
    if (failed >= 0) {
      failures[failed] = (failures[failed] ?? 0) + 1;
      continue;
    }
    const members = domainMembers(c, n);
    const score = allocationScore(n, pod.requests, typeof strategy === "string" ? strategy : strategy(n));
    // Nodes come sorted by name, so a strict comparison keeps the earlier one on a tie.
    if (best === undefined || members < bestMembers || (members === bestMembers && score > bestScore)) {
      best = n;
      bestMembers = members;
      bestScore = score;
    }
  }
  return best ? { node: best.info.name } : summarize(snapshot.nodes.length, failures);
}

// A best-effort spread outranks the strategy score: fewer group members in the node's domain always wins.
// Nodes without the domain's label come last, since they cannot be placed in any domain.
function domainMembers({ pod, spreadCounts }: Candidate, n: NodeState): number {
  if (pod.spread?.mode !== "best-effort") return 0;
  const domain = n.domains[pod.spread.domain];
  return domain === undefined ? Infinity : (spreadCounts?.get(domain) ?? 0);
}

const share = (used: number, capacity: number): number => (capacity > 0 ? used / capacity : 0);

// MostAllocated for Binpack, LeastAllocated for Spread: cpu and memory weigh the same, both after placement.
// Both lie in [0, 1], so nodes of a Binpack cell and a Spread cell compare by how well each suits its own cell.
function allocationScore(n: NodeState, r: Readonly<Resources>, strategy: Strategy): number {
  const { requested, info } = n;
  const allocated = (share(requested.cpu + r.cpu, info.allocatable.cpu) + share(requested.memory + r.memory, info.allocatable.memory)) / 2;
  return strategy === "Binpack" ? allocated : 1 - allocated;
}

/** The kube-scheduler style summary: counts descending, then reason name. */
function summarize(total: number, failures: readonly number[]): Unschedulable {
  const counted = reasons
    .map((reason, i) => [reason, failures[i] ?? 0] as const)
    .filter(([, count]) => count > 0)
    .sort(([ra, a], [rb, b]) => b - a || (ra < rb ? -1 : ra > rb ? 1 : 0));
  const summary = counted.map(([reason, count]) => `${count} ${reason}`).join(", ");
  return {
    unschedulable: `0/${total} nodes are available${summary ? `: ${summary}` : ""}.`,
    reasons: Object.fromEntries(counted),
  };
}

export interface Placement {
  pod: string;
  node: string;
}

export type GangDecision = { placements: Placement[] } | (Unschedulable & { pod: string });

/**
 * All or nothing: places the members in order, each seeing the ones before it, so capacity and
 * anti-affinity hold across the gang. The snapshot is returned to its state on entry either way.
 */
export function scheduleGang(pods: readonly PodRequest[], snapshot: Snapshot, strategy: StrategyOf): GangDecision {
  const placements: Placement[] = [];
  try {
    for (const pod of pods) {
      const d = schedule(pod, snapshot, strategy);
      if ("unschedulable" in d) {
        return { ...d, pod: pod.key, unschedulable: `gang member ${pod.key} does not fit: ${d.unschedulable}` };
      }
      snapshot.assume(d.node, placedPod(pod));
      placements.push({ pod: pod.key, node: d.node });
    }
    return { placements };
  } finally {
    for (const p of placements.toReversed()) snapshot.forget(p.node, p.pod);
  }
}
