// `kubectl cellcloud quota` for a tenant's user: the tree drawn from the namespace's AppliedQuotas.
import { describe, expect, it } from "vitest";
import { fromApplied } from "./commands.ts";
import { quotaTree } from "./render.ts";

const aq = (quota: string, tenant: string, path: string, used: Record<string, string>, hard: Record<string, number | string>) =>
  ({ metadata: { name: quota }, spec: { quota, tenant, path, hard }, status: { used, reserved: {} } });

describe("quota from AppliedQuotas", () => {
  it("rebuilds the chain from each quota's path and draws the tree", () => {
    const { tenants, quotas } = fromApplied([
      aq("acme", "acme", "acme", { instances: "3" }, { instances: 10 }),
      aq("ml", "ml", "acme/research/ml", { instances: "1" }, { instances: 2 }),
    ]);
    expect(tenants.sort((a, b) => a.name.localeCompare(b.name))).toEqual([{ name: "acme" }, { name: "ml", parent: "research" }, { name: "research", parent: "acme" }]);
    const out = quotaTree(tenants, quotas)!;
    expect(out).toMatch(/^acme\s+acme\s+\*\s+\*\s+instances\s+3\s+0\s+10\s+30%$/m);
    expect(out).toMatch(/└─ research\s+-/);
    expect(out).toMatch(/└─ ml\s+ml\s+\*\s+\*\s+instances\s+1\s+0\s+2\s+50%$/m);
  });
});
