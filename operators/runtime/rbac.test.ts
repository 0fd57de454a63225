import { describe, expect, it } from "vitest";
import { requestAttributes } from "./rbac.ts";

describe("requestAttributes", () => {
  it.each([
    ["GET", "/api/v1/pods", {}, { group: "", resource: "pods", verb: "list" }],
    ["GET", "/api/v1/pods", { watch: true }, { group: "", resource: "pods", verb: "watch" }],
    ["GET", "/api/v1/namespaces/ns/pods/p", {}, { group: "", resource: "pods", verb: "get" }],
    ["POST", "/api/v1/namespaces/ns/pods/p/binding", {}, { group: "", resource: "pods/binding", verb: "create" }],
    ["PATCH", "/api/v1/namespaces/ns/pods/p/status", {}, { group: "", resource: "pods/status", verb: "patch" }],
    ["DELETE", "/api/v1/namespaces/ns/pods", {}, { group: "", resource: "pods", verb: "deletecollection" }],
    ["GET", "/api/v1/namespaces/ns", {}, { group: "", resource: "namespaces", verb: "get" }],
    ["PATCH", "/api/v1/nodes/n1/status", {}, { group: "", resource: "nodes/status", verb: "patch" }],
    ["PUT", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l", {}, { group: "coordination.k8s.io", resource: "leases", verb: "update" }],
    ["GET", "/apis/platform.cellcloud.io/v1alpha1/cells", { watch: "true" }, { group: "platform.cellcloud.io", resource: "cells", verb: "watch" }],
  ] as const)("%s %s %j", (method, path, query, want) => {
    expect(requestAttributes(method, path, query)).toEqual(want);
  });

  it("ignores non-resource paths", () => {
    expect(requestAttributes("GET", "/version")).toBeUndefined();
    expect(requestAttributes("GET", "/apis/apps/v1")).toBeUndefined();
  });
});
