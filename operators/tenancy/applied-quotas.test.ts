import { describe, expect, it } from "vitest";
import type { AppliedQuotaObject, QuotaObject } from "../api/tenancy.ts";
import { appliedQuotaChanges, planAppliedQuotas, relationOf } from "./applied-quotas.ts";
import type { Tree } from "./ledger.ts";

const tree: Tree = new Map([["acme", undefined], ["rnd", "acme"], ["ml", "rnd"], ["ops", "acme"], ["other", undefined]]);

const quota = (name: string, spec: QuotaObject["spec"], status?: object, deleting = false): QuotaObject => ({
  metadata: { name, ...(deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}) }, spec, ...(status ? { status } : {}),
});
const quotas = [
  quota("acme", { tenant: "acme", hard: { cpu: 64, instances: 20 } }, { used: { cpu: "6", instances: "3" }, reserved: { cpu: "2", instances: "1" } }),
  quota("acme-az1-arm", { tenant: "acme", zone: "az1", architecture: "arm64", hard: { cpu: "16" } }, { used: { cpu: "0" } }),
  quota("rnd", { tenant: "rnd", hard: { cpu: 32, memory: "64Gi" } }, { used: { cpu: "4", memory: "8Gi" } }),
  quota("ml", { tenant: "ml", hard: { cpu: 8 } }),
  quota("ops", { tenant: "ops", hard: { cpu: 8 } }),
  quota("other", { tenant: "other", hard: { cpu: 100 } }),
  quota("orphan", { tenant: "gone", hard: { cpu: 1 } }),
  quota("leaving", { tenant: "rnd", zone: "az2", hard: { cpu: 1 } }, undefined, true),
];
const names = (tenant: string | undefined) => [...planAppliedQuotas(tenant, tree, quotas).keys()].sort();

describe("which AppliedQuotas a tenant namespace holds", () => {
  it("relates a quota's tenant to the namespace's: itself, an ancestor, a department at any depth, or none", () => {
    expect(relationOf(tree, "rnd", "rnd")).toBe("Self");
    expect(relationOf(tree, "ml", "acme")).toBe("Ancestor");
    expect(relationOf(tree, "acme", "ml")).toBe("Department");
    expect(relationOf(tree, "rnd", "ops")).toBeUndefined(); // a sibling's quota is none of its business
    expect(relationOf(tree, "acme", "other")).toBeUndefined();
  });

  it("gives a department its own and its ancestors' quotas, a root its whole tree's, and nobody another tree's", () => {
    expect(names("ml")).toEqual(["acme", "acme-az1-arm", "ml", "rnd"]);
    expect(names("rnd")).toEqual(["acme", "acme-az1-arm", "ml", "rnd"]);
    expect(names("ops")).toEqual(["acme", "acme-az1-arm", "ops"]);
    expect(names("acme")).toEqual(["acme", "acme-az1-arm", "ml", "ops", "rnd"]);
    expect(names("other")).toEqual(["other"]);
  });

  it("gives nothing to a namespace of no tenant, or of one not in the tree; a quota being deleted or of a missing tenant concerns nobody", () => {
    expect(names(undefined)).toEqual([]);
    expect(names("gone")).toEqual([]);
    expect([...planAppliedQuotas("rnd", tree, quotas).keys()]).not.toContain("leaving");
  });

  it("copies scope, limits, usage and the quota tenant's chain, leaving out what the quota leaves out (usage not yet counted is empty, as the schema requires both maps)", () => {
    const plan = planAppliedQuotas("ml", tree, quotas);
    expect(plan.get("acme-az1-arm")).toEqual({
      spec: { quota: "acme-az1-arm", tenant: "acme", path: "acme", relation: "Ancestor", namespaceTenant: "ml", zone: "az1", architecture: "arm64", hard: { cpu: "16" } },
      status: { used: { cpu: "0" }, reserved: {} },
    });
    expect(plan.get("rnd")).toEqual({
      spec: { quota: "rnd", tenant: "rnd", path: "acme/rnd", relation: "Ancestor", namespaceTenant: "ml", hard: { cpu: 32, memory: "64Gi" } },
      status: { used: { cpu: "4", memory: "8Gi" }, reserved: {} },
    });
    expect(plan.get("ml")).toEqual({ spec: { quota: "ml", tenant: "ml", path: "acme/rnd/ml", relation: "Self", namespaceTenant: "ml", hard: { cpu: 8 } }, status: { used: {}, reserved: {} } });
    expect(planAppliedQuotas("acme", tree, quotas).get("ml")?.spec).toMatchObject({ relation: "Department", path: "acme/rnd/ml", namespaceTenant: "acme" });
  });

  it("keeps a deep chain to the quota tenant's nearest 32 tenants (bounded size)", () => {
    const deep = new Map<string, string | undefined>([["t0", undefined]]);
    for (let i = 1; i < 40; i++) deep.set(`t${i}`, `t${i - 1}`);
    const plan = planAppliedQuotas("t39", deep, [quota("q", { tenant: "t39", hard: { cpu: 1 } })]);
    const path = plan.get("q")!.spec.path.split("/");
    expect(path).toHaveLength(32);
    expect(path[0]).toBe("t8");
    expect(path.at(-1)).toBe("t39");
  });
});

describe("what changes to make", () => {
  const desired = planAppliedQuotas("ml", tree, quotas);
  const stored = (name: string, spec: object): AppliedQuotaObject => ({ metadata: { name, namespace: "ml-ns", uid: `u-${name}` }, spec: spec as AppliedQuotaObject["spec"] });
  // as the apiserver returns them: key order differs, nothing undefined
  const asStored = (name: string) => stored(name, JSON.parse(JSON.stringify({ ...desired.get(name)!.spec, hard: { ...desired.get(name)!.spec.hard } })));

  it("writes nothing when every spec is as desired (key order aside); statuses are the caller's to compare", () => {
    const existing = [...desired.keys()].map(asStored);
    expect(appliedQuotaChanges("ml-ns", desired, existing)).toEqual({ apply: [], remove: [] });
  });

  it("applies the missing and the changed whole, and removes those no quota asks for", () => {
    const changed = stored("rnd", { ...desired.get("rnd")!.spec, hard: { cpu: 16 } });
    const { apply, remove } = appliedQuotaChanges("ml-ns", desired, [asStored("acme"), asStored("acme-az1-arm"), changed, stored("ops", {})]);
    expect(apply.map((o) => o.metadata.name)).toEqual(["rnd", "ml"]);
    expect(apply[0]).toEqual({ apiVersion: "tenancy.cellcloud.io/v1alpha1", kind: "AppliedQuota", metadata: { name: "rnd", namespace: "ml-ns" }, spec: desired.get("rnd")!.spec });
    expect(remove.map((o) => o.metadata.name)).toEqual(["ops"]);
  });

  it("removes every AppliedQuota of a namespace that left its tenant", () => {
    const existing = [...desired.keys()].map(asStored);
    expect(appliedQuotaChanges("ml-ns", planAppliedQuotas(undefined, tree, quotas), existing).remove).toHaveLength(existing.length);
  });
});
