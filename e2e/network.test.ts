// VPCs against the real control plane: bad address space is refused naming the field; a VNI is
// unique in the cluster even when 2,000 VPCs are created at once and two manager processes race to
// allocate them while one of them is SIGKILLed at random; a requested VNI that is held is reported;
// deleting a VPC releases its VNI last.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VNIClaimRef, VPCRef, type VNIClaimObj, type VPCObj } from "../operators/api/network.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import { clients, eventually, eventuallyGone, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { CrashingManager, spawnManager, type ManagerProcess } from "./support/manager.ts";
import { freePorts } from "./support/tenancy.ts";

const { kc } = clients();
const client = new KubeClient(kc);
const ns = useNamespace("vpc");
const base = uniqueName("vpc");
let steady: ManagerProcess | undefined;
let crashing: CrashingManager | undefined;

const vpc = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: "network.cellcloud.io/v1alpha1", kind: "VPC", metadata: { name, namespace: ns.name }, spec: { cidrBlocks: ["10.0.0.0/16"], ...spec },
});
const ready = (v: VPCObj) => v.status?.conditions?.find((c) => c.type === "Ready");
const list = async () => (await client.list<VPCObj>(VPCRef, {}, ns.name)).items;
const claimsOfNs = async () => (await client.list<VNIClaimObj>(VNIClaimRef)).items.filter((c) => c.spec.holder.namespace === ns.name);

beforeAll(async () => {
  const ports = await freePorts(4);
  const args = ["--leader-elect=false"];
  steady = spawnManager({ leaseId: `${base}-a`, metricsPort: ports[0]!, healthPort: ports[1]!, controllers: "vpc", extraArgs: args });
  crashing = new CrashingManager(() => spawnManager({ leaseId: `${base}-b`, metricsPort: ports[2]!, healthPort: ports[3]!, controllers: "vpc", extraArgs: args }));
  crashing.start();
  await eventually(async () => (await fetch(`${steady!.healthUrl}/readyz`)).status === 200, { what: "manager ready", timeoutMs: 60_000 });
});

afterAll(async () => {
  crashing?.ensure();
  const left = await list().catch(() => []);
  for (let i = 0; i < left.length; i += 100) await Promise.all(left.slice(i, i + 100).map((v) => client.delete(VPCRef, v.metadata.name, ns.name).catch(() => undefined)));
  await eventually(async () => (await list()).length === 0, { what: "VPCs deleted", timeoutMs: 120_000 }).catch(() => undefined);
  steady?.child.kill("SIGKILL");
  await crashing?.kill();
});

describe("VPC", () => {
  it("refuses bad address space with a message naming the field", async () => {
    const refused = async (spec: Record<string, unknown>) => refusal(client.create(VPCRef, vpc(uniqueName("bad"), spec)));
    expect(await refused({ cidrBlocks: ["10.0.0.0/33"] })).toMatch(/spec\.cidrBlocks\[\*\] must be an IPv4 CIDR/);
    expect(await refused({ cidrBlocks: ["300.1.1.0/24"] })).toMatch(/spec\.cidrBlocks\[\*\] must be an IPv4 CIDR/);
    expect(await refused({ cidrBlocks: ["10.0.0.1/16"] })).toMatch(/spec\.cidrBlocks\[\*\] must have no host bits set/);
    expect(await refused({ cidrBlocks: ["10.0.0.0/16", "10.0.128.0/17"] })).toMatch(/spec\.cidrBlocks must not overlap each other/);
    expect(await refused({ cidrBlocks: [] })).toMatch(/spec\.cidrBlocks.*at least 1/);
    expect(await refused({ tunnelType: "vxlan", vni: 5000 })).toMatch(/spec\.vni must be at most 4095 for a vxlan VPC/);
    expect(await refused({ vni: 16_777_216 })).toMatch(/spec\.vni.*16777215/);
    expect(await refused({ dnsServers: ["300.1.1.1"] })).toMatch(/spec\.dnsServers\[\*\] must be an IPv4 address/);
    expect(await refused({ routes: [{ destination: "0.0.0.0/0", nextHop: "10.0.0.256" }] })).toMatch(/spec\.routes\[\*\]\.nextHop must be an IPv4 address/);
    // different VPCs may use the same blocks
    expect(await refused({ cidrBlocks: ["10.0.0.0/16", "192.168.0.0/24"] })).toBe("accepted");
  });

  it("holds a requested VNI, says when another VPC holds it, and releases it last on delete", async () => {
    const vni = 100_000 + Math.floor(Math.random() * 1_000_000);
    await client.create(VPCRef, vpc(`${base}-s1`, { vni }));
    const first = await eventually(async () => { const v = await client.get<VPCObj>(VPCRef, `${base}-s1`, ns.name); return v.status?.vni === vni && v; }, { what: "VPC holds its requested VNI" });
    expect((await client.get<VNIClaimObj>(VNIClaimRef, String(vni))).spec.holder).toMatchObject({ kind: "VPC", namespace: ns.name, name: `${base}-s1`, uid: first.metadata.uid });
    await client.create(VPCRef, vpc(`${base}-s2`, { vni }));
    const second = await eventually(async () => { const v = await client.get<VPCObj>(VPCRef, `${base}-s2`, ns.name); return ready(v)?.reason === "VNIInUse" && v; }, { what: "second VPC VNIInUse" });
    expect(ready(second)?.message).toContain(`spec.vni: VNI ${vni} is held by another VPC`);
    expect(second.status?.vni).toBeUndefined();
    await client.delete(VPCRef, `${base}-s1`, ns.name);
    await eventuallyGone(() => client.get(VPCRef, `${base}-s1`, ns.name), "first VPC deleted", 30_000);
    // the claim went with it (the finalizer deletes it last), and the waiting VPC takes the VNI when it looks again
    expect(await client.get<VNIClaimObj>(VNIClaimRef, String(vni)).then((c) => c.spec.holder.uid, () => undefined)).not.toBe(first.metadata.uid);
    await eventually(async () => (await client.get<VPCObj>(VPCRef, `${base}-s2`, ns.name)).status?.vni === vni, { what: "second VPC holds the VNI", timeoutMs: 60_000 });
    await client.delete(VPCRef, `${base}-s2`, ns.name);
  }, 90_000);

  it("gives 2,000 VPCs created at once distinct VNIs while two managers race and one is SIGKILLed at random", async () => {
    const n = Number(process.env.CELLCLOUD_VPC_COUNT ?? 2000);
    const names = Array.from({ length: n }, (_, i) => `${base}-${i}`);
    const deleted = new Set(names.filter((_, i) => i % 10 === 0));
    const calm = crashing!.chaos([1000, 3000]);
    const began = Date.now();
    try {
      for (let i = 0; i < n; i += 200) {
        await Promise.all(names.slice(i, i + 200).map((name, k) => client.create(VPCRef, vpc(name, (i + k) % 3 ? {} : { tunnelType: "vxlan" }))));
      }
      // a tenth go again while allocation is under way
      const gone = [...deleted];
      for (let i = 0; i < gone.length; i += 50) await Promise.all(gone.slice(i, i + 50).map((name) => client.delete(VPCRef, name, ns.name)));
      while (crashing!.kills < 3 && Date.now() - began < 120_000) await new Promise((r) => setTimeout(r, 250));
    } finally {
      await calm();
    }
    expect(crashing!.kills).toBeGreaterThanOrEqual(3);
    console.log(`2,000 VPCs: ${crashing!.summary()}`);
    let state = "";
    const settled = await eventually(async () => {
      const mine = new Set(names);
      const vpcs = (await list()).filter((v) => mine.has(v.metadata.name));
      const live = vpcs.filter((v) => !deleted.has(v.metadata.name));
      const waiting = live.filter((v) => ready(v)?.status !== "True" || v.status?.observedGeneration !== v.metadata.generation);
      const reasons = new Map<string, number>();
      for (const v of waiting) reasons.set(ready(v)?.reason ?? "none", (reasons.get(ready(v)?.reason ?? "none") ?? 0) + 1);
      state = `${vpcs.length} VPCs (${vpcs.length - live.length} being deleted), ${waiting.length} not Ready: ${JSON.stringify(Object.fromEntries(reasons))}`;
      if (vpcs.length !== n - deleted.size || waiting.length) return false;
      return live;
    }, { what: "1,800 VPCs Ready with a VNI, 200 deleted", timeoutMs: 300_000, intervalMs: 2000 }).catch((e: unknown) => {
      throw new Error(`${String(e)}; last seen: ${state}`);
    });
    console.log(`2,000 VPCs settled ${((Date.now() - began) / 1000).toFixed(0)} s after the first create`);
    // exactly one claim per live VPC, named by its VNI and held by its uid; none left by the deleted or
    // by races once the repair's grace has passed (a manager whose cache still showed a VPC that was
    // being deleted may claim for it after its finalizer went: the repair deletes that claim after 60 s)
    const byUid = new Map(settled.map((v) => [v.metadata.uid, v]));
    let seen = 0;
    const claims = await eventually(async () => {
      const c = (await claimsOfNs()).filter((x) => names.includes(x.spec.holder.name));
      seen = c.length;
      return c.length === settled.length && c;
    }, { what: "one claim per VPC", timeoutMs: 150_000, intervalMs: 2000 }).catch((e: unknown) => { throw new Error(`${String(e)}; last seen ${seen} claims for ${settled.length} VPCs`); });
    expect(claims.every((c) => byUid.has(c.spec.holder.uid))).toBe(true);
    // and every VPC's status names the claim it holds (a status a racing manager wrote from a stale
    // cache is corrected by the next reconcile, which keeps the claim status shows)
    await eventually(async () => {
      const now = new Map((await list()).map((v) => [v.metadata.uid, v.status?.vni]));
      const held = (await claimsOfNs()).filter((x) => names.includes(x.spec.holder.name));
      return held.length === settled.length && held.every((c) => now.get(c.spec.holder.uid) === Number(c.metadata.name));
    }, { what: "every VPC's status.vni is the claim it holds", timeoutMs: 30_000 });
    const final = (await list()).filter((v) => names.includes(v.metadata.name));
    expect(final.length).toBe(n - deleted.size);
    expect(new Set(final.map((v) => v.status?.vni)).size).toBe(final.length);
    for (const v of final) {
      expect(v.status!.vni).toBeGreaterThanOrEqual(1);
      expect(v.status!.vni).toBeLessThanOrEqual(v.spec.tunnelType === "vxlan" ? 4095 : 16_777_215);
    }
  }, 600_000);
});
