// Quota bookkeeping controllers:
//   quota   — a Quota's status: used and reserved within its scope, from its root's ledger (and the
//             same as cellcloud_quota_* gauges);
//   ledger  — drops changes that expired without their object showing them, and every few minutes
//             rebuilds the totals from the objects that exist (heals drift after crashes);
//   usage   — per charged kind: commits a pending change once its object shows it, and on delete
//             releases the object's charge by uid before removing the finalizer.
import { QUOTA_FINALIZER, QuotaLedgerRef, QuotaRef, TENANT_LABEL, TenantRef, type Charge, type ChargedKind } from "../api/tenancy.ts";
import { isoSeconds } from "../runtime/clock.ts";
import { addFinalizer, hasFinalizer, removeFinalizer } from "../runtime/finalizers.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Controller } from "../runtime/controller.ts";
import type { Manager } from "../runtime/manager.ts";
import { markReady, withCondition, writeStatus } from "../runtime/status.ts";
import { keyOf, requestKey } from "../runtime/types.ts";
import { ledgerPatch, quotaLimit } from "./charges.ts";
import { commit, dimensions, expire, formatAmount, quotaUsage, recount, release, type Amounts } from "./ledger.ts";
import { QuotaMetrics } from "./quota-metrics.ts";
import type { Tenancy } from "./shared.ts";

/**
 * How long a commit may wait for an admission's ledger write to ride along with: a change its object
 * shows counts as used either way, so only the ledger's tidiness waits. A release holds a finalizer,
 * so it waits less.
 */
const COMMIT_WAIT_MS = 10_000;
const RELEASE_WAIT_MS = 300;
/** How often each ledger is rebuilt from the objects that exist, by default. */
const RECOUNT_EVERY_MS = 180_000;

export function setupQuotaController(mgr: Manager, { view, store }: Tenancy): unknown {
  // A busy tree changes its ledger many times a second: show each Quota's usage at most once a second.
  const shown = new Map<string, number>();
  const metrics = new QuotaMetrics(mgr.metrics.registry);
  const quotasOfRoot = (root: string) => {
    const tree = view.tree();
    return view.quotas.list().filter((q) => tree.has(q.spec.tenant) && view.rootOf(q.spec.tenant, tree) === root).map(keyOf);
  };
  return mgr.controller("quota").for(QuotaRef)
    .watches(QuotaLedgerRef, (o) => quotasOfRoot(o.metadata.name))
    .watches(TenantRef, () => view.quotas.list().map(keyOf))
    .complete(async (req) => {
      const q = view.quotas.get(requestKey(req));
      if (!q) return void metrics.remove(requestKey(req));
      const tree = view.tree();
      if (!tree.has(q.spec.tenant)) {
        metrics.remove(q.metadata.name);
        await writeStatus(mgr.client, QuotaRef, q, withCondition(q, { type: "Ready", status: "False", reason: "TenantNotFound", message: `spec.tenant: Tenant "${q.spec.tenant}" not found` }, mgr.clock));
        return;
      }
      const now = mgr.clock.now();
      const since = now - (shown.get(q.metadata.name) ?? 0);
      if (since < 1000) return { requeueAfterMs: 1000 - since };
      const limit = quotaLimit(q.metadata.name, q.spec);
      const { used, reserved } = quotaUsage(store.current(view.rootOf(q.spec.tenant, tree)), tree, limit, now, view.alive);
      metrics.set(limit, used, reserved);
      const show = (a: Amounts) => Object.fromEntries(dimensions.filter((d) => limit.hard[d] !== undefined || a[d]).map((d) => [d, formatAmount(d, a[d] ?? 0)]));
      const full = dimensions.filter((d) => limit.hard[d] !== undefined && (used[d] ?? 0) + (reserved[d] ?? 0) >= limit.hard[d]!);
      const message = full.length ? `at the limit for ${full.join(", ")}` : "enforced at admission";
      if (await writeStatus(mgr.client, QuotaRef, q, { ...markReady(q, "Enforced", message, mgr.clock), used: show(used), reserved: show(reserved) })) shown.set(q.metadata.name, now);
    });
}

export function setupLedgerController(mgr: Manager, { view, store }: Tenancy, recountEveryMs = RECOUNT_EVERY_MS): unknown {
  // When each tree was last recounted, by this process: a new leader recounts at once (as kube's
  // ResourceQuota controller syncs every quota at start), and a recount that changes nothing writes
  // nothing. A recount time kept in status was a write every 3 min per tree at idle (bench/scale).
  const recounted = new Map<string, number>();
  return mgr.controller("quota-ledger").for(QuotaLedgerRef).complete(async (req) => {
    const l = view.ledgers.get(requestKey(req));
    if (!l) return void recounted.delete(requestKey(req));
    const root = l.metadata.name;
    const due = mgr.clock.now() - (recounted.get(root) ?? -Infinity) >= recountEveryMs;
    let corrected = false;
    if (due) {
      const actual = actualCharges(view, root);
      // Corrected: the recount's patch changes usage (ledgerPatch names only the maps that differ).
      corrected = await store.run(root, (led, now) => {
        const ledger = recount(led, actual, now, view.alive);
        return { ledger, result: !!ledgerPatch(led, ledger)?.usage };
      });
      recounted.set(root, mgr.clock.now());
    } else {
      await store.run(root, (led, now) => ({ ledger: expire(led, now, view.alive), result: undefined }));
    }
    const fresh = view.ledgers.get(requestKey(req)) ?? l;
    const now = mgr.clock.now();
    await writeStatus(mgr.client, QuotaLedgerRef, fresh, { ...markReady(fresh, "Counting", "", mgr.clock), ...(corrected ? { lastCorrection: isoSeconds(now) } : {}) });
    const { pending, released } = store.current(root);
    const waits = [...Object.values(pending).map((p) => p.expiresAt), ...Object.values(released)].map((t) => t - now + 500);
    return { requeueAfterMs: Math.max(1000, Math.min(recountEveryMs, ...waits)) };
  });
}

/**
 * One controller per charged kind commits admitted changes and releases deleted objects' usage.
 * 16 workers: a release waits for its batched ledger write (RELEASE_WAIT_MS) and then removes the
 * finalizer, so with 4, deleting 3,000 instances queued for ten minutes behind it (bench/scale);
 * the writes of concurrent workers share one ledger write.
 */
export function setupUsageControllers(mgr: Manager, { view, store }: Tenancy): unknown[] {
  return [...view.charged.entries()].map(([kind, informer]) => {
    const controller: Controller = mgr.controller(`quota-usage-${kind.ref.plural}`).for(kind.ref).concurrency(16).complete(async (req) => {
      const obj = informer.get(requestKey(req));
      if (!obj) return;
      const uid = obj.metadata.uid ?? "";
      const tenant = view.tenantOf(obj.metadata.namespace);
      const root = tenant ? view.rootOf(tenant) : undefined;
      const mine = hasFinalizer(obj, QUOTA_FINALIZER);
      if (obj.metadata.deletionTimestamp) {
        // Release only when ours is the last finalizer: until then the delete may still fail.
        if (!mine || (obj.metadata.finalizers ?? []).some((f) => f !== QUOTA_FINALIZER)) return;
        if (root) {
          const held = view.chargeOf(kind, obj, view.pricing(obj.metadata.namespace!, tenant!));
          await store.defer(root, (l, now) => ({ ledger: release(l, uid, held, now), result: undefined }), RELEASE_WAIT_MS);
        }
        await removeFinalizer(mgr.client, kind.ref, obj, QUOTA_FINALIZER);
        return;
      }
      if (!root) {
        if (mine) await removeFinalizer(mgr.client, kind.ref, obj, QUOTA_FINALIZER);
        return;
      }
      if (!mine) await addFinalizer(mgr.client, kind.ref, obj, QUOTA_FINALIZER);
      // The object shows its pending change (its charge annotation is the change's target): commit.
      const p = store.current(root).pending[uid];
      if (!p || !view.alive(uid, p)) return;
      // Not awaited: a deferred commit goes out with the next ledger write or after COMMIT_WAIT_MS,
      // and a worker waiting for it took 4 objects per 10 s once admissions stopped (bench/scale:
      // 3,000 commits queued behind 4 workers). A commit lost to a failed write or a crash is
      // made again: this object is queued again, and a restart re-reads every object.
      const key = requestKey(req);
      store.defer(root, (l) => ({ ledger: l.pending[uid] && view.alive(uid, l.pending[uid]) ? commit(l, uid) : l, result: undefined }), COMMIT_WAIT_MS)
        .catch((err: unknown) => {
          mgr.log.warn({ err: err instanceof Error ? err.message : String(err), resource: kind.ref.plural, key }, "quota commit failed; retrying");
          controller.enqueueAfter(key, 1000);
        });
    });
    return controller;
  });
}

/** What every object of `root`'s tree holds now (its charge annotation, else its price). */
function actualCharges(view: Tenancy["view"], root: string): Map<string, Charge> {
  const tree = view.tree();
  const out = new Map<string, Charge>();
  for (const ns of view.namespaces.list()) {
    const tenant = ns.metadata.labels?.[TENANT_LABEL];
    if (!tenant || !tree.has(tenant) || view.rootOf(tenant, tree) !== root) continue;
    const pricing = view.pricing(ns.metadata.name, tenant, tree);
    for (const [kind, informer] of view.charged as ReadonlyMap<ChargedKind, Informer>) {
      for (const obj of informer.list(ns.metadata.name)) {
        const charge = view.chargeOf(kind, obj, pricing);
        if (charge) out.set(obj.metadata.uid ?? "", charge);
      }
    }
  }
  return out;
}
