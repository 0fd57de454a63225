import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { binding, bindCapOf, planFirstFit } from "./raw.ts";
import { nodeFacts, podFacts, validatePlacement, type NodeFacts, type PodFacts } from "./validate.ts";
import { benchNode, benchPod, type PodOptions } from "./workload.ts";

const opts = (o: Partial<PodOptions> = {}): PodOptions => ({
  namespace: "ns", runTag: "r1", schedulerName: "unserved", workload: "basic", groupSize: 5, topologySpread: false, ...o,
});
// As the apiserver would return them.
const json = (o: unknown) => JSON.parse(JSON.stringify(o));
const nodes = (n: number) => Array.from({ length: n }, (_, i) => nodeFacts(json(benchNode(i))));
const pods = (n: number, o: Partial<PodOptions> = {}) => Array.from({ length: n }, (_, i) => podFacts(json(benchPod(i, opts(o)))));
const bound = (ps: PodFacts[], placements: Array<{ key: string; node: string }>) => {
  const at = new Map(placements.map((p) => [p.key, p.node]));
  return ps.map((p) => ({ ...p, ...(at.has(p.key) ? { nodeName: at.get(p.key)! } : {}) }));
};

describe("first-fit planner", () => {
  it("places the basic workload so that the placement validates", () => {
    const ns = nodes(50);
    const ps = pods(500);
    const plan = planFirstFit(ns, ps);
    expect(plan.unplaced).toEqual([]);
    expect(plan.placements).toHaveLength(500);
    const report = validatePlacement(ns, bound(ps, plan.placements));
    expect(report.violations).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it("honours strict host spread groups", () => {
    const ns = nodes(20);
    const ps = pods(200, { workload: "spread" });
    const plan = planFirstFit(ns, ps);
    expect(plan.unplaced).toEqual([]);
    expect(validatePlacement(ns, bound(ps, plan.placements)).ok).toBe(true);
    const g0 = plan.placements.filter((p) => ps.find((q) => q.key === p.key)!.annotations["scheduling.cellcloud.io/spread-group"] === "g-0");
    expect(new Set(g0.map((p) => p.node)).size).toBe(5);
  });

  it("takes the first node by name whose arch, room and taints fit", () => {
    const ns = nodes(5).reverse(); // order of the input does not matter
    // pod 3 wants arm64: nodes 0-2 are amd64, so the first fit is node 3
    expect(planFirstFit(ns, [pods(4)[3]!]).placements).toEqual([{ key: "ns/bench-r1-000003", node: "bench-node-00003" }]);
    const tainted: NodeFacts[] = nodes(2).map((n, i) => (i === 0 ? { ...n, taints: [{ key: "maintenance", effect: "NoSchedule" }] } : n));
    const pod = pods(10)[9]!; // any arch
    expect(planFirstFit(tainted, [pod]).placements[0]!.node).toBe("bench-node-00001");
    expect(planFirstFit(tainted, [{ ...pod, tolerations: [{ key: "maintenance", operator: "Exists" }] }]).placements[0]!.node).toBe("bench-node-00000");
  });

  it("fills a node to its allocatable and names the pods no node can take", () => {
    const small: NodeFacts = { name: "n", labels: { "kubernetes.io/arch": "amd64" }, taints: [], allocatable: { cpu: 1000, memory: 8 * 2 ** 30, pods: 3 } };
    const pod = (i: number): PodFacts => ({ key: `ns/p${i}`, namespace: "ns", requests: { cpu: 400, memory: 2 ** 30 }, nodeSelector: {}, tolerations: [], annotations: {} });
    const plan = planFirstFit([small], [0, 1, 2].map(pod));
    expect(plan.placements.map((p) => p.key)).toEqual(["ns/p0", "ns/p1"]); // a third 400m would exceed 1000m
    expect(plan.unplaced).toEqual(["ns/p2"]);
    // a pod already bound there counts against it
    const already = { ...pod(9), nodeName: "n" };
    expect(planFirstFit([small], [already, pod(0), pod(1)]).unplaced).toEqual(["ns/p1"]);
  });

  it("respects required node affinity", () => {
    const ns = nodes(5);
    const p = { ...pods(10)[9]!, requiredAffinity: [[{ key: "kubernetes.io/hostname", operator: "In", values: ["bench-node-00004"] }]] };
    expect(planFirstFit(ns, [p]).placements[0]!.node).toBe("bench-node-00004");
  });
});

describe("raw binds", () => {
  it("read our scheduler's bind cap from its source", () => {
    expect(bindCapOf("const MAX_BINDS_IN_FLIGHT = 1_024;\n")).toBe(1024);
    expect(bindCapOf("nothing here")).toBeUndefined();
    const cap = bindCapOf(readFileSync(new URL("../../operators/platform/scheduler/scheduler.ts", import.meta.url), "utf8"));
    expect(cap).toBeGreaterThan(0);
  });

  it("write the Binding our scheduler writes", () => {
    expect(binding({ namespace: "ns", name: "p", uid: "u", node: "n" })).toEqual({
      apiVersion: "v1", kind: "Binding", metadata: { name: "p", namespace: "ns", uid: "u" }, target: { apiVersion: "v1", kind: "Node", name: "n" },
    });
  });
});
