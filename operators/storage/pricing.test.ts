import { describe, expect, it } from "vitest";
import type { ImageSpec } from "../api/compute.ts";
import type { PricingContext } from "../api/tenancy.ts";
import { snapshotCharge, volumeCharge } from "./pricing.ts";

const private_: ImageSpec = { os: { type: "linux", distribution: "ubuntu", version: "24.04" }, architecture: "arm64", minDiskGiB: 20, source: { url: "https://x/y.img" } };
const ctx = (tenant: string): PricingContext => ({ tenant, namespace: "ns", customSizes: true, visible: () => tenant === "rnd", priorities: ["Low", "Normal"] });
const image = (key: string) => (key === "rnd-ns/mine" ? private_ : undefined);

describe("volume and snapshot pricing", () => {
  it("charges a volume its size and one volume in its zone", () => {
    expect(volumeCharge({ size: "10Gi", type: "ssd", zone: "az1", multiAttach: false }, ctx("rnd"), image))
      .toEqual({ charge: { tenant: "rnd", zone: "az1", amounts: { storage: 10 * 1024 ** 3, volumes: 1 } } });
  });

  it("refuses a source image the tenant may not use, or that does not exist, naming the field", () => {
    expect(volumeCharge({ size: "10Gi", type: "ssd", zone: "az1", multiAttach: false, source: { image: "rnd-ns/mine" } }, ctx("other"), image))
      .toEqual({ denied: 'spec.source.image: Image "rnd-ns/mine" not found, or not shared with tenant "other"' });
    expect(volumeCharge({ size: "10Gi", type: "ssd", zone: "az1", multiAttach: false, source: { image: "gone" } }, ctx("rnd"), image))
      .toEqual({ denied: 'spec.source.image: Image "gone" not found in namespace ns or the public catalog (cellcloud-images), or not shared with tenant "rnd"' });
  });

  it("charges a snapshot one snapshot in its volume's zone", () => {
    expect(snapshotCharge({ volume: "d1" }, ctx("rnd"), (n) => (n === "d1" ? "az2" : undefined))).toEqual({ charge: { tenant: "rnd", zone: "az2", amounts: { snapshots: 1 } } });
    expect(snapshotCharge({ volume: "gone" }, ctx("rnd"), () => undefined)).toMatchObject({ charge: { zone: "" } });
  });
});
