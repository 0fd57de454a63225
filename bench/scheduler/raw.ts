// The ceiling run ("raw"): Binding POSTs for placements decided before the clock starts, with our
// scheduler's client and bind concurrency (shared/BENCH.md "The ceilings"). The pure parts: a
// first-fit planner whose placements pass validate.ts, the bind cap read from the scheduler's source,
// and the Binding our scheduler writes.
import { domainLabels, matches, spreadAnnotations, tolerates, type NodeFacts, type PodFacts } from "./validate.ts";

export interface Placement {
  /** namespace/name */
  key: string;
  node: string;
}

export interface Plan {
  placements: Placement[];
  /** Pods no node could take (a run expects none). */
  unplaced: string[];
}

/**
 * First fit over the nodes in name order: each pod (in the given order) goes to the first node whose
 * free allocatable cpu, memory and pod slots hold its requests, whose labels satisfy its nodeSelector
 * and required node affinity, whose NoSchedule/NoExecute taints it tolerates, and that keeps every
 * strict spread group within its per-domain maximum. Pods already bound count against their node.
 */
export function planFirstFit(nodes: readonly NodeFacts[], pods: readonly PodFacts[]): Plan {
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const index = new Map(sorted.map((n, i) => [n.name, i]));
  const free = sorted.map((n) => ({ ...n.allocatable }));
  // "namespace/group" → domain value → members placed there.
  const spread = new Map<string, Map<string, number>>();
  const strictSpread = (pod: PodFacts) => {
    const group = pod.annotations[spreadAnnotations.group];
    if (!group || (pod.annotations[spreadAnnotations.mode] ?? "strict") !== "strict") return undefined;
    const domain = pod.annotations[spreadAnnotations.domain] ?? "host";
    const max = Number(pod.annotations[spreadAnnotations.max] ?? "1") || 1;
    const counts = spread.get(`${pod.namespace}/${group}`) ?? new Map<string, number>();
    spread.set(`${pod.namespace}/${group}`, counts);
    const label = domainLabels[domain];
    const valueOf = (n: NodeFacts) => (domain === "host" ? n.name : label ? n.labels[label] : undefined);
    return { max, counts, valueOf };
  };
  const take = (i: number, pod: PodFacts, s: ReturnType<typeof strictSpread>) => {
    const f = free[i]!;
    f.cpu -= pod.requests.cpu;
    f.memory -= pod.requests.memory;
    f.pods -= 1;
    const value = s?.valueOf(sorted[i]!);
    if (s && value !== undefined) s.counts.set(value, (s.counts.get(value) ?? 0) + 1);
  };

  const placements: Placement[] = [];
  const unplaced: string[] = [];
  const pending: PodFacts[] = [];
  for (const pod of pods) {
    const i = pod.nodeName === undefined ? undefined : index.get(pod.nodeName);
    if (i !== undefined) take(i, pod, strictSpread(pod));
    else if (pod.nodeName === undefined) pending.push(pod);
  }
  // Nodes before `start` have no room for even the smallest pending pod; skipping them changes nothing.
  const min = pending.reduce((m, p) => ({ cpu: Math.min(m.cpu, p.requests.cpu), memory: Math.min(m.memory, p.requests.memory) }), { cpu: Infinity, memory: Infinity });
  const full = (i: number) => free[i]!.pods < 1 || free[i]!.cpu < min.cpu || free[i]!.memory < min.memory;
  let start = 0;
  for (const pod of pending) {
    while (start < sorted.length && full(start)) start++;
    const s = strictSpread(pod);
    let chosen = -1;
    for (let i = start; i < sorted.length; i++) {
      const n = sorted[i]!;
      const f = free[i]!;
      if (f.pods < 1 || f.cpu < pod.requests.cpu || f.memory < pod.requests.memory) continue;
      if (!Object.entries(pod.nodeSelector).every(([k, v]) => n.labels[k] === v)) continue;
      if (pod.requiredAffinity && !pod.requiredAffinity.some((term) => term.every((r) => matches(r, n.labels)))) continue;
      if (n.taints.some((t) => (t.effect === "NoSchedule" || t.effect === "NoExecute") && !pod.tolerations.some((tol) => tolerates(tol, t)))) continue;
      if (s) {
        const value = s.valueOf(n);
        if (value === undefined || (s.counts.get(value) ?? 0) >= s.max) continue;
      }
      chosen = i;
      break;
    }
    if (chosen < 0) {
      unplaced.push(pod.key);
      continue;
    }
    take(chosen, pod, s);
    placements.push({ key: pod.key, node: sorted[chosen]!.name });
  }
  return { placements, unplaced };
}

/** The scheduler's cap on Bindings in flight (`const MAX_BINDS_IN_FLIGHT = N` in its source). */
export function bindCapOf(source: string): number | undefined {
  const m = /\bconst\s+MAX_BINDS_IN_FLIGHT\s*=\s*([\d_]+)\s*;/.exec(source);
  return m ? Number(m[1]!.replace(/_/g, "")) : undefined;
}

/** The Binding our scheduler POSTs to pods/<name>/binding (operators/platform/scheduler/scheduler.ts). */
export function binding(b: { namespace: string; name: string; uid?: string; node: string }): Record<string, unknown> {
  return {
    apiVersion: "v1", kind: "Binding",
    metadata: { name: b.name, namespace: b.namespace, ...(b.uid ? { uid: b.uid } : {}) },
    target: { apiVersion: "v1", kind: "Node", name: b.node },
  };
}
