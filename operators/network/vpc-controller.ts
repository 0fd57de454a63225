// Reconciles VPCs on the managed reconciler: observe the VNIClaims held for the VPC (by its uid) and
// every VNI held, plan with vpc-plan.ts, let the runtime carry it out. A second controller deletes
// claims whose holder is gone (a VPC deleted without its finalizer, or a crash between a claim and a
// status that a later VPC of the same name will not adopt) once a grace period has passed (the
// runtime's orphan repair).
import { defaultGroupName, SecurityGroupRef, SubnetRef, VNIClaimRef, VPC_FINALIZER, VPCRef, type SecurityGroupObj, type SubnetObj, type VNIClaimObj, type VPCObj } from "../api/network.ts";
import { NetworkPolicyRef } from "../runtime/core.ts";
import type { Controller } from "../runtime/controller.ts";
import { completeManaged, type ManagedResource } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import type { ProductContext } from "../runtime/product.ts";
import { orphanRepair } from "../runtime/claims.ts";
import { keyOf } from "../runtime/types.ts";
import { isolationPolicyName, vpcObjects, type NetworkPolicy } from "./sg-plan.ts";
import { subnetCache } from "./subnet-controller.ts";
import { vpcFinalize, vpcPlan, type VPCObservation } from "./vpc-plan.ts";

const BY_HOLDER = "network.cellcloud.io/claim-holder";

function claimCache(mgr: Manager) {
  const claims = mgr.informer<VNIClaimObj>(VNIClaimRef);
  claims.addIndexer(BY_HOLDER, (c) => [c.spec.holder.uid]);
  return claims;
}

export function setupVPCController(mgr: Manager, ctx: ProductContext): Controller[] {
  const claims = claimCache(mgr);
  const vpcs = mgr.informer<VPCObj>(VPCRef);
  const { ofVPC } = subnetCache(mgr);
  const groups = mgr.informer<SecurityGroupObj>(SecurityGroupRef);
  const policies = mgr.informer<NetworkPolicy>(NetworkPolicyRef);
  type Observed = VPCObservation & { defaultGroup: boolean; isolation?: NetworkPolicy };
  const observe = (v: VPCObj): Observed => ({
    // oldest first, ties (timestamps have seconds) by number: every manager keeps the same one
    held: claims.byIndex(BY_HOLDER, v.metadata.uid ?? "")
      .map((c) => ({ vni: Number(c.metadata.name), uid: c.metadata.uid ?? "", at: c.metadata.creationTimestamp ?? "" }))
      .sort((a, b) => a.at.localeCompare(b.at) || a.vni - b.vni)
      .map(({ vni, uid }) => ({ vni, uid })),
    taken: { has: (vni) => claims.get(String(vni)) !== undefined, size: claims.size },
    subnets: ofVPC(keyOf(v)).map((s) => s.metadata.name).sort(),
    defaultGroup: groups.get(`${v.metadata.namespace}/${defaultGroupName(v.metadata.name)}`) !== undefined,
    isolation: policies.get(`${v.metadata.namespace}/${isolationPolicyName(v.metadata.name)}`),
  });
  const resource: ManagedResource<VPCObj, Observed> = {
    finalizer: VPC_FINALIZER,
    gates: ctx.gates,
    observe,
    plan: (v, o) => { const p = vpcPlan(v, o, Math.random()); return { ...p, actions: [...(p.actions ?? []), ...vpcObjects(v, o)] }; },
    finalize: (_v, o) => vpcFinalize(o),
  };
  const holderKey = (c: VNIClaimObj) => [`${c.spec.holder.namespace}/${c.spec.holder.name}`];
  const vpc = completeManaged(mgr.controller("vpc").for(VPCRef).concurrency(4)
    .watches(VNIClaimRef, (c) => holderKey(c as VNIClaimObj))
    .watches(SubnetRef, (s) => [`${s.metadata.namespace}/${(s as SubnetObj).spec.vpc}`])
    .owns(NetworkPolicyRef)
    .watches(SecurityGroupRef, (g) => [`${g.metadata.namespace}/${(g as SecurityGroupObj).spec.vpc}`]), resource);

  // Orphaned claims: the holder of that name is gone or is another object (another uid).
  const repair = orphanRepair(mgr, {
    name: "vniclaim-repair", ref: VNIClaimRef, claims, holders: { VPC: vpcs },
    holder: (c) => ({ kind: "VPC", key: `${c.spec.holder.namespace}/${c.spec.holder.name}`, uid: c.spec.holder.uid }),
    heldBy: (uid) => claims.byIndex(BY_HOLDER, uid),
    describe: (c) => `VNI ${c.metadata.name}`,
  });
  return [vpc, repair];
}
