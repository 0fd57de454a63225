// The node set and the pod set of the head-to-head, generated deterministically so every scheduler
// sees exactly the same objects (only spec.schedulerName differs). Pure.

export const benchLabel = "bench.cellcloud.io/scheduler";
export const groupLabel = "bench.cellcloud.io/group";
export const KWOK_ANNOTATION = "kwok.x-k8s.io/node";

export type Workload = "basic" | "spread";

export interface Scale {
  nodes: number;
  pods: number;
}

/** Hosts per rack and racks per switch of the simulated topology. */
export const topology = { hostsPerRack: 20, racksPerSwitch: 2 } as const;

/** 3 of every 5 hosts are amd64 (32 cpu / 128Gi), 2 are arm64 (48 cpu / 192Gi); 110 pods each. */
export function archOfNode(i: number): "amd64" | "arm64" {
  return i % 5 < 3 ? "amd64" : "arm64";
}

export function nodeName(i: number): string {
  return `bench-node-${String(i).padStart(5, "0")}`;
}

export interface NodeJson {
  apiVersion: "v1";
  kind: "Node";
  metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
  spec: { providerID: string };
  status: { capacity: Record<string, string>; allocatable: Record<string, string>; nodeInfo: { architecture: string; operatingSystem: string } };
}

/** Allocatable equals capacity: the head-to-head runs with an overcommit ratio of 1.0. */
export function benchNode(i: number): NodeJson {
  const name = nodeName(i);
  const arch = archOfNode(i);
  const rack = Math.floor(i / topology.hostsPerRack);
  const sw = Math.floor(rack / topology.racksPerSwitch);
  const capacity = arch === "amd64" ? { cpu: "32", memory: "128Gi", pods: "110" } : { cpu: "48", memory: "192Gi", pods: "110" };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { [KWOK_ANNOTATION]: "fake" },
      labels: {
        [benchLabel]: "true",
        type: "kwok",
        "kubernetes.io/arch": arch,
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": name,
        "cellcloud.io/rack": `rack-${String(rack).padStart(4, "0")}`,
        "cellcloud.io/switch": `switch-${String(sw).padStart(4, "0")}`,
      },
    },
    spec: { providerID: `kwok://${name}` },
    status: { capacity, allocatable: { ...capacity }, nodeInfo: { architecture: arch, operatingSystem: "linux" } },
  };
}

/** Request sizes cycled through by the pods (SchedulingBasic-style: small, fixed, varied). */
export const podSizes = [
  { cpu: "250m", memory: "512Mi" },
  { cpu: "500m", memory: "1Gi" },
  { cpu: "1", memory: "2Gi" },
  { cpu: "100m", memory: "256Mi" },
] as const;

export interface PodJson {
  apiVersion: "v1";
  kind: "Pod";
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations?: Record<string, string> };
  spec: Record<string, unknown> & { schedulerName: string };
}

export interface PodOptions {
  namespace: string;
  /** Part of every pod name, unique per run: KWOK may still act on a deleted pod of the previous run by name. */
  runTag: string;
  schedulerName: string;
  workload: Workload;
  /** Members per strict host-spread group (spread workload). */
  groupSize: number;
  /** Also write the spread as PodTopologySpread (kube-scheduler's form; ours refuses such pods). */
  topologySpread: boolean;
}

/**
 * Pod i. basic: an arch nodeSelector in the node set's 3:2 ratio, except every tenth pod, which runs
 * anywhere. spread: groups of `groupSize` consecutive pods that must land on distinct hosts, written
 * as our annotations and, for kube-scheduler, also as PodTopologySpread (hostname, maxSkew 1,
 * DoNotSchedule), which is equivalent while a group is no larger than its eligible hosts. Our
 * scheduler refuses pods with a DoNotSchedule topologySpreadConstraint rather than ignore it, so its
 * pods carry the annotations only; otherwise the two pod sets differ only in schedulerName.
 */
export function benchPod(i: number, o: PodOptions): PodJson {
  const size = podSizes[i % podSizes.length]!;
  const group = o.workload === "spread" ? Math.floor(i / o.groupSize) : undefined;
  const archKey = group ?? i;
  const arch = archKey % 10 === 9 ? undefined : archOfNode(archKey);
  const labels: Record<string, string> = { [benchLabel]: "true" };
  const spec: PodJson["spec"] = {
    schedulerName: o.schedulerName,
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: 0,
    containers: [{ name: "app", image: "registry.k8s.io/pause:3.10", resources: { requests: { ...size } } }],
    ...(arch ? { nodeSelector: { "kubernetes.io/arch": arch } } : {}),
  };
  let annotations: Record<string, string> | undefined;
  if (group !== undefined) {
    const g = `g-${group}`;
    labels[groupLabel] = g;
    annotations = {
      "scheduling.cellcloud.io/spread-group": g,
      "scheduling.cellcloud.io/spread-domain": "host",
      "scheduling.cellcloud.io/spread-mode": "strict",
      "scheduling.cellcloud.io/spread-max": "1",
    };
    if (o.topologySpread) spec.topologySpreadConstraints = [{
      maxSkew: 1,
      topologyKey: "kubernetes.io/hostname",
      whenUnsatisfiable: "DoNotSchedule",
      labelSelector: { matchLabels: { [groupLabel]: g } },
    }];
  }
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: `bench-${o.runTag}-${String(i).padStart(6, "0")}`, namespace: o.namespace, labels, ...(annotations ? { annotations } : {}) },
    spec,
  };
}
