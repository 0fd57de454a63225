// SLB load balancers with real traffic, on loopback only: the LoadBalancer controller renders an
// HAProxy configuration, the Deployment's two replicas run Debian's haproxy under the local data
// plane (each on its own 127.X address), and requests go through them to three small HTTP servers
// this test runs. Weights 1:2:3 hold to ±5% over 6,000 requests; weight 0 drains; least
// connections avoids a slow member; source-IP persistence keeps each client on one member; a
// killed member is taken out by the checks within interval × unhealthyThreshold (+1 s), shows
// ERROR with its pool DEGRADED, and comes back ONLINE; an HTTPS listener terminates TLS with the
// Secret's certificate (the client checks the chain); allowedCIDRs refuse other clients; and a
// weight change reloads HAProxy while a load loop runs without a single failed request. An instance
// member is in the Service's ready set while it runs, and leaves it when it stops or is deleted.
import { connect as tlsConnect } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LoadBalancerRef, SubnetRef, VPCRef, type LoadBalancerObj } from "../operators/api/network.ts";
import { newCA, newServingCert, type KeyCert } from "../operators/runtime/certs.ts";
import { EndpointSliceRef, ServiceRef, type EndpointSlice, type Service } from "../operators/runtime/core.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import { Backend, get, load, tally } from "./support/backends.ts";
import { clients, eventually, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { spawnManager, type ManagerProcess } from "./support/manager.ts";
import { createCatalog, instancesIn } from "./support/compute.ts";
import { hostsReady } from "./support/nodes.ts";
import { platformIn, poolSpec } from "./support/platform.ts";
import { freePorts } from "./support/tenancy.ts";

const { kc, core } = clients();
const client = new KubeClient(kc);
const ns = useNamespace("slb");
const base = uniqueName("slb");
const zone = base;
const API = "network.cellcloud.io/v1alpha1";
const cell = `${base}-cell`;
const pool = `${base}-np`;
const platform = platformIn(kc);
const ecs = instancesIn(kc, core, ns.name);
let cat: Awaited<ReturnType<typeof createCatalog>>;
const backends = [new Backend("a", "127.0.0.41"), new Backend("b", "127.0.0.42"), new Backend("c", "127.0.0.43")];
let manager: ManagerProcess | undefined;
let ca: KeyCert;

const read = (name: string) => client.get<LoadBalancerObj>(LoadBalancerRef, name, ns.name);
const cond = (o: LoadBalancerObj, type: string) => o.status?.conditions?.find((c) => c.type === type);
const members = (weights: number[]) => backends.map((b, i) => ({ address: b.address, port: b.port, weight: weights[i] }));
const check = { type: "HTTP", intervalSeconds: 1, timeoutSeconds: 1, healthyThreshold: 1, unhealthyThreshold: 2, httpPath: "/" };

/** Patches the pools and waits until both replicas run the new configuration (their statistics say which). */
async function repool(name: string, pools: unknown[]): Promise<LoadBalancerObj> {
  await client.patch(LoadBalancerRef, name, ns.name, { spec: { pools } }, "merge");
  return eventually(async () => {
    const lb = await read(name);
    const c = cond(lb, "Programmed");
    if (c && c.observedGeneration === lb.metadata.generation && c.status === "True" && lb.status?.readyReplicas === 2) return lb;
    throw new Error(`generation ${lb.metadata.generation}, Programmed ${JSON.stringify(c)}`);
  }, { what: `${name} reloaded with the new pools`, timeoutMs: 30_000 });
}

// members outside loopback (the apiserver keeps loopback out of EndpointSlices), never sent traffic: unchecked
const extPool = { name: "ext", protocol: "TCP", members: [{ address: "192.0.2.10", port: 80 }, { address: "192.0.2.11", port: 80, weight: 0 }] };
const lbObject = (name: string, spec: Record<string, unknown>) => ({ apiVersion: API, kind: "LoadBalancer", metadata: { name, namespace: ns.name }, spec });

beforeAll(async () => {
  const [metricsPort, healthPort] = (await freePorts(2)) as [number, number];
  manager = spawnManager({
    leaseId: base, metricsPort, healthPort, controllers: "vpc,subnet,loadbalancer,scheduler,nodepool,cell,compute-catalog,instance", extraArgs: ["--leader-elect=false"],
  });
  cat = await createCatalog(kc, base);
  await platform.cells.create(cell, { region: "r-slb", zone });
  await platform.nodePools.create(pool, poolSpec(cell, { nodes: 2, capacity: { cpu: "16", memory: "64Gi" } }));
  await hostsReady(core, `cellcloud.io/cell=${cell}`, 2);
  for (const b of backends) await b.start();
  await client.create(VPCRef, { apiVersion: API, kind: "VPC", metadata: { name: "net", namespace: ns.name }, spec: { cidrBlocks: ["10.0.0.0/16"] } });
  await client.create(SubnetRef, { apiVersion: API, kind: "Subnet", metadata: { name: "lb", namespace: ns.name }, spec: { vpc: "net", cidrBlock: "10.0.9.0/24" } });
  ca = await newCA({ commonName: "slb-test-ca", validForMs: 3_600_000 });
  const leaf = await newServingCert(ca, ["web.slb.test"], { commonName: "web.slb.test", validForMs: 3_600_000 });
  await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: "web-tls" }, type: "kubernetes.io/tls", stringData: { "tls.crt": leaf.cert, "tls.key": leaf.key } } });
}, 120_000);

afterAll(async () => {
  for (const lb of (await client.list<LoadBalancerObj>(LoadBalancerRef, {}, ns.name).catch(() => ({ items: [] as LoadBalancerObj[] }))).items) {
    await client.delete(LoadBalancerRef, lb.metadata.name, ns.name).catch(() => undefined);
  }
  await eventually(async () => (await client.list(LoadBalancerRef, {}, ns.name)).items.length === 0, { what: "load balancers gone", timeoutMs: 60_000 }).catch(() => undefined);
  for (const i of await ecs.list().catch(() => [])) await ecs.delete(i.metadata.name).catch(() => undefined);
  await eventually(async () => (await ecs.list()).length === 0, { what: "instances deleted", timeoutMs: 60_000 }).catch(() => undefined);
  await platform.nodePools.delete(pool).catch(() => undefined);
  await eventually(async () => (await platform.nodePools.list()).every((np) => np.metadata.name !== pool), { what: "pool gone", timeoutMs: 60_000 }).catch(() => undefined);
  await platform.cells.delete(cell).catch(() => undefined);
  for (const [ref, name, namespace] of cat?.all ?? []) await client.delete(ref, name, namespace).catch(() => undefined);
  manager?.child.kill("SIGKILL");
  for (const b of backends) await b.kill();
}, 120_000);

describe("SLB load balancers", () => {
  it("refuses an HTTPS listener without a certificate, naming the field", async () => {
    const msg = await refusal(client.create(LoadBalancerRef, lbObject("bad", {
      vip: { subnet: "lb" }, listeners: [{ name: "https", protocol: "HTTPS", port: 8443, defaultPool: "p" }], pools: [{ name: "p", protocol: "HTTP", members: [] }],
    })));
    expect(msg).toContain("spec.listeners[*].certificateRefs is required for an HTTPS listener");
    const twice = await refusal(client.create(LoadBalancerRef, lbObject("twice", {
      vip: { subnet: "lb" }, listeners: [{ name: "a", protocol: "TCP", port: 1, defaultPool: "p" }, { name: "a", protocol: "TCP", port: 2, defaultPool: "p" }], pools: [{ name: "p", protocol: "TCP", members: [] }],
    })));
    expect(twice).toMatch(/spec\.listeners\[1\]: Duplicate value/);
  });

  it("names a certificate Secret that is missing or not a TLS Secret", async () => {
    await core.createNamespacedSecret({ namespace: ns.name, body: { metadata: { name: "opaque" }, type: "Opaque", stringData: { "tls.crt": "x", "tls.key": "y" } } });
    const https = (name: string, secret: string) => client.create(LoadBalancerRef, lbObject(name, {
      vip: { subnet: "lb" }, zone, listeners: [{ name: "https", protocol: "HTTPS", port: 8443, defaultPool: "p", certificateRefs: [secret] }],
      pools: [{ name: "p", protocol: "HTTP", members: [] }],
    }));
    await https("nocert", "absent");
    await https("badcert", "opaque");
    const ready = (name: string) => eventually(async () => { const c = cond(await read(name), "Ready"); return c?.status === "False" && c.reason?.startsWith("Certificate") && c; }, { what: `${name} Ready=False naming its certificate` });
    expect(await ready("nocert")).toMatchObject({ reason: "CertificateNotFound", message: 'spec.listeners[0].certificateRefs[0]: Secret "absent" not found in this namespace' });
    expect(await ready("badcert")).toMatchObject({ reason: "CertificateInvalid", message: 'spec.listeners[0].certificateRefs[0]: Secret "opaque" is of type Opaque, not kubernetes.io/tls' });
    for (const n of ["nocert", "badcert"]) await client.delete(LoadBalancerRef, n, ns.name);
  });

  it("balances by weight, drains, reloads without errors, fails over on checks, terminates TLS and enforces allowedCIDRs", async () => {
    await client.create(LoadBalancerRef, lbObject("web", {
      vip: { subnet: "lb" }, zone,
      listeners: [
        { name: "http", protocol: "HTTP", port: 8080, defaultPool: "web" },
        { name: "https", protocol: "HTTPS", port: 8443, defaultPool: "web", certificateRefs: ["web-tls"] },
        { name: "acl", protocol: "HTTP", port: 8081, defaultPool: "web", allowedCIDRs: ["127.0.0.60/32"] },
        { name: "ext", protocol: "TCP", port: 9000, defaultPool: "ext" },
      ],
      pools: [{ name: "web", protocol: "HTTP", algorithm: "WRR", healthCheck: check, members: members([1, 2, 3]) }, extPool],
    }));
    const lb = await eventually(async () => {
      const o = await read("web");
      if (cond(o, "Ready")?.status === "True" && o.status?.dataPlaneAddresses?.length === 2 && o.status.pools?.[0]?.operatingStatus === "ONLINE") return o;
      throw new Error(`status: ${JSON.stringify(o.status)}`);
    }, { what: "web Ready with 2 replicas and its members ONLINE", timeoutMs: 90_000 });
    const [ip1, ip2] = lb.status!.dataPlaneAddresses! as [string, string];
    expect(ip1).toMatch(/^127\./);
    expect(lb.status!.vip).toMatch(/^10\.0\.9\./);
    expect(cond(lb, "Degraded")?.status).toBe("False");

    // the Kubernetes side: a selector-less Service of our class, its ingress the VIP, slices of the members
    const svc = await client.get<Service>(ServiceRef, "slb-web", ns.name);
    expect(svc.spec).toMatchObject({ type: "LoadBalancer", loadBalancerClass: "slb.cellcloud.io" });
    expect(svc.spec?.selector).toBeUndefined();
    await eventually(async () => (await client.get<Service>(ServiceRef, "slb-web", ns.name)).status?.loadBalancer?.ingress?.[0]?.ip === lb.status!.vip, { what: "Service ingress shows the VIP" });
    const slices = (await client.list<EndpointSlice>(EndpointSliceRef, { labelSelector: "kubernetes.io/service-name=slb-web" }, ns.name)).items;
    expect(slices.map((s) => s.metadata.name)).toEqual(["slb-web-ext-80"]);
    expect(slices[0]!.metadata!.labels?.["endpointslice.kubernetes.io/managed-by"]).toBe("slb.cellcloud.io");
    expect(slices[0]!.endpoints!.map((e) => [e.addresses[0], e.conditions?.ready, e.conditions?.serving])).toEqual([["192.0.2.10", true, true], ["192.0.2.11", false, true]]);

    // weights 1:2:3 over 6,000 requests, through both replicas
    const replies = await load(6_000, 24, (i) => get(`http://${i % 2 ? ip2 : ip1}:8080/`));
    expect(replies.filter((r) => !r.ok)).toEqual([]);
    const t = tally(replies);
    for (const [name, share] of [["a", 1], ["b", 2], ["c", 3]] as const) {
      expect(Math.abs(t[name]! - share * 1000) / (share * 1000), `${name}: ${t[name]} of 6000 (${JSON.stringify(t)})`).toBeLessThanOrEqual(0.05);
    }

    // weight 0 drains a: changed while a load loop runs, and that loop sees no error
    let looping = true;
    const during: Array<{ ok: boolean; error?: string }> = [];
    const loop = (async () => { while (looping) during.push(...(await load(20, 10, (i) => get(`http://${i % 2 ? ip2 : ip1}:8080/`)))); })();
    await repool("web", [{ name: "web", protocol: "HTTP", algorithm: "WRR", healthCheck: check, members: members([0, 1, 1]) }, extPool]);
    looping = false;
    await loop;
    expect(during.length).toBeGreaterThan(100);
    expect(during.filter((r) => !r.ok)).toEqual([]);
    const drained = tally(await load(600, 12, (i) => get(`http://${i % 2 ? ip2 : ip1}:8080/`)));
    expect(drained.a ?? 0).toBe(0);
    await eventually(async () => (await read("web")).status?.pools?.[0]?.members.find((m) => m.name.startsWith("127.0.0.41"))?.operatingStatus === "DRAINING", { what: "a DRAINING" });

    // kill c: within interval × unhealthyThreshold + 1 s (3 s) the checks take it out; after that nothing fails
    await repool("web", [{ name: "web", protocol: "HTTP", algorithm: "WRR", healthCheck: check, members: members([1, 1, 1]) }, extPool]);
    await backends[2]!.kill();
    const killedAt = Date.now();
    // both replicas' checks mark it DOWN within interval × unhealthyThreshold + 1 s
    const downIn = await eventually(async () => {
      const states = await Promise.all([ip1, ip2].map(async (ip) => {
        const csv = await (await fetch(`http://${ip}:8404/stats;csv`)).text();
        const header = csv.split("\n")[0]!.replace(/^# /, "").split(",");
        const row = csv.split("\n").find((l) => l.startsWith(`be-http,127.0.0.43:`))?.split(",");
        return row?.[header.indexOf("status")] ?? "";
      }));
      return states.every((st) => st.startsWith("DOWN")) && Date.now() - killedAt;
    }, { what: "c DOWN on both replicas", intervalMs: 50, timeoutMs: 10_000 });
    expect(downIn).toBeLessThanOrEqual(check.intervalSeconds * check.unhealthyThreshold * 1000 + 1000);
    const after = await load(600, 12, (i) => get(`http://${i % 2 ? ip2 : ip1}:8080/`));
    expect(after.filter((r) => !r.ok), `failures after ${downIn} ms`).toEqual([]);
    expect(tally(after).c ?? 0).toBe(0);
    const down = await eventually(async () => {
      const o = await read("web");
      return o.status?.pools?.[0]?.operatingStatus === "DEGRADED" && cond(o, "Degraded")?.status === "True" && o;
    }, { what: "pool DEGRADED, Degraded=True", timeoutMs: 15_000 });
    expect(down.status!.pools![0]!.members.find((m) => m.name.startsWith("127.0.0.43"))?.operatingStatus).toBe("ERROR");
    expect(cond(down, "Degraded")?.message).toContain("127.0.0.43");
    await backends[2]!.start();
    await eventually(async () => {
      const o = await read("web");
      return o.status?.pools?.[0]?.operatingStatus === "ONLINE" && cond(o, "Degraded")?.status === "False";
    }, { what: "c back ONLINE", timeoutMs: 15_000 });

    // HTTPS: TLS terminated with the Secret's certificate, the chain checked by the client
    const tlsOk = await new Promise<string>((resolve, reject) => {
      const s = tlsConnect({ host: ip1, port: 8443, servername: "web.slb.test", ca: ca.cert }, () => {
        s.write("GET / HTTP/1.1\r\nHost: web.slb.test\r\nConnection: close\r\n\r\n");
      });
      let data = "";
      s.on("data", (d: Buffer) => { data += d.toString(); });
      s.on("end", () => resolve(data));
      s.on("error", reject);
    });
    expect(tlsOk).toMatch(/^HTTP\/1.1 200/);
    expect(tlsOk).toMatch(/\r\n\r\n[abc]$/);

    // allowedCIDRs: 127.0.0.60 gets in, 127.0.0.61 does not
    expect((await get(`http://${ip1}:8081/`, { localAddress: "127.0.0.60" })).ok).toBe(true);
    const refused = await get(`http://${ip1}:8081/`, { localAddress: "127.0.0.61" });
    expect(refused.ok).toBe(false);
    expect(refused.error).toMatch(/ECONNRESET|socket hang up|EPIPE/);
  });

  it("least connections avoids a slow member; source-IP and cookie persistence keep a client on one member", async () => {
    const lb = await read("web");
    const ip = lb.status!.dataPlaneAddresses![0]!;
    backends[0]!.delayMs = 300;
    try {
      const share = async () => {
        for (const b of backends) b.hits = 0;
        await load(300, 30, () => get(`http://${ip}:8080/`));
        return backends[0]!.hits / 300;
      };
      const rr = await share();
      await repool("web", [{ name: "web", protocol: "HTTP", algorithm: "WLC", healthCheck: check, members: members([1, 1, 1]) }, extPool]);
      const lc = await share();
      expect(rr).toBeGreaterThan(0.28); // round robin gives the slow member its third
      expect(lc, `slow member's share: round robin ${rr}, least connections ${lc}`).toBeLessThan(rr / 2);
    } finally {
      backends[0]!.delayMs = 0;
    }

    await repool("web", [{ name: "web", protocol: "HTTP", algorithm: "WRR", sessionPersistence: { type: "SourceIP", timeoutSeconds: 60 }, healthCheck: check, members: members([1, 1, 1]) }, extPool]);
    const sources = ["127.0.0.71", "127.0.0.72", "127.0.0.73", "127.0.0.74", "127.0.0.75", "127.0.0.76"];
    const seen = new Map<string, Set<string>>();
    for (const src of sources) {
      // one at a time: concurrent first requests would each miss the stick table
      const replies = await load(20, 1, () => get(`http://${ip}:8080/`, { localAddress: src }));
      expect(replies.every((r) => r.ok)).toBe(true);
      seen.set(src, new Set(replies.map((r) => r.body)));
    }
    for (const [src, got] of seen) expect(got.size, `${src} reached ${[...got].join(", ")}`).toBe(1);
    // the six clients are not all on one member: persistence, not a dead pool
    expect(new Set([...seen.values()].flatMap((s) => [...s])).size).toBeGreaterThan(1);

    // HTTP cookie persistence: the load balancer names the member in a cookie, and a client sending it back stays there
    await repool("web", [{ name: "web", protocol: "HTTP", algorithm: "WRR", sessionPersistence: { type: "HTTPCookie", cookieName: "LB" }, healthCheck: check, members: members([1, 1, 1]) }, extPool]);
    const first = await get(`http://${ip}:8080/`);
    const cookie = first.cookies?.find((c) => c.startsWith("LB="))?.split(";")[0];
    expect(cookie, JSON.stringify(first.cookies)).toBeDefined();
    const sticky = await load(30, 5, () => get(`http://${ip}:8080/`, { headers: { cookie: cookie! } }));
    expect(new Set(sticky.map((r) => r.body))).toEqual(new Set([first.body]));
    expect(new Set((await load(30, 5, () => get(`http://${ip}:8080/`))).map((r) => r.body)).size).toBe(3); // without it: spread
  });

  it("keeps an instance member in the ready set while it runs, and takes it out when it stops or is deleted", async () => {
    await ecs.create("app", { flavor: cat.flavor, image: cat.x86, zone, terminationGracePeriodSeconds: 0, nics: [{ subnet: "lb" }] });
    const vm = await eventually(() => ecs.settled("app"), { what: "instance app Running", timeoutMs: 60_000 });
    const ip = (vm.status as { nics?: Array<{ ip?: string }> }).nics![0]!.ip!;
    await client.create(LoadBalancerRef, lbObject("vms", {
      vip: { subnet: "lb" }, zone, replicas: 1,
      listeners: [{ name: "tcp", protocol: "TCP", port: 7000, defaultPool: "vms" }],
      pools: [{ name: "vms", protocol: "TCP", members: [{ instance: "app", port: 7000 }, { address: "192.0.2.20", port: 7000 }] }],
    }));
    const ready = async () => (await client.list<EndpointSlice>(EndpointSliceRef, { labelSelector: "kubernetes.io/service-name=slb-vms" }, ns.name)).items
      .flatMap((sl) => (sl.endpoints ?? []).filter((e) => e.conditions?.ready).map((e) => e.addresses[0])).sort();
    await eventually(async () => (await ready()).join() === ["192.0.2.20", ip].sort().join(), { what: `the instance (${ip}) and the address in the ready set` });
    const member = async () => (await read("vms")).status?.pools?.[0]?.members.find((m) => m.name === "app:7000");
    // stopped: out at once (its change wakes the load balancer), OFFLINE in status
    await ecs.patch("app", { powerState: "Stopped" });
    await eventually(() => ecs.settled("app", "Stopped"), { what: "instance app Stopped", timeoutMs: 60_000 });
    await eventually(async () => (await ready()).join() === "192.0.2.20", { what: "the stopped instance out of the ready set", timeoutMs: 5_000 });
    expect((await member())?.operatingStatus).toBe("OFFLINE");
    await ecs.patch("app", { powerState: "Running" });
    await eventually(async () => (await ready()).includes(ip), { what: "the running instance back in the ready set", timeoutMs: 60_000 });
    // deleted: out as well
    await ecs.delete("app");
    await eventually(async () => (await ready()).join() === "192.0.2.20", { what: "the deleted instance out of the ready set", timeoutMs: 30_000 });
  });
});
