import { describe, expect, it } from "vitest";
import type { VPCObj } from "../api/network.ts";
import type { Outcome } from "../runtime/managed.ts";
import { orphanClaim } from "../runtime/claims.ts";
import { pickVNI, vpcFinalize, vpcPlan, type VPCObservation } from "./vpc-plan.ts";

const vpc = (spec: Partial<VPCObj["spec"]> = {}): VPCObj => ({
  metadata: { name: "prod", namespace: "team-a", uid: "u-1" },
  spec: { cidrBlocks: ["10.0.0.0/16"], tunnelType: "geneve", ...spec },
});
const obs = (held: number[] = [], taken: number[] = []): VPCObservation => ({
  held: held.map((vni) => ({ vni, uid: `c-${vni}` })), taken: new Set([...held, ...taken]),
});
const statusOf = (plan: ReturnType<typeof vpcPlan>, outcomes: Outcome[] = []) => (typeof plan.status === "function" ? plan.status(outcomes) : plan.status);

describe("VNI allocation", () => {
  it("picks a free VNI from a random start, wrapping around, within the tunnel type's range", () => {
    expect(pickVNI("geneve", new Set(), 0)).toBe(1);
    expect(pickVNI("geneve", new Set(), 0.999999999)).toBe(16_777_215);
    expect(pickVNI("vxlan", new Set([4095, 1, 2]), 0.9999999)).toBe(3); // 4095 taken: wraps to 1, 2, then 3
    expect(pickVNI("vxlan", new Set(Array.from({ length: 4095 }, (_, i) => i + 1)), 0.5)).toBeUndefined();
    const taken = new Set(Array.from({ length: 4094 }, (_, i) => i + 2)); // only 1 is free
    expect(pickVNI("vxlan", taken, 0.5)).toBe(1);
  });

  it("claims before it says: the status shows the VNI only once the claim was created", () => {
    const plan = vpcPlan(vpc(), obs([], [1]), 0);
    expect(plan.actions).toEqual([{ verb: "create", ref: expect.objectContaining({ kind: "VNIClaim" }), object: expect.objectContaining({
      metadata: expect.objectContaining({ name: "2" }), spec: { holder: { kind: "VPC", namespace: "team-a", name: "prod", uid: "u-1" } },
    }) }]);
    const created = statusOf(plan, [{ action: plan.actions![0]!, result: "created" }]);
    expect(created).toMatchObject({ fields: { vni: 2 }, conditions: [{ status: "True", reason: "VNIAllocated", message: "VNI 2 (geneve)" }] });
    // someone else got 2 first: no VNI in status, look again
    const lost = statusOf(plan, [{ action: plan.actions![0]!, result: "exists" }]);
    expect(lost).toMatchObject({ conditions: [{ status: "False", reason: "Allocating" }] });
    expect(lost?.fields).toBeUndefined();
    expect(plan.requeueAfterMs).toBeGreaterThan(0);
  });

  it("keeps a claim it already holds (a crash between the claim and the status) and writes nothing else", () => {
    const plan = vpcPlan(vpc(), obs([77]), 0.5);
    expect(plan.actions).toEqual([]);
    expect(statusOf(plan)).toMatchObject({ fields: { vni: 77 }, conditions: [{ status: "True", reason: "VNIAllocated" }] });
  });

  it("releases extra claims (two reconciles raced), keeping the oldest or the one asked for", () => {
    const plan = vpcPlan(vpc(), obs([5, 9]), 0);
    expect(plan.actions).toEqual([{ verb: "delete", ref: expect.objectContaining({ kind: "VNIClaim" }), name: "9", uid: "c-9" }]);
    expect(statusOf(plan)).toMatchObject({ fields: { vni: 5 } });
    // the one status already shows wins over an older one a racing manager made: a VNI once shown stays
    const shown = vpcPlan({ ...vpc(), status: { vni: 9 } }, obs([5, 9]), 0);
    expect(shown.actions).toEqual([expect.objectContaining({ verb: "delete", name: "5" })]);
    expect(statusOf(shown)).toMatchObject({ fields: { vni: 9 } });
    const wanted = vpcPlan(vpc({ vni: 9 }), obs([5, 9]), 0);
    expect(wanted.actions).toEqual([expect.objectContaining({ verb: "delete", name: "5" })]);
  });

  it("takes a requested VNI exactly, and says so when another VPC holds it", () => {
    expect(vpcPlan(vpc({ vni: 4242 }), obs(), 0.5).actions).toEqual([expect.objectContaining({ verb: "create", object: expect.objectContaining({ metadata: expect.objectContaining({ name: "4242" }) }) })]);
    const taken = vpcPlan(vpc({ vni: 4242 }), obs([], [4242]), 0.5);
    expect(taken.actions).toEqual([]);
    expect(statusOf(taken)).toMatchObject({ conditions: [{ status: "False", reason: "VNIInUse", message: expect.stringContaining("spec.vni: VNI 4242 is held by another VPC") }] });
    expect(taken.requeueAfterMs).toBe(30_000);
  });

  it("says when a tunnel type's VNIs are all held", () => {
    const all = Array.from({ length: 4095 }, (_, i) => i + 1);
    const plan = vpcPlan(vpc({ tunnelType: "vxlan" }), obs([], all), 0.3);
    expect(statusOf(plan)).toMatchObject({ conditions: [{ status: "False", reason: "VNIsExhausted", message: "every vxlan VNI is held (1-4095)" }] });
  });

  it("deletes its claims on deletion, by uid, and lets the finalizer go once they are gone", () => {
    const plan = vpcFinalize(obs([7]));
    expect(plan.actions).toEqual([expect.objectContaining({ verb: "delete", name: "7", uid: "c-7" })]);
    expect(typeof plan.done === "function" && plan.done([{ action: plan.actions![0]!, result: "gone" }])).toBe(true);
    expect(vpcFinalize(obs()).done).toBe(true);
  });

  it("deletes an orphaned claim only after the grace, and never one whose holder is alive", () => {
    expect(orphanClaim("u-1", undefined, 0, 59_999, 60_000)).toBe(false);
    expect(orphanClaim("u-1", undefined, 0, 60_000, 60_000)).toBe(true);
    expect(orphanClaim("u-1", "u-2", 0, 60_000, 60_000)).toBe(true); // a new VPC of the same name is another holder
    expect(orphanClaim("u-1", "u-1", 0, 600_000, 60_000)).toBe(false);
  });
});
