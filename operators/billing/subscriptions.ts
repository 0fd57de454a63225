// Subscriptions: periods of a billable object bought instead of pay-as-you-go. Each period is
// charged once (key: the subscription's uid and the period's index) at the object's price when it is
// bought; periods chain from the start without drift (periods.ts). At expiry the object is stopped
// (its product's stop patch) and Expired=True; after the grace period it is deleted; a renewal in
// the grace period charges the next period (from the previous end) and starts the object again.
import { Gauge } from "prom-client";
import { EXPIRED_ANNOTATION, SubscriptionRef, type SubscriptionObj, type SubscriptionStatus } from "../api/billing.ts";
import { TENANT_LABEL } from "../api/tenancy.ts";
import type { Controller } from "../runtime/controller.ts";
import { NamespaceRef } from "../runtime/core.ts";
import type { Informer } from "../runtime/informer.ts";
import { isNotFound } from "../runtime/kube.ts";
import { applyMergePatch } from "../runtime/mergepatch.ts";
import type { Manager } from "../runtime/manager.ts";
import type { BillableKind } from "../runtime/product.ts";
import { markReady, markStalled, withCondition, writeStatus, type StatusWithConditions } from "../runtime/status.ts";
import { requestKey, type KubeObject } from "../runtime/types.ts";
import type { Books } from "./books.ts";
import type { LedgerHandle } from "./handle.ts";
import { chargePeriod, periodsOf, refundPeriod } from "./ledger.ts";
import { planSubscription, period } from "./periods.ts";
import { costOf } from "./price.ts";

const DAY = 86_400_000;
/** Wake at least this often, so a clock that jumps (tests, a suspended VM) is noticed. */
const MAX_WAIT = 10 * 60_000;

export class Subscriptions {
  private readonly mgr: Manager;
  private readonly ledger: LedgerHandle;
  private readonly books: Books;
  private readonly subs: Informer<SubscriptionObj>;
  private readonly kinds: Map<string, { kind: BillableKind; objects: Informer }>;
  readonly controller: Controller;
  private readonly expiries = new Map<string, { tenant: string; namespace: string; name: string; kind: string; expiresAt: number }>();

  constructor(mgr: Manager, ledger: LedgerHandle, books: Books, billable: readonly BillableKind[]) {
    this.mgr = mgr;
    this.ledger = ledger;
    this.books = books;
    this.subs = mgr.informer<SubscriptionObj>(SubscriptionRef);
    this.kinds = new Map(billable.map((kind) => [kind.ref.kind, { kind, objects: mgr.informer(kind.ref) }]));
    let builder = mgr.controller("subscription").for(SubscriptionRef)
      .watches(NamespaceRef, (ns) => this.subs.list(ns.metadata.name).map((s) => `${ns.metadata.name}/${s.metadata.name}`), { labelSelector: TENANT_LABEL });
    for (const { kind } of this.kinds.values()) {
      // the object a subscription pays for maps back to it (a deletion, a stop by hand)
      builder = builder.watches(kind.ref, (o) => this.subs.list(o.metadata.namespace).filter((s) => s.spec.resource.kind === kind.ref.kind && s.spec.resource.name === o.metadata.name).map((s) => `${s.metadata.namespace}/${s.metadata.name}`));
    }
    this.controller = builder.complete(async (req) => this.reconcile(requestKey(req)));
    const expiries = this.expiries;
    const clock = mgr.clock;
    new Gauge({
      name: "cellcloud_billing_expiring_subscriptions", help: "Subscriptions whose paid periods end within 7 days", labelNames: ["tenant"], registers: [mgr.metrics.registry],
      collect() {
        this.reset();
        const now = clock.now();
        for (const e of expiries.values()) if (e.expiresAt > now && e.expiresAt - now <= 7 * DAY) this.inc({ tenant: e.tenant });
      },
    });
    new Gauge({
      name: "cellcloud_billing_subscription_expiry_timestamp_seconds", help: "When a subscription's paid periods end (Unix seconds)", labelNames: ["tenant", "namespace", "name", "kind"], registers: [mgr.metrics.registry],
      collect() {
        this.reset();
        for (const e of expiries.values()) this.set({ tenant: e.tenant, namespace: e.namespace, name: e.name, kind: e.kind }, e.expiresAt / 1000);
      },
    });
  }

  private async reconcile(key: string): Promise<{ requeueAfterMs: number } | void> {
    const sub = this.subs.get(key);
    if (!sub) { this.expiries.delete(key); return; }
    const ns = sub.metadata.namespace ?? "";
    const kind = this.kinds.get(sub.spec.resource.kind);
    const tenant = this.books.tenantOf(ns);
    const stalled = (reason: string, message: string) => writeStatus(this.mgr.client, SubscriptionRef, sub, markStalled(sub, reason, message, this.mgr.clock));
    if (!kind) return void (await stalled("KindNotBillable", `spec.resource.kind: ${sub.spec.resource.kind} is not metered by any product running here`));
    if (!tenant) return void (await stalled("NoTenant", `namespace ${ns} belongs to no tenant: only a tenant's objects are billed`));
    const sql = await this.ledger.sql();
    const now = this.mgr.clock.now();
    const had = await periodsOf(sql, sub.metadata.uid ?? "");
    const target = kind.objects.get(`${ns}/${sub.spec.resource.name}`);
    if (!had.paid && !target) {
      await writeStatus(this.mgr.client, SubscriptionRef, sub, withCondition(sub, { type: "Ready", status: "False", reason: "ResourceNotFound", message: `${sub.spec.resource.kind} ${sub.spec.resource.name} does not exist in ${ns} (yet)` }, this.mgr.clock));
      return { requeueAfterMs: 30_000 };
    }
    const start = had.start ?? now;
    const plan = planSubscription(sub.spec, start, had.paid, had.refunded, now);
    let lastCharge = had.lastAmount;
    for (let n = had.paid; n < plan.paid; n++) {
      const p = period(start, sub.spec.period, n);
      const book = this.books.book(tenant, p.start);
      if (!target) return void (await stalled("ResourceNotFound", `${sub.spec.resource.kind} ${sub.spec.resource.name} is gone: nothing to renew`));
      if (!book) {
        // a price list published later lets it go on
        await writeStatus(this.mgr.client, SubscriptionRef, sub, withCondition(sub, { type: "Ready", status: "False", reason: "NoPriceList", message: "no global PriceList is in effect: a period cannot be priced" }, this.mgr.clock));
        return { requeueAfterMs: 60_000 };
      }
      // priced as it runs: an object this subscription stopped at expiry is priced with its resume patch
      const running = target.metadata.annotations?.[EXPIRED_ANNOTATION] && kind.kind.resume ? applyMergePatch(target, kind.kind.resume) : target;
      lastCharge = costOf(kind.kind.meters(running), book, Math.round((p.end - p.start) / 1000));
      await chargePeriod(sql, {
        subscriptionUid: sub.metadata.uid ?? "", period: n, tenant, namespace: ns, name: sub.metadata.name, resourceUid: target.metadata.uid ?? "",
        resourceKind: sub.spec.resource.kind, resourceName: sub.spec.resource.name, starts: p.start, ends: p.end, amount: lastCharge, priceList: book.list, chargedAt: now,
      });
      this.mgr.events.record(sub, "Normal", n === 0 ? "Subscribed" : "Renewed", `period ${n} (${new Date(p.start).toISOString()} to ${new Date(p.end).toISOString()}) charged ${lastCharge} minor units`);
    }
    for (const n of plan.refund) {
      await refundPeriod(sql, sub.metadata.uid ?? "", n, now);
      this.mgr.events.record(sub, "Normal", "Refunded", `period ${n} had not started when the subscription was cancelled: refunded in full`);
    }
    if (target) await this.enforce(sub, kind.kind, target, plan);
    const refunded = plan.refund.length ? (await periodsOf(sql, sub.metadata.uid ?? "")).refundedAmount : had.refundedAmount;
    const running = Math.max(0, Math.min(plan.paid - 1, [...Array(plan.paid).keys()].filter((n) => period(start, sub.spec.period, n).start <= now).at(-1) ?? 0));
    const status: SubscriptionStatus = {
      ...sub.status, phase: plan.phase, start: new Date(start).toISOString(), paidPeriods: plan.paid,
      periodStart: new Date(period(start, sub.spec.period, running).start).toISOString(), expiresAt: new Date(plan.expiresAt).toISOString(),
      ...(lastCharge !== undefined ? { lastCharge: Number(lastCharge) } : {}), ...(refunded ? { refunded: Number(refunded) } : {}),
    };
    const expired = plan.phase === "Expired" || plan.phase === "Deleted";
    let conditions = withCondition({ ...sub, status } as KubeObject, {
      type: "Expired", status: expired ? "True" : "False", reason: plan.phase,
      message: expired ? `the paid periods ended at ${status.expiresAt}; ${plan.phase === "Deleted" ? "the grace period ended and the object was deleted" : `the object is stopped and is deleted at the end of the grace period unless renewed (raise spec.renewals)`}` : `paid until ${status.expiresAt}`,
    }, this.mgr.clock).conditions;
    conditions = markReady({ ...sub, status: { ...status, conditions } } as KubeObject, plan.phase, `${plan.paid} period(s) paid, until ${status.expiresAt}`, this.mgr.clock).conditions;
    await writeStatus(this.mgr.client, SubscriptionRef, sub, { ...status, conditions } as StatusWithConditions);
    this.expiries.set(key, { tenant, namespace: ns, name: sub.spec.resource.name, kind: sub.spec.resource.kind, expiresAt: plan.expiresAt });
    if (plan.nextAt !== undefined) return { requeueAfterMs: Math.max(1000, Math.min(MAX_WAIT, plan.nextAt - now)) };
    return { requeueAfterMs: MAX_WAIT };
  }

  /** Stops an expired object (once), starts it again when renewed, deletes it when the grace period ended. */
  private async enforce(sub: SubscriptionObj, kind: BillableKind, target: KubeObject, plan: ReturnType<typeof planSubscription>): Promise<void> {
    const ns = target.metadata.namespace;
    const stopped = target.metadata.annotations?.[EXPIRED_ANNOTATION];
    if (plan.remove) {
      if (target.metadata.deletionTimestamp) return;
      await this.mgr.client.delete(kind.ref, target.metadata.name, ns).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
      this.mgr.events.record(sub, "Warning", "Deleted", `${kind.ref.kind} ${target.metadata.name} deleted: its subscription expired and the grace period ended`);
    } else if (plan.stop && !stopped) {
      await this.mgr.client.patch(kind.ref, target.metadata.name, ns, { ...(kind.stop ?? {}), metadata: { annotations: { [EXPIRED_ANNOTATION]: new Date(plan.expiresAt).toISOString() } } }, "merge");
      this.mgr.events.record(sub, "Warning", "Expired", `${kind.ref.kind} ${target.metadata.name} ${kind.stop ? "stopped" : "kept"}: the subscription expired; renew within the grace period to keep it`);
    } else if (!plan.stop && stopped) {
      await this.mgr.client.patch(kind.ref, target.metadata.name, ns, { ...(kind.resume ?? {}), metadata: { annotations: { [EXPIRED_ANNOTATION]: null } } }, "merge");
      this.mgr.events.record(sub, "Normal", "Restored", `${kind.ref.kind} ${target.metadata.name} started again: the subscription was renewed`);
    }
  }
}

