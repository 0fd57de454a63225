// The kinds the console shows, and how: one entry a kind. A product that lands adds its entry here
// (its columns are read off the object, like its CRD's printer columns).
import type { KubeObject, Resource } from "./api.ts";
import { age, condition } from "./api.ts";

export interface Column {
  title: string;
  value: (o: KubeObject) => string;
}

export interface Kind extends Resource {
  kind: string;
  title: string;
  /** Route segment, e.g. "volumes". */
  route: string;
  section: "Compute" | "Storage" | "Network" | "Databases" | "Messaging" | "Billing";
  /** Columns read off the object; without them the apiserver's (the CRD's printer columns) are shown. */
  columns?: Column[];
  /** Orders a tenant in Approval mode approves (the `approve` verb). */
  approvable?: boolean;
}

const v1alpha1 = (group: string) => ({ group: `${group}.cellcloud.io`, version: "v1alpha1", namespaced: true });
const ready: Column = { title: "Ready", value: (o) => { const c = condition(o); return c.status ? `${c.status}${c.reason && c.status !== "True" ? ` (${c.reason})` : ""}` : ""; } };
const ageColumn: Column = { title: "Age", value: (o) => age(o.metadata.creationTimestamp) };
const s = (v: unknown): string => (v === undefined || v === null ? "" : String(v));

export const INSTANCES: Kind = {
  ...v1alpha1("compute"), kind: "Instance", plural: "instances", title: "Instances", route: "instances", section: "Compute", approvable: true,
  columns: [
    { title: "Power", value: (o) => s(o.status?.powerState) },
    { title: "Size", value: (o) => o.spec?.flavor ?? (o.spec?.resources ? `${o.spec.resources.vcpus} vCPU / ${o.spec.resources.memory}` : "") },
    { title: "Arch", value: (o) => s(o.status?.architecture) },
    { title: "Node", value: (o) => s(o.status?.nodeName) },
    { title: "IPs", value: (o) => ((o.status?.nics ?? []) as { ip?: string }[]).map((n) => n.ip).filter(Boolean).join(", ") },
    ready, ageColumn,
  ],
};

export const KINDS: Kind[] = [
  INSTANCES,
  { ...v1alpha1("storage"), kind: "Volume", plural: "volumes", title: "Volumes", route: "volumes", section: "Storage", approvable: true },
  { ...v1alpha1("storage"), kind: "VolumeSnapshot", plural: "volumesnapshots", title: "Snapshots", route: "snapshots", section: "Storage", approvable: true },
  { ...v1alpha1("network"), kind: "VPC", plural: "vpcs", title: "VPCs", route: "vpcs", section: "Network", approvable: true },
  { ...v1alpha1("network"), kind: "Subnet", plural: "subnets", title: "Subnets", route: "subnets", section: "Network", approvable: true },
  { ...v1alpha1("network"), kind: "SecurityGroup", plural: "securitygroups", title: "Security groups", route: "securitygroups", section: "Network", approvable: true },
  { ...v1alpha1("network"), kind: "ElasticIP", plural: "elasticips", title: "Elastic IPs", route: "elasticips", section: "Network", approvable: true },
  { ...v1alpha1("network"), kind: "LoadBalancer", plural: "loadbalancers", title: "Load balancers", route: "loadbalancers", section: "Network", approvable: true },
  { ...v1alpha1("database"), kind: "DBInstance", plural: "dbinstances", title: "Databases", route: "databases", section: "Databases", approvable: true },
  { ...v1alpha1("database"), kind: "DBBackup", plural: "dbbackups", title: "Database backups", route: "dbbackups", section: "Databases", approvable: true },
  { ...v1alpha1("messaging"), kind: "MQInstance", plural: "mqinstances", title: "Queues", route: "queues", section: "Messaging", approvable: true },
  { ...v1alpha1("messaging"), kind: "MQTopic", plural: "mqtopics", title: "Topics", route: "topics", section: "Messaging", approvable: true },
  { ...v1alpha1("messaging"), kind: "MQUser", plural: "mqusers", title: "Queue users", route: "mqusers", section: "Messaging", approvable: true },
  { ...v1alpha1("billing"), kind: "Subscription", plural: "subscriptions", title: "Subscriptions", route: "subscriptions", section: "Billing" },
  { ...v1alpha1("billing"), kind: "Bill", plural: "bills", title: "Bills", route: "bills", section: "Billing" },
];

export const EVENTS: Resource = { group: "", version: "v1", plural: "events", namespaced: true };
export const NAMESPACES: Resource = { group: "", version: "v1", plural: "namespaces", namespaced: false };
export const NODES: Resource = { group: "", version: "v1", plural: "nodes", namespaced: false };
export const PODS: Resource = { group: "", version: "v1", plural: "pods", namespaced: true };
export const CELLS: Resource = { group: "platform.cellcloud.io", version: "v1alpha1", plural: "cells", namespaced: false };
export const NODEPOOLS: Resource = { group: "platform.cellcloud.io", version: "v1alpha1", plural: "nodepools", namespaced: false };
export const FLAVORS: Resource = { group: "compute.cellcloud.io", version: "v1alpha1", plural: "flavors", namespaced: false };
export const IMAGES: Resource = { group: "compute.cellcloud.io", version: "v1alpha1", plural: "images", namespaced: true };
export const QUOTAS: Resource = { group: "tenancy.cellcloud.io", version: "v1alpha1", plural: "quotas", namespaced: false };
export const TENANTS: Resource = { group: "tenancy.cellcloud.io", version: "v1alpha1", plural: "tenants", namespaced: false };
export const APPLIED_QUOTAS: Resource = { group: "tenancy.cellcloud.io", version: "v1alpha1", plural: "appliedquotas", namespaced: true };

export const APPROVAL_REQUIRED = "tenancy.cellcloud.io/approval-required";
export const APPROVED_BY = "tenancy.cellcloud.io/approved-by";
export const ESTIMATE = "billing.cellcloud.io/estimate";
export const PUBLIC_IMAGES = "cellcloud-images";
export const TENANT_LABEL = "cellcloud.io/tenant";
