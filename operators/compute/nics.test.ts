import { describe, expect, it } from "vitest";
import type { InstanceObj } from "../api/compute.ts";
import type { SecurityGroupObj, SubnetObj } from "../api/network.ts";
import { planNics, type NicObservation } from "./nics.ts";

const subnet = (name: string, cidrBlock: string, vpc = "net", ready = true): SubnetObj => ({
  metadata: { name, namespace: "t" }, spec: { vpc, cidrBlock },
  status: { conditions: [{ type: "Ready", status: ready ? "True" : "False", reason: ready ? "Available" : "Overlaps", message: ready ? "" : "overlaps b", lastTransitionTime: "" }] },
});
const group = (name: string, vpc = "net"): SecurityGroupObj => ({ metadata: { name, namespace: "t" }, spec: { vpc } });
const inst = (nics: NonNullable<InstanceObj["spec"]["nics"]>): InstanceObj => ({ metadata: { name: "vm", namespace: "t", uid: "i-1" }, spec: { image: "x", nics } as InstanceObj["spec"] });
const obs = (more: Partial<NicObservation> = {}): NicObservation => ({
  subnet: (n) => ({ a: subnet("a", "10.0.1.0/24"), b: subnet("b", "10.0.2.0/24", "net", false) } as Record<string, SubnetObj>)[n],
  group: (n) => ({ "net-default": group("net-default"), web: group("web"), far: group("far", "other") } as Record<string, SecurityGroupObj>)[n],
  held: [], holderOf: () => undefined, count: 0, ...more,
});

describe("NIC planning", () => {
  it("allocates each NIC an address of its subnet and shows it only once created, with the default group when none is named", () => {
    const plan = planNics(inst([{ subnet: "a" }]), obs(), 0);
    expect(plan.creates).toHaveLength(1);
    expect(plan.result([]).problem?.reason).toBe("AllocatingAddress");
    const r = plan.result([{ action: plan.creates[0]!, result: "created" }]);
    expect(r.nics).toEqual([{ subnet: "a", vpc: "net", ip: "10.0.1.2", prefixLength: 24, gateway: "10.0.1.1", mac: "0a:58:0a:00:01:02" }]);
    expect(r.addresses[0]).toMatchObject({ interface: "eth0", securityGroups: ["net-default"] });
    expect(r.problem).toBeUndefined();
  });

  it("says what a NIC waits for, naming the field", () => {
    const why = (nics: Parameters<typeof inst>[0]) => planNics(inst(nics), obs(), 0).result([]).problem;
    expect(why([{ subnet: "nope" }])).toMatchObject({ reason: "SubnetNotFound", message: 'spec.nics[0].subnet: Subnet "nope" not found in this namespace' });
    expect(why([{ subnet: "b" }])).toMatchObject({ reason: "SubnetNotReady", message: 'spec.nics[0].subnet: Subnet "b" is not ready: overlaps b' });
    expect(why([{ subnet: "a", fixedIP: "10.0.1.1" }])).toMatchObject({ reason: "InvalidFixedIP", stalled: true, message: "spec.nics[0].fixedIP: 10.0.1.1 is the subnet's gateway" });
    expect(why([{ subnet: "a", securityGroups: ["ghost"] }])).toMatchObject({ reason: "SecurityGroupNotFound", message: 'spec.nics[0].securityGroups: SecurityGroup "ghost" not found in this namespace' });
    expect(why([{ subnet: "a", securityGroups: ["far"] }])).toMatchObject({ reason: "SecurityGroupMismatch", stalled: true });
  });

  it("keeps a NIC's address while its subnet is briefly not ready", () => {
    const held = [{ metadata: { name: "t.net.10.0.2.9", uid: "a-1" }, spec: { address: "10.0.2.9", scope: "t.net", subnet: "b", slot: "nic-0", owner: { kind: "Instance", namespace: "t", name: "vm", uid: "i-1" } } }];
    const plan = planNics({ ...inst([{ subnet: "b" }]), status: { nics: [{ subnet: "b", vpc: "net", ip: "10.0.2.9" }] } }, obs({ held }), 0);
    expect([...plan.creates, ...plan.releases]).toEqual([]);
    expect(plan.result([]).nics?.[0]?.ip).toBe("10.0.2.9");
  });
});
