import { describe, expect, it } from "vitest";
import type { FlavorSpec, ImageSpec, InstanceSpec } from "../api/compute.ts";
import type { PricingContext } from "../api/tenancy.ts";
import { instanceCharge, type PricingLookup } from "./pricing.ts";

const GiB = 1024 ** 3;
const image = (over: Partial<ImageSpec> = {}): ImageSpec => ({
  os: { type: "linux", distribution: "ubuntu", version: "24.04" }, architecture: "arm64", minDiskGiB: 20, source: { url: "https://x/y.img" }, ...over,
});
// keyed as the informer keys them: the public catalog, and rnd's namespace
const images: Record<string, ImageSpec> = { "cellcloud-images/pub": image(), "rnd-ns/mine": image() };
const lookup: PricingLookup = {
  flavor: (n) => (n === "g2" ? ({ vcpus: 4, memory: "8Gi", architectures: ["amd64", "arm64"], family: "general", onlineResize: true } satisfies FlavorSpec) : undefined),
  image: (n) => images[n],
  volumeZone: (n) => (n === "d1" ? "az2" : undefined),
};
/** Tenancy's side, as the webhook builds it: "other" may not use custom sizes nor rnd's private image. */
const ctx = (tenant: string): PricingContext => ({
  tenant, namespace: "ns", customSizes: tenant !== "other", visible: (v) => v.namespace === "cellcloud-images" || tenant !== "other", priorities: ["Low", "Normal"],
});
const spec = (over: Partial<InstanceSpec>): InstanceSpec => ({ image: "pub", powerState: "Running", terminationGracePeriodSeconds: 30, systemDisk: {}, priority: "Normal", ...over }) as InstanceSpec;

describe("instance pricing", () => {
  it("charges an instance its flavor's cpu and memory, its system disk and one instance, on its image's arch", () => {
    expect(instanceCharge(spec({ flavor: "g2", zone: "az1", systemDisk: { sizeGiB: 50 } }), ctx("ml"), lookup)).toEqual({
      charge: { tenant: "ml", zone: "az1", arch: "arm64", amounts: { cpu: 4000, memory: 8 * GiB, storage: 50 * GiB, instances: 1 } },
    });
    // no zone: the first data volume's zone; the image's minimum disk when no size is given
    const r = instanceCharge(spec({ resources: { vcpus: 2, memory: "4Gi" }, dataVolumes: [{ volume: "d1", deleteWithInstance: false }] }), ctx("ml"), lookup);
    expect(r).toMatchObject({ charge: { zone: "az2", amounts: { cpu: 2000, memory: 4 * GiB, storage: 20 * GiB } } });
  });

  it("refuses what it cannot price or the tenant may not use, naming the field", () => {
    expect(instanceCharge(spec({ flavor: "nope" }), ctx("ml"), lookup)).toEqual({ denied: 'spec.flavor: Flavor "nope" not found' });
    expect(instanceCharge(spec({ flavor: "g2", image: "gone" }), ctx("ml"), lookup)).toEqual({ denied: 'spec.image: Image "gone" not found in namespace ns or the public catalog (cellcloud-images), or not shared with tenant "ml"' });
    expect(instanceCharge(spec({ resources: { vcpus: 2, memory: "4Gi" } }), ctx("other"), lookup))
      .toEqual({ denied: 'spec.resources: tenant "other" may not use custom sizes; choose a spec.flavor' });
    // another tenant's image reads exactly as a missing one: no owner, no hint that it exists
    expect(instanceCharge(spec({ flavor: "g2", image: "rnd-ns/mine" }), ctx("other"), lookup))
      .toEqual({ denied: 'spec.image: Image "rnd-ns/mine" not found, or not shared with tenant "other"' });
    expect(instanceCharge(spec({ flavor: "g2", image: "rnd-ns/gone" }), ctx("other"), lookup))
      .toEqual({ denied: 'spec.image: Image "rnd-ns/gone" not found, or not shared with tenant "other"' });
    expect(instanceCharge(spec({ flavor: "g2", image: "rnd-ns/mine" }), ctx("ml"), lookup)).toHaveProperty("charge");
    expect(instanceCharge(spec({}), ctx("ml"), lookup)).toEqual({ denied: "spec must set exactly one of flavor or resources" });
    expect(instanceCharge(spec({ flavor: "g2", priority: "High" }), ctx("ml"), lookup))
      .toMatchObject({ denied: expect.stringMatching(/^spec.priority: tenant "ml" may use Low, Normal, not High/) });
  });
});
