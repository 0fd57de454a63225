// Which AppliedQuotas a tenant namespace holds, and what changes to make them so (pure): one per Quota
// that concerns the namespace's tenant (its own, an ancestor's, a department's), each a copy of the
// quota's scope, limits and usage that the tenant's users may read where a Quota is out of reach.
import { isDeepStrictEqual } from "node:util";
import {
  APPLIED_QUOTA_MAX_DEPTH, AppliedQuota,
  type AppliedQuotaObject, type AppliedQuotaRelation, type AppliedQuotaSpec, type QuotaObject,
} from "../api/tenancy.ts";
import { ancestorsAndSelf, type Tree } from "./ledger.ts";

/** What an AppliedQuota shows of its Quota's status. */
export interface AppliedQuotaStatus {
  used?: Record<string, string>;
  reserved?: Record<string, string>;
}

export interface AppliedQuotaContent {
  spec: AppliedQuotaSpec;
  status: AppliedQuotaStatus;
}

/** How `quotaTenant`'s quota concerns a namespace of `tenant`, if it does. */
export function relationOf(tree: Tree, tenant: string, quotaTenant: string): AppliedQuotaRelation | undefined {
  if (tenant === quotaTenant) return "Self";
  if (ancestorsAndSelf(tree, tenant).includes(quotaTenant)) return "Ancestor";
  if (ancestorsAndSelf(tree, quotaTenant).includes(tenant)) return "Department";
  return undefined;
}

const defined = <T extends object>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/**
 * The AppliedQuotas (by name: the quota's) a namespace of `tenant` should hold; none for a namespace
 * of no (existing) tenant. A quota being deleted, or of a tenant not in the tree, concerns nobody.
 */
export function planAppliedQuotas(tenant: string | undefined, tree: Tree, quotas: readonly QuotaObject[]): Map<string, AppliedQuotaContent> {
  const out = new Map<string, AppliedQuotaContent>();
  if (!tenant || !tree.has(tenant)) return out;
  for (const q of quotas) {
    if (q.metadata.deletionTimestamp || !tree.has(q.spec.tenant)) continue;
    const relation = relationOf(tree, tenant, q.spec.tenant);
    if (!relation) continue;
    const chain = ancestorsAndSelf(tree, q.spec.tenant).slice(0, APPLIED_QUOTA_MAX_DEPTH);
    const spec: AppliedQuotaSpec = defined({
      quota: q.metadata.name, tenant: q.spec.tenant, path: chain.reverse().join("/"), relation, namespaceTenant: tenant,
      zone: q.spec.zone, architecture: q.spec.architecture, hard: q.spec.hard,
    });
    const status = (q.status ?? {}) as AppliedQuotaStatus;
    // both are required in the AppliedQuota's status: a Quota not yet counted shows none of either
    out.set(q.metadata.name, { spec, status: { used: status.used ?? {}, reserved: status.reserved ?? {} } });
  }
  return out;
}

export interface AppliedQuotaChanges {
  /** New AppliedQuotas and those whose spec differs, whole (for a server-side apply); each status is compared once it exists. */
  apply: AppliedQuotaObject[];
  /** Those no quota asks for any more. */
  remove: AppliedQuotaObject[];
}

/** The writes that turn a namespace's `existing` AppliedQuotas into `desired` ones. */
export function appliedQuotaChanges(namespace: string, desired: ReadonlyMap<string, AppliedQuotaContent>, existing: readonly AppliedQuotaObject[]): AppliedQuotaChanges {
  const have = new Map(existing.map((o) => [o.metadata.name, o]));
  return {
    apply: [...desired].filter(([name, d]) => !isDeepStrictEqual(have.get(name)?.spec, d.spec))
      .map(([name, d]) => ({ apiVersion: AppliedQuota.apiVersion, kind: AppliedQuota.kind, metadata: { name, namespace }, spec: d.spec })),
    remove: existing.filter((o) => !desired.has(o.metadata.name)),
  };
}
