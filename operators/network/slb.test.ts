import { describe, expect, it } from "vitest";
import type { InstanceObj } from "../api/compute.ts";
import type { IPAllocationObj, LoadBalancerObj, LoadBalancerSpec, SubnetObj } from "../api/network.ts";
import type { Pod, Service } from "../runtime/core.ts";
import type { Outcome, Plan } from "../runtime/managed.ts";
import { configDigest, digestOf, expectRule, memberStatus, parseStats, poolStatus, renderConfig, type ReplicaStats } from "./slb-haproxy.ts";
import { deployment, endpointSlices, lbFinalize, lbPlan, resolveMembers, service, type CertificateFacts, type LBObservation } from "./slb-plan.ts";

const timeouts = { clientDataMs: 50_000, memberConnectMs: 5_000, memberDataMs: 50_000 };
const check = { type: "HTTP" as const, intervalSeconds: 2, timeoutSeconds: 1, healthyThreshold: 2, unhealthyThreshold: 3, httpPath: "/healthz", expectedCodes: "200" };
const spec = (more: Partial<LoadBalancerSpec> = {}): LoadBalancerSpec => ({
  vip: { subnet: "app" }, replicas: 2,
  listeners: [{ name: "http", protocol: "HTTP", port: 80, defaultPool: "web", timeouts }],
  pools: [{
    name: "web", protocol: "HTTP", algorithm: "WRR", healthCheck: check,
    members: [{ address: "10.0.1.5", port: 8080, weight: 1, nic: 0, backup: false }, { instance: "vm-1", port: 8080, weight: 3, nic: 0, backup: false }, { address: "10.0.1.7", port: 8080, weight: 0, nic: 0, backup: true }],
  }],
  ...more,
});
const lb = (s: LoadBalancerSpec = spec(), status?: LoadBalancerObj["status"]): LoadBalancerObj => ({ metadata: { name: "web", namespace: "t", uid: "lb-1", generation: 1 }, spec: s, ...(status ? { status } : {}) });
const subnet: SubnetObj = {
  metadata: { name: "app", namespace: "t" }, spec: { vpc: "net", cidrBlock: "10.0.1.0/24" },
  status: { conditions: [{ type: "Ready", status: "True", reason: "Ready", message: "", lastTransitionTime: "" }] },
};
const vm = (power: string, ip = "10.0.1.9"): InstanceObj => ({
  metadata: { name: "vm-1", namespace: "t" }, spec: {} as InstanceObj["spec"],
  status: { powerState: power as "Running", nics: [{ ip } as never], conditions: [{ type: "Ready", status: power === "Running" ? "True" : "False", reason: "", message: "", lastTransitionTime: "" }] },
});
const pod = (name: string, ip: string, ready = true): Pod => ({
  metadata: { name, namespace: "t" }, spec: { nodeName: "h1", containers: [] },
  status: { phase: "Running", podIP: ip, conditions: [{ type: "Ready", status: ready ? "True" : "False" }] },
});
const obs = (more: Partial<LBObservation> = {}): LBObservation => ({
  held: [], holderOf: () => undefined, count: 0, subnet, instance: (n) => (n === "vm-1" ? vm("Running") : undefined),
  slices: [], pods: [], stats: new Map(), ...more,
});
const statusOf = (p: Plan, outcomes: Outcome[] = []) => (typeof p.status === "function" ? p.status(outcomes) : p.status)!;
const cond = (p: Plan, type: string, outcomes: Outcome[] = []) => statusOf(p, outcomes).conditions?.find((c) => c.type === type);
const csv = (rows: Array<[string, string, string, number]>, digest?: string) =>
  ["# pxname,svname,qcur,status,weight,pid", ...rows.map(([px, sv, st, w]) => `${px},${sv},0,${st},${w},1`), ...(digest ? [`config-${digest},BACKEND,0,UP,0,1`] : [])].join("\n");

describe("HAProxy configuration", () => {
  it("renders a frontend and a backend per listener, with weights, backups, checks and the allowed CIDRs", () => {
    const s = spec({ listeners: [{ name: "http", protocol: "HTTP", port: 80, defaultPool: "web", timeouts, allowedCIDRs: ["10.0.0.0/8", "192.0.2.7/32"], connectionLimit: 500 }] });
    const cfg = renderConfig(s, () => resolveMembers(lb(s), obs()).get("web")!);
    expect(cfg).toContain('bind "${POD_IP}":80\n');
    expect(cfg).toContain("tcp-request connection reject unless { src 10.0.0.0/8 192.0.2.7/32 }");
    expect(cfg).toContain("maxconn 500");
    expect(cfg).toContain("balance roundrobin");
    expect(cfg).toContain("http-check send meth GET uri /healthz");
    expect(cfg).toContain("server 10.0.1.5:8080 10.0.1.5:8080 weight 1 check inter 2s fall 3 rise 2");
    expect(cfg).toContain("server vm-1:8080 10.0.1.9:8080 weight 3 check");
    expect(cfg).toContain("server 10.0.1.7:8080 10.0.1.7:8080 weight 0 backup check");
  });

  it("maps algorithms, persistence and TLS; leaves UDP listeners to the Service", () => {
    const s = spec({
      listeners: [
        { name: "https", protocol: "HTTPS", port: 443, defaultPool: "web", timeouts, certificateRefs: ["a", "b"] },
        { name: "dns", protocol: "UDP", port: 53, defaultPool: "udp" },
      ] as LoadBalancerSpec["listeners"],
      pools: [
        { name: "web", protocol: "HTTP", algorithm: "WLC", sessionPersistence: { type: "AppCookie", cookieName: "JSESSIONID", timeoutSeconds: 600 }, members: [] },
        { name: "udp", protocol: "UDP", algorithm: "SourceIP", members: [] },
      ],
    });
    const cfg = renderConfig(s, () => []);
    expect(cfg).toContain('bind "${POD_IP}":443 ssl crt "${SLB_CERT_DIR}/https-0.pem" crt "${SLB_CERT_DIR}/https-1.pem"');
    expect(cfg).toContain("balance leastconn");
    expect(cfg).toContain("stick store-response res.cook(JSESSIONID)");
    expect(cfg).not.toContain("dns");
    expect(renderConfig(spec({ pools: [{ ...spec().pools[0]!, algorithm: "SourceIP", sessionPersistence: { type: "HTTPCookie", timeoutSeconds: 60 } }] }), () => []))
      .toMatch(/balance source[\s\S]*cookie SRV insert indirect nocache/);
  });

  it("names each configuration by its digest, which statistics report back", () => {
    const cfg = renderConfig(spec(), () => []);
    const d = digestOf(cfg)!;
    expect(d).toMatch(/^[0-9a-f]{16}$/);
    expect(cfg.endsWith(`backend config-${d}\n`)).toBe(true);
    expect(configDigest(cfg.slice(0, cfg.indexOf("\n# which configuration")))).toBe(d);
    expect(digestOf(renderConfig(spec({ replicas: 3 }), () => []))).toBe(d); // replicas are not configuration
    expect(digestOf(renderConfig(spec({ pools: [{ ...spec().pools[0]!, algorithm: "WLC" }] }), () => []))).not.toBe(d);
    expect(parseStats(csv([["be-http", "a:1", "UP", 1]], d))).toEqual({ digest: d, servers: [{ backend: "be-http", server: "a:1", status: "UP", weight: 1 }] });
    expect(parseStats("garbage")).toEqual({ servers: [] });
  });

  it("turns Octavia's expected codes into an http-check rule", () => {
    expect(expectRule("200")).toBe("http-check expect status 200");
    expect(expectRule("200,202")).toBe("http-check expect rstatus ^(200|202)$");
    expect(expectRule("200-203,301")).toBe("http-check expect rstatus ^(200|201|202|203|301)$");
  });

  it("rolls member states up in Octavia's vocabulary", () => {
    const m = { name: "a:1", address: "10.0.0.1", port: 1, weight: 1, backup: false };
    const up = { backend: "b", server: "a:1", status: "UP", weight: 1 };
    expect(memberStatus(m, true, [up, up])).toBe("ONLINE");
    expect(memberStatus(m, true, [up, { ...up, status: "DOWN" }])).toBe("ERROR"); // the worst replica
    expect(memberStatus(m, true, [{ ...up, status: "UP 1/3" }])).toBe("ONLINE"); // going down, not yet
    expect(memberStatus(m, true, [{ ...up, status: "DOWN 1/2" }])).toBe("ERROR"); // coming back, not yet
    expect(memberStatus({ ...m, weight: 0 }, true, [up])).toBe("DRAINING");
    expect(memberStatus(m, false, [{ ...up, status: "no check" }])).toBe("NO_MONITOR");
    expect(memberStatus({ ...m, address: undefined }, true, [up])).toBe("OFFLINE");
    expect(memberStatus(m, true, [undefined])).toBe("OFFLINE");
    expect(poolStatus(["ONLINE", "NO_MONITOR", "DRAINING"])).toBe("ONLINE");
    expect(poolStatus(["ONLINE", "ERROR"])).toBe("DEGRADED");
    expect(poolStatus(["ERROR", "OFFLINE"])).toBe("ERROR");
    expect(poolStatus([])).toBe("ERROR");
  });
});

describe("load balancer planning", () => {
  it("allocates the VIP from the subnet and shows it once held", () => {
    const p = lbPlan(lb(), obs(), 0);
    const create = p.actions![0]!;
    // 10.0.1.1 is the gateway
    expect(create).toMatchObject({ verb: "create", object: { metadata: { name: "t.net.10.0.1.2" }, spec: { subnet: "app", owner: { kind: "LoadBalancer", name: "web" } } } });
    expect(statusOf(p, [{ action: create, result: "created" }]).fields?.vip).toBe("10.0.1.2");
    expect(cond(p, "Accepted", [{ action: create, result: "created" }])).toMatchObject({ status: "True" });
    const fixed = lbPlan(lb(spec({ vip: { subnet: "app", address: "10.0.1.200" } })), obs(), 0);
    expect(fixed.actions![0]).toMatchObject({ object: { metadata: { name: "t.net.10.0.1.200" } } });
    const outside = lbPlan(lb(spec({ vip: { subnet: "app", address: "10.0.2.1" } })), obs(), 0);
    expect(cond(outside, "Accepted")).toMatchObject({ status: "False", reason: "InvalidAddress" });
    expect(cond(lbPlan(lb(), obs({ subnet: undefined }), 0), "Ready")).toMatchObject({ status: "False", reason: "SubnetNotFound", message: 'spec.vip.subnet: Subnet "app" not found in this namespace' });
  });

  it("is Programmed only once every serving replica runs the current configuration", () => {
    const ready = [pod("p1", "127.9.0.1"), pod("p2", "127.9.0.2")];
    const held: IPAllocationObj = { metadata: { name: "t.net.10.0.1.2", uid: "a1" }, spec: { address: "10.0.1.2", scope: "t.net", subnet: "app", slot: "vip", owner: { kind: "LoadBalancer", namespace: "t", name: "web", uid: "lb-1" } } };
    const members = resolveMembers(lb(), obs());
    const digest = digestOf(renderConfig(spec(), (p) => members.get(p) ?? []))!;
    const servers = (st: string): Array<[string, string, string, number]> => [["be-http", "10.0.1.5:8080", st, 1], ["be-http", "vm-1:8080", "UP", 3], ["be-http", "10.0.1.7:8080", "UP", 0]];
    const stats = (a: ReplicaStats, b: ReplicaStats) => new Map([["p1", a], ["p2", b]]);
    const current = parseStats(csv(servers("UP"), digest));
    const o = obs({ held: [held], pods: ready, stats: stats(current, current) });
    const p = lbPlan(lb(spec(), { vip: "10.0.1.2" }), o, 0);
    expect(cond(p, "Programmed"), JSON.stringify(statusOf(p))).toMatchObject({ status: "True" });
    expect(cond(p, "Ready")).toMatchObject({ status: "True" });
    expect(cond(p, "Degraded")).toMatchObject({ status: "False" });
    expect(statusOf(p).fields).toMatchObject({ dataPlaneAddresses: ["127.9.0.1", "127.9.0.2"], readyReplicas: 2 });
    const stale = parseStats(csv(servers("UP"), "0123456789abcdef"));
    expect(cond(lbPlan(lb(spec(), { vip: "10.0.1.2" }), { ...o, stats: stats(current, stale) }, 0), "Programmed")).toMatchObject({ status: "False", reason: "Reloading" });
    // a member failing its checks on one replica: ERROR, the pool DEGRADED, Degraded=True naming it
    const failing = lbPlan(lb(spec(), { vip: "10.0.1.2" }), { ...o, stats: stats(current, parseStats(csv(servers("DOWN"), digest))) }, 0);
    expect(statusOf(failing).fields?.pools).toMatchObject([{ name: "web", operatingStatus: "DEGRADED", members: [{ name: "10.0.1.5:8080", operatingStatus: "ERROR" }, { operatingStatus: "ONLINE" }, { operatingStatus: "DRAINING" }] }]);
    expect(cond(failing, "Degraded")).toMatchObject({ status: "True", reason: "MembersUnhealthy", message: "pool web DEGRADED: 10.0.1.5:8080 ERROR" });
    // no replica answering: not programmed, listeners OFFLINE
    const none = lbPlan(lb(spec(), { vip: "10.0.1.2" }), { ...o, pods: [pod("p1", "127.9.0.1", false)], stats: new Map() }, 0);
    expect(cond(none, "Programmed")).toMatchObject({ status: "False", reason: "DataPlaneNotReady" });
    expect(statusOf(none).fields?.listeners).toEqual([{ name: "http", port: 80, operatingStatus: "OFFLINE" }]);
  });

  it("takes a stopped, failed or deleted instance out of the ready set at once", () => {
    const slices = (instance: InstanceObj | undefined) => {
      const members = resolveMembers(lb(), obs({ instance: () => instance }));
      return endpointSlices(lb(), members, () => "NO_MONITOR").flatMap((s) => s.endpoints!.map((e) => [e.addresses[0], e.conditions?.ready]));
    };
    expect(slices(vm("Running"))).toEqual([["10.0.1.5", true], ["10.0.1.9", true], ["10.0.1.7", false]]);
    for (const gone of [vm("Stopped"), vm("Pending"), undefined, { ...vm("Running"), metadata: { name: "vm-1", deletionTimestamp: "now" } }]) {
      expect(slices(gone).map(([a]) => a)).toEqual(["10.0.1.5", "10.0.1.7"]);
    }
    // loopback members (the local data plane's) cannot be in a slice: the apiserver refuses them
    const lo = spec({ pools: [{ ...spec().pools[0]!, members: [{ address: "127.0.0.41", port: 80, weight: 1, nic: 0, backup: false }] }] });
    expect(endpointSlices(lb(lo), resolveMembers(lb(lo), obs()), () => "ONLINE")).toEqual([]);
  });

  it("realizes a Service of its class and a Deployment the cell scheduler spreads", () => {
    const s = spec({ zone: "z1", listeners: [
      { name: "http", protocol: "HTTP", port: 80, defaultPool: "web", timeouts, allowedCIDRs: ["10.0.0.0/8"] },
      { name: "dns", protocol: "UDP", port: 53, defaultPool: "web", timeouts, allowedCIDRs: ["192.0.2.0/24"] },
    ], pools: [{ ...spec().pools[0]!, algorithm: "SourceIP" }] });
    const svc: Service = service(lb(s));
    expect(svc.spec).toMatchObject({
      type: "LoadBalancer", loadBalancerClass: "slb.cellcloud.io", allocateLoadBalancerNodePorts: false, sessionAffinity: "ClientIP",
      loadBalancerSourceRanges: ["10.0.0.0/8", "192.0.2.0/24"],
      ports: [{ name: "http", port: 80, protocol: "TCP" }, { name: "dns", port: 53, protocol: "UDP" }],
    });
    expect(svc.spec?.selector).toBeUndefined();
    const d = deployment(lb(s));
    const tpl = d.spec!.template;
    expect(d.spec!.replicas).toBe(2);
    expect(tpl.metadata?.labels).toMatchObject({ "cellcloud.io/data-plane": "local", "slb.cellcloud.io/loadbalancer": "web" });
    expect(tpl.metadata?.annotations).toMatchObject({ "scheduling.cellcloud.io/anti-affinity-group": "slb-web" });
    expect(tpl.spec).toMatchObject({ schedulerName: "cellcloud-scheduler", nodeSelector: { "topology.kubernetes.io/zone": "z1" }, automountServiceAccountToken: false });
    expect(tpl.spec!.containers[0]!.ports!.map((p) => p.containerPort)).toEqual([80, 8404]);
    const tls = deployment(lb(spec({ listeners: [{ name: "https", protocol: "HTTPS", port: 443, defaultPool: "web", timeouts, certificateRefs: ["site"] }] })));
    expect(tls.spec!.template.spec!.volumes![1]).toEqual({ name: "certs", projected: { sources: [{ secret: { name: "site", items: [{ key: "tls.crt", path: "https-0.pem" }, { key: "tls.key", path: "https-0.pem.key" }] } }] } });
  });

  it("names a certificate reference that cannot work", () => {
    const s = spec({ listeners: [
      { name: "http", protocol: "HTTP", port: 80, defaultPool: "web", timeouts },
      { name: "https", protocol: "HTTPS", port: 443, defaultPool: "web", timeouts, certificateRefs: ["ok", "bad"] },
    ] });
    const accepted = (certificates: LBObservation["certificates"]) => cond(lbPlan(lb(s), obs({ certificates }), 0), "Accepted", [{ action: {} as never, result: "created" }]);
    const ok: CertificateFacts = { found: true, type: "kubernetes.io/tls", complete: true };
    const bad = (f: CertificateFacts) => new Map([["ok", ok], ["bad", f]]);
    expect(accepted(bad({ found: false }))).toMatchObject({ status: "False", reason: "CertificateNotFound", message: 'spec.listeners[1].certificateRefs[1]: Secret "bad" not found in this namespace' });
    expect(accepted(bad({ found: true, type: "Opaque", complete: true }))).toMatchObject({ reason: "CertificateInvalid", message: 'spec.listeners[1].certificateRefs[1]: Secret "bad" is of type Opaque, not kubernetes.io/tls' });
    expect(accepted(bad({ found: true, type: "kubernetes.io/tls", complete: false }))).toMatchObject({ reason: "CertificateInvalid" });
    expect(accepted(bad({ found: false, forbidden: true }))).toMatchObject({ status: "True" }); // not ours to read: the mount will tell
    expect(accepted(undefined)).toMatchObject({ status: "True" });
  });

  it("puts the VIP and the bound ElasticIP in the Service's status; releases the VIP when deleted", () => {
    const svc: Service = { metadata: { name: "slb-web", namespace: "t", ownerReferences: [{ uid: "lb-1" } as never] }, spec: {}, status: {} };
    const p = lbPlan(lb(spec(), { vip: "10.0.1.2" }), obs({ service: svc, publicIP: "203.0.113.5" }), 0);
    expect(p.actions).toContainEqual(expect.objectContaining({ verb: "update", subresource: "status", patch: { status: { loadBalancer: { ingress: [{ ip: "10.0.1.2", ipMode: "VIP" }, { ip: "203.0.113.5", ipMode: "VIP" }] } } } }));
    expect(statusOf(p).fields?.publicIP).toBe("203.0.113.5");
    const held: IPAllocationObj = { metadata: { name: "t.net.10.0.1.2", uid: "a1" }, spec: { address: "10.0.1.2", scope: "t.net", slot: "vip", owner: { kind: "LoadBalancer", namespace: "t", name: "web", uid: "lb-1" } } };
    expect(lbFinalize(lb(), obs({ held: [held] }))).toEqual({ actions: [expect.objectContaining({ verb: "delete", name: "t.net.10.0.1.2", uid: "a1" })], done: true });
  });
});
