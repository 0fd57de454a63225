import { describe, expect, it } from "vitest";
import type { IPAllocationObj } from "../api/network.ts";
import {
  AddressSpace, canonicalIP, fixedIPProblem, macFor, pickAddress, planAddresses, poolSpace, subnetGateway, subnetSpace,
  type AddressObservation, type AddressWant,
} from "./ipam.ts";

const subnet = { cidrBlock: "10.0.1.0/24" };
const owner = { kind: "Instance", namespace: "team-a", name: "web", uid: "i-1" };
const want = (slot = "nic-0", more: Partial<AddressWant> = {}): AddressWant => ({
  slot, scope: "team-a.prod", space: subnetSpace(subnet), record: { subnet: "web" }, field: "spec.nics[0]", from: "Subnet web", ...more,
});
const alloc = (address: string, slot = "nic-0", uid = `a-${address}`, at = "2026-01-01T00:00:00Z", scope = "team-a.prod"): IPAllocationObj => ({
  metadata: { name: `${scope}.${address}`, uid, creationTimestamp: at },
  spec: { address, scope, slot, subnet: "web", owner },
});
const obs = (held: IPAllocationObj[] = [], others: string[] = [], shown: AddressObservation["shown"] = {}): AddressObservation => {
  const holders = new Map<string, string>([...held.map((a) => [a.metadata.name, "i-1"] as const), ...others.map((ip) => [`team-a.prod.${ip}`, "i-2"] as const)]);
  return { held, shown, holderOf: (n) => holders.get(n), count: holders.size };
};

describe("address spaces", () => {
  it("hands out a subnet's block minus network, broadcast, gateway and exclusions", () => {
    const s = subnetSpace({ ...subnet, excludedIPs: ["10.0.1.64/28", "10.0.1.7"] });
    expect(s.size).toBe(256 - 3 - 16 - 1);
    expect(s.at(0)).toBe("10.0.1.2");
    expect(s.contains("10.0.1.1")).toBe(false); // gateway
    expect(s.contains("10.0.1.70")).toBe(false);
    expect(s.contains("10.0.1.254")).toBe(true);
    expect(s.contains("10.0.1.255")).toBe(false);
    expect(subnetGateway(subnet)).toBe("10.0.1.1");
    expect(subnetSpace({ ...subnet, gateway: "10.0.1.254" }).contains("10.0.1.1")).toBe(true);
  });

  it("hands out a pool's blocks without network and broadcast, single addresses as they are", () => {
    expect(poolSpace({ cidrs: ["203.0.113.0/29", "198.51.100.7/32"], excludedIPs: ["203.0.113.3"] }).size).toBe(6 - 1 + 1);
  });

  it("explains why a fixed address cannot be had", () => {
    expect(fixedIPProblem({ vpc: "p", ...subnet }, "10.0.2.5", "spec.nics[0].fixedIP")).toBe("spec.nics[0].fixedIP: 10.0.2.5 is outside subnet 10.0.1.0/24");
    expect(fixedIPProblem({ vpc: "p", ...subnet }, "10.0.1.1", "f")).toMatch(/gateway/);
    expect(fixedIPProblem({ vpc: "p", ...subnet }, "10.0.1.255", "f")).toMatch(/broadcast/);
    expect(fixedIPProblem({ vpc: "p", ...subnet, excludedIPs: ["10.0.1.9"] }, "10.0.1.9", "f")).toMatch(/excludedIPs/);
    expect(fixedIPProblem({ vpc: "p", ...subnet }, "10.0.1.9", "f")).toBeUndefined();
  });

  it("canonicalizes addresses and derives MACs from them", () => {
    expect(canonicalIP("10.0.1.5")).toBe("10.0.1.5");
    expect(canonicalIP("nope")).toBeUndefined();
    expect(macFor("10.0.1.5")).toBe("0a:58:0a:00:01:05");
  });

  it("picks a free address from a random start, wrapping around, and says when none is free", () => {
    const s = new AddressSpace(["10.0.0.0/30"]);
    expect(pickAddress(s, () => false, 0, 0)).toBe("10.0.0.0");
    expect(pickAddress(s, (ip) => ip === "10.0.0.3", 1, 0.99)).toBe("10.0.0.0");
    expect(pickAddress(s, () => true, 4, 0.5)).toBeUndefined();
  });
});

describe("address planning", () => {
  it("creates before it says: the slot is held only once the allocation was created", () => {
    const plan = planAddresses(owner, [want()], obs(), 0);
    expect(plan.releases).toEqual([]);
    expect(plan.creates).toEqual([expect.objectContaining({ verb: "create", object: expect.objectContaining({
      metadata: expect.objectContaining({ name: "team-a.prod.10.0.1.2" }), spec: expect.objectContaining({ address: "10.0.1.2", slot: "nic-0", owner }),
    }) })]);
    expect(plan.slots([{ action: plan.creates[0]!, result: "created" }])).toEqual([{ slot: "nic-0", state: "held", address: "10.0.1.2" }]);
    expect(plan.slots([{ action: plan.creates[0]!, result: "exists" }])[0]).toMatchObject({ state: "problem", reason: "AllocatingAddress" });
    expect(plan.allocating).toBe(true);
  });

  it("keeps what it holds, and releases extras a race left (keeping the one status shows)", () => {
    const held = [alloc("10.0.1.9", "nic-0", "a", "2026-01-01T00:00:00Z"), alloc("10.0.1.4", "nic-0", "b", "2026-01-01T00:00:05Z")];
    const plan = planAddresses(owner, [want()], obs(held, [], { "nic-0": { scope: "team-a.prod", address: "10.0.1.4" } }), 0);
    // releases are apart from creates: the managed runtime runs them after the status write
    expect(plan.creates).toEqual([]);
    expect(plan.releases).toEqual([expect.objectContaining({ verb: "delete", name: "team-a.prod.10.0.1.9", uid: "a" })]);
    expect(plan.slots([])).toEqual([{ slot: "nic-0", state: "held", address: "10.0.1.4" }]);
    expect(planAddresses(owner, [want()], obs(held), 0).releases).toEqual([expect.objectContaining({ name: "team-a.prod.10.0.1.4" })]);
  });

  it("gives two slots of one owner different addresses", () => {
    const plan = planAddresses(owner, [want("nic-0"), want("nic-1")], obs(), 0);
    const names = plan.creates.map((a) => (a.verb === "create" ? a.object.metadata.name : ""));
    expect(new Set(names).size).toBe(2);
  });

  it("takes a fixed address, or says who holds it", () => {
    expect(planAddresses(owner, [want("nic-0", { fixed: "10.0.1.50" })], obs(), 0).creates[0]).toMatchObject({ object: { spec: { address: "10.0.1.50" } } });
    const taken = planAddresses(owner, [want("nic-0", { fixed: "10.0.1.50" })], obs([], ["10.0.1.50"]), 0);
    expect([...taken.creates, ...taken.releases]).toEqual([]);
    expect(taken.slots([])[0]).toMatchObject({ state: "problem", reason: "AddressInUse", message: "spec.nics[0].fixedIP: 10.0.1.50 is held by another object in Subnet web" });
  });

  it("moves an address only once the new one is held", () => {
    const old = alloc("10.0.1.9");
    const plan = planAddresses(owner, [want("nic-0", { fixed: "10.0.1.50" })], obs([old]), 0);
    expect(plan.creates).toEqual([expect.objectContaining({ verb: "create" })]);
    expect(plan.releases).toEqual([]); // the old one stays for now
    const next = planAddresses(owner, [want("nic-0", { fixed: "10.0.1.50" })], obs([old, alloc("10.0.1.50", "nic-0", "n", "2026-01-02T00:00:00Z")]), 0);
    expect(next.releases).toEqual([expect.objectContaining({ verb: "delete", name: "team-a.prod.10.0.1.9" })]);
  });

  it("re-takes a lost allocation of an address in use, and reports one another holds without reassigning it", () => {
    const shown = { "nic-0": { scope: "team-a.prod", address: "10.0.1.9" } };
    const lost = planAddresses(owner, [want()], obs([], [], shown), 0);
    expect(lost.creates).toEqual([expect.objectContaining({ verb: "create", object: expect.objectContaining({ spec: expect.objectContaining({ address: "10.0.1.9" }) }) })]);
    expect(lost.slots([{ action: lost.creates[0]!, result: "created" }])[0]).toMatchObject({ state: "held", address: "10.0.1.9" });
    // "exists": ours not cached yet, or another's: not held, but the address keeps showing until the next look
    expect(lost.slots([{ action: lost.creates[0]!, result: "exists" }])[0]).toMatchObject({ state: "problem", reason: "AllocatingAddress", address: "10.0.1.9" });
    expect(lost.allocating).toBe(true);
    const conflict = planAddresses(owner, [want()], obs([], ["10.0.1.9"], shown), 0);
    expect([...conflict.creates, ...conflict.releases]).toEqual([]);
    expect(conflict.slots([])[0]).toMatchObject({ state: "problem", reason: "AddressConflict", address: "10.0.1.9" });
  });

  it("releases the slots no longer wanted, and says when a subnet is full", () => {
    expect(planAddresses(owner, [], obs([alloc("10.0.1.9", "nic-3")]), 0).releases).toEqual([expect.objectContaining({ verb: "delete" })]);
    const tiny = new AddressSpace(["10.0.1.8/31"]);
    const full = planAddresses(owner, [want("nic-0", { space: tiny })], obs([], ["10.0.1.8", "10.0.1.9"]), 0.3);
    expect(full.slots([])[0]).toMatchObject({ reason: "AddressesExhausted", message: "spec.nics[0]: Subnet web has no free address" });
  });
});
