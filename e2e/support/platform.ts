// The platform.cellcloud.io kinds through client-node's CustomObjectsApi, as a user drives them;
// their coordinates come from operators/api, so suites never spell the group or version again.
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import type { DefinedKind } from "../../operators/api/crd.ts";
import { Cell, ExternalIPPool, NodePool, StoragePool } from "../../operators/api/platform.ts";

export interface Condition { type: string; status: string; reason: string; message: string }

export interface PlatformObject {
  metadata: { name: string; uid?: string; generation?: number; finalizers?: string[]; labels?: Record<string, string>; deletionTimestamp?: string };
  spec: Record<string, unknown>;
  status?: { observedGeneration?: number; conditions?: Condition[]; [field: string]: unknown };
}

type JsonPatch = Array<{ op: string; path: string; value?: unknown }>;

function clusterKind(api: CustomObjectsApi, kind: DefinedKind) {
  const at = { group: kind.group, version: kind.version, plural: kind.plural };
  return {
    create: (name: string, spec: Record<string, unknown>, labels?: Record<string, string>) =>
      api.createClusterCustomObject({ ...at, body: { apiVersion: kind.apiVersion, kind: kind.kind, metadata: { name, labels }, spec } }) as Promise<PlatformObject>,
    read: async (name: string) => (await api.getClusterCustomObject({ ...at, name })) as PlatformObject,
    list: async (labelSelector?: string) => ((await api.listClusterCustomObject({ ...at, labelSelector })) as { items: PlatformObject[] }).items,
    patch: (name: string, body: JsonPatch) => api.patchClusterCustomObject({ ...at, name, body }),
    delete: (name: string) => api.deleteClusterCustomObject({ ...at, name }),
  };
}

export type ClusterKind = ReturnType<typeof clusterKind>;

/** Cells, NodePools, StoragePools and ExternalIPPools of the cluster `kc` points at. */
export function platformIn(kc: KubeConfig) {
  const api = kc.makeApiClient(CustomObjectsApi);
  return {
    cells: clusterKind(api, Cell),
    nodePools: clusterKind(api, NodePool),
    storagePools: clusterKind(api, StoragePool),
    externalIPPools: clusterKind(api, ExternalIPPool),
  };
}

export function conditionOf(obj: PlatformObject, type = "Ready"): Condition | undefined {
  return obj.status?.conditions?.find((c) => c.type === type);
}

/** Ready has the given status for the object's current generation. */
export function isReadyAtGeneration(obj: PlatformObject, status = "True"): boolean {
  return conditionOf(obj)?.status === status && obj.status?.observedGeneration === obj.metadata.generation;
}

/** A small pool spec; override what a test cares about. */
export function poolSpec(cell: string, o: Record<string, unknown> = {}): Record<string, unknown> {
  return { cell, architecture: "amd64", cpuVendor: "intel", nodes: 2, capacity: { cpu: "8", memory: "32Gi" }, ...o };
}
