// platform.cellcloud.io: the physical layer every product draws on. A Cell is one zone's building
// unit; NodePools put (simulated) hosts into it; StoragePools and ExternalIPPools hold the disk and
// public-address capacity that volumes and elastic IPs are carved from.
import { z } from "zod";
import { count, deletionPolicy, immutable, labelValue, nameAtMost, observed, quantity, resourceList } from "./common.ts";
import { defineKind, refOf, type CelValidation } from "./crd.ts";
import type { KubeObject } from "./meta.ts";
import { bytes, overcommitted } from "./quantity.ts";

const GROUP = "platform.cellcloud.io";
const VERSION = "v1alpha1";

// ==================== Cell ====================

const cellSpec = z
  .object({
    region: labelValue("Region the cell belongs to; becomes the topology.kubernetes.io/region label of its nodes. Immutable.")
      .meta(immutable("spec.region")),
    zone: labelValue("Availability zone of the cell; becomes the topology.kubernetes.io/zone label of its nodes. Immutable.")
      .meta(immutable("spec.zone")),
    placementStrategy: z
      .enum(["Binpack", "Spread"])
      .default("Binpack")
      .describe("How the cell scheduler scores nodes: Binpack packs nodes first (fewer, fuller hosts), Spread spreads first."),
    description: z.string().max(1024).optional().describe("Free text for operators, e.g. the building or hall."),
  })
  .describe("Desired state of the cell.");

const archResources = (arch: string) =>
  z
    .object({
      nodes: z.int().min(0).describe(`Number of ${arch} nodes in the cell.`),
      capacity: resourceList(`Sum of the ${arch} nodes' physical capacity.`),
      allocatable: resourceList(`Sum of the ${arch} nodes' allocatable resources, overcommit included.`),
      allocated: resourceList(`Sum of the requests of the non-terminated pods bound to ${arch} nodes.`),
    })
    .describe(`Capacity and use of the cell's ${arch} nodes.`);

const cellStatus = z
  .object({
    ...observed,
    pools: count("Number of NodePools in the cell."),
    nodes: z
      .object({
        total: z.int().min(0).describe("All nodes of the cell's pools."),
        ready: z.int().min(0).describe("Nodes whose Ready condition is True."),
        notReady: z.int().min(0).describe("Nodes whose Ready condition is False or Unknown (failed or still starting)."),
        cordoned: z.int().min(0).describe("Nodes marked unschedulable (cordoned or being drained)."),
      })
      .optional()
      .describe("Node counts by state."),
    total: archResources("all").optional(),
    architectures: z
      .object({ amd64: archResources("amd64").optional(), arm64: archResources("arm64").optional() })
      .optional()
      .describe("The same figures per CPU architecture; an architecture without nodes is left out."),
  })
  .describe("Observed state of the cell, aggregated from its pools, nodes and pods. Ready is True once aggregated; its message summarizes node health.");

export const Cell = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "Cell",
  plural: "cells",
  scope: "Cluster",
  description:
    "Cell is CellCloud's basic building unit: one zone's compute, storage and network pools. NodePools, StoragePools and ExternalIPPools name the cell they belong to.",
  spec: cellSpec,
  status: cellStatus,
  printerColumns: [
    { name: "Region", type: "string", jsonPath: ".spec.region" },
    { name: "Zone", type: "string", jsonPath: ".spec.zone" },
    { name: "Strategy", type: "string", jsonPath: ".spec.placementStrategy" },
    { name: "Nodes", type: "integer", jsonPath: ".status.nodes.total" },
    { name: "Ready-Nodes", type: "integer", jsonPath: ".status.nodes.ready" },
    { name: "CPU-Allocated", type: "string", jsonPath: ".status.total.allocated.cpu" },
    { name: "CPU-Allocatable", type: "string", jsonPath: ".status.total.allocatable.cpu" },
    { name: "Mem-Allocated", type: "string", jsonPath: ".status.total.allocated.memory", priority: 1 },
    { name: "Mem-Allocatable", type: "string", jsonPath: ".status.total.allocatable.memory", priority: 1 },
  ],
  objectValidations: [nameAtMost(63, "it is the cellcloud.io/cell label of the cell's nodes")],
});

export type CellSpec = z.output<typeof cellSpec>;
export type CellStatus = z.output<typeof cellStatus>;
export type ResourceSummary = z.output<ReturnType<typeof resourceList>>;
export type ArchResources = z.output<ReturnType<typeof archResources>>;

// ==================== NodePool ====================

export const architectures = ["amd64", "arm64"] as const;
const cpuVendors = ["intel", "amd", "hygon", "kunpeng", "phytium"] as const;

const taint = z
  .object({
    key: z.string().min(1).max(316).regex(/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/)
      .describe("Taint key, e.g. dedicated."),
    value: z.string().max(63).regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/).optional().describe("Taint value, e.g. a tenant's name."),
    effect: z.enum(["NoSchedule", "PreferNoSchedule", "NoExecute"]).describe("What happens to pods that do not tolerate the taint."),
  })
  .describe("A taint put on every node of the pool.");


const nodePoolSpec = z
  .object({
    cell: labelValue("Name of the Cell the pool's nodes belong to. Immutable.").meta(immutable("spec.cell")),
    architecture: z.enum(architectures).describe("CPU architecture of the hosts (the kubernetes.io/arch label). Immutable.")
      .meta(immutable("spec.architecture")),
    cpuVendor: z.enum(cpuVendors).describe("CPU vendor: intel, amd or hygon for amd64; kunpeng or phytium for arm64. Immutable.")
      .meta(immutable("spec.cpuVendor")),
    cpuModel: z.string().max(128).optional().describe("CPU model, for people and billing, e.g. \"Kunpeng 920\"."),
    nodes: z.int().min(0).max(5000).describe("Number of hosts. kubectl scale changes it; scaling down drains the highest-numbered hosts first."),
    capacity: z
      .object({
        cpu: quantity("Physical CPU cores per host, e.g. 64.", "spec.capacity.cpu"),
        memory: quantity("Physical memory per host, e.g. 256Gi.", "spec.capacity.memory"),
        pods: z.int().min(100).max(10000).default(110).describe("Pod slots per host; at least 100."),
        ephemeralStorage: quantity("Local disk per host, e.g. 1Ti.", "spec.capacity.ephemeralStorage").default("1Ti"),
      })
      .describe("Resources of each host."),
    overcommit: z
      .object({
        cpu: z.number().min(1).max(16).default(1).describe("CPU overcommit ratio, 1 to 16: a node's allocatable cpu is capacity × ratio."),
        memory: z.number().min(1).max(4).default(1).describe("Memory overcommit ratio, 1 to 4: a node's allocatable memory is capacity × ratio."),
      })
      .default({ cpu: 1, memory: 1 })
      .describe("Overcommit ratios; pods and disk are never overcommitted."),
    topology: z
      .object({
        racks: z.int().min(1).max(1000).default(125).describe("Number of racks the hosts are spread over."),
        hostsPerRack: z.int().min(1).max(100).default(40).describe("Hosts per rack; host i sits in rack i / hostsPerRack, behind that rack's switch."),
      })
      .default({ racks: 125, hostsPerRack: 40 })
      .describe("Physical layout: the cellcloud.io/rack and cellcloud.io/switch labels (one top-of-rack switch per rack)."),
    taints: z.array(taint).max(32).optional().describe("Taints on every host, e.g. for dedicated hosts."),
    labels: z
      .record(z.string(), z.string().max(63).regex(/^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/))
      .optional()
      .describe("Extra labels on every host, e.g. host groups. Keys under kubernetes.io, k8s.io and cellcloud.io (and their subdomains) are reserved.")
      .meta({
        maxProperties: 64,
        "x-kubernetes-validations": [
          {
            rule: String.raw`self.all(k, k.size() <= 316 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$'))`,
            message: "spec.labels keys must be valid label keys",
          },
          {
            rule: String.raw`!self.exists(k, k.matches('^([^/]*\\.)?(kubernetes\\.io|k8s\\.io|cellcloud\\.io)/'))`,
            message: "spec.labels keys must not be under kubernetes.io, k8s.io or cellcloud.io (or their subdomains): the controller sets those",
          },
        ],
      }),
    deletionPolicy: deletionPolicy("the pool's hosts (Nodes): Delete drains and deletes them first"),
  })
  .describe("Desired state of the node pool.");

const nodePoolValidations: CelValidation[] = [
  {
    rule: "self.architecture == 'arm64' ? self.cpuVendor in ['kunpeng', 'phytium'] : self.cpuVendor in ['intel', 'amd', 'hygon']",
    message: "spec.cpuVendor must be kunpeng or phytium for arm64, and intel, amd or hygon for amd64",
    fieldPath: ".cpuVendor",
  },
  {
    rule: "self.nodes <= self.topology.racks * self.topology.hostsPerRack",
    message: "spec.nodes must not exceed spec.topology.racks × spec.topology.hostsPerRack",
    fieldPath: ".nodes",
  },
];

const nodePoolStatus = z
  .object({
    ...observed,
    nodes: count("Nodes of the pool that exist, draining ones included (the scale subresource's replicas)."),
    readyNodes: count("Nodes of the pool whose Ready condition is True."),
    drainingNodes: count("Nodes being drained before deletion."),
    selector: z.string().optional().describe("Label selector of the pool's nodes (the scale subresource's selector)."),
  })
  .describe("Observed state of the node pool. Ready is True when every desired node exists and is Ready.");

export const NodePool = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "NodePool",
  plural: "nodepools",
  shortNames: ["np"],
  scope: "Cluster",
  description:
    "NodePool is a set of identical hosts in one Cell. Its controller keeps one (KWOK-simulated) Node per host, labelled with architecture, vendor, zone, cell, pool, rack and switch, and drains hosts before removing them.",
  spec: nodePoolSpec,
  status: nodePoolStatus,
  scale: { specReplicasPath: ".spec.nodes", statusReplicasPath: ".status.nodes", labelSelectorPath: ".status.selector" },
  printerColumns: [
    { name: "Cell", type: "string", jsonPath: ".spec.cell" },
    { name: "Arch", type: "string", jsonPath: ".spec.architecture" },
    { name: "Vendor", type: "string", jsonPath: ".spec.cpuVendor" },
    { name: "Desired", type: "integer", jsonPath: ".spec.nodes" },
    { name: "Current", type: "integer", jsonPath: ".status.nodes" },
    { name: "Ready-Nodes", type: "integer", jsonPath: ".status.readyNodes" },
    { name: "CPU", type: "string", jsonPath: ".spec.capacity.cpu", priority: 1 },
    { name: "Memory", type: "string", jsonPath: ".spec.capacity.memory", priority: 1 },
  ],
  validations: nodePoolValidations,
  objectValidations: [nameAtMost(56, "node names and the pool's rack and switch labels (<name>-r<rack>) are built from it")],
});

export type NodePoolSpec = z.output<typeof nodePoolSpec>;
export type NodePoolStatus = z.output<typeof nodePoolStatus>;
export type Architecture = (typeof architectures)[number];
export type CpuVendor = (typeof cpuVendors)[number];

// ==================== StoragePool ====================

const storagePoolSpec = z
  .object({
    cell: labelValue("Name of the Cell whose storage this is. Immutable.").meta(immutable("spec.cell")),
    mediaType: z.enum(["HDD", "SSD", "NVMe"]).describe("Disk media of the pool; VolumeTypes select pools by it. Immutable.")
      .meta(immutable("spec.mediaType")),
    capacity: quantity("Physical capacity of the pool, e.g. 500Ti.", "spec.capacity"),
    oversubscriptionRatio: z.number().min(1).max(20).default(1)
      .describe("Thin-provisioning ratio, 1 to 20: volumes may be provisioned up to capacity × ratio."),
  })
  .describe("Desired state of the storage pool.");

const storagePoolStatus = z
  .object({
    ...observed,
    physical: z.string().optional().describe("Physical capacity, as a quantity."),
    allocatable: z.string().optional().describe("What volumes may be provisioned in total: physical × oversubscription ratio."),
    provisioned: z.string().optional().describe("Sum of the sizes of the volumes carved from the pool."),
    available: z.string().optional().describe("allocatable − provisioned."),
  })
  .describe("Observed state of the storage pool.");

export const StoragePool = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "StoragePool",
  plural: "storagepools",
  scope: "Cluster",
  description: "StoragePool is a thin-provisioned block-storage backend in one Cell; Volumes are carved from it.",
  spec: storagePoolSpec,
  status: storagePoolStatus,
  printerColumns: [
    { name: "Cell", type: "string", jsonPath: ".spec.cell" },
    { name: "Media", type: "string", jsonPath: ".spec.mediaType" },
    { name: "Physical", type: "string", jsonPath: ".status.physical" },
    { name: "Allocatable", type: "string", jsonPath: ".status.allocatable" },
    { name: "Provisioned", type: "string", jsonPath: ".status.provisioned" },
  ],
});

export type StoragePoolSpec = z.output<typeof storagePoolSpec>;
export type StoragePoolStatus = z.output<typeof storagePoolStatus>;

// ==================== ExternalIPPool ====================

const externalIPPoolSpec = z
  .object({
    region: labelValue("Region the addresses are announced in. Immutable.").meta(immutable("spec.region")),
    cell: labelValue("Cell the pool is limited to; unset means every cell of the region.").optional(),
    cidrs: z
      .array(
        z.string().max(43).describe("An IPv4 CIDR such as 203.0.113.0/24.").meta({
          "x-kubernetes-validations": [
            { rule: "isCIDR(self) && cidr(self).ip().family() == 4", message: "spec.cidrs entries must be IPv4 CIDRs such as 203.0.113.0/24" },
            { rule: "!isCIDR(self) || cidr(self) == cidr(self).masked()", message: "spec.cidrs entries must have no host bits set (203.0.113.0/24, not 203.0.113.7/24)" },
          ],
        }),
      )
      .min(1)
      .max(16)
      .describe("Address ranges of the pool, IPv4 for now."),
    excludedIPs: z
      .array(
        z.string().max(15).describe("An IPv4 address.").meta({
          "x-kubernetes-validations": [{ rule: "isIP(self) && ip(self).family() == 4", message: "spec.excludedIPs entries must be IPv4 addresses" }],
        }),
      )
      .max(256)
      .optional()
      .describe("Addresses inside the CIDRs that are never handed out (gateways, routers)."),
  })
  .describe("Desired state of the external IP pool.");

const externalIPPoolValidations: CelValidation[] = [
  {
    rule: "self.cidrs.all(a, self.cidrs.all(b, a == b || !isCIDR(a) || !isCIDR(b) || (!cidr(a).containsIP(cidr(b).ip()) && !cidr(b).containsIP(cidr(a).ip()))))",
    message: "spec.cidrs must not overlap",
    fieldPath: ".cidrs",
  },
  {
    rule: "!has(self.excludedIPs) || self.excludedIPs.all(ip, !isIP(ip) || self.cidrs.exists(c, isCIDR(c) && cidr(c).containsIP(ip)))",
    message: "spec.excludedIPs must lie inside spec.cidrs",
    fieldPath: ".excludedIPs",
  },
];

const externalIPPoolStatus = z
  .object({
    ...observed,
    total: count("Addresses that can be handed out: the CIDRs' usable addresses minus the excluded ones."),
    allocated: count("Addresses bound to ElasticIPs."),
    free: count("total − allocated."),
  })
  .describe("Observed state of the external IP pool.");

export const ExternalIPPool = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "ExternalIPPool",
  plural: "externalippools",
  scope: "Cluster",
  description: "ExternalIPPool holds public (external) IPv4 ranges that ElasticIPs are allocated from.",
  spec: externalIPPoolSpec,
  status: externalIPPoolStatus,
  printerColumns: [
    { name: "Region", type: "string", jsonPath: ".spec.region" },
    { name: "Cell", type: "string", jsonPath: ".spec.cell" },
    { name: "Total", type: "integer", jsonPath: ".status.total" },
    { name: "Allocated", type: "integer", jsonPath: ".status.allocated" },
    { name: "Free", type: "integer", jsonPath: ".status.free" },
  ],
  validations: externalIPPoolValidations,
});

export type ExternalIPPoolSpec = z.output<typeof externalIPPoolSpec>;
export type ExternalIPPoolStatus = z.output<typeof externalIPPoolStatus>;

export const platformKinds = [Cell, NodePool, StoragePool, ExternalIPPool] as const;

// ==================== Contracts ====================

export const CellRef = refOf(Cell);
export const NodePoolRef = refOf(NodePool);
export const StoragePoolRef = refOf(StoragePool);
export const ExternalIPPoolRef = refOf(ExternalIPPool);

export type CellObj = KubeObject & { spec: CellSpec; status?: CellStatus };
export type NodePoolObj = KubeObject & { spec: NodePoolSpec; status?: NodePoolStatus };
export type StoragePoolObj = KubeObject & { spec: StoragePoolSpec; status?: StoragePoolStatus };
export type ExternalIPPoolObj = KubeObject & { spec: ExternalIPPoolSpec; status?: ExternalIPPoolStatus };

/** The labels every pool node carries. The scheduler filters and spreads by them; products pin pods with them. */
export const nodeLabels = {
  arch: "kubernetes.io/arch",
  os: "kubernetes.io/os",
  hostname: "kubernetes.io/hostname",
  region: "topology.kubernetes.io/region",
  zone: "topology.kubernetes.io/zone",
  cell: "cellcloud.io/cell",
  pool: "cellcloud.io/pool",
  rack: "cellcloud.io/rack",
  switch: "cellcloud.io/switch",
  cpuVendor: "cellcloud.io/cpu-vendor",
} as const;

export const nodeAnnotations = {
  /** KWOK manages (heartbeats, runs the pods of) nodes that carry this annotation with value "fake". */
  kwok: "kwok.x-k8s.io/node",
  /** Set while the controller drains the node before deleting it; the value is why. */
  draining: "platform.cellcloud.io/draining",
  /** The spec.labels keys and spec.taints the controller put on the node, so it can take them off again. */
  managed: "platform.cellcloud.io/managed",
} as const;

/** Every CellCloud workload pod asks for the cell scheduler by this name. */
export const schedulerName = "cellcloud-scheduler";

/**
 * Pods whose behaviour is the product (an SLB's HAProxy) carry this label valued "local": on the
 * local plane KWOK's stages skip them and the local data plane agent (agents/dataplane) runs them.
 */
export const DATA_PLANE_LABEL = "cellcloud.io/data-plane";
export const DATA_PLANE_SELECTOR = `${DATA_PLANE_LABEL}=local`;

/**
 * A server pod of a product whose members each need a host of their own (RDS members, MQ brokers):
 * placed by the cell scheduler in `zone`, never two of `group` on one host, run by the local data
 * plane on the local plane; no ServiceAccount token or service links; restarted when it exits.
 */
export function memberPodShape(o: { zone: string; hostname: string; group: string }) {
  return {
    annotations: { [schedulingAnnotations.antiAffinityGroup]: o.group },
    labels: { [DATA_PLANE_LABEL]: "local" },
    spec: {
      schedulerName, nodeSelector: { "topology.kubernetes.io/zone": o.zone }, hostname: o.hostname,
      automountServiceAccountToken: false, enableServiceLinks: false, terminationGracePeriodSeconds: 30, restartPolicy: "Always",
    },
  };
}

/** Pod annotations for what plain pod fields cannot say (DeploymentSet spread, HA anti-affinity, gangs). */
export const schedulingAnnotations = {
  spreadGroup: "scheduling.cellcloud.io/spread-group",
  spreadDomain: "scheduling.cellcloud.io/spread-domain", // host | rack | switch
  spreadMode: "scheduling.cellcloud.io/spread-mode", // strict | best-effort (default strict)
  spreadMax: "scheduling.cellcloud.io/spread-max", // members per domain, default 1
  antiAffinityGroup: "scheduling.cellcloud.io/anti-affinity-group", // never two members on one host
  gang: "scheduling.cellcloud.io/gang", // all-or-nothing group name
  gangSize: "scheduling.cellcloud.io/gang-size", // members the group needs
} as const;

export const platformFinalizers = {
  /** A NodePool's hosts are drained and deleted before it goes. */
  nodes: "platform.cellcloud.io/nodes",
  /** Held while node pools name the Cell, so deleting it cannot strand their hosts. */
  cellInUse: "platform.cellcloud.io/in-use",
} as const;

/** Thin provisioning: volumes may add up to physical × oversubscription ratio (bytes). */
export function storagePoolAllocatable(spec: StoragePoolSpec): number {
  return overcommitted(bytes(spec.capacity), spec.oversubscriptionRatio);
}
