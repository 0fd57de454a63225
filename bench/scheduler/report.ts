// Result shapes and the printed table. Pure.
import type { ThroughputSummary } from "./throughput.ts";

export type SchedulerId = "kube" | "ours";
export type Mode = "drain" | "live";

export const schedulerTitle: Record<SchedulerId, string> = { kube: "kube-scheduler", ours: "cellcloud-scheduler" };

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
  /** ours: the commit and working-tree state it ran from. */
  source?: string;
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

/** "ratio ours/kube (avg pods/s)" per workload and mode. */
export function ratios(results: readonly RunResult[]): Array<{ workload: string; mode: Mode; ratio: number | undefined; apiserverRatio: number | undefined }> {
  const keys = [...new Set(results.map((r) => `${r.workload}\u0000${r.mode}`))];
  return keys.map((key) => {
    const [workload = "", mode = "drain"] = key.split("\u0000") as [string, Mode];
    const pick = (s: SchedulerId) => results.find((r) => r.workload === workload && r.mode === mode && r.scheduler === s);
    const ours = pick("ours");
    const kube = pick("kube");
    const o = ours?.serverSide?.avgPerSecond;
    const k = kube?.serverSide?.avgPerSecond;
    return { workload, mode, ratio: ratio(ours, kube), apiserverRatio: o && k && !ours?.error && !kube?.error ? o / k : undefined };
  });
}
