import { describe, expect, it } from "vitest";
import { describeReport, nodeFacts, podFacts, validatePlacement, type NodeFacts, type PodFacts, type PodJson } from "./validate.ts";

const Gi = 1024 ** 3;
const node = (name: string, o: Partial<NodeFacts> = {}): NodeFacts => ({
  name,
  labels: { "kubernetes.io/arch": "amd64", "cellcloud.io/rack": "r1", "cellcloud.io/switch": "s1", ...o.labels },
  taints: o.taints ?? [],
  allocatable: o.allocatable ?? { cpu: 4000, memory: 8 * Gi, pods: 10 },
});
const pod = (name: string, nodeName: string | undefined, o: Partial<PodFacts> = {}): PodFacts => ({
  key: `bench/${name}`,
  namespace: "bench",
  ...(nodeName ? { nodeName } : {}),
  requests: o.requests ?? { cpu: 1000, memory: Gi },
  nodeSelector: o.nodeSelector ?? {},
  ...(o.requiredAffinity ? { requiredAffinity: o.requiredAffinity } : {}),
  tolerations: o.tolerations ?? [],
  annotations: o.annotations ?? {},
});
const strictHost = (group: string, max?: number) => ({
  "scheduling.cellcloud.io/spread-group": group,
  "scheduling.cellcloud.io/spread-domain": "host",
  "scheduling.cellcloud.io/spread-mode": "strict",
  ...(max ? { "scheduling.cellcloud.io/spread-max": String(max) } : {}),
});

describe("validatePlacement", () => {
  it("accepts a placement that fills a node exactly", () => {
    const r = validatePlacement([node("n1")], [1, 2, 3, 4].map((i) => pod(`p${i}`, "n1")));
    expect(r).toEqual({ ok: true, bound: 4, unbound: [], violations: [] });
  });

  it("flags cpu, memory and pod-count overcommit per node", () => {
    const small = node("n1", { allocatable: { cpu: 2000, memory: 2 * Gi, pods: 2 } });
    const r = validatePlacement([small, node("n2")], [pod("a", "n1"), pod("b", "n1"), pod("c", "n1", { requests: { cpu: 1, memory: 1 } })]);
    expect(r.ok).toBe(false);
    expect(r.violations).toEqual([
      { kind: "over-capacity", subject: "n1", detail: `cpu 2001 > allocatable 2000, memory ${2 * Gi + 1} > allocatable ${2 * Gi}, pods 3 > allocatable 2` },
    ]);
  });

  it("flags a pod on the wrong architecture, and one outside its required affinity", () => {
    const arm = node("arm1", { labels: { "kubernetes.io/arch": "arm64" } });
    const r = validatePlacement([arm], [
      pod("x86-only", "arm1", { nodeSelector: { "kubernetes.io/arch": "amd64" } }),
      pod("aff", "arm1", { requiredAffinity: [[{ key: "kubernetes.io/arch", operator: "In", values: ["amd64"] }]] }),
      pod("aff-ok", "arm1", { requiredAffinity: [[{ key: "x", operator: "Exists" }], [{ key: "kubernetes.io/arch", operator: "NotIn", values: ["amd64"] }]] }),
    ]);
    expect(r.violations.map((v) => [v.kind, v.subject])).toEqual([["node-selector", "bench/x86-only"], ["node-affinity", "bench/aff"]]);
  });

  it("flags an untolerated NoSchedule taint but not a tolerated one or a PreferNoSchedule one", () => {
    const dedicated = node("d1", { taints: [{ key: "dedicated", value: "db", effect: "NoSchedule" }, { key: "soft", effect: "PreferNoSchedule" }] });
    const r = validatePlacement([dedicated], [
      pod("ok", "d1", { tolerations: [{ key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" }] }),
      pod("all", "d1", { tolerations: [{ operator: "Exists" }] }),
      pod("bad", "d1", { tolerations: [{ key: "dedicated", operator: "Equal", value: "web" }] }),
    ]);
    expect(r.violations.map((v) => [v.kind, v.subject])).toEqual([["taint", "bench/bad"]]);
  });

  it("does not judge the node controller's heartbeat taints, which can appear after binding", () => {
    const lost = node("u1", { taints: [{ key: "node.kubernetes.io/unreachable", effect: "NoSchedule" }] });
    expect(validatePlacement([lost], [pod("a", "u1")]).ok).toBe(true);
  });

  it("checks strict spread per group and domain with spread-max, and ignores best-effort groups", () => {
    const roomy = { cpu: 100_000, memory: 100 * Gi, pods: 100 };
    const nodes = [node("h1", { allocatable: roomy }), node("h2", { labels: { "cellcloud.io/rack": "r2" }, allocatable: roomy })];
    const rack = (group: string) => ({ ...strictHost(group), "scheduling.cellcloud.io/spread-domain": "rack" });
    const r = validatePlacement(nodes, [
      pod("a1", "h1", { annotations: strictHost("a") }),
      pod("a2", "h2", { annotations: strictHost("a") }), // distinct hosts: fine
      pod("b1", "h1", { annotations: strictHost("b") }),
      pod("b2", "h1", { annotations: strictHost("b") }), // two on h1: violation
      pod("c1", "h1", { annotations: strictHost("c", 2) }),
      pod("c2", "h1", { annotations: strictHost("c", 2) }), // max 2: fine
      pod("d1", "h1", { annotations: { ...strictHost("d"), "scheduling.cellcloud.io/spread-mode": "best-effort" } }),
      pod("d2", "h1", { annotations: { ...strictHost("d"), "scheduling.cellcloud.io/spread-mode": "best-effort" } }),
      pod("e1", "h1", { annotations: rack("e") }),
      pod("e2", "h2", { annotations: rack("e") }), // r1 and r2: fine
    ]);
    expect(r.violations).toEqual([{ kind: "strict-spread", subject: "bench/b", detail: "2 members in host h1 (max 1)" }]);
  });

  it("reports unbound pods and pods bound to nodes outside the set", () => {
    const r = validatePlacement([node("n1")], [pod("a", undefined), pod("b", "ghost")]);
    expect(r.ok).toBe(false);
    expect(r.unbound).toEqual(["bench/a"]);
    expect(r.violations.map((v) => v.kind)).toEqual(["unknown-node"]);
    expect(describeReport(r)[0]).toBe("1 pod(s) unbound, e.g. bench/a");
  });
});

describe("facts from apiserver JSON", () => {
  it("counts init containers and overhead the way the schedulers do", () => {
    const p: PodJson = {
      metadata: { name: "p", namespace: "bench" },
      spec: {
        nodeName: "n1",
        containers: [{ resources: { requests: { cpu: "250m", memory: "512Mi" } } }, { resources: { requests: { cpu: "0.5" } } }],
        initContainers: [{ resources: { requests: { cpu: "1", memory: "256Mi" } } }],
        overhead: { cpu: "10m" },
        nodeSelector: { "kubernetes.io/arch": "arm64" },
      },
    };
    expect(podFacts(p)).toMatchObject({ key: "bench/p", nodeName: "n1", requests: { cpu: 1010, memory: 512 * 1024 ** 2 } });
  });

  it("reads allocatable quantities", () => {
    const n = nodeFacts({ metadata: { name: "n" }, status: { allocatable: { cpu: "32", memory: "128Gi", pods: "110" } } });
    expect(n.allocatable).toEqual({ cpu: 32000, memory: 128 * Gi, pods: 110 });
  });
});
