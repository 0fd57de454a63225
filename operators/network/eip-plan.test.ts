import { describe, expect, it } from "vitest";
import type { EIPBindingObj, ElasticIPObj, IPAllocationObj } from "../api/network.ts";
import type { ExternalIPPoolObj } from "../api/platform.ts";
import type { Outcome, Plan } from "../runtime/managed.ts";
import { eipFinalize, eipPlan, type EIPObservation } from "./eip-plan.ts";

const pool = (name: string, cidrs: string[]): ExternalIPPoolObj => ({ metadata: { name }, spec: { region: "r", cidrs } });
const eip = (spec: Partial<ElasticIPObj["spec"]> = {}, status?: ElasticIPObj["status"]): ElasticIPObj => ({
  metadata: { name: "e1", namespace: "t", uid: "e-1" }, spec: { bandwidth: { ingressMbps: 100, egressMbps: 50 }, ...spec }, ...(status ? { status } : {}),
});
const held = (address: string): IPAllocationObj => ({
  metadata: { name: `external.${address}`, uid: `a-${address}` }, spec: { address, scope: "external", pool: "p1", slot: "eip", owner: { kind: "ElasticIP", namespace: "t", name: "e1", uid: "e-1" } },
});
const lock = (target: string, eipName = "e1", eipUid = "e-1", targetUid = `i-${target}`): EIPBindingObj => ({
  metadata: { name: `instance.${target}`, namespace: "t", uid: `l-${target}` }, spec: { elasticIP: { name: eipName, uid: eipUid }, target: { kind: "Instance", name: target, uid: targetUid } },
});
const obs = (more: Partial<EIPObservation> = {}): EIPObservation => ({
  pools: [pool("p1", ["203.0.113.0/30"]), pool("p2", ["198.51.100.0/30"])], held: [], holderOf: () => undefined, count: 0, locks: [], ...more,
});
const statusOf = (p: Plan, outcomes: Outcome[] = []) => (typeof p.status === "function" ? p.status(outcomes) : p.status)!;
const target = { kind: "Instance" as const, name: "a", nic: 0 };

describe("elastic IP planning", () => {
  it("takes an address from the first pool with room, and shows it once created", () => {
    const p = eipPlan(eip(), obs(), 0);
    expect(p.actions).toEqual([expect.objectContaining({ verb: "create", object: expect.objectContaining({ metadata: expect.objectContaining({ name: "external.203.0.113.1" }) }) })]);
    expect(statusOf(p, [{ action: p.actions![0]!, result: "created" }]).fields).toMatchObject({ address: "203.0.113.1", pool: "p1", bandwidth: { ingressMbps: 100, egressMbps: 50 } });
    const full = eipPlan(eip(), obs({ holderOf: (n) => (n.startsWith("external.203.") ? "other" : undefined) }), 0);
    expect(full.actions).toEqual([expect.objectContaining({ object: expect.objectContaining({ spec: expect.objectContaining({ pool: "p2" }) }) })]);
  });

  it("binds through the target's lock, and only once the address is held", () => {
    const o = obs({ held: [held("203.0.113.1")], target: { uid: "i-a", privateIP: "10.0.1.5", deleting: false } });
    const p = eipPlan(eip({ target }, { address: "203.0.113.1", pool: "p1" }), o, 0);
    expect(p.actions).toEqual([expect.objectContaining({ verb: "create", object: expect.objectContaining({ metadata: { name: "instance.a", namespace: "t" } }) })]);
    expect(statusOf(p, [{ action: p.actions![0]!, result: "created" }]).fields?.boundTo).toEqual({ kind: "Instance", name: "a", privateIP: "10.0.1.5" });
    expect(statusOf(p, [{ action: p.actions![0]!, result: "exists" }]).fields?.boundTo).toBeUndefined();
    const taken = eipPlan(eip({ target }, { address: "203.0.113.1" }), { ...o, lock: lock("a", "e9", "e-9") }, 0);
    expect(taken.actions).toEqual([]);
    expect(statusOf(taken).conditions).toContainEqual(expect.objectContaining({ type: "Bound", reason: "TargetHasElasticIP" }));
  });

  it("unbinds status first: the lock goes only after status stops showing it", () => {
    const p = eipPlan(eip({}, { address: "203.0.113.1", pool: "p1", boundTo: { kind: "Instance", name: "a" } }), obs({ held: [held("203.0.113.1")], locks: [lock("a")] }), 0);
    expect(p.checkpoint).toEqual({ boundTo: undefined });
    expect(p.actions).toEqual([expect.objectContaining({ verb: "delete", name: "instance.a", uid: "l-a" })]);
    // a deleted target unbinds too
    const gone = eipPlan(eip({ target }, { address: "203.0.113.1", boundTo: { kind: "Instance", name: "a" } }), obs({ held: [held("203.0.113.1")], locks: [lock("a")] }), 0);
    expect(gone.actions).toEqual([expect.objectContaining({ verb: "delete", name: "instance.a" })]);
    expect(statusOf(gone).conditions).toContainEqual(expect.objectContaining({ type: "Bound", reason: "TargetNotFound" }));
  });

  it("keeps a bound one until it is unbound, then releases the address", () => {
    const live = { uid: "i-a", privateIP: "10.0.1.5", deleting: false };
    expect(eipFinalize(eip({ target }), obs({ locks: [lock("a")], target: live }))).toMatchObject({ done: false, status: { conditions: [{ reason: "Bound" }] } });
    // its target gone (or going): no wait; status stops showing the binding before the lock goes
    const orphaned = eipFinalize(eip({ target }, { boundTo: { kind: "Instance", name: "a" } }), obs({ locks: [lock("a")], target: { ...live, deleting: true } }));
    expect(orphaned).toMatchObject({ checkpoint: { boundTo: undefined }, actions: [expect.objectContaining({ verb: "delete", name: "instance.a" })] });
    const p = eipFinalize(eip(), obs({ held: [held("203.0.113.1")] }));
    expect(p.actions).toEqual([expect.objectContaining({ verb: "delete", name: "external.203.0.113.1" })]);
    expect(eipFinalize(eip(), obs()).done).toBe(true);
  });

  it("never binds an address another object holds", () => {
    const o = obs({ held: [], holderOf: (n) => (n === "external.203.0.113.1" ? "someone-else" : undefined), target: { uid: "i-a", privateIP: "10.0.1.5", deleting: false }, locks: [lock("a")] });
    const p = eipPlan(eip({ target }, { address: "203.0.113.1", pool: "p1", boundTo: { kind: "Instance", name: "a" } }), o, 0);
    expect(statusOf(p).conditions).toContainEqual(expect.objectContaining({ type: "Allocated", reason: "AddressConflict" }));
    expect(p.checkpoint).toEqual({ boundTo: undefined });
    expect(p.actions).toEqual([expect.objectContaining({ verb: "delete", name: "instance.a" })]);
  });

  it("says when the named pool or the specific address is nowhere", () => {
    expect(statusOf(eipPlan(eip({ pool: "p1", address: "198.51.100.1" }), obs(), 0)).conditions).toContainEqual(expect.objectContaining({ message: "spec.address: 198.51.100.1 is not in ExternalIPPool p1" }));
    expect(statusOf(eipPlan(eip({ pool: "nope" }), obs(), 0)).conditions).toContainEqual(expect.objectContaining({ type: "Allocated", reason: "PoolNotFound", message: 'spec.pool: ExternalIPPool "nope" not found' }));
    expect(statusOf(eipPlan(eip({ address: "192.0.2.1" }), obs(), 0)).conditions).toContainEqual(expect.objectContaining({ message: "spec.address: 192.0.2.1 is in no ExternalIPPool" }));
  });
});
