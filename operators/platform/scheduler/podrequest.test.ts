import type * as k8s from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { SchedulerCache } from "./cache.ts";
import { schedulingAnnotations as annotations } from "../../api/platform.ts";
import { gangOf, InvalidPodError, nodeFacts, podRequest, podResources, wantsScheduling } from "./podrequest.ts";

function pod(name: string, extra: Partial<k8s.V1PodSpec> = {}, ann: Record<string, string> = {}, status: k8s.V1PodStatus = {}): k8s.V1Pod {
  return {
    metadata: { name, namespace: "ns", annotations: ann },
    spec: { schedulerName: "cellcloud-scheduler", containers: [{ name: "c", resources: { requests: { cpu: "500m", memory: "1Gi" } } }], ...extra },
    status,
  };
}

function node(name: string, extra: { ready?: boolean; cpu?: string; taints?: k8s.V1Taint[] } = {}): k8s.V1Node {
  return {
    metadata: { name, labels: { "kubernetes.io/arch": "arm64" } },
    spec: { taints: extra.taints ?? [] },
    status: {
      allocatable: { cpu: extra.cpu ?? "4", memory: "8Gi", pods: "110" },
      conditions: [{ type: "Ready", status: extra.ready === false ? "False" : "True" }],
    },
  };
}

describe("pod → PodRequest", () => {
  it("sums containers, takes the largest init container, adds overhead", () => {
    const p = pod("a", {
      containers: [
        { name: "a", resources: { requests: { cpu: "1", memory: "1Gi" } } },
        { name: "b", resources: { requests: { cpu: "250m" } } },
      ],
      initContainers: [{ name: "i", resources: { requests: { cpu: "2", memory: "512Mi" } } }],
      overhead: { cpu: "100m", memory: "64Mi" },
    });
    expect(podResources(p)).toEqual({ cpu: 2100, memory: 1024 ** 3 + 64 * 1024 ** 2, pods: 1 });
  });

  it("reads selectors, affinity, tolerations, priority and the spread / anti-affinity annotations", () => {
    const r = podRequest(pod("a", {
      priority: 1000,
      nodeSelector: { "kubernetes.io/arch": "arm64" },
      tolerations: [{ key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" }],
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [
        { matchExpressions: [{ key: "cellcloud.io/cell", operator: "In", values: ["cell-a"] }], matchFields: [{ key: "metadata.name", operator: "NotIn", values: ["n1"] }] },
      ] } } },
    }, { [annotations.spreadGroup]: "web", [annotations.spreadDomain]: "rack", [annotations.spreadMode]: "best-effort", [annotations.antiAffinityGroup]: "db" }));
    expect(r).toMatchObject({
      key: "ns/a", priority: 1000, nodeSelector: { "kubernetes.io/arch": "arm64" },
      tolerations: [{ key: "dedicated", operator: "Equal", value: "db", effect: "NoSchedule" }],
      requiredAffinity: [[{ key: "cellcloud.io/cell", operator: "In", values: ["cell-a"] }, { key: "kubernetes.io/hostname", operator: "NotIn", values: ["n1"] }]],
      spread: { group: "ns/web", domain: "rack", mode: "best-effort", maxPerDomain: 1 },
      antiAffinityGroup: "ns/db",
    });
  });

  it("refuses what it cannot honour, with a message naming the field", () => {
    const bad: Array<[k8s.V1Pod, RegExp]> = [
      [pod("a", {}, { [annotations.spreadGroup]: "g", [annotations.spreadDomain]: "planet" }), /spread-domain must be host, rack or switch, not "planet"/],
      [pod("a", {}, { [annotations.spreadGroup]: "g", [annotations.spreadMax]: "0" }), /spread-max must be a whole number/],
      [pod("a", { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: "x", operator: "Gt", values: ["1"] }] }] } } } }), /operator Gt on x is not supported/],
      [pod("a", { topologySpreadConstraints: [{ maxSkew: 1, topologyKey: "kubernetes.io/hostname", whenUnsatisfiable: "DoNotSchedule" }] }), /topologySpreadConstraints is not supported/],
      [pod("a", { affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ topologyKey: "kubernetes.io/hostname" }] } } }), /pod \(anti-\)affinity is not supported/],
    ];
    for (const [p, message] of bad) {
      expect(() => podRequest(p)).toThrow(InvalidPodError);
      expect(() => podRequest(p)).toThrow(message);
    }
    expect(() => gangOf(pod("a", {}, { [annotations.gang]: "g" }))).toThrow(/gang-size must be a whole number/);
    expect(gangOf(pod("a", {}, { [annotations.gang]: "g", [annotations.gangSize]: "3" }))).toEqual({ key: "ns/g", size: 3 });
  });

  it("only unbound, live, ungated pods of this scheduler want scheduling", () => {
    expect(wantsScheduling(pod("a"))).toBe(true);
    expect(wantsScheduling(pod("a", { schedulerName: "default-scheduler" }))).toBe(false);
    expect(wantsScheduling(pod("a", { nodeName: "n1" }))).toBe(false);
    expect(wantsScheduling(pod("a", { schedulingGates: [{ name: "wait" }] }))).toBe(false);
    expect(wantsScheduling({ ...pod("a"), metadata: { name: "a", deletionTimestamp: new Date() } })).toBe(false);
  });

  it("reads node facts; NotReady and taints are kept for the filters", () => {
    expect(nodeFacts(node("n1", { ready: false, cpu: "3500m", taints: [{ key: "k", effect: "NoExecute" }] }))).toEqual({
      name: "n1", labels: { "kubernetes.io/arch": "arm64" }, taints: [{ key: "k", effect: "NoExecute" }],
      unschedulable: false, ready: false, allocatable: { cpu: 3500, memory: 8 * 1024 ** 3, pods: 110 },
    });
  });
});

describe("SchedulerCache", () => {
  it("follows an in-place resize of a bound pod (pods/resize), and says when it freed room", () => {
    const c = new SchedulerCache();
    c.setNode(node("n1"));
    c.observePod(pod("vm", { nodeName: "n1" }));
    const sized = (cpu: string) => pod("vm", { nodeName: "n1", containers: [{ name: "c", resources: { requests: { cpu, memory: "1Gi" } } }] });
    expect(c.observePod(sized("2"))).toBe(false);
    expect(c.snapshot().node("n1")?.requested.cpu).toBe(2000);
    expect(c.observePod(sized("1"))).toBe(true);
    expect(c.snapshot().node("n1")?.requested.cpu).toBe(1000);
  });

  it("counts bound and assumed pods; a failed bind's forget() frees the node, a bound pod stays", () => {
    const c = new SchedulerCache();
    c.setNode(node("n1"));
    const bound = pod("bound", { nodeName: "n1" });
    c.observePod(bound);
    expect(c.snapshot().node("n1")?.requested.cpu).toBe(500);
    c.assume("ns/x", "n1", { key: "ns/x", priority: 0, requests: { cpu: 1000, memory: 0, pods: 1 }, groups: [] });
    expect(c.snapshot().node("n1")?.requested.cpu).toBe(1500);
    c.forget("ns/x");
    expect(c.snapshot().node("n1")?.requested.cpu).toBe(500);
    c.forget("ns/bound");
    expect(c.snapshot().node("n1")?.requested.cpu).toBe(500);
  });

  it("an assumed pod becomes bound when the informer shows it; finishing or deleting frees it", () => {
    const c = new SchedulerCache();
    c.setNode(node("n1"));
    const p = pod("p");
    c.assume("ns/p", "n1", { key: "ns/p", priority: 0, requests: { cpu: 500, memory: 0, pods: 1 }, groups: [] });
    expect(c.observePod(p)).toBe(false); // still unbound in the cache: stays assumed
    expect(c.snapshot().node("n1")?.requested.pods).toBe(1);
    expect(c.observePod(pod("p", { nodeName: "n1" }))).toBe(false);
    c.forget("ns/p"); // bound now: forget is a no-op
    expect(c.snapshot().node("n1")?.requested.pods).toBe(1);
    expect(c.observePod(pod("p", { nodeName: "n1" }, {}, { phase: "Succeeded" }))).toBe(true);
    expect(c.snapshot().node("n1")?.requested.pods).toBe(0);
    c.observePod(pod("q", { nodeName: "n1" }));
    expect(c.deletePod("ns/q")).toBe(true);
    expect(c.snapshot().node("n1")?.requested.pods).toBe(0);
  });

  it("rebuilds the snapshot only when a node fact changes; pods on unknown nodes count once it appears", () => {
    const c = new SchedulerCache();
    c.setNode(node("n1"));
    c.observePod(pod("early", { nodeName: "n2" }));
    const s1 = c.snapshot();
    expect(c.setNode(node("n1"))).toBe(false); // same facts (a heartbeat)
    expect(c.snapshot()).toBe(s1);
    expect(c.setNode(node("n2"))).toBe(true);
    const s2 = c.snapshot();
    expect(s2).not.toBe(s1);
    expect(s2.node("n2")?.requested.cpu).toBe(500);
    expect(c.setNode(node("n1", { ready: false }))).toBe(true);
    expect(c.snapshot().node("n1")?.info.ready).toBe(false);
    c.deleteNode("n2");
    expect(c.snapshot().node("n2")).toBeUndefined();
  });
});
