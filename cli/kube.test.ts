import { describe, expect, it } from "vitest";
import { kubeconfigPaths, mergeKubeconfigs, resourcePath } from "./kube.ts";
import { ConfigMapRef, InstanceRef, TenantRef } from "./api.ts";

describe("kubeconfig", () => {
  it("reads --kubeconfig, else every file of $KUBECONFIG, else ~/.kube/config", () => {
    expect(kubeconfigPaths("/a")).toEqual(["/a"]);
    expect(kubeconfigPaths(undefined, { KUBECONFIG: "/a::/b" })).toEqual(["/a", "/b"]);
    expect(kubeconfigPaths(undefined, {})[0]).toMatch(/\.kube\/config$/);
  });

  it("merges files as kubectl does: the first to name an entry or a current context wins", () => {
    const m = mergeKubeconfigs([
      { path: "/one/config", text: "contexts: [{name: a, context: {cluster: c1, user: u1, namespace: acme}}]\nclusters: [{name: c1, cluster: {server: 'https://one'}}]\n" },
      { path: "/two/config", text: "current-context: a\ncontexts: [{name: a, context: {cluster: c2}}, {name: b, context: {cluster: c2}}]\nclusters: [{name: c2, cluster: {server: 'https://two'}}]\n" },
    ]);
    expect(m.currentContext).toBe("a");
    expect(m.contexts.get("a")?.entry).toEqual({ cluster: "c1", user: "u1", namespace: "acme" });
    expect(m.contexts.get("b")?.dir).toBe("/two");
    expect([...m.clusters.keys()]).toEqual(["c1", "c2"]);
  });
});

describe("resourcePath", () => {
  it("builds core, group, namespaced and cluster-scoped paths", () => {
    expect(resourcePath(InstanceRef, "acme", "web-1")).toBe("/apis/compute.cellcloud.io/v1alpha1/namespaces/acme/instances/web-1");
    expect(resourcePath(InstanceRef)).toBe("/apis/compute.cellcloud.io/v1alpha1/instances");
    expect(resourcePath(TenantRef, "ignored", "acme")).toBe("/apis/tenancy.cellcloud.io/v1alpha1/tenants/acme");
    expect(resourcePath(ConfigMapRef, "kube-public", "cellcloud-console")).toBe("/api/v1/namespaces/kube-public/configmaps/cellcloud-console");
  });
});
