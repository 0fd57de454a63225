// EVS as the composition root sees it: the volume, snapshot, schedule, volume-type and pool-usage
// controllers, and Volumes and VolumeSnapshots charged against quota.
import { ImageRef, type ImageSpec } from "../api/compute.ts";
import { VOLUME_FINALIZER, VolumeRef, VolumeSnapshotRef, VolumeTypeRef, type VolumeObj, type VolumeSnapshotObj, type VolumeTypeObj } from "../api/storage.ts";
import { meter } from "../api/billing.ts";
import { bytes } from "../api/quantity.ts";
import type { Manager } from "../runtime/manager.ts";
import type { Product } from "../runtime/product.ts";
import { statusController } from "../runtime/status-controller.ts";
import type { KubeObject } from "../runtime/types.ts";
import { setupPoolUsageController } from "./pool-usage-controller.ts";
import { snapshotCharge, volumeCharge } from "./pricing.ts";
import { setupSnapshotController, setupSnapshotScheduleController } from "./snapshot-controllers.ts";
import { setupVolumeController } from "./volume-controller.ts";

const volumeTypeController = (mgr: Manager) => statusController<VolumeTypeObj>(mgr, "volumetype", VolumeTypeRef, (t) => ({
  ready: { status: "True", reason: "Available", message: `${t.spec.mediaType}: ${t.spec.iops.base} + ${t.spec.iops.perGiB}/GiB IOPS, at most ${t.spec.iops.max}` },
}));

const GiB = 1024 ** 3;

export const storage: Product = {
  name: "storage",
  controllers: {
    volume: (mgr, ctx) => [
      setupVolumeController(mgr, ctx), setupSnapshotController(mgr), setupSnapshotScheduleController(mgr),
      volumeTypeController(mgr), setupPoolUsageController(mgr),
    ],
  },
  charged(mgr) {
    const images = mgr.informer<KubeObject & { spec: ImageSpec }>(ImageRef);
    const volumes = mgr.informer<VolumeObj>(VolumeRef);
    return [
      { ref: VolumeRef, finalizer: VOLUME_FINALIZER, price: (o, ctx) => volumeCharge((o as VolumeObj).spec, ctx, (key) => images.get(key)?.spec) },
      { ref: VolumeSnapshotRef, price: (o, ctx) => snapshotCharge((o as VolumeSnapshotObj).spec, ctx, (n) => volumes.get(`${ctx.namespace}/${n}`)?.spec.zone) },
    ];
  },
  billable() {
    return [{ ref: VolumeRef, meters: (o) => { const v = o as VolumeObj; return [meter("evs", "disk.GiB-hour", bytes(v.spec.size) / GiB, { zone: v.spec.zone, variant: v.spec.type })]; } }];
  },
};
