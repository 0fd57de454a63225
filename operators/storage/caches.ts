// The caches the storage controllers share, with their indexes (module-constant functions, so
// adding an index twice to a shared informer is a no-op).
import { InstanceRef, type InstanceObj } from "../api/compute.ts";
import { VolumeRef, VolumeSnapshotRef, volumeLabels, type VolumeObj, type VolumeSnapshotObj } from "../api/storage.ts";
import { ClaimRef, PodRef, type Pod } from "../runtime/core.ts";
import type { Manager } from "../runtime/manager.ts";
import type { KubeObject } from "../runtime/types.ts";
import { bytes } from "../api/quantity.ts";

export type Claim = KubeObject & { spec?: { resources?: { requests?: Record<string, string> } }; status?: { phase?: string; capacity?: Record<string, string> } };

export const storageIndexes = {
  /** Volumes by the pool they are carved from ("" for none yet). */
  volumesByPool: "storage.cellcloud.io/volume-pool",
  volumesByType: "storage.cellcloud.io/volume-type",
  /** Volumes restoring a snapshot ("ns/snapshot"). */
  volumesBySnapshot: "storage.cellcloud.io/volume-snapshot",
  instancesByVolume: "storage.cellcloud.io/instance-volume",
  volumesByAttachedInstance: "storage.cellcloud.io/volume-attached",
  podsByClaim: "storage.cellcloud.io/pod-claim",
  snapshotsByVolume: "storage.cellcloud.io/snapshot-volume",
} as const;

export const storageTallies = {
  /** Bytes provisioned per pool: what each volume's status says it holds there (written before its PV exists). */
  bytesByPool: "storage.cellcloud.io/pool-bytes",
} as const;

const ns = (o: KubeObject, name: string) => `${o.metadata.namespace}/${name}`;
const byPool = (v: VolumeObj) => [v.status?.storagePool ?? ""];
const byType = (v: VolumeObj) => [v.spec.type];
const bySnapshot = (v: VolumeObj) => (v.spec.source?.snapshot ? [ns(v, v.spec.source.snapshot)] : []);
const byAttachedInstance = (v: VolumeObj) => (v.status?.attachments ?? []).map((a) => ns(v, a.instance));
const instanceVolumes = (i: InstanceObj) => (i.spec.dataVolumes ?? []).map((d) => ns(i, d.volume));
const podClaims = (p: Pod) => (p.spec?.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [ns(p, v.persistentVolumeClaim.claimName)] : []));
const snapshotVolume = (s: VolumeSnapshotObj) => [ns(s, s.spec.volume)];
const heldInPool = (v: VolumeObj) => (v.status?.storagePool ? { group: v.status.storagePool, amount: v.status.capacity ? bytes(v.status.capacity) : 0 } : undefined);

export function storageCaches(mgr: Manager) {
  const volumes = mgr.informer<VolumeObj>(VolumeRef);
  volumes.addIndexer(storageIndexes.volumesByPool, byPool);
  volumes.addIndexer(storageIndexes.volumesByType, byType);
  volumes.addIndexer(storageIndexes.volumesBySnapshot, bySnapshot);
  volumes.addIndexer(storageIndexes.volumesByAttachedInstance, byAttachedInstance);
  volumes.addTally(storageTallies.bytesByPool, heldInPool);
  const instances = mgr.informer<InstanceObj>(InstanceRef);
  instances.addIndexer(storageIndexes.instancesByVolume, instanceVolumes);
  const pods = mgr.informer<Pod>(PodRef);
  pods.addIndexer(storageIndexes.podsByClaim, podClaims);
  const snapshots = mgr.informer<VolumeSnapshotObj>(VolumeSnapshotRef);
  snapshots.addIndexer(storageIndexes.snapshotsByVolume, snapshotVolume);
  const claims = mgr.informer<Claim>(ClaimRef, volumeLabels.volume);
  return { volumes, instances, pods, snapshots, claims };
}
