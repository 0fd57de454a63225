// Reconciles EVS Volumes: carves each from a StoragePool of its zone (the pool and size are written to
// status before anything is created, and this controller's own not-yet-cached writes are counted, so
// pools are never over-provisioned), realizes it as a pre-bound PV + claim (growing both on expand,
// as a CSI resizer would), decides which instances it is attached to, takes scheduled snapshots, and
// on deletion waits until it is detached, then removes claim and PV. VolumeTypes and VolumeSnapshots
// get their status here too.
import { refOf } from "../api/crd.ts";
import { Volume, VolumeSnapshot, VolumeType, type VolumeSnapshotStatus, type VolumeTypeSpec } from "../api/storage.ts";
import type { ImageSpec } from "../api/compute.ts";
import { isoSeconds } from "../runtime/clock.ts";
import type { Controller } from "../runtime/controller.ts";
import { addFinalizer, isDeleting, removeFinalizer } from "../runtime/finalizers.ts";
import { approvalGate } from "../tenancy/approval.ts";
import { isAlreadyExists, isNotFound } from "../runtime/kube.ts";
import type { Manager } from "../runtime/manager.ts";
import { ensureObjects } from "../runtime/ensure.ts";
import { markReady, markStalled, withCondition, writeStatus, type StatusWithConditions } from "../runtime/status.ts";
import { statusController } from "../runtime/status-controller.ts";
import { keyOf, requestKey, type KubeObject, type ResourceRef } from "../runtime/types.ts";
import { CellRef, StoragePoolRef, type CellObj, type StoragePoolObj } from "../platform/caches.ts";
import { storageTotals } from "../platform/pools.ts";
import { bytes } from "../platform/quantity.ts";
import { ImageRef } from "../compute/catalog-controller.ts";
import { InstanceRef } from "../compute/instance-controller.ts";
import type { InstanceObj, Pod } from "../compute/instance.ts";
import { PodRef } from "../runtime/core.ts";
import {
  STORAGE_CLASS, DRIVER, claimName, iopsFor, nextSnapshotAt, persistentVolume, persistentVolumeClaim, pickPool, planAttachments, poolUsage,
  pvName, scheduledSnapshotLabel, snapshotsToPrune, volumeLabel, type PoolView, type Referrer, type VolumeObj,
} from "./volume.ts";

export const VolumeRef = refOf(Volume);
export const VolumeTypeRef = refOf(VolumeType);
export const VolumeSnapshotRef = refOf(VolumeSnapshot);
export const PersistentVolumeRef: ResourceRef = { group: "", version: "v1", kind: "PersistentVolume", plural: "persistentvolumes", namespaced: false };
export const ClaimRef: ResourceRef = { group: "", version: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims", namespaced: true };
const StorageClassRef: ResourceRef = { group: "storage.k8s.io", version: "v1", kind: "StorageClass", plural: "storageclasses", namespaced: false };

export const FINALIZER = "storage.cellcloud.io/volume";
const RECHECK_MS = 3_000;

type SnapshotObj = KubeObject & { spec: { volume: string }; status?: VolumeSnapshotStatus };
type Claim = KubeObject & { spec?: { resources?: { requests?: Record<string, string> } }; status?: { phase?: string; capacity?: Record<string, string> } };

export const storageIndexes = {
  volumesByPool: "storage.cellcloud.io/volume-pool",
  instancesByVolume: "storage.cellcloud.io/instance-volume",
  volumesByAttachedInstance: "storage.cellcloud.io/volume-attached",
  podsByClaim: "storage.cellcloud.io/pod-claim",
  snapshotsByVolume: "storage.cellcloud.io/snapshot-volume",
} as const;

/** The shared Volume cache, indexed by the pool each volume is carved from. */
export function volumeCache(mgr: Manager) {
  const volumes = mgr.informer<VolumeObj>(VolumeRef);
  volumes.addIndexer(storageIndexes.volumesByPool, (v) => (v.status?.storagePool ? [v.status.storagePool] : []));
  return volumes;
}

/** Instances indexed by the volumes they name ("ns/volume"). */
export function instancesByVolume(mgr: Manager) {
  const instances = mgr.informer<InstanceObj>(InstanceRef);
  instances.addIndexer(storageIndexes.instancesByVolume, (i) => (i.spec.dataVolumes ?? []).map((d) => `${i.metadata.namespace}/${d.volume}`));
  return instances;
}


export function setupVolumeControllers(mgr: Manager): unknown[] {
  const { client, events } = mgr;
  const volumes = volumeCache(mgr);
  volumes.addIndexer(storageIndexes.volumesByAttachedInstance, (v) => (v.status?.attachments ?? []).map((a) => `${v.metadata.namespace}/${a.instance}`));
  const types = mgr.informer<KubeObject & { spec: VolumeTypeSpec }>(VolumeTypeRef);
  const pools = mgr.informer<StoragePoolObj>(StoragePoolRef);
  const cells = mgr.informer<CellObj>(CellRef);
  const images = mgr.informer<KubeObject & { spec: ImageSpec }>(ImageRef);
  const snapshots = mgr.informer<SnapshotObj>(VolumeSnapshotRef);
  snapshots.addIndexer(storageIndexes.snapshotsByVolume, (s) => [`${s.metadata.namespace}/${s.spec.volume}`]);
  const instances = instancesByVolume(mgr);
  const pods = mgr.informer<Pod>(PodRef);
  pods.addIndexer(storageIndexes.podsByClaim, (p) => (p.spec?.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [`${p.metadata.namespace}/${v.persistentVolumeClaim.claimName}`] : [])));
  const claims = mgr.informer<Claim>(ClaimRef, volumeLabel);
  const pvs = mgr.informer<KubeObject & { spec?: { capacity?: Record<string, string> } }>(PersistentVolumeRef, volumeLabel);

  mgr.add(ensureObjects(mgr, StorageClassRef, [{
    apiVersion: "storage.k8s.io/v1", kind: "StorageClass",
    metadata: { name: STORAGE_CLASS, labels: { "app.kubernetes.io/managed-by": "cellcloud" } },
    provisioner: DRIVER, allowVolumeExpansion: true, reclaimPolicy: "Retain", volumeBindingMode: "Immediate",
  }]));

  /** Pool and size this controller wrote but its cache may not show yet, by volume uid. */
  const assumed = new Map<string, { pool: string; bytes: number }>();

  function poolViews(): PoolView[] {
    const live = new Set(volumes.list().map((v) => v.metadata.uid ?? ""));
    for (const uid of assumed.keys()) if (!live.has(uid)) assumed.delete(uid); // deleted before its write showed
    const usage = poolUsage([...volumes.list().map((v) => {
      const a = assumed.get(v.metadata.uid ?? "");
      const fromCache = { pool: v.status?.storagePool, bytes: v.status?.capacity ? bytes(v.status.capacity) : 0 };
      if (a && a.pool === fromCache.pool && a.bytes === fromCache.bytes) assumed.delete(v.metadata.uid ?? "");
      return { uid: v.metadata.uid ?? "", ...(a ?? fromCache) };
    })]);
    return pools.list().map((p) => ({
      name: p.metadata.name,
      zone: cells.get(p.spec.cell)?.spec.zone,
      mediaType: p.spec.mediaType,
      allocatable: bytes(storageTotals(p.spec).allocatable),
      provisioned: usage.get(p.metadata.name) ?? 0,
    }));
  }

  function attachmentsOf(v: VolumeObj) {
    const ns = v.metadata.namespace;
    const key = keyOf(v);
    // A volume being deleted keeps the attachments it has and takes no new one.
    const current = new Set((v.status?.attachments ?? []).map((a) => a.instance));
    const referrers: Referrer[] = instances.byIndex(storageIndexes.instancesByVolume, key).filter((i) => !isDeleting(v) || current.has(i.metadata.name)).map((i) => ({
      instance: i.metadata.name, created: i.metadata.creationTimestamp ?? "",
      ...(i.status?.nodeName ? { node: i.status.nodeName } : {}),
    }));
    const mounting = new Set(pods.byIndex(storageIndexes.podsByClaim, `${ns}/${claimName(v.metadata.name)}`)
      .filter((p) => p.status?.phase !== "Succeeded" && p.status?.phase !== "Failed")
      .flatMap((p) => p.metadata.labels?.["compute.cellcloud.io/instance"] ?? []));
    return planAttachments(v.metadata.name, v.spec.multiAttach, [...current], referrers, mounting);
  }

  async function setStatus(v: VolumeObj, status: StatusWithConditions, fields: Record<string, unknown>): Promise<VolumeObj | undefined> {
    return writeStatus(client, VolumeRef, v, { ...status, ...fields });
  }

  /** Why the source cannot be used, if it cannot (checked before the volume is first provisioned). */
  function sourceProblem(v: VolumeObj, need: number): { reason: string; message: string; stalled: boolean } | undefined {
    const s = v.spec.source;
    const ns = v.metadata.namespace;
    if (s?.snapshot) {
      const snap = snapshots.get(`${ns}/${s.snapshot}`);
      if (!snap?.status?.size) return { reason: "SnapshotNotReady", message: `spec.source.snapshot: VolumeSnapshot "${s.snapshot}" ${snap ? "is not taken yet" : "not found"}`, stalled: false };
      if (need < bytes(snap.status.size)) return { reason: "SizeTooSmall", message: `spec.size: ${v.spec.size} is smaller than snapshot "${s.snapshot}" (${snap.status.size})`, stalled: true };
    }
    if (s?.volume) {
      const src = volumes.get(`${ns}/${s.volume}`);
      if (!src?.status?.capacity) return { reason: "SourceVolumeNotReady", message: `spec.source.volume: Volume "${s.volume}" ${src ? "is not provisioned yet" : "not found"}`, stalled: false };
      if (src.spec.zone !== v.spec.zone) return { reason: "ZoneMismatch", message: `spec.source.volume: Volume "${s.volume}" is in zone ${src.spec.zone}, not ${v.spec.zone}; a clone stays in its source's zone`, stalled: true };
      if (need < bytes(src.status.capacity)) return { reason: "SizeTooSmall", message: `spec.size: ${v.spec.size} is smaller than source volume "${s.volume}" (${src.status.capacity})`, stalled: true };
    }
    if (s?.image) {
      const img = images.get(s.image);
      if (!img) return { reason: "ImageNotFound", message: `spec.source.image: Image "${s.image}" not found`, stalled: false };
      if (need < img.spec.minDiskGiB * 2 ** 30) return { reason: "SizeTooSmall", message: `spec.size: ${v.spec.size} is smaller than Image "${s.image}" needs (${img.spec.minDiskGiB}Gi)`, stalled: true };
    }
    return undefined;
  }

  async function finalize(v: VolumeObj) {
    const { attached } = attachmentsOf(v);
    if (attached.length) {
      const names = attached.map((a) => a.instance).join(", ");
      const message = `cannot be deleted while attached to instance ${names}: remove it from their spec.dataVolumes (or delete them with deleteWithInstance)`;
      const first = v.status?.state !== "Deleting";
      await setStatus(v, withCondition(v, { type: "Ready", status: "False", reason: "InUse", message }), { state: "Deleting", attachments: attached });
      if (first) events.record(v, "Warning", "DeleteBlocked", message);
      return;
    }
    const ns = v.metadata.namespace;
    const gone = async (ref: ResourceRef, name: string, namespace?: string) => {
      try {
        await client.delete(ref, name, namespace);
        return false;
      } catch (e) {
        if (isNotFound(e)) return true;
        throw e;
      }
    };
    const claimGone = await gone(ClaimRef, claimName(v.metadata.name), ns);
    const pvGone = await gone(PersistentVolumeRef, pvName(v));
    if (!claimGone || !pvGone) return { requeueAfterMs: 1_000 };
    await removeFinalizer(client, VolumeRef, v, FINALIZER);
  }

  const volumeController = mgr.controller("volume").for(VolumeRef)
    .watches(InstanceRef, (i) => [
      ...((i as InstanceObj).spec.dataVolumes ?? []).map((d) => `${i.metadata.namespace}/${d.volume}`),
      ...volumes.byIndex(storageIndexes.volumesByAttachedInstance, keyOf(i)).map(keyOf),
    ])
    .watches(PodRef, (p) => (p.metadata.labels?.["compute.cellcloud.io/instance"] ? ((p as Pod).spec?.volumes ?? []).flatMap((vol) =>
      vol.persistentVolumeClaim?.claimName.startsWith("evs-") ? [`${p.metadata.namespace}/${vol.persistentVolumeClaim.claimName.slice(4)}`] : []) : []))
    .owns(ClaimRef, volumeLabel)
    .watches(PersistentVolumeRef, (pv) => (pv.metadata.labels?.[volumeLabel] ? [`${pv.metadata.labels["storage.cellcloud.io/namespace"]}/${pv.metadata.labels[volumeLabel]}`] : []), volumeLabel)
    .watches(VolumeTypeRef, (t) => volumes.list().filter((v) => v.spec.type === t.metadata.name).map(keyOf))
    .watches(StoragePoolRef, () => volumes.list().filter((v) => !v.status?.storagePool).map(keyOf))
    .watches(VolumeSnapshotRef, (s) => [
      ...volumes.list(s.metadata.namespace).filter((v) => v.spec.source?.snapshot === s.metadata.name && !v.status?.capacity).map(keyOf),
      ...(s.metadata.labels?.[scheduledSnapshotLabel] ? [`${s.metadata.namespace}/${s.metadata.labels[scheduledSnapshotLabel]}`] : []),
    ])
    .complete(async (req) => {
      const cached = volumes.get(requestKey(req));
      if (!cached) return;
      if (isDeleting(cached)) return finalize(cached);
      let v = await addFinalizer(client, VolumeRef, cached, FINALIZER);
      const gated = await approvalGate(client, VolumeRef, v);
      if (!gated) return;
      v = gated;
      const type = types.get(v.spec.type);
      const { attached } = attachmentsOf(v);
      if (!type) {
        await setStatus(v, withCondition(v, { type: "Ready", status: "False", reason: "VolumeTypeNotFound", message: `spec.type: VolumeType "${v.spec.type}" not found` }), { attachments: attached.length ? attached : undefined });
        return;
      }
      const need = bytes(v.spec.size);
      const holds = v.status?.capacity ? bytes(v.status.capacity) : 0;
      const views = poolViews();
      const current = v.status?.storagePool ? views.find((p) => p.name === v.status?.storagePool) : undefined;
      const fits = current && current.zone === v.spec.zone && current.mediaType === type.spec.mediaType;
      let pool = fits ? current.name : undefined;
      let expanding = cached.status?.state === "Expanding";

      if (!pool || need > holds) {
        if (!holds) {
          const bad = sourceProblem(v, need);
          if (bad) {
            const st = bad.stalled ? markStalled(v, bad.reason, bad.message) : withCondition(v, { type: "Ready", status: "False", reason: bad.reason, message: bad.message });
            await setStatus(v, st, { state: "Creating" });
            return;
          }
        }
        // Room needed: all of it in a new pool (first provisioning, or a type change to other media), the growth in the same one.
        let choice: { pool: string } | { reason: string; message: string };
        if (pool) {
          const room = current!.allocatable - current!.provisioned;
          choice = room >= need - holds ? { pool } : { reason: "PoolExhausted", message: `cannot grow to ${v.spec.size}: StoragePool ${pool} has ${Math.floor(Math.max(0, room) / 2 ** 30)}Gi left` };
        } else {
          choice = pickPool(views, v.spec.zone, type.spec.mediaType, need);
        }
        if ("reason" in choice) {
          const before = v.status?.conditions?.find((c) => c.type === "Ready")?.reason;
          await setStatus(v, withCondition(v, { type: "Ready", status: "False", reason: choice.reason, message: choice.message }), { state: holds ? v.status?.state : "Creating" });
          if (before !== choice.reason) events.record(v, "Warning", choice.reason, choice.message);
          return { requeueAfterMs: 30_000 };
        }
        const moved = pool !== choice.pool && holds > 0;
        pool = choice.pool;
        // The reservation: written before the PV exists or grows, and counted at once.
        assumed.set(v.metadata.uid ?? "", { pool, bytes: need });
        const reserved = await setStatus(v, withCondition(v, { type: "Ready", status: "False", reason: holds ? "Expanding" : "Creating", message: `carving ${v.spec.size} from ${pool}` }),
          { storagePool: pool, capacity: v.spec.size, state: holds ? "Expanding" : "Creating" });
        if (moved) events.record(v, "Normal", "Retyped", `moved to StoragePool ${pool} for type ${v.spec.type}`);
        else if (holds) {
          expanding = true;
          events.record(v, "Normal", "Expanding", `growing from ${v.status?.capacity} to ${v.spec.size}`);
        }
        else events.record(v, "Normal", "Provisioning", `carving ${v.spec.size} from StoragePool ${pool}${v.spec.source ? ` (from ${Object.entries(v.spec.source).map(([k, n]) => `${k} ${n}`).join("")})` : ""}`);
        v = reserved ?? v;
      }

      // Realize: PV and claim at the provisioned size (created, or grown as a CSI resizer does).
      const size = v.spec.size;
      const pv = pvs.get(pvName(v));
      if (!pv) {
        await client.create(PersistentVolumeRef, persistentVolume(v, size, pool)).catch((e: unknown) => { if (!isAlreadyExists(e)) throw e; });
      } else if (bytes(pv.spec?.capacity?.storage ?? "0") < need) {
        await client.patch(PersistentVolumeRef, pvName(v), undefined, { spec: { capacity: { storage: size } } }, "merge");
      }
      const claim = claims.get(`${v.metadata.namespace}/${claimName(v.metadata.name)}`);
      if (!claim) {
        try {
          await client.create(ClaimRef, persistentVolumeClaim(v, size));
        } catch (e) {
          if (!isAlreadyExists(e)) throw e;
        }
      } else {
        if (bytes(claim.spec?.resources?.requests?.storage ?? "0") < need) {
          await client.patch(ClaimRef, claim.metadata.name, claim.metadata.namespace, { spec: { resources: { requests: { storage: size } } } }, "merge");
        }
        if (claim.status?.phase === "Bound" && bytes(claim.status.capacity?.storage ?? "0") < need) {
          await client.patch(ClaimRef, claim.metadata.name, claim.metadata.namespace, { status: { capacity: { storage: size } } }, "merge", { subresource: "status" });
        }
      }
      const bound = claim?.status?.phase === "Bound" && bytes(claim.status.capacity?.storage ?? "0") >= need;

      // Scheduled snapshots: take one when due, keep the newest N.
      let lastSnapshotTime = v.status?.lastSnapshotTime;
      let requeue: number | undefined;
      const schedule = v.spec.snapshotSchedule;
      if (schedule && bound) {
        const now = Date.now();
        // The first one at once, then one every interval.
        const due = lastSnapshotTime ? nextSnapshotAt(schedule.every, lastSnapshotTime, undefined, now) : now;
        if (due <= now) {
          const name = `${v.metadata.name}-${Math.floor(now / 1000).toString(36)}`.slice(-253);
          await client.create(VolumeSnapshotRef, {
            apiVersion: VolumeSnapshot.apiVersion, kind: "VolumeSnapshot",
            metadata: { name, namespace: v.metadata.namespace, labels: { [scheduledSnapshotLabel]: v.metadata.name } }, spec: { volume: v.metadata.name },
          }).catch((e: unknown) => { if (!isAlreadyExists(e)) throw e; });
          lastSnapshotTime = isoSeconds(now);
          events.record(v, "Normal", "SnapshotTaken", `scheduled snapshot ${name}`);
        }
        const scheduled = snapshots.byIndex(storageIndexes.snapshotsByVolume, keyOf(v)).filter((s) => s.metadata.labels?.[scheduledSnapshotLabel] === v.metadata.name && !isDeleting(s));
        for (const old of snapshotsToPrune(scheduled, schedule.keep)) await client.delete(VolumeSnapshotRef, old.metadata.name, old.metadata.namespace).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
        requeue = Math.max(1_000, nextSnapshotAt(schedule.every, lastSnapshotTime, undefined, Date.now()) - Date.now());
      }

      const iops = iopsFor(type.spec, need);
      const fields = {
        storagePool: pool, capacity: size, iops, persistentVolume: pvName(v), claim: claimName(v.metadata.name),
        attachments: attached.length ? attached : undefined, lastSnapshotTime,
        state: !bound ? (expanding ? "Expanding" : "Creating") : attached.length ? "InUse" : "Available",
      };
      const ready = bound
        ? markReady(v, attached.length ? "InUse" : "Available", `${size} ${v.spec.type} (${iops} IOPS) in ${pool}${attached.length ? `, attached to ${attached.map((a) => a.instance).join(", ")}` : ""}`)
        : withCondition(v, { type: "Ready", status: "False", reason: "Binding", message: `waiting for claim ${claimName(v.metadata.name)} to bind at ${size}` });
      await setStatus(v, ready, fields);
      if (bound && expanding) events.record(v, "Normal", "Expanded", `now ${size}`);
      if (!bound) return { requeueAfterMs: RECHECK_MS };
      return requeue ? { requeueAfterMs: requeue } : undefined;
    });

  const snapshotController = mgr.controller("volumesnapshot").for(VolumeSnapshotRef)
    .watches(VolumeRef, (v) => [
      ...snapshots.byIndex(storageIndexes.snapshotsByVolume, keyOf(v)).map(keyOf),
      ...((v as VolumeObj).spec.source?.snapshot ? [`${v.metadata.namespace}/${(v as VolumeObj).spec.source?.snapshot}`] : []),
    ])
    .complete(async (req) => {
      const s = snapshots.get(requestKey(req));
      if (!s || isDeleting(s)) return;
      const restores = volumes.list(s.metadata.namespace).filter((v) => v.spec.source?.snapshot === s.metadata.name).length;
      if (s.status?.creationTime) {
        await writeStatus(client, VolumeSnapshotRef, s, { ...markReady(s, "Taken", `${s.status.size} of volume ${s.spec.volume}`), restores });
        return;
      }
      const v = volumes.get(`${s.metadata.namespace}/${s.spec.volume}`);
      if (!v?.status?.capacity || isDeleting(v)) {
        const message = `spec.volume: Volume "${s.spec.volume}" ${v ? "is not provisioned" : "not found"}`;
        await writeStatus(client, VolumeSnapshotRef, s, withCondition(s, { type: "Ready", status: "False", reason: "VolumeNotReady", message }));
        return;
      }
      await writeStatus(client, VolumeSnapshotRef, s, {
        ...markReady(s, "Taken", `${v.status.capacity} of volume ${s.spec.volume}`),
        size: v.status.capacity, volumeType: v.spec.type, zone: v.spec.zone, creationTime: isoSeconds(Date.now()), restores,
      });
      events.record(v, "Normal", "SnapshotCreated", `snapshot ${s.metadata.name} taken at ${v.status.capacity}`);
    });

  return [
    volumeController, snapshotController,
    statusController<KubeObject & { spec: VolumeTypeSpec }>(mgr, "volumetype", VolumeTypeRef, (t) => ({
      ready: { status: "True", reason: "Available", message: `${t.spec.mediaType}: ${t.spec.iops.base} + ${t.spec.iops.perGiB}/GiB IOPS, at most ${t.spec.iops.max}` },
    })),
  ];
}
