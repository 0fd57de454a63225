// Bills: one per tenant per month, in the tenant's first namespace, named <tenant>-<YYYY-MM>. Its
// status carries bounded totals (product × meter × zone × arch); the per-resource lines stay in the
// ledger and come as CSV. A bill is Open while its month runs, Closing until the rater passes the
// month's end, then Finalized: deducted once (when the tenant's deduction switch is on), and
// closing it again gives the same lines, totals and checksum.
import { createHash } from "node:crypto";
import { Gauge } from "prom-client";
import { BillRef, billName, type BillObj, type BillStatus, type BillTotal } from "../api/billing.ts";
import { TENANT_LABEL, type TenantSpec } from "../api/tenancy.ts";
import { NamespaceRef } from "../runtime/core.ts";
import type { Controller } from "../runtime/controller.ts";
import { isAlreadyExists } from "../runtime/kube.ts";
import type { Manager } from "../runtime/manager.ts";
import { markReady, markStalled, writeStatus } from "../runtime/status.ts";
import { requestKey, type KubeObject } from "../runtime/types.ts";
import type { Books } from "./books.ts";
import type { LedgerHandle } from "./handle.ts";
import { billLines, billLinesByTenant, deduct, ratedUntil, subscriptionLines, tenantsBilled, type BillLine, type SubscriptionLine } from "./ledger.ts";
import { formatMoney } from "./price.ts";

/** "2026-10" → [start, end) in ms (UTC). */
export function monthRange(month: string): [number, number] {
  const [y, m] = month.split("-").map(Number) as [number, number];
  return [Date.UTC(y, m - 1, 1), Date.UTC(y, m, 1)];
}
export const monthOf = (at: number) => new Date(at).toISOString().slice(0, 7);

export interface ClosedBill {
  lines: BillLine[];
  subscriptions: SubscriptionLine[];
  totals: BillTotal[];
  usageAmount: bigint;
  subscriptionAmount: bigint;
  checksum: string;
  csv: string;
}

const quantityOf = (milliSeconds: bigint) => {
  // unit-hours with up to 7 decimals (milli-units × seconds / 3.6e6), exact, trailing zeros cut
  const whole = milliSeconds / 3_600_000n, frac = (milliSeconds < 0n ? -milliSeconds : milliSeconds) % 3_600_000n;
  const digits = (frac * 10_000_000n / 3_600_000n).toString().padStart(7, "0").replace(/0+$/, "");
  return digits ? `${whole}.${digits}` : `${whole}`;
};

/** Lines and subscriptions → totals, CSV and checksum (pure). */
export function closeBill(lines: BillLine[], subscriptions: SubscriptionLine[]): ClosedBill {
  const totals = new Map<string, BillTotal & { ms: bigint; sum: bigint }>();
  for (const l of lines) {
    const k = `${l.product}|${l.meter}|${l.zone}|${l.arch}`;
    const t = totals.get(k) ?? { product: l.product, meter: l.meter, zone: l.zone || "-", arch: l.arch || "-", quantity: "0", amount: 0, ms: 0n, sum: 0n };
    t.ms += l.milliSeconds;
    t.sum += l.amount;
    totals.set(k, t);
  }
  const usageAmount = lines.reduce((a, l) => a + l.amount, 0n);
  const subscriptionAmount = subscriptions.reduce((a, s) => a + s.amount, 0n);
  const header = "kind,namespace,name,uid,product,meter,zone,arch,variant,unit_price,discount_bp,unit_hours,amount";
  const csv = [header,
    ...lines.map((l) => [l.kind, l.namespace, l.name, l.resourceUid, l.product, l.meter, l.zone, l.arch, l.variant, l.unitPrice, l.discountBp, quantityOf(l.milliSeconds), l.amount].join(",")),
    ...subscriptions.map((s) => [`Subscription/${s.resourceKind}`, s.namespace, s.resourceName, s.key, "subscription", s.refund ? "refund" : "period", "", "", `${new Date(s.starts).toISOString()}..${new Date(s.ends).toISOString()}`, "", "", "", s.amount].join(",")),
  ].join("\n") + "\n";
  return {
    lines, subscriptions, usageAmount, subscriptionAmount, csv,
    checksum: `sha256:${createHash("sha256").update(csv).digest("hex")}`,
    totals: [...totals.values()].sort((a, b) => `${a.product}|${a.meter}|${a.zone}|${a.arch}`.localeCompare(`${b.product}|${b.meter}|${b.zone}|${b.arch}`))
      .map(({ ms, sum, ...t }) => ({ ...t, quantity: quantityOf(ms), amount: Number(sum) })),
  };
}

export class Bills {
  private readonly mgr: Manager;
  private readonly ledger: LedgerHandle;
  private readonly books: Books;
  readonly controller: Controller;
  private readonly bills;
  private readonly amount: Gauge;
  /** Every tenant's lines of a month, read in one pass at a watermark. */
  private readonly prepared = new Map<string, { watermark?: number; lines: Map<string, BillLine[]> }>();

  constructor(mgr: Manager, ledger: LedgerHandle, books: Books) {
    this.mgr = mgr;
    this.ledger = ledger;
    this.books = books;
    this.bills = mgr.informer<BillObj>(BillRef);
    this.amount = new Gauge({ name: "cellcloud_billing_amount", help: "A tenant's bill total for a month, in currency units (the ledger keeps integer minor units)", labelNames: ["tenant", "currency", "month"], registers: [mgr.metrics.registry] });
    this.controller = mgr.controller("bill").for(BillRef)
      // a namespace given to (or taken from) a tenant changes whether its bills may be shown
      .watches(NamespaceRef, (ns) => this.bills.list(ns.metadata.name).map((b) => `${ns.metadata.name}/${b.metadata.name}`), { labelSelector: TENANT_LABEL })
      .complete(async (req) => { await this.reconcile(requestKey(req)); });
  }

  /**
   * Bills for every tenant billed in the months of `hours` exist (a new one is computed when its
   * creation is seen), and those of the months of `recomputeHours` are brought up to date (totals
   * change at most once an hour, and a month's lines are the costly read).
   */
  async refresh(hours: readonly number[], recomputeHours: readonly number[] = hours): Promise<void> {
    const sql = await this.ledger.sql();
    const recomputed = new Set(recomputeHours.map(monthOf));
    if (recomputed.size) this.prepared.clear();
    for (const month of new Set([...hours, ...recomputeHours].map(monthOf))) {
      const [from, to] = monthRange(month);
      const recompute = recomputed.has(month);
      // every tenant's lines in one pass over the month, for the reconciles this enqueues
      if (recompute) this.prepared.set(month, { watermark: await ratedUntil(sql), lines: await billLinesByTenant(sql, from, to) });
      for (const tenant of await tenantsBilled(sql, from, to)) {
        const t = this.books.tenants.get(tenant) as (KubeObject & { spec: TenantSpec }) | undefined;
        const namespace = t?.spec.namespaces?.[0];
        if (!namespace) continue;
        const name = billName(tenant, month);
        if (!this.bills.get(`${namespace}/${name}`)) {
          await this.mgr.client.create(BillRef, { apiVersion: BillRef.group + "/" + BillRef.version, kind: "Bill", metadata: { name, namespace }, spec: { tenant, month } } as BillObj)
            .catch((e: unknown) => { if (!isAlreadyExists(e)) throw e; });
        }
        if (recompute) this.controller.enqueue(`${namespace}/${name}`);
      }
    }
  }

  /** The month's lines from the ledger, closed into totals (also what the CSV endpoint serves). */
  async close(tenant: string, month: string, watermark?: number): Promise<ClosedBill> {
    const sql = await this.ledger.sql();
    const [from, to] = monthRange(month);
    // lines prepared by the last refresh serve while nothing was rated since
    const prepared = this.prepared.get(month);
    const lines = watermark !== undefined && prepared?.watermark === watermark ? prepared.lines.get(tenant) ?? [] : await billLines(sql, tenant, from, to);
    return closeBill(lines, await subscriptionLines(sql, tenant, from, to));
  }

  private async reconcile(key: string): Promise<void> {
    const bill = this.bills.get(key);
    if (!bill) return;
    const ns = bill.metadata.namespace ?? "";
    const { tenant, month } = bill.spec;
    // a bill shows one tenant's charges only to that tenant's namespaces
    if (this.books.tenantOf(ns) !== tenant) {
      await writeStatus(this.mgr.client, BillRef, bill, markStalled(bill, "WrongNamespace", `namespace ${ns} does not belong to tenant ${tenant}: a bill lives in one of its tenant's namespaces`, this.mgr.clock));
      return;
    }
    if (bill.status?.phase === "Finalized" && bill.status.observedGeneration === bill.metadata.generation) return;
    const sql = await this.ledger.sql();
    const [, end] = monthRange(month);
    const watermark = await ratedUntil(sql);
    const now = this.mgr.clock.now();
    const closed = await this.close(tenant, month, watermark);
    const phase: BillStatus["phase"] = watermark !== undefined && watermark >= end ? "Finalized" : now >= end ? "Closing" : "Open";
    const total = closed.usageAmount + closed.subscriptionAmount;
    const deduction = this.books.enabled(tenant, "deduction");
    const deducted = phase === "Finalized" && deduction ? await deduct(sql, tenant, month, total, closed.checksum) : 0n;
    const book = this.books.book(tenant, Math.min(now, end - 1));
    const status: BillStatus = {
      ...bill.status,
      phase, currency: book?.currency, scale: book?.scale,
      ratedUntil: watermark !== undefined ? new Date(Math.min(watermark, end)).toISOString() : undefined,
      pricing: this.books.enabled(tenant, "pricing") ? "Enabled" : "Disabled",
      deduction: deduction ? "Enabled" : "Disabled",
      totals: closed.totals, usageAmount: Number(closed.usageAmount), subscriptionAmount: Number(closed.subscriptionAmount), total: Number(total),
      deducted: Number(deducted), lineItems: closed.lines.length, checksum: closed.checksum,
    };
    const message = `${phase}: ${book ? `${formatMoney(total, book.scale)} ${book.currency}` : `${total} minor units`} in ${closed.lines.length} line(s)`;
    // Ready (and no Stalled left from a namespace that was not the tenant's yet)
    await writeStatus(this.mgr.client, BillRef, bill, { ...status, conditions: markReady({ ...bill, status } as KubeObject, phase!, message, this.mgr.clock).conditions });
    if (book) this.amount.set({ tenant, currency: book.currency, month }, Number(total) / book.scale);
  }
}
