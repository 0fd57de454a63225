import { describe, expect, it } from "vitest";
import { ipPoolTotal, storageTotals } from "./pools.ts";

describe("storageTotals", () => {
  it("oversubscribes the physical capacity", () => {
    expect(storageTotals({ cell: "c", mediaType: "SSD", capacity: "100Ti", oversubscriptionRatio: 1.5 }, 10 * 1024 ** 4))
      .toEqual({ physical: "100Ti", allocatable: "150Ti", provisioned: "10Ti", available: "140Ti" });
  });
});

describe("external IP arithmetic", () => {

  it("totals the CIDRs minus excluded addresses inside them, each counted once", () => {
    const spec = { region: "r", cidrs: ["203.0.113.0/24", "198.51.100.0/30"], excludedIPs: ["203.0.113.1", "203.0.113.1", "203.0.113.0", "192.0.2.1"] };
    // 254 + 2 usable; .1 excluded once; .0 is the network address anyway; 192.0.2.1 is outside
    expect(ipPoolTotal(spec)).toBe(255);
  });
});
