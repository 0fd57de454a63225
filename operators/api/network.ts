// network.cellcloud.io: VPC networking. A VPC is a tenant's isolated network: its CIDR blocks, an
// overlay segment id (VNI) unique in the cluster, routes and DNS. VNIs are allocated as Kubernetes'
// own IPAddress allocator (KEP-1880) hands out addresses: one cluster-scoped VNIClaim per VNI, named
// by the number, so the apiserver's create is the lock and no VNI is ever held twice.
import { z } from "zod";
import { count, immutable, ipv4, labelValue, nameAtMost, nameIsDNSLabel, observed, refName } from "./common.ts";
import { defineKind, refOf, type CelValidation } from "./crd.ts";
import type { KubeObject } from "./meta.ts";

const GROUP = "network.cellcloud.io";
const VERSION = "v1alpha1";

/** VNIs a tunnel type can carry: Geneve and VXLAN headers hold 24 bits; VXLAN on a VLAN fabric is kept to 12. */
export const VNI_RANGE = { geneve: { min: 1, max: 2 ** 24 - 1 }, vxlan: { min: 1, max: 4095 } } as const;
export type TunnelType = keyof typeof VNI_RANGE;

/** An IPv4 CIDR block in canonical form (no host bits set), checked as a CIDR in CEL; `more` adds rules. */
const cidr4 = (what: string, field: string, more: CelValidation[] = []) =>
  z.string().max(18).describe(what).meta({
    "x-kubernetes-validations": [
      { rule: "isCIDR(self) && cidr(self).ip().family() == 4", message: `${field} must be an IPv4 CIDR such as 10.0.0.0/16` },
      { rule: "!isCIDR(self) || cidr(self).masked() == cidr(self)", message: `${field} must have no host bits set (e.g. 10.0.0.0/16, not 10.0.0.1/16)` },
      ...more,
    ],
  });

// ==================== VPC ====================

/** VPC names are kept short enough for their default group's name (<vpc>-default) to be a label key (63). */
export const MAX_VPC_NAME = 55;

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
  objectValidations: [
    nameIsDNSLabel("it names the VPC's address space (IPAllocations are <namespace>.<vpc>.<address>) and label keys"),
    nameAtMost(MAX_VPC_NAME, "its default security group <vpc>-default is named in label keys"),
  ],
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

// ==================== Subnet ====================

/** Subnets hold at least 8 addresses (a /29: network, gateway, broadcast and five more) and at most a /8. */
export const SUBNET_PREFIX = { min: 8, max: 29 } as const;

const subnetSpec = z
  .object({
    vpc: refName("Name of the VPC (in this namespace) the subnet belongs to. Immutable.").max(63).meta(immutable("spec.vpc")),
    cidrBlock: cidr4("The subnet's IPv4 block, inside one of the VPC's blocks and not overlapping another subnet of the VPC, e.g. 10.0.1.0/24. Immutable.", "spec.cidrBlock", [
      { rule: `!isCIDR(self) || (cidr(self).prefixLength() >= ${SUBNET_PREFIX.min} && cidr(self).prefixLength() <= ${SUBNET_PREFIX.max})`, message: `spec.cidrBlock must be a /${SUBNET_PREFIX.min} to /${SUBNET_PREFIX.max}` },
      { rule: "self == oldSelf", message: "spec.cidrBlock is immutable" },
    ]),
    gateway: ipv4("The gateway's address, inside spec.cidrBlock; default: its first usable address. Never handed out. Immutable.", "spec.gateway")
      .optional().meta(immutable("spec.gateway")),
    excludedIPs: z
      .array(z.string().max(18).describe("An IPv4 address (10.0.1.7) or block (10.0.1.64/28) inside spec.cidrBlock.").meta({
        "x-kubernetes-validations": [{ rule: "(isIP(self) && ip(self).family() == 4) || (isCIDR(self) && cidr(self).ip().family() == 4)", message: "spec.excludedIPs[*] must be an IPv4 address or CIDR such as 10.0.1.7 or 10.0.1.64/28" }],
      }))
      .max(64)
      .optional()
      .describe("Addresses never handed out (appliances, reserved ranges)."),
    dnsServers: z.array(ipv4("A DNS server's IPv4 address.", "spec.dnsServers[*]")).max(3).optional()
      .describe("DNS servers for the subnet's NICs; default: the VPC's."),
  })
  .describe("Desired state of the subnet.");

const subnetValidations: CelValidation[] = [
  {
    rule: "!has(self.gateway) || !isCIDR(self.cidrBlock) || !isIP(self.gateway) || (cidr(self.cidrBlock).containsIP(self.gateway) && string(cidr(self.cidrBlock).ip()) != self.gateway)",
    message: "spec.gateway must be an address inside spec.cidrBlock other than its network address", fieldPath: ".gateway",
  },
  {
    rule: "!has(self.excludedIPs) || !isCIDR(self.cidrBlock) || self.excludedIPs.all(e, (isIP(e) && cidr(self.cidrBlock).containsIP(e)) || (isCIDR(e) && cidr(self.cidrBlock).containsCIDR(e)))",
    message: "spec.excludedIPs must lie inside spec.cidrBlock", fieldPath: ".excludedIPs",
  },
];

const subnetStatus = z
  .object({
    ...observed,
    gateway: z.string().optional().describe("The gateway address in effect."),
    vni: z.int().min(1).optional().describe("The VPC's VNI: the overlay segment the subnet's traffic is carried on."),
    capacity: count("Addresses that can be handed out: the block minus network, broadcast, gateway and excluded addresses."),
    allocated: count("Addresses held by IPAllocations of this subnet (derived from them; informational)."),
    available: count("capacity − allocated."),
  })
  .describe("Observed state of the subnet.");

export const Subnet = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "Subnet",
  plural: "subnets",
  singular: "subnet",
  shortNames: ["subnet"],
  scope: "Namespaced",
  description:
    "Subnet is a block of a VPC's address space with its own gateway and route table. Each address handed out (to an instance's NIC, a load balancer's VIP) is held by a cluster-scoped IPAllocation named <namespace>.<vpc>.<address>, so no address is ever held twice. A subnet holding addresses cannot be deleted.",
  spec: subnetSpec,
  status: subnetStatus,
  printerColumns: [
    { name: "VPC", type: "string", jsonPath: ".spec.vpc" },
    { name: "CIDR", type: "string", jsonPath: ".spec.cidrBlock" },
    { name: "Gateway", type: "string", jsonPath: ".status.gateway" },
    { name: "Available", type: "integer", jsonPath: ".status.available" },
    { name: "Allocated", type: "integer", jsonPath: ".status.allocated", priority: 1 },
    { name: "Capacity", type: "integer", jsonPath: ".status.capacity", priority: 1 },
  ],
  validations: subnetValidations,
  objectValidations: [nameIsDNSLabel("security groups and NICs name it in labels")],
});

export type SubnetSpec = z.output<typeof subnetSpec>;
export type SubnetStatus = z.output<typeof subnetStatus>;
export type SubnetObj = KubeObject & { spec: SubnetSpec; status?: SubnetStatus };

/** The subnet controller's finalizer: a subnet goes once no address of it is held. */
export const SUBNET_FINALIZER = "network.cellcloud.io/subnet";

// ==================== IPAllocation ====================

/** The address space of external (public) addresses, from ExternalIPPools: one for the whole cluster. */
export const EXTERNAL_SCOPE = "external";
/** The address space a VPC's subnets share: addresses are unique within a VPC, not across VPCs. */
export const vpcScope = (namespace: string, vpc: string) => `${namespace}.${vpc}`;
/** An IPAllocation's name: the address space and the canonical address, so creating it is the lock. */
export const allocationName = (scope: string, address: string) => `${scope}.${address}`;

const allocationSpec = z
  .object({
    address: ipv4("The address held, in canonical form.", "spec.address"),
    scope: z.string().min(1).max(127).describe(`The address space: <namespace>.<vpc> for a VPC's addresses, "${EXTERNAL_SCOPE}" for external ones.`),
    subnet: refName("The Subnet (in the owner's namespace) the address is from; empty for an external address.").max(63).optional(),
    pool: refName("The ExternalIPPool an external address is from.").optional(),
    slot: z.string().min(1).max(63).describe("Which of the owner's addresses this is, e.g. nic-0 for an instance's first NIC."),
    mac: z.string().max(17).optional().describe("The MAC address of the NIC holding the address, if any."),
    owner: holder.describe("The object that holds the address: a later object of the same name (another uid) is another holder."),
  })
  .describe("Who holds the address this allocation is named by. Immutable.");

export const IPAllocation = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "IPAllocation",
  plural: "ipallocations",
  shortNames: ["ipa"],
  scope: "Cluster",
  description:
    "IPAllocation holds one address for one owner (an instance's NIC, an ElasticIP), as Kubernetes' IPAddress does: it is named <scope>.<address>, so creating it is the lock (AlreadyExists: taken) and the owner's status shows the address only after it exists. Deleted when the owner releases the address; one whose owner is gone is deleted after a grace period.",
  spec: allocationSpec.meta(immutable("spec")),
  status: z.object({ ...observed }).describe("Unused: an allocation is a lock, whole once created."),
  printerColumns: [
    { name: "Address", type: "string", jsonPath: ".spec.address" },
    { name: "Subnet", type: "string", jsonPath: ".spec.subnet" },
    { name: "Owner-Kind", type: "string", jsonPath: ".spec.owner.kind" },
    { name: "Owner-Namespace", type: "string", jsonPath: ".spec.owner.namespace" },
    { name: "Owner", type: "string", jsonPath: ".spec.owner.name" },
    { name: "Slot", type: "string", jsonPath: ".spec.slot", priority: 1 },
    { name: "MAC", type: "string", jsonPath: ".spec.mac", priority: 1 },
  ],
  readyColumn: false,
  objectValidations: [{ rule: "self.metadata.name == self.spec.scope + '.' + self.spec.address", message: "metadata.name must be <spec.scope>.<spec.address>" }],
});

export type IPAllocationSpec = z.output<typeof allocationSpec>;
export type IPAllocationObj = KubeObject & { spec: IPAllocationSpec };

// ==================== SecurityGroup ====================

const sgRule = z
  .object({
    protocol: z.enum(["tcp", "udp", "icmp", "all"]).default("all").describe("tcp, udp, icmp or all. NetworkPolicy cannot express icmp alone: such a rule is recorded but not enforced (the traffic stays denied); an all rule allows ICMP too."),
    ports: z.object({
      from: z.int().min(1).max(65535).describe("First port."),
      to: z.int().min(1).max(65535).optional().describe("Last port; default: from."),
    }).optional().describe("A port range, tcp and udp only; empty: every port."),
    remoteCIDR: cidr4("Peers in this block, e.g. 0.0.0.0/0.", "remoteCIDR").optional(),
    remoteGroup: z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).optional().describe("Peers that are members of this SecurityGroup (same namespace and VPC)."),
    description: z.string().max(255).optional().describe("What the rule is for."),
  })
  .describe("An allow rule (Neutron semantics: rules only allow). Neither remoteCIDR nor remoteGroup: any peer in the VPC, and outside addresses.");

const sgRuleValidations: CelValidation[] = [
  { rule: "!has(self.ports) || self.protocol == 'tcp' || self.protocol == 'udp'", message: "ports are allowed only for tcp and udp rules" },
  { rule: "!has(self.ports) || !has(self.ports.to) || self.ports.to >= self.ports.from", message: "ports.to must be at least ports.from" },
  { rule: "!(has(self.remoteCIDR) && has(self.remoteGroup))", message: "set at most one of remoteCIDR and remoteGroup" },
];

const sgRules = (max: number) =>
  z.array(sgRule.meta({ "x-kubernetes-validations": sgRuleValidations })).max(max);

const sgSpec = z
  .object({
    vpc: refName("Name of the VPC (in this namespace) the group belongs to. Immutable.").max(63).meta(immutable("spec.vpc")),
    description: z.string().max(255).optional().describe("What the group is for."),
    ingress: sgRules(50).optional().describe("Traffic allowed in, besides from the group's own members (always allowed)."),
    egress: sgRules(50).optional()
      .describe("Traffic allowed out. Unset: all egress is allowed (a new Neutron group's default); set (even empty): only to the group's own members and these."),
  })
  .describe("Desired state of the security group.");

const sgStatus = z
  .object({
    ...observed,
    members: count("Instances with a NIC in the group."),
    networkPolicy: z.string().optional().describe("The NetworkPolicy that realizes the group."),
    unenforced: count("Rules NetworkPolicy cannot express (icmp only), recorded but not enforced."),
  })
  .describe("Observed state of the security group.");

export const SecurityGroup = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "SecurityGroup",
  plural: "securitygroups",
  singular: "securitygroup",
  shortNames: ["sg"],
  scope: "Namespaced",
  description:
    "SecurityGroup is a set of allow rules for the instance NICs that name it (Neutron semantics): members reach each other, other traffic in is denied unless a rule allows it, and all egress is allowed unless egress rules are set. Realized as one NetworkPolicy per group; each VPC also gets a NetworkPolicy that denies what no group allows. Every VPC has a group <vpc>-default, used by NICs that name none.",
  spec: sgSpec,
  status: sgStatus,
  printerColumns: [
    { name: "VPC", type: "string", jsonPath: ".spec.vpc" },
    { name: "Members", type: "integer", jsonPath: ".status.members" },
    { name: "Policy", type: "string", jsonPath: ".status.networkPolicy", priority: 1 },
    { name: "Description", type: "string", jsonPath: ".spec.description", priority: 1 },
  ],
  objectValidations: [nameIsDNSLabel("NICs name it in a label key"), { rule: "size(self.metadata.name) <= 63", message: "metadata.name must be at most 63 characters: NICs name it in a label key" }],
});

export type SecurityGroupSpec = z.output<typeof sgSpec>;
export type SecurityGroupRule = z.output<typeof sgRule>;
export type SecurityGroupObj = KubeObject & { spec: SecurityGroupSpec; status?: SecurityGroupStatus };
export type SecurityGroupStatus = z.output<typeof sgStatus>;

/** The security group controller's finalizer: a group goes once no NIC names it. */
export const SECURITY_GROUP_FINALIZER = "network.cellcloud.io/securitygroup";
/** The group every VPC gets, used by the NICs that name none. */
export const defaultGroupName = (vpc: string) => `${vpc}-default`;

// ==================== ElasticIP ====================

/** What an ElasticIP can be bound to. */
export const EIP_TARGET_KINDS = ["Instance", "LoadBalancer"] as const;

const eipSpec = z
  .object({
    pool: refName("The ExternalIPPool to take the address from; empty: the first pool (by name) with a free address. Immutable once allocated.").optional(),
    address: ipv4("A specific external address to take; empty: any free one. Immutable.", "spec.address").optional().meta(immutable("spec.address")),
    bandwidth: z
      .object({
        ingressMbps: z.int().min(1).max(100_000).default(100).describe("Inbound limit in Mbit/s."),
        egressMbps: z.int().min(1).max(100_000).default(100).describe("Outbound limit in Mbit/s."),
      })
      .default({ ingressMbps: 100, egressMbps: 100 })
      .describe("Bandwidth limits, changeable while bound (billed by bandwidth)."),
    target: z
      .object({
        kind: z.enum(EIP_TARGET_KINDS).default("Instance").describe("Kind of the target: Instance, or LoadBalancer (a public load balancer: the address maps to its VIP)."),
        name: z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).describe("Name of the target, in this namespace."),
        nic: z.int().min(0).max(15).default(0).describe("Which of an instance's NICs the address maps to (its index in spec.nics); 0 for a LoadBalancer."),
      })
      .optional()
      .describe("What the address is bound to; empty: allocated, not bound. Set to bind, change to rebind, remove to unbind. A target has at most one ElasticIP."),
  })
  .describe("Desired state of the elastic IP.");

const eipStatus = z
  .object({
    ...observed,
    address: z.string().optional().describe("The external address held (its IPAllocation is external.<address>)."),
    pool: z.string().optional().describe("The pool it came from."),
    boundTo: z
      .object({
        kind: z.string().describe("Kind of the target."),
        name: z.string().describe("Name of the target."),
        privateIP: z.string().optional().describe("The target's address the external one maps to."),
      })
      .optional()
      .describe("What the address is bound to now; shown only once the target's binding lock is held."),
    bandwidth: z
      .object({ ingressMbps: z.int().describe("Inbound limit in effect."), egressMbps: z.int().describe("Outbound limit in effect.") })
      .optional()
      .describe("The bandwidth limits in effect."),
  })
  .describe("Observed state of the elastic IP.");

export const ElasticIP = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "ElasticIP",
  plural: "elasticips",
  singular: "elasticip",
  shortNames: ["eip"],
  scope: "Namespaced",
  description:
    "ElasticIP is an external address from an ExternalIPPool (held by an IPAllocation external.<address>), bound to at most one target and rebound in place, with bandwidth limits. A target holds at most one ElasticIP: an EIPBinding named <kind>.<target> is the lock. A bound ElasticIP cannot be deleted until it is unbound.",
  spec: eipSpec,
  status: eipStatus,
  printerColumns: [
    { name: "Address", type: "string", jsonPath: ".status.address" },
    { name: "Target", type: "string", jsonPath: ".status.boundTo.name" },
    { name: "Private-IP", type: "string", jsonPath: ".status.boundTo.privateIP", priority: 1 },
    { name: "In-Mbps", type: "integer", jsonPath: ".status.bandwidth.ingressMbps", priority: 1 },
    { name: "Out-Mbps", type: "integer", jsonPath: ".status.bandwidth.egressMbps", priority: 1 },
    { name: "Pool", type: "string", jsonPath: ".status.pool", priority: 1 },
  ],
  validations: [{ rule: "!has(oldSelf.pool) || (has(self.pool) && self.pool == oldSelf.pool)", message: "spec.pool is immutable once set", fieldPath: ".pool" }],
});

export type ElasticIPSpec = z.output<typeof eipSpec>;
export type ElasticIPStatus = z.output<typeof eipStatus>;
export type ElasticIPObj = KubeObject & { spec: ElasticIPSpec; status?: ElasticIPStatus };

/** The ElasticIP controller's finalizer: an EIP goes once unbound and its address released. */
export const EIP_FINALIZER = "network.cellcloud.io/elasticip";

// ==================== EIPBinding ====================

/** The lock a target's binding holds: named by the target, so a second ElasticIP's create fails. */
export const bindingName = (kind: string, target: string) => `${kind.toLowerCase()}.${target}`;

const bindingSpec = z
  .object({
    elasticIP: z.object({
      name: z.string().max(253).describe("Name of the ElasticIP."),
      uid: z.string().max(64).describe("UID of the ElasticIP."),
    }).describe("The ElasticIP bound to the target."),
    target: z.object({
      kind: z.string().max(63).describe("Kind of the target."),
      name: z.string().max(253).describe("Name of the target."),
      uid: z.string().max(64).describe("UID of the target: a later object of the same name is another target."),
    }).describe("The target."),
  })
  .describe("Which ElasticIP the target this lock is named by is bound to. Immutable.");

export const EIPBinding = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "EIPBinding",
  plural: "eipbindings",
  shortNames: ["eipb"],
  scope: "Namespaced",
  description:
    "EIPBinding is the lock a bound target holds: named <kind>.<target>, so creating it fails (AlreadyExists) when the target already has an ElasticIP. Created before the ElasticIP's status shows the binding, deleted after it stops showing it.",
  spec: bindingSpec.meta(immutable("spec")),
  status: z.object({ ...observed }).describe("Unused: a binding is a lock, whole once created."),
  printerColumns: [
    { name: "ElasticIP", type: "string", jsonPath: ".spec.elasticIP.name" },
    { name: "Target-Kind", type: "string", jsonPath: ".spec.target.kind" },
    { name: "Target", type: "string", jsonPath: ".spec.target.name" },
  ],
  readyColumn: false,
  objectValidations: [{ rule: "self.metadata.name == self.spec.target.kind.lowerAscii() + '.' + self.spec.target.name", message: "metadata.name must be <spec.target.kind in lower case>.<spec.target.name>" }],
});

export type EIPBindingObj = KubeObject & { spec: z.output<typeof bindingSpec> };

// ==================== LoadBalancer ====================

/** The loadBalancerClass of every Service an SLB realizes: a cloud's own LB controller leaves them alone. */
export const SLB_CLASS = "slb.cellcloud.io";
/** EndpointSlices the SLB controller writes carry this managed-by (the EndpointSlice controller leaves them alone). */
export const SLB_MANAGED_BY = "slb.cellcloud.io";
/** The label naming a data plane pod's LoadBalancer. */
export const SLB_LABEL = "slb.cellcloud.io/loadbalancer";
/** The name of a LoadBalancer's Service, ConfigMap and Deployment. */
export const slbObjectName = (lb: string) => `slb-${lb}`;
/** LoadBalancer names are kept short enough for their data plane pods' names (slb-<lb>-<hash>-<id>) to stay DNS labels. */
export const MAX_LB_NAME = 40;

export const LISTENER_PROTOCOLS = ["TCP", "UDP", "HTTP", "HTTPS"] as const;
export const POOL_PROTOCOLS = ["TCP", "UDP", "HTTP"] as const;
export const LB_ALGORITHMS = ["WRR", "WLC", "SourceIP"] as const;
export const HEALTH_CHECK_TYPES = ["TCP", "HTTP", "HTTPS", "UDP-CONNECT"] as const;
/** Octavia's operating statuses, for members, pools and listeners. */
export const OPERATING_STATUSES = ["ONLINE", "OFFLINE", "DRAINING", "ERROR", "DEGRADED", "NO_MONITOR"] as const;
export type OperatingStatus = (typeof OPERATING_STATUSES)[number];

const dnsLabel = (what: string, max = 63) => z.string().min(1).max(max).regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/).describe(what);

const listener = z
  .object({
    name: dnsLabel("Name of the listener, unique in the load balancer; also the Service port's name (at most 15 characters).", 15),
    protocol: z.enum(LISTENER_PROTOCOLS).describe("TCP or UDP (layer 4), HTTP, or HTTPS (TLS terminated here with spec.listeners[*].certificateRefs, then HTTP to the members)."),
    port: z.int().min(1).max(65535).describe("The port clients connect to, unique among the load balancer's listeners."),
    defaultPool: dnsLabel("Name of the pool (in spec.pools) the listener sends its traffic to. Its protocol must suit the listener's: HTTP and HTTPS listeners use HTTP pools, TCP listeners TCP or HTTP pools, UDP listeners UDP pools."),
    certificateRefs: z
      .array(refName("Name of a Secret of type kubernetes.io/tls in this namespace."))
      .max(8)
      .optional()
      .describe("TLS certificates an HTTPS listener presents (the first is the default; the others are chosen by SNI). Required for HTTPS, refused for other protocols. A changed Secret is reloaded without dropping connections."),
    allowedCIDRs: z
      .array(z.string().max(18).describe("An IPv4 block (10.0.0.0/8) or address (192.0.2.7/32).").meta({
        "x-kubernetes-validations": [{ rule: "isCIDR(self) && cidr(self).ip().family() == 4", message: "spec.listeners[*].allowedCIDRs[*] must be an IPv4 CIDR such as 10.0.0.0/8" }],
      }))
      .max(32)
      .optional()
      .describe("Only clients from these blocks may connect; empty: everyone. A refused client's connection is closed at once."),
    connectionLimit: z.int().min(1).max(1_000_000).optional().describe("Most concurrent connections the listener accepts per data plane replica; empty: the data plane's limit."),
    timeouts: z
      .object({
        clientDataMs: z.int().min(100).max(86_400_000).default(50_000).describe("Inactivity allowed on the client's side, in milliseconds."),
        memberConnectMs: z.int().min(100).max(86_400_000).default(5_000).describe("Time to connect to a member, in milliseconds."),
        memberDataMs: z.int().min(100).max(86_400_000).default(50_000).describe("Inactivity allowed on the member's side, in milliseconds."),
      })
      .default({ clientDataMs: 50_000, memberConnectMs: 5_000, memberDataMs: 50_000 })
      .describe("Timeouts, as Octavia's timeout_client_data, timeout_member_connect and timeout_member_data."),
  })
  .describe("A port the load balancer listens on.");

const healthCheck = z
  .object({
    type: z.enum(HEALTH_CHECK_TYPES).describe("TCP (connect), HTTP or HTTPS (a request, its status code checked), or UDP-CONNECT (UDP pools only)."),
    intervalSeconds: z.int().min(1).max(3600).default(5).describe("Seconds between checks of one member."),
    timeoutSeconds: z.int().min(1).max(3600).default(3).describe("Seconds a check may take; at most spec.pools[*].healthCheck.intervalSeconds."),
    healthyThreshold: z.int().min(1).max(10).default(2).describe("Consecutive passed checks that bring a member back online."),
    unhealthyThreshold: z.int().min(1).max(10).default(3).describe("Consecutive failed checks that take a member offline."),
    httpPath: z.string().min(1).max(1024).regex(/^\/[\x21-\x7e]*$/).default("/").describe("Path an HTTP or HTTPS check requests (starting with /, no spaces)."),
    expectedCodes: z.string().max(64).regex(/^[1-5][0-9][0-9](-[1-5][0-9][0-9])?(,[1-5][0-9][0-9](-[1-5][0-9][0-9])?)*$/).default("200")
      .describe("Status codes an HTTP or HTTPS check accepts: a code (200), a list (200,202) or a range (200-204)."),
  })
  .describe("How members' health is checked; empty: not checked (members show NO_MONITOR).");

const member = z
  .object({
    instance: z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).optional().describe("An Instance in this namespace: its NIC's address (spec.pools[*].members[*].nic) is the member's. Exactly one of instance and address."),
    nic: z.int().min(0).max(15).default(0).describe("Which of the instance's NICs (its index in spec.nics)."),
    address: ipv4("An IPv4 address of the member (a server outside CellCloud's instances). Exactly one of instance and address.", "spec.pools[*].members[*].address").optional(),
    port: z.int().min(1).max(65535).describe("The member's port."),
    weight: z.int().min(0).max(256).default(1).describe("Share of new connections relative to the pool's other members (0-256); 0 drains the member: no new connections, established ones finish."),
    backup: z.boolean().default(false).describe("Used only while no other member is healthy."),
  })
  .describe("A backend server of the pool.");

const poolValidations: CelValidation[] = [
  { rule: "!has(self.healthCheck) || (self.healthCheck.type == 'UDP-CONNECT') == (self.protocol == 'UDP')", message: "spec.pools[*].healthCheck.type: UDP-CONNECT checks are for UDP pools, and UDP pools use only UDP-CONNECT checks", fieldPath: ".healthCheck.type" },
  { rule: "!has(self.healthCheck) || self.healthCheck.timeoutSeconds <= self.healthCheck.intervalSeconds", message: "spec.pools[*].healthCheck.timeoutSeconds must be at most intervalSeconds", fieldPath: ".healthCheck.timeoutSeconds" },
  { rule: "!has(self.sessionPersistence) || self.sessionPersistence.type == 'SourceIP' || self.protocol == 'HTTP'", message: "spec.pools[*].sessionPersistence: HTTPCookie and AppCookie need an HTTP pool", fieldPath: ".sessionPersistence.type" },
  { rule: "!has(self.sessionPersistence) || self.sessionPersistence.type != 'AppCookie' || has(self.sessionPersistence.cookieName)", message: "spec.pools[*].sessionPersistence.cookieName is required for AppCookie", fieldPath: ".sessionPersistence.cookieName" },
  { rule: "self.members.all(m, has(m.instance) != has(m.address))", message: "spec.pools[*].members[*]: exactly one of instance and address", fieldPath: ".members" },
  {
    rule: "self.members.all(m, self.members.exists_one(n, n.port == m.port && (has(m.instance) ? has(n.instance) && n.instance == m.instance && n.nic == m.nic : has(n.address) && n.address == m.address)))",
    message: "spec.pools[*].members: each (instance or address, port) at most once", fieldPath: ".members",
  },
];

const pool = z
  .object({
    name: dnsLabel("Name of the pool, unique in the load balancer."),
    protocol: z.enum(POOL_PROTOCOLS).describe("How the load balancer talks to the members: TCP, UDP or HTTP."),
    algorithm: z.enum(LB_ALGORITHMS).default("WRR").describe("WRR (weighted round robin), WLC (weighted least connections) or SourceIP (a hash of the client's address)."),
    sessionPersistence: z
      .object({
        type: z.enum(["SourceIP", "HTTPCookie", "AppCookie"]).describe("SourceIP: a client's address sticks to a member; HTTPCookie: the load balancer sets a cookie naming the member; AppCookie: the member's own cookie (spec.pools[*].sessionPersistence.cookieName) is remembered. Cookies need an HTTP pool."),
        cookieName: z.string().min(1).max(64).regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/).optional().describe("The cookie: required for AppCookie; for HTTPCookie the default is SRV."),
        timeoutSeconds: z.int().min(1).max(86_400 * 7).default(3600).describe("How long an idle client keeps its member (SourceIP and AppCookie)."),
      })
      .optional()
      .describe("Keeps a client on one member; empty: none."),
    healthCheck: healthCheck.optional(),
    members: z.array(member).max(64).default([]).describe("The backend servers, each (instance or address, port) at most once."),
  })
  .describe("A group of backend servers and how traffic is spread over them.")
  .meta({ "x-kubernetes-validations": poolValidations });

const lbSpec = z
  .object({
    vip: z
      .object({
        subnet: refName("The Subnet (in this namespace) the virtual IP comes from. Immutable.").max(63),
        address: ipv4("A specific address in the subnet; empty: any free one. Immutable.", "spec.vip.address").optional(),
      })
      .meta(immutable("spec.vip"))
      .describe("The private virtual IP clients reach the load balancer at. A public load balancer is one an ElasticIP is bound to (its spec.target.kind LoadBalancer)."),
    zone: labelValue("The zone the data plane runs in; empty: any.").optional(),
    replicas: z.int().min(1).max(4).default(2).describe("Data plane replicas (HAProxy), never two on one host."),
    // keyed by name, as Kubernetes lists of named things are: the apiserver refuses a name twice, and
    // server-side apply (GitOps) merges each listener and pool on its own
    listeners: z.array(listener).min(1).max(8).describe("The ports the load balancer listens on, each port at most once, each name at most once.")
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] }),
    pools: z.array(pool).min(1).max(8).describe("The pools the listeners send traffic to, each name at most once.")
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] }),
  })
  .describe("Desired state of the load balancer.");

const lbValidations: CelValidation[] = [
  { rule: "self.listeners.all(l, self.listeners.exists_one(m, m.port == l.port))", message: "spec.listeners: each port may be used by one listener only", fieldPath: ".listeners" },
  { rule: "self.listeners.all(l, self.pools.exists(p, p.name == l.defaultPool))", message: "spec.listeners[*].defaultPool must name a pool in spec.pools", fieldPath: ".listeners" },
  {
    rule: "self.listeners.all(l, self.pools.all(p, p.name != l.defaultPool || (l.protocol == 'UDP' ? p.protocol == 'UDP' : (l.protocol == 'TCP' ? p.protocol != 'UDP' : p.protocol == 'HTTP'))))",
    message: "spec.listeners[*].defaultPool: the pool's protocol must suit the listener's (HTTP and HTTPS listeners: HTTP pools; TCP: TCP or HTTP pools; UDP: UDP pools)", fieldPath: ".listeners",
  },
  { rule: "self.listeners.all(l, l.protocol == 'HTTPS' ? has(l.certificateRefs) && size(l.certificateRefs) > 0 : !has(l.certificateRefs) || size(l.certificateRefs) == 0)", message: "spec.listeners[*].certificateRefs is required for an HTTPS listener and only allowed on one", fieldPath: ".listeners" },
];


const memberStatus = z
  .object({
    name: z.string().describe("The member: <instance>:<port> or <address>:<port>."),
    address: z.string().optional().describe("Its address, once known."),
    weight: z.int().optional().describe("Its weight in effect."),
    operatingStatus: z.enum(OPERATING_STATUSES).describe("ONLINE (passing checks), ERROR (failing them), DRAINING (weight 0), OFFLINE (its instance is not running, or it has no address), NO_MONITOR (not checked)."),
  })
  .describe("A member as the data plane sees it.");

const lbStatus = z
  .object({
    ...observed,
    vip: z.string().optional().describe("The private virtual IP held (its IPAllocation is <namespace>.<vpc>.<address>)."),
    publicIP: z.string().optional().describe("The ElasticIP bound to the load balancer, if any."),
    dataPlaneAddresses: z.array(z.string().describe("A ready replica's address.")).max(4).optional().describe("Addresses of the ready data plane replicas, where the VIP's traffic is delivered (loopback addresses on the local plane)."),
    readyReplicas: count("Data plane replicas ready."),
    listeners: z
      .array(z.object({
        name: z.string().describe("The listener."),
        port: z.int().describe("Its port."),
        operatingStatus: z.enum(OPERATING_STATUSES).describe("Its default pool's status, or OFFLINE while no data plane replica serves it."),
      }).describe("A listener's state."))
      .max(8)
      .optional()
      .describe("Each listener's operating status."),
    pools: z
      .array(z.object({
        name: z.string().describe("The pool."),
        operatingStatus: z.enum(OPERATING_STATUSES).describe("ONLINE (every member ONLINE or NO_MONITOR), DEGRADED (some member ERROR or OFFLINE), ERROR (no member can take traffic)."),
        members: z.array(memberStatus).max(64).describe("Its members."),
      }).describe("A pool's state."))
      .max(8)
      .optional()
      .describe("Each pool's operating status and its members'."),
  })
  .describe("Observed state of the load balancer.");

export const LoadBalancer = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "LoadBalancer",
  plural: "loadbalancers",
  singular: "loadbalancer",
  shortNames: ["slb"],
  scope: "Namespaced",
  description:
    "LoadBalancer is an SLB load balancer, as OpenStack Octavia's: listeners (TCP, UDP, HTTP, HTTPS with TLS termination) send traffic to pools of weighted members (instances or addresses) by weighted round robin, least connections or source IP, with health checks and session persistence. Its virtual IP comes from a subnet; binding an ElasticIP to it makes it public. Realized as a Service (loadBalancerClass slb.cellcloud.io) with EndpointSlices of the members, and an HAProxy data plane (a Deployment with its configuration in a ConfigMap) whose health checks report each member's status.",
  spec: lbSpec,
  status: lbStatus,
  printerColumns: [
    { name: "VIP", type: "string", jsonPath: ".status.vip" },
    { name: "Public-IP", type: "string", jsonPath: ".status.publicIP" },
    { name: "Listeners", type: "string", jsonPath: ".spec.listeners[*].port", priority: 1 },
    { name: "Replicas", type: "integer", jsonPath: ".status.readyReplicas", priority: 1 },
    { name: "Degraded", type: "string", jsonPath: ".status.conditions[?(@.type==\"Degraded\")].status" },
  ],
  validations: lbValidations,
  objectValidations: [nameAtMost(MAX_LB_NAME, "its data plane pods are named slb-<name>-<hash>-<id>"), nameIsDNSLabel("it names the load balancer's Service")],
});

export type LoadBalancerSpec = z.output<typeof lbSpec>;
export type LoadBalancerStatus = z.output<typeof lbStatus>;
export type LoadBalancerObj = KubeObject & { spec: LoadBalancerSpec; status?: LoadBalancerStatus };
export type ListenerSpec = LoadBalancerSpec["listeners"][number];
export type PoolSpec = LoadBalancerSpec["pools"][number];
export type MemberSpec = PoolSpec["members"][number];
export type MemberStatus = z.output<typeof memberStatus>;

/** The LoadBalancer controller's finalizer: its VIP is released and its data plane gone before it goes. */
export const LB_FINALIZER = "network.cellcloud.io/loadbalancer";

export const VPCRef = refOf(VPC);
export const ElasticIPRef = refOf(ElasticIP);
export const EIPBindingRef = refOf(EIPBinding);
export const SecurityGroupRef = refOf(SecurityGroup);
export const SubnetRef = refOf(Subnet);
export const IPAllocationRef = refOf(IPAllocation);
export const VNIClaimRef = refOf(VNIClaim);
export const LoadBalancerRef = refOf(LoadBalancer);

export const networkKinds = [VPC, VNIClaim, Subnet, IPAllocation, SecurityGroup, ElasticIP, EIPBinding, LoadBalancer];
