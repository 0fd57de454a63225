import { describe, expect, it } from "vitest";
import { HOUR_MS } from "../../operators/billing/price.ts";
import { rateHour } from "../../operators/billing/rating.ts";
import { bookFor, expectedRows, fleet, priceLists } from "./seed.ts";

describe("bench/billing fleet", () => {
  const f = fleet({ instances: 2000, tenants: 100, month: "2026-10" });

  it("is the same fleet every time", () => {
    const g = fleet({ instances: 2000, tenants: 100, month: "2026-10" });
    expect(g.events).toEqual(f.events);
  });

  it("records what metering would: unique ids, a create in the first hour, then changes in time order, nothing after a delete", () => {
    expect(new Set(f.events.map((e) => e.id)).size).toBe(f.events.length);
    const byUid = Map.groupBy(f.events, (e) => e.resourceUid);
    expect(byUid.size).toBe(f.instances + f.volumes + f.eips);
    for (const evs of byUid.values()) {
      expect(evs[0]!.id.endsWith("/1/create")).toBe(true);
      expect(evs[0]!.at).toBeLessThan(f.start + HOUR_MS);
      expect(evs[0]!.meters.length).toBeGreaterThan(0);
      for (let i = 1; i < evs.length; i++) expect(evs[i]!.at).toBeGreaterThan(evs[i - 1]!.at);
      for (const e of evs.slice(0, -1)) expect(e.meters.length).toBeGreaterThan(0);
      for (const e of evs) expect(e.at % 1000).toBe(0);
      expect(evs.every((e) => e.at < f.end)).toBe(true);
    }
    const kinds = (k: string) => [...byUid.values()].filter((e) => e[0]!.kind === k).length;
    expect(kinds("Volume") / f.instances).toBeGreaterThan(0.2);
    expect(kinds("ElasticIP") / f.instances).toBeLessThan(0.3);
    // some instances stop, resize or go within the month
    expect(f.events.filter((e) => e.kind === "Instance" && e.meters.length === 1).length).toBeGreaterThan(50);
    expect(f.events.filter((e) => e.id.endsWith("/delete")).length).toBeGreaterThan(20);
  });

  it("prices every meter the fleet uses, a tenant's list and its department's alike", () => {
    const book = bookFor(priceLists(), f.tenants);
    for (const e of f.events) for (const m of e.meters) expect(book(e.tenant, f.start)!.price(m)).toBeGreaterThan(0);
    expect(book("t-000", f.start)!.discountBp).toBe(1000);
    expect(book("t-080", f.start)!.list).toBe("standard-2026+t-000-2026"); // a department of t-000
    expect(book("t-050", f.start)!.list).toBe("standard-2026");
  });
});

describe("expectedRows", () => {
  it("counts exactly the rows rateHour writes, hour by hour", () => {
    const f = fleet({ instances: 300, tenants: 10, month: "2026-10" });
    const byUid = Map.groupBy(f.events, (e) => e.resourceUid);
    const ids = new Map([...byUid.keys()].map((u, i) => [u, i + 1]));
    const events = f.events.map((e, seq) => ({ ...e, seq, resourceId: ids.get(e.resourceUid)! }));
    let rated = 0;
    for (let hour = f.start; hour < f.end; hour += HOUR_MS) {
      const byResource = new Map<number, typeof events>();
      for (const evs of Map.groupBy(events, (e) => e.resourceId).values()) {
        const before = evs.filter((e) => e.at < hour).at(-1);
        const inside = evs.filter((e) => e.at >= hour && e.at < hour + HOUR_MS);
        const list = [...(before?.meters.length ? [before] : []), ...inside];
        if (list.length) byResource.set(list[0]!.resourceId, list);
      }
      rated += rateHour(byResource, hour, () => undefined).length;
    }
    expect(expectedRows(f.events, f.start, f.end)).toBe(rated);
    expect(expectedRows(f.events, f.start, f.start + 3 * HOUR_MS)).toBeGreaterThan(0);
  });
});
