// The cell scheduler against the real control plane: placement by architecture, strict spread,
// all-or-nothing gangs, preemption, re-placement after a host fails, and capacity that holds while
// many pods race for it. Each test gets hosts of its own (selected by a per-test label), so the
// counts in "0/N nodes" are this cluster's, but the placements are the test's alone.
import type * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { schedulingAnnotations as annotations, schedulerName } from "../operators/api/platform.ts";
import { cpuMillis } from "../operators/api/quantity.ts";
import { clients, eventually, uniqueName, useNamespace } from "./support/kube.ts";
import { startManager, type InProcessManager } from "./support/manager.ts";
import { NODE_NOT_READY_LABEL, condition, kwokNode, type KwokNodeOptions } from "./support/nodes.ts";

const { core, apps, kc } = clients();
const ns = useNamespace("sched");
const runLabel = "cellcloud.io/test-hosts";
const created: string[] = [];
const priorityClasses: string[] = [];
let manager: InProcessManager;

beforeAll(async () => {
  manager = await startManager(["scheduler"]);
});

afterAll(async () => {
  await manager?.mgr.stop();
  for (const name of created) await core.deleteNode({ name }).catch(() => undefined);
  const scheduling = kc.makeApiClient((await import("@kubernetes/client-node")).SchedulingV1Api);
  for (const name of priorityClasses) await scheduling.deletePriorityClass({ name }).catch(() => undefined);
});

/** `count` Ready hosts labelled for one test (a new group, or `join` an existing one). */
async function hosts(count: number, opts: KwokNodeOptions & { prefix?: string; join?: string } = {}): Promise<{ group: string; names: string[] }> {
  const prefix = uniqueName(opts.prefix ?? "h");
  const group = opts.join ?? prefix;
  const names = Array.from({ length: count }, (_, i) => `${prefix}-${i}`);
  await Promise.all(names.map((name) => core.createNode({
    body: kwokNode(name, { cpu: "4", memory: "8Gi", pods: "110", ...opts, labels: { [runLabel]: group, "cellcloud.io/rack": `${name}-rack`, ...opts.labels } }),
  })));
  created.push(...names);
  // Ready, and the node lifecycle controller has lifted the not-ready taint every new node starts with.
  await eventually(async () => {
    const nodes = await Promise.all(names.map((name) => core.readNode({ name })));
    return nodes.every((n) => condition(n, "Ready") === "True" && !n.spec?.taints?.some((t) => t.key.startsWith("node.kubernetes.io/")));
  }, { what: `${count} hosts Ready and untainted` });
  return { group, names };
}

interface PodOptions {
  group: string;
  cpu?: string;
  arch?: string;
  annotations?: Record<string, string>;
  priorityClassName?: string;
  tolerations?: k8s.V1Toleration[];
}

function podSpec(o: PodOptions): k8s.V1PodSpec {
  return {
    schedulerName,
    nodeSelector: { [runLabel]: o.group, ...(o.arch ? { "kubernetes.io/arch": o.arch } : {}) },
    containers: [{ name: "vm", image: "registry.local/launcher:1", resources: { requests: { cpu: o.cpu ?? "1", memory: "1Gi" } } }],
    ...(o.priorityClassName ? { priorityClassName: o.priorityClassName } : {}),
    ...(o.tolerations ? { tolerations: o.tolerations } : {}),
  };
}

function createPod(name: string, o: PodOptions): Promise<k8s.V1Pod> {
  return core.createNamespacedPod({ namespace: ns.name, body: { metadata: { name, annotations: o.annotations ?? {} }, spec: podSpec(o) } });
}

const readPod = (name: string) => core.readNamespacedPod({ name, namespace: ns.name });

async function boundNodes(names: string[]): Promise<Record<string, string | undefined>> {
  return Object.fromEntries(await Promise.all(names.map(async (n) => [n, (await readPod(n)).spec?.nodeName] as const)));
}

async function scheduledCondition(name: string): Promise<k8s.V1PodCondition | undefined> {
  return (await readPod(name)).status?.conditions?.find((c) => c.type === "PodScheduled");
}

async function eventsFor(name: string, reason: string): Promise<k8s.CoreV1Event[]> {
  const list = await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: `involvedObject.name=${name}` });
  return list.items.filter((e) => e.reason === reason);
}

async function priorityClass(value: number): Promise<string> {
  const scheduling = kc.makeApiClient((await import("@kubernetes/client-node")).SchedulingV1Api);
  const name = uniqueName(`prio-${value}`);
  await scheduling.createPriorityClass({ body: { metadata: { name }, value, preemptionPolicy: "PreemptLowerPriority" } });
  priorityClasses.push(name);
  return name;
}

describe("cell scheduler", () => {
  it("places ARM-only pods only on arm64 hosts, and says why the rest cannot go anywhere", async () => {
    const x86 = await hosts(2, { arch: "amd64", prefix: "x86" });
    const arm = await hosts(2, { arch: "arm64", prefix: "arm", join: x86.group });
    const names = Array.from({ length: 6 }, (_, i) => `arm-${i}`);
    await Promise.all(names.map((n) => createPod(n, { group: x86.group, arch: "arm64" })));
    const placed = await eventually(async () => {
      const b = await boundNodes(names);
      return Object.values(b).every(Boolean) && b;
    }, { what: "ARM pods bound" });
    for (const node of Object.values(placed)) expect(arm.names).toContain(node);
    expect((await eventsFor("arm-0", "Scheduled"))[0]?.message).toMatch(/Successfully assigned .*arm-0 to arm-/);

    // A pod for an architecture no host has stays Pending with a message a human can act on.
    await createPod("riscv", { group: x86.group, arch: "riscv64" });
    const cond = await eventually(scheduledCondition.bind(null, "riscv"), { what: "PodScheduled=False" });
    expect(cond).toMatchObject({ status: "False", reason: "Unschedulable" });
    expect(cond.message).toMatch(/^0\/(\d+) nodes are available: \1 wrong architecture\.$/);
    await eventually(async () => (await eventsFor("riscv", "FailedScheduling")).length > 0, { what: "FailedScheduling Event" });
  });

  it("a strict host spread of 4 pods over 3 hosts leaves one Pending, and places it when a 4th host appears", async () => {
    const { group, names: nodes } = await hosts(3);
    const spread = { [annotations.spreadGroup]: "web", [annotations.spreadDomain]: "host", [annotations.spreadMode]: "strict" };
    const names = ["web-0", "web-1", "web-2", "web-3"];
    await Promise.all(names.map((n) => createPod(n, { group, annotations: spread, cpu: "100m" })));
    const pending = await eventually(async () => {
      const b = await boundNodes(names);
      const unbound = names.filter((n) => !b[n]);
      const bound = Object.values(b).filter(Boolean);
      if (bound.length !== 3 || unbound.length !== 1) return false;
      expect(new Set(bound).size).toBe(3); // one per host
      const c = await scheduledCondition(unbound[0] as string);
      // An earlier attempt's message may still show until the retry after the last change lands.
      return c?.status === "False" && c.message?.includes("3 spread constraint") && { name: unbound[0] as string, message: c.message };
    }, { what: "three bound on distinct hosts, one pending" });
    expect(pending.message).toMatch(/3 spread constraint/);
    expect(nodes).toHaveLength(3);

    // The cluster changed: the pending pod is retried without anyone touching it.
    const extra = await hosts(1, { join: group });
    await eventually(async () => (await readPod(pending.name)).spec?.nodeName === extra.names[0], { what: "pending pod placed on the new host" });
  });

  it("an all-or-nothing group of 3 never ends partially bound", async () => {
    const { group } = await hosts(2); // 2 × 4 cpu
    const gang = (name: string) => ({ [annotations.gang]: name, [annotations.gangSize]: "3" });
    // Each member needs 3 cpu, so only two fit: none may be bound.
    const names = ["g-0", "g-1", "g-2"];
    await createPod("g-0", { group, cpu: "3", annotations: gang("big") });
    await createPod("g-1", { group, cpu: "3", annotations: gang("big") });
    // The first member may be marked before the second exists ("1 exist"); wait for the message to catch up.
    const waiting = await eventually(async () => { const c = await scheduledCondition("g-0"); return c?.message?.includes("2 exist") && c; }, { what: "gang waiting with 2 members" });
    expect(waiting).toMatchObject({ status: "False", reason: "WaitingForGang" });
    expect(waiting.message).toMatch(/gang big needs 3 pods and 2 exist/);
    await createPod("g-2", { group, cpu: "3", annotations: gang("big") });
    await eventually(async () => (await scheduledCondition("g-2"))?.message?.includes("does not fit"), { what: "gang unschedulable" });
    for (let i = 0; i < 8; i++) { // it stays so, whatever order the members are retried in
      expect(Object.values(await boundNodes(names)).filter(Boolean)).toEqual([]);
      await new Promise((r) => setTimeout(r, 250));
    }
    // A third host makes room for all three at once.
    await hosts(1, { join: group });
    await eventually(async () => Object.values(await boundNodes(names)).every(Boolean), { what: "whole gang bound" });
    expect(new Set(Object.values(await boundNodes(names))).size).toBe(3);
  });

  it("a high-priority pod preempts a lower-priority one and takes its place", async () => {
    const { group, names: [node] } = await hosts(1);
    const [low, high] = await Promise.all([priorityClass(10), priorityClass(1000)]);
    await createPod("low-0", { group, cpu: "2", priorityClassName: low });
    await createPod("low-1", { group, cpu: "2", priorityClassName: low });
    await eventually(async () => Object.values(await boundNodes(["low-0", "low-1"])).every(Boolean), { what: "low-priority pods bound" });
    const lowUids = new Set(await Promise.all(["low-0", "low-1"].map(async (n) => (await readPod(n)).metadata?.uid)));
    await createPod("high", { group, cpu: "3", priorityClassName: high });
    await eventually(async () => (await readPod("high")).spec?.nodeName === node, { what: "high-priority pod bound", timeoutMs: 90_000 });
    // Both low pods had to go (2 + 2 + 3 > 4, 2 + 3 > 4); the events say by whom.
    const remaining = (await core.listNamespacedPod({ namespace: ns.name })).items.filter((p) => lowUids.has(p.metadata?.uid));
    expect(remaining.filter((p) => !p.metadata?.deletionTimestamp)).toEqual([]);
    const preempted = await eventually(async () => {
      const e = [...await eventsFor("low-0", "Preempted"), ...await eventsFor("low-1", "Preempted")];
      return e.length > 0 && e;
    }, { what: "Preempted events" });
    expect(preempted[0]?.message).toMatch(new RegExp(`Preempted by ${ns.name}/high \\(priority 1000\\) on node ${node}`));
  });

  it("re-places a failed host's pods on healthy hosts and records it in Events", async () => {
    const zone = uniqueName("zone");
    const { group, names } = await hosts(3, { zone, cpu: "8" });
    const [failing] = names as [string];
    // Short not-ready tolerations, as the ECS launcher will carry, so the eviction is quick.
    const tolerations = ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"].map((key) => ({ key, operator: "Exists", effect: "NoExecute", tolerationSeconds: 2 }));
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "ha" },
        spec: {
          replicas: 6, selector: { matchLabels: { app: "ha" } },
          template: { metadata: { labels: { app: "ha" } }, spec: podSpec({ group, cpu: "1", tolerations }) },
        },
      },
    });
    const haPods = async () => (await core.listNamespacedPod({ namespace: ns.name, labelSelector: "app=ha" })).items.filter((p) => !p.metadata?.deletionTimestamp);
    await eventually(async () => (await haPods()).filter((p) => p.status?.phase === "Running").length === 6, { what: "6 replicas Running" });
    // Binpack fills the first host; make sure the failing host holds some replicas.
    const before = (await haPods()).map((p) => p.metadata?.name as string);
    const onFailing = (await haPods()).filter((p) => p.spec?.nodeName === failing).map((p) => p.metadata?.name as string);
    expect(onFailing.length).toBeGreaterThan(0);

    const labelPath = `/metadata/labels/${NODE_NOT_READY_LABEL.replace("/", "~1")}`;
    await core.patchNode({ name: failing, body: [{ op: "add", path: labelPath, value: "true" }] });
    const replaced = await eventually(async () => {
      const pods = await haPods();
      return pods.length === 6 && pods.every((p) => p.spec?.nodeName && p.spec.nodeName !== failing && p.status?.phase === "Running") && pods;
    }, { what: "replicas re-placed away from the failed host", timeoutMs: 120_000 });
    const newOnes = replaced.filter((p) => !before.includes(p.metadata?.name as string));
    expect(newOnes.length).toBe(onFailing.length);
    // The eviction (kube-controller-manager) and the new placement (ours) are both on record.
    const evicted = await eventually(async () => (await eventsFor(onFailing[0] as string, "TaintManagerEviction")).length > 0, { what: "eviction Event" });
    expect(evicted).toBe(true);
    const newcomer = newOnes[0] as k8s.V1Pod;
    const scheduled = await eventually(async () => (await eventsFor(newcomer.metadata?.name as string, "Scheduled"))[0], { what: "Scheduled Event" });
    expect(scheduled.message).toMatch(/Successfully assigned/);
    await core.patchNode({ name: failing, body: [{ op: "remove", path: labelPath }] });
  });

  it("never puts a host over its capacity while 80 pods race for 3 hosts", async () => {
    const { group, names } = await hosts(3, { cpu: "4", memory: "8Gi", pods: "20" });
    // 80 pods of 500m/1Gi... against 3 × 4 cpu: exactly 24 fit (cpu), memory allows 24 too.
    const names80 = Array.from({ length: 80 }, (_, i) => `race-${i}`);
    await Promise.all(names80.map((n) => core.createNamespacedPod({
      namespace: ns.name,
      body: { metadata: { name: n }, spec: { ...podSpec({ group }), containers: [{ name: "vm", image: "x", resources: { requests: { cpu: "500m", memory: "1Gi" } } }] } },
    })));
    const pods = await eventually(async () => {
      const items = (await core.listNamespacedPod({ namespace: ns.name })).items.filter((p) => p.metadata?.name?.startsWith("race-"));
      const bound = items.filter((p) => p.spec?.nodeName);
      const pending = items.filter((p) => !p.spec?.nodeName && p.status?.conditions?.some((c) => c.type === "PodScheduled" && c.status === "False"));
      return bound.length === 24 && pending.length === 56 && items;
    }, { what: "24 bound and 56 unschedulable" });
    for (const node of names) {
      const cpu = pods.filter((p) => p.spec?.nodeName === node).reduce((a, p) => a + cpuMillis(p.spec?.containers[0]?.resources?.requests?.cpu ?? "0"), 0);
      expect(cpu).toBeLessThanOrEqual(4000);
    }
    // Freeing capacity lets waiting pods in, still without overcommit.
    const victims = pods.filter((p) => p.spec?.nodeName).slice(0, 4);
    await Promise.all(victims.map((p) => core.deleteNamespacedPod({ name: p.metadata?.name as string, namespace: ns.name, gracePeriodSeconds: 0 })));
    await eventually(async () => {
      const items = (await core.listNamespacedPod({ namespace: ns.name })).items.filter((p) => p.metadata?.name?.startsWith("race-") && !p.metadata.deletionTimestamp);
      return items.filter((p) => p.spec?.nodeName).length === 24 && items.length === 76;
    }, { what: "4 waiting pods placed into the freed room" });
  });
});
