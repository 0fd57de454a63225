import { describe, expect, it } from "vitest";
import { meter, type PriceListObj, type SubscriptionSpec } from "../api/billing.ts";
import { closeBill } from "./bills.ts";
import { chainOf, switchOf } from "./books.ts";
import { addMonths, period, planSubscription } from "./periods.ts";
import { costOf, formatMoney, lineAmount, priceBook, roundDiv } from "./price.ts";
import { adjustments, rateHour, rowKey, usage, type UsageEvent } from "./rating.ts";

const H = 3_600_000;
const T0 = Date.UTC(2026, 9, 1); // 2026-10-01
const list = (name: string, from: string, items: PriceListObj["spec"]["items"], extra: Partial<PriceListObj["spec"]> = {}): PriceListObj =>
  ({ apiVersion: "billing.cellcloud.io/v1alpha1", kind: "PriceList", metadata: { name }, spec: { currency: "CNY", scale: 1_000_000, effectiveFrom: from, discountBasisPoints: 0, items, ...extra } });
const ev = (at: number, meters: UsageEvent["meters"], seq = at, uid = "vm1"): UsageEvent =>
  ({ id: `${uid}/${seq}`, seq, resourceId: 1, resourceUid: uid, tenant: "acme", namespace: "acme", kind: "Instance", name: uid, at, meters });

describe("prices", () => {
  const cpu = meter("ecs", "cpu.core-hour", 2, { zone: "az1", arch: "amd64" });
  const global = list("g1", "2026-01-01T00:00:00Z", [
    { product: "ecs", meter: "cpu.core-hour", unitPrice: 100_000 },
    { product: "ecs", meter: "cpu.core-hour", arch: "arm64", unitPrice: 80_000 },
    { product: "ecs", meter: "cpu.core-hour", zone: "az1", arch: "amd64", unitPrice: 120_000 },
  ]);
  const later = list("g2", "2026-10-15T00:00:00Z", [{ product: "ecs", meter: "cpu.core-hour", unitPrice: 90_000 }]);
  const acme = list("acme", "2026-01-01T00:00:00Z", [{ product: "ecs", meter: "memory.GiB-hour", unitPrice: 1 }], { tenant: "acme", discountBasisPoints: 1000 });

  it("takes the most specific item of the list in effect at the hour", () => {
    expect(priceBook([global, later], ["x"], T0)!.price(cpu)).toBe(120_000);
    expect(priceBook([global, later], ["x"], T0)!.price({ ...cpu, arch: "arm64" })).toBe(80_000);
    expect(priceBook([global, later], ["x"], Date.UTC(2026, 9, 15))!.price(cpu)).toBe(90_000);
    expect(priceBook([later], ["x"], T0)).toBeUndefined();
  });

  it("lets a tenant's list (or an ancestor's) override what it prices, with its discount", () => {
    const book = priceBook([global, acme], ["research", "acme"], T0)!;
    expect(book.list).toBe("g1+acme");
    expect(book.discountBp).toBe(1000);
    expect(book.price(meter("ecs", "memory.GiB-hour", 4))).toBe(1);
    expect(book.price(cpu)).toBe(120_000); // not in the tenant's list: the global price
    expect(priceBook([global, acme], ["other"], T0)!.discountBp).toBe(0);
  });

  it("charges nothing when pricing is off", () => {
    expect(priceBook([global], ["x"], T0, false)!.price(cpu)).toBe(0);
  });

  it("keeps money integer and rounds once, half away from zero", () => {
    expect(roundDiv(5n, 2n)).toBe(3n);
    expect(roundDiv(-5n, 2n)).toBe(-3n);
    expect(roundDiv(4n, 3n)).toBe(1n);
    // 2 cores (2000 milli) for 1800 s at 0.12/core-hour = 0.12 exactly
    expect(lineAmount(2000n * 1800n, 120_000, 0)).toBe(120_000n);
    // a third of an hour of one unit at 1 minor unit/hour: 0.333 → 0
    expect(lineAmount(1000n * 1200n, 1, 0)).toBe(0n);
    expect(lineAmount(1000n * 1800n, 1, 0)).toBe(1n);
    // 10% off 120000 → 108000
    expect(lineAmount(1000n * 3600n, 120_000, 1000)).toBe(108_000n);
    expect(costOf([cpu], priceBook([global], ["x"], T0)!, 3600)).toBe(240_000n);
    expect(formatMoney(1_234_567n, 1_000_000)).toBe("1.234567");
    expect(formatMoney(-5n, 100)).toBe("-0.05");
  });
});

describe("rating", () => {
  const two = [meter("ecs", "cpu.core-hour", 2)];
  const four = [meter("ecs", "cpu.core-hour", 4)];

  it("prorates per second across the events inside an hour", () => {
    const u = usage([ev(T0 - H, two), ev(T0 + 900_000, four), ev(T0 + 2_700_000, [])], T0, T0 + H);
    // 15 min at 2, 30 min at 4, 15 min at 0
    expect([...u.values()][0]!.milliSeconds).toBe(2000n * 900n + 4000n * 1800n);
  });

  it("writes one row per resource and meter, with deterministic keys and the price then", () => {
    const g = list("g", "2026-01-01T00:00:00Z", [{ product: "ecs", meter: "cpu.core-hour", unitPrice: 100 }]);
    const rows = rateHour(new Map([[1, [ev(T0 - H, two)]]]), T0, () => priceBook([g], ["acme"], T0));
    expect(rows).toHaveLength(1);
    expect(rowKey(rows[0]!)).toBe(`1|ecs|cpu.core-hour||||${T0 / 1000}|${T0 / 1000}`);
    expect(rows[0]).toMatchObject({ milliSeconds: 2000n * 3600n, unitPrice: 100 });
    expect(rowKey(rateHour(new Map([[1, [ev(T0 - H, two)]]]), T0, () => undefined)[0]!)).toBe(rowKey(rows[0]!));
  });

  it("turns a late event into adjustments of the hours already rated", () => {
    // rated as 2 cores for hours 0 and 1; a late event says it was stopped at 0:30
    const written = new Map([[`${T0}|ecs|cpu.core-hour|||`, 2000n * 3600n], [`${T0 + H}|ecs|cpu.core-hour|||`, 2000n * 3600n]]);
    const rows = adjustments(1, [ev(T0 - H, two, 1), ev(T0 + 1_800_000, [], 2)], written, T0 + 1_800_000, T0 + 2 * H, () => undefined);
    expect(rows.map((r) => [r.hour, r.ratedIn, r.milliSeconds])).toEqual([[T0, T0 + 2 * H, -2000n * 1800n], [T0 + H, T0 + 2 * H, -2000n * 3600n]]);
  });
});

describe("subscription periods", () => {
  const spec = (s: Partial<SubscriptionSpec> = {}): SubscriptionSpec => ({
    resource: { kind: "Instance", name: "vm" }, period: { unit: "Month", count: 1 }, autoRenew: false, renewBeforeHours: 72, renewals: 0, gracePeriodHours: 168, cancelled: false, ...s,
  });
  const jan31 = Date.UTC(2026, 0, 31, 10, 30);

  it("chains 24 monthly periods from the start without drift (month ends clamp, then come back)", () => {
    const ends: string[] = [];
    for (let n = 0; n < 24; n++) {
      const p = period(jan31, { unit: "Month", count: 1 }, n);
      if (n > 0) expect(p.start).toBe(period(jan31, { unit: "Month", count: 1 }, n - 1).end);
      ends.push(new Date(p.end).toISOString().slice(0, 10));
    }
    expect(ends.slice(0, 4)).toEqual(["2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]);
    expect(ends[23]).toBe("2028-01-31");
    expect(new Date(period(jan31, { unit: "Month", count: 1 }, 23).end).getUTCHours()).toBe(10);
    expect(addMonths(Date.UTC(2027, 1, 28), 12)).toBe(Date.UTC(2028, 1, 28));
    expect(period(Date.UTC(2024, 1, 29), { unit: "Year", count: 1 }, 0).end).toBe(Date.UTC(2025, 1, 28));
    expect(period(Date.UTC(2024, 1, 29), { unit: "Year", count: 1 }, 3).end).toBe(Date.UTC(2028, 1, 29));
  });

  it("renews automatically renewBeforeHours before each end, 24 times in 24 periods", () => {
    const s = spec({ autoRenew: true });
    let paid = 1;
    for (let n = 0; n < 24; n++) {
      const renewAt = period(jan31, s.period, n).end - 72 * H;
      expect(planSubscription(s, jan31, paid, new Set(), renewAt - 1000).paid).toBe(paid);
      paid = planSubscription(s, jan31, paid, new Set(), renewAt).paid;
      expect(paid).toBe(n + 2);
    }
    expect(planSubscription(s, jan31, paid, new Set(), period(jan31, s.period, 10).start).phase).toBe("Active");
  });

  it("stops at expiry, deletes after the grace period, and a renewal in the grace period restores it", () => {
    const end = period(jan31, spec().period, 0).end;
    expect(planSubscription(spec(), jan31, 1, new Set(), end - 1)).toMatchObject({ phase: "Active", stop: false, nextAt: end });
    expect(planSubscription(spec(), jan31, 1, new Set(), end)).toMatchObject({ phase: "Expired", stop: true, remove: false, nextAt: end + 168 * H });
    expect(planSubscription(spec(), jan31, 1, new Set(), end + 168 * H)).toMatchObject({ phase: "Deleted", remove: true });
    const renewed = planSubscription(spec({ renewals: 1 }), jan31, 1, new Set(), end + 24 * H);
    expect(renewed).toMatchObject({ paid: 2, phase: "Active", stop: false, expiresAt: period(jan31, spec().period, 1).end });
  });

  it("refunds paid periods that have not started when cancelled, and then lets the object run on", () => {
    const p = planSubscription(spec({ renewals: 2, cancelled: true }), jan31, 3, new Set(), jan31 + 24 * H);
    expect(p.refund).toEqual([1, 2]);
    expect(p.expiresAt).toBe(period(jan31, spec().period, 0).end);
    expect(planSubscription(spec({ renewals: 2, cancelled: true }), jan31, 3, new Set([1, 2]), p.expiresAt + 1)).toMatchObject({ phase: "Cancelled", stop: false, remove: false });
  });
});

describe("tenants", () => {
  const tenants: Record<string, { spec: { parent?: string; billing?: { pricing?: "Enabled" | "Disabled"; deduction?: "Enabled" | "Disabled" } } }> = {
    acme: { spec: { billing: { deduction: "Disabled" } } }, research: { spec: { parent: "acme", billing: { pricing: "Disabled" } } }, ml: { spec: { parent: "research" } },
  };
  const get = (n: string) => tenants[n] as never;
  it("walks to the root and inherits switches a department leaves empty", () => {
    expect(chainOf(get, "ml")).toEqual(["ml", "research", "acme"]);
    expect(switchOf(get, ["ml", "research", "acme"], "pricing")).toBe(false);
    expect(switchOf(get, ["ml", "research", "acme"], "deduction")).toBe(false);
    expect(switchOf(get, ["acme"], "pricing")).toBe(true);
  });
});

describe("bills", () => {
  it("totals lines per product, meter, zone and arch, with a stable checksum", () => {
    const line = (name: string, amount: bigint) => ({ resourceUid: name, kind: "Instance", namespace: "acme", name, product: "ecs", meter: "cpu.core-hour", zone: "az1", arch: "amd64", variant: "", unitPrice: 1, discountBp: 0, milliSeconds: 1800_000n, amount });
    const a = closeBill([line("a", 5n), line("b", 7n)], []);
    expect(a.totals).toEqual([{ product: "ecs", meter: "cpu.core-hour", zone: "az1", arch: "amd64", quantity: "1", amount: 12 }]);
    expect(a.checksum).toBe(closeBill([line("a", 5n), line("b", 7n)], []).checksum);
    expect(a.csv.split("\n")[1]).toBe("Instance,acme,a,a,ecs,cpu.core-hour,az1,amd64,,1,0,0.5,5");
  });
});
