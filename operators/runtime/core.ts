// References to the core (v1) kinds several controllers use.
import type { ResourceRef } from "./types.ts";

export const PodRef: ResourceRef = { group: "", version: "v1", kind: "Pod", plural: "pods", namespaced: true };
export const NodeRef: ResourceRef = { group: "", version: "v1", kind: "Node", plural: "nodes", namespaced: false };
