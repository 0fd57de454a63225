// What an ECS Instance costs against quota (pure): its vCPUs, memory, system disk and one instance,
// in its zone and on its image's architecture. Tenancy calls it through the ChargedKind compute
// registers (product.ts), so the rules that need the catalog live with the catalog: the flavor and
// image must exist, the image must be visible to the tenant, a custom size must be allowed.
import { usableImage, type FlavorSpec, type ImageSpec, type InstanceSpec } from "../api/compute.ts";
import { bytes } from "../api/quantity.ts";
import type { Priced, PricingContext } from "../api/tenancy.ts";

const GiB = 1024 ** 3;

export interface PricingLookup {
  flavor(name: string): FlavorSpec | undefined;
  /** An Image by its informer key, "namespace/name". */
  image(key: string): ImageSpec | undefined;
  /** The zone of a Volume in the instance's namespace. */
  volumeZone(name: string): string | undefined;
}

export function instanceCharge(spec: InstanceSpec, ctx: PricingContext, lookup: PricingLookup): Priced {
  let vcpus: number;
  let memory: string;
  if (spec.flavor) {
    const f = lookup.flavor(spec.flavor);
    if (!f) return { denied: `spec.flavor: Flavor "${spec.flavor}" not found` };
    vcpus = f.vcpus;
    memory = f.memory;
  } else if (spec.resources) {
    if (!ctx.customSizes) return { denied: `spec.resources: tenant "${ctx.tenant}" may not use custom sizes; choose a spec.flavor` };
    vcpus = spec.resources.vcpus;
    memory = spec.resources.memory;
  } else {
    return { denied: "spec must set exactly one of flavor or resources" };
  }
  const priority = spec.priority ?? "Normal";
  if (!ctx.priorities.includes(priority)) {
    return { denied: `spec.priority: tenant "${ctx.tenant}" may use ${ctx.priorities.join(", ") || "no priority"}, not ${priority} (a platform admin allows more in the Tenant's spec.allowedPriorities)` };
  }
  const image = usableImage("spec.image", spec.image, ctx, lookup.image);
  if (typeof image === "string") return { denied: image };
  const diskGiB = spec.systemDisk?.sizeGiB ?? image.minDiskGiB;
  const first = spec.dataVolumes?.[0];
  const zone = spec.zone ?? (first ? lookup.volumeZone(first.volume) : undefined) ?? "";
  return {
    charge: {
      tenant: ctx.tenant, zone, arch: image.architecture,
      amounts: { cpu: vcpus * 1000, memory: bytes(memory), storage: diskGiB * GiB, instances: 1 },
    },
  };
}
