// network.cellcloud.io: VPC networking. A VPC is a tenant's isolated network: its CIDR blocks, an
// overlay segment id (VNI) unique in the cluster, routes and DNS. VNIs are allocated as Kubernetes'
// own IPAddress allocator (KEP-1880) hands out addresses: one cluster-scoped VNIClaim per VNI, named
// by the number, so the apiserver's create is the lock and no VNI is ever held twice.
import { z } from "zod";
import { immutable, ipv4, observed } from "./common.ts";
import { defineKind, refOf, type CelValidation } from "./crd.ts";
import type { KubeObject } from "./meta.ts";

const GROUP = "network.cellcloud.io";
const VERSION = "v1alpha1";

/** VNIs a tunnel type can carry: Geneve and VXLAN headers hold 24 bits; VXLAN on a VLAN fabric is kept to 12. */
export const VNI_RANGE = { geneve: { min: 1, max: 2 ** 24 - 1 }, vxlan: { min: 1, max: 4095 } } as const;
export type TunnelType = keyof typeof VNI_RANGE;

/** An IPv4 CIDR block in canonical form (no host bits set), checked as a CIDR in CEL. */
const cidr4 = (what: string, field: string) =>
  z.string().max(18).describe(what).meta({
    "x-kubernetes-validations": [
      { rule: "isCIDR(self) && cidr(self).ip().family() == 4", message: `${field} must be an IPv4 CIDR such as 10.0.0.0/16` },
      { rule: "!isCIDR(self) || cidr(self).masked() == cidr(self)", message: `${field} must have no host bits set (e.g. 10.0.0.0/16, not 10.0.0.1/16)` },
    ],
  });

// ==================== VPC ====================

const vpcSpec = z
  .object({
    cidrBlocks: z
      .array(cidr4("An IPv4 block of the VPC, e.g. 10.0.0.0/16.", "spec.cidrBlocks[*]"))
      .min(1)
      .max(5)
      .describe("The VPC's IPv4 address space: one to five blocks that do not overlap each other. Blocks of different VPCs may overlap.")
      .meta({
        "x-kubernetes-list-type": "set",
        "x-kubernetes-validations": [{
          rule: "self.all(a, self.all(b, a == b || !isCIDR(a) || !isCIDR(b) || !(cidr(a).containsCIDR(cidr(b)) || cidr(b).containsCIDR(cidr(a)))))",
          message: "spec.cidrBlocks must not overlap each other",
        }],
      }),
    tunnelType: z.enum(["geneve", "vxlan"]).default("geneve").describe("Overlay encapsulation: geneve (VNIs up to 16777215) or vxlan (VNIs up to 4095). Immutable.")
      .meta(immutable("spec.tunnelType")),
    vni: z.int().min(VNI_RANGE.geneve.min).max(VNI_RANGE.geneve.max).optional()
      .describe("A specific VNI to use (unique in the cluster); empty: one is allocated. Immutable.")
      .meta(immutable("spec.vni")),
    routes: z
      .array(z.object({
        destination: cidr4("Destination block, e.g. 0.0.0.0/0.", "spec.routes[*].destination"),
        nextHop: ipv4("Address the traffic is sent to, e.g. a NAT gateway's.", "spec.routes[*].nextHop"),
      }).describe("A static route."))
      .max(50)
      .optional()
      .describe("Static routes of the VPC's route table, one destination each.")
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["destination"] }),
    dnsServers: z.array(ipv4("A DNS server's IPv4 address.", "spec.dnsServers[*]")).max(3).optional()
      .describe("DNS servers handed to the VPC's instances (at most 3, as resolv.conf reads)."),
  })
  .describe("Desired state of the VPC.");

const vpcValidations: CelValidation[] = [
  { rule: `!has(self.vni) || self.tunnelType != 'vxlan' || self.vni <= ${VNI_RANGE.vxlan.max}`, message: `spec.vni must be at most ${VNI_RANGE.vxlan.max} for a vxlan VPC`, fieldPath: ".vni" },
];

const vpcStatus = z
  .object({
    ...observed,
    vni: z.int().min(1).optional().describe("The VNI the VPC holds (its VNIClaim is named by it)."),
  })
  .describe("Observed state of the VPC.");

export const VPC = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "VPC",
  plural: "vpcs",
  singular: "vpc",
  shortNames: ["vpc"],
  scope: "Namespaced",
  description:
    "VPC is a tenant's isolated network: IPv4 CIDR blocks, an overlay VNI unique in the cluster (held by a VNIClaim named by it), a tunnel type, static routes and DNS servers.",
  spec: vpcSpec,
  status: vpcStatus,
  printerColumns: [
    { name: "CIDR", type: "string", jsonPath: ".spec.cidrBlocks" },
    { name: "VNI", type: "integer", jsonPath: ".status.vni" },
    { name: "Tunnel", type: "string", jsonPath: ".spec.tunnelType" },
    { name: "DNS", type: "string", jsonPath: ".spec.dnsServers", priority: 1 },
  ],
  validations: vpcValidations,
});

export type VPCSpec = z.output<typeof vpcSpec>;
export type VPCStatus = z.output<typeof vpcStatus>;
export type VPCObj = KubeObject & { spec: VPCSpec; status?: VPCStatus };

/** The VPC controller's finalizer: a VPC goes once its VNIClaim is deleted. */
export const VPC_FINALIZER = "network.cellcloud.io/vpc";

// ==================== VNIClaim ====================

const holder = z
  .object({
    kind: z.string().max(63).describe("Kind of the holder, e.g. VPC."),
    namespace: z.string().max(63).describe("Namespace of the holder."),
    name: z.string().max(253).describe("Name of the holder."),
    uid: z.string().max(64).describe("UID of the holder: a later object of the same name is another holder."),
  })
  .describe("The object that holds the VNI. Immutable.");

const vniClaimSpec = z
  .object({
    holder: holder.meta(immutable("spec.holder")),
  })
  .describe("Who holds the VNI this claim is named by.");

export const VNIClaim = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "VNIClaim",
  plural: "vniclaims",
  shortNames: ["vni"],
  scope: "Cluster",
  description:
    "VNIClaim holds one VNI for one VPC: it is named by the VNI, so creating it is the lock (AlreadyExists: taken). The VPC's finalizer deletes it last; one whose holder is gone is deleted after a grace period.",
  spec: vniClaimSpec,
  status: z.object({ ...observed }).describe("Unused: a claim is a lock, whole once created."),
  printerColumns: [
    { name: "Holder-Namespace", type: "string", jsonPath: ".spec.holder.namespace" },
    { name: "Holder", type: "string", jsonPath: ".spec.holder.name" },
    { name: "Holder-UID", type: "string", jsonPath: ".spec.holder.uid", priority: 1 },
  ],
  readyColumn: false,
  objectValidations: [{ rule: "self.metadata.name.matches('^[1-9][0-9]{0,7}$')", message: "metadata.name must be the VNI, a number from 1 to 16777215" }],
});

export type VNIClaimSpec = z.output<typeof vniClaimSpec>;
export type VNIClaimObj = KubeObject & { spec: VNIClaimSpec };

export const VPCRef = refOf(VPC);
export const VNIClaimRef = refOf(VNIClaim);

export const networkKinds = [VPC, VNIClaim];
