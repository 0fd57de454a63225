import { describe, expect, it } from "vitest";
import { apiserverBreakdown, histogramDelta, parseMetrics } from "./metrics.ts";

const H = "apiserver_admission_controller_admission_duration_seconds";
const scrape = (n5: number, n25: number, nInf: number, sum: number, otherCount = 7) => [
  "# HELP apiserver_admission_controller_admission_duration_seconds [STABLE] ...",
  "# TYPE apiserver_admission_controller_admission_duration_seconds histogram",
  `${H}_bucket{name="ResourceQuota",operation="CREATE",rejected="false",type="validate",le="0.005"} ${n5}`,
  `${H}_bucket{name="ResourceQuota",operation="CREATE",rejected="false",type="validate",le="0.025"} ${n25}`,
  `${H}_bucket{name="ResourceQuota",operation="CREATE",rejected="false",type="validate",le="+Inf"} ${nInf}`,
  `${H}_sum{name="ResourceQuota",operation="CREATE",rejected="false",type="validate"} ${sum}`,
  `${H}_count{name="ResourceQuota",operation="CREATE",rejected="false",type="validate"} ${nInf}`,
  `${H}_count{name="ResourceQuota",operation="UPDATE",rejected="false",type="validate"} ${otherCount}`,
  `etcd_request_duration_seconds_count{operation="get",type="x"} 3`,
].join("\n");

describe("parseMetrics", () => {
  it("keeps the series of the given prefixes, with labels and +Inf", () => {
    const s = parseMetrics(scrape(1, 2, 3, 0.5), [H]);
    expect(s).toHaveLength(6);
    expect(s[2]).toEqual({ name: `${H}_bucket`, labels: { name: "ResourceQuota", operation: "CREATE", rejected: "false", type: "validate", le: "+Inf" }, value: 3 });
    expect(parseMetrics('x{a="q\\"uote"} 1\ny 2', ["x", "y"])).toEqual([{ name: "x", labels: { a: 'q"uote' }, value: 1 }, { name: "y", labels: {}, value: 2 }]);
  });
});

describe("histogramDelta", () => {
  it("takes count, mean and quantiles of what was observed between the scrapes", () => {
    const before = parseMetrics(scrape(10, 10, 10, 0.01), [H]);
    // 100 more: 50 under 5 ms, 40 in (5, 25] ms, 10 above; sum 1.2 s
    const after = parseMetrics(scrape(60, 100, 110, 1.21), [H]);
    const d = histogramDelta(before, after, H, { name: "ResourceQuota", operation: "CREATE" })!;
    expect(d.count).toBe(100);
    expect(d.meanMs).toBe(12);
    expect(d.p50Ms).toBe(5); // rank 50 ends the first bucket
    expect(d.p99Ms).toBe(25); // in +Inf: the highest finite bound
  });

  it("is undefined when nothing was observed, and sums the series a match covers", () => {
    const a = parseMetrics(scrape(1, 1, 1, 0.001), [H]);
    expect(histogramDelta(a, a, H, { name: "ResourceQuota" })).toBeUndefined();
    const b = parseMetrics(scrape(1, 1, 1, 0.001, 9), [H]);
    expect(histogramDelta([], b, H, { name: "ResourceQuota" })?.count).toBe(10); // CREATE 1 + UPDATE 9 (counts only)
    expect(apiserverBreakdown(a, a).resourceQuotaAdmission).toBeUndefined();
  });
});
