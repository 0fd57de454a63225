// EVS as a user drives it: volume types, volumes and snapshots through the runtime's KubeClient.
import type * as k8s from "@kubernetes/client-node";
import { KubeClient } from "../../operators/runtime/kube.ts";
import type { KubeObject } from "../../operators/runtime/types.ts";
import type { Condition } from "./platform.ts";
import { VolumeRef, VolumeSnapshotRef, VolumeTypeRef } from "../../operators/api/storage.ts";

export interface StorageView extends KubeObject {
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    state?: string;
    capacity?: string;
    storagePool?: string;
    iops?: number;
    claim?: string;
    persistentVolume?: string;
    attachments?: Array<{ instance: string; node?: string }>;
    size?: string;
    restores?: number;
    provisioned?: string;
  };
}

export function storageIn(kc: k8s.KubeConfig, namespace: string) {
  const client = new KubeClient(kc);
  const body = (kind: string, name: string, spec: Record<string, unknown>, ns?: string, labels?: Record<string, string>) =>
    ({ apiVersion: "storage.cellcloud.io/v1alpha1", kind, metadata: { name, ...(ns ? { namespace: ns } : {}), ...(labels ? { labels } : {}) }, spec });
  const ready = (o: StorageView) => {
    const r = o.status?.conditions?.find((c) => c.type === "Ready");
    return r?.status === "True" && o.status?.observedGeneration === o.metadata.generation;
  };
  return {
    client,
    createType: (name: string, spec: Record<string, unknown>, labels?: Record<string, string>) => client.create<StorageView>(VolumeTypeRef, body("VolumeType", name, spec, undefined, labels)),
    deleteType: (name: string) => client.delete(VolumeTypeRef, name),
    create: (name: string, spec: Record<string, unknown>) => client.create<StorageView>(VolumeRef, body("Volume", name, spec, namespace)),
    read: (name: string) => client.get<StorageView>(VolumeRef, name, namespace),
    list: async () => (await client.list<StorageView>(VolumeRef, {}, namespace)).items,
    patch: (name: string, spec: Record<string, unknown>) => client.patch<StorageView>(VolumeRef, name, namespace, { spec }, "merge"),
    delete: (name: string) => client.delete(VolumeRef, name, namespace),
    snapshot: (name: string, volume: string, labels?: Record<string, string>) => client.create<StorageView>(VolumeSnapshotRef, body("VolumeSnapshot", name, { volume }, namespace, labels)),
    readSnapshot: (name: string) => client.get<StorageView>(VolumeSnapshotRef, name, namespace),
    snapshots: async (labelSelector?: string) => (await client.list<StorageView>(VolumeSnapshotRef, labelSelector ? { labelSelector } : {}, namespace)).items.filter((s) => !s.metadata.deletionTimestamp),
    deleteSnapshot: (name: string) => client.delete(VolumeSnapshotRef, name, namespace),
    /** The volume, once Ready at its current generation (optionally in a given state). */
    settled: async (name: string, state?: string) => {
      const v = await client.get<StorageView>(VolumeRef, name, namespace);
      return ready(v) && (!state || v.status?.state === state) && v;
    },
    snapshotReady: async (name: string) => { const s = await client.get<StorageView>(VolumeSnapshotRef, name, namespace); return ready(s) && s; },
  };
}
