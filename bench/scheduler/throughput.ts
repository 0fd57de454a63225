// Scheduling throughput computed the way upstream's scheduler_perf does it (kubernetes
// test/integration/scheduler_perf/util.go, throughputCollector, v1.34): a watch counts pods whose
// nodeName goes from empty to set; the count is sampled every second; samples before the first
// scheduled pod are ignored and the first sample after it is dropped (sampling and scheduling start
// independently); an interval that saw no new pod is not recorded as 0 pods/s but merged into the
// next interval that did, whose rate is then recorded once per merged interval; the collector stops
// when the last pod is scheduled, so a trailing partial interval is never recorded.
// Pure: the runner feeds it (time, cumulative count) samples.

/** One tick of the 1 s sampler: wall time in ms and the number of pods scheduled so far. */
export interface Sample {
  atMs: number;
  scheduled: number;
}

export interface ThroughputSummary {
  /** Per-interval rates in pods/s, in sampling order (what the percentiles are taken over). */
  rates: number[];
  average: number;
  p50: number;
  p90: number;
  p95: number;
  p99: number;
  /** Intervals whose actual length was off from the expected one by more than 10% (scheduler_perf warns). */
  irregularIntervals: number;
}

/** The per-interval rates upstream's throughputCollector records for these ticks. */
export function throughputRates(samples: readonly Sample[], intervalMs = 1000): { rates: number[]; irregular: number } {
  const rates: number[] = [];
  let started = false;
  let last = 0;
  let lastAt = 0;
  let skipped = 0;
  let irregular = 0;
  for (const { atMs, scheduled } of samples) {
    if (scheduled === 0) continue;
    if (!started) {
      started = true;
      last = scheduled;
      lastAt = atMs;
      continue;
    }
    const fresh = scheduled - last;
    if (fresh === 0) {
      skipped++;
      continue;
    }
    const seconds = (atMs - lastAt) / 1000;
    const expected = (intervalMs * (skipped + 1)) / 1000;
    if (Math.abs(seconds - expected) / expected > 0.1) irregular++;
    const rate = fresh / seconds;
    for (let i = 0; i <= skipped; i++) rates.push(rate);
    last = scheduled;
    lastAt = atMs;
    skipped = 0;
  }
  return { rates, irregular };
}

/** Upstream's percentile: the value at index ceil(n*p/100)-1 of the ascending sort. */
export function percentile(sortedAscending: readonly number[], p: number): number {
  if (sortedAscending.length === 0) return NaN;
  const i = Math.max(0, Math.ceil((sortedAscending.length * p) / 100) - 1);
  return sortedAscending[i]!;
}

export function summarizeThroughput(samples: readonly Sample[], intervalMs = 1000): ThroughputSummary {
  const { rates, irregular } = throughputRates(samples, intervalMs);
  const sorted = [...rates].sort((a, b) => a - b);
  const sum = rates.reduce((a, b) => a + b, 0);
  return {
    rates,
    average: rates.length ? sum / rates.length : NaN,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    irregularIntervals: irregular,
  };
}

/** p50/p99/max of per-pod latencies in ms (same percentile rule). */
export function summarizeLatency(latenciesMs: readonly number[]): { p50: number; p90: number; p99: number; max: number; n: number } {
  const sorted = [...latenciesMs].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
    n: sorted.length,
  };
}

/**
 * Counts transitions "nodeName empty → set" per pod, as the informer handler does: a pod first seen
 * already bound counts once; repeats and later updates do not. Deleted pods are forgotten.
 */
export class ScheduledCounter {
  private readonly bound = new Map<string, boolean>();
  scheduled = 0;

  /** Returns true when this observation is the pod's transition to scheduled. */
  observe(key: string, nodeName: string | undefined): boolean {
    const was = this.bound.get(key) ?? false;
    const is = !!nodeName;
    this.bound.set(key, was || is);
    if (!was && is) {
      this.scheduled++;
      return true;
    }
    return false;
  }

  forget(key: string): void {
    this.bound.delete(key);
  }
}

/**
 * A cross-check of the watch: the apiserver stamps PodScheduled=True (1 s resolution) when it accepts
 * a Binding. Binds per second over the whole seconds they span, whatever the watch's delivery did.
 */
export function serverSideBinds(scheduledAt: readonly string[]): { binds: number; spanSeconds: number; avgPerSecond: number; perSecond: number[] } | undefined {
  if (scheduledAt.length === 0) return undefined;
  const seconds = scheduledAt.map((t) => Math.floor(Date.parse(t) / 1000));
  const first = seconds.reduce((a, b) => Math.min(a, b));
  const last = seconds.reduce((a, b) => Math.max(a, b));
  const spanSeconds = last - first + 1;
  const perSecond = Array.from({ length: spanSeconds }, () => 0);
  for (const t of seconds) perSecond[t - first]!++;
  return { binds: seconds.length, spanSeconds, avgPerSecond: seconds.length / spanSeconds, perSecond };
}
