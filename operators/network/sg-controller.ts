// Reconciles SecurityGroups on the managed reconciler: its VPC, the groups its rules name, its
// members (instances whose NICs name it, or name none and sit in its VPC when it is the default
// group) and its NetworkPolicy from caches, planned by sg-plan.ts.
import { InstanceRef, type InstanceObj } from "../api/compute.ts";
import { defaultGroupName, SECURITY_GROUP_FINALIZER, SecurityGroupRef, VPCRef, type SecurityGroupObj, type VPCObj } from "../api/network.ts";
import type { Controller } from "../runtime/controller.ts";
import { NetworkPolicyRef } from "../runtime/core.ts";
import { completeManaged, type ManagedResource } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import type { ProductContext } from "../runtime/product.ts";
import { keyOf, type KubeObject } from "../runtime/types.ts";
import { groupPolicyName, sgFinalize, sgPlan, type NetworkPolicy, type SGObservation } from "./sg-plan.ts";

const BY_GROUP = "network.cellcloud.io/instance-securitygroup";
const BY_REMOTE = "network.cellcloud.io/securitygroup-remote";

/** The groups an instance's NICs are in: those each names, or its VPC's default group (once addressed). */
export function groupsOf(i: InstanceObj): string[] {
  const ns = i.metadata.namespace;
  return [...new Set((i.spec.nics ?? []).flatMap((nic, k) => {
    if (nic.securityGroups?.length) return nic.securityGroups;
    const vpc = i.status?.nics?.[k]?.vpc;
    return vpc ? [defaultGroupName(vpc)] : [];
  }))].map((g) => `${ns}/${g}`);
}
const remotes = (g: SecurityGroupObj) => [...(g.spec.ingress ?? []), ...(g.spec.egress ?? [])].flatMap((r) => (r.remoteGroup ? [`${g.metadata.namespace}/${r.remoteGroup}`] : []));

/** The instances whose NICs are in a group (namespace/name), by name. */
export function groupMembers(mgr: Manager): (key: string) => string[] {
  const instances = mgr.informer<InstanceObj>(InstanceRef);
  instances.addIndexer(BY_GROUP, groupsOf);
  return (key) => instances.byIndex(BY_GROUP, key).map((i) => i.metadata.name).sort();
}

export function setupSecurityGroupController(mgr: Manager, ctx: ProductContext): Controller {
  const membersOf = groupMembers(mgr);
  const groups = mgr.informer<SecurityGroupObj>(SecurityGroupRef);
  groups.addIndexer(BY_REMOTE, remotes);
  const vpcs = mgr.informer<VPCObj>(VPCRef);
  const policies = mgr.informer<NetworkPolicy>(NetworkPolicyRef);
  const observe = (g: SecurityGroupObj): SGObservation => ({
    vpc: vpcs.get(`${g.metadata.namespace}/${g.spec.vpc}`),
    members: membersOf(keyOf(g)),
    group: (name) => groups.get(`${g.metadata.namespace}/${name}`),
    policy: policies.get(`${g.metadata.namespace}/${groupPolicyName(g.metadata.name)}`),
  });
  const resource: ManagedResource<SecurityGroupObj, SGObservation> = {
    finalizer: SECURITY_GROUP_FINALIZER,
    gates: ctx.gates,
    observe,
    plan: sgPlan,
    finalize: sgFinalize,
  };
  const byVPC = (v: KubeObject) => groups.list().filter((g) => g.metadata.namespace === v.metadata.namespace && g.spec.vpc === v.metadata.name).map(keyOf);
  return completeManaged(
    mgr.controller("securitygroup").for(SecurityGroupRef).owns(NetworkPolicyRef)
      // the groups a NIC left too: their member counts drop
      .watches(InstanceRef, (i, old) => [...new Set([...groupsOf(i as InstanceObj), ...(old ? groupsOf(old as InstanceObj) : [])])], { delayMs: 500 })
      // a group a rule names appearing (or going) changes what the rule allows
      .watches(SecurityGroupRef, (g) => groups.byIndex(BY_REMOTE, keyOf(g)).map(keyOf))
      .watches(VPCRef, byVPC),
    resource,
  );
}
