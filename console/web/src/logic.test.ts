// The web app's pure parts: routes, watch streams, quantities and chart rows.
import { describe, expect, it } from "vitest";
import { allows, collectionPath, objectPath, tableItems } from "./api.ts";
import { formatQuantity, parseQuantity, usagePercent } from "./quantity.ts";
import { href, parseRoute } from "./route.ts";
import { capacityRows } from "./views/Operator.tsx";
import { waiting } from "./views/Approvals.tsx";
import { quotaCard } from "./views/Quota.tsx";

describe("console web logic", () => {
  it("routes round-trip, and kubectl cellcloud's console-url form opens an instance", () => {
    expect(parseRoute("#/ns/acme-prod/instances/web-1")).toEqual({ area: "ns", namespace: "acme-prod", view: "instances", name: "web-1" });
    expect(parseRoute("#/ns/acme-prod")).toEqual({ area: "ns", namespace: "acme-prod", view: "instances", name: undefined });
    expect(parseRoute("#/operator/hosts")).toEqual({ area: "operator", view: "hosts" });
    expect(parseRoute("")).toEqual({ area: "home" });
    for (const r of [parseRoute("#/ns/a/volumes/v"), parseRoute("#/operator/capacity")]) expect(parseRoute(href(r))).toEqual(r);
  });

  it("builds API paths", () => {
    const r = { group: "compute.cellcloud.io", version: "v1alpha1", plural: "instances", namespaced: true };
    expect(collectionPath(r, "ns")).toBe("/apis/compute.cellcloud.io/v1alpha1/namespaces/ns/instances");
    expect(collectionPath(r)).toBe("/apis/compute.cellcloud.io/v1alpha1/instances");
    expect(objectPath({ group: "", version: "v1", plural: "nodes", namespaced: false }, "n 1")).toBe("/api/v1/nodes/n%201");
  });

  it("reads RBAC rules as the apiserver gives them: wildcards count, rules for named objects do not list", () => {
    const rules = [
      { verbs: ["get", "list", "watch"], apiGroups: ["compute.cellcloud.io"], resources: ["instances", "keypairs"] },
      { verbs: ["*"], apiGroups: ["*"], resources: ["volumes"] },
      { verbs: ["get"], apiGroups: [""], resources: ["configmaps"], resourceNames: ["x"] },
    ];
    expect(allows(rules, "list", "compute.cellcloud.io", "instances")).toBe(true);
    expect(allows(rules, "create", "compute.cellcloud.io", "instances")).toBe(false);
    expect(allows(rules, "list", "storage.cellcloud.io", "volumes")).toBe(true);
    expect(allows(rules, "list", "billing.cellcloud.io", "bills")).toBe(false);
    expect(allows(rules, "get", "", "configmaps")).toBe(false);
  });

  it("reads table rows as metadata plus cells", () => {
    const items = tableItems({ kind: "Table", rows: [{ cells: ["v1", "10Gi"], object: { metadata: { name: "v1", annotations: { a: "b" } } } }] });
    expect(items).toEqual([{ metadata: { name: "v1", annotations: { a: "b" } }, cells: ["v1", "10Gi"] }]);
  });

  it("parses and formats quantities, and caps usage bars", () => {
    expect(parseQuantity("500m")).toBe(0.5);
    expect(parseQuantity("16Gi")).toBe(16 * 2 ** 30);
    expect(parseQuantity("2k")).toBe(2000);
    expect(parseQuantity("1.5")).toBe(1.5);
    expect(parseQuantity("junk")).toBeUndefined();
    expect(formatQuantity("memory", 16 * 2 ** 30)).toBe("16 GiB");
    expect(formatQuantity("storage", 2 * 2 ** 40)).toBe("2 TiB");
    expect(formatQuantity("cpu", 0.5)).toBe("0.5");
    expect(usagePercent(5, 2, 10)).toEqual({ used: 50, reserved: 20 });
    expect(usagePercent(12, 2, 10)).toEqual({ used: 100, reserved: 0 });
    expect(usagePercent(1, 1, 0)).toEqual({ used: 0, reserved: 0 });
  });

  it("charts a cell's architectures, leaving out one without nodes", () => {
    const cell = { metadata: { name: "c" }, status: { architectures: { amd64: { capacity: { cpu: "64", memory: "256Gi" }, allocatable: { cpu: "128", memory: "256Gi" }, allocated: { cpu: "3500m", memory: "8Gi" } } } } };
    expect(capacityRows(cell, "cpu")).toEqual([{ arch: "amd64", capacity: 64, allocatable: 128, allocated: 3.5 }]);
    expect(capacityRows(cell, "memory")).toEqual([{ arch: "amd64", capacity: 256, allocatable: 256, allocated: 8 }]);
  });

  it("knows what waits for approval", () => {
    const o = (a: Record<string, string>) => ({ metadata: { name: "x", annotations: a } });
    expect(waiting(o({ "tenancy.cellcloud.io/approval-required": "true" }))).toBe(true);
    expect(waiting(o({ "tenancy.cellcloud.io/approval-required": "true", "tenancy.cellcloud.io/approved-by": "alice" }))).toBe(false);
    expect(waiting(o({}))).toBe(false);
  });

  it("reads a quota card from a Quota", () => {
    const q = quotaCard({ metadata: { name: "acme" }, spec: { tenant: "acme", hard: { cpu: "8" } }, status: { used: { cpu: "2" } } });
    expect(q).toMatchObject({ name: "acme", tenant: "acme", path: [], hard: { cpu: "8" }, used: { cpu: "2" }, reserved: {} });
    const aq = quotaCard({ metadata: { name: "ml", namespace: "n" }, spec: { quota: "ml", tenant: "ml", path: "acme/research/ml", relation: "Department", hard: {} } });
    expect(aq).toMatchObject({ name: "ml", tenant: "ml", path: ["acme", "research"], relation: "Department" });
  });
});
