// The caches and ledger store one manager's webhook and tenancy controllers share.
import type { ChargedKind, TenantObject } from "../api/tenancy.ts";
import type { Manager } from "../runtime/manager.ts";
import { controllerRef } from "../runtime/objects.ts";
import { TenantRef } from "../api/tenancy.ts";
import type { OwnerReference } from "../runtime/types.ts";
import { LedgerStore } from "./ledger-store.ts";
import { TenancyView } from "./view.ts";

export interface Tenancy {
  view: TenancyView;
  store: LedgerStore;
}

const shared = new WeakMap<Manager, Tenancy>();

/** The tenancy caches and store of `mgr`, made on first use with the kinds the products charge. */
export function tenancyOf(mgr: Manager, charged: () => readonly ChargedKind[]): Tenancy {
  let t = shared.get(mgr);
  if (!t) {
    const view = new TenancyView(mgr, charged());
    const owner = (root: string) => { const tenant = view.tenants.get(root); return tenant ? ownedBy(tenant) : undefined; };
    t = { view, store: new LedgerStore(mgr.client, view.ledgers, owner, () => mgr.clock.now()) };
    shared.set(mgr, t);
  }
  return t;
}

/** Objects a tenant owns (its ledger, its role bindings) go with it; they never block its deletion. */
export const ownedBy = (t: TenantObject): OwnerReference[] => [controllerRef(t, TenantRef, false)];
