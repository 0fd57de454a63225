// What the ElasticIP controller does (pure). The address comes from an ExternalIPPool through the
// runtime's IPAM, in the one external scope (IPAllocation external.<address>), so no public address
// is held twice. A binding holds its target's lock, an EIPBinding named <kind>.<target>, created
// before status shows the binding; a lock is released only after status has stopped showing it (a
// checkpoint), so status never names a target whose lock is not held. A target that is deleted (or
// replaced by another object of its name) unbinds its ElasticIP.
import { bindingName, EIPBindingRef, EXTERNAL_SCOPE, type EIPBindingObj, type ElasticIPObj, type ElasticIPStatus } from "../api/network.ts";
import type { ExternalIPPoolObj } from "../api/platform.ts";
import { canonicalIP, planAddresses, poolSpace, releaseAllocation, type AddressObservation, type AddressWant } from "../runtime/ipam.ts";
import type { Action, ConditionSpec, DesiredStatus, Outcome, Plan } from "../runtime/managed.ts";

export interface TargetFacts {
  uid: string;
  /** The address of the NIC the EIP maps to, if it has one. */
  privateIP?: string;
  deleting: boolean;
}

export interface EIPObservation extends Omit<AddressObservation, "shown"> {
  /** Every ExternalIPPool, by name. */
  pools: readonly ExternalIPPoolObj[];
  /** The spec's target, if it exists. */
  target?: TargetFacts;
  /** The lock named by the spec's target, whoever holds it. */
  lock?: EIPBindingObj;
  /** Every lock this ElasticIP holds (by its uid). */
  locks: readonly EIPBindingObj[];
}

const ALLOCATED = "Allocated";
const BOUND = "Bound";

/** The pools an address may come from, in the order they are tried. */
function candidates(eip: ElasticIPObj, o: EIPObservation): ExternalIPPoolObj[] | string {
  const named = eip.spec.pool ?? eip.status?.pool;
  if (named) {
    const p = o.pools.find((x) => x.metadata.name === named);
    if (!p) return `spec.pool: ExternalIPPool "${named}" not found`;
    if (eip.spec.address && !poolSpace(p.spec).contains(eip.spec.address)) return `spec.address: ${eip.spec.address} is not in ExternalIPPool ${named}`;
    return [p];
  }
  const sorted = [...o.pools].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  if (!eip.spec.address) return sorted.length ? sorted : "no ExternalIPPool exists";
  const holding = sorted.filter((p) => poolSpace(p.spec).contains(eip.spec.address!));
  return holding.length ? holding : `spec.address: ${eip.spec.address} is in no ExternalIPPool`;
}

const lockObject = (eip: ElasticIPObj, kind: string, name: string, uid: string) => ({
  apiVersion: `${EIPBindingRef.group}/${EIPBindingRef.version}`, kind: EIPBindingRef.kind,
  metadata: { name: bindingName(kind, name), namespace: eip.metadata.namespace },
  spec: { elasticIP: { name: eip.metadata.name, uid: eip.metadata.uid ?? "" }, target: { kind, name, uid } },
});
const releaseLock = (l: EIPBindingObj): Action => ({ verb: "delete", ref: EIPBindingRef, name: l.metadata.name, namespace: l.metadata.namespace, uid: l.metadata.uid });

export function eipPlan(eip: ElasticIPObj, o: EIPObservation, random: number): Plan {
  const owner = { kind: "ElasticIP", namespace: eip.metadata.namespace ?? "", name: eip.metadata.name, uid: eip.metadata.uid ?? "" };
  const pools = candidates(eip, o);
  const fixed = eip.spec.address === undefined ? undefined : canonicalIP(eip.spec.address);
  const shown = eip.status?.address ? { eip: { scope: EXTERNAL_SCOPE, address: eip.status.address } } : {};
  const bandwidth = { ingressMbps: eip.spec.bandwidth.ingressMbps, egressMbps: eip.spec.bandwidth.egressMbps };

  // ---- the address ----
  let address: { creates: Action[]; releases: Action[]; allocating: boolean; held: (outcomes: readonly Outcome[]) => { address?: string; pool?: string; problem?: ConditionSpec } };
  if (typeof pools === "string") {
    // nothing to allocate from; an address already held stays held
    address = { creates: [], releases: [], allocating: false, held: () => ({ address: eip.status?.address, pool: eip.status?.pool, problem: { type: ALLOCATED, status: "False", reason: "PoolNotFound", message: pools, announce: "Warning" } }) };
  } else {
    // the first pool that has (or can give) the address
    let chosen = pools[0]!;
    let plan = planAddresses(owner, [want(chosen, fixed)], { ...o, shown }, random);
    for (const p of pools.slice(1)) {
      const state = plan.slots([])[0];
      if (!(state?.state === "problem" && state.reason === "AddressesExhausted")) break;
      chosen = p;
      plan = planAddresses(owner, [want(p, fixed)], { ...o, shown }, random);
    }
    const finalPlan = plan;
    const poolName = chosen.metadata.name;
    address = {
      creates: finalPlan.creates,
      releases: finalPlan.releases,
      allocating: finalPlan.allocating,
      held: (outcomes) => {
        const s = finalPlan.slots(outcomes)[0]!;
        if (s.state === "held") return { address: s.address, pool: poolName };
        return { address: s.address, pool: s.address ? poolName : undefined, problem: { type: ALLOCATED, status: "False", reason: s.reason, message: s.message, ...(s.reason === "AllocatingAddress" ? {} : { announce: "Warning" as const }) } };
      },
    };
  }
  const before = address.held([]);

  // ---- the binding (only once the address is held) ----
  const t = eip.spec.target;
  const actions: Action[] = [...address.creates];
  let checkpoint: Partial<ElasticIPStatus> | undefined;
  let bound: (outcomes: readonly Outcome[]) => { boundTo?: ElasticIPStatus["boundTo"]; condition: ConditionSpec };
  const liveTarget = t && o.target && !o.target.deleting ? o.target : undefined;
  // an address another object holds (AddressConflict) is not ours to bind: a binding made with it goes
  const conflict = before.problem?.reason === "AddressConflict";
  const keep = t && liveTarget && !conflict ? o.locks.find((l) => l.metadata.name === bindingName(t.kind, t.name) && l.spec.target.uid === liveTarget.uid) : undefined;
  const stale = o.locks.filter((l) => l !== keep);
  if (stale.length) {
    // status stops showing a binding before its lock goes
    if (eip.status?.boundTo && !(keep && eip.status.boundTo.name === t?.name && eip.status.boundTo.kind === t?.kind)) checkpoint = { boundTo: undefined };
    actions.push(...stale.map(releaseLock));
  }
  const privateIP = liveTarget?.privateIP;
  if (!t) {
    bound = () => ({ condition: { type: BOUND, status: "False", reason: "NotBound", message: "spec.target is empty" } });
  } else if (!liveTarget) {
    bound = () => ({ condition: { type: BOUND, status: "False", reason: "TargetNotFound", message: `spec.target: ${t.kind} "${t.name}" not found in this namespace`, announce: "Warning" } });
  } else if (!privateIP) {
    bound = () => ({ condition: { type: BOUND, status: "False", reason: "TargetNotAddressed", message: `spec.target: ${t.kind} "${t.name}" has no address on NIC ${t.nic} yet` } });
  } else if (keep) {
    bound = () => ({ boundTo: { kind: t.kind, name: t.name, privateIP }, condition: { type: BOUND, status: "True", reason: "Bound", message: `${before.address} → ${t.kind} ${t.name} (${privateIP})` } });
  } else if (o.lock && o.lock.spec.elasticIP.uid !== eip.metadata.uid) {
    bound = () => ({ condition: { type: BOUND, status: "False", reason: "TargetHasElasticIP", message: `spec.target: ${t.kind} "${t.name}" is bound to ElasticIP "${o.lock!.spec.elasticIP.name}"; a target has at most one`, announce: "Warning" } });
  } else if (!before.address || address.allocating || before.problem) {
    bound = () => ({ condition: { type: BOUND, status: "False", reason: "WaitingForAddress", message: "binding once the address is held" } });
  } else {
    const k = actions.length;
    actions.push({ verb: "create", ref: EIPBindingRef, object: lockObject(eip, t.kind, t.name, liveTarget.uid) });
    bound = (outcomes) => outcomes[k]?.result === "created"
      ? { boundTo: { kind: t.kind, name: t.name, privateIP }, condition: { type: BOUND, status: "True", reason: "Bound", message: `${before.address} → ${t.kind} ${t.name} (${privateIP})`, announce: "Normal" } }
      : { condition: { type: BOUND, status: "False", reason: "Binding", message: `the lock of ${t.kind} ${t.name} was taken meanwhile; looking again` } };
  }

  const status = (outcomes: readonly Outcome[]): DesiredStatus => {
    const a = address.held(outcomes);
    const b = bound(outcomes);
    const allocated: ConditionSpec = a.problem ?? { type: ALLOCATED, status: "True", reason: "Allocated", message: `${a.address} from ExternalIPPool ${a.pool}` };
    const ok = allocated.status === "True" && (b.condition.status === "True" || !t);
    const blocking = allocated.status !== "True" ? allocated : b.condition;
    return {
      fields: { address: a.address, pool: a.pool, boundTo: b.boundTo, bandwidth },
      conditions: [allocated, b.condition, ok
        ? { type: "Ready", status: "True", reason: t ? "Bound" : "Allocated", message: t ? b.condition.message : allocated.message }
        : { type: "Ready", status: "False", reason: blocking.reason, message: blocking.message }],
    };
  };
  return {
    ...(checkpoint ? { checkpoint } : {}),
    actions,
    ...(address.releases.length ? { afterStatus: address.releases } : {}),
    status,
    ...(address.allocating || actions.some((x) => x.verb === "create") ? { requeueAfterMs: 1_000 } : {}),
  };

  function want(p: ExternalIPPoolObj, ip: string | undefined): AddressWant {
    return { slot: "eip", scope: EXTERNAL_SCOPE, space: poolSpace(p.spec), ...(ip ? { fixed: ip } : {}), record: { pool: p.metadata.name }, field: "spec", from: `ExternalIPPool ${p.metadata.name}` };
  }
}

/** Deleting: a bound ElasticIP waits until it is unbound; then its locks and its address go. */
export function eipFinalize(eip: ElasticIPObj, o: EIPObservation): Plan {
  const t = eip.spec.target;
  // bound to a target that still exists: wait; a target gone (or going) does not hold the ElasticIP up
  if (t && o.locks.length && o.target && !o.target.deleting) {
    return {
      done: false,
      status: { conditions: [{ type: "Ready", status: "False", reason: "Bound", message: `cannot delete: bound to ${t.kind} ${t.name}; unbind it first (remove spec.target)`, announce: "Warning" }] },
      requeueAfterMs: 10_000,
    };
  }
  const actions: Action[] = [...o.locks.map(releaseLock), ...o.held.map(releaseAllocation)];
  if (!actions.length) return { done: true };
  return {
    ...(eip.status?.boundTo ? { checkpoint: { boundTo: undefined } } : {}),
    actions,
    done: (outcomes) => outcomes.length === actions.length && outcomes.every((x) => x.result === "deleted" || x.result === "gone"),
  };
}
