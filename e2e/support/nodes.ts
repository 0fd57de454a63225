// Simulated hosts: Node objects that KWOK manages (it keeps them Ready and runs their pods).
import type * as k8s from "@kubernetes/client-node";
import { eventually } from "./kube.ts";

export const KWOK_ANNOTATION = "kwok.x-k8s.io/node";
/** Label honoured by the KWOK chaos stage in charts/cellcloud/files/kwok-stages.yaml: the node reports Ready=False. */
export const NODE_NOT_READY_LABEL = "node-not-ready.stage.kwok.x-k8s.io";

export interface KwokNodeOptions {
  arch?: string;
  zone?: string;
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  taints?: k8s.V1Taint[];
}

export function kwokNode(name: string, opts: KwokNodeOptions = {}): k8s.V1Node {
  const capacity = { cpu: opts.cpu ?? "32", memory: opts.memory ?? "128Gi", pods: opts.pods ?? "110" };
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: {
      name,
      annotations: { [KWOK_ANNOTATION]: "fake" },
      labels: {
        "kubernetes.io/arch": opts.arch ?? "amd64",
        "kubernetes.io/os": "linux",
        "kubernetes.io/hostname": name,
        type: "kwok",
        "cellcloud.io/test": "true",
        ...(opts.zone ? { "topology.kubernetes.io/zone": opts.zone } : {}),
        ...opts.labels,
      },
    },
    spec: { providerID: `kwok://${name}`, ...(opts.taints ? { taints: opts.taints } : {}) },
    status: { capacity, allocatable: capacity, nodeInfo: { architecture: opts.arch ?? "amd64" } as k8s.V1NodeSystemInfo },
  };
}

export function condition(node: k8s.V1Node | k8s.V1Pod, type: string): string | undefined {
  const conds: Array<{ type: string; status: string }> = node.status?.conditions ?? [];
  return conds.find((c) => c.type === type)?.status;
}

/** Waits until `count` nodes match `labelSelector`, all Ready and free of the node controller's not-ready taints. */
export async function hostsReady(core: k8s.CoreV1Api, labelSelector: string, count: number, timeoutMs = 90_000): Promise<k8s.V1Node[]> {
  return eventually(async () => {
    const nodes = (await core.listNode({ labelSelector })).items;
    return nodes.length === count && nodes.every((n) => condition(n, "Ready") === "True" && !n.spec?.taints?.some((t) => t.key.startsWith("node.kubernetes.io/"))) && nodes;
  }, { what: `${count} hosts (${labelSelector}) Ready and untainted`, timeoutMs });
}
