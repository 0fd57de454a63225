// The API coordinates the plugin talks to, as plain literals: importing operators/api would load zod
// and every schema at each start (and each <TAB>). api.test.ts checks they equal operators/api's.
import type { KubeObject, ResourceRef } from "../operators/api/meta.ts";

export type { ResourceRef };

const v1alpha1 = (group: string, kind: string, plural: string, namespaced: boolean): ResourceRef => ({ group, version: "v1alpha1", kind, plural, namespaced });

export const InstanceRef = v1alpha1("compute.cellcloud.io", "Instance", "instances", true);
export const FlavorRef = v1alpha1("compute.cellcloud.io", "Flavor", "flavors", false);
export const TenantRef = v1alpha1("tenancy.cellcloud.io", "Tenant", "tenants", false);
export const QuotaRef = v1alpha1("tenancy.cellcloud.io", "Quota", "quotas", false);
export const AppliedQuotaRef = v1alpha1("tenancy.cellcloud.io", "AppliedQuota", "appliedquotas", true);
export const CellRef = v1alpha1("platform.cellcloud.io", "Cell", "cells", false);
export const NodePoolRef = v1alpha1("platform.cellcloud.io", "NodePool", "nodepools", false);
export const NodeRef: ResourceRef = { group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false };
export const NamespaceRef: ResourceRef = { group: "", version: "v1", kind: "Namespace", plural: "namespaces", namespaced: false };
export const ConfigMapRef: ResourceRef = { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true };

/** API groups whose namespaced kinds may be orders (anything a tenant in Approval mode creates). */
export const CELLCLOUD_GROUP_SUFFIX = ".cellcloud.io";

/** Set by the quota webhook on an order of a tenant in Approval mode (operators/api/tenancy.ts). */
export const APPROVAL_REQUIRED = "tenancy.cellcloud.io/approval-required";
/** Set to approve it; the webhook lets only holders of the `approve` verb on the kind do so. */
export const APPROVED_BY = "tenancy.cellcloud.io/approved-by";

/** Where the console publishes its URL for the plugin (and anyone else) to find. */
export const CONSOLE_CONFIGMAP = { namespace: "kube-public", name: "cellcloud-console", key: "url" } as const;
export const CONSOLE_URL_ENV = "CELLCLOUD_CONSOLE_URL";

/** The field manager of every write, so `kubectl get -o yaml --show-managed-fields` tells who did it. */
export const FIELD_MANAGER = "kubectl-cellcloud";

/** The power states an Instance's spec asks for. */
export const powerStates = ["Running", "Stopped", "Paused"] as const;
export type PowerState = (typeof powerStates)[number];

export interface Condition { type: string; status: string; reason?: string; message?: string }

/** An object as the apiserver sends it (types only: the shapes operators/api/meta.ts declares). */
export interface Obj extends KubeObject { spec?: Record<string, unknown>; status?: Record<string, unknown> }

export interface InstanceStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  powerState?: string;
  nodeName?: string;
  vcpus?: number;
  memory?: string;
  launcherPod?: string;
  lastBootTime?: string;
  migration?: { requestedAt: string; sourceNode?: string; targetNode?: string; state: string; message?: string; durationSeconds?: number };
}

export interface InstanceObj extends KubeObject { spec: { flavor?: string; resources?: { vcpus: number; memory: string }; powerState?: string }; status?: InstanceStatus }
