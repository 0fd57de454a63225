// Billing against the real apiserver and the plane's real PostgreSQL: a scripted month (clock
// injected) of creates, a stop, a resize, an EIP bandwidth change, a volume growth and deletes,
// metered from the objects' lifecycle, rated hour by hour and billed to the minor unit as computed
// by hand; price overrides and the tenant switches; the CSV of a bill for whoever may read it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BillRef, meter, PriceListRef, type BillObj } from "../operators/api/billing.ts";
import { closeBill, monthRange } from "../operators/billing/bills.ts";
import { billLines, recordEvent } from "../operators/billing/ledger.ts";
import { FlavorRef, ImageRef, InstanceRef } from "../operators/api/compute.ts";
import { ElasticIPRef } from "../operators/api/network.ts";
import { VolumeRef } from "../operators/api/storage.ts";
import { TENANT_LABEL, TenantRef } from "../operators/api/tenancy.ts";
import type { BillingParts } from "../operators/billing/product.ts";
import { NamespaceRef } from "../operators/runtime/core.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import type { KubeObject, ResourceRef } from "../operators/runtime/types.ts";
import { ledgerUrl, objects, scratchLedger, TestClock, type ScratchLedger } from "./support/billing.ts";
import { eventually, kubeConfig, kubectl, uniqueName } from "./support/kube.ts";
import { startManager, type InProcessManager } from "./support/manager.ts";

const skip = !ledgerUrl();
if (skip) console.log("billing suites skipped: this cluster has no billing ledger database (the local plane starts one)");

const OCT = "2026-10";
const at = (day: number, h = 0, m = 0, s = 0) => Date.UTC(2026, 9, day, h, m, s);
const NOV1 = Date.UTC(2026, 10, 1);

describe.skipIf(skip)("billing: a scripted month", () => {
  const client = new KubeClient(kubeConfig());
  const clock = new TestClock(at(1));
  const id = uniqueName("b").slice(2);
  const t = { acme: `acme-${id}`, free: `free-${id}`, invoiced: `inv-${id}`, vip: `vip-${id}` };
  let ledger: ScratchLedger;
  let m: InProcessManager;
  let parts: BillingParts;

  const { create, cleanup } = objects(client);
  /** Waits until the ledger holds `n` events of the object (metering saw the change at the clock's time). */
  const recorded = (uid: string, n: number) => eventually(async () => {
    const [r] = await ledger.sql<{ n: bigint }>`SELECT count(*)::bigint AS n FROM usage_events e JOIN resources r ON r.id = e.resource_id WHERE r.uid = ${uid}`;
    return r!.n === BigInt(n);
  }, { what: `${n} usage event(s) of ${uid}`, timeoutMs: 20_000, intervalMs: 50 });
  const patch = (ref: ResourceRef, name: string, ns: string, body: unknown) => client.patch<KubeObject>(ref, name, ns, body, "merge");
  const vm = (name: string, ns: string, flavor: string) => create(InstanceRef, {
    metadata: { name, namespace: ns }, spec: { flavor, image: `img-${id}`, zone: "az1", powerState: "Running" },
  });

  beforeAll(async () => {
    ledger = await scratchLedger("month");
    for (const [key, name] of Object.entries(t)) {
      await create(NamespaceRef, { metadata: { name, labels: { [TENANT_LABEL]: name, "cellcloud.io/test": "true" } } });
      await create(TenantRef, { metadata: { name }, spec: { namespaces: [name], ...(key === "free" ? { billing: { pricing: "Disabled" } } : key === "invoiced" ? { billing: { deduction: "Disabled" } } : {}) } });
      await create(ImageRef, { metadata: { name: `img-${id}`, namespace: name }, spec: { os: { type: "linux", distribution: "ubuntu", version: "24.04" }, architecture: "amd64", minDiskGiB: 20, source: { url: "https://example.com/img.qcow2" } } });
    }
    await create(FlavorRef, { metadata: { name: `f2-${id}` }, spec: { vcpus: 2, memory: "4Gi", family: "general", architectures: ["amd64"] } });
    await create(FlavorRef, { metadata: { name: `f4-${id}` }, spec: { vcpus: 4, memory: "8Gi", family: "general", architectures: ["amd64"] } });
    // 0.10/core-hour, 0.02/GiB-hour, 0.001/GiB-hour of disk, 0.005/Mbps-hour (CNY, in millionths)
    await create(PriceListRef, {
      metadata: { name: `std-${id}` },
      spec: {
        currency: "CNY", scale: 1_000_000, effectiveFrom: "2026-09-30T00:00:00Z", items: [
          { product: "ecs", meter: "cpu.core-hour", unitPrice: 100_000 }, { product: "ecs", meter: "memory.GiB-hour", unitPrice: 20_000 },
          { product: "ecs", meter: "disk.GiB-hour", unitPrice: 1_000 }, { product: "evs", meter: "disk.GiB-hour", unitPrice: 1_000 },
          { product: "eip", meter: "eip.Mbps-hour", unitPrice: 5_000 },
        ],
      },
    });
    // vip's own list: cores at 0.09, and 10% off every line
    await create(PriceListRef, {
      metadata: { name: `vip-${id}` },
      spec: { currency: "CNY", scale: 1_000_000, effectiveFrom: "2026-09-30T00:00:00Z", tenant: t.vip, discountBasisPoints: 1000, items: [{ product: "ecs", meter: "cpu.core-hour", unitPrice: 90_000 }] },
    });
    m = await startManager(["billing"], undefined, { clock, settings: { billing: { databaseUrl: ledger.url, latenessMs: 60_000, rateEveryMs: 100 } } });
    parts = m.controllers.billing as unknown as BillingParts;
  }, 120_000);

  afterAll(async () => {
    await m?.mgr.stop();
    await cleanup();
    await ledger?.drop();
  });

  it("bills each tenant its month to the minor unit, as computed by hand", async () => {
    const a = t.acme;
    // Oct 1 00:00: an instance (2 vCPU, 4 GiB, 20 GiB system disk), a 100 GiB volume, an EIP at 100 Mbit/s out
    const vmA = await vm("vm-a", a, `f2-${id}`);
    const vol = await create(VolumeRef, { metadata: { name: "data", namespace: a }, spec: { size: "100Gi", type: "ssd", zone: "az1" } });
    const eip = await create(ElasticIPRef, { metadata: { name: "pub", namespace: a }, spec: { bandwidth: { ingressMbps: 100, egressMbps: 100 } } });
    const side = await Promise.all([t.free, t.invoiced, t.vip].map((ns) => vm("side", ns, `f2-${id}`)));
    for (const o of [vmA, vol, eip, ...side]) await recorded(o.metadata.uid!, 1);
    // Oct 2 00:00: the other tenants' instances go after exactly 24 hours
    clock.set(at(2));
    for (const o of side) await client.delete(InstanceRef, "side", o.metadata.namespace);
    for (const o of side) await recorded(o.metadata.uid!, 2);
    // Oct 5 12:00 stop; Oct 6 12:00 resize to 4 vCPU / 8 GiB while stopped; Oct 6 12:30 start
    clock.set(at(5, 12));
    await patch(InstanceRef, "vm-a", a, { spec: { powerState: "Stopped" } });
    await recorded(vmA.metadata.uid!, 2);
    clock.set(at(6, 12));
    await patch(InstanceRef, "vm-a", a, { spec: { flavor: `f4-${id}` } }); // stopped: cores and memory are not metered, the disk is the same
    clock.set(at(6, 12, 30));
    await patch(InstanceRef, "vm-a", a, { spec: { powerState: "Running" } });
    await recorded(vmA.metadata.uid!, 3);
    // Oct 10 08:15:30: the EIP's egress doubles
    clock.set(at(10, 8, 15, 30));
    await patch(ElasticIPRef, "pub", a, { spec: { bandwidth: { egressMbps: 200 } } });
    await recorded(eip.metadata.uid!, 2);
    // Oct 15: a second instance, deleted Oct 20 06:00
    clock.set(at(15));
    const vmB = await vm("vm-b", a, `f2-${id}`);
    await recorded(vmB.metadata.uid!, 1);
    clock.set(at(20, 6));
    await client.delete(InstanceRef, "vm-b", a);
    await recorded(vmB.metadata.uid!, 2);
    // Oct 25: the volume grows to 200 GiB; Oct 28 18:00 the EIP is released
    clock.set(at(25));
    await patch(VolumeRef, "data", a, { spec: { size: "200Gi" } });
    await recorded(vol.metadata.uid!, 2);
    clock.set(at(28, 18));
    await client.delete(ElasticIPRef, "pub", a);
    await recorded(eip.metadata.uid!, 3);
    // Nov 1 00:02: October's last hour is past the 60 s lateness: the month closes
    clock.set(NOV1 + 120_000);
    const bill = await eventually(async () => {
      const b = await client.get<BillObj>(BillRef, `${a}-${OCT}`, a);
      return b.status?.phase === "Finalized" && b;
    }, { what: `bill ${a}-${OCT} Finalized`, timeoutMs: 90_000 });

    // By hand (millionths of a CNY). vm-a: 108 h at 2 cores/4 GiB, stopped 24.5 h, 611.5 h at 4/8,
    // its 20 GiB disk all 744 h. vm-b: 126 h at 2/4 with 20 GiB. The volume: 576 h at 100 GiB, 168 h
    // at 200. The EIP: 807330 s at 100 Mbit/s, 1590270 s at 200: one line, rounded once.
    const cpu = (2 * 108 + 4 * 611.5 + 2 * 126) * 100_000;
    const mem = (4 * 108 + 8 * 611.5 + 4 * 126) * 20_000;
    const disk = (20 * 744 + 20 * 126) * 1_000;
    const volume = (100 * 576 + 200 * 168) * 1_000;
    const eipLine = Math.round((100 * 807_330 + 200 * 1_590_270) * 5_000 / 3600);
    expect(eipLine).toBe(553_870_833);
    const expected = cpu + mem + disk + volume + eipLine;
    expect(expected).toBe(1_070_430_833);
    expect(bill.status).toMatchObject({ phase: "Finalized", currency: "CNY", scale: 1_000_000, total: expected, usageAmount: expected, pricing: "Enabled", deduction: "Enabled", deducted: expected });
    const total = (product: string, meter: string) => bill.status!.totals!.filter((x) => x.product === product && x.meter === meter).reduce((s, x) => s + x.amount, 0);
    expect(total("ecs", "cpu.core-hour")).toBe(cpu);
    expect(total("ecs", "memory.GiB-hour")).toBe(mem);
    expect(total("ecs", "disk.GiB-hour")).toBe(disk);
    expect(total("evs", "disk.GiB-hour")).toBe(volume);
    expect(total("eip", "eip.Mbps-hour")).toBe(eipLine);
    expect(bill.status!.totals!.find((x) => x.meter === "cpu.core-hour")).toMatchObject({ zone: "az1", arch: "amd64", quantity: "2914" });
    expect(bill.status!.ratedUntil).toBe(new Date(NOV1).toISOString());

    // closing the month again gives the same lines, totals and checksum
    const again = await parts.bills!.close(a, OCT);
    expect(again.checksum).toBe(bill.status!.checksum);
    expect(Number(again.usageAmount)).toBe(expected);
    expect(again.lines).toHaveLength(bill.status!.lineItems!);
    // one row per resource, meter and hour, and none twice: the EIP's 100 and 200 Mbit/s are one meter,
    // metered in the 666 hours from Oct 1 00:00 to Oct 28 18:00
    const [rows] = await ledger.sql<{ dup: bigint; eip: bigint }>`
      SELECT (count(*) - count(DISTINCT (u.resource_id, u.meter_id, u.hour)))::bigint AS dup, count(*) FILTER (WHERE r.kind = 'ElasticIP')::bigint AS eip
      FROM usage_rows u JOIN resources r ON r.id = u.resource_id WHERE r.tenant = ${a}`;
    expect(rows).toEqual({ dup: 0n, eip: 666n });
  }, 240_000);

  it("applies the tenant switches and a tenant's own price list", async () => {
    const bill = (tenant: string) => eventually(async () => {
      const b = await client.get<BillObj>(BillRef, `${tenant}-${OCT}`, tenant);
      return b.status?.phase === "Finalized" && b.status;
    }, { what: `bill of ${tenant} Finalized`, timeoutMs: 60_000 });
    // 24 h of 2 cores, 4 GiB and 20 GiB of disk
    const day = 2 * 24 * 100_000 + 4 * 24 * 20_000 + 20 * 24 * 1_000;
    expect(day).toBe(7_200_000);
    // pricing off: metered, charged nothing
    expect(await bill(t.free)).toMatchObject({ pricing: "Disabled", total: 0, deducted: 0 });
    expect((await bill(t.free)).lineItems).toBeGreaterThan(0);
    // deduction off: charged, not deducted
    expect(await bill(t.invoiced)).toMatchObject({ deduction: "Disabled", total: day, deducted: 0 });
    // its own list: cores at 0.09, then 10% off each line, rounded once per line
    const vip = Math.round(2 * 24 * 90_000 * 0.9) + Math.round(4 * 24 * 20_000 * 0.9) + Math.round(20 * 24 * 1_000 * 0.9);
    expect(vip).toBe(6_048_000);
    expect(await bill(t.vip)).toMatchObject({ total: vip, deducted: vip });
  }, 120_000);

  it("bills an event that arrives after its hours were rated as an adjustment in the next hour rated, leaving the finalized month alone", async () => {
    const a = t.acme;
    const before = await client.get<BillObj>(BillRef, `${a}-${OCT}`, a);
    // a volume of 10 GiB that existed from Oct 31 12:00, recorded only now (as a manager that was
    // down would record it from its creationTimestamp): 36 hours already rated
    const uid = `late-${id}`;
    await recordEvent(ledger.sql, { id: `${uid}/1/create`, resourceUid: uid, tenant: a, namespace: a, kind: "Volume", name: "late", at: at(31, 12), meters: [meter("evs", "disk.GiB-hour", 10, { zone: "az1", variant: "ssd" })] });
    const [late] = await ledger.sql<{ n: bigint }>`SELECT count(*)::bigint AS n FROM late_events`;
    expect(late!.n).toBe(1n);
    // Nov 1 02:02: the hours 00:00 and 01:00 are rated; the first carries the late event's
    // adjustments for Oct 31 12:00 to 24:00 (rated in Nov 1 00:00), both then meter it as usual
    clock.set(NOV1 + 2 * 3_600_000 + 120_000);
    const adjusted = await eventually(async () => {
      const rows = await ledger.sql<{ hour: Date; rated_in: Date; ms: bigint }>`
        SELECT u.hour, u.rated_in, u.milli_seconds AS ms FROM usage_rows u JOIN resources r ON r.id = u.resource_id WHERE r.uid = ${uid} ORDER BY u.hour`;
      return rows.length === 14 && rows;
    }, { what: "the late volume's rows", timeoutMs: 30_000 });
    expect(adjusted.map((r) => [r.hour.getTime(), r.rated_in.getTime()])).toEqual([
      ...Array.from({ length: 12 }, (_, i) => [at(31, 12) + i * 3_600_000, NOV1]), [NOV1, NOV1], [NOV1 + 3_600_000, NOV1 + 3_600_000]]);
    expect(adjusted.every((r) => r.ms === 10_000n * 3600n)).toBe(true);
    // October's bill is final and unchanged; November's carries the 14 hours: 140 GiB-hours at 0.001
    const [from, to] = monthRange("2026-11");
    const nov = closeBill(await billLines(ledger.sql, a, from, to), []);
    expect(nov.lines.find((l) => l.name === "late")).toMatchObject({ amount: 140_000n });
    // an hour a paid subscription period covers is not charged pay-as-you-go as well
    await ledger.sql`INSERT INTO subscription_periods (key, subscription_uid, period, tenant, namespace, name, resource_uid, resource_kind, resource_name, starts, ends, amount, price_list, charged_at)
      VALUES (${`sub-${uid}/0`}, ${`sub-${uid}`}, 0, ${a}, ${a}, 'late', ${uid}, 'Volume', 'late', ${new Date(NOV1)}, ${new Date(NOV1 + 3_600_000)}, 0, 'test', ${new Date(NOV1)})`;
    const covered = closeBill(await billLines(ledger.sql, a, from, to), []);
    expect(covered.lines.find((l) => l.name === "late")).toMatchObject({ amount: 130_000n, milliSeconds: 13n * 10_000n * 3600n });
    expect((await parts.bills!.close(a, OCT)).checksum).toBe(before.status!.checksum);
  }, 60_000);

  it("serves a bill's lines as CSV to whoever may get the Bill, and to no one else", async () => {
    const a = t.acme;
    const url = (ns: string, name: string) => m.mgr.metricsUrl!.replace("/metrics", `/billing/v1/bills/${ns}/${name}.csv`);
    kubectl(["create", "serviceaccount", "bill-reader", "-n", a]);
    kubectl(["create", "role", "bill-reader", "-n", a, "--verb=get", "--resource=bills.billing.cellcloud.io"]);
    kubectl(["create", "rolebinding", "bill-reader", "-n", a, "--role=bill-reader", `--serviceaccount=${a}:bill-reader`]);
    kubectl(["create", "serviceaccount", "nosy", "-n", t.vip]);
    const token = (ns: string, sa: string) => kubectl(["create", "token", sa, "-n", ns]).trim();
    const get = (u: string, tok?: string) => fetch(u, tok ? { headers: { authorization: `Bearer ${tok}` } } : {});
    const ok = await eventually(async () => { const r = await get(url(a, `${a}-${OCT}`), token(a, "bill-reader")); return r.status === 200 && r; }, { what: "the reader gets the CSV (RBAC propagated)" });
    const csv = await ok.text();
    const lines = csv.trim().split("\n");
    expect(lines[0]).toBe("kind,namespace,name,uid,product,meter,zone,arch,variant,unit_price,discount_bp,unit_hours,amount");
    expect(lines.slice(1).reduce((s, l) => s + Number(l.split(",").at(-1)), 0)).toBe(1_070_430_833);
    expect(lines.some((l) => l.startsWith(`ElasticIP,${a},pub,`) && l.endsWith(",553870833"))).toBe(true);
    expect((await get(url(a, `${a}-${OCT}`), token(t.vip, "nosy"))).status).toBe(403);
    expect((await get(url(a, `${a}-${OCT}`))).status).toBe(401);
    expect((await get(url(a, `${a}-${OCT}`), "not-a-token")).status).toBe(401);
    expect((await get(m.mgr.metricsUrl!.replace("/metrics", "/billing/v1/bills/../../etc/passwd"))).status).toBe(404);
    // the dashboards' gauge: the month's total per tenant, in currency units
    const metrics = await (await fetch(m.mgr.metricsUrl!)).text();
    expect(metrics).toContain(`cellcloud_billing_amount{tenant="${a}",currency="CNY",month="${OCT}"} 1070.430833`);
  }, 60_000);
});
