// Placement validity after a bench run, checked from what the apiserver holds (nodes and bound pods),
// the same way for both schedulers: no node over its allocatable (cpu, memory, pods); every pod on a
// node its nodeSelector, required node affinity and tolerations (of deliberate taints) allow; every strict spread group
// within its per-domain maximum; every pod bound (or the unbound ones named). Pure.
import { bytes, cpuMillis } from "../../operators/api/quantity.ts";

export const spreadAnnotations = {
  group: "scheduling.cellcloud.io/spread-group",
  domain: "scheduling.cellcloud.io/spread-domain",
  mode: "scheduling.cellcloud.io/spread-mode",
  max: "scheduling.cellcloud.io/spread-max",
} as const;
export const domainLabels: Record<string, string | undefined> = {
  rack: "cellcloud.io/rack",
  switch: "cellcloud.io/switch",
};

export interface Resources {
  cpu: number; // millicores
  memory: number; // bytes
  pods: number;
}

export interface Taint {
  key: string;
  value?: string;
  effect: string;
}

export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
}

export interface NodeSelectorRequirement {
  key: string;
  operator: string;
  values?: string[];
}

export interface NodeFacts {
  name: string;
  labels: Record<string, string>;
  taints: Taint[];
  allocatable: Resources;
}

export interface PodFacts {
  key: string; // namespace/name
  namespace: string;
  nodeName?: string;
  requests: { cpu: number; memory: number };
  nodeSelector: Record<string, string>;
  /** nodeSelectorTerms: OR of ANDed matchExpressions. */
  requiredAffinity?: NodeSelectorRequirement[][];
  tolerations: Toleration[];
  annotations: Record<string, string>;
}

export interface Violation {
  kind: "over-capacity" | "node-selector" | "node-affinity" | "taint" | "strict-spread" | "unknown-node";
  subject: string; // node name or pod key or spread group
  detail: string;
}

export interface ValidityReport {
  ok: boolean;
  bound: number;
  unbound: string[];
  violations: Violation[];
}

/** Checks a placement; `unbound` lists every pod without a node (a run expects none). */
export function validatePlacement(nodes: readonly NodeFacts[], pods: readonly PodFacts[]): ValidityReport {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const used = new Map<string, Resources>();
  const violations: Violation[] = [];
  const unbound: string[] = [];
  // spread group → domain value → member count, with the group's strict maximum.
  const spread = new Map<string, { max: number; domain: string; counts: Map<string, number> }>();
  let bound = 0;

  for (const pod of pods) {
    if (!pod.nodeName) {
      unbound.push(pod.key);
      continue;
    }
    bound++;
    const node = byName.get(pod.nodeName);
    if (!node) {
      violations.push({ kind: "unknown-node", subject: pod.key, detail: `bound to ${pod.nodeName}, which is not in the node set` });
      continue;
    }
    const u = used.get(node.name) ?? { cpu: 0, memory: 0, pods: 0 };
    u.cpu += pod.requests.cpu;
    u.memory += pod.requests.memory;
    u.pods += 1;
    used.set(node.name, u);

    for (const [k, v] of Object.entries(pod.nodeSelector)) {
      if (node.labels[k] !== v) {
        violations.push({ kind: "node-selector", subject: pod.key, detail: `${k}=${v} but node ${node.name} has ${k}=${node.labels[k] ?? "(unset)"}` });
      }
    }
    if (pod.requiredAffinity && !pod.requiredAffinity.some((term) => term.every((r) => matches(r, node.labels)))) {
      violations.push({ kind: "node-affinity", subject: pod.key, detail: `node ${node.name} matches no required nodeSelectorTerm` });
    }
    for (const t of node.taints) {
      // The node controller's own taints (unreachable, not-ready…) come and go with heartbeats after
      // a pod is bound; only taints someone put on purpose can be judged after the fact.
      if (t.key.startsWith("node.kubernetes.io/")) continue;
      if ((t.effect === "NoSchedule" || t.effect === "NoExecute") && !pod.tolerations.some((tol) => tolerates(tol, t))) {
        violations.push({ kind: "taint", subject: pod.key, detail: `node ${node.name} has ${t.key}=${t.value ?? ""}:${t.effect}, not tolerated` });
      }
    }

    const group = pod.annotations[spreadAnnotations.group];
    if (group && (pod.annotations[spreadAnnotations.mode] ?? "strict") === "strict") {
      const domain = pod.annotations[spreadAnnotations.domain] ?? "host";
      const max = Number(pod.annotations[spreadAnnotations.max] ?? "1") || 1;
      const id = `${pod.namespace}/${group}`;
      const g = spread.get(id) ?? { max, domain, counts: new Map<string, number>() };
      spread.set(id, g);
      const label = domainLabels[domain];
      const value = domain === "host" ? node.name : label ? node.labels[label] : undefined;
      if (value === undefined) {
        violations.push({ kind: "strict-spread", subject: id, detail: `${pod.key} on ${node.name}, which has no ${domain} domain` });
        continue;
      }
      g.counts.set(value, (g.counts.get(value) ?? 0) + 1);
    }
  }

  for (const node of nodes) {
    const u = used.get(node.name);
    if (!u) continue;
    const a = node.allocatable;
    const over = (["cpu", "memory", "pods"] as const).filter((r) => u[r] > a[r]);
    if (over.length) {
      violations.push({
        kind: "over-capacity",
        subject: node.name,
        detail: over.map((r) => `${r} ${u[r]} > allocatable ${a[r]}`).join(", "),
      });
    }
  }
  for (const [id, g] of spread) {
    for (const [value, n] of g.counts) {
      if (n > g.max) violations.push({ kind: "strict-spread", subject: id, detail: `${n} members in ${g.domain} ${value} (max ${g.max})` });
    }
  }
  return { ok: violations.length === 0 && unbound.length === 0, bound, unbound, violations };
}

export function matches(r: NodeSelectorRequirement, labels: Record<string, string>): boolean {
  const v = labels[r.key];
  const values = r.values ?? [];
  switch (r.operator) {
    case "In":
      return v !== undefined && values.includes(v);
    case "NotIn":
      return v === undefined || !values.includes(v);
    case "Exists":
      return v !== undefined;
    case "DoesNotExist":
      return v === undefined;
    case "Gt":
      return v !== undefined && Number(v) > Number(values[0]);
    case "Lt":
      return v !== undefined && Number(v) < Number(values[0]);
    default:
      return false;
  }
}

/** Kubernetes semantics: an empty key with Exists tolerates everything; an empty effect matches all effects. */
export function tolerates(tol: Toleration, t: Taint): boolean {
  if (tol.effect && tol.effect !== t.effect) return false;
  if (!tol.key) return tol.operator === "Exists";
  if (tol.key !== t.key) return false;
  return tol.operator === "Exists" || (tol.value ?? "") === (t.value ?? "");
}

// --- from apiserver JSON -------------------------------------------------------------------------

type Quantities = Record<string, string | number> | undefined;
interface ContainerJson {
  resources?: { requests?: Quantities };
}
export interface PodJson {
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: {
    nodeName?: string;
    nodeSelector?: Record<string, string>;
    tolerations?: Toleration[];
    containers?: ContainerJson[];
    initContainers?: ContainerJson[];
    overhead?: Quantities;
    affinity?: { nodeAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: Array<{ matchExpressions?: NodeSelectorRequirement[] }> } } };
  };
}
export interface NodeJson {
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { taints?: Taint[] };
  status?: { allocatable?: Quantities };
}

export function nodeFacts(n: NodeJson): NodeFacts {
  const a = n.status?.allocatable ?? {};
  return {
    name: n.metadata.name,
    labels: n.metadata.labels ?? {},
    taints: n.spec?.taints ?? [],
    allocatable: { cpu: cpuMillis(a.cpu ?? 0), memory: bytes(a.memory ?? 0), pods: Number(a.pods ?? 0) },
  };
}

/** Effective requests as the schedulers count them: max(sum of containers, each init container) + overhead. */
export function podFacts(p: PodJson): PodFacts {
  const req = (c: ContainerJson, r: "cpu" | "memory") => {
    const q = c.resources?.requests?.[r];
    return q === undefined ? 0 : r === "cpu" ? cpuMillis(q) : bytes(q);
  };
  const spec = p.spec ?? {};
  const total = { cpu: 0, memory: 0 };
  for (const r of ["cpu", "memory"] as const) {
    const sum = (spec.containers ?? []).reduce((s, c) => s + req(c, r), 0);
    const init = Math.max(0, ...(spec.initContainers ?? []).map((c) => req(c, r)));
    const overhead = spec.overhead?.[r];
    total[r] = Math.max(sum, init) + (overhead === undefined ? 0 : r === "cpu" ? cpuMillis(overhead) : bytes(overhead));
  }
  const terms = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  const namespace = p.metadata.namespace ?? "default";
  return {
    key: `${namespace}/${p.metadata.name}`,
    namespace,
    ...(spec.nodeName ? { nodeName: spec.nodeName } : {}),
    requests: total,
    nodeSelector: spec.nodeSelector ?? {},
    ...(terms ? { requiredAffinity: terms.map((t) => t.matchExpressions ?? []) } : {}),
    tolerations: spec.tolerations ?? [],
    annotations: p.metadata.annotations ?? {},
  };
}

/** A few lines for the report: counts by kind plus the first examples. */
export function describeReport(r: ValidityReport, examples = 3): string[] {
  const lines: string[] = [];
  if (r.unbound.length) lines.push(`${r.unbound.length} pod(s) unbound, e.g. ${r.unbound.slice(0, examples).join(", ")}`);
  const byKind = new Map<string, Violation[]>();
  for (const v of r.violations) byKind.set(v.kind, [...(byKind.get(v.kind) ?? []), v]);
  for (const [kind, vs] of byKind) {
    lines.push(`${vs.length} ${kind} violation(s), e.g. ${vs.slice(0, examples).map((v) => `${v.subject}: ${v.detail}`).join("; ")}`);
  }
  return lines;
}
