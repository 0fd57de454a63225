// An ECS Instance's pure logic: what it resolves to (size, architecture, disk) from the catalog, the
// launcher Pod that runs it, and what its status says given that pod. No client; the controller
// (instance-controller.ts) feeds it from the caches and carries out what it returns.
import type * as k8s from "@kubernetes/client-node";
import { createHash } from "node:crypto";
import type { DeploymentSetSpec, FlavorSpec, ImageSpec, InstanceSpec, InstanceStatus, KeyPairStatus } from "../api/compute.ts";
import type { VolumeSpec, VolumeStatus } from "../api/storage.ts";
import type { ConditionInput } from "../runtime/conditions.ts";
import type { KubeObject, OwnerReference } from "../runtime/types.ts";
import { nodeLabels } from "../platform/nodepool.ts";
import { bytes, cpuMillis } from "../platform/quantity.ts";
import { annotations as scheduling, schedulerName } from "../platform/scheduler/podrequest.ts";

export type Pod = k8s.V1Pod & KubeObject;
export type InstanceObj = KubeObject & { spec: InstanceSpec; status?: InstanceStatus };

/** Labels and annotations on launcher pods. */
export const launcher = {
  /** The instance's name, on every launcher pod (the controller finds its pods by it). */
  instanceLabel: "compute.cellcloud.io/instance",
  /** What the pod was booted for: a new value of any of these needs a new pod. */
  image: "compute.cellcloud.io/image",
  restart: "compute.cellcloud.io/restart-requested-at",
  migration: "compute.cellcloud.io/migration-requested-at",
  /** Set while the instance is paused (its vCPUs frozen; it keeps its host). */
  paused: "compute.cellcloud.io/paused",
  keyPair: "compute.cellcloud.io/key-fingerprint",
  container: "compute",
  /** The launcher's container image. KWOK does not run it; a real cluster runs a VMM in it, as KubeVirt's virt-launcher. */
  image_: "registry.k8s.io/pause:3.10",
} as const;

/** HA priority → PriorityClass; the controller makes sure these exist. */
export const priorityClasses = {
  Low: { name: "cellcloud-instance-low", value: 1000 },
  Normal: { name: "cellcloud-instance-normal", value: 2000 },
  High: { name: "cellcloud-instance-high", value: 3000 },
} as const;

/** A launcher tolerates a not-ready or unreachable host this long before it is evicted and re-placed. */
export const FAILOVER_TOLERATION_SECONDS = 10;

export interface Size {
  vcpus: number;
  memory: string;
  /** May grow while Running. */
  onlineResize: boolean;
  /** For messages: "flavor g1.large" or "custom size". */
  source: string;
}

export interface Catalog {
  flavor(name: string): FlavorSpec | undefined;
  image(name: string): ImageSpec | undefined;
  keyPair(name: string): { status?: KeyPairStatus } | undefined;
  deploymentSet(name: string): DeploymentSetSpec | undefined;
  volume(name: string): { metadata?: { deletionTimestamp?: string }; spec: VolumeSpec; status?: VolumeStatus } | undefined;
}

export interface Resolved {
  size: Size;
  arch: string;
  diskGiB: number;
  fingerprint?: string;
  deploymentSet?: DeploymentSetSpec;
  /** Attached data volumes, in spec order, and the zone they pin the instance to. */
  volumes: Array<{ name: string; claim: string }>;
  volumeZone?: string;
}

/** Why an instance cannot be (re)started. `stalled`: only a spec change fixes it; otherwise the missing object may still appear. */
export interface Problem {
  reason: string;
  message: string;
  stalled: boolean;
}

export function resolve(spec: InstanceSpec, catalog: Catalog, instanceName = ""): Resolved | Problem {
  let size: Size;
  let archs: readonly string[] | undefined;
  if (spec.flavor) {
    const f = catalog.flavor(spec.flavor);
    if (!f) return { reason: "FlavorNotFound", message: `spec.flavor: Flavor "${spec.flavor}" not found`, stalled: false };
    size = { vcpus: f.vcpus, memory: f.memory, onlineResize: f.onlineResize, source: `flavor ${spec.flavor}` };
    archs = f.architectures;
  } else if (spec.resources) {
    size = { vcpus: spec.resources.vcpus, memory: spec.resources.memory, onlineResize: true, source: "custom size" };
  } else {
    return { reason: "InvalidSpec", message: "spec must set exactly one of flavor or resources", stalled: true };
  }
  const image = catalog.image(spec.image);
  if (!image) return { reason: "ImageNotFound", message: `spec.image: Image "${spec.image}" not found`, stalled: false };
  if (archs && !archs.includes(image.architecture)) {
    return {
      reason: "ArchitectureMismatch",
      message: `spec.image: Image "${spec.image}" is ${image.architecture}, but Flavor "${spec.flavor}" is offered only on ${archs.join(", ")}`,
      stalled: true,
    };
  }
  const diskGiB = spec.systemDisk.sizeGiB ?? image.minDiskGiB;
  if (diskGiB < image.minDiskGiB) {
    return {
      reason: "SystemDiskTooSmall",
      message: `spec.systemDisk.sizeGiB: ${diskGiB} GiB is smaller than Image "${spec.image}" needs (${image.minDiskGiB} GiB)`,
      stalled: true,
    };
  }
  const out: Resolved = { size, arch: image.architecture, diskGiB, volumes: [] };
  if (spec.keyPair) {
    const kp = catalog.keyPair(spec.keyPair);
    if (!kp) return { reason: "KeyPairNotFound", message: `spec.keyPair: KeyPair "${spec.keyPair}" not found in this namespace`, stalled: false };
    if (!kp.status?.fingerprint) return { reason: "KeyPairNotReady", message: `spec.keyPair: KeyPair "${spec.keyPair}" has no valid public key`, stalled: false };
    out.fingerprint = kp.status.fingerprint;
  }
  if (spec.deploymentSet) {
    const ds = catalog.deploymentSet(spec.deploymentSet);
    if (!ds) return { reason: "DeploymentSetNotFound", message: `spec.deploymentSet: DeploymentSet "${spec.deploymentSet}" not found in this namespace`, stalled: false };
    out.deploymentSet = ds;
  }
  const problem = resolveVolumes(spec, instanceName, catalog, out);
  return problem ?? out;
}

/** Data volumes: each must exist, share one zone with the instance, and be attached to it by the volume controller. */
function resolveVolumes(spec: InstanceSpec, instance: string, catalog: Catalog, out: Resolved): Problem | undefined {
  for (const [i, d] of (spec.dataVolumes ?? []).entries()) {
    const field = `spec.dataVolumes[${i}]`;
    const v = catalog.volume(d.volume);
    if (!v) return { reason: "VolumeNotFound", message: `${field}: Volume "${d.volume}" not found in this namespace`, stalled: false };
    const zone = spec.zone ?? out.volumeZone;
    if (zone && v.spec.zone !== zone) {
      return { reason: "VolumeZoneMismatch", message: `${field}: Volume "${d.volume}" is in zone ${v.spec.zone}, but the instance ${spec.zone ? "is" : "has volumes"} in zone ${zone}; a volume attaches only in its own zone`, stalled: true };
    }
    out.volumeZone = v.spec.zone;
    const attached = v.status?.attachments ?? [];
    if (!attached.some((a) => a.instance === instance)) {
      if (v.metadata?.deletionTimestamp) return { reason: "VolumeDeleting", message: `${field}: Volume "${d.volume}" is being deleted`, stalled: false };
      const others = attached.map((a) => a.instance);
      const held = !v.spec.multiAttach && others.length > 0;
      return held
        ? { reason: "VolumeInUse", message: `${field}: Volume "${d.volume}" is attached to instance ${others.join(", ")} and is not multiAttach`, stalled: false }
        : { reason: "AttachingVolume", message: `${field}: waiting for Volume "${d.volume}" to attach`, stalled: false };
    }
    out.volumes.push({ name: d.volume, claim: `evs-${d.volume}` });
  }
  return undefined;
}

export const isProblem = (r: Resolved | Problem): r is Problem => "reason" in r;

/**
 * The launcher pod's name: the instance's name plus a hash of what a boot is for (image, reboot and
 * migration requests, data volumes). A new request gives a new name, so the old pod is replaced exactly once,
 * and after a crash the controller still knows which pod is current.
 */
export function launcherName(inst: InstanceObj): string {
  const s = inst.spec;
  const volumes = (s.dataVolumes ?? []).map((d) => d.volume);
  const boot: unknown[] = [s.image, s.restartRequestedAt ?? "", s.migration?.requestedAt ?? ""];
  if (volumes.length) boot.push(volumes); // attach/detach restarts the launcher (pods cannot hot-plug)
  const h = createHash("sha256").update(JSON.stringify(boot)).digest();
  return `${inst.metadata.name}-${h.readUInt32BE(0).toString(36).padStart(7, "0").slice(-5)}`;
}

/** Where a running migration must (targetNode) or must not (sourceNode) land. */
export interface MigrationPlacement {
  sourceNode?: string;
  targetNode?: string;
}

export function ownerRef(inst: InstanceObj): OwnerReference {
  return { apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", name: inst.metadata.name, uid: inst.metadata.uid ?? "", controller: true, blockOwnerDeletion: true };
}

export function launcherPod(inst: InstanceObj, r: Resolved, migration?: MigrationPlacement): Pod {
  const s = inst.spec;
  const name = inst.metadata.name;
  const nodeSelector: Record<string, string> = { [nodeLabels.arch]: r.arch };
  const zone = s.zone ?? r.volumeZone;
  if (zone) nodeSelector[nodeLabels.zone] = zone;
  if (s.cell) nodeSelector[nodeLabels.cell] = s.cell;
  const fields: k8s.V1NodeSelectorRequirement[] = [];
  if (migration?.targetNode) fields.push({ key: "metadata.name", operator: "In", values: [migration.targetNode] });
  else if (migration?.sourceNode) fields.push({ key: "metadata.name", operator: "NotIn", values: [migration.sourceNode] });
  const annotations: Record<string, string> = {
    [launcher.image]: s.image,
    [launcher.restart]: s.restartRequestedAt ?? "",
    [launcher.migration]: s.migration?.requestedAt ?? "",
  };
  if (s.powerState === "Paused") annotations[launcher.paused] = "true";
  if (r.fingerprint) annotations[launcher.keyPair] = r.fingerprint;
  if (r.deploymentSet && s.deploymentSet) {
    annotations[scheduling.spreadGroup] = `deploymentset-${s.deploymentSet}`;
    annotations[scheduling.spreadDomain] = r.deploymentSet.domain;
    annotations[scheduling.spreadMode] = r.deploymentSet.mode;
    annotations[scheduling.spreadMax] = String(r.deploymentSet.maxPerDomain);
  }
  const resources = { cpu: String(r.size.vcpus), memory: r.size.memory };
  const volumes: k8s.V1Volume[] = r.volumes.map((v, i) => ({ name: `data-${i}`, persistentVolumeClaim: { claimName: v.claim } }));
  if (s.userData) volumes.push({ name: "userdata", secret: { secretName: s.userData.secretName, items: [{ key: s.userData.key, path: "userdata" }] } });
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: launcherName(inst),
      namespace: inst.metadata.namespace,
      labels: { [launcher.instanceLabel]: name, "app.kubernetes.io/name": "cellcloud-launcher", "app.kubernetes.io/managed-by": "cellcloud" },
      annotations,
      ownerReferences: [ownerRef(inst)],
    },
    spec: {
      schedulerName,
      priorityClassName: priorityClasses[s.priority].name,
      hostname: name,
      restartPolicy: "Never",
      terminationGracePeriodSeconds: s.terminationGracePeriodSeconds,
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      nodeSelector,
      ...(fields.length ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchFields: fields }] } } } } : {}),
      tolerations: ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"].map((key) => ({
        key, operator: "Exists", effect: "NoExecute", tolerationSeconds: FAILOVER_TOLERATION_SECONDS,
      })),
      // Requests equal limits: a VM's vCPUs and memory are dedicated (Guaranteed QoS).
      containers: [{
        name: launcher.container, image: launcher.image_, resources: { requests: resources, limits: resources },
        // Data volumes are raw block devices: vdb, vdc, ... (vda is the system disk).
        ...(r.volumes.length ? { volumeDevices: r.volumes.map((v, i) => ({ name: `data-${i}`, devicePath: `/dev/vd${String.fromCharCode(98 + i)}` })) } : {}),
      }],
      ...(volumes.length ? { volumes } : {}),
    },
  };
}

/** Why a launcher pod that is not the current one is being replaced, for power state and Events. */
export function replacementCause(inst: InstanceObj, old: Pod): "Rebuilding" | "Migrating" | "Rebooting" {
  const a = old.metadata.annotations ?? {};
  if (a[launcher.image] !== inst.spec.image) return "Rebuilding";
  if ((a[launcher.migration] ?? "") !== (inst.spec.migration?.requestedAt ?? "")) return "Migrating";
  return "Rebooting";
}

export const isFinished = (p: Pod): boolean => p.status?.phase === "Succeeded" || p.status?.phase === "Failed";
export const isTerminating = (p: Pod): boolean => Boolean(p.metadata.deletionTimestamp);

export function isRunning(p: Pod): boolean {
  return p.status?.phase === "Running" && (p.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

/** What the pod's container asks for now (in-place resizes change it). */
export function podSize(p: Pod): { vcpus: number; memory: string } | undefined {
  const req = p.spec?.containers.find((c) => c.name === launcher.container)?.resources?.requests;
  if (!req?.cpu || !req.memory) return undefined;
  return { vcpus: cpuMillis(req.cpu) / 1000, memory: req.memory };
}

export type ResizePlan =
  | { kind: "none" }
  | { kind: "online" }
  | { kind: "needsStop"; message: string };

/**
 * How to bring a running pod to `size`: nothing, an in-place resize, or a message that it needs the
 * instance Stopped (a shrink, or a flavor that does not resize online). `headroom` is what the host
 * has left, in millicores and bytes.
 */
export function planResize(current: { vcpus: number; memory: string }, size: Size, headroom: { cpu: number; memory: number }): ResizePlan {
  const dCpu = size.vcpus * 1000 - current.vcpus * 1000;
  const dMem = bytes(size.memory) - bytes(current.memory);
  if (dCpu === 0 && dMem === 0) return { kind: "none" };
  const what = `${current.vcpus} vCPU/${current.memory} → ${size.vcpus} vCPU/${size.memory}`;
  if (dCpu < 0 || dMem < 0) return { kind: "needsStop", message: `resize ${what} shrinks the instance; set spec.powerState: Stopped to apply it` };
  if (!size.onlineResize) return { kind: "needsStop", message: `resize ${what}: ${size.source} does not resize online; set spec.powerState: Stopped to apply it` };
  if (dCpu > headroom.cpu || dMem > headroom.memory) {
    return { kind: "needsStop", message: `resize ${what}: the host has no room to grow in place; stop the instance (or migrate it) to apply it` };
  }
  return { kind: "online" };
}

export interface Observation {
  /** The current launcher pod, if any (not terminating, not finished). */
  pod?: Pod;
  /** Pods on their way out, and why. */
  leaving?: "Stopping" | "Rebooting" | "Rebuilding" | "Migrating";
  node?: { name: string; cell?: string; zone?: string };
  size?: { vcpus: number; memory: string };
  arch?: string;
  /** Why the instance cannot start (or run as asked). */
  problem?: Problem;
  /** A pending resize the user must act on. */
  resizeBlocked?: string;
}

export interface InstanceState {
  powerState: NonNullable<InstanceStatus["powerState"]>;
  scheduled: ConditionInput;
  ready: ConditionInput;
}

/** The status a set of observations adds up to. */
export function instanceState(spec: InstanceSpec, o: Observation): InstanceState {
  const cond = (type: string, status: ConditionInput["status"], reason: string, message: string): ConditionInput => ({ type, status, reason, message });
  const scheduledOn = (node: string) => cond("Scheduled", "True", "Scheduled", `placed on ${node}${o.node?.cell ? ` in cell ${o.node.cell}` : ""}${o.node?.zone ? ` (${o.node.zone})` : ""}`);
  if (o.leaving) {
    const msg = { Stopping: "shutting down", Rebooting: "rebooting", Rebuilding: `rebuilding from image ${spec.image}`, Migrating: "migrating to another host" }[o.leaving];
    return { powerState: o.leaving, scheduled: cond("Scheduled", "False", o.leaving, msg), ready: cond("Ready", "False", o.leaving, msg) };
  }
  const pod = o.pod;
  if (!pod) {
    if (spec.powerState === "Stopped") {
      const stopped = "stopped; its host is released and its disks are kept";
      return { powerState: "Stopped", scheduled: cond("Scheduled", "False", "Stopped", stopped), ready: cond("Ready", "True", "Stopped", stopped) };
    }
    if (o.problem) return { powerState: "Pending", scheduled: cond("Scheduled", "False", o.problem.reason, o.problem.message), ready: cond("Ready", "False", o.problem.reason, o.problem.message) };
    return { powerState: "Starting", scheduled: cond("Scheduled", "False", "Starting", "creating the launcher"), ready: cond("Ready", "False", "Starting", "creating the launcher") };
  }
  const node = pod.spec?.nodeName;
  if (!node) {
    const ps = (pod.status?.conditions ?? []).find((c) => c.type === "PodScheduled" && c.status === "False");
    const msg = ps?.message ? `no host fits: ${ps.message}` : "waiting for the cell scheduler";
    const reason = ps?.reason === "Unschedulable" ? "Unschedulable" : "Scheduling";
    return { powerState: "Pending", scheduled: cond("Scheduled", "False", reason, msg), ready: cond("Ready", "False", reason, msg) };
  }
  const scheduled = scheduledOn(node);
  if (!isRunning(pod)) return { powerState: "Starting", scheduled, ready: cond("Ready", "False", "Booting", `booting on ${node}`) };
  if (o.resizeBlocked) return { powerState: "Running", scheduled, ready: cond("Ready", "False", "ResizeRequiresStop", o.resizeBlocked) };
  if (o.problem) return { powerState: "Running", scheduled, ready: cond("Ready", "False", o.problem.reason, `${o.problem.message} (the running instance is unaffected)`) };
  const paused = pod.metadata.annotations?.[launcher.paused] === "true";
  if (spec.powerState === "Paused") {
    return paused
      ? { powerState: "Paused", scheduled, ready: cond("Ready", "True", "Paused", `paused on ${node}`) }
      : { powerState: "Running", scheduled, ready: cond("Ready", "False", "Pausing", "pausing") };
  }
  if (paused) return { powerState: "Paused", scheduled, ready: cond("Ready", "False", "Resuming", "resuming") };
  return { powerState: "Running", scheduled, ready: cond("Ready", "True", "Running", `running on ${node}`) };
}

/** The Event for a change of power state, or undefined when it is not news. Replacements have their own Events. */
export function powerEvent(from: string | undefined, to: string, node: string | undefined): { reason: string; message: string } | undefined {
  if (from === to) return undefined;
  const on = node ? ` on ${node}` : "";
  if (to === "Running") return from === "Paused" ? { reason: "Resumed", message: `resumed${on}` } : { reason: "Started", message: `running${on}` };
  if (to === "Paused") return { reason: "Paused", message: `paused${on}` };
  if (to === "Stopped" && from) return { reason: "Stopped", message: "stopped; its host is released and its disks are kept" };
  return undefined;
}
