// The Volume plan, branch by branch, without a cluster: where it is carved from (recorded before the
// PV exists), how it grows and moves, what blocks it, and how it goes.
import { describe, expect, it } from "vitest";
import type { VolumeObj, VolumeSpec, VolumeStatus, VolumeTypeSpec } from "../api/storage.ts";
import type { Action, DesiredStatus, Outcome, Plan } from "../runtime/managed.ts";
import { finalizeVolume, planVolume, sourceProblem, type VolumeObservation } from "./volume-plan.ts";
import type { PoolView } from "./volume.ts";

const GiB = 2 ** 30;
const ssd: VolumeTypeSpec = { mediaType: "SSD", iops: { base: 100, perGiB: 10, max: 1000 } };
const hdd: VolumeTypeSpec = { mediaType: "HDD", iops: { base: 50, perGiB: 1, max: 500 } };
const pool = (name: string, mediaType: string, freeGiB: number, zone = "az1"): PoolView => ({ name, zone, mediaType, allocatable: 100 * GiB, provisioned: (100 - freeGiB) * GiB });
const vol = (extra: Partial<VolumeSpec> = {}, status: VolumeStatus = {}): VolumeObj =>
  ({ metadata: { name: "d1", namespace: "t1", uid: "v1", generation: 1 }, spec: { size: "10Gi", type: "ssd", zone: "az1", multiAttach: false, ...extra }, status });
const observe = (extra: Partial<VolumeObservation> = {}): VolumeObservation => ({ type: ssd, attached: [], pools: [pool("p-ssd", "SSD", 50), pool("p-hdd", "HDD", 50)], ...extra });
const bound = (gib: number) => ({ requested: gib * GiB, capacity: gib * GiB, phase: "Bound" });
const verbs = (p: Plan) => (p.actions ?? []).map((a: Action) => `${a.verb} ${a.ref.kind}${"subresource" in a && a.subresource ? `/${a.subresource}` : ""}`);
const status = (p: Plan) => p.status as DesiredStatus;
const ready = (p: Plan) => status(p).conditions?.find((c) => c.type === "Ready");
const events = (p: Plan) => (Array.isArray(p.events) ? p.events : []).map((e) => e.reason);

describe("planVolume", () => {
  it("reserves a pool of its zone and media in status before creating the PV and claim", () => {
    const p = planVolume(vol(), observe());
    expect(p.checkpoint).toEqual({ storagePool: "p-ssd", capacity: "10Gi", state: "Creating" });
    expect(verbs(p)).toEqual(["create PersistentVolume", "create PersistentVolumeClaim"]);
    expect(events(p)).toEqual(["Provisioning"]);
    expect(ready(p)).toMatchObject({ status: "False", reason: "Binding" });
    // the claim's events wake it; the requeue is a slow safety net, not a poll
    expect(p.requeueAfterMs).toBeGreaterThanOrEqual(30_000);
  });

  it("is Available once its claim is bound at its size, and changes nothing more", () => {
    const v = vol({}, { storagePool: "p-ssd", capacity: "10Gi", state: "Creating" });
    const p = planVolume(v, observe({ pv: { capacity: 10 * GiB }, claim: bound(10) }));
    expect(p.actions).toEqual([]);
    expect(p.checkpoint).toBeUndefined();
    expect(ready(p)).toMatchObject({ status: "True", reason: "Available", message: "10Gi ssd (200 IOPS) in p-ssd" });
    expect(status(p).fields).toMatchObject({ state: "Available", iops: 200, persistentVolume: "evs-v1", claim: "evs-d1" });
    const used = planVolume(v, observe({ pv: { capacity: 10 * GiB }, claim: bound(10), attached: [{ instance: "vm1", node: "n1" }] }));
    expect(ready(used)).toMatchObject({ reason: "InUse" });
  });

  it("expands in its pool: records the growth first, grows PV and claim (as a CSI resizer), then says Expanded", () => {
    const v = vol({ size: "20Gi" }, { storagePool: "p-ssd", capacity: "10Gi", state: "Available" });
    const p = planVolume(v, observe({ pv: { capacity: 10 * GiB }, claim: bound(10) }));
    expect(p.checkpoint).toEqual({ storagePool: "p-ssd", capacity: "20Gi", state: "Expanding" });
    expect(verbs(p)).toEqual(["update PersistentVolume", "update PersistentVolumeClaim", "update PersistentVolumeClaim/status"]);
    expect(events(p)).toEqual(["Expanding"]);
    const resized = planVolume(vol({ size: "20Gi" }, { storagePool: "p-ssd", capacity: "20Gi", state: "Expanding" }),
      observe({ pv: { capacity: 20 * GiB }, claim: { requested: 20 * GiB, capacity: 10 * GiB, phase: "Bound" } }));
    expect(verbs(resized)).toEqual(["update PersistentVolumeClaim/status"]);
    const done = planVolume(vol({ size: "20Gi" }, { storagePool: "p-ssd", capacity: "20Gi", state: "Expanding" }), observe({ pv: { capacity: 20 * GiB }, claim: bound(20) }));
    expect(events(done)).toEqual(["Expanded"]);
  });

  it("moves to a pool of the new media on a type change", () => {
    const v = vol({ type: "hdd" }, { storagePool: "p-ssd", capacity: "10Gi", state: "Available" });
    const p = planVolume(v, observe({ type: hdd, pv: { capacity: 10 * GiB }, claim: bound(10) }));
    expect(p.checkpoint).toMatchObject({ storagePool: "p-hdd" });
    expect(events(p)).toEqual(["Retyped"]);
  });

  it("never over-provisions: no pool with room is Ready=False PoolExhausted, announced, retried later", () => {
    const p = planVolume(vol({ size: "80Gi" }), observe());
    expect(p.actions ?? []).toEqual([]);
    expect(p.checkpoint).toBeUndefined();
    expect(ready(p)).toMatchObject({ status: "False", reason: "PoolExhausted", announce: "Warning" });
    expect(p.requeueAfterMs).toBeGreaterThan(0);
    const grow = planVolume(vol({ size: "70Gi" }, { storagePool: "p-ssd", capacity: "10Gi", state: "Available" }), observe({ pv: { capacity: 10 * GiB }, claim: bound(10) }));
    expect(ready(grow)).toMatchObject({ reason: "PoolExhausted", message: "cannot grow to 70Gi: StoragePool p-ssd has 50Gi left" });
    expect(planVolume(vol({ zone: "az9" }), observe())).toMatchObject({ status: { conditions: [expect.objectContaining({ reason: "NoStoragePool" })] } });
  });

  it("waits for its source, and stalls on one only a spec change fixes", () => {
    const waiting = planVolume(vol({ source: { snapshot: "s1" } }), observe({ source: { reason: "SnapshotNotReady", message: "not taken", stalled: false } }));
    expect(ready(waiting)).toMatchObject({ reason: "SnapshotNotReady" });
    expect(status(waiting).stalled).toBeUndefined();
    const small = planVolume(vol({ source: { snapshot: "s1" } }), observe({ source: { reason: "SizeTooSmall", message: "too small", stalled: true } }));
    expect(status(small).stalled).toEqual({ reason: "SizeTooSmall", message: "too small" });
    expect(small.actions ?? []).toEqual([]);
  });

  it("names a missing type", () => {
    const { type: _, ...noType } = observe();
    expect(ready(planVolume(vol(), noType))).toMatchObject({ reason: "VolumeTypeNotFound", message: 'spec.type: VolumeType "ssd" not found' });
  });
});

describe("sourceProblem", () => {
  const lookup = {
    snapshot: (n: string) => (n === "s1" ? { status: { size: "20Gi" } } : n === "early" ? {} : undefined),
    volume: (n: string) => (n === "src" ? { spec: { zone: "az1" }, status: { capacity: "10Gi" } } : undefined),
    imageMinDiskGiB: (n: string) => (n === "ubuntu" ? 20 : undefined),
  };
  it("checks snapshot, clone and image sources against the size and zone, naming the field", () => {
    expect(sourceProblem(vol({ source: { snapshot: "s1" } }), lookup)).toMatchObject({ reason: "SizeTooSmall", stalled: true });
    expect(sourceProblem(vol({ source: { snapshot: "early" } }), lookup)).toMatchObject({ reason: "SnapshotNotReady", stalled: false });
    expect(sourceProblem(vol({ source: { volume: "src" }, zone: "az2" }), lookup)).toMatchObject({ reason: "ZoneMismatch", message: expect.stringMatching(/^spec\.source\.volume/) });
    expect(sourceProblem(vol({ source: { image: "ubuntu" } }), lookup)).toMatchObject({ reason: "SizeTooSmall" });
    expect(sourceProblem(vol({ source: { image: "nope" } }), lookup)).toMatchObject({ reason: "ImageNotFound" });
    expect(sourceProblem(vol({ size: "20Gi", source: { snapshot: "s1" } }), lookup)).toBeUndefined();
  });
});

describe("finalizeVolume", () => {
  const gone = (p: Plan, results: Outcome["result"][]) => (typeof p.done === "function" ? p.done((p.actions ?? []).map((action, i) => ({ action, result: results[i]! }))) : p.done);

  it("Delete: holds an attached volume with a reason (announced once), then removes claim and PV and is done when both are gone", () => {
    const attached = observe({ attached: [{ instance: "vm1" }] });
    const held = finalizeVolume(vol({}, { state: "InUse" }), attached, "Delete");
    expect(held.done).toBeUndefined();
    expect(ready(held)).toMatchObject({ reason: "InUse", message: expect.stringMatching(/attached to instance vm1/) });
    expect(events(held)).toEqual(["DeleteBlocked"]);
    expect(events(finalizeVolume(vol({}, { state: "Deleting" }), attached, "Delete"))).toEqual([]);
    const p = finalizeVolume(vol(), observe(), "Delete");
    expect(verbs(p)).toEqual(["delete PersistentVolumeClaim", "delete PersistentVolume"]);
    expect(gone(p, ["deleted", "gone"])).toBe(false);
    expect(gone(p, ["gone", "gone"])).toBe(true);
  });

  it("Orphan: leaves claim and PV, the claim without its owner reference, even while attached", () => {
    const p = finalizeVolume(vol(), observe({ attached: [{ instance: "vm1" }], claim: bound(10) }), "Orphan");
    expect(p.done).toBe(true);
    expect(p.actions).toEqual([expect.objectContaining({ verb: "update", patch: { metadata: { ownerReferences: null } } })]);
  });
});
