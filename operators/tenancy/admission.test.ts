import { describe, expect, it } from "vitest";
import type { KubeClient } from "../runtime/kube.ts";
import { Admission, QUOTA_FINALIZER, type AdmissionRequest } from "./admission.ts";
import type { LedgerStore } from "./ledger-store.ts";
import type { TenancyView } from "./view.ts";

// The decisions that need no cluster: refusing before the caches synced, and the mutating patch.
const view = (synced: boolean, orderMode = "Direct") => ({
  synced: () => synced,
  tenantOf: (ns?: string) => (ns === "t-ns" ? "t" : undefined),
  tree: () => new Map([["t", undefined]]),
  tenants: { get: () => ({ spec: { orderMode } }) },
  lookup: () => ({ tree: new Map(), flavor: () => undefined, image: () => undefined, volume: () => undefined, customSizes: () => true }),
}) as unknown as TenancyView;
const nothing = {} as LedgerStore & KubeClient;
const req = (over: Partial<AdmissionRequest>): AdmissionRequest => ({
  uid: "u1", resource: { group: "compute.cellcloud.io", version: "v1alpha1", resource: "instances" }, operation: "CREATE", namespace: "t-ns", userInfo: { username: "bob" },
  object: { apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", metadata: { name: "vm", namespace: "t-ns", uid: "x" }, spec: {} }, ...over,
});
const patchOf = (r: { patch?: string }) => JSON.parse(Buffer.from(r.patch ?? "", "base64").toString()) as unknown;

describe("admission", () => {
  it("refuses rather than guesses until its caches have synced", async () => {
    const a = new Admission(view(false), nothing, nothing);
    const tenantReq = req({ resource: { group: "tenancy.cellcloud.io", version: "v1alpha1", resource: "tenants" }, namespace: undefined });
    for (const r of [await a.validate(req({})), await a.validate(tenantReq), a.mutate(req({}))]) {
      expect(r).toMatchObject({ allowed: false, status: { code: 503, message: expect.stringContaining("not synced its caches yet") } });
    }
  });

  it("lets through what is not in a tenant namespace, and subresources", async () => {
    const a = new Admission(view(true), nothing, nothing);
    expect(await a.validate(req({ namespace: "elsewhere" }))).toEqual({ uid: "u1", allowed: true });
    expect(a.mutate(req({ namespace: "elsewhere" }))).toEqual({ uid: "u1", allowed: true });
    expect(await a.validate(req({ subResource: "status" }))).toEqual({ uid: "u1", allowed: true });
  });

  it("adds the quota and product finalizers at create, and the approval requirement in Approval mode", () => {
    expect(patchOf(new Admission(view(true), nothing, nothing).mutate(req({})))).toEqual([
      { op: "add", path: "/metadata/finalizers", value: [QUOTA_FINALIZER, "compute.cellcloud.io/launcher"] },
    ]);
    const withOne = req({ object: { metadata: { name: "vm", finalizers: ["x"], annotations: { a: "b" } }, spec: {} } });
    expect(patchOf(new Admission(view(true, "Approval"), nothing, nothing).mutate(withOne))).toEqual([
      { op: "add", path: "/metadata/finalizers/-", value: QUOTA_FINALIZER },
      { op: "add", path: "/metadata/finalizers/-", value: "compute.cellcloud.io/launcher" },
      { op: "add", path: "/metadata/annotations/tenancy.cellcloud.io~1approval-required", value: "true" },
    ]);
  });
});
