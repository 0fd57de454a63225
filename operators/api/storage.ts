// storage.cellcloud.io: EVS block volumes. A VolumeType names a class of disk (media, IOPS formula);
// a Volume is carved from a StoragePool of its zone (thin-provisioned) and realized as a pre-bound
// PersistentVolume + PersistentVolumeClaim that launcher pods mount; a VolumeSnapshot captures a
// Volume and can be restored into a new one.
import { z } from "zod";
import { count, deletionPolicy, imageRef, immutable, labelValue, nameAtMost, observed, refName } from "./common.ts";
import { defineKind, refOf, type CelValidation } from "./crd.ts";
import type { KubeObject } from "./meta.ts";

const GROUP = "storage.cellcloud.io";
const VERSION = "v1alpha1";

/** The seed's volume sizes: 1 GiB to 32 TiB. */
const MIN_VOLUME = "1Gi";
const MAX_VOLUME = "32Ti";
/** Instances a multi-attach volume may be attached to at once. */
export const MAX_ATTACHMENTS = 16;

// ==================== VolumeType ====================

const volumeTypeSpec = z
  .object({
    mediaType: z.enum(["HDD", "SSD", "NVMe"]).describe("Disk media; volumes of this type are carved from StoragePools of this media type."),
    iops: z
      .object({
        base: z.int().min(0).max(1_000_000).describe("IOPS every volume gets, whatever its size."),
        perGiB: z.int().min(0).max(10_000).describe("IOPS added per GiB of size."),
        max: z.int().min(1).max(1_000_000).describe("IOPS cap, reached at (max − base) / perGiB GiB."),
      })
      .describe("IOPS = min(max, base + perGiB × size in GiB), as the seed's disk types (caps 800, 2500, 10000)."),
    description: z.string().max(255).optional().describe("What the type is for, e.g. general purpose or databases."),
  })
  .describe("Desired state of the volume type.");

export const VolumeType = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "VolumeType",
  plural: "volumetypes",
  shortNames: ["vt"],
  scope: "Cluster",
  description: "VolumeType is a class of EVS disk: the media it is carved from and how its IOPS grow with size.",
  spec: volumeTypeSpec,
  status: z.object({ ...observed }).describe("Observed state of the volume type."),
  printerColumns: [
    { name: "Media", type: "string", jsonPath: ".spec.mediaType" },
    { name: "Base-IOPS", type: "integer", jsonPath: ".spec.iops.base" },
    { name: "Per-GiB", type: "integer", jsonPath: ".spec.iops.perGiB" },
    { name: "Max-IOPS", type: "integer", jsonPath: ".spec.iops.max" },
  ],
});

export type VolumeTypeSpec = z.output<typeof volumeTypeSpec>;

// ==================== Volume ====================

const size = z
  .string()
  .max(16)
  .regex(/^[0-9]+(Gi|Ti)$/)
  .describe(`Size, in Gi or Ti, from ${MIN_VOLUME} to ${MAX_VOLUME}. It can only grow.`)
  .meta({
    "x-kubernetes-validations": [
      { rule: `quantity(self).compareTo(quantity('${MIN_VOLUME}')) >= 0 && quantity(self).compareTo(quantity('${MAX_VOLUME}')) <= 0`, message: `spec.size must be between ${MIN_VOLUME} and ${MAX_VOLUME}` },
      { rule: "quantity(self).compareTo(quantity(oldSelf)) >= 0", message: "spec.size can only grow: a volume cannot be shrunk" },
    ],
  });

const volumeSpec = z
  .object({
    size,
    type: refName("Name of the VolumeType. May be changed: the volume moves to a pool of the new type's media if needed."),
    zone: labelValue("Availability zone of the volume; it attaches only to instances in this zone. Immutable.").meta(immutable("spec.zone")),
    multiAttach: z.boolean().default(false).describe(`Whether up to ${MAX_ATTACHMENTS} instances may attach it at once (shared disk). Immutable.`)
      .meta(immutable("spec.multiAttach")),
    source: z
      .object({
        snapshot: refName("A VolumeSnapshot in this namespace to restore.").optional(),
        volume: refName("A Volume in this namespace to clone.").optional(),
        image: imageRef("An Image whose contents the volume starts with.").optional(),
      })
      .optional()
      .describe("What the volume starts with: at most one of snapshot, volume (clone) or image. Empty: a blank disk. Immutable.")
      .meta(immutable("spec.source")),
    snapshotSchedule: z
      .object({
        every: z.string().max(8).regex(/^[1-9][0-9]*(m|h|d)$/).describe("How often to take a snapshot, e.g. 30m, 12h, 1d."),
        keep: z.int().min(1).max(100).describe("How many scheduled snapshots to keep; older ones are deleted."),
      })
      .optional()
      .describe("Automatic snapshots: one every `every`, the newest `keep` kept."),
    deletionPolicy: deletionPolicy("the PersistentVolume and PersistentVolumeClaim (with the data)"),
  })
  .describe("Desired state of the volume.");

const volumeValidations: CelValidation[] = [
  {
    rule: "!has(self.source) || (has(self.source.snapshot) ? 1 : 0) + (has(self.source.volume) ? 1 : 0) + (has(self.source.image) ? 1 : 0) <= 1",
    message: "spec.source must set at most one of snapshot, volume or image", fieldPath: ".source",
  },
];

const attachment = z
  .object({
    instance: z.string().describe("Name of the Instance (in this namespace)."),
    node: z.string().optional().describe("Host of that instance, while it runs."),
  })
  .describe("An instance the volume is attached to.");

const volumeStatus = z
  .object({
    ...observed,
    state: z.enum(["Creating", "Available", "InUse", "Expanding", "Deleting", "Error"]).optional().describe("Summary: Available (attached to nothing), InUse, and so on."),
    capacity: z.string().optional().describe("Size provisioned in the pool now."),
    storagePool: z.string().optional().describe("StoragePool the volume is carved from."),
    iops: z.int().min(0).optional().describe("IOPS of the volume at its size and type."),
    persistentVolume: z.string().optional().describe("Name of the PersistentVolume that realizes it."),
    claim: z.string().optional().describe("Name of the PersistentVolumeClaim launcher pods mount."),
    attachments: z.array(attachment).max(MAX_ATTACHMENTS).optional().describe("Instances it is attached to.")
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["instance"] }),
    lastSnapshotTime: z.iso.datetime().optional().describe("When the snapshot schedule last took a snapshot."),
  })
  .describe("Observed state of the volume.");

export const Volume = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "Volume",
  plural: "volumes",
  shortNames: ["evs"],
  scope: "Namespaced",
  description:
    "Volume is an EVS block disk: a size and a VolumeType in one zone, thin-provisioned from a StoragePool and realized as a PersistentVolume + PersistentVolumeClaim. Instances attach it through spec.dataVolumes.",
  spec: volumeSpec,
  status: volumeStatus,
  printerColumns: [
    { name: "Size", type: "string", jsonPath: ".spec.size" },
    { name: "Type", type: "string", jsonPath: ".spec.type" },
    { name: "Zone", type: "string", jsonPath: ".spec.zone" },
    { name: "State", type: "string", jsonPath: ".status.state" },
    { name: "IOPS", type: "integer", jsonPath: ".status.iops" },
    { name: "Attached-To", type: "string", jsonPath: ".status.attachments[*].instance" },
    { name: "Pool", type: "string", jsonPath: ".status.storagePool", priority: 1 },
  ],
  validations: volumeValidations,
  objectValidations: [nameAtMost(63, "it is the storage.cellcloud.io/volume label of the volume's claim and PV")],
});

export type VolumeSpec = z.output<typeof volumeSpec>;
export type VolumeStatus = z.output<typeof volumeStatus>;

// ==================== VolumeSnapshot ====================

const snapshotSpec = z
  .object({
    volume: refName("Name of the Volume (in this namespace) to snapshot. Immutable.").meta(immutable("spec.volume")),
    description: z.string().max(255).optional().describe("What the snapshot is for, e.g. before an upgrade."),
  })
  .describe("Desired state of the snapshot.");

const snapshotStatus = z
  .object({
    ...observed,
    size: z.string().optional().describe("Size of the volume when the snapshot was taken; a restore needs at least this much."),
    volumeType: z.string().optional().describe("VolumeType of the volume when the snapshot was taken."),
    zone: z.string().optional().describe("Zone of the volume."),
    creationTime: z.iso.datetime().optional().describe("When the snapshot was taken."),
    restores: count("Volumes restored from this snapshot that still exist."),
  })
  .describe("Observed state of the snapshot.");

export const VolumeSnapshot = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "VolumeSnapshot",
  plural: "volumesnapshots",
  shortNames: ["evss"],
  scope: "Namespaced",
  description: "VolumeSnapshot is a point-in-time copy of a Volume; a new Volume with spec.source.snapshot restores it. It outlives its volume.",
  spec: snapshotSpec,
  status: snapshotStatus,
  printerColumns: [
    { name: "Volume", type: "string", jsonPath: ".spec.volume" },
    { name: "Size", type: "string", jsonPath: ".status.size" },
    { name: "Taken", type: "date", jsonPath: ".status.creationTime" },
  ],
});

export type VolumeSnapshotSpec = z.output<typeof snapshotSpec>;
export type VolumeSnapshotStatus = z.output<typeof snapshotStatus>;

export const storageKinds = [VolumeType, Volume, VolumeSnapshot] as const;

// ==================== Contracts ====================

export const VolumeTypeRef = refOf(VolumeType);
export const VolumeRef = refOf(Volume);
export const VolumeSnapshotRef = refOf(VolumeSnapshot);

export type VolumeTypeObj = KubeObject & { spec: VolumeTypeSpec };
export type VolumeObj = KubeObject & { spec: VolumeSpec; status?: VolumeStatus };
export type VolumeSnapshotObj = KubeObject & { spec: VolumeSnapshotSpec; status?: VolumeSnapshotStatus };

/** The volume controller's finalizer: a volume goes once detached, with its claim and PV. */
export const VOLUME_FINALIZER = "storage.cellcloud.io/volume";
/** The CSI driver name CellCloud's volumes carry (no node plugin runs: KWOK hosts do not mount). */
export const DRIVER = "evs.storage.cellcloud.io";
/** The StorageClass of every EVS claim: it allows expansion, so claims can grow with their volume. */
export const STORAGE_CLASS = "cellcloud-evs";

export const volumeLabels = {
  /** On a volume's claim and PV: the volume's name. */
  volume: "storage.cellcloud.io/volume",
  /** On a volume's PV: the volume's namespace (PVs are cluster-wide). */
  namespace: "storage.cellcloud.io/namespace",
  /** On a scheduled snapshot: the volume it was taken for. */
  scheduledFor: "storage.cellcloud.io/scheduled-for",
} as const;

/** The claim launcher pods mount for a volume, in the volume's namespace. */
export const claimName = (volume: string): string => `evs-${volume}`;
/** The volume a claim name belongs to, if it is one of ours. */
export const volumeOfClaim = (claim: string): string | undefined => (claim.startsWith("evs-") ? claim.slice(4) : undefined);
/** The PV of a volume, by its uid (PVs are cluster-wide, names are not). */
export const pvName = (v: { metadata: { uid?: string } }): string => `evs-${v.metadata.uid}`;
