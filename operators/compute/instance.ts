// An ECS Instance's pure logic: what it resolves to (size, architecture, disk) from the catalog, and
// the launcher Pod that runs it. No client; instance-plan.ts decides what to do with them.
import type * as k8s from "@kubernetes/client-node";
import { InstanceRef, launcher, launcherName, USER_DATA_MAX_BYTES, type DeploymentSetSpec, type FlavorSpec, type ImageSpec, type InstanceObj, type InstanceSpec, type KeyPairStatus } from "../api/compute.ts";
import { nodeLabels, schedulerName, schedulingAnnotations as scheduling } from "../api/platform.ts";
import { claimName, type VolumeSpec, type VolumeStatus } from "../api/storage.ts";
import { USER_DATA_READER_ROLE } from "../api/tenancy.ts";
import type { Pod } from "../runtime/core.ts";
import { controllerRef } from "../runtime/objects.ts";
import { nicMetadata, type NicAddress } from "./nics.ts";

export { launcher, launcherName, type InstanceObj, type Pod };

/** HA priority → PriorityClass; the controller makes sure these exist. */
export const priorityClasses = {
  Low: { name: "cellcloud-instance-low", value: 1000 },
  Normal: { name: "cellcloud-instance-normal", value: 2000 },
  High: { name: "cellcloud-instance-high", value: 3000 },
} as const;

/** A launcher tolerates a not-ready or unreachable host this long before it is evicted and re-placed. */
const FAILOVER_TOLERATION_SECONDS = 10;

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
  /** An Image by the instance's reference (NAME or NAMESPACE/NAME, resolved as imageKeys says). */
  image(ref: string): ImageSpec | undefined;
  keyPair(name: string): { status?: KeyPairStatus } | undefined;
  deploymentSet(name: string): DeploymentSetSpec | undefined;
  volume(name: string): { metadata?: { deletionTimestamp?: string }; spec: VolumeSpec; status?: VolumeStatus } | undefined;
  /** The user data Secret as seen before boot; absent when it was not looked at (running, or no right to read it). */
  userData?: UserDataFacts;
}

/**
 * A user data Secret, looked up only before boot: missing, not readable by the manager (outside
 * tenant namespaces nothing grants it), or the size of its key (undefined: no such key).
 */
export type UserDataFacts = { found: false; forbidden?: boolean } | { found: true; bytes: number | undefined };

/** How often an instance waiting for its user data Secret looks again (Secrets are not watched). */
export const USER_DATA_RECHECK_MS = 10_000;

/** What is wrong with the user data an instance would boot with, if anything. */
export function userDataProblem(ref: NonNullable<InstanceSpec["userData"]>, facts: UserDataFacts | undefined): Problem | undefined {
  if (!facts) return undefined;
  const field = "spec.userData";
  if (!facts.found && facts.forbidden) {
    return {
      reason: "UserDataUnreadable", stalled: false, recheckMs: USER_DATA_RECHECK_MS,
      message: `${field}.secretName: the manager may not check Secrets in this namespace (tenant namespaces grant it; elsewhere bind ClusterRole ${USER_DATA_READER_ROLE} to its ServiceAccount)`,
    };
  }
  if (!facts.found) return { reason: "UserDataNotFound", message: `${field}.secretName: Secret "${ref.secretName}" not found in this namespace`, stalled: false, recheckMs: USER_DATA_RECHECK_MS };
  if (facts.bytes === undefined) return { reason: "UserDataKeyNotFound", message: `${field}.key: Secret "${ref.secretName}" has no key "${ref.key}"`, stalled: false, recheckMs: USER_DATA_RECHECK_MS };
  if (facts.bytes > USER_DATA_MAX_BYTES) {
    return { reason: "UserDataTooLarge", message: `${field}: Secret "${ref.secretName}" key "${ref.key}" holds ${facts.bytes} bytes; user data is at most ${USER_DATA_MAX_BYTES}`, stalled: false, recheckMs: USER_DATA_RECHECK_MS };
  }
  return undefined;
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
  /** The NICs' addresses, once every NIC holds one. */
  nics?: NicAddress[];
}

/** Why an instance cannot be (re)started. `stalled`: only a spec change fixes it; otherwise the missing object may still appear. */
export interface Problem {
  reason: string;
  message: string;
  stalled: boolean;
  /** Look again after this long: what is missing is not watched. */
  recheckMs?: number;
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
  if (!image) return { reason: "ImageNotFound", message: `spec.image: Image "${spec.image}" not found (a NAME is looked up in this namespace, then in the public catalog)`, stalled: false };
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
  const userData = spec.userData && userDataProblem(spec.userData, catalog.userData);
  if (userData) return userData;
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
    out.volumes.push({ name: d.volume, claim: claimName(d.volume) });
  }
  return undefined;
}

export const isProblem = (r: Resolved | Problem): r is Problem => "reason" in r;

/** Where a running migration must (targetNode) or must not (sourceNode) land. */
export interface MigrationPlacement {
  sourceNode?: string;
  targetNode?: string;
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
  const net = nicMetadata(inst.metadata.namespace ?? "", r.nics ?? []);
  Object.assign(annotations, net.annotations);
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
      labels: { ...net.labels, [launcher.instanceLabel]: name, "app.kubernetes.io/name": "cellcloud-launcher", "app.kubernetes.io/managed-by": "cellcloud" },
      annotations,
      ownerReferences: [controllerRef(inst, InstanceRef)],
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
        name: launcher.container, image: launcher.containerImage, resources: { requests: resources, limits: resources },
        // Data volumes are raw block devices: vdb, vdc, ... (vda is the system disk).
        ...(r.volumes.length ? { volumeDevices: r.volumes.map((v, i) => ({ name: `data-${i}`, devicePath: `/dev/vd${String.fromCharCode(98 + i)}` })) } : {}),
      }],
      ...(volumes.length ? { volumes } : {}),
    },
  };
}

