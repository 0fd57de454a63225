// The plugin spells the API's coordinates itself (to start fast); they must stay operators/api's.
import { describe, expect, it } from "vitest";
import { FlavorRef as Flavor, InstanceRef as Instance } from "../operators/api/compute.ts";
import { CellRef as Cell, NodePoolRef as NodePool } from "../operators/api/platform.ts";
import { APPROVAL_REQUIRED, APPROVED_BY, dimensions as tenancyDimensions, QuotaRef as Quota, TenantRef as Tenant, AppliedQuotaRef as AppliedQuota } from "../operators/api/tenancy.ts";
import * as api from "./api.ts";
import { dimensions } from "./render.ts";

describe("cli/api.ts", () => {
  it("names the same kinds, annotations and quota dimensions as operators/api", () => {
    expect([api.InstanceRef, api.FlavorRef, api.TenantRef, api.QuotaRef, api.CellRef, api.NodePoolRef, api.AppliedQuotaRef]).toEqual([Instance, Flavor, Tenant, Quota, Cell, NodePool, AppliedQuota]);
    expect([api.APPROVAL_REQUIRED, api.APPROVED_BY]).toEqual([APPROVAL_REQUIRED, APPROVED_BY]);
    expect(dimensions).toEqual(tenancyDimensions);
  });
});
