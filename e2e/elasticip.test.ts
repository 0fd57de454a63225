// Elastic IPs against the real control plane, with the manager's webhook: an address from a pool
// (held by an IPAllocation external.<address>, counted by the pool), bound, rebound and unbound
// between two instances through the target's lock, one ElasticIP per target, bandwidth changed live,
// a specific address taken or reported held; deleting a bound ElasticIP, a subnet holding addresses,
// a group in use or a VPC with subnets is refused with a message naming what depends on it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EIPBindingRef, ElasticIPRef, IPAllocationRef, SecurityGroupRef, SubnetRef, VPCRef, type EIPBindingObj, type ElasticIPObj } from "../operators/api/network.ts";
import { ExternalIPPoolRef, type ExternalIPPoolObj } from "../operators/api/platform.ts";
import { MutatingRef, ValidatingRef } from "../operators/runtime/core.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import { WEBHOOK_CONFIG } from "../operators/runtime/webhook.ts";
import { instancesIn } from "./support/compute.ts";
import { clients, eventually, eventuallyGone, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { spawnManager, stopProcess, type ManagerProcess } from "./support/manager.ts";
import { smokeWebhookArgs } from "./support/smoke.ts";
import { freePorts } from "./support/tenancy.ts";

const { kc, core } = clients();
const client = new KubeClient(kc);
const ns = useNamespace("eip");
const system = useNamespace("eip-system");
const base = uniqueName("eip");
const pool = `${base}-pool`;
const instances = instancesIn(kc, core, ns.name);
const API = "network.cellcloud.io/v1alpha1";
let manager: ManagerProcess | undefined;

type Nics = { status?: { nics?: Array<{ ip?: string }> } };
const eip = (name: string, spec: Record<string, unknown>) => client.create(ElasticIPRef, { apiVersion: API, kind: "ElasticIP", metadata: { name, namespace: ns.name }, spec });
const read = (name: string) => client.get<ElasticIPObj>(ElasticIPRef, name, ns.name);
const patch = (name: string, spec: Record<string, unknown>) => client.patch(ElasticIPRef, name, ns.name, { spec }, "merge");
const cond = (o: ElasticIPObj, type: string) => o.status?.conditions?.find((c) => c.type === type);
const lock = (target: string) => client.get<EIPBindingObj>(EIPBindingRef, `instance.${target}`, ns.name);
const ipOf = async (name: string) => ((await instances.read(name)) as Nics).status?.nics?.[0]?.ip;
const readPool = () => client.get<ExternalIPPoolObj>(ExternalIPPoolRef, pool);

beforeAll(async () => {
  const [metricsPort, healthPort, webhookPort] = (await freePorts(3)) as [number, number, number];
  manager = spawnManager({
    leaseId: base, metricsPort, healthPort, controllers: "vpc,subnet,securitygroup,instance,elasticip,platform-pools",
    extraArgs: ["--leader-elect=false", ...smokeWebhookArgs(webhookPort, system.name)],
  });
  await eventually(async () => (await fetch(`${manager!.healthUrl}/readyz`)).status === 200, { what: "manager ready (webhook listening)", timeoutMs: 60_000 });
  await client.create(ExternalIPPoolRef, { apiVersion: "platform.cellcloud.io/v1alpha1", kind: "ExternalIPPool", metadata: { name: pool }, spec: { region: "r1", cidrs: ["203.0.113.0/29"], excludedIPs: ["203.0.113.1"] } });
  await client.create(VPCRef, { apiVersion: API, kind: "VPC", metadata: { name: "net", namespace: ns.name }, spec: { cidrBlocks: ["10.0.0.0/16"] } });
  await client.create(SubnetRef, { apiVersion: API, kind: "Subnet", metadata: { name: "app", namespace: ns.name }, spec: { vpc: "net", cidrBlock: "10.0.1.0/24" } });
  for (const name of ["a", "b"]) await instances.create(name, { image: "eip-no-image", resources: { vcpus: 2, memory: "4Gi" }, systemDisk: {}, powerState: "Stopped", nics: [{ subnet: "app" }] });
  await eventually(async () => Boolean((await ipOf("a")) && (await ipOf("b"))), { what: "instances a and b addressed" });
}, 120_000);

afterAll(async () => {
  for (const e of (await client.list<ElasticIPObj>(ElasticIPRef, {}, ns.name).catch(() => ({ items: [] as ElasticIPObj[] }))).items) {
    await patch(e.metadata.name, { target: null }).catch(() => undefined);
    await client.delete(ElasticIPRef, e.metadata.name, ns.name).catch(() => undefined);
  }
  for (const i of await instances.list().catch(() => [])) await instances.delete(i.metadata.name).catch(() => undefined);
  await eventually(async () => (await client.list(ElasticIPRef, {}, ns.name)).items.length === 0 && (await instances.list()).length === 0, { what: "cleaned up", timeoutMs: 60_000 }).catch(() => undefined);
  await client.delete(ExternalIPPoolRef, pool).catch(() => undefined);
  // the manager first: alive, it registers its webhook configurations again when its certificate
  // rotates (every few seconds here), leaving the next suites a webhook nobody serves
  await stopProcess(manager);
  await client.delete(ValidatingRef, WEBHOOK_CONFIG).catch(() => undefined);
  await client.delete(MutatingRef, WEBHOOK_CONFIG).catch(() => undefined);
}, 120_000);

describe("elastic IPs", () => {
  it("binds, changes bandwidth live, rebinds and unbinds, one per target; a bound one cannot be deleted", async () => {
    const [ipA, ipB] = [await ipOf("a"), await ipOf("b")];
    await eip("e1", { pool, target: { name: "a" }, bandwidth: { ingressMbps: 100, egressMbps: 50 } });
    const e1 = await eventually(async () => { const e = await read("e1"); return cond(e, "Bound")?.status === "True" && e; }, { what: "e1 bound to a" });
    expect(e1.status).toMatchObject({ pool, boundTo: { kind: "Instance", name: "a", privateIP: ipA }, bandwidth: { ingressMbps: 100, egressMbps: 50 } });
    const address = e1.status!.address!;
    expect(address).toMatch(/^203\.0\.113\.[2-6]$/);
    expect((await client.get<{ spec: { owner: { name: string } } } & { metadata: { name: string } }>(IPAllocationRef, `external.${address}`)).spec.owner).toMatchObject({ kind: "ElasticIP", name: "e1" });
    expect((await lock("a")).spec.elasticIP.name).toBe("e1");
    await eventually(async () => (await readPool()).status?.allocated === 1 && (await readPool()).status?.free === 4, { what: "pool: 1 allocated of 5" });

    // a target has at most one
    await eip("e2", { pool, target: { name: "a" } });
    await eventually(async () => cond(await read("e2"), "Bound")?.reason === "TargetHasElasticIP", { what: "e2 TargetHasElasticIP" });
    expect(cond(await read("e2"), "Bound")?.message).toBe('spec.target: Instance "a" is bound to ElasticIP "e1"; a target has at most one');

    // bandwidth, live
    await patch("e1", { bandwidth: { ingressMbps: 500, egressMbps: 50 } });
    await eventually(async () => (await read("e1")).status?.bandwidth?.ingressMbps === 500, { what: "bandwidth 500 in status" });

    // bound: deleting is refused, naming the target
    expect(await refusal(client.delete(ElasticIPRef, "e1", ns.name))).toMatch(/ElasticIP e1 is bound to Instance a: unbind it \(remove spec\.target\) first/);

    // rebind to b: a's lock is released, and e2 (waiting for a) binds it
    await patch("e1", { target: { name: "b" } });
    await eventually(async () => (await read("e1")).status?.boundTo?.name === "b", { what: "e1 rebound to b" });
    expect((await read("e1")).status?.boundTo).toEqual({ kind: "Instance", name: "b", privateIP: ipB });
    expect((await read("e1")).status?.address).toBe(address);
    await eventually(async () => (await read("e2")).status?.boundTo?.name === "a", { what: "e2 takes a" });
    expect((await lock("a")).spec.elasticIP.name).toBe("e2");

    // unbind, then delete: the lock and the address go
    await patch("e1", { target: null });
    await eventuallyGone(() => lock("b"), "b's lock released", 30_000);
    await eventually(async () => { const e = await read("e1"); return !e.status?.boundTo && cond(e, "Ready")?.status === "True"; }, { what: "e1 unbound, Ready" });
    await client.delete(ElasticIPRef, "e1", ns.name);
    await eventuallyGone(() => client.get(IPAllocationRef, `external.${address}`), "e1's address released", 30_000);
    await eventually(async () => (await readPool()).status?.allocated === 1, { what: "pool counts e2 only" });
  }, 120_000);

  it("takes a specific address, or says who holds it or that no pool has it; refuses references into other namespaces", async () => {
    // an address of the pool no ElasticIP holds now (e2 holds a random one)
    const held = new Set((await client.list<{ spec: { address: string } } & ElasticIPObj>(IPAllocationRef)).items.map((a) => a.metadata.name));
    const free = ["2", "3", "4", "5", "6"].map((d) => `203.0.113.${d}`).find((a) => !held.has(`external.${a}`))!;
    await eip("fixed", { address: free });
    await eventually(async () => (await read("fixed")).status?.address === free, { what: `fixed holds ${free}` });
    expect((await read("fixed")).status?.pool).toBe(pool);
    await eip("dup", { address: free });
    await eventually(async () => cond(await read("dup"), "Allocated")?.reason === "AddressInUse", { what: "dup AddressInUse" });
    expect(cond(await read("dup"), "Allocated")?.message).toContain(`${free} is held by another object`);
    await eip("nowhere", { address: "192.0.2.77" });
    await eventually(async () => cond(await read("nowhere"), "Allocated")?.message === "spec.address: 192.0.2.77 is in no ExternalIPPool", { what: "nowhere" });
    expect(await refusal(eip(uniqueName("bad"), { bandwidth: { ingressMbps: 0, egressMbps: 10 } }))).toMatch(/spec\.bandwidth\.ingressMbps/);
    // a reference is a name in the referrer's own namespace (one tenant's): another namespace's cannot be written
    expect(await refusal(eip(uniqueName("bad"), { target: { name: "other-tenant/a" } }))).toMatch(/spec\.target\.name/);
    expect(await refusal(instances.create(uniqueName("bad"), { image: "x", resources: { vcpus: 2, memory: "4Gi" }, systemDisk: {}, nics: [{ subnet: "other-tenant/app" }] }))).toMatch(/spec\.nics\[0\]\.subnet/);
    expect(await refusal(instances.create(uniqueName("bad"), { image: "x", resources: { vcpus: 2, memory: "4Gi" }, systemDisk: {}, deletionPolicy: "Orphan", nics: [{ subnet: "app" }] })))
      .toMatch(/spec\.deletionPolicy Orphan is not allowed for an instance with NICs/);
    expect(await refusal(client.create(SubnetRef, { apiVersion: API, kind: "Subnet", metadata: { name: uniqueName("bad"), namespace: ns.name }, spec: { vpc: "other-tenant/net", cidrBlock: "10.0.9.0/24" } }))).toMatch(/spec\.vpc/);
  });

  it("refuses deleting a subnet holding addresses, a group in use and a VPC with subnets, naming what depends on them", async () => {
    expect(await refusal(client.delete(SubnetRef, "app", ns.name))).toMatch(/Subnet app holds 2 address\(es\), of Instance .*\/a \(10\.0\.1\.\d+\), Instance .*\/b/);
    expect(await refusal(client.delete(SecurityGroupRef, "net-default", ns.name))).toMatch(/SecurityGroup net-default is used by the NICs of instance\(s\) a, b: remove it from their NICs first/);
    expect(await refusal(client.delete(VPCRef, "net", ns.name))).toMatch(/VPC net has Subnet\(s\) app: delete them first/);
  });
});
