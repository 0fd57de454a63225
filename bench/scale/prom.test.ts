import { describe, expect, it } from "vitest";
import { apiserverWrites, counterDelta, histogramQuantiles, parseProm, sumOfDeltas, total, writesOf } from "./prom.ts";

const scrape = (lines: string[]) => parseProm(["# HELP x y", "# TYPE x counter", ...lines].join("\n"));

describe("parseProm", () => {
  it("reads names, labels (escaped quotes too) and values, +Inf included", () => {
    const s = parseProm('a_total{verb="get",resource="pods",msg="say \\"hi\\""} 3\nb 1.5\nh_bucket{le="+Inf"} 7\n');
    expect(s).toEqual([
      { name: "a_total", labels: { verb: "get", resource: "pods", msg: 'say "hi"' }, value: 3 },
      { name: "b", labels: {}, value: 1.5 },
      { name: "h_bucket", labels: { le: "+Inf" }, value: 7 },
    ]);
  });
});

describe("counterDelta and writesOf", () => {
  it("subtracts per series, counts new series from 0, groups by the named labels", () => {
    const before = scrape(['r{verb="get",resource="leases.coordination.k8s.io",code="200"} 10', 'r{verb="watch",resource="pods",code="200"} 4']);
    const after = scrape([
      'r{verb="get",resource="leases.coordination.k8s.io",code="200"} 16',
      'r{verb="update",resource="leases.coordination.k8s.io",code="200"} 6',
      'r{verb="watch",resource="pods",code="200"} 4',
      'r{verb="patch",resource="instances.compute.cellcloud.io",code="200"} 2',
      'r{verb="patch",resource="instances.compute.cellcloud.io",code="409"} 1',
    ]);
    const d = counterDelta(before, after, "r", ["verb", "resource"]);
    expect(Object.fromEntries(d)).toEqual({
      "get leases.coordination.k8s.io": 6, "update leases.coordination.k8s.io": 6, "patch instances.compute.cellcloud.io": 3,
    });
    expect(writesOf(d)).toEqual({ leases: 6, other: 3, byKind: [["patch instances.compute.cellcloud.io", 3]] });
    expect(total(after, "r", { verb: "patch" })).toBe(3);
  });
});

describe("histogramQuantiles", () => {
  it("interpolates inside the bucket of the delta, as histogram_quantile does", () => {
    const before = scrape(['t_bucket{controller="a",le="0.1"} 0', 't_bucket{controller="a",le="1"} 0', 't_bucket{controller="a",le="+Inf"} 0']);
    // 100 new observations: 50 in (0, 0.1], 49 in (0.1, 1], 1 above 1
    const after = scrape(['t_bucket{controller="a",le="0.1"} 50', 't_bucket{controller="a",le="1"} 99', 't_bucket{controller="a",le="+Inf"} 100']);
    const q = histogramQuantiles(before, after, "t", "controller", [0.5, 0.99, 1]).get("a")!;
    expect(q.count).toBe(100);
    expect(q.q[0]).toBeCloseTo(0.1);
    expect(q.q[1]).toBeCloseTo(1);
    expect(q.q[2]).toBe(1); // in +Inf: the highest finite bound
  });

  it("leaves out a controller with no observations in the window", () => {
    const s = scrape(['t_bucket{controller="idle",le="1"} 5', 't_bucket{controller="idle",le="+Inf"} 5']);
    expect(histogramQuantiles(s, s, "t", "controller", [0.5]).size).toBe(0);
  });
});

describe("sumOfDeltas", () => {
  it("adds what each span gained, a restarted process counting from 0, so several spans read as one", () => {
    const c = (v: number, verb = "create") => ({ name: "r", labels: { verb }, value: v });
    const h = (le: string, v: number) => ({ name: "h_bucket", labels: { controller: "a", le }, value: v });
    const spans: Array<[ReturnType<typeof c>[], ReturnType<typeof c>[]]> = [
      [[c(10)], [c(15), c(2, "patch")]],
      [[c(40)], [c(3)]], // the process restarted: 3 since
    ];
    expect(counterDelta([], sumOfDeltas(spans), "r", ["verb"])).toEqual(new Map([["create", 8], ["patch", 2]]));
    const hs = sumOfDeltas([[[h("1", 1), h("+Inf", 1)], [h("1", 3), h("+Inf", 5)]], [[], [h("1", 2), h("+Inf", 2)]]]);
    expect(histogramQuantiles([], hs, "h", "controller", [0.5]).get("a")?.count).toBe(6);
  });
});

describe("apiserverWrites", () => {
  it("counts every client's writes per object, by verb and resource, heartbeats and reads left out", () => {
    const before = scrape(['apiserver_request_total{code="201",resource="pods",subresource="",verb="POST"} 100']);
    const after = scrape([
      'apiserver_request_total{code="201",resource="pods",subresource="",verb="POST"} 300',
      'apiserver_request_total{code="201",resource="pods",subresource="binding",verb="POST"} 200',
      'apiserver_request_total{code="200",resource="pods",subresource="status",verb="PATCH"} 150',
      'apiserver_request_total{code="200",resource="pods",subresource="status",verb="PATCH",component="x"} 50',
      'apiserver_request_total{code="200",resource="leases",subresource="",verb="PUT"} 900',
      'apiserver_request_total{code="200",resource="nodes",subresource="status",verb="PATCH"} 900',
      'apiserver_request_total{code="200",resource="pods",subresource="",verb="LIST"} 7',
    ]);
    expect(apiserverWrites(before, after, 200)).toEqual({ total: 600, perObject: 3, byKind: [["PATCH pods/status", 200], ["POST pods", 200], ["POST pods/binding", 200]] });
  });
});
