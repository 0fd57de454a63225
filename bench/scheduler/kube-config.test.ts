import { describe, expect, it } from "vitest";
import { benchPlugins, enabledPlugins, kubeSchedulerConfig } from "./kube-config.ts";

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
