import { describe, expect, it } from "vitest";
import { ratioLines, ratios, table, type RunResult, type SchedulerId } from "./report.ts";
import { summarizeThroughput } from "./throughput.ts";
import { benchNode, benchPod, type PodOptions } from "./workload.ts";

const opts = (o: Partial<PodOptions> = {}): PodOptions => ({
  namespace: "ns", runTag: "r1", schedulerName: "s", workload: "basic", groupSize: 3, topologySpread: false, ...o,
});

describe("node set", () => {
  it("mixes amd64 and arm64 3:2 with rack and switch labels and allocatable equal to capacity", () => {
    const nodes = Array.from({ length: 100 }, (_, i) => benchNode(i));
    expect(nodes.filter((n) => n.metadata.labels["kubernetes.io/arch"] === "arm64")).toHaveLength(40);
    expect(new Set(nodes.map((n) => n.metadata.labels["cellcloud.io/rack"])).size).toBe(5);
    expect(new Set(nodes.map((n) => n.metadata.labels["cellcloud.io/switch"])).size).toBe(3);
    for (const n of nodes) {
      expect(n.status.allocatable).toEqual(n.status.capacity);
      expect(n.spec.providerID).toBe(`kwok://${n.metadata.name}`);
      expect(n.metadata.annotations["kwok.x-k8s.io/node"]).toBe("fake");
    }
  });
});

describe("pod set", () => {
  it("gives both schedulers the same basic pods but for schedulerName", () => {
    const a = benchPod(7, opts({ schedulerName: "bench-kube-scheduler", topologySpread: true }));
    const b = benchPod(7, opts({ schedulerName: "cellcloud-scheduler" }));
    expect({ ...a, spec: { ...a.spec, schedulerName: "" } }).toEqual({ ...b, spec: { ...b.spec, schedulerName: "" } });
    expect(benchPod(9, opts()).spec.nodeSelector).toBeUndefined(); // every tenth pod runs on any arch
    expect(benchPod(3, opts()).spec.nodeSelector).toEqual({ "kubernetes.io/arch": "arm64" });
  });

  it("writes a strict host spread per group, and PodTopologySpread only for kube-scheduler", () => {
    const ours = [0, 1, 2, 3].map((i) => benchPod(i, opts({ workload: "spread" })));
    expect(ours.map((p) => p.metadata.annotations?.["scheduling.cellcloud.io/spread-group"])).toEqual(["g-0", "g-0", "g-0", "g-1"]);
    expect(ours[0]!.metadata.annotations).toMatchObject({ "scheduling.cellcloud.io/spread-domain": "host", "scheduling.cellcloud.io/spread-mode": "strict" });
    expect(ours[0]!.spec.topologySpreadConstraints).toBeUndefined();
    const kube = benchPod(0, opts({ workload: "spread", topologySpread: true }));
    expect(kube.spec.topologySpreadConstraints).toEqual([{
      maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "DoNotSchedule",
      labelSelector: { matchLabels: { "bench.cellcloud.io/group": "g-0" } },
    }]);
    // a group shares one arch, so "k pods on k distinct eligible hosts" is what both must do
    expect(new Set(ours.slice(0, 3).map((p) => JSON.stringify(p.spec.nodeSelector))).size).toBe(1);
  });
});

describe("report", () => {
  const run = (scheduler: SchedulerId, counts: number[]): RunResult => ({
    scheduler, mode: "drain", workload: "basic", pods: 100,
    throughput: summarizeThroughput(counts.map((scheduled, i) => ({ atMs: (i + 1) * 1000, scheduled }))),
  });

  it("takes the ratio of average pods/s, ours over kube", () => {
    const rs = [run("kube", [1, 101, 201]), run("ours", [1, 201, 401])];
    expect(ratios(rs)).toEqual([{
      workload: "basic", mode: "drain", ratio: 2, apiserverRatio: undefined,
      vsDefault: undefined, vsDefaultApiserver: undefined, ofCeiling: undefined, ofCeilingApiserver: undefined,
    }]);
    expect(table(rs)).toHaveLength(3);
    expect(ratioLines(ratios(rs), rs)).toEqual(["ratio ours/kube (equivalent config), basic/drain: 2.00x (scheduler_perf avg pods/s); n/a (apiserver avg/s)"]);
  });

  it("sets ours against kube-scheduler's default config and against the raw-bind ceiling", () => {
    const rs = [run("kube", [1, 101, 201]), run("kube-default", [1, 401, 801]), run("raw", [1, 801, 1601]), run("ours", [1, 201, 401])];
    const [r] = ratios(rs);
    expect(r).toMatchObject({ ratio: 2, vsDefault: 0.5, ofCeiling: 0.25 });
    const lines = ratioLines(ratios(rs), rs);
    expect(lines).toHaveLength(3);
    expect(lines[1]).toContain("ours/kube (default config), basic/drain: 0.50x");
    expect(lines[2]).toContain("fraction of the ceiling, ours ÷ raw binds, basic/drain: 25%");
    expect(table(rs).join("\n")).toContain("raw binds (ceiling)");
  });

  it("has no ratio when a scheduler failed", () => {
    const rs = [run("kube", [1, 101, 201]), { scheduler: "ours", mode: "drain", workload: "basic", pods: 100, error: "MISSING" } as RunResult];
    expect(ratios(rs)[0]!.ratio).toBeUndefined();
    expect(table(rs)[2]).toContain("FAILED");
  });
});
