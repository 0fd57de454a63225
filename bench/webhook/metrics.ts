// What bench/webhook reads from kube-apiserver's /metrics to say where a create's time goes: the
// built-in ResourceQuota admission, each of our webhooks as the apiserver waits for it, and the
// writes the two quota mechanisms make. Histograms are compared between two scrapes (the measured
// phase only). Pure, so it is unit-tested.

import { bucketQuantile, parseProm, type Sample } from "../scale/prom.ts";

export type { Sample };

/** Parses the Prometheus text format, keeping only the series whose name starts with one of `prefixes`. */
export const parseMetrics = (text: string, prefixes: readonly string[]): Sample[] => parseProm(text, prefixes);

/** One histogram's observations between two scrapes: count, sum and mean (seconds), and bucket-interpolated quantiles. */
export interface HistogramDelta {
  count: number;
  sumSeconds: number;
  meanMs: number;
  /** As Prometheus' histogram_quantile (linear within a bucket); coarse when the buckets are. */
  p50Ms: number;
  p99Ms: number;
}

const matches = (s: Sample, match: Record<string, string>) => Object.entries(match).every(([k, v]) => s.labels[k] === v);

/**
 * The observations histogram `name` gained between `before` and `after`, over every series whose
 * labels include `match` (summed). Undefined when it gained none.
 */
export function histogramDelta(before: Sample[], after: Sample[], name: string, match: Record<string, string>): HistogramDelta | undefined {
  const sum = (samples: Sample[], n: string, extra: (s: Sample) => boolean = () => true) =>
    samples.filter((s) => s.name === n && matches(s, match) && extra(s)).reduce((a, s) => a + s.value, 0);
  const count = sum(after, `${name}_count`) - sum(before, `${name}_count`);
  if (count <= 0) return undefined;
  const sumSeconds = sum(after, `${name}_sum`) - sum(before, `${name}_sum`);
  const bounds = [...new Set(after.filter((s) => s.name === `${name}_bucket` && matches(s, match)).map((s) => s.labels.le ?? ""))]
    .map((le) => ({ le, bound: le === "+Inf" ? Infinity : Number(le) }))
    .sort((a, b) => a.bound - b.bound);
  const buckets = bounds.map(({ le, bound }) => {
    const atLe = (s: Sample) => s.labels.le === le;
    return { bound, n: sum(after, `${name}_bucket`, atLe) - sum(before, `${name}_bucket`, atLe) };
  });
  const q = (p: number) => bucketQuantile(buckets.map((x) => ({ le: x.bound, n: x.n })), count, p) * 1000;
  const r = (x: number) => Math.round(x * 100) / 100;
  return { count, sumSeconds: Math.round(sumSeconds * 1e6) / 1e6, meanMs: r((sumSeconds / count) * 1000), p50Ms: r(q(0.5)), p99Ms: r(q(0.99)) };
}

/** The series bench/webhook reads (by prefix, to keep the scrape small). */
export const APISERVER_PREFIXES = [
  "apiserver_admission_controller_admission_duration_seconds",
  "apiserver_admission_webhook_admission_duration_seconds",
  "apiserver_admission_step_admission_duration_seconds",
  "apiserver_request_duration_seconds",
  "etcd_request_duration_seconds",
];

/** Where a create's time went in kube-apiserver during the measured phase. */
export function apiserverBreakdown(before: Sample[], after: Sample[]): Record<string, HistogramDelta | undefined> {
  return {
    resourceQuotaAdmission: histogramDelta(before, after, "apiserver_admission_controller_admission_duration_seconds", { name: "ResourceQuota", operation: "CREATE", type: "validate" }),
    webhookMutate: histogramDelta(before, after, "apiserver_admission_webhook_admission_duration_seconds", { name: "defaults.tenancy.cellcloud.io", operation: "CREATE" }),
    webhookValidate: histogramDelta(before, after, "apiserver_admission_webhook_admission_duration_seconds", { name: "quota.tenancy.cellcloud.io", operation: "CREATE" }),
    createInstance: histogramDelta(before, after, "apiserver_request_duration_seconds", { verb: "POST", resource: "instances", subresource: "" }),
    resourceQuotaStatusWrite: histogramDelta(before, after, "apiserver_request_duration_seconds", { verb: "PUT", resource: "resourcequotas", subresource: "status" }),
    ledgerStatusWrite: histogramDelta(before, after, "apiserver_request_duration_seconds", { verb: "PATCH", resource: "quotaledgers", subresource: "status" }),
    // the etcd transactions inside those writes (the rest of a write is the apiserver's own work)
    etcdResourceQuotaUpdate: histogramDelta(before, after, "etcd_request_duration_seconds", { operation: "update", resource: "resourcequotas" }),
    etcdLedgerUpdate: histogramDelta(before, after, "etcd_request_duration_seconds", { operation: "update", resource: "quotaledgers" }),
    etcdInstanceCreate: histogramDelta(before, after, "etcd_request_duration_seconds", { operation: "create", resource: "instances" }),
  };
}
