// What EVS objects cost against quota (pure): a Volume its size and one volume in its zone (its
// source image must be visible to the tenant); a VolumeSnapshot one snapshot in its volume's zone.
import { usableImage, type ImageSpec } from "../api/compute.ts";
import { bytes } from "../api/quantity.ts";
import type { VolumeSnapshotSpec, VolumeSpec } from "../api/storage.ts";
import type { Priced, PricingContext } from "../api/tenancy.ts";

/** `image` looks an Image up by its informer key, "namespace/name". */
export function volumeCharge(spec: VolumeSpec, ctx: PricingContext, image: (key: string) => ImageSpec | undefined): Priced {
  const source = spec.source?.image;
  if (source) {
    const img = usableImage("spec.source.image", source, ctx, image);
    if (typeof img === "string") return { denied: img };
  }
  return { charge: { tenant: ctx.tenant, zone: spec.zone, amounts: { storage: bytes(spec.size), volumes: 1 } } };
}

export function snapshotCharge(spec: VolumeSnapshotSpec, ctx: PricingContext, volumeZone: (name: string) => string | undefined): Priced {
  return { charge: { tenant: ctx.tenant, zone: volumeZone(spec.volume) ?? "", amounts: { snapshots: 1 } } };
}
