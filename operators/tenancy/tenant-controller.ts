// The tenant controller: a Tenant's namespaces (created, or labelled cellcloud.io/tenant=<name>),
// its RoleBindings to the built-in ClusterRoles (an ancestor's admins administer its departments
// too), its root's QuotaLedger, and status (root, path, Ready). Everything is compared with the
// caches first, so a tenant whose world is as it should be costs no write at all.
import { QuotaLedgerRef, TENANT_LABEL, TenantRef, type TenantObject } from "../api/tenancy.ts";
import type { ConditionInput } from "../runtime/conditions.ts";
import { NamespaceRef, RoleBindingRef } from "../runtime/core.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Manager } from "../runtime/manager.ts";
import { applyIfChanged, createIfAbsent, deleteIfPresent } from "../runtime/objects.ts";
import { withCondition, writeStatus } from "../runtime/status.ts";
import { keyOf, requestKey, type KubeObject } from "../runtime/types.ts";
import { ledgerObject } from "./ledger-store.ts";
import { ancestorsAndSelf } from "./ledger.ts";
import { ownedBy, type Tenancy } from "./shared.ts";

/** The built-in roles a Tenant's subjects are bound to, in each of its namespaces. */
const tenantRoles = [
  { binding: "cellcloud-tenant-admins", role: "cellcloud-tenant-admin", subjects: "admins" },
  { binding: "cellcloud-tenant-users", role: "cellcloud-tenant-user", subjects: "users" },
  { binding: "cellcloud-tenant-viewers", role: "cellcloud-viewer", subjects: "viewers" },
] as const;

function roleBinding(t: TenantObject, ns: string, r: (typeof tenantRoles)[number], chain: readonly string[], tenants: Informer<TenantObject>): KubeObject {
  const subjects = r.subjects === "admins" ? chain.flatMap((x) => tenants.get(x)?.spec.admins ?? []) : t.spec[r.subjects] ?? [];
  return {
    apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding",
    metadata: { name: r.binding, namespace: ns, labels: { [TENANT_LABEL]: t.metadata.name }, ownerReferences: ownedBy(t) },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: r.role },
    // No subjects is no field at all (the apiserver drops an empty list, and the cache must match).
    ...(subjects.length ? { subjects: subjects.map((s) => ({ ...s, ...(s.kind === "ServiceAccount" ? {} : { apiGroup: "rbac.authorization.k8s.io" }) })) } : {}),
  };
}

type Deps = { mgr: Manager; view: Tenancy["view"]; bindings: Informer };

/** Creates or labels `name` for `tenant`; returns the tenant that owns it (another one: a conflict). */
async function ensureNamespace({ mgr, view }: Deps, name: string, tenant: string): Promise<string> {
  let ns = view.namespaces.get(name); // only labelled namespaces are cached
  if (!ns) {
    const made = await createIfAbsent(mgr.client, NamespaceRef, { apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { [TENANT_LABEL]: tenant } } });
    if (made === "created") return tenant;
    ns = await mgr.client.get(NamespaceRef, name); // it exists unlabelled, or the cache is behind
  }
  const owner = ns.metadata.labels?.[TENANT_LABEL];
  if (owner && owner !== tenant && view.tenants.get(owner)) return owner;
  if (owner !== tenant) await mgr.client.patch(NamespaceRef, name, undefined, { metadata: { labels: { [TENANT_LABEL]: tenant } } }, "merge");
  return tenant;
}

/** A namespace taken out of spec.namespaces leaves the tenant: its label and role bindings go (its contents stay). */
async function release({ mgr, view, bindings }: Deps, t: TenantObject): Promise<void> {
  for (const ns of view.namespaces.list()) {
    if (ns.metadata.labels?.[TENANT_LABEL] !== t.metadata.name || (t.spec.namespaces ?? []).includes(ns.metadata.name)) continue;
    for (const r of tenantRoles) if (bindings.get(`${ns.metadata.name}/${r.binding}`)) await deleteIfPresent(mgr.client, RoleBindingRef, r.binding, ns.metadata.name);
    await mgr.client.patch(NamespaceRef, ns.metadata.name, undefined, { metadata: { labels: { [TENANT_LABEL]: null } } }, "merge");
  }
}

/** Ledger, namespaces and role bindings of a tenant, each compared with the caches before it is written. */
async function reconcile(d: Deps, t: TenantObject): Promise<void> {
  const { mgr, view, bindings } = d;
  const tree = view.tree();
  const chain = ancestorsAndSelf(tree, t.metadata.name);
  const fields = { root: chain.at(-1)!, path: [...chain].reverse().join("/") };
  if (t.spec.parent && !tree.has(t.spec.parent)) {
    const ready: ConditionInput = { type: "Ready", status: "False", reason: "ParentNotFound", message: `spec.parent: Tenant "${t.spec.parent}" not found` };
    await writeStatus(mgr.client, TenantRef, t, { ...withCondition(t, ready, mgr.clock), ...fields });
    return;
  }
  // The ledger first: by the time a namespace carries the tenant label, admission finds it.
  if (fields.root === t.metadata.name && !view.ledgers.get(t.metadata.name)) await createIfAbsent(mgr.client, QuotaLedgerRef, ledgerObject(t.metadata.name, ownedBy(t)));
  const conflicts: string[] = [];
  for (const ns of t.spec.namespaces ?? []) {
    const owner = await ensureNamespace(d, ns, t.metadata.name);
    if (owner !== t.metadata.name) conflicts.push(`namespace "${ns}" belongs to tenant "${owner}"`);
    else for (const r of tenantRoles) await applyIfChanged(mgr.client, RoleBindingRef, roleBinding(t, ns, r, chain, view.tenants), bindings.get(`${ns}/${r.binding}`), mgr.fieldManager);
  }
  await release(d, t);
  const count = (t.spec.namespaces ?? []).length - conflicts.length;
  const ready: ConditionInput = conflicts.length
    ? { type: "Ready", status: "False", reason: "NamespaceConflict", message: `spec.namespaces: ${conflicts.join("; ")}` }
    : { type: "Ready", status: "True", reason: "Provisioned", message: `${count} namespace(s) with role bindings` };
  await writeStatus(mgr.client, TenantRef, t, { ...withCondition(t, ready, mgr.clock), ...fields, namespaces: count });
}

export function setupTenantController(mgr: Manager, { view }: Tenancy): unknown {
  const d: Deps = { mgr, view, bindings: mgr.informer(RoleBindingRef, TENANT_LABEL) };
  const descendants = (name: string) => {
    const tree = view.tree();
    return view.tenants.list().filter((t) => ancestorsAndSelf(tree, t.metadata.name).includes(name)).map(keyOf);
  };
  const labelled = (o: KubeObject) => [o.metadata.labels?.[TENANT_LABEL] ?? ""].filter(Boolean);
  return mgr.controller("tenant").for(TenantRef)
    .watches(TenantRef, (o) => descendants(o.metadata.name))
    .watches(NamespaceRef, labelled, { labelSelector: TENANT_LABEL })
    .watches(RoleBindingRef, labelled, { labelSelector: TENANT_LABEL })
    .complete(async (req) => {
      const t = view.tenants.get(requestKey(req));
      if (t && !t.metadata.deletionTimestamp) await reconcile(d, t);
    });
}
