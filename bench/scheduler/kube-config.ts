// The KubeSchedulerConfiguration of the kube-scheduler under test, written so the comparison is fair
// (shared/BENCH.md): client QPS/burst equal to ours (no limit there, 5000/5000 here), no leader
// election, 100% of nodes scored as ours does, and one profile with exactly BENCH.md's plugins:
// every extension point disables "*" (the defaults, including MultiPoint's) and enables only the
// listed plugins at the points they implement in v1.34. Pure; JSON is valid YAML for --config.

export const kubeQps = 5000;
export const kubeBurst = 5000;
export const percentageOfNodesToScore = 100;

/** BENCH.md's plugin list, in the order it gives them. */
export const benchPlugins = [
  "SchedulingGates", "PrioritySort", "NodeUnschedulable", "NodeName", "TaintToleration", "NodeAffinity",
  "NodeResourcesFit", "PodTopologySpread", "DefaultPreemption", "DefaultBinder",
] as const;

type Plugin = { name: string; weight?: number };

/**
 * Where each listed plugin plugs in (kube-scheduler v1.34 sources; a plugin enabled at a point it does
 * not implement makes kube-scheduler refuse to start). Score weights are the v1 defaults.
 */
export const extensionPoints: Record<string, Plugin[]> = {
  preEnqueue: [{ name: "SchedulingGates" }, { name: "DefaultPreemption" }],
  queueSort: [{ name: "PrioritySort" }],
  preFilter: [{ name: "NodeAffinity" }, { name: "NodeResourcesFit" }, { name: "PodTopologySpread" }],
  filter: [
    { name: "NodeUnschedulable" }, { name: "NodeName" }, { name: "TaintToleration" }, { name: "NodeAffinity" },
    { name: "NodeResourcesFit" }, { name: "PodTopologySpread" },
  ],
  postFilter: [{ name: "DefaultPreemption" }],
  preScore: [{ name: "TaintToleration" }, { name: "NodeAffinity" }, { name: "NodeResourcesFit" }, { name: "PodTopologySpread" }],
  score: [
    { name: "TaintToleration", weight: 3 }, { name: "NodeAffinity", weight: 2 },
    { name: "NodeResourcesFit", weight: 1 }, { name: "PodTopologySpread", weight: 2 },
  ],
  reserve: [],
  permit: [],
  preBind: [],
  bind: [{ name: "DefaultBinder" }],
  postBind: [],
  multiPoint: [],
};

export interface KubeConfigOptions {
  kubeconfig: string;
  schedulerName: string;
  scoring?: "MostAllocated" | "LeastAllocated";
}

export function kubeSchedulerConfig(o: KubeConfigOptions): Record<string, unknown> {
  const plugins = Object.fromEntries(
    Object.entries(extensionPoints).map(([point, enabled]) => [point, { disabled: [{ name: "*" }], enabled }]),
  );
  return {
    apiVersion: "kubescheduler.config.k8s.io/v1",
    kind: "KubeSchedulerConfiguration",
    clientConnection: { kubeconfig: o.kubeconfig, qps: kubeQps, burst: kubeBurst },
    leaderElection: { leaderElect: false },
    percentageOfNodesToScore,
    profiles: [{
      schedulerName: o.schedulerName,
      percentageOfNodesToScore,
      plugins,
      pluginConfig: [
        {
          name: "NodeResourcesFit",
          args: {
            apiVersion: "kubescheduler.config.k8s.io/v1",
            kind: "NodeResourcesFitArgs",
            scoringStrategy: {
              type: o.scoring ?? "MostAllocated",
              resources: [{ name: "cpu", weight: 1 }, { name: "memory", weight: 1 }],
            },
          },
        },
        {
          name: "PodTopologySpread",
          args: {
            apiVersion: "kubescheduler.config.k8s.io/v1",
            kind: "PodTopologySpreadArgs",
            defaultingType: "List",
            defaultConstraints: [],
          },
        },
      ],
    }],
  };
}

/** The distinct plugin names the profile enables, for the report and the test. */
export function enabledPlugins(): string[] {
  return [...new Set(Object.values(extensionPoints).flatMap((ps) => ps.map((p) => p.name)))];
}
