// The snapshot's bookkeeping: totals and domain counts follow assume/forget, and clones are independent.
import { describe, expect, it } from "vitest";
import { type NodeInfo, type PlacedPod, Snapshot, SnapshotError } from "./snapshot.ts";

const node = (name: string, rack: string, sw: string, pods: PlacedPod[] = []): NodeInfo => ({
  name,
  labels: { "cellcloud.io/rack": rack, "cellcloud.io/switch": sw },
  taints: [],
  unschedulable: false,
  ready: true,
  allocatable: { cpu: 8000, memory: 32 << 30, pods: 110 },
  pods,
});

const placed = (key: string, groups: string[] = [], cpu = 1000): PlacedPod => ({
  key,
  priority: 0,
  requests: { cpu, memory: 1 << 30, pods: 1 },
  groups,
});

const cluster = (): Snapshot =>
  new Snapshot([node("n2", "r1", "s1"), node("n1", "r1", "s1", [placed("a", ["db"])]), node("n3", "r2", "s1")]);

describe("Snapshot", () => {
  it("lists nodes by name and counts the pods it was built with", () => {
    const s = cluster();
    expect(s.nodes.map((n) => n.info.name)).toEqual(["n1", "n2", "n3"]);
    expect(s.node("n1")?.requested).toEqual({ cpu: 1000, memory: 1 << 30, pods: 1 });
    expect(s.count("db", "host", "n1")).toBe(1);
    expect(s.count("db", "rack", "r1")).toBe(1);
    expect(s.count("db", "switch", "s1")).toBe(1);
    expect(s.nodeOf("a")).toBe("n1");
  });

  it("keeps totals and per-domain group counts current on assume and forget", () => {
    const s = cluster();
    s.assume("n2", placed("b", ["db", "web"], 500));
    expect(s.node("n2")?.requested).toEqual({ cpu: 500, memory: 1 << 30, pods: 1 });
    expect(s.count("db", "rack", "r1")).toBe(2);
    expect(s.count("web", "switch", "s1")).toBe(1);
    s.forget("n2", "b");
    expect(s.node("n2")?.requested).toEqual({ cpu: 0, memory: 0, pods: 0 });
    expect(s.count("db", "rack", "r1")).toBe(1);
    expect(s.count("web", "switch", "s1")).toBe(0);
    expect(s.nodeOf("b")).toBeUndefined();
  });

  it("does not count a node without a rack label in any rack", () => {
    const bare = { ...node("n9", "", ""), labels: {} };
    const s = new Snapshot([bare]);
    s.assume("n9", placed("x", ["db"]));
    expect(s.count("db", "host", "n9")).toBe(1);
    expect(s.domainCounts("db", "rack")).toBeUndefined();
  });

  it("rejects assuming a pod twice, forgetting an unknown pod, or an unknown node", () => {
    const s = cluster();
    expect(() => s.assume("n2", placed("a"))).toThrow(expect.objectContaining({ reason: "PodAlreadyAssumed" }));
    expect(() => s.forget("n2", "a")).toThrow(expect.objectContaining({ reason: "PodNotFound" }));
    expect(() => s.assume("nope", placed("z"))).toThrow(SnapshotError);
  });

  it("clones independently of the original", () => {
    const s = cluster();
    const before = s.toNodeInfos();
    const c = s.clone();
    c.assume("n3", placed("c", ["db"]));
    c.forget("n1", "a");
    expect(s.toNodeInfos()).toEqual(before);
    expect(s.count("db", "host", "n1")).toBe(1);
    expect(c.count("db", "host", "n1")).toBe(0);
    expect(c.count("db", "rack", "r2")).toBe(1);
    expect(c.nodeOf("c")).toBe("n3");
  });

  it("never changes the NodeInfo it was given", () => {
    const infos = [node("n1", "r1", "s1")];
    const s = new Snapshot(infos);
    s.assume("n1", placed("p"));
    expect(infos[0]?.pods).toEqual([]);
    expect(s.toNodeInfos()[0]?.pods.map((p) => p.key)).toEqual(["p"]);
  });
});
