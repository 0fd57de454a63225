// ECS instances against the real control plane: a Cell with an x86 and an ARM NodePool (KWOK
// hosts), the catalog, and a manager running the cell scheduler and the instance controller.
// Fifty instances reach Ready on hosts of their architecture; one instance goes through every power
// and lifecycle operation; a host failure moves instances elsewhere; bad specs are refused by the
// apiserver or shown as Ready=False, and nothing else breaks.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KubeClient } from "../operators/runtime/kube.ts";
import { clients, eventually, eventuallyGone, kubectlAsync, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { createCatalog, instancesIn } from "./support/compute.ts";
import { startManager, type InProcessManager } from "./support/manager.ts";
import { NODE_NOT_READY_LABEL, hostsReady } from "./support/nodes.ts";
import { platformIn, poolSpec } from "./support/platform.ts";
import { FlavorRef, ImageRef } from "../operators/api/compute.ts";

const { core, kc } = clients();
const ns = useNamespace("ecs");
const base = uniqueName("ecs");
const cell = `${base}-cell`;
const zone = `${base}-az`;
const pools = { amd64: `${base}-x86`, arm64: `${base}-arm` };
const p = platformIn(kc);
let m: InProcessManager;
let cat: Awaited<ReturnType<typeof createCatalog>>;
const ecs = () => instancesIn(kc, core, ns.name);

beforeAll(async () => {
  m = await startManager(["nodepool", "cell", "scheduler", "compute-catalog", "instance"]);
  cat = await createCatalog(kc, base);
  await p.cells.create(cell, { region: "r-ecs", zone, placementStrategy: "Spread" });
  const capacity = { cpu: "32", memory: "128Gi" };
  await p.nodePools.create(pools.amd64, poolSpec(cell, { architecture: "amd64", cpuVendor: "intel", nodes: 3, capacity }));
  await p.nodePools.create(pools.arm64, poolSpec(cell, { architecture: "arm64", cpuVendor: "kunpeng", nodes: 3, capacity }));
  await hostsReady(core, `cellcloud.io/cell=${cell}`, 6);
});

afterAll(async () => {
  // Instances hold a finalizer the manager removes: delete them while it still runs.
  const list = await ecs().list().catch(() => []);
  await Promise.all(list.map((i) => ecs().delete(i.metadata.name).catch(() => undefined)));
  await eventually(async () => (await ecs().list()).length === 0, { what: "instances deleted", timeoutMs: 60_000 }).catch(() => undefined);
  for (const pool of Object.values(pools)) await p.nodePools.delete(pool).catch(() => undefined);
  await eventually(async () => (await p.nodePools.list()).every((np) => !Object.values(pools).includes(np.metadata.name)), { what: "pools gone", timeoutMs: 60_000 }).catch(() => undefined);
  await p.cells.delete(cell).catch(() => undefined);
  const client = new KubeClient(kc);
  for (const [ref, name, ns] of cat?.all ?? []) await client.delete(ref, name, ns).catch(() => undefined);
  await m?.mgr.stop();
});

const cellAllocatedCpu = async () => String(((await p.cells.read(cell)).status?.total as { allocated?: { cpu?: string } } | undefined)?.allocated?.cpu);
const nodeArch = async (node: string) => (await core.readNode({ name: node })).metadata?.labels?.["kubernetes.io/arch"];

describe("ECS instances", () => {
  it("launches 50 instances across x86 and ARM; all reach Ready on hosts of their architecture", async () => {
    const names = Array.from({ length: 50 }, (_, i) => `fleet-${i}`);
    await Promise.all(names.map((n, i) => ecs().create(n, { flavor: cat.flavor, image: i % 2 ? cat.arm : cat.x86, zone })));
    // Asynchronously: the manager runs in this process, and a synchronous kubectl would stop it.
    await kubectlAsync(["wait", "--for=condition=Ready", "ecs", "--all", "-n", ns.name, "--timeout=150s"]);
    const list = await ecs().list();
    expect(list.length).toBe(50);
    for (const i of list) {
      const arch = i.spec.image === cat.arm ? "arm64" : "amd64";
      expect(i.status).toMatchObject({ powerState: "Running", architecture: arch, cell, zone, vcpus: 2, memory: "4Gi" });
      expect(await nodeArch(i.status?.nodeName as string)).toBe(arch);
      expect(i.status?.conditions?.find((c) => c.type === "Scheduled")?.status).toBe("True");
    }
    // One launcher pod each, owned by its instance and placed by the cell scheduler.
    const pods = (await core.listNamespacedPod({ namespace: ns.name, labelSelector: "compute.cellcloud.io/instance" })).items;
    expect(pods.length).toBe(50);
    expect(pods.every((pod) => pod.spec?.schedulerName === "cellcloud-scheduler" && pod.metadata?.ownerReferences?.[0]?.kind === "Instance")).toBe(true);
    expect(await kubectlAsync(["get", "ecs", "-n", ns.name, "fleet-1"])).toMatch(/fleet-1\s+Running\s+\S+-g1\s+arm64\s+\S+\s+True/);
    await Promise.all(names.map((n) => ecs().delete(n)));
    await eventually(async () => (await ecs().list()).length === 0 &&
      (await core.listNamespacedPod({ namespace: ns.name, labelSelector: "compute.cellcloud.io/instance" })).items.length === 0,
    { what: "50 instances and their launchers gone", timeoutMs: 90_000 });
  });

  it("stops and starts, pauses and resumes, reboots, resizes, rebuilds and migrates, each visible in status and Events", async () => {
    const vm = "life";
    await ecs().create(vm, { flavor: cat.flavor, image: cat.x86, zone, terminationGracePeriodSeconds: 0 });
    let i = await eventually(() => ecs().settled(vm), { what: "instance Running" });
    const firstPod = i.status?.launcherPod as string;
    const allocated = await eventually(async () => { const c = await cellAllocatedCpu(); return c === "2" && c; }, { what: "the Cell counts 2 cpu allocated" });
    expect(allocated).toBe("2");

    // Stop: the launcher goes, the host is released (the Cell's allocation drops), disks are kept.
    await ecs().patch(vm, { powerState: "Stopped" });
    i = await eventually(() => ecs().settled(vm, "Stopped"), { what: "instance Stopped" });
    expect(i.status?.nodeName).toBeUndefined();
    expect(i.status?.conditions?.find((c) => c.type === "Scheduled")).toMatchObject({ status: "False", reason: "Stopped" });
    expect(await ecs().launchers(vm)).toEqual([]);
    await eventually(async () => (await cellAllocatedCpu()) === "0", { what: "the Cell's allocation released" });
    // Start again.
    await ecs().patch(vm, { powerState: "Running" });
    i = await eventually(() => ecs().settled(vm), { what: "instance Running again" });
    expect((await ecs().events(vm, "Stopped")).length).toBe(1);
    expect((await ecs().events(vm, "Started")).length).toBeGreaterThanOrEqual(1);

    // Pause and resume keep the host and the launcher.
    const host = i.status?.nodeName;
    await ecs().patch(vm, { powerState: "Paused" });
    i = await eventually(() => ecs().settled(vm, "Paused"), { what: "instance Paused" });
    expect(i.status?.nodeName).toBe(host);
    await ecs().patch(vm, { powerState: "Running" });
    await eventually(() => ecs().settled(vm), { what: "instance resumed" });
    await eventually(async () => (await ecs().events(vm, "Paused")).length === 1 && (await ecs().events(vm, "Resumed")).length === 1, { what: "Paused and Resumed Events" });

    // Reboot: a new launcher and a new boot time.
    const beforeReboot = await ecs().read(vm);
    await ecs().patch(vm, { restartRequestedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z") });
    i = await eventually(async () => { const x = await ecs().settled(vm); return x && x.status?.launcherPod !== beforeReboot.status?.launcherPod && x; }, { what: "rebooted" });
    expect(i.status?.launcherPod).not.toBe(firstPod);
    expect((await ecs().events(vm, "Rebooting")).length).toBe(1);
    expect(await ecs().launchers(vm)).toHaveLength(1);

    // Online resize up: the same launcher grows in place.
    const podBefore = (await ecs().launchers(vm))[0]?.metadata?.uid;
    await ecs().patch(vm, { flavor: cat.bigFlavor });
    i = await eventually(async () => { const x = await ecs().settled(vm); return x && x.status?.vcpus === 4 && x; }, { what: "resized online to 4 vCPU" });
    expect(i.status?.memory).toBe("8Gi");
    const grown = await ecs().launchers(vm);
    expect(grown.map((pod) => pod.metadata?.uid)).toEqual([podBefore]);
    expect(grown[0]?.spec?.containers[0]?.resources?.requests).toEqual({ cpu: "4", memory: "8Gi" });
    await eventually(async () => (await cellAllocatedCpu()) === "4", { what: "the Cell counts the resized instance" });
    expect((await ecs().events(vm, "Resized")).length).toBe(1);

    // Shrinking needs Stopped: Ready=False says so, the instance keeps running at its size.
    await ecs().patch(vm, { flavor: cat.flavor });
    i = await eventually(async () => { const x = await ecs().read(vm); const r = x.status?.conditions?.find((c) => c.type === "Ready"); return r?.reason === "ResizeRequiresStop" && x.status?.observedGeneration === x.metadata.generation && x; }, { what: "ResizeRequiresStop" });
    expect(i.status?.conditions?.find((c) => c.type === "Ready")?.message).toMatch(/4 vCPU\/8Gi → 2 vCPU\/4Gi shrinks the instance; set spec.powerState: Stopped/);
    expect(i.status?.vcpus).toBe(4);
    await ecs().patch(vm, { powerState: "Stopped" });
    await eventually(() => ecs().settled(vm, "Stopped"), { what: "stopped to shrink" });
    await ecs().patch(vm, { powerState: "Running" });
    i = await eventually(async () => { const x = await ecs().settled(vm); return x && x.status?.vcpus === 2 && x; }, { what: "running at 2 vCPU after the offline resize" });

    // Rebuild with another image, the tenant's own (in the instance's namespace, found there by name):
    // a new launcher booted from it (same architecture here).
    const otherImage = `${base}-ubuntu-24`;
    const client = new KubeClient(kc);
    await client.create(ImageRef, {
      apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Image", metadata: { name: otherImage, namespace: ns.name },
      spec: { os: { type: "linux", distribution: "ubuntu", version: "24.04" }, architecture: "amd64", source: { url: "https://images.example.com/ubuntu-24.img" } },
    });
    await ecs().patch(vm, { image: otherImage });
    await eventually(async () => { const x = await ecs().settled(vm); return x && (await ecs().launchers(vm))[0]?.metadata?.annotations?.["compute.cellcloud.io/image"] === otherImage && x; }, { what: "rebuilt" });
    expect((await ecs().events(vm, "Rebuilding")).length).toBe(1);

    // Migrate to any other host, then to a chosen one: status records from, to and duration.
    const from = (await ecs().read(vm)).status?.nodeName as string;
    await ecs().patch(vm, { migration: { requestedAt: "2026-01-01T00:00:00Z" } });
    i = await eventually(async () => { const x = await ecs().settled(vm); return x && x.status?.migration?.state === "Succeeded" && x; }, { what: "migrated" });
    expect(i.status?.migration).toMatchObject({ sourceNode: from, targetNode: i.status?.nodeName, state: "Succeeded" });
    expect(i.status?.nodeName).not.toBe(from);
    expect(i.status?.migration?.durationSeconds).toBeGreaterThanOrEqual(0);
    expect((await ecs().events(vm, "Migrated"))[0]?.message).toMatch(new RegExp(`migrated from ${from} to ${i.status?.nodeName} in \\d+s`));
    const target = `${pools.amd64}-2` === i.status?.nodeName ? `${pools.amd64}-0` : `${pools.amd64}-2`;
    await ecs().patch(vm, { migration: { requestedAt: "2026-01-01T00:05:00Z", targetNode: target } });
    i = await eventually(async () => { const x = await ecs().settled(vm); return x && x.status?.migration?.requestedAt === "2026-01-01T00:05:00Z" && x.status.migration.state === "Succeeded" && x; }, { what: "migrated to the chosen host" });
    expect(i.status?.nodeName).toBe(target);
  });

  it("re-places a failed host's instances on healthy hosts with a Failover Event", async () => {
    const names = ["ha-0", "ha-1", "ha-2", "ha-3"];
    await Promise.all(names.map((n) => ecs().create(n, { flavor: cat.flavor, image: cat.arm, zone, priority: "High" })));
    const placed = await Promise.all(names.map((n) => eventually(() => ecs().settled(n), { what: `${n} Running` })));
    // Spread strategy: the four are over the three ARM hosts; fail the host of the first.
    const failing = placed[0]!.status?.nodeName as string;
    const victims = placed.filter((x) => x.status?.nodeName === failing).map((x) => x.metadata.name);
    const specBefore = Object.fromEntries(placed.map((x) => [x.metadata.name, x.spec]));
    await core.patchNode({ name: failing, body: [{ op: "add", path: `/metadata/labels/${NODE_NOT_READY_LABEL.replace("/", "~1")}`, value: "true" }] });
    try {
      for (const v of victims) {
        const moved = await eventually(async () => { const x = await ecs().settled(v); return x && x.status?.nodeName !== failing && x; }, { what: `${v} re-placed`, timeoutMs: 150_000 });
        expect(await nodeArch(moved.status?.nodeName as string)).toBe("arm64");
        expect(moved.status?.failovers).toBe(1);
        expect(moved.spec).toEqual(specBefore[v]); // same instance, same disks
        const failover = await eventually(async () => (await ecs().events(v, "Failover"))[0], { what: "Failover Event" });
        expect(failover.message).toMatch(new RegExp(`host ${failing} failed; restarting on another host`));
      }
      // The others were not touched.
      for (const x of placed.filter((y) => !victims.includes(y.metadata.name))) {
        expect((await ecs().read(x.metadata.name)).status?.launcherPod).toBe(x.status?.launcherPod);
      }
    } finally {
      await core.patchNode({ name: failing, body: [{ op: "remove", path: `/metadata/labels/${NODE_NOT_READY_LABEL.replace("/", "~1")}` }] });
    }
    await eventually(async () => (await core.readNode({ name: failing })).status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"), { what: "host recovered" });
    await Promise.all(names.map((n) => ecs().delete(n)));
  });

  it("refuses invalid specs with the field named, or shows Ready=False with a reason; nothing else breaks", async () => {
    const ok = { flavor: cat.flavor, image: cat.x86 };
    expect(await refusal(ecs().create("too-big", { image: cat.x86, resources: { vcpus: 300, memory: "8Gi" } }))).toMatch(/spec\.resources\.vcpus.*256/);
    expect(await refusal(ecs().create("odd-mem", { image: cat.x86, resources: { vcpus: 2, memory: "6Gi" } }))).toMatch(/spec\.resources\.memory must be a positive multiple of 4Gi/);
    expect(await refusal(ecs().create("both", { ...ok, resources: { vcpus: 2, memory: "4Gi" } }))).toMatch(/spec must set exactly one of flavor or resources/);
    expect(await refusal(ecs().create("no-image", { flavor: cat.flavor }))).toMatch(/spec\.image: Required value/);
    const nics = Array.from({ length: 17 }, (_, k) => ({ subnet: `s${k}` }));
    expect(await refusal(ecs().create("nics", { ...ok, nics }))).toMatch(/spec\.nics: Too many: 17: must have at most 16 items/);
    expect(await refusal(ecs().create("state", { ...ok, powerState: "Hibernated" }))).toMatch(/spec\.powerState: Unsupported value: "Hibernated"/);
    const disks = Array.from({ length: 16 }, (_, k) => ({ volume: `d${k}` }));
    expect(await refusal(ecs().create("disks", { ...ok, dataVolumes: disks }))).toMatch(/spec\.dataVolumes: Too many: 16: must have at most 15 items/);

    const late = `${base}-late`;
    await ecs().create("bad-flavor", { flavor: late, image: cat.x86 });
    await ecs().create("bad-image", { flavor: cat.flavor, image: `${base}-missing` });
    await ecs().create("mismatch", { flavor: cat.fixedFlavor, image: cat.arm });
    await ecs().create("small-disk", { ...ok, systemDisk: { sizeGiB: 10 } });
    await ecs().create("fine", ok);
    const readyOf = async (n: string) => { const x = await ecs().read(n); return x.status?.observedGeneration === x.metadata.generation ? x.status?.conditions?.find((c) => c.type === "Ready") : undefined; };
    const expectations: Array<[string, string, RegExp]> = [
      ["bad-flavor", "FlavorNotFound", new RegExp(`spec.flavor: Flavor "${late}" not found`)],
      ["bad-image", "ImageNotFound", /spec\.image: Image ".*-missing" not found/],
      ["mismatch", "ArchitectureMismatch", /is arm64, but Flavor ".*-m1" is offered only on amd64/],
      ["small-disk", "SystemDiskTooSmall", /spec\.systemDisk\.sizeGiB: 10 GiB is smaller than Image ".*" needs \(20 GiB\)/],
    ];
    for (const [n, reason, message] of expectations) {
      const r = await eventually(async () => { const c = await readyOf(n); return c?.reason === reason && c; }, { what: `${n} Ready=False ${reason}` });
      expect(r.status).toBe("False");
      expect(r.message).toMatch(message);
      expect(await ecs().launchers(n)).toEqual([]);
    }
    expect((await ecs().read("mismatch")).status?.conditions?.find((c) => c.type === "Stalled")?.status).toBe("True");
    await eventually(() => ecs().settled("fine"), { what: "a good instance next to the bad ones runs" });
    // The missing flavor appears: the instance that named it starts by itself.
    await new KubeClient(kc).create(FlavorRef, { apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Flavor", metadata: { name: late }, spec: { vcpus: 2, memory: "4Gi", family: "general", architectures: ["amd64"] } });
    cat.all.push([FlavorRef, late]);
    await eventually(() => ecs().settled("bad-flavor"), { what: "bad-flavor runs once its Flavor exists" });
    expect(m.failures(ns.name, "bad-image").filter((f) => f.terminal)).toEqual([]);
  });

  it("deleting an instance removes its launcher and releases its host", async () => {
    await ecs().create("gone", { flavor: cat.flavor, image: cat.x86 });
    const i = await eventually(() => ecs().settled("gone"), { what: "Running" });
    expect(i.metadata.finalizers).toContain("compute.cellcloud.io/launcher");
    await ecs().delete("gone");
    await eventuallyGone(() => ecs().read("gone"), "instance deleted after its launcher", 60_000);
    expect(await ecs().launchers("gone")).toEqual([]);
  });
});
