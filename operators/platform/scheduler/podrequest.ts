// Kubernetes objects → the placement model: a Pod becomes a PodRequest (what it asks for) or a
// PlacedPod (what it occupies), a Node becomes NodeInfo. Pure; no client.
import type * as k8s from "@kubernetes/client-node";
import { schedulerName, schedulingAnnotations } from "../../api/platform.ts";
import { ReasonedError } from "../../runtime/errors.ts";
import { keyOf } from "../../runtime/types.ts";
import { bytes, cpuMillis } from "../../api/quantity.ts";
import { domainKinds, type DomainKind, type NodeInfo, type NodeSelectorRequirement, type PlacedPod, type PodRequest, type Resources, type SpreadConstraint, type Taint } from "./snapshot.ts";

const annotations = schedulingAnnotations;

/** A pod that asks for something the scheduler cannot place by: shown on the pod, never retried blindly. */
export class InvalidPodError extends ReasonedError {
  constructor(message: string) {
    super("InvalidSchedulingRequest", message);
  }
}

export interface Gang {
  key: string; // namespace/name
  size: number;
}

const zero = (): Resources => ({ cpu: 0, memory: 0, pods: 1 });

function containerRequests(c: k8s.V1Container): { cpu: number; memory: number } {
  const r = c.resources?.requests ?? {};
  return { cpu: r.cpu === undefined ? 0 : cpuMillis(r.cpu), memory: r.memory === undefined ? 0 : bytes(r.memory) };
}

/** As kube-scheduler counts them: the sum of containers, at least the largest init container, plus overhead. */
export function podResources(pod: k8s.V1Pod): Resources {
  const total = zero();
  for (const c of pod.spec?.containers ?? []) {
    const r = containerRequests(c);
    total.cpu += r.cpu;
    total.memory += r.memory;
  }
  for (const c of pod.spec?.initContainers ?? []) {
    const r = containerRequests(c);
    total.cpu = Math.max(total.cpu, r.cpu);
    total.memory = Math.max(total.memory, r.memory);
  }
  const o = pod.spec?.overhead ?? {};
  if (o.cpu !== undefined) total.cpu += cpuMillis(o.cpu);
  if (o.memory !== undefined) total.memory += bytes(o.memory);
  return total;
}

const groupKey = (pod: k8s.V1Pod, name: string): string => `${pod.metadata?.namespace ?? ""}/${name}`;

function spreadOf(pod: k8s.V1Pod): SpreadConstraint | undefined {
  const a = pod.metadata?.annotations ?? {};
  const group = a[annotations.spreadGroup];
  if (!group) return undefined;
  const domain = a[annotations.spreadDomain] ?? "host";
  if (!domainKinds.includes(domain as DomainKind)) {
    throw new InvalidPodError(`annotation ${annotations.spreadDomain} must be host, rack or switch, not "${domain}"`);
  }
  const mode = a[annotations.spreadMode] ?? "strict";
  if (mode !== "strict" && mode !== "best-effort") {
    throw new InvalidPodError(`annotation ${annotations.spreadMode} must be strict or best-effort, not "${mode}"`);
  }
  const maxText = a[annotations.spreadMax] ?? "1";
  const max = Number(maxText);
  if (!Number.isInteger(max) || max < 1) throw new InvalidPodError(`annotation ${annotations.spreadMax} must be a whole number ≥ 1, not "${maxText}"`);
  return { group: groupKey(pod, group), domain: domain as DomainKind, mode, maxPerDomain: max };
}

function antiAffinityOf(pod: k8s.V1Pod): string | undefined {
  const g = pod.metadata?.annotations?.[annotations.antiAffinityGroup];
  return g ? groupKey(pod, g) : undefined;
}

/** The groups a placed pod counts in; lenient, since pods placed by other schedulers are counted too. */
export function placedPodOf(pod: k8s.V1Pod): PlacedPod {
  let spread: string | undefined;
  try {
    spread = spreadOf(pod)?.group;
  } catch {
    spread = undefined;
  }
  const anti = antiAffinityOf(pod);
  const groups = [...new Set([spread, anti].filter((g) => g !== undefined))];
  let requests: Resources;
  try {
    requests = podResources(pod);
  } catch {
    requests = zero(); // the apiserver validated the quantities; this only guards against a parser gap
  }
  return { key: keyOf(pod as { metadata: { name: string; namespace?: string } }), priority: pod.spec?.priority ?? 0, requests, groups };
}

export function gangOf(pod: k8s.V1Pod): Gang | undefined {
  const a = pod.metadata?.annotations ?? {};
  const name = a[annotations.gang];
  if (!name) return undefined;
  const sizeText = a[annotations.gangSize];
  const size = Number(sizeText);
  if (!Number.isInteger(size) || size < 1) {
    throw new InvalidPodError(`annotation ${annotations.gangSize} must be a whole number ≥ 1 when ${annotations.gang} is set, not "${sizeText ?? ""}"`);
  }
  return { key: groupKey(pod, name), size };
}

const operators = new Set(["In", "NotIn", "Exists", "DoesNotExist"]);

function requiredAffinityOf(pod: k8s.V1Pod): NodeSelectorRequirement[][] | undefined {
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms) return undefined;
  return terms.map((t, i) => {
    const fields = (t.matchFields ?? []).map((f) => {
      if (f.key !== "metadata.name") throw new InvalidPodError(`spec.affinity.nodeAffinity term ${i}: matchFields supports only metadata.name, not ${f.key}`);
      return { ...f, key: "kubernetes.io/hostname" };
    });
    return [...(t.matchExpressions ?? []), ...fields].map((r) => {
      if (!operators.has(r.operator)) {
        throw new InvalidPodError(`spec.affinity.nodeAffinity term ${i}: operator ${r.operator} on ${r.key} is not supported (use In, NotIn, Exists or DoesNotExist)`);
      }
      return { key: r.key, operator: r.operator as NodeSelectorRequirement["operator"], ...(r.values ? { values: r.values } : {}) };
    });
  });
}

/** What the pod asks for; throws InvalidPodError for what this scheduler cannot honour rather than ignore it. */
export function podRequest(pod: k8s.V1Pod): PodRequest {
  const spec = pod.spec;
  if (spec?.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length ||
      spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.length) {
    throw new InvalidPodError(`required pod (anti-)affinity is not supported by ${schedulerName}; use the ${annotations.antiAffinityGroup} or ${annotations.spreadGroup} annotations`);
  }
  if (spec?.topologySpreadConstraints?.some((c) => c.whenUnsatisfiable === "DoNotSchedule")) {
    throw new InvalidPodError(`spec.topologySpreadConstraints is not supported by ${schedulerName}; use the ${annotations.spreadGroup} annotations`);
  }
  let requests: Resources;
  try {
    requests = podResources(pod);
  } catch (e) {
    throw new InvalidPodError(`resource requests: ${e instanceof Error ? e.message : String(e)}`);
  }
  const requiredAffinity = requiredAffinityOf(pod);
  const spread = spreadOf(pod);
  const antiAffinityGroup = antiAffinityOf(pod);
  return {
    key: keyOf(pod as { metadata: { name: string; namespace?: string } }),
    priority: spec?.priority ?? 0,
    requests,
    nodeSelector: spec?.nodeSelector ?? {},
    tolerations: (spec?.tolerations ?? []).map((t) => ({
      ...(t.key ? { key: t.key } : {}),
      ...(t.operator === "Exists" || t.operator === "Equal" ? { operator: t.operator } : {}),
      ...(t.value !== undefined ? { value: t.value } : {}),
      ...(t.effect ? { effect: t.effect } : {}),
    })),
    ...(requiredAffinity ? { requiredAffinity } : {}),
    ...(spread ? { spread } : {}),
    ...(antiAffinityGroup ? { antiAffinityGroup } : {}),
  };
}

/** A pod that holds node resources: bound and not finished. Terminating pods still count, as in kube-scheduler. */
export function occupiesNode(pod: k8s.V1Pod): boolean {
  const phase = pod.status?.phase;
  return !!pod.spec?.nodeName && phase !== "Succeeded" && phase !== "Failed";
}

/** A pod this scheduler should place now. */
export function wantsScheduling(pod: k8s.V1Pod): boolean {
  const spec = pod.spec;
  return spec?.schedulerName === schedulerName && !spec.nodeName && !pod.metadata?.deletionTimestamp &&
    !(spec.schedulingGates?.length) && pod.status?.phase !== "Succeeded" && pod.status?.phase !== "Failed";
}

const effects = new Set(["NoSchedule", "PreferNoSchedule", "NoExecute"]);

/** A Node's facts, without pods. Unparseable allocatable counts as zero: such a node takes nothing. */
export function nodeFacts(node: k8s.V1Node): Omit<NodeInfo, "pods"> {
  const a = node.status?.allocatable ?? {};
  const parse = (f: () => number): number => {
    try {
      return f();
    } catch {
      return 0;
    }
  };
  return {
    name: node.metadata?.name ?? "",
    labels: node.metadata?.labels ?? {},
    taints: (node.spec?.taints ?? []).filter((t) => effects.has(t.effect)).map((t) => ({
      key: t.key, ...(t.value !== undefined ? { value: t.value } : {}), effect: t.effect as Taint["effect"],
    })),
    unschedulable: node.spec?.unschedulable === true,
    ready: node.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false,
    allocatable: {
      cpu: parse(() => cpuMillis(a.cpu ?? 0)),
      memory: parse(() => bytes(a.memory ?? 0)),
      pods: parse(() => Math.floor(Number(a.pods ?? 0))),
    },
  };
}
