// What EVS objects cost against quota (pure): a Volume its size and one volume in its zone (its
// source image must be visible to the tenant); a VolumeSnapshot one snapshot in its volume's zone.
import type { ImageSpec } from "../api/compute.ts";
import { bytes } from "../api/quantity.ts";
import type { VolumeSnapshotSpec, VolumeSpec } from "../api/storage.ts";
import type { Priced, PricingContext } from "../api/tenancy.ts";

export function volumeCharge(spec: VolumeSpec, ctx: PricingContext, image: (name: string) => ImageSpec | undefined): Priced {
  const source = spec.source?.image;
  if (source) {
    const img = image(source);
    if (!img) return { denied: `spec.source.image: Image "${source}" not found` };
    if (!ctx.visible(img)) return { denied: `spec.source.image: Image "${source}" is ${img.visibility} to tenant "${img.owner}" and not shared with tenant "${ctx.tenant}"` };
  }
  return { charge: { tenant: ctx.tenant, zone: spec.zone, amounts: { storage: bytes(spec.size), volumes: 1 } } };
}

export function snapshotCharge(spec: VolumeSnapshotSpec, ctx: PricingContext, volumeZone: (name: string) => string | undefined): Priced {
  return { charge: { tenant: ctx.tenant, zone: volumeZone(spec.volume) ?? "", amounts: { snapshots: 1 } } };
}
