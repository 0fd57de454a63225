import { describe, expect, it } from "vitest";
import { USER_DATA_MAX_BYTES, type FlavorSpec, type ImageSpec, type InstanceSpec } from "../api/compute.ts";
import { isProblem, launcher, launcherName, launcherPod, resolve, USER_DATA_RECHECK_MS, userDataProblem, type Catalog, type InstanceObj, type Pod, type Resolved } from "./instance.ts";
import { instanceState, planResize, powerEvent, replacementCause } from "./instance-state.ts";

const flavors: Record<string, FlavorSpec> = {
  "g1.large": { vcpus: 2, memory: "4Gi", architectures: ["amd64", "arm64"], family: "general", onlineResize: true },
  "m1.2xlarge": { vcpus: 8, memory: "64Gi", architectures: ["amd64"], family: "memory", onlineResize: false },
};
const images: Record<string, ImageSpec> = {
  ubuntu: { os: { type: "linux", distribution: "ubuntu", version: "22.04" }, architecture: "amd64", minDiskGiB: 20, source: { url: "https://x/y.img" } },
  euler: { os: { type: "linux", distribution: "openEuler", version: "22.03" }, architecture: "arm64", minDiskGiB: 40, source: { url: "https://x/z.img" } },
};
const vol = (zone: string, attached: string[], multiAttach = false) => ({
  spec: { size: "10Gi", type: "ssd", zone, multiAttach }, status: { attachments: attached.map((instance) => ({ instance })) },
});
const volumes: Record<string, ReturnType<typeof vol>> = {
  d1: vol("az1", ["vm1"]), d2: vol("az2", ["vm1"]), held: vol("az1", ["other"]), pending: vol("az1", []), shared: vol("az1", ["other", "vm1"], true),
};
const catalog: Catalog = {
  flavor: (n) => flavors[n],
  image: (n) => images[n],
  keyPair: (n) => (n === "ops" ? { status: { fingerprint: "SHA256:abc" } } : n === "bad" ? {} : undefined),
  deploymentSet: (n) => (n === "web" ? { domain: "rack", mode: "strict", maxPerDomain: 1 } : undefined),
  volume: (n) => volumes[n],
};

function spec(extra: Partial<InstanceSpec> = {}): InstanceSpec {
  return { flavor: "g1.large", image: "ubuntu", powerState: "Running", terminationGracePeriodSeconds: 30, systemDisk: {}, priority: "Normal", ...extra };
}
const inst = (s: InstanceSpec): InstanceObj => ({ metadata: { name: "vm1", namespace: "t1", uid: "u1", generation: 1 }, spec: s });

describe("Instance: resolving the catalog", () => {
  it("takes size from the flavor, architecture and default disk from the image", () => {
    expect(resolve(spec(), catalog)).toEqual({ size: { vcpus: 2, memory: "4Gi", onlineResize: true, source: "flavor g1.large" }, arch: "amd64", diskGiB: 20, volumes: [] });
    expect(resolve(spec({ flavor: undefined, resources: { vcpus: 6, memory: "12Gi" }, image: "euler" }), catalog))
      .toMatchObject({ size: { vcpus: 6, memory: "12Gi", onlineResize: true, source: "custom size" }, arch: "arm64", diskGiB: 40 });
  });

  it("names the field and the object for everything it cannot resolve", () => {
    const cases: Array<[Partial<InstanceSpec>, string, RegExp, boolean]> = [
      [{ flavor: "nope" }, "FlavorNotFound", /^spec\.flavor: Flavor "nope" not found/, false],
      [{ image: "nope" }, "ImageNotFound", /^spec\.image: Image "nope" not found/, false],
      [{ flavor: "m1.2xlarge", image: "euler" }, "ArchitectureMismatch", /Image "euler" is arm64, but Flavor "m1.2xlarge" is offered only on amd64/, true],
      [{ image: "euler", systemDisk: { sizeGiB: 30 } }, "SystemDiskTooSmall", /^spec\.systemDisk\.sizeGiB: 30 GiB is smaller than Image "euler" needs \(40 GiB\)/, true],
      [{ keyPair: "nope" }, "KeyPairNotFound", /^spec\.keyPair: KeyPair "nope" not found/, false],
      [{ keyPair: "bad" }, "KeyPairNotReady", /no valid public key/, false],
      [{ deploymentSet: "nope" }, "DeploymentSetNotFound", /^spec\.deploymentSet: DeploymentSet "nope"/, false],
    ];
    for (const [extra, reason, message, stalled] of cases) {
      const r = resolve(spec(extra), catalog);
      expect(isProblem(r), reason).toBe(true);
      expect(r).toMatchObject({ reason, stalled });
      expect((r as { message: string }).message).toMatch(message);
    }
  });
});

describe("Instance: user data, checked before boot", () => {
  const ud = { secretName: "init", key: "userdata" };
  const withUserData = (facts: Catalog["userData"]) => resolve(spec({ userData: ud }), { ...catalog, ...(facts ? { userData: facts } : {}) });

  it("boots when the Secret holds the key within the limit, or when it was not looked at", () => {
    expect(isProblem(withUserData({ found: true, bytes: USER_DATA_MAX_BYTES }))).toBe(false);
    expect(isProblem(withUserData({ found: true, bytes: 0 }))).toBe(false);
    expect(isProblem(withUserData(undefined))).toBe(false);
  });

  it("names the field for a missing Secret, a missing key user data over the limit and a Secret it may not read, and looks again (Secrets are not watched)", () => {
    const cases: Array<[Catalog["userData"], string, RegExp]> = [
      [{ found: false }, "UserDataNotFound", /^spec\.userData\.secretName: Secret "init" not found in this namespace$/],
      [{ found: false, forbidden: true }, "UserDataUnreadable", /^spec\.userData\.secretName: the manager may not check Secrets in this namespace \(tenant namespaces grant it; elsewhere bind ClusterRole cellcloud-user-data-reader/],
      [{ found: true, bytes: undefined }, "UserDataKeyNotFound", /^spec\.userData\.key: Secret "init" has no key "userdata"$/],
      [{ found: true, bytes: 1_048_576 }, "UserDataTooLarge", /^spec\.userData: Secret "init" key "userdata" holds 1048576 bytes; user data is at most 65536$/],
    ];
    for (const [facts, reason, message] of cases) {
      const r = withUserData(facts);
      expect(r, reason).toMatchObject({ reason, stalled: false, recheckMs: USER_DATA_RECHECK_MS });
      expect((r as { message: string }).message).toMatch(message);
      expect(userDataProblem(ud, facts)).toEqual(r);
    }
  });
});

describe("Instance: data volumes", () => {
  const dv = (...names: string[]) => names.map((volume) => ({ volume, deleteWithInstance: false }));
  it("mounts attached volumes as block devices and pins the instance to their zone", () => {
    const s = spec({ dataVolumes: dv("d1", "shared") });
    const r = resolve(s, catalog, "vm1") as Resolved;
    expect(r).toMatchObject({ volumes: [{ name: "d1", claim: "evs-d1" }, { name: "shared", claim: "evs-shared" }], volumeZone: "az1" });
    const pod = launcherPod(inst(s), r);
    expect(pod.spec?.nodeSelector?.["topology.kubernetes.io/zone"]).toBe("az1");
    expect(pod.spec?.volumes).toEqual([{ name: "data-0", persistentVolumeClaim: { claimName: "evs-d1" } }, { name: "data-1", persistentVolumeClaim: { claimName: "evs-shared" } }]);
    expect(pod.spec?.containers[0]?.volumeDevices).toEqual([{ name: "data-0", devicePath: "/dev/vdb" }, { name: "data-1", devicePath: "/dev/vdc" }]);
    expect(launcherName(inst(s))).not.toBe(launcherName(inst(spec({ dataVolumes: dv("d1") }))));
  });
  it("says which volume is missing, in another zone, held by another instance or still attaching", () => {
    const cases: Array<[Partial<InstanceSpec>, string, RegExp]> = [
      [{ dataVolumes: dv("nope") }, "VolumeNotFound", /^spec\.dataVolumes\[0\]: Volume "nope" not found/],
      [{ dataVolumes: dv("d1"), zone: "az2" }, "VolumeZoneMismatch", /^spec\.dataVolumes\[0\]: Volume "d1" is in zone az1, but the instance is in zone az2/],
      [{ dataVolumes: dv("d1", "d2") }, "VolumeZoneMismatch", /^spec\.dataVolumes\[1\]: Volume "d2" is in zone az2, but the instance has volumes in zone az1/],
      [{ dataVolumes: dv("held") }, "VolumeInUse", /Volume "held" is attached to instance other and is not multiAttach/],
      [{ dataVolumes: dv("pending") }, "AttachingVolume", /waiting for Volume "pending" to attach/],
    ];
    for (const [extra, reason, message] of cases) {
      const r = resolve(spec(extra), catalog, "vm1");
      expect(r, reason).toMatchObject({ reason });
      expect((r as { message: string }).message).toMatch(message);
    }
  });
});

describe("Instance: the launcher pod", () => {
  const r = resolve(spec({ keyPair: "ops", deploymentSet: "web" }), catalog) as Resolved;

  it("gets a new name for each reboot, rebuild and migration request, and only for those", () => {
    const base = launcherName(inst(spec()));
    expect(base).toMatch(/^vm1-[0-9a-z]{5}$/);
    expect(launcherName(inst(spec({ powerState: "Stopped", flavor: "m1.2xlarge", zone: "az1" })))).toBe(base);
    const names = [
      launcherName(inst(spec({ restartRequestedAt: "2026-11-23T10:00:00Z" }))),
      launcherName(inst(spec({ restartRequestedAt: "2026-11-23T10:05:00Z" }))),
      launcherName(inst(spec({ image: "euler" }))),
      launcherName(inst(spec({ migration: { requestedAt: "2026-11-23T10:00:00Z" } }))),
    ];
    expect(new Set([base, ...names]).size).toBe(5);
  });

  it("is placed by the cell scheduler with the image's architecture, dedicated resources and short not-ready tolerations", () => {
    const pod = launcherPod(inst(spec({ zone: "az1", cell: "cell-a", priority: "High", userData: { secretName: "init", key: "userdata" }, keyPair: "ops", deploymentSet: "web" })), r);
    expect(pod.metadata.labels?.[launcher.instanceLabel]).toBe("vm1");
    expect(pod.metadata.ownerReferences).toEqual([{ apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", name: "vm1", uid: "u1", controller: true, blockOwnerDeletion: true }]);
    expect(pod.spec?.schedulerName).toBe("cellcloud-scheduler");
    expect(pod.spec?.priorityClassName).toBe("cellcloud-instance-high");
    expect(pod.spec?.nodeSelector).toEqual({ "kubernetes.io/arch": "amd64", "topology.kubernetes.io/zone": "az1", "cellcloud.io/cell": "cell-a" });
    expect(pod.spec?.containers[0]?.resources).toEqual({ requests: { cpu: "2", memory: "4Gi" }, limits: { cpu: "2", memory: "4Gi" } });
    expect(pod.spec?.tolerations?.map((t) => [t.key, t.effect, t.tolerationSeconds])).toEqual([
      ["node.kubernetes.io/not-ready", "NoExecute", 10], ["node.kubernetes.io/unreachable", "NoExecute", 10],
    ]);
    expect(pod.spec?.volumes?.[0]?.secret).toEqual({ secretName: "init", items: [{ key: "userdata", path: "userdata" }] });
    expect(pod.metadata.annotations).toMatchObject({
      "scheduling.cellcloud.io/spread-group": "deploymentset-web", "scheduling.cellcloud.io/spread-domain": "rack",
      "scheduling.cellcloud.io/spread-mode": "strict", "scheduling.cellcloud.io/spread-max": "1", [launcher.keyPair]: "SHA256:abc",
    });
    expect(pod.spec?.affinity).toBeUndefined();
  });

  it("a migration avoids the source host, or goes to the chosen one", () => {
    const away = launcherPod(inst(spec()), r, { sourceNode: "n1" });
    expect(away.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([{ matchFields: [{ key: "metadata.name", operator: "NotIn", values: ["n1"] }] }]);
    const to = launcherPod(inst(spec()), r, { sourceNode: "n1", targetNode: "n7" });
    expect(to.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms).toEqual([{ matchFields: [{ key: "metadata.name", operator: "In", values: ["n7"] }] }]);
  });

  it("knows why an old pod is being replaced", () => {
    const old = launcherPod(inst(spec()), r);
    expect(replacementCause(inst(spec({ image: "euler" })), old)).toBe("Rebuilding");
    expect(replacementCause(inst(spec({ migration: { requestedAt: "2026-11-23T10:00:00Z" } })), old)).toBe("Migrating");
    expect(replacementCause(inst(spec({ restartRequestedAt: "2026-11-23T10:00:00Z" })), old)).toBe("Rebooting");
  });
});

describe("Instance: resize", () => {
  const size = (vcpus: number, memory: string, onlineResize = true) => ({ vcpus, memory, onlineResize, source: "flavor f" });
  const room = { cpu: 64_000, memory: 256 * 2 ** 30 };
  it("grows online when the flavor allows it and the host has room", () => {
    expect(planResize({ vcpus: 2, memory: "4Gi" }, size(2, "4Gi"), room)).toEqual({ kind: "none" });
    expect(planResize({ vcpus: 2, memory: "4Gi" }, size(4, "8Gi"), room)).toEqual({ kind: "online" });
  });
  it("asks for Stopped to shrink, for flavors without online resize, and when the host is full", () => {
    expect(planResize({ vcpus: 4, memory: "8Gi" }, size(2, "8Gi"), room)).toMatchObject({ kind: "needsStop", message: expect.stringMatching(/shrinks the instance; set spec.powerState: Stopped/) });
    expect(planResize({ vcpus: 2, memory: "4Gi" }, size(4, "8Gi", false), room)).toMatchObject({ message: expect.stringMatching(/does not resize online/) });
    expect(planResize({ vcpus: 2, memory: "4Gi" }, size(4, "8Gi"), { cpu: 1000, memory: room.memory })).toMatchObject({ message: expect.stringMatching(/no room to grow in place/) });
  });
});

describe("Instance: status", () => {
  const pod = (extra: { node?: string; running?: boolean; paused?: boolean; unschedulable?: string }): Pod => ({
    metadata: { name: "vm1-abcde", annotations: extra.paused ? { [launcher.paused]: "true" } : {} },
    spec: { containers: [], ...(extra.node ? { nodeName: extra.node } : {}) },
    status: {
      phase: extra.running ? "Running" : "Pending",
      conditions: [
        ...(extra.running ? [{ type: "Ready", status: "True" }] : []),
        ...(extra.unschedulable ? [{ type: "PodScheduled", status: "False", reason: "Unschedulable", message: extra.unschedulable }] : []),
      ],
    },
  });

  it("walks Starting → Pending (with the scheduler's words) → Running, and Ready follows", () => {
    expect(instanceState(spec(), {})).toMatchObject({ powerState: "Starting", ready: { status: "False" } });
    const pending = instanceState(spec(), { pod: pod({ unschedulable: "0/3 nodes are available: 3 wrong architecture." }) });
    expect(pending).toMatchObject({ powerState: "Pending", scheduled: { status: "False", reason: "Unschedulable", message: "no host fits: 0/3 nodes are available: 3 wrong architecture." } });
    expect(instanceState(spec(), { pod: pod({ node: "n1" }) })).toMatchObject({ powerState: "Starting", scheduled: { status: "True" }, ready: { reason: "Booting" } });
    const running = instanceState(spec(), { pod: pod({ node: "n1", running: true }), node: { name: "n1", cell: "cell-a", zone: "az1" } });
    expect(running).toMatchObject({ powerState: "Running", scheduled: { message: "placed on n1 in cell cell-a (az1)" }, ready: { status: "True", reason: "Running" } });
  });

  it("is Ready when it reached the power state asked for: Stopped and Paused included", () => {
    expect(instanceState(spec({ powerState: "Stopped" }), {})).toMatchObject({ powerState: "Stopped", scheduled: { status: "False", reason: "Stopped" }, ready: { status: "True" } });
    expect(instanceState(spec({ powerState: "Stopped" }), { leaving: "Stopping" })).toMatchObject({ powerState: "Stopping", ready: { status: "False" } });
    expect(instanceState(spec({ powerState: "Paused" }), { pod: pod({ node: "n1", running: true, paused: true }) })).toMatchObject({ powerState: "Paused", ready: { status: "True", reason: "Paused" } });
    expect(instanceState(spec(), { pod: pod({ node: "n1", running: true, paused: true }) })).toMatchObject({ powerState: "Paused", ready: { status: "False", reason: "Resuming" } });
  });

  it("says what blocks it: a catalog problem, a resize that needs Stopped", () => {
    const problem = { reason: "ImageNotFound", message: 'spec.image: Image "x" not found', stalled: false };
    expect(instanceState(spec(), { problem })).toMatchObject({ powerState: "Pending", ready: { status: "False", reason: "ImageNotFound", message: problem.message } });
    expect(instanceState(spec(), { pod: pod({ node: "n1", running: true }), problem })).toMatchObject({ powerState: "Running", ready: { reason: "ImageNotFound", message: /running instance is unaffected/ } });
    expect(instanceState(spec(), { pod: pod({ node: "n1", running: true }), resizeBlocked: "resize needs Stopped" })).toMatchObject({ ready: { status: "False", reason: "ResizeRequiresStop" } });
  });

  it("turns power transitions into Events", () => {
    expect(powerEvent("Starting", "Running", "n1")).toEqual({ reason: "Started", message: "running on n1" });
    expect(powerEvent("Paused", "Running", "n1")).toEqual({ reason: "Resumed", message: "resumed on n1" });
    expect(powerEvent("Stopping", "Stopped", undefined)?.reason).toBe("Stopped");
    expect(powerEvent("Running", "Running", "n1")).toBeUndefined();
    expect(powerEvent(undefined, "Stopped", undefined)).toBeUndefined();
  });
});
