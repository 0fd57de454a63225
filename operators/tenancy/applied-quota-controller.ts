// The applied-quota controller: keeps each tenant namespace's AppliedQuotas (applied-quotas.ts) in step
// with the Quotas, the tenant tree and the namespace's tenant. Keyed by namespace, compared with the
// caches first: a Quota's status changes often, so its events are gathered for a second and only
// what differs is written (a spec by server-side apply, a status by merge patch).
import { AppliedQuotaRef, QuotaRef, TENANT_LABEL, TenantRef, type AppliedQuotaObject, type QuotaObject, type TenantObject } from "../api/tenancy.ts";
import { NamespaceRef } from "../runtime/core.ts";
import type { Manager } from "../runtime/manager.ts";
import { deleteIfPresent } from "../runtime/objects.ts";
import { writeStatus } from "../runtime/status.ts";
import { requestKey, type KubeObject } from "../runtime/types.ts";
import { appliedQuotaChanges, planAppliedQuotas } from "./applied-quotas.ts";
import { ancestorsAndSelf } from "./ledger.ts";
import type { Tenancy } from "./shared.ts";

/** A Quota's status is written at most once a second: one reconcile per namespace per burst. */
const QUOTA_BURST_MS = 1000;
const NAMESPACE_INDEX = "tenancy.cellcloud.io/namespace";
const TENANT_INDEX = "tenancy.cellcloud.io/tenant";
const byNamespace = (o: KubeObject): string[] => (o.metadata.namespace ? [o.metadata.namespace] : []);
const byTenant = (o: KubeObject): string[] => [o.metadata.labels?.[TENANT_LABEL] ?? ""].filter(Boolean);

export function setupAppliedQuotaController(mgr: Manager, { view }: Tenancy): unknown {
  const applied = mgr.informer<AppliedQuotaObject>(AppliedQuotaRef);
  applied.addIndexer(NAMESPACE_INDEX, byNamespace);
  view.namespaces.addIndexer(TENANT_INDEX, byTenant);
  // The namespaces of `tenant`, of its ancestors and of its departments: those whose AppliedQuotas its
  // quotas, or its coming and going, change. `parent` stands in for a tenant already gone from the tree.
  const concerned = (tenant: string, parent?: string): string[] => {
    const tree = view.tree();
    const up = parent ? [tenant, ...ancestorsAndSelf(tree, parent)] : ancestorsAndSelf(tree, tenant);
    const down = [...tree.keys()].filter((t) => ancestorsAndSelf(tree, t).includes(tenant));
    return [...new Set([...up, ...down])].flatMap((t) => view.namespaces.byIndex(TENANT_INDEX, t).map((ns) => ns.metadata.name));
  };
  return mgr.controller("applied-quota").for(NamespaceRef, { labelSelector: TENANT_LABEL })
    .watches(AppliedQuotaRef, byNamespace)
    .watches(QuotaRef, (o) => concerned((o as QuotaObject).spec.tenant), { delayMs: QUOTA_BURST_MS })
    // a tenant's parent is immutable: only its arrival and departure move the tree
    .watches(TenantRef, (o) => concerned(o.metadata.name, (o as TenantObject).spec.parent), { predicate: (event) => event !== "update" })
    .complete(async (req) => {
      const namespace = requestKey(req);
      const ns = view.namespaces.get(namespace); // only labelled namespaces are cached
      if (ns?.metadata.deletionTimestamp) return; // its AppliedQuotas go with it
      const desired = planAppliedQuotas(ns ? view.tenantOf(namespace) : undefined, view.tree(), view.quotas.list());
      const { apply, remove } = appliedQuotaChanges(namespace, desired, applied.byIndex(NAMESPACE_INDEX, namespace));
      for (const o of remove) await deleteIfPresent(mgr.client, AppliedQuotaRef, o.metadata.name, namespace, { uid: o.metadata.uid });
      const written = new Map<string, AppliedQuotaObject>();
      for (const o of apply) written.set(o.metadata.name, await mgr.client.apply(AppliedQuotaRef, o, mgr.fieldManager));
      for (const [name, d] of desired) {
        const current = written.get(name) ?? applied.get(`${namespace}/${name}`);
        if (current) await writeStatus(mgr.client, AppliedQuotaRef, current, { ...d.status });
      }
    });
}
