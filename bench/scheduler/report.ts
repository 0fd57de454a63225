// Result shapes and the printed table. Pure.
import type { ThroughputSummary } from "./throughput.ts";

/**
 * kube: kube-scheduler configured to be equivalent to ours (kube-config.ts); kube-default:
 * kube-scheduler as a user would run it (default plugins, adaptive percentageOfNodesToScore);
 * raw: the ceiling, Binding POSTs for placements decided before the clock starts (raw.ts).
 */
export type SchedulerId = "kube" | "ours" | "kube-default" | "raw";
export type Mode = "drain" | "live";

export const schedulerIds: readonly SchedulerId[] = ["kube", "ours", "kube-default", "raw"];

export const schedulerTitle: Record<SchedulerId, string> = {
  kube: "kube-scheduler", ours: "cellcloud-scheduler", "kube-default": "kube-scheduler (default config)", raw: "raw binds (ceiling)",
};

export interface RunResult {
  scheduler: SchedulerId;
  mode: Mode;
  workload: string;
  pods: number;
  /** Why the run did not happen or did not finish (the scheduler is missing, crashed, stalled). */
  error?: string;
  throughput?: ThroughputSummary;
  /** From the start of the measured phase (scheduler start in drain, first create in live) to the last bind. */
  totalSeconds?: number;
  /** drain: from process start to the first bind (startup and cache sync). */
  firstBindSeconds?: number;
  /** live: how fast the bench created the pods (if close to the scheduling rate, creation was the cap). */
  createPerSecond?: number;
  /** live: create response → watch sees nodeName, ms. */
  latencyMs?: { p50: number; p90: number; p99: number; max: number; n: number };
  memory?: { peakMiB: number; steadyMiB: number };
  cpuSeconds?: number;
  /** The bench process during the measured phase: its event-loop delay and pod-watch restarts. */
  bench?: { cpuSeconds: number; loopDelayP99Ms: number; loopDelayMaxMs: number; watchRestarts: number };
  valid?: { ok: boolean; bound: number; unbound: number; problems: string[] };
  /** Binds per second from the apiserver's PodScheduled timestamps (1 s resolution), a check on the watch. */
  serverSide?: { binds: number; spanSeconds: number; avgPerSecond: number; perSecond: number[] };
  /** Bench nodes not Ready or tainted: before the run, at most during it, and at its end. */
  nodesUnhealthy?: { atStart: number; maxDuringRun: number; atEnd: number };
  /** ours and raw: the commit and working-tree state it ran from (raw uses ours' client and bind cap). */
  source?: string;
  /** raw: Bindings in flight (our scheduler's cap), placements planned, nodes they use, planning time (before the clock). */
  raw?: { concurrency: number; planned: number; nodesUsed: number; planMs: number };
}

const f = (n: number | undefined, digits = 0) => (n === undefined || Number.isNaN(n) ? "-" : n.toFixed(digits));

export function ratio(ours: RunResult | undefined, kube: RunResult | undefined): number | undefined {
  const o = ours?.throughput?.average;
  const k = kube?.throughput?.average;
  return o && k && !Number.isNaN(o) && !Number.isNaN(k) ? o / k : undefined;
}

export function table(results: readonly RunResult[]): string[] {
  const head = ["workload", "mode", "scheduler", "avg/s", "p50/s", "p90/s", "p99/s", "total s", "apiserver avg/s", "1st bind s", "lat p50 ms", "lat p99 ms", "RSS peak MiB", "RSS steady MiB", "cpu s", "valid"];
  const rows = results.map((r) => [
    r.workload, r.mode, schedulerTitle[r.scheduler],
    ...(r.error && !r.throughput
      ? [...Array<string>(12).fill("-"), "FAILED (below)"]
      : [
        f(r.throughput?.average), f(r.throughput?.p50), f(r.throughput?.p90), f(r.throughput?.p99), f(r.totalSeconds, 1), f(r.serverSide?.avgPerSecond),
        f(r.firstBindSeconds, 1), f(r.latencyMs?.p50), f(r.latencyMs?.p99), f(r.memory?.peakMiB), f(r.memory?.steadyMiB),
        f(r.cpuSeconds, 1),
        r.valid ? (r.valid.ok ? "ok" : `NO (${r.valid.unbound} unbound, ${r.valid.problems.length} problem kinds)`) : r.error ? "FAILED (below)" : "-",
      ]),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < 3 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(head), ...rows.map(line)];
}

function apiserverRatio(ours: RunResult | undefined, other: RunResult | undefined): number | undefined {
  const o = ours?.serverSide?.avgPerSecond;
  const k = other?.serverSide?.avgPerSecond;
  return o && k && !ours?.error && !other?.error ? o / k : undefined;
}

export interface Ratios {
  workload: string;
  mode: Mode;
  /** ours ÷ kube-scheduler configured equivalently, by avg pods/s (scheduler_perf) and by the apiserver's timestamps. */
  ratio: number | undefined;
  apiserverRatio: number | undefined;
  /** ours ÷ kube-scheduler with its default configuration. */
  vsDefault: number | undefined;
  vsDefaultApiserver: number | undefined;
  /** ours ÷ raw Binding POSTs: the fraction of the ceiling. */
  ofCeiling: number | undefined;
  ofCeilingApiserver: number | undefined;
}

/** Ours against each other run, per workload and mode (undefined where a run is missing or failed). */
export function ratios(results: readonly RunResult[]): Ratios[] {
  const keys = [...new Set(results.map((r) => `${r.workload}\u0000${r.mode}`))];
  return keys.map((key) => {
    const [workload = "", mode = "drain"] = key.split("\u0000") as [string, Mode];
    const pick = (s: SchedulerId) => results.find((r) => r.workload === workload && r.mode === mode && r.scheduler === s);
    const ours = pick("ours");
    const [kube, kubeDefault, raw] = [pick("kube"), pick("kube-default"), pick("raw")];
    return {
      workload, mode,
      ratio: ratio(ours, kube), apiserverRatio: apiserverRatio(ours, kube),
      vsDefault: ratio(ours, kubeDefault), vsDefaultApiserver: apiserverRatio(ours, kubeDefault),
      ofCeiling: ratio(ours, raw), ofCeilingApiserver: apiserverRatio(ours, raw),
    };
  });
}

/**
 * The printed ratio lines, for the runs that took place: ours vs kube (equivalent config), ours vs
 * kube (default config), ours ÷ raw binds.
 */
export function ratioLines(rs: readonly Ratios[], results: readonly RunResult[]): string[] {
  const x = (v: number | undefined) => (v === undefined ? "n/a" : `${v.toFixed(2)}x`);
  const pct = (v: number | undefined) => (v === undefined ? "n/a" : `${(v * 100).toFixed(0)}%`);
  const ran = (r: Ratios, s: SchedulerId) => results.some((x) => x.workload === r.workload && x.mode === r.mode && x.scheduler === s);
  return rs.flatMap((r) => [
    ...(ran(r, "kube") ? [`ratio ours/kube (equivalent config), ${r.workload}/${r.mode}: ${x(r.ratio)} (scheduler_perf avg pods/s); ${x(r.apiserverRatio)} (apiserver avg/s)`] : []),
    ...(ran(r, "kube-default") ? [`ratio ours/kube (default config), ${r.workload}/${r.mode}: ${x(r.vsDefault)} (scheduler_perf avg pods/s); ${x(r.vsDefaultApiserver)} (apiserver avg/s)`] : []),
    ...(ran(r, "raw") ? [`fraction of the ceiling, ours ÷ raw binds, ${r.workload}/${r.mode}: ${pct(r.ofCeiling)} (scheduler_perf avg pods/s); ${pct(r.ofCeilingApiserver)} (apiserver avg/s)`] : []),
  ]);
}
