import { describe, expect, it } from "vitest";
import { chartDashboards, dashboardMetrics, exposedSeries, familyOf, metricsInExpr, metricsInVariableQuery, missingMetrics } from "./dashboards.ts";
import { fileURLToPath } from "node:url";

describe("metric names in PromQL", () => {
  it("drops functions, aggregations, grouping labels, matchers, durations and Grafana variables", () => {
    expect(metricsInExpr('histogram_quantile(0.99, sum by (controller, le) (rate(controller_runtime_reconcile_time_seconds_bucket{controller=~"$controller"}[$__rate_interval])))'))
      .toEqual(["controller_runtime_reconcile_time_seconds_bucket"]);
    expect(metricsInExpr("topk(10, sum by (tenant, currency) (cellcloud_billing_amount{month=\"$month\"}))")).toEqual(["cellcloud_billing_amount"]);
    expect(metricsInExpr("sort((cellcloud_billing_subscription_expiry_timestamp_seconds - time()) < 7 * 86400 > 0)")).toEqual(["cellcloud_billing_subscription_expiry_timestamp_seconds"]);
    expect(metricsInExpr("sum(rate(a_total[5m] offset 1h30m)) / ignoring(result) group_left(le) sum without (x) (b) or vector(0) and on() c unless bool d"))
      .toEqual(["a_total", "b", "c", "d"]);
    expect(metricsInExpr('max_over_time(x[1h:5m]) * 1e3 + count(y{a="}, z"}) - 0x1F + .5')).toEqual(["x", "y"]);
    expect(metricsInExpr('{__name__="by_name", job="j"} + ${var} + [[old]] + $v + ns:recorded:rate5m')).toEqual(["by_name", "ns:recorded:rate5m"]);
    expect(metricsInExpr("SUM BY (le) (m) # a comment naming not_a_metric")).toEqual(["m"]);
  });

  it("maps a histogram's series to its family", () => {
    expect(["w_seconds_bucket", "w_seconds_sum", "w_seconds_count", "adds_total"].map(familyOf)).toEqual(["w_seconds", "w_seconds", "w_seconds", "adds_total"]);
  });

  it("reads templating queries: label_values with and without a metric, query_result", () => {
    expect(metricsInVariableQuery('label_values(cellcloud_cell_capacity{cell=~"$cell"}, architecture)')).toEqual(["cellcloud_cell_capacity"]);
    expect(metricsInVariableQuery("label_values(cell)")).toEqual([]);
    expect(metricsInVariableQuery("query_result(topk(5, sum by (tenant) (cellcloud_quota_used)))")).toEqual(["cellcloud_quota_used"]);
    expect(metricsInVariableQuery("metrics(cellcloud_.*)")).toEqual([]);
    expect(metricsInVariableQuery("label_names()")).toEqual([]);
  });
});

describe("dashboard metrics", () => {
  const dash = {
    title: "D",
    templating: { list: [
      { name: "datasource", type: "datasource", query: "prometheus" },
      { name: "cell", type: "query", query: { query: "label_values(cells_total, cell)", refId: "V" } },
      { name: "old", type: "query", query: "label_values(old_style, x)" },
    ] },
    panels: [
      { id: 1, type: "timeseries", title: "Top", targets: [{ expr: "rate(a_total[5m])" }, { refId: "B" }] },
      { id: 2, type: "row", title: "Hidden", collapsed: true, panels: [{ id: 3, type: "stat", title: "Inner", targets: [{ expr: "h_seconds_count / h_seconds_sum" }] }] },
    ],
  };

  it("lists every panel's and row-nested panel's targets and every query variable", () => {
    expect(dashboardMetrics(dash).map((m) => `${m.panel}: ${m.series} → ${m.family}`)).toEqual([
      "Top: a_total → a_total",
      "Hidden / Inner: h_seconds_count → h_seconds",
      "Hidden / Inner: h_seconds_sum → h_seconds",
      "$cell: cells_total → cells_total",
      "$old: old_style → old_style",
    ]);
  });

  it("says which series a scrape lacks and where each is used; HELP and TYPE lines alone do not count", () => {
    const scrape = "# HELP a_total x\n# TYPE a_total counter\na_total{x=\"1\"} 3\n# TYPE h_seconds histogram\nh_seconds_sum 1\n# TYPE cells_total gauge\n";
    const exposed = exposedSeries(scrape);
    expect([...exposed]).toEqual(["a_total", "h_seconds_sum"]);
    expect(missingMetrics(dashboardMetrics(dash), exposed)).toEqual(["h_seconds_count (D: Hidden / Inner)", "cells_total (D: $cell)", "old_style (D: $old)"]);
  });

  it("finds metrics in every chart dashboard, each with a uid, a title and the cellcloud tag", () => {
    for (const [file, d] of chartDashboards(fileURLToPath(new URL("../../charts/cellcloud/files/dashboards", import.meta.url)))) {
      const { uid, title, tags } = d as { uid: string; title: string; tags: string[] };
      expect(uid, file).toMatch(/^cellcloud-/);
      expect(title, file).toMatch(/^CellCloud \/ /);
      expect(tags, file).toContain("cellcloud");
      expect(dashboardMetrics(d).length, file).toBeGreaterThan(0);
    }
  });
});
