// Scheduling decisions as a caller sees them: which node, or the exact "0/N nodes are available" message.
import { describe, expect, it } from "vitest";
import { findPreemption, PLATFORM_PRIORITY, sameTenant } from "./preemption.ts";
import { type Decision, type Strategy, placedPod, schedule, scheduleGang } from "./placement.ts";
import { bytes } from "../../api/quantity.ts";
import { type NodeInfo, type PlacedPod, type PodRequest, Snapshot } from "./snapshot.ts";

const Gi = bytes("1Gi");

type NodeOpts = Partial<Omit<NodeInfo, "name" | "allocatable">> & { cpu?: number; memory?: number; maxPods?: number };

function node(name: string, o: NodeOpts = {}): NodeInfo {
  return {
    name,
    labels: { "kubernetes.io/arch": "amd64", ...o.labels },
    taints: o.taints ?? [],
    unschedulable: o.unschedulable ?? false,
    ready: o.ready ?? true,
    allocatable: { cpu: o.cpu ?? 4000, memory: o.memory ?? 16 * Gi, pods: o.maxPods ?? 110 },
    pods: o.pods ?? [],
  };
}

type PodOpts = Partial<Omit<PodRequest, "key" | "requests">> & { cpu?: number; memory?: number };

function pod(key: string, o: PodOpts = {}): PodRequest {
  const { cpu = 1000, memory = Gi, ...rest } = o;
  return { key, priority: 0, nodeSelector: {}, tolerations: [], ...rest, requests: { cpu, memory, pods: 1 } };
}

const running = (key: string, priority: number, cpu: number, groups: string[] = []): PlacedPod => ({
  key,
  priority,
  requests: { cpu, memory: Gi, pods: 1 },
  groups,
});

/** Schedules and assumes each pod in turn, as the scheduler loop does; returns node or message per pod. */
function placeAll(s: Snapshot, pods: PodRequest[], strategy: Strategy = "Binpack"): string[] {
  return pods.map((p) => {
    const d = schedule(p, s, strategy);
    if ("unschedulable" in d) return d.unschedulable;
    s.assume(d.node, placedPod(p));
    return d.node;
  });
}

const names = (prefix: string, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const nodeOf = (d: Decision): string | undefined => ("node" in d ? d.node : undefined);

describe("filters", () => {
  it("puts an arm64 pod only on arm64 nodes", () => {
    const s = new Snapshot([
      ...names("x", 3).map((n) => node(n)),
      ...names("a", 2).map((n) => node(n, { labels: { "kubernetes.io/arch": "arm64" } })),
    ]);
    const arm = { nodeSelector: { "kubernetes.io/arch": "arm64" } };
    const placed = placeAll(s, names("p", 6).map((k) => pod(k, arm)), "Spread");
    expect(placed).toEqual(["a0", "a1", "a0", "a1", "a0", "a1"]);
  });

  it("counts every node as wrong architecture when there is no arm64 capacity", () => {
    const s = new Snapshot(names("x", 5).map((n) => node(n)));
    const d = schedule(pod("p", { nodeSelector: { "kubernetes.io/arch": "arm64" } }), s, "Binpack");
    expect(d).toEqual({ unschedulable: "0/5 nodes are available: 5 wrong architecture.", reasons: { "wrong architecture": 5 } });
  });

  it("summarizes mixed reasons by count, then name, each node under its first failing filter", () => {
    const s = new Snapshot([
      node("n0", { ready: false, labels: { "kubernetes.io/arch": "arm64" } }), // not ready wins over arch
      node("n1", { unschedulable: true }),
      node("n2", { taints: [{ key: "dedicated", value: "db", effect: "NoSchedule" }] }),
      node("n3", { labels: { "kubernetes.io/arch": "arm64" } }),
      node("n4", { labels: { "kubernetes.io/arch": "arm64" }, cpu: 100 }), // arch before cpu
      node("n5", { labels: { "topology.kubernetes.io/zone": "z2" } }),
      ...["n6", "n7", "n8"].map((n) => node(n, { labels: { "topology.kubernetes.io/zone": "z1" }, cpu: 500 })),
      node("n9", { labels: { "topology.kubernetes.io/zone": "z1" }, maxPods: 0 }),
    ]);
    const d = schedule(pod("p", { nodeSelector: { "kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": "z1" } }), s, "Binpack");
    expect("unschedulable" in d && d.unschedulable).toBe(
      "0/10 nodes are available: 3 insufficient cpu, 2 wrong architecture, 1 node not ready, 1 node unschedulable, " +
        "1 too many pods, 1 untolerated taint, 1 wrong zone.",
    );
    expect("reasons" in d && d.reasons["insufficient cpu"]).toBe(3);
  });

  it.each<[string, NodeOpts, PodOpts]>([
    ["wrong cpu vendor", { labels: { "cellcloud.io/cpu-vendor": "amd" } }, { nodeSelector: { "cellcloud.io/cpu-vendor": "intel" } }],
    ["wrong cell", { labels: { "cellcloud.io/cell": "c1" } }, { nodeSelector: { "cellcloud.io/cell": "c2" } }],
    ["node selector mismatch", { labels: { "cellcloud.io/host-group": "gpu" } }, { nodeSelector: { "cellcloud.io/host-group": "hpc" } }],
    ["node affinity mismatch", {}, { requiredAffinity: [[{ key: "disk", operator: "Exists" }]] }],
    ["insufficient memory", { memory: Gi }, { memory: 2 * Gi }],
  ])("reports %s", (reason, nodeOpts, podOpts) => {
    const d = schedule(pod("p", podOpts), new Snapshot([node("n", nodeOpts)]), "Binpack");
    expect(d).toEqual({ unschedulable: `0/1 nodes are available: 1 ${reason}.`, reasons: { [reason]: 1 } });
  });

  it("judges each pod shape on its own when one snapshot serves many pods", () => {
    const s = new Snapshot([
      node("arm", { labels: { "kubernetes.io/arch": "arm64", disk: "ssd" } }),
      node("gpu", { taints: [{ key: "gpu", effect: "NoSchedule" }] }),
    ]);
    const before = s.toNodeInfos();
    const arm = { "kubernetes.io/arch": "arm64" };
    const amd = { "kubernetes.io/arch": "amd64" };
    expect(nodeOf(schedule(pod("a", { nodeSelector: arm }), s, "Binpack"))).toBe("arm");
    expect(nodeOf(schedule(pod("b"), s, "Binpack"))).toBe("arm");
    expect(schedule(pod("c", { nodeSelector: amd }), s, "Binpack")).toMatchObject({
      unschedulable: "0/2 nodes are available: 1 untolerated taint, 1 wrong architecture.",
    });
    const tolerations = [{ key: "gpu", operator: "Exists" }] as const;
    expect(nodeOf(schedule(pod("d", { tolerations: [...tolerations] }), s, "Binpack"))).toBe("arm");
    expect(nodeOf(schedule(pod("e", { tolerations: [...tolerations], nodeSelector: amd }), s, "Binpack"))).toBe("gpu");
    expect(schedule(pod("f", { requiredAffinity: [[{ key: "disk", operator: "DoesNotExist" }]] }), s, "Binpack")).toMatchObject({
      unschedulable: "0/2 nodes are available: 1 node affinity mismatch, 1 untolerated taint.",
    });
    expect(s.toNodeInfos()).toEqual(before); // deciding never assumes
  });

  it("says so plainly when the snapshot has no nodes", () => {
    expect(schedule(pod("p"), new Snapshot([]), "Binpack")).toEqual({ unschedulable: "0/0 nodes are available.", reasons: {} });
  });

  it("keeps NoSchedule and NoExecute nodes from pods that do not tolerate them, but not PreferNoSchedule", () => {
    const s = new Snapshot([
      node("a", { taints: [{ key: "dedicated", value: "db", effect: "NoSchedule" }] }),
      node("b", { taints: [{ key: "maintenance", effect: "NoExecute" }] }),
      node("c", { taints: [{ key: "soft", effect: "PreferNoSchedule" }] }),
    ]);
    const run = (tolerations: PodRequest["tolerations"]): string[] => accepting(s, { tolerations });
    expect(run([])).toEqual(["c"]);
    expect(run([{ key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" }])).toEqual(["a", "c"]);
    expect(run([{ key: "dedicated", operator: "Equal", value: "web" }])).toEqual(["c"]);
    expect(run([{ key: "dedicated", operator: "Exists", effect: "NoExecute" }])).toEqual(["c"]);
    expect(run([{ key: "maintenance", operator: "Exists" }])).toEqual(["b", "c"]);
    expect(run([{ operator: "Exists" }])).toEqual(["a", "b", "c"]);
  });

  it("matches required affinity with In, NotIn, Exists and DoesNotExist, ORing the terms", () => {
    const s = new Snapshot([
      node("ssd1", { labels: { disk: "ssd", gen: "7" } }),
      node("hdd1", { labels: { disk: "hdd" } }),
      node("bare", {}),
    ]);
    const fits = (requiredAffinity: PodRequest["requiredAffinity"]): string[] => accepting(s, { requiredAffinity });
    expect(fits([[{ key: "disk", operator: "In", values: ["ssd", "nvme"] }]])).toEqual(["ssd1"]);
    expect(fits([[{ key: "disk", operator: "NotIn", values: ["ssd"] }]])).toEqual(["bare", "hdd1"]);
    expect(fits([[{ key: "disk", operator: "Exists" }]])).toEqual(["hdd1", "ssd1"]);
    expect(fits([[{ key: "disk", operator: "DoesNotExist" }]])).toEqual(["bare"]);
    expect(fits([[{ key: "disk", operator: "Exists" }, { key: "gen", operator: "DoesNotExist" }]])).toEqual(["hdd1"]);
    expect(fits([[{ key: "gen", operator: "In", values: ["7"] }], [{ key: "disk", operator: "DoesNotExist" }]])).toEqual(["bare", "ssd1"]);
    expect(fits([[]])).toEqual([]);
  });
});

/** The nodes of `s` that would each accept the pod if it were alone in the cluster. */
function accepting(s: Snapshot, opts: PodOpts): string[] {
  const alone = (n: NodeInfo): Decision => schedule(pod("p", opts), new Snapshot([n]), "Binpack");
  return s.toNodeInfos().filter((n) => "node" in alone(n)).map((n) => n.name);
}

describe("spread and anti-affinity", () => {
  const racked = (): Snapshot =>
    new Snapshot([
      node("h1", { labels: { "cellcloud.io/rack": "r1", "cellcloud.io/switch": "s1" } }),
      node("h2", { labels: { "cellcloud.io/rack": "r1", "cellcloud.io/switch": "s1" } }),
      node("h3", { labels: { "cellcloud.io/rack": "r2", "cellcloud.io/switch": "s1" } }),
      node("h4", { labels: { "cellcloud.io/rack": "r3", "cellcloud.io/switch": "s2" } }),
    ]);

  it("strict host spread places one per host and refuses the fourth pod on three hosts", () => {
    const s = new Snapshot(names("h", 3).map((n) => node(n)));
    const spread = { group: "web", domain: "host", mode: "strict" } as const;
    const placed = placeAll(s, names("p", 4).map((k) => pod(k, { spread })));
    expect(placed.slice(0, 3).toSorted()).toEqual(["h0", "h1", "h2"]);
    expect(placed[3]).toBe("0/3 nodes are available: 3 spread constraint.");
  });

  it("best-effort host spread uses distinct hosts first and still places the fourth", () => {
    const s = new Snapshot(names("h", 3).map((n) => node(n)));
    const spread = { group: "web", domain: "host", mode: "best-effort" } as const;
    const placed = placeAll(s, names("p", 4).map((k) => pod(k, { spread })), "Binpack");
    expect(new Set(placed.slice(0, 3)).size).toBe(3);
    expect(placed[3]).toMatch(/^h\d$/);
  });

  it("strict rack spread allows maxPerDomain per rack and ignores hosts without a rack", () => {
    const s = new Snapshot([...racked().toNodeInfos(), node("norack")]);
    const spread = { group: "db", domain: "rack", mode: "strict", maxPerDomain: 1 } as const;
    const placed = placeAll(s, names("p", 4).map((k) => pod(k, { spread })));
    expect(placed.slice(0, 3)).toEqual(["h1", "h3", "h4"]);
    expect(placed[3]).toBe("0/5 nodes are available: 5 spread constraint.");
  });

  it("strict switch spread with maxPerDomain 2 fills each switch to two, however many hosts it has", () => {
    const s = racked(); // s1 has three hosts, s2 one
    const spread = { group: "mq", domain: "switch", mode: "strict", maxPerDomain: 2 } as const;
    const placed = placeAll(s, names("p", 5).map((k) => pod(k, { spread })));
    expect(placed.slice(0, 4)).toEqual(["h1", "h1", "h4", "h4"]);
    expect(placed[4]).toBe("0/4 nodes are available: 4 spread constraint.");
  });

  it("best-effort switch spread alternates switches even under Binpack", () => {
    const s = racked();
    const spread = { group: "mq", domain: "switch", mode: "best-effort" } as const;
    const placed = placeAll(s, names("p", 4).map((k) => pod(k, { spread })), "Binpack");
    expect(placed.map((n) => s.node(n)?.domains.switch)).toEqual(["s1", "s2", "s1", "s2"]);
    expect(placed).toEqual(["h1", "h4", "h1", "h4"]);
  });

  it("never lets two members of an anti-affinity group share a host", () => {
    const s = new Snapshot(names("h", 3).map((n) => node(n, { cpu: 64_000 })));
    const placed = placeAll(s, names("db", 4).map((k) => pod(k, { antiAffinityGroup: "pg-main" })), "Binpack");
    expect(placed.slice(0, 3).toSorted()).toEqual(["h0", "h1", "h2"]);
    expect(placed[3]).toBe("0/3 nodes are available: 3 anti-affinity.");
    expect(placeAll(s, [pod("other")], "Binpack")).toEqual(["h0"]); // another group is not affected
  });
});

describe("scores", () => {
  it("Binpack fills one node before the next", () => {
    const s = new Snapshot([node("n2"), node("n1")]);
    expect(placeAll(s, names("p", 6).map((k) => pod(k)), "Binpack")).toEqual(["n1", "n1", "n1", "n1", "n2", "n2"]);
  });

  it("Spread alternates between equally loaded nodes", () => {
    const s = new Snapshot([node("n2"), node("n1")]);
    expect(placeAll(s, names("p", 4).map((k) => pod(k)), "Spread")).toEqual(["n1", "n2", "n1", "n2"]);
  });

  it("weighs cpu and memory alike: Binpack prefers the node fuller in memory", () => {
    const memoryHeavy = { ...running("y", 0, 1000), requests: { cpu: 1000, memory: 8 * Gi, pods: 1 } };
    const s = new Snapshot([node("a", { pods: [running("x", 0, 1000)] }), node("b", { pods: [memoryHeavy] })]);
    expect(nodeOf(schedule(pod("p"), s, "Binpack"))).toBe("b");
    expect(nodeOf(schedule(pod("p"), s, "Spread"))).toBe("a");
  });
});

describe("capacity", () => {
  /** mulberry32: a seeded PRNG, so a failure replays exactly. */
  function prng(seed: number): () => number {
    let a = seed;
    return () => {
      a = (a + 0x6d2b79f5) | 0;
      let t = Math.imul(a ^ (a >>> 15), 1 | a);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }

  it.each([1, 2, 3])("never exceeds allocatable on any resource (seed %i)", (seed) => {
    const rand = prng(seed);
    const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
    const nodes = names("n", 40).map((n) =>
      node(n, {
        cpu: pick([2000, 4000, 8000]),
        memory: pick([4, 8, 16]) * Gi,
        maxPods: pick([5, 10, 30]),
        labels: { "kubernetes.io/arch": pick(["amd64", "arm64"]) },
      }),
    );
    const s = new Snapshot(nodes);
    let placed = 0;
    for (const key of names("p", 600)) {
      const nodeSelector: Record<string, string> = rand() < 0.3 ? { "kubernetes.io/arch": pick(["amd64", "arm64"]) } : {};
      const p = pod(key, { cpu: pick([100, 250, 500, 1000, 2000]), memory: pick([0.25, 0.5, 1, 2, 4]) * Gi, nodeSelector });
      const d = schedule(p, s, pick<Strategy>(["Binpack", "Spread"]));
      if ("node" in d) {
        s.assume(d.node, placedPod(p));
        placed++;
      } else {
        expect(Object.values(d.reasons).reduce((a, b) => a + b, 0)).toBe(40);
      }
    }
    expect(placed).toBeGreaterThan(100);
    for (const n of s.nodes) {
      expect(n.requested.cpu).toBeLessThanOrEqual(n.info.allocatable.cpu);
      expect(n.requested.memory).toBeLessThanOrEqual(n.info.allocatable.memory);
      expect(n.requested.pods).toBeLessThanOrEqual(n.info.allocatable.pods);
    }
  });
});

describe("gang placement", () => {
  it("places none of a gang of three when only two fit, and leaves the snapshot as it was", () => {
    const s = new Snapshot([node("h1"), node("h2"), node("h3", { cpu: 500 })]);
    const before = s.toNodeInfos();
    const gang = names("db", 3).map((k) => pod(k, { antiAffinityGroup: "pg" }));
    const d = scheduleGang(gang, s, "Binpack");
    expect(d).toEqual({
      pod: "db2",
      unschedulable: "gang member db2 does not fit: 0/3 nodes are available: 2 anti-affinity, 1 insufficient cpu.",
      reasons: { "anti-affinity": 2, "insufficient cpu": 1 },
    });
    expect(s.toNodeInfos()).toEqual(before);
    expect(s.count("pg", "host", "h1")).toBe(0);
  });

  it("places a gang that fits, each member seeing the ones before it", () => {
    const s = new Snapshot([node("h1", { cpu: 2000 }), node("h2", { cpu: 2000 }), node("h3", { cpu: 2000 })]);
    const before = s.toNodeInfos();
    const gang = [...names("db", 3).map((k) => pod(k, { antiAffinityGroup: "pg" })), pod("proxy", { cpu: 1000 })];
    const d = scheduleGang(gang, s, "Binpack");
    expect(d).toEqual({
      placements: [
        { pod: "db0", node: "h1" },
        { pod: "db1", node: "h2" },
        { pod: "db2", node: "h3" },
        { pod: "proxy", node: "h1" },
      ],
    });
    expect(s.toNodeInfos()).toEqual(before);
  });
});

describe("preemption", () => {
  it("evicts the lowest-priority pods on the node where the most important victim matters least", () => {
    const s = new Snapshot([
      node("a", { pods: [running("a-low", 1, 2000), running("a-mid", 5, 2000)] }),
      node("b", { pods: [running("b-mid", 5, 3000), running("b-low", 1, 1000)] }),
      node("c", { pods: [running("c-high", 100, 4000)] }),
    ]);
    const p = pod("urgent", { priority: 10, cpu: 2000 });
    expect(schedule(p, s, "Binpack")).toMatchObject({ unschedulable: "0/3 nodes are available: 3 insufficient cpu." });
    const before = s.toNodeInfos();
    // a needs only a-low (priority 1); b would need b-mid (priority 5); c holds nothing evictable.
    expect(findPreemption(p, s, "Binpack")).toEqual({ node: "a", victims: ["a-low"] });
    expect(s.toNodeInfos()).toEqual(before); // naming victims evicts nothing
  });

  it("prefers fewer victims at equal priority, and the largest request first within a priority", () => {
    const s = new Snapshot([
      node("a", { pods: [running("a1", 1, 1000), running("a2", 1, 1000), running("a3", 1, 2000)] }),
      node("b", { pods: [running("b1", 1, 1000), running("b2", 1, 1000), running("b3", 1, 1000), running("b4", 1, 1000)] }),
    ]);
    expect(findPreemption(pod("p", { priority: 2, cpu: 2000 }), s, "Binpack")).toEqual({ node: "a", victims: ["a3"] });
  });

  it("stays within the preemptor's tenant, unless the preemptor runs at the platform's priority", () => {
    const s = new Snapshot([node("a", { pods: [running("t2/other", 1, 4000)] }), node("b", { pods: [running("t1/mine", 1, 4000)] })]);
    const tenants: Record<string, string> = { t1: "acme", "t1b": "acme", t2: "globex" };
    const p = pod("t1b/vip", { priority: 3 });
    expect(findPreemption(p, s, "Binpack", sameTenant((ns) => tenants[ns], p))).toEqual({ node: "b", victims: ["t1/mine"] });
    const alone = new Snapshot([node("a", { pods: [running("t2/other", 1, 4000)] })]);
    expect(findPreemption(p, alone, "Binpack", sameTenant((ns) => tenants[ns], p))).toBeUndefined();
    const platform = pod("kube-system/critical", { priority: PLATFORM_PRIORITY });
    expect(findPreemption(platform, alone, "Binpack", sameTenant((ns) => tenants[ns], platform))).toEqual({ node: "a", victims: ["t2/other"] });
  });

  it("breaks a full tie by node name", () => {
    const s = new Snapshot([node("b", { pods: [running("b1", 1, 4000)] }), node("a", { pods: [running("a1", 1, 4000)] })]);
    expect(findPreemption(pod("p", { priority: 2 }), s, "Spread")).toEqual({ node: "a", victims: ["a1"] });
  });

  it("gives back a victim that did not help", () => {
    // Greedy order evicts "small" (priority 1) first, but only evicting "big" makes room.
    const s = new Snapshot([node("a", { pods: [running("small", 1, 500), running("big", 2, 3500)] })]);
    expect(findPreemption(pod("p", { priority: 3, cpu: 3500 }), s, "Binpack")).toEqual({ node: "a", victims: ["big"] });
  });

  it("counts spread and anti-affinity members as they would be after the eviction", () => {
    const s = new Snapshot([
      node("a", { pods: [running("old-db", 1, 100, ["pg"]), running("web", 0, 100)] }),
      node("b", { pods: [running("db-primary", 50, 100, ["pg"])] }),
    ]);
    const p = pod("db-new", { priority: 10, antiAffinityGroup: "pg" });
    expect(schedule(p, s, "Binpack")).toMatchObject({ reasons: { "anti-affinity": 2 } });
    expect(findPreemption(p, s, "Binpack")).toEqual({ node: "a", victims: ["old-db"] });
  });

  it("never evicts pods of equal or higher priority, and returns undefined when nothing helps", () => {
    const s = new Snapshot([
      node("a", { pods: [running("same", 10, 4000)] }),
      node("b", { pods: [running("higher", 20, 4000)] }),
      node("c", { labels: { "kubernetes.io/arch": "arm64" }, pods: [running("cheap", 0, 4000)] }),
    ]);
    expect(findPreemption(pod("p", { priority: 10, nodeSelector: { "kubernetes.io/arch": "amd64" } }), s, "Binpack")).toBeUndefined();
    expect(findPreemption(pod("huge", { priority: 99, cpu: 8000 }), s, "Binpack")).toBeUndefined();
  });
});

describe("scale", () => {
  it("places 2000 pods over 5000 nodes with the counts adding up", () => {
    const archs = ["amd64", "arm64"];
    const arch = (i: number): string => archs[i % 2] ?? "amd64";
    const s = new Snapshot(
      names("node-", 5000).map((n, i) =>
        node(n, { cpu: 16_000, memory: 64 * Gi, labels: { "kubernetes.io/arch": arch(i), "cellcloud.io/rack": `r${i % 100}` } }),
      ),
    );
    const pods = names("vm-", 2000).map((k, i) =>
      pod(k, {
        cpu: 2000,
        memory: 4 * Gi,
        nodeSelector: { "kubernetes.io/arch": arch(i) },
        spread: { group: `set-${i % 20}`, domain: "rack", mode: "best-effort" },
      }),
    );
    const placed = placeAll(s, pods, "Binpack");
    expect(placed.every((n) => n.startsWith("node-"))).toBe(true);
    const total = s.nodes.reduce((sum, n) => sum + n.requested.pods, 0);
    expect(total).toBe(2000);
    for (const [i, n] of placed.entries()) expect(s.node(n)?.info.labels["kubernetes.io/arch"]).toBe(arch(i));
    // set-0 is 100 amd64 pods; amd64 nodes sit in the 50 even racks, and best-effort spread evens them out.
    for (let r = 0; r < 100; r++) expect(s.count("set-0", "rack", `r${r}`)).toBe(r % 2 === 0 ? 2 : 0);
  });
});
