import { describe, expect, it } from "vitest";
import { ipPoolTotal, ipv4, storageTotals, usableRange } from "./pools.ts";

describe("storageTotals", () => {
  it("oversubscribes the physical capacity", () => {
    expect(storageTotals({ cell: "c", mediaType: "SSD", capacity: "100Ti", oversubscriptionRatio: 1.5 }, 10 * 1024 ** 4))
      .toEqual({ physical: "100Ti", allocatable: "150Ti", provisioned: "10Ti", available: "140Ti" });
  });
});

describe("external IP arithmetic", () => {
  it("parses IPv4 strictly", () => {
    expect(ipv4("203.0.113.7")).toBe(203 * 2 ** 24 + 113 * 256 + 7);
    for (const bad of ["1.2.3", "1.2.3.256", "01.2.3.4", "a.b.c.d", ""]) expect(ipv4(bad)).toBeUndefined();
  });

  it("skips network and broadcast except for /31 and /32", () => {
    expect(usableRange("10.0.0.0/30")).toEqual({ first: ipv4("10.0.0.1"), last: ipv4("10.0.0.2") });
    expect(usableRange("10.0.0.0/31")).toEqual({ first: ipv4("10.0.0.0"), last: ipv4("10.0.0.1") });
    expect(usableRange("10.0.0.9/32")).toEqual({ first: ipv4("10.0.0.9"), last: ipv4("10.0.0.9") });
  });

  it("totals the CIDRs minus excluded addresses inside them, each counted once", () => {
    const spec = { region: "r", cidrs: ["203.0.113.0/24", "198.51.100.0/30"], excludedIPs: ["203.0.113.1", "203.0.113.1", "203.0.113.0", "192.0.2.1"] };
    // 254 + 2 usable; .1 excluded once; .0 is the network address anyway; 192.0.2.1 is outside
    expect(ipPoolTotal(spec)).toBe(255);
  });
});
