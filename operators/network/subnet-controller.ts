// Reconciles Subnets on the managed reconciler (their VPC, siblings and allocations from caches,
// planned by subnet-plan.ts), and repairs IPAllocations: one whose owner is gone, or is another
// object of that name now, is deleted once a grace period has passed (the owner may be too new for
// this cache). An owner that lost an allocation of an address it uses takes it again itself.
import { InstanceRef } from "../api/compute.ts";
import { ElasticIPRef, IPAllocationRef, SUBNET_FINALIZER, SubnetRef, VPCRef, type IPAllocationObj, type SubnetObj, type VPCObj } from "../api/network.ts";
import type { Controller } from "../runtime/controller.ts";
import type { Informer } from "../runtime/informer.ts";
import { allocationCache } from "../runtime/ipam.ts";
import { completeManaged, type ManagedResource } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import { deleteIfPresent } from "../runtime/objects.ts";
import type { ProductContext } from "../runtime/product.ts";
import { keyOf, requestKey, type KubeObject, type ResourceRef } from "../runtime/types.ts";
import { subnetFinalize, subnetPlan, type SubnetObservation } from "./subnet-plan.ts";
import { orphanClaim } from "./vpc-plan.ts";

const BY_VPC = "network.cellcloud.io/subnet-vpc";
/** How long an allocation whose owner is not in the cache is left alone: the owner may be too new for it. */
export const ALLOCATION_GRACE_MS = 60_000;

const byVPC = (s: SubnetObj) => [`${s.metadata.namespace}/${s.spec.vpc}`];

/** Subnets, indexed by their VPC (namespace/name). */
export function subnetCache(mgr: Manager) {
  const subnets = mgr.informer<SubnetObj>(SubnetRef);
  subnets.addIndexer(BY_VPC, byVPC);
  return { subnets, ofVPC: (key: string) => subnets.byIndex(BY_VPC, key) };
}

export function setupSubnetController(mgr: Manager, ctx: ProductContext): Controller[] {
  const { subnets, ofVPC } = subnetCache(mgr);
  const vpcs = mgr.informer<VPCObj>(VPCRef);
  const allocations = allocationCache(mgr);
  const observe = (s: SubnetObj): SubnetObservation => ({
    vpc: vpcs.get(`${s.metadata.namespace}/${s.spec.vpc}`),
    siblings: ofVPC(`${s.metadata.namespace}/${s.spec.vpc}`),
    allocations: allocations.ofSubnet(keyOf(s)),
  });
  const resource: ManagedResource<SubnetObj, SubnetObservation> = {
    finalizer: SUBNET_FINALIZER,
    gates: ctx.gates,
    observe,
    plan: subnetPlan,
    finalize: subnetFinalize,
  };
  const subnet = completeManaged(
    mgr.controller("subnet").for(SubnetRef).concurrency(2)
      .watches(VPCRef, (v) => ofVPC(keyOf(v)).map(keyOf))
      // a sibling's coming and going may decide which of two overlapping subnets is usable
      .watches(SubnetRef, (s) => ofVPC(`${s.metadata.namespace}/${(s as SubnetObj).spec.vpc}`).map(keyOf))
      // the counts are informational: a burst of allocations is one status write a second, not one each
      .watches(IPAllocationRef, (a) => { const s = (a as IPAllocationObj).spec; return s.subnet ? [`${s.owner.namespace}/${s.subnet}`] : []; }, { delayMs: 1_000 }),
    resource,
  );
  return [subnet, allocationRepair(mgr, { Instance: mgr.informer(InstanceRef), ElasticIP: mgr.informer(ElasticIPRef) })];
}

/**
 * Deletes allocations whose owner is gone (or is another object of that name) after the grace. The
 * owner kinds it knows are given with their caches; an allocation of another kind is left alone.
 */
export function allocationRepair(mgr: Manager, owners: Record<string, Informer<KubeObject>>): Controller {
  const allocations = allocationCache(mgr);
  let builder = mgr.controller("ipallocation-repair").for(IPAllocationRef);
  for (const inf of Object.values(owners)) {
    const ref: ResourceRef = inf.ref;
    builder = builder.watches(ref, (o) => allocations.ofOwner(o.metadata.uid ?? "").map((a) => a.metadata.name));
  }
  return builder.complete(async (req) => {
    const a = allocations.cache.get(requestKey(req));
    if (!a || a.metadata.deletionTimestamp) return;
    const o = a.spec.owner;
    const owners_ = owners[o.kind];
    if (!owners_) return;
    const live = owners_.get(`${o.namespace}/${o.name}`)?.metadata.uid;
    if (live === o.uid) return;
    const created = Date.parse(a.metadata.creationTimestamp ?? "") || 0;
    const now = mgr.clock.now();
    if (!orphanClaim(o.uid, live, created, now, ALLOCATION_GRACE_MS)) return { requeueAfterMs: created + ALLOCATION_GRACE_MS - now + 1_000 };
    await deleteIfPresent(mgr.client, IPAllocationRef, a.metadata.name, undefined, { uid: a.metadata.uid ?? "" });
    mgr.events.record(a, "Normal", "OrphanReleased", `${a.spec.address}: owner ${o.kind} ${o.namespace}/${o.name} (uid ${o.uid}) is gone`);
    return;
  });
}
