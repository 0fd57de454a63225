// The KubeSchedulerConfiguration of the kube-scheduler under test, written so the comparison is fair
// (shared/BENCH.md): client QPS/burst equal to ours (no limit there, 5000/5000 here), no leader
// election, 100% of nodes scored as ours does, and one profile with exactly BENCH.md's plugins:
// every extension point disables "*" (the defaults, including MultiPoint's) and enables only the
// listed plugins at the points they implement in v1.34. Also the default configuration a user would
// run (kubeDefaultSchedulerConfig, below). Pure; JSON is valid YAML for --config.

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

// --- kube-scheduler as a user would run it (BENCH.md "The ceilings and the anchors users would pick") ---

/**
 * kube-scheduler's default configuration: the default plugins (one profile with no plugin
 * configuration), `percentageOfNodesToScore` unset (adaptive), and only two things changed: client
 * qps/burst lifted to the equivalent run's (with the defaults 50/100 the client's rate limiter, not
 * scheduling, caps it near 50 binds/s) and leader election off. The profile has a name of its own,
 * because the plane's own kube-scheduler serves `default-scheduler`.
 */
export function kubeDefaultSchedulerConfig(o: { kubeconfig: string; schedulerName: string }): Record<string, unknown> {
  return {
    apiVersion: "kubescheduler.config.k8s.io/v1",
    kind: "KubeSchedulerConfiguration",
    clientConnection: { kubeconfig: o.kubeconfig, qps: kubeQps, burst: kubeBurst },
    leaderElection: { leaderElect: false },
    profiles: [{ schedulerName: o.schedulerName }],
  };
}

/**
 * How many feasible nodes kube-scheduler looks for (and then scores) per pod, as v1.34's
 * `numFeasibleNodesToFind` (pkg/scheduler/schedule_one.go) computes it: every node under 100 nodes;
 * otherwise the configured percentage, or when that is unset (0) the adaptive 50 - nodes/125
 * (at least 5); never fewer than 100 nodes.
 */
export function nodesToScore(numAllNodes: number, configuredPercentage = 0): { percentage: number; nodes: number } {
  if (numAllNodes < 100 || configuredPercentage >= 100) return { percentage: 100, nodes: numAllNodes };
  let percentage = configuredPercentage;
  if (percentage <= 0) percentage = Math.max(5, 50 - Math.trunc(numAllNodes / 125));
  return { percentage, nodes: Math.max(100, Math.trunc((numAllNodes * percentage) / 100)) };
}
