// The tenancy caches every tenancy component reads: namespaces labelled for a tenant, tenants,
// quotas, ledgers, the catalog an instance is priced from, and the charged product kinds.
import { refOf } from "../api/crd.ts";
import { CHARGE_ANNOTATION, Quota, Tenant, TENANT_LABEL, type QuotaSpec, type TenantSpec } from "../api/tenancy.ts";
import type { FlavorSpec, ImageSpec, InstanceSpec } from "../api/compute.ts";
import type { VolumeSnapshotSpec, VolumeSpec } from "../api/storage.ts";
import { FlavorRef, ImageRef } from "../compute/catalog-controller.ts";
import { FINALIZER as INSTANCE_FINALIZER, InstanceRef } from "../compute/instance-controller.ts";
import type { Informer } from "../runtime/informer.ts";
import type { Manager } from "../runtime/manager.ts";
import type { KubeObject, ResourceRef } from "../runtime/types.ts";
import { FINALIZER as VOLUME_FINALIZER, VolumeRef, VolumeSnapshotRef } from "../storage/volume-controller.ts";
import { decodeCharge, encodeCharge, instanceCharge, quotaLimit, snapshotCharge, volumeCharge, type Lookup, type Priced } from "./charges.ts";
import { LedgerRef, type LedgerObject } from "./ledger-store.ts";
import { ancestorsAndSelf, type Charge, type Pending, type QuotaLimit, type Tree } from "./ledger.ts";

export const TenantRef = refOf(Tenant);
export const QuotaRef = refOf(Quota);
export const NamespaceRef: ResourceRef = { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false };

export interface TenantObject extends KubeObject { spec: TenantSpec }
export interface QuotaObject extends KubeObject { spec: QuotaSpec }
type Spec<S> = KubeObject & { spec: S };

/** A kind whose objects are charged against quota, and how to price one. */
export interface ChargedKind {
  ref: ResourceRef;
  price(obj: KubeObject, tenant: string, lookup: Lookup): Priced;
  /** The product controller's own finalizer, added at create so no delete can outrun its cleanup. */
  finalizer?: string;
}

export const chargedKinds: readonly ChargedKind[] = [
  { ref: InstanceRef, price: (o, t, l) => instanceCharge((o as Spec<InstanceSpec>).spec, t, l), finalizer: INSTANCE_FINALIZER },
  { ref: VolumeRef, price: (o, t, l) => volumeCharge((o as Spec<VolumeSpec>).spec, t, l), finalizer: VOLUME_FINALIZER },
  { ref: VolumeSnapshotRef, price: (o, t, l) => snapshotCharge((o as Spec<VolumeSnapshotSpec>).spec, t, l) },
];

export const chargedKind = (group: string, plural: string): ChargedKind | undefined =>
  chargedKinds.find((k) => k.ref.group === group && k.ref.plural === plural);

export class TenancyView {
  readonly namespaces: Informer;
  readonly tenants: Informer<TenantObject>;
  readonly quotas: Informer<QuotaObject>;
  readonly ledgers: Informer<LedgerObject>;
  readonly flavors: Informer<Spec<FlavorSpec>>;
  readonly images: Informer<Spec<ImageSpec>>;
  readonly charged: ReadonlyMap<ChargedKind, Informer>;
  private readonly volumes: Informer<Spec<VolumeSpec>>;
  private readonly all: Informer[];

  constructor(mgr: Manager) {
    this.namespaces = mgr.informer(NamespaceRef, TENANT_LABEL);
    this.tenants = mgr.informer<TenantObject>(TenantRef);
    this.quotas = mgr.informer<QuotaObject>(QuotaRef);
    this.ledgers = mgr.informer<LedgerObject>(LedgerRef);
    this.flavors = mgr.informer(FlavorRef);
    this.images = mgr.informer(ImageRef);
    this.charged = new Map(chargedKinds.map((k) => [k, mgr.informer(k.ref)]));
    for (const inf of this.charged.values()) inf.addIndexer("uid", (o) => (o.metadata.uid ? [o.metadata.uid] : []));
    this.volumes = mgr.informer<Spec<VolumeSpec>>(VolumeRef);
    this.all = [this.namespaces, this.tenants, this.quotas, this.ledgers, this.flavors, this.images, ...this.charged.values()] as Informer[];
  }

  byUid(uid: string): KubeObject | undefined {
    for (const inf of this.charged.values()) {
      const o = inf.byIndex("uid", uid)[0];
      if (o) return o;
    }
    return undefined;
  }

  /** A pending change stands while its object exists and shows it (its charge annotation is the change's `to`). */
  readonly alive = (uid: string, p: Pending): boolean => this.byUid(uid)?.metadata.annotations?.[CHARGE_ANNOTATION] === encodeCharge(p.to);

  /** What an object holds: its charge annotation, else its price now. */
  chargeOf(kind: ChargedKind, obj: KubeObject, tenant: string, lookup: Lookup): Charge | undefined {
    const annotated = decodeCharge(obj.metadata.annotations?.[CHARGE_ANNOTATION]);
    if (annotated) return annotated;
    const priced = kind.price(obj, tenant, lookup);
    return "charge" in priced ? priced.charge : undefined;
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

  lookup(namespace: string, tree: Tree = this.tree()): Lookup {
    const volumes = this.volumes;
    return {
      tree,
      flavor: (n) => this.flavors.get(n)?.spec,
      image: (n) => this.images.get(n)?.spec,
      volume: (n) => volumes.get(`${namespace}/${n}`)?.spec,
      customSizes: (t) => ancestorsAndSelf(tree, t).every((x) => this.tenants.get(x)?.spec.customSizes !== false),
    };
  }
}
