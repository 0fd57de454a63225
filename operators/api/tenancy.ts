// tenancy.cellcloud.io: tenants (departments are tenants with a parent, to any depth), their quotas,
// and one ledger per root tenant that holds the usage of its whole tree, so one compare-and-swap of
// one object deducts at every level at once (see operators/tenancy/ledger.ts).
import { z } from "zod";
import { count, labelValue, observed, quantity, refName } from "./common.ts";
import { defineKind, refOf, type CelValidation, type PrinterColumn } from "./crd.ts";
import type { KubeObject, ResourceRef } from "./meta.ts";
import { architectures } from "./platform.ts";

const GROUP = "tenancy.cellcloud.io";
const VERSION = "v1alpha1";

/** Object counts per tenant namespace when the Tenant says nothing (spec.objectLimits). */
export const DEFAULT_OBJECT_LIMITS = { secrets: 200, keyPairs: 100, deploymentSets: 50 } as const;

/** The label a tenant's namespaces carry; the quota webhook only looks at labelled namespaces. */
export const TENANT_LABEL = "cellcloud.io/tenant";
/** Set by the webhook on an object created by a tenant in Approval mode. */
export const APPROVAL_REQUIRED = "tenancy.cellcloud.io/approval-required";
/** What an object in a tenant namespace is charged, set by the webhook ("<tenant> <zone> <arch> <amounts>"). */
export const CHARGE_ANNOTATION = "tenancy.cellcloud.io/charge";
/**
 * Set by a cluster admin on an existing namespace to let the named tenant take it over; a tenant
 * may otherwise only claim namespaces that do not exist yet (or are already its own).
 */
export const ADOPT_ANNOTATION = "tenancy.cellcloud.io/adopt";
/** The ClusterRole (chart: files/tenant-roles.yaml) letting the manager get Secrets in a tenant namespace: user data checks. */
export const USER_DATA_READER_ROLE = "cellcloud-user-data-reader";
/** Set to approve it; only a user allowed the `approve` verb on the kind in that namespace may. */
export const APPROVED_BY = "tenancy.cellcloud.io/approved-by";

// ==================== Tenant ====================

const subject = z
  .object({
    kind: z.enum(["User", "Group", "ServiceAccount"]).describe("Kind of subject, as in a RoleBinding."),
    name: z.string().min(1).max(253).describe("User, group or service account name."),
    namespace: z.string().max(63).optional().describe("Namespace of a ServiceAccount."),
  })
  .describe("A user, group or service account.");

const subjects = (what: string) => z.array(subject).max(64).optional().describe(what);

const tenantSpec = z
  .object({
    displayName: z.string().max(128).optional().describe("Human-readable name, e.g. Acme Corp. or Research Dept."),
    parent: refName("Parent tenant: a department names the tenant (or department) it belongs to. Empty for a root tenant. Immutable.").max(63).optional(),
    admins: subjects("Subjects bound to ClusterRole cellcloud-tenant-admin in every namespace of this tenant and of its departments: they manage resources and approve orders."),
    users: subjects("Subjects bound to ClusterRole cellcloud-tenant-user in this tenant's namespaces: they create and run resources."),
    viewers: subjects("Subjects bound to ClusterRole cellcloud-viewer in this tenant's namespaces: read only."),
    orderMode: z
      .enum(["Direct", "Approval"])
      .default("Direct")
      .describe("Direct: new billable resources start at once. Approval: they wait with condition Approved=False until an admin sets the approved-by annotation."),
    customSizes: z
      .boolean()
      .default(true)
      .describe("Whether the tenant's instances may use custom sizes (spec.resources) instead of a Flavor; false in any ancestor forbids it."),
    namespaces: z
      .array(labelValue("A namespace name."))
      .max(64)
      .optional()
      .describe(`Namespaces this tenant owns; the controller creates them and labels them ${TENANT_LABEL}=<tenant>. A namespace belongs to one tenant only.`)
      .meta({ "x-kubernetes-list-type": "set" }),
    allowedPriorities: z
      .array(z.enum(["Low", "Normal", "High"]))
      .min(1)
      .max(3)
      .default(["Low", "Normal"])
      .describe("HA priorities (an Instance's spec.priority) the tenant's instances may ask for; an ancestor's list narrows it. High lets an instance preempt the tenant's lower-priority ones after a host failure; preemption never crosses tenants.")
      .meta({ "x-kubernetes-list-type": "set" }),
    billing: z
      .object({
        pricing: z.enum(["Enabled", "Disabled"]).optional().describe("Disabled: the tenant's usage is metered but charged nothing. Empty: as the parent (Enabled for a root)."),
        deduction: z.enum(["Enabled", "Disabled"]).optional().describe("Disabled: bills are computed but not deducted from the tenant's account (invoiced). Empty: as the parent (Enabled for a root)."),
      })
      .optional()
      .describe("The tenant's billing switches; a department inherits what it leaves empty."),
    objectLimits: z
      .object({
        secrets: z.int().min(0).max(100_000).optional().describe(`Secrets (user data, TLS certificates), per namespace; default ${DEFAULT_OBJECT_LIMITS.secrets}.`),
        keyPairs: z.int().min(0).max(100_000).optional().describe(`KeyPairs, per namespace; default ${DEFAULT_OBJECT_LIMITS.keyPairs}.`),
        deploymentSets: z.int().min(0).max(100_000).optional().describe(`DeploymentSets, per namespace; default ${DEFAULT_OBJECT_LIMITS.deploymentSets}.`),
      })
      .optional()
      .describe("Caps on objects quota does not price, enforced per namespace by a Kubernetes ResourceQuota (cellcloud-object-counts) the controller keeps, so no tenant can fill etcd."),
  })
  .describe("Desired state of the tenant.");

const tenantValidations: CelValidation[] = [
  {
    rule: "has(self.parent) == has(oldSelf.parent) && (!has(self.parent) || self.parent == oldSelf.parent)",
    message: "spec.parent is immutable", fieldPath: ".parent",
  },
];

export const Tenant = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "Tenant",
  plural: "tenants",
  shortNames: ["tnt"],
  scope: "Cluster",
  description: "Tenant is a customer or, with a parent, one of its departments: who administers it, which namespaces it owns and how its orders are approved.",
  spec: tenantSpec,
  status: z
    .object({
      ...observed,
      root: z.string().optional().describe("The root tenant of this tenant's tree (itself for a root); its QuotaLedger holds the tree's usage."),
      path: z.string().optional().describe("The chain from the root, e.g. acme/research/ml."),
      namespaces: count("Namespaces that exist and are labelled for this tenant."),
    })
    .describe("Observed state of the tenant."),
  printerColumns: [
    { name: "Parent", type: "string", jsonPath: ".spec.parent" },
    { name: "Mode", type: "string", jsonPath: ".spec.orderMode" },
    { name: "Path", type: "string", jsonPath: ".status.path" },
    { name: "Namespaces", type: "integer", jsonPath: ".status.namespaces" },
  ],
  validations: tenantValidations,
  objectValidations: [{ rule: "self.metadata.name.size() <= 63", message: `metadata.name must be at most 63 characters: it is the value of the ${TENANT_LABEL} label` }],
});

export type TenantSpec = z.output<typeof tenantSpec>;

// ==================== Quota ====================

const hardQuantity = (what: string, field: string) => quantity(what, `spec.hard.${field}`).optional();
const hardCount = (what: string) => z.int().min(0).max(10_000_000).optional().describe(what);

const quotaHard = z
  .object({
    cpu: hardQuantity("vCPUs, e.g. 64 or 500m.", "cpu"),
    memory: hardQuantity("Memory, e.g. 256Gi.", "memory"),
    storage: hardQuantity("Disk: system disks plus volumes, e.g. 10Ti.", "storage"),
    instances: hardCount("ECS instances."),
    volumes: hardCount("EVS volumes."),
    snapshots: hardCount("Volume snapshots."),
    vpcs: hardCount("VPCs."),
    eips: hardCount("Elastic IPs."),
    securitygroups: hardCount("Security groups."),
    loadbalancers: hardCount("Load balancers."),
    dbinstances: hardCount("RDS database instances."),
    mqinstances: hardCount("MQ broker instances."),
  })
  .describe("Limits per dimension; a dimension left out is not limited by this quota.");

const usage = (what: string) =>
  z
    .object(Object.fromEntries(Object.keys(quotaHard.shape).map((k) => [k, z.string().optional().describe(`${k}, as a quantity or count.`)])))
    .describe(what);

const quotaSpec = z
  .object({
    tenant: refName("The Tenant (or department) this quota limits, counting its departments' use too. Immutable.").max(63),
    zone: labelValue("Only count resources in this zone; empty: every zone. Immutable.").optional(),
    architecture: z.enum(architectures).optional().describe("Only count resources on this CPU architecture; empty: both. Immutable."),
    hard: quotaHard,
  })
  .describe("Desired state of the quota.");

/** Scope, use and limits, as `kubectl get` shows a Quota and its AppliedQuotas (same paths in both). */
const quotaColumns: PrinterColumn[] = [
  { name: "Zone", type: "string", jsonPath: ".spec.zone" },
  { name: "Arch", type: "string", jsonPath: ".spec.architecture" },
  { name: "CPU", type: "string", jsonPath: ".status.used.cpu", description: "vCPUs used" },
  { name: "CPU-Limit", type: "string", jsonPath: ".spec.hard.cpu" },
  { name: "Memory", type: "string", jsonPath: ".status.used.memory", description: "Memory used" },
  { name: "Memory-Limit", type: "string", jsonPath: ".spec.hard.memory" },
  { name: "Instances", type: "string", jsonPath: ".status.used.instances", priority: 1 },
  { name: "Storage", type: "string", jsonPath: ".status.used.storage", priority: 1 },
];

const quotaValidations: CelValidation[] = [
  { rule: "self.tenant == oldSelf.tenant", message: "spec.tenant is immutable", fieldPath: ".tenant" },
  { rule: "has(self.zone) == has(oldSelf.zone) && (!has(self.zone) || self.zone == oldSelf.zone)", message: "spec.zone is immutable", fieldPath: ".zone" },
  {
    rule: "has(self.architecture) == has(oldSelf.architecture) && (!has(self.architecture) || self.architecture == oldSelf.architecture)",
    message: "spec.architecture is immutable", fieldPath: ".architecture",
  },
];

export const Quota = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "Quota",
  plural: "quotas",
  shortNames: ["cq"],
  scope: "Cluster",
  description:
    "Quota caps what a tenant and its departments may hold (cpu, memory, storage, instance counts...), optionally in one zone or on one architecture. Enforced at admission: a create that does not fit is refused with the quota's name, the request, the usage and the limit.",
  spec: quotaSpec,
  status: z
    .object({
      ...observed,
      used: usage("Committed usage of the tenant's tree within this quota's scope."),
      reserved: usage("Admitted creates whose objects are not yet seen (they become used, or expire after a minute)."),
    })
    .describe("Observed state of the quota."),
  printerColumns: [{ name: "Tenant", type: "string", jsonPath: ".spec.tenant" }, ...quotaColumns],
  validations: quotaValidations,
});

export type QuotaSpec = z.output<typeof quotaSpec>;

// ==================== QuotaLedger ====================

// One field for server-side field management each: tracking every key made every write slower.
const stringMap = (what: string, value: string) =>
  z.record(z.string(), z.string().max(256).describe(value)).optional().describe(what).meta({ "x-kubernetes-map-type": "atomic" });

export const QuotaLedger = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "QuotaLedger",
  plural: "quotaledgers",
  shortNames: ["qledger"],
  scope: "Cluster",
  description:
    "QuotaLedger holds the usage of one root tenant's whole tree (totals per department, zone and architecture, plus admitted changes in flight), written only by the quota webhook and controllers with compare-and-swap. Created by the tenant controller, named after the root tenant; not for hand editing.",
  spec: z
    .object({
      tenant: refName("The root tenant whose tree this ledger counts.").max(63),
      description: z.string().max(255).optional().describe("A note for humans."),
    })
    .describe("Desired state of the ledger."),
  status: z
    .object({
      ...observed,
      usage: stringMap(
        "Committed usage by tenant (or department), zone and architecture: key '<tenant> <zone> <arch>', value '<dim>=<amount>,...' ('-' for no zone or arch).",
        "Amounts, e.g. cpu=8000,memory=16Gi,instances=4 (cpu in millicores).",
      ),
      pending: stringMap(
        "Admitted changes not yet seen done, by object uid: '<expiry ms> <to charge>[ <from charge>][ key=<hash of namespace/resource/name>]', a charge being '<tenant> <zone> <arch> <amounts>'. They count against quota until committed or expired; of creates of one name only the newest counts.",
        "A pending change.",
      ),
      released: stringMap("Objects whose usage was released, by uid, with when that is forgotten (ms): a repeated release finds it.", "Until when (ms since epoch)."),
      lastCorrection: z.iso.datetime().optional().describe("When a recount last found usage different from what the objects that exist hold, and corrected it (a crash between an admission and its commit, a namespace moved to another tenant). Usage is recounted every --quota-recount (180 s) and at a manager's start; a recount that changes nothing writes nothing."),
    })
    .describe("Observed state of the ledger."),
  printerColumns: [
    { name: "Tenant", type: "string", jsonPath: ".spec.tenant" },
    { name: "Last-Correction", type: "date", jsonPath: ".status.lastCorrection" },
  ],
});

// ==================== AppliedQuota ====================

/** How an AppliedQuota's quota relates to the tenant owning its namespace. */
export const appliedQuotaRelations = ["Self", "Ancestor", "Department"] as const;
export type AppliedQuotaRelation = (typeof appliedQuotaRelations)[number];
/** The longest tenant chain an AppliedQuota carries (nearest tenants kept): bounds its size. */
export const APPLIED_QUOTA_MAX_DEPTH = 32;

const appliedQuotaSpec = z
  .object({
    quota: refName("The Quota (cluster-scoped) this copies; the AppliedQuota has its name.").max(253),
    tenant: refName("The tenant (or department) the quota limits: the Quota's spec.tenant.").max(63),
    path: z
      .string()
      .max(APPLIED_QUOTA_MAX_DEPTH * 64)
      .describe(`The quota's tenant's chain from its root, as Tenant status.path (e.g. acme/research/ml; its nearest ${APPLIED_QUOTA_MAX_DEPTH} tenants): enough, with the namespace's other AppliedQuotas, to draw the tree.`),
    relation: z
      .enum(appliedQuotaRelations)
      .describe("How the quota's tenant relates to this namespace's tenant: Self; Ancestor (its limits bind this tenant too); Department (a department of this tenant, at any depth, so its admins see the whole tree)."),
    namespaceTenant: refName("The tenant owning this namespace.").max(63),
    zone: labelValue("The quota's zone; empty: every zone.").optional(),
    architecture: z.enum(architectures).optional().describe("The quota's CPU architecture; empty: both."),
    hard: quotaHard,
  })
  .describe("The quota's scope and limits, and whom it limits.");

export const AppliedQuota = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "AppliedQuota",
  plural: "appliedquotas",
  shortNames: ["aq"],
  scope: "Namespaced",
  description:
    "AppliedQuota is a read-only copy, in a tenant's namespace, of one Quota that concerns the tenant: its own, an ancestor's (which limits it too) or a department's. Written by the manager only (named after the Quota, kept in step with its status), so a tenant's users read their quota usage with namespaced RBAC, as OpenShift's AppliedClusterResourceQuota projects a ClusterResourceQuota.",
  spec: appliedQuotaSpec,
  status: z
    .object({
      ...observed,
      used: usage("The Quota's status.used: committed usage of its tenant's tree within its scope."),
      reserved: usage("The Quota's status.reserved: admitted creates whose objects are not yet seen."),
    })
    .describe("The quota's usage, as its status shows it."),
  printerColumns: [
    { name: "Tenant", type: "string", jsonPath: ".spec.tenant" },
    { name: "Relation", type: "string", jsonPath: ".spec.relation" },
    ...quotaColumns,
    { name: "Path", type: "string", jsonPath: ".spec.path", priority: 1 },
  ],
  readyColumn: false,
});

export type AppliedQuotaSpec = z.output<typeof appliedQuotaSpec>;

export const tenancyKinds = [Tenant, Quota, QuotaLedger, AppliedQuota] as const;

// ==================== Contracts ====================

export const TenantRef = refOf(Tenant);
export const QuotaRef = refOf(Quota);
export const QuotaLedgerRef = refOf(QuotaLedger);
export const AppliedQuotaRef = refOf(AppliedQuota);

export interface TenantObject extends KubeObject { spec: TenantSpec }
export interface QuotaObject extends KubeObject { spec: QuotaSpec }
export interface AppliedQuotaObject extends KubeObject { spec: AppliedQuotaSpec }

/** Held by every charged object in a tenant namespace until its usage is released. */
export const QUOTA_FINALIZER = "tenancy.cellcloud.io/quota";

export const dimensions = [
  "cpu", "memory", "storage", "instances", "volumes", "snapshots", "vpcs", "eips", "securitygroups", "loadbalancers", "dbinstances", "mqinstances",
] as const;
export type Dimension = (typeof dimensions)[number];
/** cpu in millicores, memory and storage in bytes, the rest as counts. */
export type Amounts = Partial<Record<Dimension, number>>;

/** What one object holds against quota, and where it counts. */
export interface Charge {
  tenant: string;
  zone: string;
  arch?: string;
  amounts: Amounts;
}

export type Priced = { charge: Charge } | { denied: string };

/** Where an image lives and whom it is shared with, as tenancy judges who may use it. */
export interface Visibility {
  /** The image's namespace: the public catalog's, or a tenant's (the owner). */
  namespace: string;
  sharedWith?: readonly string[];
}

/** What tenancy tells a product pricing one object. */
export interface PricingContext {
  tenant: string;
  namespace: string;
  /** Whether the tenant (and every ancestor) allows custom instance sizes. */
  customSizes: boolean;
  /** The HA priorities the tenant (and every ancestor) allows. */
  priorities: readonly string[];
  /** Whether the tenant may use an Image: public, its own tree's, or shared with it. */
  visible(v: Visibility): boolean;
}

/**
 * A kind whose objects are charged against quota, as its product registers it (operators/products.ts):
 * tenancy prices, admits and releases them without knowing the product.
 */
export interface ChargedKind {
  ref: ResourceRef;
  /** The product controller's own finalizer, added at create so no delete can outrun its cleanup. */
  finalizer?: string;
  /** The charge, or why the object may not be admitted (a field named). Objects read from the product's own caches. */
  price(obj: KubeObject, ctx: PricingContext): Priced;
}
