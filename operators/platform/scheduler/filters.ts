// The scheduler's filters, in the fixed order that decides under which reason a node is counted.
// The first ones judge the node itself; the last ones judge what is on it, which eviction can change.
import type { NodeSelectorRequirement, NodeState, PlacedPod, PodRequest, Snapshot, Taint, Toleration } from "./snapshot.ts";
import { nodeLabels } from "../../api/platform.ts";

/** The node selector keys that get a reason of their own; any other key is a plain selector mismatch. */
const { arch: archLabel, cpuVendor: cpuVendorLabel, zone: zoneLabel, cell: cellLabel } = nodeLabels;
const namedSelectors = new Set<string>([archLabel, cpuVendorLabel, zoneLabel, cellLabel]);

/** A pod read once per decision, so the per-node loop does no parsing and no map building. */
export interface Candidate {
  readonly pod: PodRequest;
  readonly otherSelectors: readonly (readonly [string, string])[];
  /** Members of the spread group per domain value, and of the anti-affinity group per host. */
  readonly spreadCounts: ReadonlyMap<string, number> | undefined;
  readonly antiCounts: ReadonlyMap<string, number> | undefined;
}

/** Valid until the snapshot next changes: the counts are the snapshot's live maps. */
export function prepare(pod: PodRequest, snapshot: Snapshot): Candidate {
  const otherSelectors = Object.entries(pod.nodeSelector).filter(([k]) => !namedSelectors.has(k));
  const spreadCounts = pod.spread && snapshot.domainCounts(pod.spread.group, pod.spread.domain);
  const antiCounts = pod.antiAffinityGroup === undefined ? undefined : snapshot.domainCounts(pod.antiAffinityGroup, "host");
  return { pod, otherSelectors, spreadCounts, antiCounts };
}

/** What evicting some of a node's pods gives back: resources, and group members per group on that node. */
export interface FreedView {
  readonly cpu: number;
  readonly memory: number;
  readonly pods: number;
  readonly groups: ReadonlyMap<string, number>;
}

/** Nothing evicted: what schedule() checks against. */
const nothingFreed: FreedView = { cpu: 0, memory: 0, pods: 0, groups: new Map() };

/** Preemption's running total while it picks victims; add(p, -1) gives a victim back. */
export class Freed implements FreedView {
  cpu = 0;
  memory = 0;
  pods = 0;
  readonly groups = new Map<string, number>();

  add(p: PlacedPod, sign: 1 | -1 = 1): void {
    this.cpu += sign * p.requests.cpu;
    this.memory += sign * p.requests.memory;
    this.pods += sign * p.requests.pods;
    for (const g of new Set(p.groups)) this.groups.set(g, (this.groups.get(g) ?? 0) + sign);
  }
}

type Check = (c: Candidate, n: NodeState, freed: FreedView) => boolean;

function tolerates(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  return t.operator === "Exists" || (t.value ?? "") === (taint.value ?? "");
}

// PreferNoSchedule only steers scoring in Kubernetes; it never excludes a node.
const toleratesTaints: Check = ({ pod }, n) =>
  n.info.taints.every((taint) => taint.effect === "PreferNoSchedule" || pod.tolerations.some((t) => tolerates(t, taint)));

const selectorIs = (label: string): Check => ({ pod }, n) => {
  const want = pod.nodeSelector[label];
  return want === undefined || n.info.labels[label] === want;
};

function matches(r: NodeSelectorRequirement, labels: Readonly<Record<string, string>>): boolean {
  const v = labels[r.key];
  switch (r.operator) {
    case "In": return v !== undefined && (r.values ?? []).includes(v);
    case "NotIn": return v === undefined || !(r.values ?? []).includes(v);
    case "Exists": return v !== undefined;
    case "DoesNotExist": return v === undefined;
  }
}

// No terms means no constraint; an empty term matches no node, as in Kubernetes.
const affinityMatches: Check = ({ pod }, n) => {
  const terms = pod.requiredAffinity;
  if (!terms || terms.length === 0) return true;
  return terms.some((term) => term.length > 0 && term.every((r) => matches(r, n.info.labels)));
};

const spreadAllows: Check = ({ pod, spreadCounts }, n, freed) => {
  const s = pod.spread;
  if (!s || s.mode !== "strict") return true;
  const domain = n.domains[s.domain];
  if (domain === undefined) return false; // a node outside every rack cannot prove the rack is not full
  const members = (spreadCounts?.get(domain) ?? 0) - (freed.groups.get(s.group) ?? 0);
  return members < (s.maxPerDomain ?? 1);
};

const antiAffinityAllows: Check = ({ pod, antiCounts }, n, freed) => {
  const g = pod.antiAffinityGroup;
  if (g === undefined) return true;
  return (antiCounts?.get(n.info.name) ?? 0) - (freed.groups.get(g) ?? 0) <= 0;
};

interface Filter {
  readonly reason: string;
  readonly check: Check;
}

const filter = <R extends string>(reason: R, check: Check) => ({ reason, check });

/** Reasons exactly as they appear in "0/N nodes are available: …". */
const filters = [
  filter("node not ready", (_, n) => n.info.ready),
  filter("node unschedulable", (_, n) => !n.info.unschedulable),
  filter("untolerated taint", toleratesTaints),
  filter("wrong architecture", selectorIs(archLabel)),
  filter("wrong cpu vendor", selectorIs(cpuVendorLabel)),
  filter("wrong zone", selectorIs(zoneLabel)),
  filter("wrong cell", selectorIs(cellLabel)),
  filter("node selector mismatch", ({ otherSelectors }, n) => otherSelectors.every(([k, v]) => n.info.labels[k] === v)),
  filter("node affinity mismatch", affinityMatches),
  filter("insufficient cpu", ({ pod }, n, f) => n.requested.cpu - f.cpu + pod.requests.cpu <= n.info.allocatable.cpu),
  filter("insufficient memory", ({ pod }, n, f) => n.requested.memory - f.memory + pod.requests.memory <= n.info.allocatable.memory),
  filter("too many pods", ({ pod }, n, f) => n.requested.pods - f.pods + pod.requests.pods <= n.info.allocatable.pods),
  filter("spread constraint", spreadAllows),
  filter("anti-affinity", antiAffinityAllows),
];

export type Reason = (typeof filters)[number]["reason"];
export const reasons: readonly Reason[] = filters.map((f) => f.reason);

// Filters before "insufficient cpu" judge the node alone; evicting pods cannot make them pass.
const firstEvictable = reasons.indexOf("insufficient cpu");
const nodeFilters = filters.slice(0, firstEvictable);
const fitFilters = filters.slice(firstEvictable);

/** Index into `reasons` of the first filter the node fails, or -1 when the pod fits. */
function firstFailure(list: readonly Filter[], offset: number, c: Candidate, n: NodeState): number {
  let i = offset;
  for (const f of list) {
    if (!f.check(c, n, nothingFreed)) return i;
    i++;
  }
  return -1;
}

/** The nodes that pass every node-only filter, and how many failed each (indexed like `reasons`). */
export interface Eligibility {
  readonly nodes: readonly NodeState[];
  readonly failures: readonly number[];
}

// Node facts never change within a snapshot and most pods share a handful of shapes (selector,
// tolerations, affinity), so the node-only filters run once per shape rather than once per pod.
// Keyed weakly by snapshot, so a snapshot's memo goes when the snapshot does.
const eligibilityMemo = new WeakMap<Snapshot, Map<string, Eligibility>>();
const maxShapesPerSnapshot = 1024; // a bound on memory if every pod has a shape of its own

const shapeKey = (pod: PodRequest): string =>
  JSON.stringify([Object.entries(pod.nodeSelector).sort(), pod.tolerations, pod.requiredAffinity ?? null]);

/** Memoized per snapshot and pod shape; the result's node list is in name order. */
export function eligibleNodes(c: Candidate, snapshot: Snapshot): Eligibility {
  let memo = eligibilityMemo.get(snapshot);
  if (!memo) eligibilityMemo.set(snapshot, (memo = new Map()));
  const key = shapeKey(c.pod);
  const known = memo.get(key);
  if (known) return known;
  if (memo.size >= maxShapesPerSnapshot) memo.clear();
  const nodes: NodeState[] = [];
  const failures = reasons.map(() => 0);
  for (const n of snapshot.nodes) {
    const failed = firstFailure(nodeFilters, 0, c, n);
    if (failed < 0) nodes.push(n);
    else failures[failed] = (failures[failed] ?? 0) + 1;
  }
  const computed = { nodes, failures };
  memo.set(key, computed);
  return computed;
}

/** Index into `reasons` of the first capacity, spread or anti-affinity filter an eligible node fails, or -1. */
export function firstFitFailure(c: Candidate, n: NodeState): number {
  return firstFailure(fitFilters, firstEvictable, c, n);
}

/** Whether the pod passes every filter once `freed` has been evicted; call only on an eligible node. */
export function fitsAfterEviction(c: Candidate, n: NodeState, freed: FreedView): boolean {
  return fitFilters.every((f) => f.check(c, n, freed));
}
