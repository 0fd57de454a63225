// What an ECS Instance costs against quota (pure): its vCPUs, memory, system disk and one instance,
// in its zone and on its image's architecture. Tenancy calls it through the ChargedKind compute
// registers (product.ts), so the rules that need the catalog live with the catalog: the flavor and
// image must exist, the image must be visible to the tenant, a custom size must be allowed.
import { meter, type Meter } from "../api/billing.ts";
import { usableImage, type FlavorSpec, type ImageSpec, type InstanceObj, type InstanceSpec } from "../api/compute.ts";
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

/**
 * What an Instance uses for billing now: while not Stopped its vCPUs, memory and one flavor-hour (a
 * flavored instance), and always its system disk, in the zone it runs in (else the one it asks for)
 * on its image's architecture. Nothing until its flavor (or custom size) and image are known.
 */
export function instanceMeters(vm: InstanceObj, known: { flavor?: FlavorSpec; image?: ImageSpec }): Meter[] {
  const size = vm.spec.resources ?? (known.flavor ? { vcpus: known.flavor.vcpus, memory: known.flavor.memory } : undefined);
  if (!size || !known.image) return [];
  const dims = { zone: vm.status?.zone ?? vm.spec.zone ?? "", arch: known.image.architecture };
  const disk = meter("ecs", "disk.GiB-hour", vm.spec.systemDisk?.sizeGiB ?? known.image.minDiskGiB, { ...dims, variant: vm.spec.systemDisk?.type ?? "" });
  if (vm.spec.powerState === "Stopped") return [disk];
  return [
    meter("ecs", "cpu.core-hour", size.vcpus, dims),
    meter("ecs", "memory.GiB-hour", bytes(size.memory) / GiB, dims),
    ...(vm.spec.flavor ? [meter("ecs", "instance.flavor-hour", 1, { ...dims, variant: vm.spec.flavor })] : []),
    disk,
  ];
}
