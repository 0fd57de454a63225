// Reconciles ElasticIPs on the managed reconciler: pools, the EIP's allocation, its target and the
// binding locks from caches, planned by eip-plan.ts. A second controller deletes a binding lock whose
// ElasticIP is gone (deleted without its finalizer) once the grace has passed, so no target is kept
// from a new ElasticIP by a lock nobody holds.
import { InstanceRef, type InstanceObj } from "../api/compute.ts";
import { EIP_FINALIZER, EIPBindingRef, ElasticIPRef, IPAllocationRef, LoadBalancerRef, bindingName, type EIPBindingObj, type ElasticIPObj, type IPAllocationObj, type LoadBalancerObj } from "../api/network.ts";
import { ExternalIPPoolRef, type ExternalIPPoolObj } from "../api/platform.ts";
import type { Controller } from "../runtime/controller.ts";
import { allocationCache } from "../runtime/ipam.ts";
import { completeManaged, type ManagedResource } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import type { ProductContext } from "../runtime/product.ts";
import { orphanRepair } from "../runtime/claims.ts";
import { keyOf } from "../runtime/types.ts";
import { eipFinalize, eipPlan, type EIPObservation } from "./eip-plan.ts";

const LOCK_HOLDER = "network.cellcloud.io/binding-eip";
const BY_TARGET = "network.cellcloud.io/eip-target";
const byHolder = (l: EIPBindingObj) => [l.spec.elasticIP.uid];
const byTarget = (e: ElasticIPObj) => (e.spec.target ? [`${e.metadata.namespace}/${bindingName(e.spec.target.kind, e.spec.target.name)}`] : []);

/** The binding locks, and those an ElasticIP (by uid) holds. */
export function lockCache(mgr: Manager) {
  const locks = mgr.informer<EIPBindingObj>(EIPBindingRef);
  locks.addIndexer(LOCK_HOLDER, byHolder);
  return { locks, heldBy: (uid: string) => locks.byIndex(LOCK_HOLDER, uid) };
}

export function setupElasticIPController(mgr: Manager, ctx: ProductContext): Controller[] {
  const eips = mgr.informer<ElasticIPObj>(ElasticIPRef);
  eips.addIndexer(BY_TARGET, byTarget);
  const { locks, heldBy } = lockCache(mgr);
  const pools = mgr.informer<ExternalIPPoolObj>(ExternalIPPoolRef);
  const instances = mgr.informer<InstanceObj>(InstanceRef);
  const lbs = mgr.informer<LoadBalancerObj>(LoadBalancerRef);
  const allocations = allocationCache(mgr);
  const observe = (e: ElasticIPObj): EIPObservation => {
    const t = e.spec.target;
    const target = t ? (t.kind === "LoadBalancer" ? lbs.get(`${e.metadata.namespace}/${t.name}`) : instances.get(`${e.metadata.namespace}/${t.name}`)) : undefined;
    // an instance maps its NIC's address; a load balancer its VIP
    const privateIP = target && t ? (t.kind === "LoadBalancer" ? (target as LoadBalancerObj).status?.vip : (target as InstanceObj).status?.nics?.[t.nic]?.ip) : undefined;
    return {
      pools: pools.list(),
      held: allocations.ofOwner(e.metadata.uid ?? ""),
      holderOf: allocations.holderOf,
      count: allocations.cache.size,
      ...(target && t ? { target: { uid: target.metadata.uid ?? "", privateIP, deleting: Boolean(target.metadata.deletionTimestamp) } } : {}),
      ...(t ? { lock: locks.get(`${e.metadata.namespace}/${bindingName(t.kind, t.name)}`) } : {}),
      locks: heldBy(e.metadata.uid ?? ""),
    };
  };
  const resource: ManagedResource<ElasticIPObj, EIPObservation> = {
    finalizer: EIP_FINALIZER,
    guardedStatus: ["address"],
    gates: ctx.gates,
    observe,
    plan: (e, o) => eipPlan(e, o, Math.random()),
    finalize: eipFinalize,
  };
  const contenders = (lockKey: string) => eips.byIndex(BY_TARGET, lockKey).map(keyOf);
  const eip = completeManaged(
    mgr.controller("elasticip").for(ElasticIPRef).concurrency(2)
      .watches(IPAllocationRef, (a) => { const o = (a as IPAllocationObj).spec.owner; return o.kind === "ElasticIP" ? [`${o.namespace}/${o.name}`] : []; }, { delayMs: 500 })
      // a lock coming or going: its holder, and every ElasticIP that wants its target
      .watches(EIPBindingRef, (l) => [`${l.metadata.namespace}/${(l as EIPBindingObj).spec.elasticIP.name}`, ...contenders(keyOf(l))])
      .watches(InstanceRef, (i) => contenders(`${i.metadata.namespace}/${bindingName("Instance", i.metadata.name)}`))
      .watches(LoadBalancerRef, (lb) => contenders(`${lb.metadata.namespace}/${bindingName("LoadBalancer", lb.metadata.name)}`))
      .watches(ExternalIPPoolRef, () => eips.list().filter((e) => !e.status?.address).map(keyOf)),
    resource,
  );

  const repair = orphanRepair(mgr, {
    name: "eipbinding-repair", ref: EIPBindingRef, claims: locks, holders: { ElasticIP: eips },
    holder: (l) => ({ kind: "ElasticIP", key: `${l.metadata.namespace}/${l.spec.elasticIP.name}`, uid: l.spec.elasticIP.uid }),
    heldBy,
    describe: (l) => `binding of ${l.spec.target.kind} ${l.spec.target.name}`,
  });
  return [eip, repair];
}
