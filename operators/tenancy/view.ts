// The tenancy caches every tenancy component reads: namespaces labelled for a tenant, tenants,
// quotas, ledgers, and the charged kinds the products registered (tenancy lists no product itself).
import { NamespaceRef } from "../runtime/core.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Manager } from "../runtime/manager.ts";
import type { KubeObject } from "../runtime/types.ts";
import {
  CHARGE_ANNOTATION, QuotaLedgerRef, QuotaRef, TENANT_LABEL, TenantRef,
  type Charge, type ChargedKind, type PricingContext, type QuotaObject, type TenantObject,
} from "../api/tenancy.ts";
import { PUBLIC_IMAGE_NAMESPACE } from "../api/common.ts";
import { decodeCharge, encodeCharge, imageVisible, quotaLimit } from "./charges.ts";
import type { LedgerObject } from "./ledger-store.ts";
import { ancestorsAndSelf, type Pending, type QuotaLimit, type Tree } from "./ledger.ts";

export type { ChargedKind };

const UID_INDEX = "tenancy.cellcloud.io/uid";
const byUid = (o: KubeObject): string[] => (o.metadata.uid ? [o.metadata.uid] : []);

export class TenancyView {
  readonly namespaces: Informer;
  readonly tenants: Informer<TenantObject>;
  readonly quotas: Informer<QuotaObject>;
  readonly ledgers: Informer<LedgerObject>;
  readonly charged: ReadonlyMap<ChargedKind, Informer>;
  private readonly all: Informer[];

  constructor(mgr: Manager, charged: readonly ChargedKind[]) {
    this.namespaces = mgr.informer(NamespaceRef, TENANT_LABEL);
    this.tenants = mgr.informer<TenantObject>(TenantRef);
    this.quotas = mgr.informer<QuotaObject>(QuotaRef);
    this.ledgers = mgr.informer<LedgerObject>(QuotaLedgerRef);
    this.charged = new Map(charged.map((k) => [k, mgr.informer(k.ref)]));
    for (const inf of this.charged.values()) inf.addIndexer(UID_INDEX, byUid);
    this.all = [this.namespaces, this.tenants, this.quotas, this.ledgers, ...this.charged.values()] as Informer[];
  }

  chargedKind(group: string, plural: string): ChargedKind | undefined {
    for (const k of this.charged.keys()) if (k.ref.group === group && k.ref.plural === plural) return k;
    return undefined;
  }

  byUid(uid: string): KubeObject | undefined {
    for (const inf of this.charged.values()) {
      const o = inf.firstByIndex(UID_INDEX, uid);
      if (o) return o;
    }
    return undefined;
  }

  /** A pending change stands while its object exists and shows it (its charge annotation is the change's `to`). */
  readonly alive = (uid: string, p: Pending): boolean => this.byUid(uid)?.metadata.annotations?.[CHARGE_ANNOTATION] === encodeCharge(p.to);

  /** What an object holds: its charge annotation (for its namespace's tenant now), else its price now. */
  chargeOf(kind: ChargedKind, obj: KubeObject, ctx: PricingContext): Charge | undefined {
    const annotated = decodeCharge(obj.metadata.annotations?.[CHARGE_ANNOTATION]);
    // A namespace handed to another tenant takes its objects along: what they hold now counts for
    // the namespace's current tenant (the old tenant's recount drops them, the new one's adds them).
    if (annotated) return annotated.tenant === ctx.tenant || !ctx.tenant ? annotated : { ...annotated, tenant: ctx.tenant };
    try {
      const priced = kind.price(obj, ctx);
      return "charge" in priced ? priced.charge : undefined;
    } catch {
      return undefined; // a malformed object holds nothing it could be charged
    }
  }

  /** Whether every cache has listed once; until then admission refuses rather than guesses. */
  synced(): boolean {
    return this.all.every((i) => i.hasSynced());
  }

  /** The tenant owning a namespace: its label, if that tenant exists. */
  tenantOf(namespace: string | undefined): string | undefined {
    const t = namespace ? this.namespaces.get(namespace)?.metadata.labels?.[TENANT_LABEL] : undefined;
    return t && this.tenants.get(t) ? t : undefined;
  }

  tree(): Tree {
    return new Map(this.tenants.list().map((t) => [t.metadata.name, t.spec.parent]));
  }

  rootOf(tenant: string, tree: Tree = this.tree()): string {
    return ancestorsAndSelf(tree, tenant).at(-1) ?? tenant;
  }

  quotaLimits(): QuotaLimit[] {
    return this.quotas.list().filter((q) => !q.metadata.deletionTimestamp).map((q) => quotaLimit(q.metadata.name, q.spec));
  }

  /** What a product pricing an object of `tenant` in `namespace` is told. */
  pricing(namespace: string, tenant: string, tree: Tree = this.tree()): PricingContext {
    const chain = ancestorsAndSelf(tree, tenant);
    return {
      tenant, namespace,
      customSizes: chain.every((x) => this.tenants.get(x)?.spec.customSizes !== false),
      priorities: ["Low", "Normal", "High"].filter((p) => chain.every((x) => (this.tenants.get(x)?.spec.allowedPriorities ?? ["Low", "Normal"]).includes(p as never))),
      visible: (v) => imageVisible({ public: v.namespace === PUBLIC_IMAGE_NAMESPACE, owner: this.tenantOf(v.namespace), sharedWith: v.sharedWith }, tenant, tree),
    };
  }
}
