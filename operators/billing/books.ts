// What prices a tenant's hour: its chain of tenants (a department, its parents, the root), its
// pricing and deduction switches (a department inherits what it leaves empty), and the price lists.
import { PriceListRef, type PriceListObj } from "../api/billing.ts";
import { TENANT_LABEL, TenantRef, type TenantSpec } from "../api/tenancy.ts";
import { NamespaceRef } from "../runtime/core.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Manager } from "../runtime/manager.ts";
import type { KubeObject } from "../runtime/types.ts";
import { priceBook, type PriceBook } from "./price.ts";

type TenantObj = KubeObject & { spec: TenantSpec };

/** The tenant, then its ancestors (a missing parent ends the chain; a cycle is cut). */
export function chainOf(get: (name: string) => TenantObj | undefined, tenant: string): string[] {
  const chain: string[] = [];
  for (let t: string | undefined = tenant; t && !chain.includes(t) && chain.length < 64; t = get(t)?.spec.parent) chain.push(t);
  return chain;
}

/** A switch: the nearest tenant in the chain that sets it decides; Enabled when none does. */
export function switchOf(get: (name: string) => TenantObj | undefined, chain: readonly string[], which: "pricing" | "deduction"): boolean {
  for (const t of chain) {
    const v = get(t)?.spec.billing?.[which];
    if (v) return v === "Enabled";
  }
  return true;
}

export class Books {
  readonly lists: Informer<PriceListObj>;
  readonly tenants: Informer<TenantObj>;
  readonly namespaces: Informer;

  constructor(mgr: Manager) {
    this.lists = mgr.informer<PriceListObj>(PriceListRef);
    this.tenants = mgr.informer<TenantObj>(TenantRef);
    this.namespaces = mgr.informer(NamespaceRef, TENANT_LABEL);
  }

  chain(tenant: string): string[] {
    return chainOf((n) => this.tenants.get(n), tenant);
  }

  enabled(tenant: string, which: "pricing" | "deduction"): boolean {
    return switchOf((n) => this.tenants.get(n), this.chain(tenant), which);
  }

  /** The prices of `tenant`'s usage in the hour starting at `at` (undefined: no global list yet). */
  book(tenant: string, at: number): PriceBook | undefined {
    return priceBook(this.lists.list(), this.chain(tenant), at, this.enabled(tenant, "pricing"));
  }

  /** The tenant a namespace belongs to. */
  tenantOf(namespace: string): string | undefined {
    return this.namespaces.get(namespace)?.metadata.labels?.[TENANT_LABEL];
  }
}
