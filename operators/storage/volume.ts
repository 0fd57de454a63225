// EVS volumes' pure logic: IOPS from the type's formula, which pool a volume is carved from (thin
// provisioning, never over the pool's allocatable), which instances it is attached to, the
// PersistentVolume and claim that realize it, and the snapshot schedule. No client.
import type * as k8s from "@kubernetes/client-node";
import { DRIVER, MAX_ATTACHMENTS, STORAGE_CLASS, VolumeRef, claimName, pvName, volumeLabels, type VolumeObj, type VolumeTypeSpec } from "../api/storage.ts";
import { controllerRef } from "../runtime/objects.ts";
import type { KubeObject } from "../runtime/types.ts";
import { bytes, formatBytes } from "../api/quantity.ts";

export type { VolumeObj };

const GiB = 2 ** 30;

export function iopsFor(type: VolumeTypeSpec, sizeBytes: number): number {
  return Math.min(type.iops.max, type.iops.base + type.iops.perGiB * Math.floor(sizeBytes / GiB));
}

export interface PoolView {
  name: string;
  zone: string | undefined;
  mediaType: string;
  allocatable: number;
  provisioned: number;
}

/**
 * Whether a StoragePool event may have made room for a volume waiting for one: a new pool, a spec
 * change (capacity, ratio), or more available than before (a volume freed its share). Placement
 * reads the pools' specs and the volumes, never the pools' status, so a pool status that only
 * shrinks while volumes are provisioned wakes no one. At 3,000 volumes (bench/scale) the pool's
 * status was written 877 times, each waking every unplaced volume (volume reconciles 57,192 before,
 * 53,333 after; most of the rest were the 3 s binding poll, see volume-plan.ts).
 */
export function poolRoomMayHaveGrown(pool: StoragePoolLike, old: StoragePoolLike | undefined): boolean {
  if (!old || old.metadata.generation !== pool.metadata.generation) return true;
  const now = pool.status?.available;
  const was = old.status?.available;
  if (now === undefined || was === undefined) return now !== was;
  return bytes(now) > bytes(was);
}

interface StoragePoolLike { metadata: { generation?: number }; status?: { available?: string } }

export type PoolChoice = { pool: string } | { reason: string; message: string };

/**
 * A pool of the volume's zone and media with room for `need` bytes: the one with the most room left
 * (spreading volumes over pools). Thin provisioning: room = allocatable (physical × ratio) − provisioned.
 */
export function pickPool(pools: readonly PoolView[], zone: string, mediaType: string, need: number): PoolChoice {
  const candidates = pools.filter((p) => p.zone === zone && p.mediaType === mediaType);
  if (candidates.length === 0) return { reason: "NoStoragePool", message: `no ${mediaType} StoragePool in zone ${zone}` };
  const best = [...candidates].sort((a, b) => (b.allocatable - b.provisioned) - (a.allocatable - a.provisioned) || a.name.localeCompare(b.name))[0]!;
  const room = best.allocatable - best.provisioned;
  if (room < need) {
    return { reason: "PoolExhausted", message: `no ${mediaType} StoragePool in zone ${zone} has ${formatBytes(need)} left (most: ${best.name} with ${formatBytes(Math.max(0, room))})` };
  }
  return { pool: best.name };
}

export interface Referrer {
  instance: string;
  /** The instance's creation time, for first-come order. */
  created: string;
  node?: string;
}

export interface AttachmentPlan {
  attached: Array<{ instance: string; node?: string }>;
  /** Instances that ask for the volume but may not have it, and why. */
  refused: Array<{ instance: string; message: string }>;
}

/**
 * Who the volume is attached to: instances still mounting it keep it, then those attached before,
 * then the rest first-come; at most one unless multiAttach (then at most MAX_ATTACHMENTS).
 */
export function planAttachments(volume: string, multiAttach: boolean, current: readonly string[], referrers: readonly Referrer[], mounting: ReadonlySet<string>): AttachmentPlan {
  const limit = multiAttach ? MAX_ATTACHMENTS : 1;
  const rank = (r: Referrer) => (mounting.has(r.instance) ? 0 : current.includes(r.instance) ? 1 : 2);
  const order = [...referrers].sort((a, b) => rank(a) - rank(b) || a.created.localeCompare(b.created) || a.instance.localeCompare(b.instance));
  // Pods of instances that no longer name the volume still hold it until they are gone.
  const attached: AttachmentPlan["attached"] = [...mounting].filter((m) => !referrers.some((r) => r.instance === m)).sort().map((instance) => ({ instance }));
  const refused: AttachmentPlan["refused"] = [];
  for (const r of order) {
    if (attached.length < limit || mounting.has(r.instance)) {
      attached.push({ instance: r.instance, ...(r.node ? { node: r.node } : {}) });
      continue;
    }
    const holders = attached.map((a) => a.instance).join(", ");
    refused.push({
      instance: r.instance,
      message: multiAttach
        ? `volume ${volume} is already attached to ${MAX_ATTACHMENTS} instances, the most a multiAttach volume allows`
        : `volume ${volume} is attached to instance ${holders} and is not multiAttach; detach it there first`,
    });
  }
  return { attached, refused };
}

const accessModes = (v: VolumeObj) => [v.spec.multiAttach ? "ReadWriteMany" : "ReadWriteOnce"];

/** The PersistentVolume, pre-bound to the claim: a block device of the provisioned size in the volume's zone. */
export function persistentVolume(v: VolumeObj, size: string, pool: string): k8s.V1PersistentVolume & KubeObject {
  const ns = v.metadata.namespace ?? "";
  return {
    apiVersion: "v1",
    kind: "PersistentVolume",
    metadata: { name: pvName(v), labels: { [volumeLabels.volume]: v.metadata.name, [volumeLabels.namespace]: ns, "app.kubernetes.io/managed-by": "cellcloud" } },
    spec: {
      capacity: { storage: size },
      accessModes: accessModes(v),
      volumeMode: "Block",
      storageClassName: STORAGE_CLASS,
      persistentVolumeReclaimPolicy: "Retain",
      claimRef: { apiVersion: "v1", kind: "PersistentVolumeClaim", namespace: ns, name: claimName(v.metadata.name) },
      csi: { driver: DRIVER, volumeHandle: v.metadata.uid ?? "", volumeAttributes: { pool, type: v.spec.type } },
      nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: "topology.kubernetes.io/zone", operator: "In", values: [v.spec.zone] }] }] } },
    },
  };
}

export function persistentVolumeClaim(v: VolumeObj, size: string): k8s.V1PersistentVolumeClaim & KubeObject {
  return {
    apiVersion: "v1",
    kind: "PersistentVolumeClaim",
    metadata: { name: claimName(v.metadata.name), namespace: v.metadata.namespace, labels: { [volumeLabels.volume]: v.metadata.name, "app.kubernetes.io/managed-by": "cellcloud" }, ownerReferences: [controllerRef(v, VolumeRef)] },
    spec: { accessModes: accessModes(v), volumeMode: "Block", storageClassName: STORAGE_CLASS, volumeName: pvName(v), resources: { requests: { storage: size } } },
  };
}

/** A duration such as 30m, 12h or 1d, in milliseconds. */
export function everyMs(every: string): number {
  const n = Number(every.slice(0, -1));
  return n * { m: 60_000, h: 3_600_000, d: 86_400_000 }[every.slice(-1) as "m" | "h" | "d"];
}

/** When the next scheduled snapshot is due (ms since epoch): one interval after the last, or now. */
export function nextSnapshotAt(every: string, last: string | undefined, created: string | undefined, now: number): number {
  const from = last ? Date.parse(last) : created ? Date.parse(created) : now;
  return from + everyMs(every);
}

/** The scheduled snapshots to delete: all but the newest `keep`, by creation time. */
export function snapshotsToPrune<T extends { metadata: { name: string; creationTimestamp?: string } }>(scheduled: readonly T[], keep: number): T[] {
  const newestFirst = [...scheduled].sort((a, b) => (b.metadata.creationTimestamp ?? "").localeCompare(a.metadata.creationTimestamp ?? "") || b.metadata.name.localeCompare(a.metadata.name));
  return newestFirst.slice(keep);
}

