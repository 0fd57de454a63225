import { describe, expect, it } from "vitest";
import { aggregateCell, cellInUse, cellStatus, type Amounts } from "./cell.ts";
import type { Node } from "./nodepool.ts";

function node(name: string, arch: string, o: { ready?: boolean; cordoned?: boolean; cpu?: string; allocCpu?: string } = {}): Node {
  return {
    metadata: { name, labels: { "kubernetes.io/arch": arch } },
    spec: { unschedulable: o.cordoned },
    status: {
      capacity: { cpu: o.cpu ?? "64", memory: "256Gi", pods: "110" },
      allocatable: { cpu: o.allocCpu ?? o.cpu ?? "64", memory: "256Gi", pods: "110" },
      conditions: [{ type: "Ready", status: o.ready === false ? "False" : "True" }],
    },
  } as Node;
}

const use: Record<string, Amounts> = { a0: { cpu: 1500, memory: 2 * 1024 ** 3, pods: 2 }, r0: { cpu: 250, memory: 512 * 1024 ** 2, pods: 1 } };
const none: Amounts = { cpu: 0, memory: 0, pods: 0 };

describe("aggregateCell", () => {
  const nodes = [
    node("a0", "amd64", { allocCpu: "128" }),
    node("a1", "amd64", { ready: false }),
    node("r0", "arm64", { cordoned: true, cpu: "96" }),
  ];
  const agg = aggregateCell(nodes, 2, (n) => use[n.metadata.name] ?? none);

  it("counts nodes by state: a failed node is notReady, a cordoned one still ready", () => {
    expect(agg.nodes).toEqual({ total: 3, ready: 2, notReady: 1, cordoned: 1 });
  });

  it("sums capacity, allocatable and allocated per architecture and in total", () => {
    expect(agg.architectures.get("amd64")).toEqual({
      nodes: 2,
      capacity: { cpu: 128_000, memory: 2 * 256 * 1024 ** 3, pods: 220 },
      allocatable: { cpu: 192_000, memory: 2 * 256 * 1024 ** 3, pods: 220 },
      allocated: use.a0,
    });
    expect(agg.total.capacity.cpu).toBe(224_000);
    expect(agg.total.allocated).toEqual({ cpu: 1750, memory: 2.5 * 1024 ** 3, pods: 3 });
  });

  it("formats the status as quantity strings, with a Ready summary", () => {
    const { fields, ready } = cellStatus(agg);
    expect(fields.pools).toBe(2);
    expect(fields.architectures?.arm64).toEqual({
      nodes: 1,
      capacity: { cpu: "96", memory: "256Gi", pods: "110" },
      allocatable: { cpu: "96", memory: "256Gi", pods: "110" },
      allocated: { cpu: "250m", memory: "512Mi", pods: "1" },
    });
    expect(fields.total?.allocated).toEqual({ cpu: "1750m", memory: "2560Mi", pods: "3" });
    expect(ready).toEqual({ type: "Ready", status: "True", reason: "Aggregated", message: "3 node(s) in 2 pool(s): 2 Ready, 1 NotReady, 1 cordoned" });
  });

  it("leaves out architectures without nodes", () => {
    const { fields } = cellStatus(aggregateCell([], 0, () => none));
    expect(fields.architectures).toEqual({});
    expect(fields.total).toEqual({ nodes: 0, capacity: { cpu: "0", memory: "0", pods: "0" }, allocatable: { cpu: "0", memory: "0", pods: "0" }, allocated: { cpu: "0", memory: "0", pods: "0" } });
  });
});

describe("cellInUse", () => {
  it("holds a cell while pools name it, listing at most ten of them", () => {
    expect(cellInUse([])).toBeUndefined();
    expect(cellInUse(["a", "b"])).toMatchObject({ status: "False", reason: "InUse", message: "cell is still used by node pool(s) a, b; delete them first" });
    const many = Array.from({ length: 12 }, (_, i) => `p${i}`);
    expect(cellInUse(many)?.message).toMatch(/p9 and 2 more; delete them first$/);
  });
});
