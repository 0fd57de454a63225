// The tenant controller: a Tenant's namespaces (created, or labelled cellcloud.io/tenant=<name>),
// its RoleBindings to the built-in ClusterRoles (an ancestor's admins administer its departments
// too), its root's QuotaLedger, and status (root, path, Ready). Everything is compared with the
// caches first, so a tenant whose world is as it should be costs no write at all.
import { ADOPT_ANNOTATION, DEFAULT_OBJECT_LIMITS, QuotaLedgerRef, TENANT_LABEL, TenantRef, USER_DATA_READER_ROLE, type TenantObject } from "../api/tenancy.ts";
import type { ConditionInput } from "../runtime/conditions.ts";
import { NamespaceRef, ResourceQuotaRef, RoleBindingRef } from "../runtime/core.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Manager } from "../runtime/manager.ts";
import type { Settings } from "../runtime/product.ts";
import { applyIfChanged, createIfAbsent, deleteIfPresent } from "../runtime/objects.ts";
import { withCondition, writeStatus } from "../runtime/status.ts";
import { keyOf, requestKey, type KubeObject } from "../runtime/types.ts";
import { ledgerObject } from "./ledger-store.ts";
import { ancestorsAndSelf } from "./ledger.ts";
import { ownedBy, type Tenancy } from "./shared.ts";

/**
 * The built-in roles bound in each of a Tenant's namespaces: its subjects', and the manager's own
 * (reading Secrets there, to check user data before an instance boots: only in tenant namespaces).
 */
const tenantRoles = [
  { binding: "cellcloud-tenant-admins", role: "cellcloud-tenant-admin", subjects: "admins" },
  { binding: "cellcloud-tenant-users", role: "cellcloud-tenant-user", subjects: "users" },
  { binding: "cellcloud-tenant-viewers", role: "cellcloud-viewer", subjects: "viewers" },
  { binding: "cellcloud-manager-user-data", role: USER_DATA_READER_ROLE, subjects: "manager" },
] as const;
type TenantRole = (typeof tenantRoles)[number];
type Subject = { kind: string; name: string; namespace?: string };

function roleBinding(t: TenantObject, ns: string, r: TenantRole, chain: readonly string[], d: Deps): KubeObject {
  const sa = d.serviceAccount;
  const subjects: Subject[] = r.subjects === "manager" ? (sa ? [{ kind: "ServiceAccount", ...sa }] : [])
    : r.subjects === "admins" ? chain.flatMap((x) => d.view.tenants.get(x)?.spec.admins ?? []) : t.spec[r.subjects] ?? [];
  return {
    apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding",
    metadata: { name: r.binding, namespace: ns, labels: { [TENANT_LABEL]: t.metadata.name }, ownerReferences: ownedBy(t) },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: r.role },
    // No subjects is no field at all (the apiserver drops an empty list, and the cache must match).
    ...(subjects.length ? { subjects: subjects.map((s) => ({ ...s, ...(s.kind === "ServiceAccount" ? {} : { apiGroup: "rbac.authorization.k8s.io" }) })) } : {}),
  };
}

type Deps = { mgr: Manager; view: Tenancy["view"]; bindings: Informer; quotas: Informer; serviceAccount?: Settings["serviceAccount"] };
/** The roles bound in tenant namespaces with this manager: its own only when it knows its ServiceAccount. */
const rolesOf = (d: Deps) => tenantRoles.filter((r) => r.subjects !== "manager" || d.serviceAccount);

export const OBJECT_QUOTA = "cellcloud-object-counts";

/** A ResourceQuota capping what quota does not price (Secrets, KeyPairs, DeploymentSets) in one namespace. */
function objectQuota(t: TenantObject, ns: string): KubeObject {
  const l = { ...DEFAULT_OBJECT_LIMITS, ...t.spec.objectLimits };
  return {
    apiVersion: "v1", kind: "ResourceQuota",
    metadata: { name: OBJECT_QUOTA, namespace: ns, labels: { [TENANT_LABEL]: t.metadata.name }, ownerReferences: ownedBy(t) },
    spec: { hard: { "count/secrets": String(l.secrets), "count/keypairs.compute.cellcloud.io": String(l.keyPairs), "count/deploymentsets.compute.cellcloud.io": String(l.deploymentSets) } },
  };
}

/** Creates or labels `name` for `tenant`; says why not when another tenant owns it or it was not handed over. */
async function ensureNamespace({ mgr, view }: Deps, name: string, tenant: string): Promise<string | undefined> {
  let ns = view.namespaces.get(name); // only labelled namespaces are cached
  if (!ns) {
    const made = await createIfAbsent(mgr.client, NamespaceRef, { apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { [TENANT_LABEL]: tenant } } });
    if (made === "created") return undefined;
    ns = await mgr.client.get(NamespaceRef, name); // it exists unlabelled, or the cache is behind
  }
  const owner = ns.metadata.labels?.[TENANT_LABEL];
  if (owner === tenant) return undefined;
  if (owner && view.tenants.get(owner)) return `namespace "${name}" belongs to tenant "${owner}"`;
  // An existing namespace is taken over only when a cluster admin handed it to this tenant.
  if (ns.metadata.annotations?.[ADOPT_ANNOTATION] !== tenant) return `namespace "${name}" exists and is not a tenant namespace (a cluster admin may annotate it ${ADOPT_ANNOTATION}=${tenant})`;
  await mgr.client.patch(NamespaceRef, name, undefined, { metadata: { labels: { [TENANT_LABEL]: tenant } } }, "merge");
  return undefined;
}

/** A namespace taken out of spec.namespaces leaves the tenant: its label and role bindings go (its contents stay). */
async function release({ mgr, view, bindings, quotas }: Deps, t: TenantObject): Promise<void> {
  for (const ns of view.namespaces.list()) {
    if (ns.metadata.labels?.[TENANT_LABEL] !== t.metadata.name || (t.spec.namespaces ?? []).includes(ns.metadata.name)) continue;
    for (const r of tenantRoles) if (bindings.get(`${ns.metadata.name}/${r.binding}`)) await deleteIfPresent(mgr.client, RoleBindingRef, r.binding, ns.metadata.name);
    if (quotas.get(`${ns.metadata.name}/${OBJECT_QUOTA}`)) await deleteIfPresent(mgr.client, ResourceQuotaRef, OBJECT_QUOTA, ns.metadata.name);
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
    const conflict = await ensureNamespace(d, ns, t.metadata.name);
    if (conflict) conflicts.push(conflict);
    else {
      for (const r of rolesOf(d)) await applyIfChanged(mgr.client, RoleBindingRef, roleBinding(t, ns, r, chain, d), bindings.get(`${ns}/${r.binding}`), mgr.fieldManager);
      await applyIfChanged(mgr.client, ResourceQuotaRef, objectQuota(t, ns), d.quotas.get(`${ns}/${OBJECT_QUOTA}`), mgr.fieldManager);
    }
  }
  await release(d, t);
  const count = (t.spec.namespaces ?? []).length - conflicts.length;
  const ready: ConditionInput = conflicts.length
    ? { type: "Ready", status: "False", reason: "NamespaceConflict", message: `spec.namespaces: ${conflicts.join("; ")}` }
    : { type: "Ready", status: "True", reason: "Provisioned", message: `${count} namespace(s) with role bindings` };
  await writeStatus(mgr.client, TenantRef, t, { ...withCondition(t, ready, mgr.clock), ...fields, namespaces: count });
}

export function setupTenantController(mgr: Manager, { view }: Tenancy, serviceAccount?: Settings["serviceAccount"]): unknown {
  const d: Deps = { mgr, view, bindings: mgr.informer(RoleBindingRef, TENANT_LABEL), quotas: mgr.informer(ResourceQuotaRef, TENANT_LABEL), serviceAccount };
  const descendants = (name: string) => {
    const tree = view.tree();
    return view.tenants.list().filter((t) => ancestorsAndSelf(tree, t.metadata.name).includes(name)).map(keyOf);
  };
  const labelled = (o: KubeObject) => [o.metadata.labels?.[TENANT_LABEL] ?? ""].filter(Boolean);
  return mgr.controller("tenant").for(TenantRef)
    .watches(TenantRef, (o) => descendants(o.metadata.name))
    .watches(NamespaceRef, labelled, { labelSelector: TENANT_LABEL })
    .watches(RoleBindingRef, labelled, { labelSelector: TENANT_LABEL })
    .watches(ResourceQuotaRef, labelled, { labelSelector: TENANT_LABEL })
    .complete(async (req) => {
      const t = view.tenants.get(requestKey(req));
      if (t && !t.metadata.deletionTimestamp) await reconcile(d, t);
    });
}
