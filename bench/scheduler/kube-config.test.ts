import { describe, expect, it } from "vitest";
import { benchPlugins, enabledPlugins, kubeDefaultSchedulerConfig, kubeSchedulerConfig, nodesToScore } from "./kube-config.ts";

describe("kube-scheduler configuration", () => {
  const cfg = kubeSchedulerConfig({ kubeconfig: "/k", schedulerName: "bench-kube-scheduler" }) as {
    clientConnection: { qps: number; burst: number };
    percentageOfNodesToScore: number;
    leaderElection: { leaderElect: boolean };
    profiles: Array<{ schedulerName: string; plugins: Record<string, { disabled: Array<{ name: string }> }>; pluginConfig: Array<{ name: string; args: Record<string, unknown> }> }>;
  };

  it("enables exactly BENCH.md's plugins", () => {
    expect(enabledPlugins().sort()).toEqual([...benchPlugins].sort());
  });

  it("disables the defaults at every extension point, MultiPoint included", () => {
    const points = cfg.profiles[0]!.plugins;
    expect(Object.keys(points)).toContain("multiPoint");
    for (const p of Object.values(points)) expect(p.disabled).toEqual([{ name: "*" }]);
  });

  it("matches our scheduler's client limits and node scoring, in one profile", () => {
    expect(cfg.clientConnection).toMatchObject({ qps: 5000, burst: 5000 });
    expect(cfg.percentageOfNodesToScore).toBe(100);
    expect(cfg.leaderElection.leaderElect).toBe(false);
    expect(cfg.profiles).toHaveLength(1);
    expect(cfg.profiles[0]!.schedulerName).toBe("bench-kube-scheduler");
  });

  it("binpacks with MostAllocated on cpu and memory and has no default spread constraints", () => {
    const args = Object.fromEntries(cfg.profiles[0]!.pluginConfig.map((c) => [c.name, c.args]));
    expect(args.NodeResourcesFit).toMatchObject({
      scoringStrategy: { type: "MostAllocated", resources: [{ name: "cpu", weight: 1 }, { name: "memory", weight: 1 }] },
    });
    expect(args.PodTopologySpread).toMatchObject({ defaultingType: "List", defaultConstraints: [] });
  });
});

describe("kube-scheduler with its default configuration", () => {
  const cfg = kubeDefaultSchedulerConfig({ kubeconfig: "/k", schedulerName: "bench-kube-default" });

  it("changes only the client limits and leader election, in a profile of its own name", () => {
    expect(cfg).toEqual({
      apiVersion: "kubescheduler.config.k8s.io/v1",
      kind: "KubeSchedulerConfiguration",
      clientConnection: { kubeconfig: "/k", qps: 5000, burst: 5000 },
      leaderElection: { leaderElect: false },
      profiles: [{ schedulerName: "bench-kube-default" }],
    });
    expect(cfg).not.toHaveProperty("percentageOfNodesToScore");
  });

  it("scores nodes as upstream's adaptive numFeasibleNodesToFind does", () => {
    expect(nodesToScore(50)).toEqual({ percentage: 100, nodes: 50 });
    expect(nodesToScore(500)).toEqual({ percentage: 46, nodes: 230 });
    expect(nodesToScore(1000)).toEqual({ percentage: 42, nodes: 420 });
    expect(nodesToScore(5000)).toEqual({ percentage: 10, nodes: 500 });
    expect(nodesToScore(10_000)).toEqual({ percentage: 5, nodes: 500 });
    expect(nodesToScore(150, 10)).toEqual({ percentage: 10, nodes: 100 }); // never fewer than 100
    expect(nodesToScore(5000, 100)).toEqual({ percentage: 100, nodes: 5000 });
  });
});
