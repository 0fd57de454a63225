// Billing as the composition root sees it: metering of every kind the products registered as
// billable, the hourly rater, bills, subscriptions and price lists, all over the PostgreSQL ledger
// the settings name; the dry-run price estimate and the price-list checks as admission webhooks; and
// the per-resource lines of a bill as CSV on the manager's HTTP listener, for whoever may get the Bill.
import { BillRef, ESTIMATE_ANNOTATION, PriceListRef, SubscriptionRef, type BillObj, type PriceListObj } from "../api/billing.ts";
import { allow, deny, patched, type AdmissionRequest, type AdmissionResponse } from "../runtime/admission.ts";
import { authorize } from "../runtime/authz.ts";
import type { Manager } from "../runtime/manager.ts";
import type { Product, ProductContext } from "../runtime/product.ts";
import { markStalled, withCondition, writeStatus } from "../runtime/status.ts";
import { requestKey, type KubeObject } from "../runtime/types.ts";
import type { Reply } from "../runtime/server.ts";
import { Bills } from "./bills.ts";
import { Books } from "./books.ts";
import { LedgerHandle } from "./handle.ts";
import { Metering } from "./metering.ts";
import { costOf, formatMoney } from "./price.ts";
import { Rater } from "./rater.ts";
import { Subscriptions } from "./subscriptions.ts";

const HOURS_PER_MONTH = 730;

/** What billing started (tests drive the rater and read the bills through it). */
export interface BillingParts { ledger?: LedgerHandle; rater?: Rater; bills?: Bills; subscriptions?: Subscriptions; books: Books }

function setupBilling(mgr: Manager, ctx: ProductContext): BillingParts {
  const books = new Books(mgr);
  priceListController(mgr);
  const url = ctx.settings.billing?.databaseUrl;
  if (!url) {
    for (const ref of [BillRef, SubscriptionRef]) {
      const objects = mgr.informer(ref);
      mgr.controller(`${ref.plural}-unconfigured`).for(ref).complete(async (req) => {
        const o = objects.get(requestKey(req));
        if (o) await writeStatus(mgr.client, ref, o, markStalled(o, "LedgerNotConfigured", "the manager has no billing database (--billing-database-url-file or CELLCLOUD_BILLING_DATABASE_URL)", mgr.clock));
      });
    }
    mgr.log.warn("billing: no ledger database configured; nothing is metered");
    return { books };
  }
  const ledger = new LedgerHandle(url, mgr.log.child({ component: "billing" }));
  const billable = ctx.billable(mgr);
  new Metering(mgr, ledger, books, billable);
  const bills = new Bills(mgr, ledger, books);
  const subscriptions = new Subscriptions(mgr, ledger, books, billable);
  const rater = mgr.add(new Rater(mgr, ledger, books, {
    latenessMs: ctx.settings.billing?.latenessMs ?? 60_000, everyMs: ctx.settings.billing?.rateEveryMs ?? 15_000,
    refreshEveryMs: 4 * (ctx.settings.billing?.rateEveryMs ?? 15_000),
    // a bill's lines are the costly query: an open month's bills are recomputed once a rated day
    // (and when its last hour is rated, which finalizes them), not after every hour
    onRated: (hours) => void bills.refresh(hours, hours.filter((h) => new Date(h).getUTCHours() === 23))
      .catch((e: unknown) => mgr.log.warn({ err: String(e) }, "billing: bills not refreshed; the next rating retries")),
    onTick: (hour) => void bills.refresh([hour], []).catch((e: unknown) => mgr.log.warn({ err: String(e) }, "billing: bills not created; retried")),
  }));
  mgr.add({ start() {}, stop: () => ledger.close() });
  mgr.addRoute("/billing/v1/bills/", (req, path) => csv(mgr, bills, books, req.headers.authorization, path));
  return { ledger, rater, bills, subscriptions, books };
}

/** GET /billing/v1/bills/<namespace>/<name>.csv: the bill's per-resource lines, for whoever may get the Bill. */
async function csv(mgr: Manager, bills: Bills, books: Books, authorization: string | undefined, path: string): Promise<Reply> {
  const m = /^\/billing\/v1\/bills\/([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)\/([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)\.csv$/.exec(path);
  if (!m) return { code: 404, type: "text/plain", body: "GET /billing/v1/bills/<namespace>/<name>.csv\n" };
  const [namespace, name] = [m[1]!, m[3]!];
  const who = await authorize(mgr.client, authorization, { namespace, verb: "get", group: BillRef.group, resource: BillRef.plural, name });
  if (!who.allowed) return { code: who.code, type: "text/plain", body: `${who.message}\n` };
  const bill = mgr.informer<BillObj>(BillRef).get(`${namespace}/${name}`);
  if (!bill) return { code: 404, type: "text/plain", body: `bill ${namespace}/${name} not found\n` };
  // a Bill outside its tenant's namespaces shows nothing (a reader of that namespace is not the tenant's)
  if (books.tenantOf(namespace) !== bill.spec.tenant) return { code: 403, type: "text/plain", body: `bill ${namespace}/${name}: namespace ${namespace} does not belong to tenant ${bill.spec.tenant}\n` };
  const closed = await bills.close(bill.spec.tenant, bill.spec.month);
  return { code: 200, type: "text/csv; charset=utf-8", body: closed.csv, headers: { "content-disposition": `attachment; filename="${name}.csv"` } };
}

/** PriceList status: Scheduled, Effective or Superseded (per scope: global, or each tenant), requeued when that changes. */
function priceListController(mgr: Manager): void {
  const lists = mgr.informer<PriceListObj>(PriceListRef);
  const c = mgr.controller("pricelist").for(PriceListRef).complete(async (req) => {
    const pl = lists.get(requestKey(req));
    if (!pl) return;
    const now = mgr.clock.now();
    const from = Date.parse(pl.spec.effectiveFrom);
    const scope = lists.list().filter((l) => (l.spec.tenant ?? "") === (pl.spec.tenant ?? "") && Date.parse(l.spec.effectiveFrom) <= now);
    const current = scope.sort((a, b) => Date.parse(b.spec.effectiveFrom) - Date.parse(a.spec.effectiveFrom) || b.metadata.name.localeCompare(a.metadata.name))[0];
    const state = from > now ? "Scheduled" : current?.metadata.name === pl.metadata.name ? "Effective" : "Superseded";
    const message = state === "Scheduled" ? `prices apply from ${pl.spec.effectiveFrom}` : state === "Effective" ? `prices ${pl.spec.tenant ? `tenant ${pl.spec.tenant}` : "every tenant"} now` : `superseded by ${current?.metadata.name}`;
    await writeStatus(mgr.client, PriceListRef, pl, { ...withCondition(pl, { type: "Ready", status: "True", reason: state, message }, mgr.clock), state, items: pl.spec.items.length });
    // a later list of the same scope supersedes this one when it takes effect
    const next = lists.list().map((l) => Date.parse(l.spec.effectiveFrom)).filter((t) => t > now).sort((a, b) => a - b)[0];
    return next !== undefined ? { requeueAfterMs: Math.min(next - now + 1000, 3_600_000) } : undefined;
  });
  // a new list changes the others' state
  lists.addHandler(() => { for (const l of lists.list()) c.enqueue(l.metadata.name); });
}

export const billing: Product = {
  name: "billing",
  controllers: { billing: setupBilling },
  webhooks(mgr, server, ctx) {
    const books = new Books(mgr);
    const billable = ctx.billable(mgr);
    server.register("/billing/estimate", "mutating", [{
      // called for dry runs only, and a manager that is down fails no write for it
      name: "estimate.billing.cellcloud.io", sideEffects: "None", failurePolicy: "Ignore",
      matchConditions: [{ name: "dry-run-only", expression: "has(request.dryRun) && request.dryRun" }],
      rules: billable.map((k) => ({ apiGroups: [k.ref.group], apiVersions: ["*"], resources: [k.ref.plural], operations: ["CREATE", "UPDATE"], scope: "Namespaced" as const })),
    }], (req) => estimate(req));
    server.register("/billing/validate", "validating", [{
      name: "pricelists.billing.cellcloud.io", sideEffects: "None",
      rules: [{ apiGroups: [PriceListRef.group], apiVersions: ["*"], resources: [PriceListRef.plural], operations: ["CREATE"], scope: "Cluster" }],
    }], (req) => validateList(req));

    /** A dry run (kubectl create --dry-run=server) gets the object's price as an annotation and a warning. */
    function estimate(req: AdmissionRequest): AdmissionResponse {
      const obj = req.object;
      if (!req.dryRun || !obj || !req.namespace) return allow(req);
      const kind = billable.find((k) => k.ref.plural === req.resource.resource && k.ref.group === req.resource.group);
      const tenant = books.tenantOf(req.namespace);
      if (!kind || !tenant) return allow(req);
      const book = books.book(tenant, mgr.clock.now());
      if (!book) return { ...allow(req), warnings: ["billing estimate: no PriceList is in effect"] };
      const meters = kind.meters(obj);
      const hourly = costOf(meters, book, 3600), monthly = costOf(meters, book, HOURS_PER_MONTH * 3600);
      const text = `hourly=${formatMoney(hourly, book.scale)} monthly=${formatMoney(monthly, book.scale)} ${book.currency} (${book.list}${book.priced ? "" : ", pricing disabled"})`;
      const mutated = structuredClone(obj) as KubeObject;
      mutated.metadata.annotations = { ...mutated.metadata.annotations, [ESTIMATE_ANNOTATION]: text };
      return { ...patched(req, obj, mutated), warnings: [`billing estimate: ${text}`] };
    }

    /** Every list shares one currency and scale (a bill adds them up). */
    function validateList(req: AdmissionRequest): AdmissionResponse {
      const pl = req.object as PriceListObj | undefined;
      if (!pl?.spec) return allow(req);
      const other = books.lists.list().find((l) => l.metadata.name !== pl.metadata.name && (l.spec.currency !== pl.spec.currency || l.spec.scale !== pl.spec.scale));
      if (other) return deny(req, 422, "Invalid", `spec.currency/spec.scale: every PriceList must use one currency and scale; PriceList ${other.metadata.name} uses ${other.spec.currency} at scale ${other.spec.scale}`);
      return allow(req);
    }
  },
};
