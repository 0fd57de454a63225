// Security groups against the real control plane: the NetworkPolicies CellCloud writes, checked as
// objects against a table of Neutron's cases (intra-group allowed, cross-group denied, CIDR rule,
// port range, remote group, egress default and explicit, VPC isolation); a VPC's default group; bad
// rules refused naming the field; a NIC's groups labelled on its launcher and changed live; a group
// in use cannot go.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launcher } from "../operators/api/compute.ts";
import { SecurityGroupRef, SubnetRef, VPCRef, type SecurityGroupObj } from "../operators/api/network.ts";
import { NetworkPolicyRef } from "../operators/runtime/core.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import type { KubeObject } from "../operators/runtime/types.ts";
import { createCatalog, instancesIn } from "./support/compute.ts";
import { clients, eventually, eventuallyGone, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { startManager, type InProcessManager } from "./support/manager.ts";

const { kc, core } = clients();
const client = new KubeClient(kc);
const ns = useNamespace("sg");
const base = uniqueName("sg");
const instances = instancesIn(kc, core, ns.name);
const API = "network.cellcloud.io/v1alpha1";
let m: InProcessManager | undefined;
let image = "";

type Policy = KubeObject & { spec: { podSelector: unknown; policyTypes: string[]; ingress?: Array<Record<string, unknown>>; egress?: Array<Record<string, unknown>> } };
const sg = (name: string, spec: Record<string, unknown>) => client.create(SecurityGroupRef, { apiVersion: API, kind: "SecurityGroup", metadata: { name, namespace: ns.name }, spec: { vpc: "net", ...spec } });
const readSG = (name: string) => client.get<SecurityGroupObj>(SecurityGroupRef, name, ns.name);
const policy = (name: string) => client.get<Policy>(NetworkPolicyRef, name, ns.name);
const ready = (o: { status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> } }) => o.status?.conditions?.find((c) => c.type === "Ready");
const member = (group: string) => ({ podSelector: { matchLabels: { [`${launcher.securityGroupLabelPrefix}${group}`]: "" } } });
const inVPC = { podSelector: { matchLabels: { [`${launcher.vpcLabelPrefix}net`]: "" } } };

beforeAll(async () => {
  image = (await createCatalog(kc, base)).x86;
  m = await startManager(["vpc", "subnet", "securitygroup", "instance"]);
  await client.create(VPCRef, { apiVersion: API, kind: "VPC", metadata: { name: "net", namespace: ns.name }, spec: { cidrBlocks: ["10.0.0.0/16"] } });
  await client.create(VPCRef, { apiVersion: API, kind: "VPC", metadata: { name: "other", namespace: ns.name }, spec: { cidrBlocks: ["10.0.0.0/16"] } });
  await client.create(SubnetRef, { apiVersion: API, kind: "Subnet", metadata: { name: "app", namespace: ns.name }, spec: { vpc: "net", cidrBlock: "10.0.1.0/24" } });
}, 120_000);

afterAll(async () => {
  for (const i of await instances.list().catch(() => [])) await instances.delete(i.metadata.name).catch(() => undefined);
  await eventually(async () => (await instances.list()).length === 0, { what: "instances deleted", timeoutMs: 60_000 }).catch(() => undefined);
  await m?.mgr.stop();
}, 120_000);

describe("security groups", () => {
  it("refuses bad rules naming the field", async () => {
    const refused = (ingress: unknown[]) => refusal(sg(uniqueName("bad"), { ingress }));
    expect(await refused([{ protocol: "icmp", ports: { from: 22 } }])).toMatch(/ports are allowed only for tcp and udp rules/);
    expect(await refused([{ protocol: "tcp", ports: { from: 443, to: 80 } }])).toMatch(/ports\.to must be at least ports\.from/);
    expect(await refused([{ protocol: "tcp", ports: { from: 70000 } }])).toMatch(/spec\.ingress\[0\]\.ports\.from/);
    expect(await refused([{ protocol: "tcp", remoteCIDR: "10.0.0.0/8", remoteGroup: "x" }])).toMatch(/set at most one of remoteCIDR and remoteGroup/);
    expect(await refused([{ protocol: "tcp", remoteCIDR: "10.0.0.1/8" }])).toMatch(/remoteCIDR must have no host bits set/);
  });

  it("gives each VPC a default group and an isolation policy", async () => {
    const def = await eventually(async () => { const g = await readSG("net-default"); return ready(g)?.status === "True" && g; }, { what: "net-default Ready" });
    expect(def.spec).toMatchObject({ vpc: "net" });
    const iso = await eventually(() => policy("vpc-net-isolation"), { what: "isolation policy" });
    // every pod of the VPC, no rule: only what a group allows gets in
    expect(iso.spec).toEqual({ podSelector: inVPC.podSelector, policyTypes: ["Ingress"] });
    const p = await eventually(() => policy("sg-net-default"), { what: "default group policy" });
    expect(p.spec).toEqual({ podSelector: member("net-default").podSelector, policyTypes: ["Ingress"], ingress: [{ from: [member("net-default")] }] });
  });

  it("realizes Neutron's cases as NetworkPolicies", async () => {
    await sg("bastion", { ingress: [{ protocol: "tcp", ports: { from: 22 }, remoteCIDR: "203.0.113.0/24" }], egress: [] });
    await sg("web", {
      ingress: [
        { protocol: "tcp", ports: { from: 80, to: 443 }, remoteCIDR: "0.0.0.0/0" },
        { protocol: "tcp", ports: { from: 22 }, remoteGroup: "bastion" },
        { protocol: "udp" },
        { protocol: "icmp" },
      ],
    });
    await sg("db", { ingress: [{ protocol: "tcp", ports: { from: 5432 }, remoteGroup: "web" }], egress: [{ protocol: "all", remoteGroup: "db" }, { protocol: "udp", ports: { from: 53 }, remoteCIDR: "10.0.0.2/32" }] });
    const web = await eventually(() => policy("sg-web"), { what: "sg-web" });
    const db = await eventually(() => policy("sg-db"), { what: "sg-db" });
    const bastion = await eventually(() => policy("sg-bastion"), { what: "sg-bastion" });
    const cases: Array<[string, () => void]> = [
      ["intra-group traffic is allowed", () => expect(web.spec.ingress![0]).toEqual({ from: [member("web")] })],
      ["a CIDR rule with a port range", () => expect(web.spec.ingress![1]).toEqual({ from: [{ ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "TCP", port: 80, endPort: 443 }] })],
      ["a remote group rule", () => expect(web.spec.ingress![2]).toEqual({ from: [member("bastion")], ports: [{ protocol: "TCP", port: 22 }] })],
      ["any peer means the VPC's own pods or outside addresses", () => expect(web.spec.ingress![3]).toEqual({ from: [inVPC, { ipBlock: { cidr: "0.0.0.0/0" } }], ports: [{ protocol: "UDP" }] })],
      ["an icmp rule cannot be expressed: left out (denied)", () => expect(web.spec.ingress).toHaveLength(4)],
      ["cross-group traffic is denied: no peer of web names db or bastion unless a rule does", () => {
        const peers = JSON.stringify(web.spec.ingress);
        expect(peers).not.toContain(`${launcher.securityGroupLabelPrefix}db`);
        expect(JSON.stringify(db.spec.ingress)).not.toContain(`${launcher.securityGroupLabelPrefix}bastion`);
      }],
      ["egress unset: all egress allowed (no Egress policy type)", () => expect(web.spec.policyTypes).toEqual(["Ingress"])],
      ["egress set: only the group and its rules", () => {
        expect(db.spec.policyTypes).toEqual(["Ingress", "Egress"]);
        expect(db.spec.egress).toEqual([{ to: [member("db")] }, { to: [member("db")] }, { to: [{ ipBlock: { cidr: "10.0.0.2/32" } }], ports: [{ protocol: "UDP", port: 53 }] }]);
      }],
      ["egress empty: only the group", () => expect(bastion.spec.egress).toEqual([{ to: [member("bastion")] }])],
    ];
    for (const [what, check] of cases) {
      try { check(); } catch (e) { throw new Error(`${what}: ${String(e)}`); }
    }
    const w = await eventually(async () => { const g = await readSG("web"); return ready(g)?.status === "True" && g; }, { what: "web Ready" });
    expect(w.status).toMatchObject({ networkPolicy: "sg-web", unenforced: 1 });
    expect(ready(w)?.message).toContain("1 icmp rule(s) are recorded but not enforced");
    // a remote group that does not exist (or is in another VPC) allows nothing, and says so
    await sg("lonely", { ingress: [{ protocol: "tcp", remoteGroup: "nobody" }] });
    await eventually(async () => ready(await readSG("lonely"))?.reason === "RemoteGroupNotFound", { what: "RemoteGroupNotFound" });
    expect(ready(await readSG("lonely"))?.message).toContain('spec.ingress[0].remoteGroup: SecurityGroup "nobody" not found in this namespace');
    expect((await policy("sg-lonely")).spec.ingress).toEqual([{ from: [member("lonely")] }]);
  });

  it("labels a NIC's groups on its launcher, changes them live, and keeps a group in use", async () => {
    await instances.create("vm", { image, resources: { vcpus: 2, memory: "4Gi" }, systemDisk: {}, nics: [{ subnet: "app", securityGroups: ["web"] }] });
    const first = await eventually(async () => (await instances.launchers("vm"))[0], { what: "vm's launcher" });
    expect(first.metadata?.labels).toMatchObject({ [`${launcher.securityGroupLabelPrefix}web`]: "", [`${launcher.vpcLabelPrefix}net`]: "" });
    await eventually(async () => (await readSG("web")).status?.members === 1, { what: "web has 1 member" });
    await client.delete(SecurityGroupRef, "web", ns.name);
    await eventually(async () => ready(await readSG("web"))?.reason === "InUse", { what: "web InUse" });
    expect(ready(await readSG("web"))?.message).toBe("cannot delete: instance(s) vm have NICs in this group; remove it from their NICs first");
    // moved to db: relabelled in place, no restart
    await instances.patch("vm", { nics: [{ subnet: "app", securityGroups: ["db"] }] });
    await eventually(async () => {
      const l = (await instances.launchers("vm"))[0]?.metadata?.labels ?? {};
      return `${launcher.securityGroupLabelPrefix}db` in l && !(`${launcher.securityGroupLabelPrefix}web` in l);
    }, { what: "vm relabelled to db" });
    expect((await instances.launchers("vm"))[0]?.metadata?.uid).toBe(first.metadata?.uid);
    await eventuallyGone(() => readSG("web"), "web deleted once unused", 30_000);
    await eventuallyGone(() => policy("sg-web"), "web's policy collected", 30_000);
    // no groups named: the VPC's default group
    await instances.patch("vm", { nics: [{ subnet: "app" }] });
    await eventually(async () => `${launcher.securityGroupLabelPrefix}net-default` in ((await instances.launchers("vm"))[0]?.metadata?.labels ?? {}), { what: "vm in net-default" });
  }, 90_000);

  it("reports a NIC naming a group of another VPC", async () => {
    await client.create(SecurityGroupRef, { apiVersion: API, kind: "SecurityGroup", metadata: { name: "elsewhere", namespace: ns.name }, spec: { vpc: "other" } });
    await instances.create("mixed", { image, resources: { vcpus: 2, memory: "4Gi" }, systemDisk: {}, nics: [{ subnet: "app", securityGroups: ["elsewhere"] }] });
    await eventually(async () => ready(await instances.read("mixed"))?.reason === "SecurityGroupMismatch", { what: "SecurityGroupMismatch" });
    expect(ready(await instances.read("mixed"))?.message).toBe('spec.nics[0].securityGroups: SecurityGroup "elsewhere" is in VPC other, but Subnet "app" is in VPC net');
    expect(await instances.launchers("mixed")).toEqual([]);
  });
});
