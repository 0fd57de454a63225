// network.cellcloud.io: VPC networking. A VPC is a tenant's isolated network: its CIDR blocks, an
// overlay segment id (VNI) unique in the cluster, routes and DNS. VNIs are allocated as Kubernetes'
// own IPAddress allocator (KEP-1880) hands out addresses: one cluster-scoped VNIClaim per VNI, named
// by the number, so the apiserver's create is the lock and no VNI is ever held twice.
import { z } from "zod";
import { count, immutable, ipv4, nameAtMost, nameIsDNSLabel, observed, refName } from "./common.ts";
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

/** What an ElasticIP can be bound to. LoadBalancer joins when SLB lands. */
export const EIP_TARGET_KINDS = ["Instance"] as const;

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
        kind: z.enum(EIP_TARGET_KINDS).default("Instance").describe("Kind of the target: Instance (LoadBalancer once SLB exists)."),
        name: z.string().min(1).max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).describe("Name of the target, in this namespace."),
        nic: z.int().min(0).max(15).default(0).describe("Which of an instance's NICs the address maps to (its index in spec.nics)."),
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

export const VPCRef = refOf(VPC);
export const ElasticIPRef = refOf(ElasticIP);
export const EIPBindingRef = refOf(EIPBinding);
export const SecurityGroupRef = refOf(SecurityGroup);
export const SubnetRef = refOf(Subnet);
export const IPAllocationRef = refOf(IPAllocation);
export const VNIClaimRef = refOf(VNIClaim);

export const networkKinds = [VPC, VNIClaim, Subnet, IPAllocation, SecurityGroup, ElasticIP, EIPBinding];
