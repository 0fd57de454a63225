// Reconciles Subnets on the managed reconciler (their VPC, siblings and allocations from caches,
// planned by subnet-plan.ts), and repairs IPAllocations: one whose owner is gone, or is another
// object of that name now, is deleted once a grace period has passed (the owner may be too new for
// this cache). An owner that lost an allocation of an address it uses takes it again itself.
import { InstanceRef } from "../api/compute.ts";
import { ElasticIPRef, IPAllocationRef, LoadBalancerRef, SUBNET_FINALIZER, SubnetRef, VPCRef, type IPAllocationObj, type SubnetObj, type VPCObj } from "../api/network.ts";
import type { Controller } from "../runtime/controller.ts";
import { allocationCache } from "../runtime/ipam.ts";
import { completeManaged, type ManagedResource } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import type { ProductContext } from "../runtime/product.ts";
import { orphanRepair, type HolderCache } from "../runtime/claims.ts";
import { keyOf } from "../runtime/types.ts";
import { subnetFinalize, subnetPlan, type SubnetObservation } from "./subnet-plan.ts";

const BY_VPC = "network.cellcloud.io/subnet-vpc";

const byVPC = (s: SubnetObj) => [`${s.metadata.namespace}/${s.spec.vpc}`];

/** Subnets, indexed by their VPC (namespace/name). */
export function subnetCache(mgr: Manager) {
  const subnets = mgr.informer<SubnetObj>(SubnetRef);
  subnets.addIndexer(BY_VPC, byVPC);
  return { subnets, ofVPC: (key: string) => subnets.byIndex(BY_VPC, key) };
}

export function setupSubnetController(mgr: Manager, ctx: ProductContext): Controller[] {
  const { ofVPC } = subnetCache(mgr);
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
  return [subnet, allocationRepair(mgr, { Instance: mgr.informer(InstanceRef), ElasticIP: mgr.informer(ElasticIPRef), LoadBalancer: mgr.informer(LoadBalancerRef) })];
}

/** Deletes allocations whose owner (an Instance, an ElasticIP, a LoadBalancer) is gone, or is another object of that name, after the grace. */
export function allocationRepair(mgr: Manager, owners: Record<string, HolderCache>): Controller {
  const allocations = allocationCache(mgr);
  return orphanRepair(mgr, {
    name: "ipallocation-repair", ref: IPAllocationRef, claims: allocations.cache, holders: owners,
    holder: (a) => ({ kind: a.spec.owner.kind, key: `${a.spec.owner.namespace}/${a.spec.owner.name}`, uid: a.spec.owner.uid }),
    heldBy: allocations.ofOwner,
    describe: (a) => a.spec.address,
  });
}
