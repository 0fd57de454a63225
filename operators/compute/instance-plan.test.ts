// The Instance plan, branch by branch, without a cluster: what it deletes, creates and patches, what
// it records before acting, the status it leads to and the Events it is worth.
import { describe, expect, it } from "vitest";
import { launcher, launcherName, type InstanceObj, type InstanceSpec, type InstanceStatus } from "../api/compute.ts";
import type { Pod } from "../runtime/core.ts";
import type { Action, DesiredStatus, Plan } from "../runtime/managed.ts";
import { launcherPod, type Problem, type Resolved } from "./instance.ts";
import { finalizeInstance, planInstance, type InstanceObservation } from "./instance-plan.ts";

const NOW = Date.parse("2026-12-01T10:00:00Z");
const resolved: Resolved = { size: { vcpus: 2, memory: "4Gi", onlineResize: true, source: "flavor g1.large" }, arch: "amd64", diskGiB: 20, volumes: [] };
const spec = (extra: Partial<InstanceSpec> = {}): InstanceSpec =>
  ({ flavor: "g1.large", image: "ubuntu", powerState: "Running", terminationGracePeriodSeconds: 30, systemDisk: {}, priority: "Normal", ...extra }) as InstanceSpec;
const inst = (s: InstanceSpec, status: InstanceStatus = {}): InstanceObj => ({ metadata: { name: "vm1", namespace: "t1", uid: "u1", generation: 2 }, spec: s, status });

/** The launcher for `s`, as the apiserver would show it: bound to `node`, running, maybe terminating. */
function pod(s: InstanceSpec, o: { node?: string; running?: boolean; terminating?: boolean; size?: string; uid?: string } = {}): Pod {
  const p = launcherPod(inst(s), o.size ? { ...resolved, size: { ...resolved.size, vcpus: Number(o.size), memory: `${Number(o.size) * 2}Gi` } } : resolved);
  return {
    ...p,
    metadata: { ...p.metadata, uid: o.uid ?? `pod-${p.metadata.name}`, ...(o.terminating ? { deletionTimestamp: "2026-12-01T09:59:00Z" as never } : {}) },
    spec: { ...p.spec!, ...(o.node ? { nodeName: o.node } : {}) },
    status: o.running ? { phase: "Running", startTime: "2026-12-01T09:00:00Z" as never, conditions: [{ type: "Ready", status: "True" }] } : { phase: "Pending" },
  };
}

const up = { down: false, cell: "cell-a", zone: "az1" };
const observe = (pods: Pod[], extra: Partial<InstanceObservation> = {}): InstanceObservation => ({
  resolved, pods, hosts: { n1: up, n2: up }, headroom: Object.fromEntries(pods.map((p) => [p.metadata.uid ?? "", { cpu: 64_000, memory: 256 * 2 ** 30 }])), ...extra,
});
const verbs = (p: Plan) => (p.actions ?? []).map((a: Action) => `${a.verb} ${a.ref.kind}${"subresource" in a && a.subresource ? `/${a.subresource}` : ""}`);
const status = (p: Plan) => p.status as DesiredStatus;
const ready = (p: Plan) => status(p).conditions?.find((c) => c.type === "Ready");
const events = (p: Plan) => (Array.isArray(p.events) ? p.events : []).map((e) => e.reason);

describe("planInstance", () => {
  it("creates the launcher for a new instance, and waits for it", () => {
    const p = planInstance(inst(spec()), observe([]), NOW);
    expect(verbs(p)).toEqual(["create Pod"]);
    const created = p.actions![0] as Extract<Action, { verb: "create" }>;
    expect(created.object.metadata.name).toBe(launcherName(inst(spec())));
    expect(status(p).fields).toMatchObject({ powerState: "Starting", architecture: "amd64" });
    expect(p.checkpoint).toBeUndefined();
  });

  it("does nothing for a running instance that is as asked, and says Running", () => {
    const s = spec();
    const p = planInstance(inst(s, { powerState: "Running" }), observe([pod(s, { node: "n1", running: true })]), NOW);
    expect(p.actions).toEqual([]);
    expect(p.checkpoint).toBeUndefined();
    expect(ready(p)).toMatchObject({ status: "True", reason: "Running" });
    expect(status(p).fields).toMatchObject({ powerState: "Running", nodeName: "n1", cell: "cell-a", zone: "az1", vcpus: 2, memory: "4Gi", lastBootTime: "2026-12-01T09:00:00Z" });
    expect(events(p)).toEqual([]);
  });

  it("stops: deletes the launcher with the grace period, then is Stopped with its host released", () => {
    const s = spec({ powerState: "Stopped" });
    const stopping = planInstance(inst(s, { powerState: "Running" }), observe([pod(spec(), { node: "n1", running: true })]), NOW);
    expect(stopping.actions).toEqual([expect.objectContaining({ verb: "delete", gracePeriodSeconds: 30, uid: expect.any(String) })]);
    expect(status(stopping).fields).toMatchObject({ powerState: "Stopping" });
    expect(stopping.requeueAfterMs).toBeGreaterThan(0);
    const stopped = planInstance(inst(s, { powerState: "Stopping" }), observe([]), NOW);
    expect(stopped.actions).toEqual([]);
    expect(status(stopped).fields).toMatchObject({ powerState: "Stopped", nodeName: undefined });
    expect(events(stopped)).toEqual(["Stopped"]);
  });

  it("starts a stopped instance again", () => {
    const p = planInstance(inst(spec(), { powerState: "Stopped" }), observe([]), NOW);
    expect(verbs(p)).toEqual(["create Pod"]);
  });

  it("pauses and resumes by annotating the running launcher", () => {
    const s = spec({ powerState: "Paused" });
    const p = planInstance(inst(s, { powerState: "Running" }), observe([pod(spec(), { node: "n1", running: true })]), NOW);
    expect(p.actions).toEqual([expect.objectContaining({ verb: "update", patch: { metadata: { annotations: { [launcher.paused]: "true" } } } })]);
    expect(status(p).fields).toMatchObject({ powerState: "Paused" });
    expect(events(p)).toEqual(["Paused"]);
  });

  it("resizes online when the flavor grew and the host has room; asks for Stopped otherwise", () => {
    const s = spec();
    const small = pod(s, { node: "n1", running: true, size: "1" });
    const online = planInstance(inst(s, { powerState: "Running" }), observe([small]), NOW);
    expect(verbs(online)).toEqual(["update Pod/resize"]);
    expect(status(online).fields).toMatchObject({ vcpus: 2, memory: "4Gi" });
    expect(events(online)).toEqual(["Resized"]);
    const full = planInstance(inst(s, { powerState: "Running" }), observe([small], { headroom: { [small.metadata.uid!]: { cpu: 0, memory: 0 } } }), NOW);
    expect(full.actions).toEqual([]);
    expect(ready(full)).toMatchObject({ status: "False", reason: "ResizeRequiresStop" });
  });

  it("rebuilds: a new image replaces the launcher (delete first, then create once it is gone)", () => {
    const before = pod(spec(), { node: "n1", running: true });
    const s = spec({ image: "euler" });
    const p = planInstance(inst(s, { powerState: "Running", launcherPod: before.metadata.name }), observe([before]), NOW);
    expect(verbs(p)).toEqual(["delete Pod"]);
    expect(events(p)).toContain("Rebuilding");
    expect(status(p).fields).toMatchObject({ powerState: "Rebuilding" });
    const gone = planInstance(inst(s, { powerState: "Rebuilding" }), observe([]), NOW);
    expect(verbs(gone)).toEqual(["create Pod"]);
  });

  it("migrates: records the source before anything moves, avoids it, and completes on another host", () => {
    const before = pod(spec(), { node: "n1", running: true });
    const s = spec({ migration: { requestedAt: "2026-12-01T09:59:00Z" } });
    const p = planInstance(inst(s, { powerState: "Running", launcherPod: before.metadata.name, nodeName: "n1" }), observe([before]), NOW);
    expect(p.checkpoint).toMatchObject({ migration: { state: "Running", sourceNode: "n1", startTime: "2026-12-01T10:00:00Z" } });
    expect(verbs(p)).toEqual(["delete Pod"]);
    expect(events(p)).toEqual(expect.arrayContaining(["Migrating"]));
    const recorded = { powerState: "Migrating" as const, migration: p.checkpoint!.migration as InstanceStatus["migration"] };
    const create = planInstance(inst(s, recorded), observe([]), NOW);
    const pod2 = (create.actions![0] as Extract<Action, { verb: "create" }>).object as Pod;
    expect(pod2.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([{ matchFields: [{ key: "metadata.name", operator: "NotIn", values: ["n1"] }] }]);
    const landed = planInstance(inst(s, recorded), observe([pod(s, { node: "n2", running: true })]), NOW + 30_000);
    expect(status(landed).fields?.migration).toMatchObject({ state: "Succeeded", targetNode: "n2", durationSeconds: 30 });
    expect(events(landed)).toContain("Migrated");
  });

  it("refuses to migrate a stopped instance, saying why", () => {
    const s = spec({ powerState: "Stopped", migration: { requestedAt: "2026-12-01T09:59:00Z" } });
    const p = planInstance(inst(s, { powerState: "Stopped" }), observe([]), NOW);
    expect(p.checkpoint?.migration).toMatchObject({ state: "Failed", message: expect.stringMatching(/only a running instance/) });
  });

  it("fails over: a launcher on a dead host is fenced, the failover counted once (recorded first), and it starts elsewhere", () => {
    const s = spec();
    const lost = pod(s, { node: "n1", running: true, terminating: true });
    const dead = observe([lost], { hosts: { n1: { down: true }, n2: up } });
    const p = planInstance(inst(s, { powerState: "Running", launcherPod: lost.metadata.name, nodeName: "n1", failovers: 1 }), dead, NOW);
    expect(p.checkpoint).toMatchObject({ failovers: 2, launcherPod: undefined, nodeName: undefined, powerState: "Starting" });
    expect(p.actions).toEqual([expect.objectContaining({ verb: "delete", gracePeriodSeconds: 0 })]);
    expect(events(p)).toEqual(expect.arrayContaining(["Failover"]));
    // After the crash-safe checkpoint, a repeat of the same reconcile does not count it again.
    const again = planInstance(inst(s, { powerState: "Starting", failovers: 2 }), dead, NOW);
    expect(again.checkpoint).toBeUndefined();
    // The pod is gone: a new launcher, same name, on another host.
    expect(verbs(planInstance(inst(s, { powerState: "Starting", failovers: 2 }), observe([]), NOW))).toEqual(["create Pod"]);
  });

  it("restarts a launcher that vanished from a healthy host (evicted), without counting a failover", () => {
    const s = spec();
    const p = planInstance(inst(s, { powerState: "Running", launcherPod: launcherName(inst(s)), nodeName: "n1", failovers: 0 }), observe([]), NOW);
    expect(p.checkpoint).toMatchObject({ failovers: 0, launcherPod: undefined });
    expect(events(p)).toContain("Restarting");
    expect(verbs(p)).toEqual(["create Pod"]);
  });

  it("leaves a running VM alone when a change cannot be carried out, and says so", () => {
    const s = spec();
    const running = pod(s, { node: "n1", running: true });
    const problem: Problem = { reason: "ImageNotFound", message: 'spec.image: Image "x" not found', stalled: false };
    const p = planInstance(inst(spec({ image: "x" }), { powerState: "Running" }), observe([running], { resolved: problem }), NOW);
    expect(p.actions).toEqual([]);
    expect(ready(p)).toMatchObject({ status: "False", reason: "ImageNotFound", announce: "Warning" });
    expect(status(p).stalled).toBeUndefined();
  });

  it("stalls on a problem only a spec change fixes, and does not announce a volume still attaching", () => {
    const stalled: Problem = { reason: "ArchitectureMismatch", message: "spec.image: arm64 but flavor amd64", stalled: true };
    expect(status(planInstance(inst(spec()), observe([], { resolved: stalled }), NOW)).stalled).toEqual({ reason: "ArchitectureMismatch", message: stalled.message });
    const attaching: Problem = { reason: "AttachingVolume", message: "waiting", stalled: false };
    expect(ready(planInstance(inst(spec()), observe([], { resolved: attaching }), NOW))?.announce).toBeUndefined();
  });

  it("waits for what it cannot watch by looking again later, without launching, and only while it should run", () => {
    const missing: Problem = { reason: "UserDataNotFound", message: 'spec.userData.secretName: Secret "init" not found in this namespace', stalled: false, recheckMs: 10_000 };
    const p = planInstance(inst(spec()), observe([], { resolved: missing }), NOW);
    expect(verbs(p)).toEqual([]);
    expect(p.requeueAfterMs).toBe(10_000);
    expect(ready(p)).toMatchObject({ status: "False", reason: "UserDataNotFound", announce: "Warning" });
    expect(planInstance(inst(spec({ powerState: "Stopped" })), observe([], { resolved: missing }), NOW).requeueAfterMs).toBeUndefined();
  });
});

describe("deferred placement changes", () => {
  it("says RestartRequired when spec.zone or spec.cell moved away from where the VM runs, and not otherwise", () => {
    const s = spec({ zone: "az2" });
    const running = pod(spec(), { node: "n1", running: true });
    const p = planInstance(inst(s, { powerState: "Running" }), observe([running]), NOW);
    expect(status(p).conditions?.find((c) => c.type === "RestartRequired")).toMatchObject({ status: "True", reason: "PlacementChanged", message: expect.stringMatching(/spec.zone is az2 but the instance runs in az1/) });
    expect(p.actions).toEqual([]);
    const same = planInstance(inst(spec({ zone: "az1" }), { powerState: "Running" }), observe([running]), NOW);
    expect(status(same).conditions?.find((c) => c.type === "RestartRequired")).toMatchObject({ status: "False" });
  });
});

describe("finalizeInstance", () => {
  it("Delete: stops every launcher first, then deletes the volumes marked deleteWithInstance and is done", () => {
    const s = spec({ dataVolumes: [{ volume: "keep", deleteWithInstance: false }, { volume: "scratch", deleteWithInstance: true }] });
    const running = pod(s, { node: "n1", running: true });
    const waiting = finalizeInstance(inst(s), observe([running]), "Delete");
    expect(waiting.done).toBeUndefined();
    expect(verbs(waiting)).toEqual(["delete Pod"]);
    expect(status(waiting).fields).toEqual({ powerState: "Stopping" });
    const done = finalizeInstance(inst(s), observe([]), "Delete");
    expect(done.done).toBe(true);
    expect(done.actions).toEqual([expect.objectContaining({ verb: "delete", name: "scratch", ref: expect.objectContaining({ kind: "Volume" }) })]);
    expect(events(done)).toEqual(["VolumesDeleted"]);
  });

  it("Orphan: leaves the launcher running, with no owner reference or instance label, and every volume", () => {
    const s = spec({ dataVolumes: [{ volume: "scratch", deleteWithInstance: true }] });
    const p = finalizeInstance(inst(s), observe([pod(s, { node: "n1", running: true })]), "Orphan");
    expect(p.done).toBe(true);
    expect(p.actions).toEqual([expect.objectContaining({ verb: "update", patch: { metadata: { ownerReferences: null, labels: { [launcher.instanceLabel]: null } } } })]);
    expect(events(p)).toEqual(["Orphaned"]);
  });
});
