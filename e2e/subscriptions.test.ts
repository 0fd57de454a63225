// Subscriptions against the real apiserver and the plane's PostgreSQL, with the clock injected: an
// instance's subscription expires (the instance is stopped), is renewed in its grace period (started
// again, the next period charged from the previous end), then expires for good and the instance is
// deleted; a volume's subscription renews itself 24 times with every period chained without drift
// and charged exactly once.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EXPIRED_ANNOTATION, PriceListRef, SubscriptionRef, type SubscriptionObj } from "../operators/api/billing.ts";
import { FlavorRef, ImageRef, InstanceRef } from "../operators/api/compute.ts";
import { VolumeRef } from "../operators/api/storage.ts";
import { TENANT_LABEL, TenantRef } from "../operators/api/tenancy.ts";
import { period } from "../operators/billing/periods.ts";
import { NamespaceRef } from "../operators/runtime/core.ts";
import { isNotFound, KubeClient } from "../operators/runtime/kube.ts";
import type { KubeObject, ResourceRef } from "../operators/runtime/types.ts";
import { ledgerUrl, objects, scratchLedger, TestClock, type ScratchLedger } from "./support/billing.ts";
import { eventually, kubeConfig, uniqueName } from "./support/kube.ts";
import { startManager, type InProcessManager } from "./support/manager.ts";

const H = 3_600_000;

describe.skipIf(!ledgerUrl())("billing: subscriptions", () => {
  const client = new KubeClient(kubeConfig());
  const start = Date.parse("2027-01-31T10:00:00Z");
  const clock = new TestClock(start);
  const id = uniqueName("s").slice(2);
  const ns = `subs-${id}`;
  let ledger: ScratchLedger;
  let m: InProcessManager;

  const { create, cleanup } = objects(client);
  /** Moves the clock and has the subscription looked at, as its requeue would at that time. */
  const at = async (ms: number, sub: string, until: (s: SubscriptionObj) => boolean, what: string) => {
    clock.set(ms);
    m.mgr.getController("subscription")!.enqueue(`${ns}/${sub}`);
    return eventually(async () => { const s = await client.get<SubscriptionObj>(SubscriptionRef, sub, ns); return until(s) && s; }, { what, timeoutMs: 20_000, intervalMs: 100 });
  };
  const periods = (sub: SubscriptionObj) => ledger.sql<{ period: number; starts: Date; ends: Date; amount: bigint }>`
    SELECT period, starts, ends, amount FROM subscription_periods WHERE subscription_uid = ${sub.metadata.uid!} ORDER BY period`;

  beforeAll(async () => {
    ledger = await scratchLedger("subs");
    await create(NamespaceRef, { metadata: { name: ns, labels: { [TENANT_LABEL]: ns, "cellcloud.io/test": "true" } } });
    await create(TenantRef, { metadata: { name: ns }, spec: { namespaces: [ns] } });
    await create(FlavorRef, { metadata: { name: `f-${id}` }, spec: { vcpus: 2, memory: "4Gi", family: "general", architectures: ["amd64"] } });
    await create(ImageRef, { metadata: { name: "img", namespace: ns }, spec: { os: { type: "linux", distribution: "ubuntu", version: "24.04" }, architecture: "amd64", minDiskGiB: 20, source: { url: "https://example.com/i.img" } } });
    await create(PriceListRef, {
      metadata: { name: `subs-${id}` },
      spec: { currency: "CNY", scale: 1_000_000, effectiveFrom: "2026-12-01T00:00:00Z", items: [
        { product: "ecs", meter: "cpu.core-hour", unitPrice: 100_000 }, { product: "ecs", meter: "memory.GiB-hour", unitPrice: 20_000 },
        { product: "ecs", meter: "disk.GiB-hour", unitPrice: 1_000 }, { product: "evs", meter: "disk.GiB-hour", unitPrice: 1_000 },
      ] },
    });
    m = await startManager(["billing"], undefined, { clock, settings: { billing: { databaseUrl: ledger.url, rateEveryMs: 60_000 } } });
  }, 120_000);

  afterAll(async () => {
    await m?.mgr.stop();
    await cleanup();
    await ledger?.drop();
  });

  it("stops an instance when its subscription expires, restores it when renewed in the grace period, deletes it after", async () => {
    await create(InstanceRef, { metadata: { name: "vm", namespace: ns }, spec: { flavor: `f-${id}`, image: "img", zone: "az1", powerState: "Running" } });
    await create(SubscriptionRef, { metadata: { name: "vm", namespace: ns }, spec: { resource: { kind: "Instance", name: "vm" }, period: { unit: "Month", count: 1 }, gracePeriodHours: 48 } });
    const first = period(start, { unit: "Month", count: 1 }, 0);
    expect(new Date(first.end).toISOString()).toBe("2027-02-28T10:00:00.000Z");
    const active = await at(start, "vm", (s) => s.status?.phase === "Active", "subscribed");
    expect(active.status).toMatchObject({ paidPeriods: 1, start: "2027-01-31T10:00:00.000Z", expiresAt: "2027-02-28T10:00:00.000Z" });
    // 672 hours of 2 cores, 4 GiB and a 20 GiB disk
    const month = 672 * (2 * 100_000 + 4 * 20_000 + 20 * 1_000);
    expect((await periods(active)).map((p) => Number(p.amount))).toEqual([month]);
    expect(active.status!.lastCharge).toBe(month);
    // a day before the end it is among the subscriptions expiring within 7 days (the dashboard's gauge)
    clock.set(first.end - 24 * H);
    const metrics = await (await fetch(m.mgr.metricsUrl!)).text();
    expect(metrics).toContain(`cellcloud_billing_expiring_subscriptions{tenant="${ns}"} 1`);
    expect(metrics).toContain(`cellcloud_billing_subscription_expiry_timestamp_seconds{tenant="${ns}",namespace="${ns}",name="vm",kind="Instance"} ${first.end / 1000}`);

    // an hour after the end: expired, the instance stopped
    const expired = await at(first.end + H, "vm", (s) => s.status?.phase === "Expired", "expired");
    expect(expired.status!.conditions!.find((c) => c.type === "Expired")).toMatchObject({ status: "True" });
    const stopped = await eventually(async () => { const v = await client.get<KubeObject & { spec: { powerState: string } }>(InstanceRef, "vm", ns); return v.spec.powerState === "Stopped" && v; }, { what: "instance stopped" });
    expect(stopped.metadata.annotations?.[EXPIRED_ANNOTATION]).toBe("2027-02-28T10:00:00.000Z");

    // renewed a day into the grace period: the next period starts at the previous end, the instance runs again
    await client.patch(SubscriptionRef, "vm", ns, { spec: { renewals: 1 } }, "merge");
    const renewed = await at(first.end + 24 * H, "vm", (s) => s.status?.phase === "Active" && s.status.paidPeriods === 2, "renewed");
    expect(renewed.status!.expiresAt).toBe("2027-03-31T10:00:00.000Z");
    const ps = await periods(renewed);
    expect(ps.map((p) => [p.period, p.starts.toISOString(), p.ends.toISOString()])).toEqual([
      [0, "2027-01-31T10:00:00.000Z", "2027-02-28T10:00:00.000Z"], [1, "2027-02-28T10:00:00.000Z", "2027-03-31T10:00:00.000Z"]]);
    expect(Number(ps[1]!.amount)).toBe(744 * (2 * 100_000 + 4 * 20_000 + 20 * 1_000));
    await eventually(async () => {
      const v = await client.get<KubeObject & { spec: { powerState: string } }>(InstanceRef, "vm", ns);
      return v.spec.powerState === "Running" && !v.metadata.annotations?.[EXPIRED_ANNOTATION];
    }, { what: "instance running again" });

    // expired again, and not renewed within 48 hours: deleted (the recycle bin)
    await at(Date.parse("2027-03-31T10:00:00Z") + H, "vm", (s) => s.status?.phase === "Expired", "expired again");
    await at(Date.parse("2027-03-31T10:00:00Z") + 48 * H, "vm", (s) => s.status?.phase === "Deleted", "grace period over");
    await eventually(() => client.get(InstanceRef, "vm", ns).then(() => false, (e: unknown) => isNotFound(e)), { what: "instance deleted" });
    expect(await periods(renewed)).toHaveLength(2);
  }, 120_000);

  it("renews itself 24 times without drift, each period charged once", async () => {
    await create(VolumeRef, { metadata: { name: "archive", namespace: ns }, spec: { size: "100Gi", type: "ssd", zone: "az1" } });
    // Jan 31: months of 28, 29 (2028), 30 and 31 days, each ending on the 31st or the month's last day, 10:00
    clock.set(start);
    await create(SubscriptionRef, { metadata: { name: "archive", namespace: ns }, spec: { resource: { kind: "Volume", name: "archive" }, period: { unit: "Month", count: 1 }, autoRenew: true, renewBeforeHours: 72 } });
    let sub = await at(start, "archive", (s) => s.status?.paidPeriods === 1, "subscribed");
    for (let n = 0; n < 24; n++) {
      const end = period(start, { unit: "Month", count: 1 }, n).end;
      sub = await at(end - 72 * H, "archive", (s) => s.status?.paidPeriods === n + 2, `renewal ${n + 1}`);
      // looked at again at the same time: nothing more is charged
      m.mgr.getController("subscription")!.enqueue(`${ns}/archive`);
    }
    const ps = await periods(sub);
    expect(ps).toHaveLength(25);
    for (let n = 1; n < ps.length; n++) expect(ps[n]!.starts.getTime()).toBe(ps[n - 1]!.ends.getTime());
    expect(ps.map((p) => p.ends.toISOString().slice(0, 10)).slice(0, 5)).toEqual(["2027-02-28", "2027-03-31", "2027-04-30", "2027-05-31", "2027-06-30"]);
    expect(ps[12]!.ends.toISOString()).toBe("2028-02-29T10:00:00.000Z");
    expect(ps[24]!.ends.toISOString()).toBe("2029-02-28T10:00:00.000Z");
    // each period costs its own hours: 100 GiB × hours × 0.001
    for (const p of ps) expect(Number(p.amount)).toBe(100 * ((p.ends.getTime() - p.starts.getTime()) / H) * 1_000);
    expect(sub.status).toMatchObject({ phase: "Active", paidPeriods: 25, expiresAt: "2029-02-28T10:00:00.000Z" });
  }, 120_000);
});
