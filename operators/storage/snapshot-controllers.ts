// VolumeSnapshots: each is "taken" once (its size, type and zone recorded from the volume at that
// moment), and volumes with a snapshotSchedule get one every interval, the newest `keep` kept. The
// schedule is its own controller: it writes only the volume's lastSnapshotTime, which the volume
// controller leaves alone.
import { VolumeRef, VolumeSnapshot, VolumeSnapshotRef, volumeLabels, type VolumeObj } from "../api/storage.ts";
import { isoSeconds } from "../runtime/clock.ts";
import type { Controller } from "../runtime/controller.ts";
import { isDeleting } from "../runtime/finalizers.ts";
import type { Manager } from "../runtime/manager.ts";
import { createIfAbsent, deleteIfPresent } from "../runtime/objects.ts";
import { markReady, withCondition, writeStatus } from "../runtime/status.ts";
import { keyOf, requestKey } from "../runtime/types.ts";
import { storageCaches, storageIndexes } from "./caches.ts";
import { nextSnapshotAt, snapshotsToPrune } from "./volume.ts";

export function setupSnapshotController(mgr: Manager): Controller {
  const { volumes, snapshots } = storageCaches(mgr);
  const { client, events, clock } = mgr;
  return mgr.controller("volumesnapshot").for(VolumeSnapshotRef)
    .watches(VolumeRef, (v) => [
      ...snapshots.byIndex(storageIndexes.snapshotsByVolume, keyOf(v)).map(keyOf),
      ...((v as VolumeObj).spec.source?.snapshot ? [`${v.metadata.namespace}/${(v as VolumeObj).spec.source?.snapshot}`] : []),
    ])
    .complete(async (req) => {
      const s = snapshots.get(requestKey(req));
      if (!s || isDeleting(s)) return;
      const restores = volumes.byIndex(storageIndexes.volumesBySnapshot, keyOf(s)).length;
      if (s.status?.creationTime) {
        await writeStatus(client, VolumeSnapshotRef, s, { ...markReady(s, "Taken", `${s.status.size} of volume ${s.spec.volume}`, clock), restores });
        return;
      }
      const v = volumes.get(`${s.metadata.namespace}/${s.spec.volume}`);
      if (!v?.status?.capacity || isDeleting(v)) {
        const message = `spec.volume: Volume "${s.spec.volume}" ${v ? "is not provisioned" : "not found"}`;
        await writeStatus(client, VolumeSnapshotRef, s, withCondition(s, { type: "Ready", status: "False", reason: "VolumeNotReady", message }, clock));
        return;
      }
      await writeStatus(client, VolumeSnapshotRef, s, {
        ...markReady(s, "Taken", `${v.status.capacity} of volume ${s.spec.volume}`, clock),
        size: v.status.capacity, volumeType: v.spec.type, zone: v.spec.zone, creationTime: isoSeconds(clock.now()), restores,
      });
      events.record(v, "Normal", "SnapshotCreated", `snapshot ${s.metadata.name} taken at ${v.status.capacity}`);
    });
}

/** Scheduled snapshots of provisioned volumes: the first at once, then one every interval; the oldest beyond `keep` deleted. */
export function setupSnapshotScheduleController(mgr: Manager): Controller {
  const { volumes, snapshots } = storageCaches(mgr);
  const { client, events, clock } = mgr;
  return mgr.controller("snapshot-schedule").for(VolumeRef)
    .watches(VolumeSnapshotRef, (s) => {
      const v = s.metadata.labels?.[volumeLabels.scheduledFor];
      return v ? [`${s.metadata.namespace}/${v}`] : [];
    })
    .complete(async (req) => {
      const v = volumes.get(requestKey(req));
      const schedule = v?.spec.snapshotSchedule;
      if (!v || !schedule || isDeleting(v) || (v.status?.state !== "Available" && v.status?.state !== "InUse")) return;
      const now = clock.now();
      let last = v.status.lastSnapshotTime;
      if (!last || nextSnapshotAt(schedule.every, last, undefined, now) <= now) {
        const name = `${v.metadata.name.slice(0, 240)}-${Math.floor(now / 1000).toString(36)}`;
        const snapshot = {
          apiVersion: VolumeSnapshot.apiVersion, kind: "VolumeSnapshot",
          metadata: { name, namespace: v.metadata.namespace, labels: { [volumeLabels.scheduledFor]: v.metadata.name } }, spec: { volume: v.metadata.name },
        };
        await createIfAbsent(client, VolumeSnapshotRef, snapshot);
        last = isoSeconds(now);
        await writeStatus(client, VolumeRef, v, { ...v.status, lastSnapshotTime: last }, { observed: false });
        events.record(v, "Normal", "SnapshotTaken", `scheduled snapshot ${name}`);
      }
      const scheduled = snapshots.byIndex(storageIndexes.snapshotsByVolume, keyOf(v)).filter((s) => s.metadata.labels?.[volumeLabels.scheduledFor] === v.metadata.name && !isDeleting(s));
      for (const old of snapshotsToPrune(scheduled, schedule.keep)) await deleteIfPresent(client, VolumeSnapshotRef, old.metadata.name, old.metadata.namespace);
      return { requeueAfterMs: Math.max(1_000, nextSnapshotAt(schedule.every, last, undefined, clock.now()) - clock.now()) };
    });
}
