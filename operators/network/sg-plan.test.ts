import { describe, expect, it } from "vitest";
import type { SecurityGroupObj, VPCObj } from "../api/network.ts";
import { groupPolicy, isolationPolicy, ruleOf, sgFinalize, sgPlan, vpcObjects } from "./sg-plan.ts";

const vpc: VPCObj = { metadata: { name: "net", namespace: "t", uid: "v-1" }, spec: { cidrBlocks: ["10.0.0.0/16"], tunnelType: "geneve" } };
const group = (name: string, spec: Partial<SecurityGroupObj["spec"]> = {}): SecurityGroupObj => ({ metadata: { name, namespace: "t", uid: `g-${name}` }, spec: { vpc: "net", ...spec } });
const member = (g: string) => ({ podSelector: { matchLabels: { [`sg.network.cellcloud.io/${g}`]: "" } } });

describe("security group policies", () => {
  it("maps rules to peers and ports", () => {
    expect(ruleOf({ protocol: "tcp", ports: { from: 80, to: 443 }, remoteCIDR: "0.0.0.0/0" }, "net")).toEqual({ peers: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "TCP", port: 80, endPort: 443 }] });
    expect(ruleOf({ protocol: "udp", ports: { from: 53, to: 53 }, remoteGroup: "dns" }, "net")).toEqual({ peers: [member("dns")], ports: [{ protocol: "UDP", port: 53 }] });
    expect(ruleOf({ protocol: "all" }, "net")).toEqual({ peers: [{ podSelector: { matchLabels: { "vpc.network.cellcloud.io/net": "" } } }, { ipBlock: { cidr: "0.0.0.0/0" } }] });
    expect(ruleOf({ protocol: "icmp" }, "net")).toBeUndefined();
  });

  it("lets members in, denies other groups, and leaves egress open unless rules are set", () => {
    const p = groupPolicy(group("web", { ingress: [{ protocol: "tcp", ports: { from: 22 }, remoteGroup: "bastion" }] }));
    expect(p.spec).toEqual({ podSelector: member("web").podSelector, policyTypes: ["Ingress"], ingress: [{ from: [member("web")] }, { from: [member("bastion")], ports: [{ protocol: "TCP", port: 22 }] }] });
    expect(groupPolicy(group("db", { egress: [] })).spec).toMatchObject({ policyTypes: ["Ingress", "Egress"], egress: [{ to: [member("db")] }] });
    expect(isolationPolicy(vpc).spec).toEqual({ podSelector: { matchLabels: { "vpc.network.cellcloud.io/net": "" } }, policyTypes: ["Ingress"] });
  });

  it("fails closed on a remote group that is missing or in another VPC, and counts icmp rules", () => {
    const sg = group("web", { ingress: [{ protocol: "tcp", remoteGroup: "ghost" }, { protocol: "tcp", remoteGroup: "far" }, { protocol: "icmp" }] });
    const plan = sgPlan(sg, { vpc, members: [], group: (n) => (n === "far" ? group("far", { vpc: "other" }) : undefined) });
    const status = plan.status as { fields: Record<string, unknown>; conditions: Array<{ reason: string; message: string }> };
    expect(status.fields).toMatchObject({ unenforced: 1, networkPolicy: "sg-web" });
    expect(status.conditions[0]!.reason).toBe("RemoteGroupNotFound");
    expect(status.conditions[0]!.message).toContain('spec.ingress[0].remoteGroup: SecurityGroup "ghost" not found in this namespace; spec.ingress[1].remoteGroup: SecurityGroup "far" is in VPC other, not net');
    const applied = plan.actions![0] as unknown as { object: { spec: { ingress: unknown[] } } };
    expect(applied.object.spec.ingress).toEqual([{ from: [member("web")] }]);
  });

  it("keeps a group in use, and makes a VPC's default group once", () => {
    expect(sgFinalize(group("web"), { vpc, members: ["a", "b"], group: () => undefined })).toMatchObject({ done: false, status: { conditions: [{ reason: "InUse", message: "cannot delete: instance(s) a, b have NICs in this group; remove it from their NICs first" }] } });
    expect(sgFinalize(group("web"), { vpc, members: [], group: () => undefined }).done).toBe(true);
    expect(vpcObjects(vpc, { defaultGroup: false }).map((a) => a.verb)).toEqual(["create", "apply"]);
    expect(vpcObjects(vpc, { defaultGroup: true }).map((a) => a.verb)).toEqual(["apply"]);
  });
});
