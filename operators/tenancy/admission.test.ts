import jsonpatch from "fast-json-patch";
import { describe, expect, it } from "vitest";
import type { AdmissionRequest } from "../runtime/admission.ts";
import type { KubeClient } from "../runtime/kube.ts";
import type { KubeObject } from "../runtime/types.ts";
import { Admission, QUOTA_FINALIZER } from "./admission.ts";
import type { LedgerStore } from "./ledger-store.ts";
import type { TenancyView } from "./view.ts";

// The decisions that need no cluster: refusing before the caches synced, and the mutating patch.
const view = (synced: boolean, orderMode = "Direct") => ({
  synced: () => synced,
  tenantOf: (ns?: string) => (ns === "t-ns" ? "t" : undefined),
  tree: () => new Map([["t", undefined]]),
  tenants: { get: () => ({ spec: { orderMode } }) },
  namespaces: { get: () => undefined },
  chargedKind: (group: string, plural: string) => (group === "compute.cellcloud.io" && plural === "instances"
    ? { ref: { group, plural }, finalizer: "compute.cellcloud.io/launcher", price: () => ({ denied: "unpriced in this test" }) } : undefined),
  pricing: () => ({ tenant: "t", namespace: "t-ns", customSizes: true, visible: () => true, priorities: ["Low", "Normal"] }),
}) as unknown as TenancyView;
const nothing = {} as LedgerStore & KubeClient;
const req = (over: Partial<AdmissionRequest>): AdmissionRequest => ({
  uid: "u1", resource: { group: "compute.cellcloud.io", version: "v1alpha1", resource: "instances" }, operation: "CREATE", namespace: "t-ns", userInfo: { username: "bob" },
  object: { apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", metadata: { name: "vm", namespace: "t-ns", uid: "x" }, spec: {} }, ...over,
});
/** The object the apiserver stores after applying the response's JSON Patch. */
const mutated = (obj: KubeObject | undefined, r: { patch?: string }) =>
  jsonpatch.applyPatch(structuredClone(obj), JSON.parse(Buffer.from(r.patch ?? "W10=", "base64").toString())).newDocument as KubeObject;

describe("admission", () => {
  it("refuses rather than guesses until its caches have synced", async () => {
    const a = new Admission(view(false), nothing, nothing);
    const tenantReq = req({ resource: { group: "tenancy.cellcloud.io", version: "v1alpha1", resource: "tenants" }, namespace: undefined });
    for (const r of [await a.validate(req({})), await a.validate(tenantReq), a.mutate(req({}))]) {
      expect(r).toMatchObject({ allowed: false, status: { code: 503, message: expect.stringContaining("not synced its caches yet") } });
    }
  });

  it("never lets a create through uncharged: a namespace it does not know is refused for a retry; subresources pass", async () => {
    const a = new Admission(view(true), nothing, nothing);
    expect(await a.validate(req({ namespace: "elsewhere" }))).toMatchObject({ allowed: false, status: { code: 503, message: expect.stringContaining("retry") } });
    expect(a.mutate(req({ namespace: "elsewhere" }))).toEqual({ uid: "u1", allowed: true });
    expect(await a.validate(req({ subResource: "status" }))).toEqual({ uid: "u1", allowed: true });
  });

  it("adds the quota and product finalizers at create, and the approval requirement in Approval mode", () => {
    const plain = req({});
    const r = new Admission(view(true), nothing, nothing).mutate(plain);
    expect(r).toMatchObject({ allowed: true, patchType: "JSONPatch" });
    expect(mutated(plain.object, r).metadata).toEqual({ name: "vm", namespace: "t-ns", uid: "x", finalizers: [QUOTA_FINALIZER, "compute.cellcloud.io/launcher"] });
    const withOne = req({ object: { metadata: { name: "vm", finalizers: ["x"], annotations: { a: "b" } }, spec: {} } });
    const approval = new Admission(view(true, "Approval"), nothing, nothing).mutate(withOne);
    expect(mutated(withOne.object, approval).metadata).toEqual({
      name: "vm", finalizers: ["x", QUOTA_FINALIZER, "compute.cellcloud.io/launcher"], annotations: { a: "b", "tenancy.cellcloud.io/approval-required": "true" },
    });
    // Nothing to add: no patch at all.
    const done = req({ object: { metadata: { name: "vm", finalizers: [QUOTA_FINALIZER, "compute.cellcloud.io/launcher"] }, spec: {} } });
    expect(new Admission(view(true), nothing, nothing).mutate(done)).toEqual({ uid: "u1", allowed: true });
  });
});
