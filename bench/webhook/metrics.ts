// What bench/webhook reads from kube-apiserver's /metrics to say where a create's time goes: the
// built-in ResourceQuota admission, each of our webhooks as the apiserver waits for it, and the
// writes the two quota mechanisms make. Histograms are compared between two scrapes (the measured
// phase only). Pure, so it is unit-tested.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format, keeping only the series whose name starts with one of `prefixes`. */
export function parseMetrics(text: string, prefixes: readonly string[]): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#") || !prefixes.some((p) => line.startsWith(p))) continue;
    const brace = line.indexOf("{");
    const close = line.lastIndexOf("}");
    const space = line.lastIndexOf(" ");
    if (space < 0) continue;
    const labels: Record<string, string> = {};
    let name = line.slice(0, space);
    if (brace >= 0 && close > brace && close < space) {
      name = line.slice(0, brace);
      const re = /(\w+)="((?:[^"\\]|\\.)*)"/g;
      const body = line.slice(brace + 1, close);
      for (let m = re.exec(body); m; m = re.exec(body)) labels[m[1]!] = m[2]!.replace(/\\(.)/g, "$1");
    }
    const raw = line.slice(space + 1).trim();
    const value = raw === "+Inf" ? Infinity : Number(raw);
    if (!Number.isNaN(value)) out.push({ name, labels, value });
  }
  return out;
}

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
  const q = (p: number) => quantile(buckets, count, p) * 1000;
  const r = (x: number) => Math.round(x * 100) / 100;
  return { count, sumSeconds: Math.round(sumSeconds * 1e6) / 1e6, meanMs: r((sumSeconds / count) * 1000), p50Ms: r(q(0.5)), p99Ms: r(q(0.99)) };
}

function quantile(buckets: Array<{ bound: number; n: number }>, count: number, q: number): number {
  const rank = q * count;
  let prevBound = 0;
  let prevN = 0;
  for (const b of buckets) {
    if (b.n >= rank) {
      if (b.bound === Infinity) return prevBound;
      return prevBound + (b.bound - prevBound) * ((rank - prevN) / Math.max(1, b.n - prevN));
    }
    prevBound = b.bound;
    prevN = b.n;
  }
  return prevBound;
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
