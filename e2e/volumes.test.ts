// EVS volumes against the real control plane: carved from StoragePools of their zone (thin
// provisioning shown in the pool's status), realized as pre-bound PV + claim, grown, retyped,
// snapshotted, restored and cloned; attached to instances under the rules (same zone, one instance
// unless multiAttach, no delete while attached), kept or deleted with their instance, and mounted
// again by the re-placed launcher after a host failure.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeClient } from "../operators/runtime/kube.ts";
import { clients, eventually, eventuallyGone, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { createCatalog, instancesIn } from "./support/compute.ts";
import { startManager, type InProcessManager } from "./support/manager.ts";
import { NODE_NOT_READY_LABEL, hostsReady } from "./support/nodes.ts";
import { platformIn, poolSpec } from "./support/platform.ts";
import { storageIn } from "./support/storage.ts";
import { VolumeRef } from "../operators/api/storage.ts";

const { core, kc } = clients();
const ns = useNamespace("evs");
const base = uniqueName("evs");
const cell = `${base}-cell`;
const zone = `${base}-az`;
const otherZone = `${base}-az2`;
const p = platformIn(kc);
const types = { ssd: `${base}-ssd`, hdd: `${base}-hdd` };
const sp = { ssd: `${base}-sp-ssd`, hdd: `${base}-sp-hdd`, far: `${base}-sp-far` };
let m: InProcessManager;
let cat: Awaited<ReturnType<typeof createCatalog>>;
const evs = () => storageIn(kc, ns.name);
const ecs = () => instancesIn(kc, core, ns.name);

beforeAll(async () => {
  m = await startManager(["nodepool", "cell", "platform-pools", "scheduler", "compute-catalog", "instance", "volume"]);
  cat = await createCatalog(kc, base);
  await p.cells.create(cell, { region: "r-evs", zone });
  await p.cells.create(`${cell}2`, { region: "r-evs", zone: otherZone });
  await p.nodePools.create(`${base}-x86`, poolSpec(cell, { nodes: 3, capacity: { cpu: "16", memory: "64Gi" } }));
  await p.storagePools.create(sp.ssd, { cell, mediaType: "SSD", capacity: "100Gi", oversubscriptionRatio: 1.5 });
  await p.storagePools.create(sp.hdd, { cell, mediaType: "HDD", capacity: "1Ti" });
  await p.storagePools.create(sp.far, { cell: `${cell}2`, mediaType: "SSD", capacity: "1Ti" });
  await evs().createType(types.ssd, { mediaType: "SSD", iops: { base: 1800, perGiB: 50, max: 10000 } });
  await evs().createType(types.hdd, { mediaType: "HDD", iops: { base: 500, perGiB: 1, max: 800 } });
  await hostsReady(core, `cellcloud.io/cell=${cell}`, 3);
});

afterAll(async () => {
  await Promise.all((await ecs().list().catch(() => [])).map((i) => ecs().delete(i.metadata.name).catch(() => undefined)));
  await eventually(async () => (await ecs().list()).length === 0, { what: "instances deleted", timeoutMs: 60_000 }).catch(() => undefined);
  const client = new KubeClient(kc);
  const vols = await client.list(VolumeRef, {}, ns.name).catch(() => ({ items: [] }));
  await Promise.all(vols.items.map((v) => evs().delete(v.metadata.name).catch(() => undefined)));
  await eventually(async () => (await client.list(VolumeRef, {}, ns.name)).items.length === 0, { what: "volumes deleted", timeoutMs: 60_000 }).catch(() => undefined);
  await p.nodePools.delete(`${base}-x86`).catch(() => undefined);
  await eventually(async () => (await p.nodePools.list()).every((np) => np.metadata.name !== `${base}-x86`), { what: "pool gone", timeoutMs: 60_000 }).catch(() => undefined);
  for (const name of Object.values(sp)) await p.storagePools.delete(name).catch(() => undefined);
  for (const name of [cell, `${cell}2`]) await p.cells.delete(name).catch(() => undefined);
  for (const name of Object.values(types)) await evs().deleteType(name).catch(() => undefined);
  for (const [ref, name, ns] of cat?.all ?? []) await client.delete(ref, name, ns).catch(() => undefined);
  await m?.mgr.stop();
});

const readyOf = async (name: string) => { const v = await evs().read(name); return v.status?.observedGeneration === v.metadata.generation ? v.status?.conditions?.find((c) => c.type === "Ready") : undefined; };
const eventsFor = async (name: string, reason: string) => (await core.listNamespacedEvent({ namespace: ns.name, fieldSelector: `involvedObject.name=${name}` })).items.filter((e) => e.reason === reason);

describe("EVS volumes", () => {
  it("are carved from a pool of their zone, grow, change type, and are snapshotted, restored and cloned", async () => {
    await evs().create("v1", { size: "20Gi", type: types.ssd, zone });
    let v = await eventually(() => evs().settled("v1", "Available"), { what: "v1 Available" });
    expect(v.status).toMatchObject({ storagePool: sp.ssd, capacity: "20Gi", iops: 2800, claim: "evs-v1" });
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: "evs-v1", namespace: ns.name });
    expect(claim.status?.phase).toBe("Bound");
    expect(claim.spec?.volumeName).toBe(v.status?.persistentVolume);
    await eventually(async () => (await p.storagePools.read(sp.ssd)).status?.provisioned === "20Gi", { what: "pool shows 20Gi provisioned" });
    expect((await p.storagePools.read(sp.ssd)).status).toMatchObject({ physical: "100Gi", allocatable: "150Gi", available: "130Gi" });

    // Grow: the PV and the claim follow. Shrink: refused by the apiserver.
    await evs().patch("v1", { size: "30Gi" });
    v = await eventually(async () => { const x = await evs().settled("v1"); return x && x.status?.capacity === "30Gi" && x; }, { what: "v1 grown to 30Gi" });
    expect((await core.readNamespacedPersistentVolumeClaim({ name: "evs-v1", namespace: ns.name })).status?.capacity?.storage).toBe("30Gi");
    expect((await core.readPersistentVolume({ name: v.status?.persistentVolume as string })).spec?.capacity?.storage).toBe("30Gi");
    expect(await refusal(evs().patch("v1", { size: "10Gi" }))).toMatch(/spec\.size can only grow/);
    expect((await eventsFor("v1", "Expanded")).length).toBe(1);

    // Retype to HDD: the volume moves to the HDD pool; the SSD pool gets its room back.
    await evs().patch("v1", { type: types.hdd });
    v = await eventually(async () => { const x = await evs().settled("v1"); return x && x.status?.storagePool === sp.hdd && x; }, { what: "v1 moved to the HDD pool" });
    expect(v.status?.iops).toBe(530);
    await eventually(async () => (await p.storagePools.read(sp.ssd)).status?.provisioned === "0", { what: "SSD pool released" });

    // Snapshot, restore (too small: refused with the sizes; big enough: Available), clone.
    await evs().snapshot("s1", "v1");
    const s1 = await eventually(() => evs().snapshotReady("s1"), { what: "s1 taken" });
    expect(s1.status?.size).toBe("30Gi");
    await evs().create("small", { size: "20Gi", type: types.ssd, zone, source: { snapshot: "s1" } });
    const small = await eventually(async () => { const c = await readyOf("small"); return c?.reason === "SizeTooSmall" && c; }, { what: "restore too small" });
    expect(small.message).toBe('spec.size: 20Gi is smaller than snapshot "s1" (30Gi)');
    await evs().create("restored", { size: "30Gi", type: types.ssd, zone, source: { snapshot: "s1" } });
    await eventually(() => evs().settled("restored", "Available"), { what: "restored from s1" });
    await eventually(async () => (await evs().readSnapshot("s1")).status?.restores === 2, { what: "s1 counts its restores" });
    await evs().create("clone", { size: "40Gi", type: types.ssd, zone, source: { volume: "v1" } });
    await eventually(() => evs().settled("clone", "Available"), { what: "clone of v1" });
    await evs().create("far-clone", { size: "40Gi", type: types.ssd, zone: otherZone, source: { volume: "v1" } });
    const far = await eventually(async () => { const c = await readyOf("far-clone"); return c?.reason === "ZoneMismatch" && c; }, { what: "cross-zone clone refused" });
    expect(far.message).toMatch(/spec\.source\.volume: Volume "v1" is in zone .*, not .*; a clone stays in its source's zone/);
    // The snapshot outlives its volume.
    await evs().delete("small");
    await evs().delete("far-clone");
  });

  it("never provisions past a pool's allocatable, and refuses bad specs naming the field", async () => {
    // 150Gi allocatable on the SSD pool, 70Gi already used (restored 30Gi + clone 40Gi).
    await evs().create("huge", { size: "81Gi", type: types.ssd, zone });
    const huge = await eventually(async () => { const c = await readyOf("huge"); return c?.reason === "PoolExhausted" && c; }, { what: "pool exhausted" });
    expect(huge.message).toMatch(/no SSD StoragePool in zone .* has 81Gi left \(most: .* with 80Gi\)/);
    expect((await evs().read("huge")).status?.storagePool).toBeUndefined();
    await evs().create("fits", { size: "80Gi", type: types.ssd, zone });
    await eventually(() => evs().settled("fits"), { what: "80Gi fits exactly" });
    await eventually(async () => (await p.storagePools.read(sp.ssd)).status?.available === "0", { what: "pool full" });
    await evs().delete("huge");
    await evs().delete("fits");

    // A burst placed by concurrent workers: 80Gi left, ten 20Gi volumes at once, exactly four fit.
    await eventually(async () => (await p.storagePools.read(sp.ssd)).status?.available === "80Gi", { what: "80Gi free again" });
    const burst = Array.from({ length: 10 }, (_, i) => `burst-${i}`);
    await Promise.all(burst.map((n) => evs().create(n, { size: "20Gi", type: types.ssd, zone })));
    const outcomes = await eventually(async () => {
      const reasons = await Promise.all(burst.map(async (n) => (await readyOf(n))?.reason));
      return reasons.every((r) => r === "PoolExhausted" || r === "Available") && reasons;
    }, { what: "each burst volume placed or refused" });
    expect(outcomes.filter((r) => r === "Available")).toHaveLength(4);
    expect((await p.storagePools.read(sp.ssd)).status?.available).toBe("0");
    for (const n of burst) await evs().delete(n);

    const ok = { size: "10Gi", type: types.ssd, zone };
    expect(await refusal(evs().create("big", { ...ok, size: "40Ti" }))).toMatch(/spec\.size must be between 1Gi and 32Ti/);
    expect(await refusal(evs().create("tiny", { ...ok, size: "0Gi" }))).toMatch(/spec\.size must be between 1Gi and 32Ti/);
    expect(await refusal(evs().create("mb", { ...ok, size: "500Mi" }))).toMatch(/spec\.size/);
    expect(await refusal(evs().create("two", { ...ok, source: { snapshot: "s1", volume: "v1" } }))).toMatch(/spec\.source must set at most one of snapshot, volume or image/);
    expect(await refusal(evs().patch("v1", { zone: otherZone }))).toMatch(/spec\.zone is immutable/);
    expect(await refusal(evs().patch("v1", { multiAttach: true }))).toMatch(/spec\.multiAttach is immutable/);
    await evs().create("typo", { ...ok, type: "nope" });
    const typo = await eventually(async () => { const c = await readyOf("typo"); return c?.reason === "VolumeTypeNotFound" && c; }, { what: "VolumeTypeNotFound" });
    expect(typo.message).toBe('spec.type: VolumeType "nope" not found');
    await evs().delete("typo");
  });

  it("attaches under the rules: same zone, one instance unless multiAttach, no delete while attached", async () => {
    await evs().create("d", { size: "10Gi", type: types.hdd, zone });
    await evs().create("elsewhere", { size: "10Gi", type: types.ssd, zone: otherZone });
    await evs().create("shared", { size: "10Gi", type: types.hdd, zone, multiAttach: true });
    await ecs().create("a", { flavor: cat.flavor, image: cat.x86, terminationGracePeriodSeconds: 0, dataVolumes: [{ volume: "d" }, { volume: "shared" }] });
    await ecs().create("b", { flavor: cat.flavor, image: cat.x86, terminationGracePeriodSeconds: 0, dataVolumes: [{ volume: "shared" }] });
    const a = await eventually(() => ecs().settled("a"), { what: "a Running with its volumes" });
    expect(a.status?.zone).toBe(zone); // pinned to the volumes' zone
    const pod = (await ecs().launchers("a"))[0];
    expect(pod?.spec?.volumes?.map((v) => v.persistentVolumeClaim?.claimName)).toEqual(["evs-d", "evs-shared"]);
    await eventually(() => ecs().settled("b"), { what: "b Running with the shared volume" });
    const shared = await eventually(async () => { const v = await evs().settled("shared", "InUse"); return v && v.status?.attachments?.length === 2 && v; }, { what: "shared attached twice" });
    expect(shared.status?.attachments?.map((x) => x.instance).sort()).toEqual(["a", "b"]);

    // Another instance may not take d; nor attach a volume of another zone.
    await ecs().patch("b", { dataVolumes: [{ volume: "shared" }, { volume: "d" }] });
    const inUse = await eventually(async () => { const i = await ecs().read("b"); const r = i.status?.conditions?.find((c) => c.type === "Ready"); return r?.reason === "VolumeInUse" && i.status?.observedGeneration === i.metadata.generation && r; }, { what: "b refused d" });
    expect(inUse.message).toMatch(/spec\.dataVolumes\[1\]: Volume "d" is attached to instance a and is not multiAttach/);
    expect((await ecs().read("b")).status?.powerState).toBe("Running"); // the running instance is unaffected
    await ecs().create("c", { flavor: cat.flavor, image: cat.x86, zone, dataVolumes: [{ volume: "elsewhere" }] });
    const mismatch = await eventually(async () => { const i = await ecs().read("c"); const r = i.status?.conditions?.find((x) => x.type === "Ready"); return r?.reason === "VolumeZoneMismatch" && r; }, { what: "zone mismatch" });
    expect(mismatch.message).toMatch(/spec\.dataVolumes\[0\]: Volume "elsewhere" is in zone .*az2, but the instance is in zone .*; a volume attaches only in its own zone/);
    await ecs().delete("c");

    // Deleting an attached volume waits, saying why.
    await evs().delete("d");
    const blocked = await eventually(async () => { const d = await evs().read("d"); const c = d.status?.conditions?.find((x) => x.type === "Ready"); return d.status?.state === "Deleting" && c?.reason === "InUse" && c; }, { what: "delete blocked" });
    expect(blocked.message).toMatch(/cannot be deleted while attached to instance a/);
    expect((await eventsFor("d", "DeleteBlocked")).length).toBe(1);
    // A volume being deleted gains no new attachment: b, still asking for it, is told so.
    const deleting = await eventually(async () => { const i = await ecs().read("b"); const r = i.status?.conditions?.find((c) => c.type === "Ready"); return r?.reason === "VolumeDeleting" && r; }, { what: "b told d is going" });
    expect(deleting.message).toMatch(/spec\.dataVolumes\[1\]: Volume "d" is being deleted/);
    // Detach it from a: a relaunches without it, and then it goes.
    await ecs().patch("a", { dataVolumes: [{ volume: "shared" }] });
    await eventually(async () => { const x = await ecs().settled("a"); return x && (await ecs().launchers("a"))[0]?.spec?.volumes?.length === 1; }, { what: "a relaunched without d" });
    await eventuallyGone(() => evs().read("d"), "d deleted once detached", 60_000);
    await ecs().patch("b", { dataVolumes: [{ volume: "shared" }] });
    await eventuallyGone(() => core.readNamespacedPersistentVolumeClaim({ name: "evs-d", namespace: ns.name }), "d's claim deleted", 30_000);
  });

  it("keeps data volumes when an instance is deleted unless told otherwise, and moves them with a failed-over instance", async () => {
    await evs().create("keep", { size: "10Gi", type: types.hdd, zone });
    await evs().create("drop", { size: "10Gi", type: types.hdd, zone });
    await ecs().create("vm", { flavor: cat.flavor, image: cat.x86, dataVolumes: [{ volume: "keep" }, { volume: "drop", deleteWithInstance: true }] });
    const vm = await eventually(() => ecs().settled("vm"), { what: "vm Running" });
    const failing = vm.status?.nodeName as string;
    const label = `/metadata/labels/${NODE_NOT_READY_LABEL.replace("/", "~1")}`;
    await core.patchNode({ name: failing, body: [{ op: "add", path: label, value: "true" }] });
    try {
      const moved = await eventually(async () => { const x = await ecs().settled("vm"); return x && x.status?.nodeName !== failing && x; }, { what: "vm failed over", timeoutMs: 120_000 });
      expect(moved.status?.failovers).toBe(1);
      const pod = (await ecs().launchers("vm"))[0];
      expect(pod?.spec?.volumes?.map((v) => v.persistentVolumeClaim?.claimName)).toEqual(["evs-keep", "evs-drop"]); // the same disks
      await eventually(async () => (await evs().read("keep")).status?.attachments?.[0]?.node === moved.status?.nodeName, { what: "keep shows the new host" });
    } finally {
      await core.patchNode({ name: failing, body: [{ op: "remove", path: label }] });
    }
    await ecs().delete("vm");
    await eventuallyGone(() => ecs().read("vm"), "vm deleted", 60_000);
    await eventuallyGone(() => evs().read("drop"), "drop deleted with the instance", 60_000);
    const keep = await eventually(() => evs().settled("keep", "Available"), { what: "keep detached and kept" });
    expect(keep.status?.attachments).toBeUndefined();
  });
});
