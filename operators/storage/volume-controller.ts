// Reconciles EVS Volumes on the managed reconciler: observe the volume's type, source, PV, claim
// and who mounts it from caches, read the pools when planning (volume-plan.ts), let the runtime
// carry the plan out.
// Pools are never over-provisioned: a reservation is recorded in status before the PV exists or
// grows, and this controller counts its own reservations its cache does not show yet.
import { ImageRef, InstanceRef, launcher, resolveImage, type ImageSpec, type InstanceObj } from "../api/compute.ts";
import { CellRef, StoragePoolRef, storagePoolAllocatable, type CellObj, type StoragePoolObj } from "../api/platform.ts";
import { bytes } from "../api/quantity.ts";
import {
  DRIVER, STORAGE_CLASS, VOLUME_FINALIZER, VolumeRef, VolumeSnapshotRef, VolumeTypeRef, claimName, pvName, volumeLabels, volumeOfClaim,
  type VolumeObj, type VolumeSnapshotObj, type VolumeTypeObj,
} from "../api/storage.ts";
import type { Controller } from "../runtime/controller.ts";
import { ClaimRef, PersistentVolumeRef, PodRef, StorageClassRef, isPodFinished, type Pod } from "../runtime/core.ts";
import { ensureObjects } from "../runtime/ensure.ts";
import type { ManagedResource } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import type { ProductContext } from "../runtime/product.ts";
import { keyOf, type KubeObject } from "../runtime/types.ts";
import { storageCaches, storageIndexes, storageTallies, type Claim } from "./caches.ts";
import { planAttachments, poolRoomMayHaveGrown, type PoolView, type Referrer } from "./volume.ts";
import { finalizeVolume, planVolume, sourceProblem, type VolumeObservation } from "./volume-plan.ts";

type Caches = ReturnType<typeof storageCaches>;

/**
 * The pools as the plan sees them: what each can hold and what is provisioned from it, counting
 * reservations this controller made that its cache does not show yet.
 */
function poolLedger(mgr: Manager, c: Caches) {
  const pools = mgr.informer<StoragePoolObj>(StoragePoolRef);
  const cells = mgr.informer<CellObj>(CellRef);
  const assumed = new Map<string, { key: string; pool: string; bytes: number }>(); // by uid
  const views = (): PoolView[] => {
    // The cache's sums (a tally, O(pools)), with this controller's reservations in place of what
    // the cache shows for those volumes until it shows them.
    const usage = new Map(c.volumes.tallies(storageTallies.bytesByPool));
    for (const [uid, a] of assumed) {
      if (c.volumes.get(a.key)?.metadata.uid !== uid) { assumed.delete(uid); continue; } // deleted before its write showed
      const cached = c.volumes.tallied(storageTallies.bytesByPool, a.key);
      if (cached?.group === a.pool && cached.amount === a.bytes) { assumed.delete(uid); continue; }
      if (cached) usage.set(cached.group, (usage.get(cached.group) ?? 0) - cached.amount);
      usage.set(a.pool, (usage.get(a.pool) ?? 0) + a.bytes);
    }
    return pools.list().map((p) => ({
      name: p.metadata.name, zone: cells.get(p.spec.cell)?.spec.zone, mediaType: p.spec.mediaType,
      allocatable: storagePoolAllocatable(p.spec), provisioned: usage.get(p.metadata.name) ?? 0,
    }));
  };
  return { views, assume: (v: VolumeObj, pool: string, size: number) => assumed.set(v.metadata.uid ?? "", { key: keyOf(v), pool, bytes: size }) };
}

/** Instances attached: those still mounting it keep it, then earlier holders, then first come (a deleting volume takes no one new). */
function attachments(c: Caches) {
  return (v: VolumeObj) => {
    const current = new Set((v.status?.attachments ?? []).map((a) => a.instance));
    const referrers: Referrer[] = c.instances.byIndex(storageIndexes.instancesByVolume, keyOf(v))
      .filter((i) => !v.metadata.deletionTimestamp || current.has(i.metadata.name))
      .map((i) => ({ instance: i.metadata.name, created: i.metadata.creationTimestamp ?? "", ...(i.status?.nodeName ? { node: i.status.nodeName } : {}) }));
    const mounting = new Set(c.pods.byIndex(storageIndexes.podsByClaim, `${v.metadata.namespace}/${claimName(v.metadata.name)}`)
      .filter((p) => !isPodFinished(p)).flatMap((p) => p.metadata.labels?.[launcher.instanceLabel] ?? []));
    return planAttachments(v.metadata.name, v.spec.multiAttach, [...current], referrers, mounting).attached;
  };
}

export function setupVolumeController(mgr: Manager, ctx: ProductContext): Controller {
  const c = storageCaches(mgr);
  const types = mgr.informer<VolumeTypeObj>(VolumeTypeRef);
  const images = mgr.informer<KubeObject & { spec: ImageSpec }>(ImageRef);
  const pvs = mgr.informer<KubeObject & { spec?: { capacity?: Record<string, string> } }>(PersistentVolumeRef, volumeLabels.volume);
  const pools = poolLedger(mgr, c);
  const attached = attachments(c);
  mgr.add(ensureObjects(mgr, StorageClassRef, [{
    apiVersion: "storage.k8s.io/v1", kind: "StorageClass",
    metadata: { name: STORAGE_CLASS, labels: { "app.kubernetes.io/managed-by": "cellcloud" } },
    provisioner: DRIVER, allowVolumeExpansion: true, reclaimPolicy: "Retain", volumeBindingMode: "Immediate",
  }]));

  const resource: ManagedResource<VolumeObj, Omit<VolumeObservation, "pools">> = {
    finalizer: VOLUME_FINALIZER,
    gates: ctx.gates,
    observe(v) {
      const ns = v.metadata.namespace;
      const pv = pvs.get(pvName(v));
      const claim = c.claims.get(`${ns}/${claimName(v.metadata.name)}`);
      const type = types.get(v.spec.type)?.spec;
      const source = sourceProblem(v, {
        snapshot: (n) => c.snapshots.get(`${ns}/${n}`),
        volume: (n) => c.volumes.get(`${ns}/${n}`),
        imageMinDiskGiB: (ref) => resolveImage(ref, ns ?? "", (k) => images.get(k)?.spec)?.image.minDiskGiB,
      });
      return {
        ...(type ? { type } : {}), attached: attached(v), ...(source ? { source } : {}),
        ...(pv ? { pv: { capacity: bytes(pv.spec?.capacity?.storage ?? "0") } } : {}),
        ...(claim ? { claim: claimFacts(claim) } : {}),
      };
    },
    plan(v, o) {
      // The pools are read here, in the same synchronous step that records the reservation: workers
      // run concurrently and an await lies between observe and plan, so a view taken in observe
      // could miss another worker's reservation and place both volumes in the last room of a pool.
      const plan = planVolume(v, { ...o, pools: pools.views() });
      // The reservation counts at once, before the cache shows the checkpoint that records it.
      const pool = plan.checkpoint?.storagePool;
      if (typeof pool === "string") pools.assume(v, pool, bytes(v.spec.size));
      return plan;
    },
    finalize: finalizeVolume,
  };
  return watchVolumes(mgr, c).manage(resource);
}

const claimFacts = (claim: Claim) => ({
  requested: bytes(claim.spec?.resources?.requests?.storage ?? "0"),
  capacity: bytes(claim.status?.capacity?.storage ?? "0"),
  ...(claim.status?.phase ? { phase: claim.status.phase } : {}),
});

/** What wakes a volume: instances naming it, pods mounting its claim, its claim and PV, its type, pools, snapshots. */
function watchVolumes(mgr: Manager, c: Caches) {
  const ofClaims = (p: KubeObject) => (p.metadata.labels?.[launcher.instanceLabel] ? ((p as Pod).spec?.volumes ?? [])
    .flatMap((vol) => { const v = volumeOfClaim(vol.persistentVolumeClaim?.claimName ?? ""); return v ? [`${p.metadata.namespace}/${v}`] : []; }) : []);
  // Volumes are independent and a reconcile mostly waits on the apiserver (status, claim, PV), as
  // an instance's does. At 25,000 instances on 5,000 hosts (bench/scale), 2 workers did 1.6
  // reconciles/s at 1.2 s each: 6,600 volumes queued and 4,570 were not reconciled once in 38
  // minutes, holding back the quarter of the instances that mount one.
  return mgr.controller("volume").for(VolumeRef).concurrency(16)
    .watches(InstanceRef, (i) => [
      ...((i as InstanceObj).spec.dataVolumes ?? []).map((d) => `${i.metadata.namespace}/${d.volume}`),
      ...c.volumes.byIndex(storageIndexes.volumesByAttachedInstance, keyOf(i)).map(keyOf),
    ])
    .watches(PodRef, ofClaims)
    .owns(ClaimRef, { labelSelector: volumeLabels.volume })
    .watches(PersistentVolumeRef, (pv) => {
      const l = pv.metadata.labels ?? {};
      return l[volumeLabels.volume] ? [`${l[volumeLabels.namespace]}/${l[volumeLabels.volume]}`] : [];
    }, { labelSelector: volumeLabels.volume })
    .watches(VolumeTypeRef, (t) => c.volumes.byIndex(storageIndexes.volumesByType, t.metadata.name).map(keyOf))
    .watches(StoragePoolRef, (p, old) => (poolRoomMayHaveGrown(p as StoragePoolObj, old as StoragePoolObj | undefined)
      ? c.volumes.byIndex(storageIndexes.volumesByPool, "").map(keyOf) : []))
    .watches(VolumeSnapshotRef, (s) => c.volumes.byIndex(storageIndexes.volumesBySnapshot, keyOf(s as VolumeSnapshotObj))
      .filter((v) => !v.status?.capacity).map(keyOf));
}
