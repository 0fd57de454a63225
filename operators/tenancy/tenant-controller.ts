// Tenancy controllers:
//   tenant  — a Tenant's namespaces (created, labelled cellcloud.io/tenant=<name>), its RoleBindings
//             to the built-in ClusterRoles (an ancestor's admins administer its departments too),
//             its root's QuotaLedger, and status (root, path, Ready);
//   quota   — a Quota's status: used and reserved within its scope, from its root's ledger;
//   ledger  — drops changes that expired without their object showing them, and every few minutes
//             rebuilds the totals from the objects that exist (heals drift after crashes);
//   usage   — per charged kind: commits a pending change once its object shows it, and on delete
//             releases the object's charge by uid before removing the finalizer.
import { TENANT_LABEL } from "../api/tenancy.ts";
import { isoSeconds } from "../runtime/clock.ts";
import { addFinalizer, hasFinalizer, removeFinalizer } from "../runtime/finalizers.ts";
import { isAlreadyExists, isNotFound } from "../runtime/kube.ts";
import type { Manager } from "../runtime/manager.ts";
import { markReady, withCondition, writeStatus } from "../runtime/status.ts";
import { keyOf, requestKey, type KubeObject, type ResourceRef } from "../runtime/types.ts";
import { QUOTA_FINALIZER } from "./admission.ts";
import { LedgerRef, LedgerStore, ledgerObject } from "./ledger-store.ts";
import { ancestorsAndSelf, commit, dimensions, expire, formatAmount, quotaUsage, recount, release, type Amounts, type Charge } from "./ledger.ts";
import { NamespaceRef, QuotaRef, TenancyView, TenantRef, type QuotaObject, type TenantObject } from "./view.ts";
import { quotaLimit } from "./charges.ts";

export const RoleBindingRef: ResourceRef = { group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings", namespaced: true };

/** The built-in roles a Tenant's subjects are bound to, in each of its namespaces. */
export const tenantRoles = [
  { binding: "cellcloud-tenant-admins", role: "cellcloud-tenant-admin", subjects: "admins" },
  { binding: "cellcloud-tenant-users", role: "cellcloud-tenant-user", subjects: "users" },
  { binding: "cellcloud-tenant-viewers", role: "cellcloud-viewer", subjects: "viewers" },
] as const;

/**
 * How long a commit may wait for an admission's ledger write to ride along with: a change its object
 * shows counts as used either way, so only the ledger's tidiness waits. A release holds a finalizer,
 * so it waits less.
 */
const COMMIT_WAIT_MS = 10_000;
const RELEASE_WAIT_MS = 300;

/** How often each ledger is rebuilt from the objects that exist. */
export const RECOUNT_EVERY_MS = Number(process.env.CELLCLOUD_QUOTA_RECOUNT_MS) || 180_000;

interface Tenancy { view: TenancyView; store: LedgerStore }
const shared = new WeakMap<Manager, Tenancy>();

/** The caches and ledger store one manager's webhook and controllers share. */
export function tenancyOf(mgr: Manager): Tenancy {
  let t = shared.get(mgr);
  if (!t) {
    const view = new TenancyView(mgr);
    const owner = (root: string) => { const t = view.tenants.get(root); return t ? ownedBy(t) : undefined; };
    t = { view, store: new LedgerStore(mgr.client, view.ledgers, owner) };
    shared.set(mgr, t);
  }
  return t;
}

const ownedBy = (t: TenantObject) => [{ apiVersion: t.apiVersion ?? "tenancy.cellcloud.io/v1alpha1", kind: "Tenant", name: t.metadata.name, uid: t.metadata.uid ?? "", controller: true, blockOwnerDeletion: false }];

export function setupTenancyControllers(mgr: Manager): unknown[] {
  const { view, store } = tenancyOf(mgr);
  const descendants = (name: string) => {
    const tree = view.tree();
    return view.tenants.list().filter((t) => ancestorsAndSelf(tree, t.metadata.name).includes(name)).map(keyOf);
  };

  const tenant = mgr.controller("tenant").for(TenantRef)
    .watches(TenantRef, (o) => descendants(o.metadata.name))
    .watches(NamespaceRef, (o) => [o.metadata.labels?.[TENANT_LABEL] ?? ""].filter(Boolean), TENANT_LABEL)
    .complete(async (req) => {
      const t = view.tenants.get(requestKey(req));
      if (!t || t.metadata.deletionTimestamp) return;
      const tree = view.tree();
      const chain = ancestorsAndSelf(tree, t.metadata.name);
      const root = chain.at(-1)!;
      const fields = { root, path: [...chain].reverse().join("/") };
      if (t.spec.parent && !tree.has(t.spec.parent)) {
        await writeStatus(mgr.client, TenantRef, t, { ...withCondition(t, { type: "Ready", status: "False", reason: "ParentNotFound", message: `spec.parent: Tenant "${t.spec.parent}" not found` }), ...fields });
        return;
      }
      // The ledger first: by the time a namespace carries the tenant label, admission finds it.
      if (root === t.metadata.name) await ensureLedger(mgr, t, view);
      const conflicts: string[] = [];
      let namespaces = 0;
      for (const ns of t.spec.namespaces ?? []) {
        const owner = await ensureNamespace(mgr, ns, t.metadata.name, view);
        if (owner !== t.metadata.name) { conflicts.push(`namespace "${ns}" belongs to tenant "${owner}"`); continue; }
        namespaces++;
        for (const r of tenantRoles) {
          const subjects = r.subjects === "admins"
            ? chain.flatMap((x) => view.tenants.get(x)?.spec.admins ?? [])
            : t.spec[r.subjects] ?? [];
          await mgr.client.apply(RoleBindingRef, {
            apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding",
            metadata: { name: r.binding, namespace: ns, labels: { [TENANT_LABEL]: t.metadata.name }, ownerReferences: ownedBy(t) },
            roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: r.role },
            subjects: subjects.map((s) => ({ ...s, ...(s.kind === "ServiceAccount" ? {} : { apiGroup: "rbac.authorization.k8s.io" }) })),
          } as KubeObject, mgr.fieldManager);
        }
      }
      // A namespace taken out of spec.namespaces leaves the tenant: its label and the tenant's role
      // bindings go (the namespace and what is in it stay), so it can be given to another tenant.
      for (const ns of view.namespaces.list()) {
        if (ns.metadata.labels?.[TENANT_LABEL] !== t.metadata.name || (t.spec.namespaces ?? []).includes(ns.metadata.name)) continue;
        for (const r of tenantRoles) {
          await mgr.client.delete(RoleBindingRef, r.binding, ns.metadata.name).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
        }
        await mgr.client.patch(NamespaceRef, ns.metadata.name, undefined, { metadata: { labels: { [TENANT_LABEL]: null } } }, "merge");
      }
      const status = conflicts.length
        ? withCondition(t, { type: "Ready", status: "False", reason: "NamespaceConflict", message: `spec.namespaces: ${conflicts.join("; ")}` })
        : markReady(t, "Provisioned", `${namespaces} namespace(s) with role bindings`);
      await writeStatus(mgr.client, TenantRef, t, { ...status, ...fields, namespaces });
    });

  // A busy tree changes its ledger many times a second: show each Quota's usage at most once a second.
  const shown = new Map<string, number>();
  const quotasOfRoot = (root: string) => {
    const tree = view.tree();
    return view.quotas.list().filter((q) => tree.has(q.spec.tenant) && view.rootOf(q.spec.tenant, tree) === root).map(keyOf);
  };
  const quota = mgr.controller("quota").for(QuotaRef)
    .watches(LedgerRef, (o) => quotasOfRoot(o.metadata.name))
    .watches(TenantRef, () => view.quotas.list().map(keyOf))
    .complete(async (req) => {
      const q = view.quotas.get(requestKey(req));
      if (!q) return;
      const tree = view.tree();
      if (!tree.has(q.spec.tenant)) {
        await writeStatus(mgr.client, QuotaRef, q, withCondition(q, { type: "Ready", status: "False", reason: "TenantNotFound", message: `spec.tenant: Tenant "${q.spec.tenant}" not found` }));
        return;
      }
      const since = Date.now() - (shown.get(q.metadata.name) ?? 0);
      if (since < 1000) return { requeueAfterMs: 1000 - since };
      const limit = quotaLimit(q.metadata.name, q.spec);
      const { used, reserved } = quotaUsage(store.current(view.rootOf(q.spec.tenant, tree)), tree, limit, Date.now(), view.alive);
      const show = (a: Amounts) => Object.fromEntries(dimensions.filter((d) => limit.hard[d] !== undefined || a[d]).map((d) => [d, formatAmount(d, a[d] ?? 0)]));
      const full = dimensions.filter((d) => limit.hard[d] !== undefined && (used[d] ?? 0) + (reserved[d] ?? 0) >= limit.hard[d]!);
      const message = full.length ? `at the limit for ${full.join(", ")}` : "enforced at admission";
      if (await writeStatus(mgr.client, QuotaRef, q, { ...markReady(q, "Enforced", message), used: show(used), reserved: show(reserved) })) shown.set(q.metadata.name, Date.now());
    });

  const ledger = mgr.controller("quota-ledger").for(LedgerRef).complete(async (req) => {
    const l = view.ledgers.get(requestKey(req));
    if (!l) return;
    const root = l.metadata.name;
    const last = l.status?.lastRecount ? Date.parse(l.status.lastRecount) : 0;
    const due = Date.now() - last >= RECOUNT_EVERY_MS;
    if (due) {
      const actual = actualCharges(view, root);
      await store.run(root, (led, now) => ({ ledger: recount(led, actual, now, view.alive), result: undefined }));
    } else {
      await store.run(root, (led, now) => ({ ledger: expire(led, now, view.alive), result: undefined }));
    }
    const fresh = view.ledgers.get(requestKey(req)) ?? l;
    const status = markReady(fresh, "Counting", "");
    await writeStatus(mgr.client, LedgerRef, fresh, { ...status, ...(due ? { lastRecount: isoSeconds(Date.now()) } : {}) });
    const { pending, released } = store.current(root);
    const waits = [...Object.values(pending).map((p) => p.expiresAt), ...Object.values(released)].map((t) => t - Date.now() + 500);
    return { requeueAfterMs: Math.max(1000, Math.min(RECOUNT_EVERY_MS, ...waits)) };
  });

  const usage = [...view.charged.entries()].map(([kind, informer]) =>
    mgr.controller(`quota-usage-${kind.ref.plural}`).for(kind.ref).concurrency(4).complete(async (req) => {
      const obj = informer.get(requestKey(req));
      if (!obj) return;
      const uid = obj.metadata.uid ?? "";
      const tenant = view.tenantOf(obj.metadata.namespace);
      const root = tenant && view.tenants.get(tenant) ? view.rootOf(tenant) : undefined;
      const mine = hasFinalizer(obj, QUOTA_FINALIZER);
      if (obj.metadata.deletionTimestamp) {
        // Release only when ours is the last finalizer: until then the delete may still fail.
        if (!mine || (obj.metadata.finalizers ?? []).some((f) => f !== QUOTA_FINALIZER)) return;
        if (root) {
          const held = view.chargeOf(kind, obj, tenant!, view.lookup(obj.metadata.namespace!));
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
      await store.defer(root, (l) => ({ ledger: l.pending[uid] && view.alive(uid, l.pending[uid]) ? commit(l, uid) : l, result: undefined }), COMMIT_WAIT_MS);
    }),
  );
  return [tenant, quota, ledger, ...usage];
}

/** What every object of `root`'s tree holds now (its charge annotation, else its price). */
function actualCharges(view: TenancyView, root: string): Map<string, Charge> {
  const tree = view.tree();
  const out = new Map<string, Charge>();
  for (const ns of view.namespaces.list()) {
    const tenant = ns.metadata.labels?.[TENANT_LABEL];
    if (!tenant || !tree.has(tenant) || view.rootOf(tenant, tree) !== root) continue;
    const lookup = view.lookup(ns.metadata.name, tree);
    for (const [kind, informer] of view.charged) {
      for (const obj of informer.list(ns.metadata.name)) {
        const charge = view.chargeOf(kind, obj, tenant, lookup);
        if (charge) out.set(obj.metadata.uid ?? "", charge);
      }
    }
  }
  return out;
}

/** Creates or labels `name` for `tenant`; returns the tenant that owns it (another one: a conflict). */
async function ensureNamespace(mgr: Manager, name: string, tenant: string, view: TenancyView): Promise<string> {
  let ns: KubeObject | undefined;
  try {
    ns = await mgr.client.get(NamespaceRef, name);
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  const owner = ns?.metadata.labels?.[TENANT_LABEL];
  if (owner && owner !== tenant && view.tenants.get(owner)) return owner;
  if (!ns) {
    await mgr.client.create(NamespaceRef, { apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { [TENANT_LABEL]: tenant } } });
  } else if (owner !== tenant) {
    await mgr.client.patch(NamespaceRef, name, undefined, { metadata: { labels: { [TENANT_LABEL]: tenant } } }, "merge");
  }
  return tenant;
}

async function ensureLedger(mgr: Manager, t: TenantObject, view: TenancyView): Promise<void> {
  if (view.ledgers.get(t.metadata.name)) return;
  await mgr.client.create(LedgerRef, ledgerObject(t.metadata.name, ownedBy(t))).catch((e: unknown) => { if (!isAlreadyExists(e)) throw e; });
}
