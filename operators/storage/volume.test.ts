import { describe, expect, it } from "vitest";
import { everyMs, iopsFor, nextSnapshotAt, persistentVolume, persistentVolumeClaim, pickPool, planAttachments, poolRoomMayHaveGrown, snapshotsToPrune, type VolumeObj } from "./volume.ts";

const GiB = 2 ** 30;

describe("EVS: IOPS", () => {
  it("grows with size up to the type's cap (the seed's 800 / 2500 / 10000)", () => {
    const ssd = { mediaType: "SSD" as const, iops: { base: 1800, perGiB: 50, max: 10_000 } };
    expect(iopsFor(ssd, 10 * GiB)).toBe(2300);
    expect(iopsFor(ssd, 1000 * GiB)).toBe(10_000);
    expect(iopsFor({ mediaType: "HDD", iops: { base: 500, perGiB: 2, max: 800 } }, 100 * GiB)).toBe(700);
  });
});

describe("EVS: pools", () => {
  const pools = [
    { name: "a", zone: "az1", mediaType: "SSD", allocatable: 100 * GiB, provisioned: 90 * GiB },
    { name: "b", zone: "az1", mediaType: "SSD", allocatable: 100 * GiB, provisioned: 40 * GiB },
    { name: "c", zone: "az2", mediaType: "SSD", allocatable: 1000 * GiB, provisioned: 0 },
    { name: "d", zone: "az1", mediaType: "HDD", allocatable: 1000 * GiB, provisioned: 0 },
  ];
  it("carves from the pool of the zone and media with the most room", () => {
    expect(pickPool(pools, "az1", "SSD", 50 * GiB)).toEqual({ pool: "b" });
    expect(pickPool(pools, "az1", "HDD", 50 * GiB)).toEqual({ pool: "d" });
  });
  it("never provisions past a pool's allocatable (physical × oversubscription)", () => {
    expect(pickPool(pools, "az1", "SSD", 61 * GiB)).toMatchObject({ reason: "PoolExhausted", message: "no SSD StoragePool in zone az1 has 61Gi left (most: b with 60Gi)" });
    expect(pickPool(pools, "az3", "SSD", GiB)).toMatchObject({ reason: "NoStoragePool", message: "no SSD StoragePool in zone az3" });
  });
});

describe("EVS: attachments", () => {
  const r = (instance: string, created: string) => ({ instance, created });
  it("gives a single-attach volume to the instance that had it, else the first to ask; the rest are told why", () => {
    const plan = planAttachments("data", false, [], [r("b", "2026-01-02"), r("a", "2026-01-01")], new Set());
    expect(plan.attached).toEqual([{ instance: "a" }]);
    expect(plan.refused).toEqual([{ instance: "b", message: "volume data is attached to instance a and is not multiAttach; detach it there first" }]);
    expect(planAttachments("data", false, ["b"], [r("b", "2026-01-02"), r("a", "2026-01-01")], new Set()).attached).toEqual([{ instance: "b" }]);
  });
  it("keeps an instance attached while its launcher still mounts the volume, even after it stopped asking", () => {
    expect(planAttachments("data", false, ["a"], [r("b", "2026-01-02")], new Set(["a"])).attached).toEqual([{ instance: "a" }]);
  });
  it("lets a multiAttach volume go to 16 instances, not 17", () => {
    const many = Array.from({ length: 17 }, (_, i) => r(`i${String(i).padStart(2, "0")}`, `2026-01-${String(i + 1).padStart(2, "0")}`));
    const plan = planAttachments("shared", true, [], many, new Set());
    expect(plan.attached).toHaveLength(16);
    expect(plan.refused).toEqual([{ instance: "i16", message: "volume shared is already attached to 16 instances, the most a multiAttach volume allows" }]);
  });
});

describe("EVS: realization", () => {
  const v: VolumeObj = { metadata: { name: "data", namespace: "t1", uid: "u-1" }, spec: { size: "20Gi", type: "ssd", zone: "az1", multiAttach: false } };
  it("is a pre-bound block PV in the volume's zone and a claim owned by the volume", () => {
    const pv = persistentVolume(v, "20Gi", "pool-a");
    expect(pv.metadata.name).toBe("evs-u-1");
    expect(pv.spec).toMatchObject({
      capacity: { storage: "20Gi" }, accessModes: ["ReadWriteOnce"], volumeMode: "Block", storageClassName: "cellcloud-evs",
      persistentVolumeReclaimPolicy: "Retain", claimRef: { namespace: "t1", name: "evs-data" }, csi: { driver: "evs.storage.cellcloud.io", volumeHandle: "u-1" },
    });
    expect(pv.spec?.nodeAffinity?.required?.nodeSelectorTerms[0]?.matchExpressions?.[0]).toEqual({ key: "topology.kubernetes.io/zone", operator: "In", values: ["az1"] });
    const pvc = persistentVolumeClaim({ ...v, spec: { ...v.spec, multiAttach: true } }, "20Gi");
    expect(pvc.spec).toMatchObject({ volumeName: "evs-u-1", accessModes: ["ReadWriteMany"], resources: { requests: { storage: "20Gi" } } });
    expect(pvc.metadata.ownerReferences?.[0]).toMatchObject({ kind: "Volume", name: "data", controller: true });
  });
});

describe("EVS: snapshot schedule", () => {
  it("is due one interval after the last snapshot (or the volume's creation)", () => {
    expect(everyMs("30m")).toBe(1_800_000);
    expect(everyMs("2d")).toBe(172_800_000);
    expect(nextSnapshotAt("1h", "2026-01-01T10:00:00Z", "2026-01-01T00:00:00Z", 0)).toBe(Date.parse("2026-01-01T11:00:00Z"));
    expect(nextSnapshotAt("1h", undefined, "2026-01-01T00:00:00Z", 0)).toBe(Date.parse("2026-01-01T01:00:00Z"));
  });
  it("keeps the newest N", () => {
    const s = (name: string, t: string) => ({ metadata: { name, creationTimestamp: t } });
    const pruned = snapshotsToPrune([s("a", "2026-01-01T00:00:00Z"), s("c", "2026-01-03T00:00:00Z"), s("b", "2026-01-02T00:00:00Z")], 2);
    expect(pruned.map((x) => x.metadata.name)).toEqual(["a"]);
  });
});

describe("EVS: which pool events wake the volumes waiting for room", () => {
  const pool = (generation: number, available?: string) => ({ metadata: { generation }, ...(available === undefined ? {} : { status: { available } }) });
  it("a new pool, a spec change, or room freed wakes them", () => {
    expect(poolRoomMayHaveGrown(pool(1, "10Ti"), undefined)).toBe(true);
    expect(poolRoomMayHaveGrown(pool(2, "10Ti"), pool(1, "10Ti"))).toBe(true);
    expect(poolRoomMayHaveGrown(pool(1, "1100Gi"), pool(1, "1Ti"))).toBe(true);
    expect(poolRoomMayHaveGrown(pool(1, "1Ti"), pool(1))).toBe(true);
  });
  it("a pool filling up as volumes are provisioned, or a resync, wakes no one", () => {
    expect(poolRoomMayHaveGrown(pool(1, "990Gi"), pool(1, "1000Gi"))).toBe(false);
    expect(poolRoomMayHaveGrown(pool(1, "1Ti"), pool(1, "1024Gi"))).toBe(false);
    expect(poolRoomMayHaveGrown(pool(1), pool(1))).toBe(false);
  });
});
