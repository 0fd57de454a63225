// References to the Kubernetes kinds CellCloud reads and writes, in one place, and the plain-JSON
// shapes of the two every layer handles (Pods and Nodes).
import type * as k8s from "@kubernetes/client-node";
import type { KubeObject, ResourceRef } from "./types.ts";

const core = (kind: string, plural: string, namespaced: boolean): ResourceRef => ({ group: "", version: "v1", kind, plural, namespaced });

export const PodRef = core("Pod", "pods", true);
export const NodeRef = core("Node", "nodes", false);
export const NamespaceRef = core("Namespace", "namespaces", false);
export const SecretRef = core("Secret", "secrets", true);
export const ConfigMapRef = core("ConfigMap", "configmaps", true);
export const ServiceRef = core("Service", "services", true);
export const DeploymentRef: ResourceRef = { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", namespaced: true };
export const EndpointSliceRef: ResourceRef = { group: "discovery.k8s.io", version: "v1", kind: "EndpointSlice", plural: "endpointslices", namespaced: true };
export const PersistentVolumeRef = core("PersistentVolume", "persistentvolumes", false);
export const ClaimRef = core("PersistentVolumeClaim", "persistentvolumeclaims", true);
export const ResourceQuotaRef = core("ResourceQuota", "resourcequotas", true);
export const StorageClassRef: ResourceRef = { group: "storage.k8s.io", version: "v1", kind: "StorageClass", plural: "storageclasses", namespaced: false };
export const PriorityClassRef: ResourceRef = { group: "scheduling.k8s.io", version: "v1", kind: "PriorityClass", plural: "priorityclasses", namespaced: false };
export const ClusterRoleRef: ResourceRef = { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", plural: "clusterroles", namespaced: false };
export const RoleBindingRef: ResourceRef = { group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings", namespaced: true };
export const LeaseRef: ResourceRef = { group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true };
export const NetworkPolicyRef: ResourceRef = { group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies", namespaced: true };
export const EventRef: ResourceRef = { group: "events.k8s.io", version: "v1", kind: "Event", plural: "events", namespaced: true };
export const ValidatingRef: ResourceRef = { group: "admissionregistration.k8s.io", version: "v1", kind: "ValidatingWebhookConfiguration", plural: "validatingwebhookconfigurations", namespaced: false };
export const MutatingRef: ResourceRef = { group: "admissionregistration.k8s.io", version: "v1", kind: "MutatingWebhookConfiguration", plural: "mutatingwebhookconfigurations", namespaced: false };

export type Pod = k8s.V1Pod & KubeObject;
export type Node = k8s.V1Node & KubeObject;
export type Service = k8s.V1Service & KubeObject;
export type Deployment = k8s.V1Deployment & KubeObject;
export type EndpointSlice = k8s.V1EndpointSlice & KubeObject;
export type ConfigMap = k8s.V1ConfigMap & KubeObject;

export const isPodFinished = (p: Pod): boolean => p.status?.phase === "Succeeded" || p.status?.phase === "Failed";
/** Running, with its Ready condition True. */
export const isPodReady = (p: Pod): boolean => p.status?.phase === "Running" && (p.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
