import { describe, expect, it } from "vitest";
import { decodeCharge, decodeLedger, encodeCharge, encodeLedger, imageVisible, ledgerPatch, quotaLimit, sameCharge, zoneRequired } from "./charges.ts";
import { commit, emptyLedger, quotaUsage, type Ledger, type Tree } from "./ledger.ts";

const GiB = 1024 ** 3;
const tree: Tree = new Map([["acme", undefined], ["rnd", "acme"], ["ml", "rnd"], ["other", undefined]]);
describe("image visibility and zones", () => {
  it("shows a private image to its owner's departments, a shared one to the tenants it names and theirs", () => {
    const mine = { public: false, owner: "rnd" };
    const shared = { public: false, owner: "other", sharedWith: ["rnd"] };
    expect(imageVisible(mine, "ml", tree)).toBe(true);
    expect(imageVisible(mine, "acme", tree)).toBe(false); // a parent does not see a department's private image
    expect(imageVisible(mine, "other", tree)).toBe(false);
    expect(imageVisible(shared, "ml", tree)).toBe(true);
    expect(imageVisible(shared, "acme", tree)).toBe(false);
    expect(imageVisible({ public: true }, "other", tree)).toBe(true);
    expect(imageVisible({ public: false }, "acme", tree)).toBe(false); // outside any tenant and not public: nobody's
  });

  it("needs a zone when a per-zone quota of the tenant or an ancestor applies", () => {
    const quotas = [quotaLimit("acme-az1", { tenant: "acme", zone: "az1", hard: { cpu: 8 } })];
    expect(zoneRequired({ tenant: "ml", zone: "", amounts: {} }, quotas, tree)).toBe('spec.zone is required: quota "acme-az1" of tenant "acme" limits zone az1');
    expect(zoneRequired({ tenant: "other", zone: "", amounts: {} }, quotas, tree)).toBeUndefined();
    expect(zoneRequired({ tenant: "ml", zone: "az2", amounts: {} }, quotas, tree)).toBeUndefined();
  });
});

describe("the ledger as stored", () => {
  it("round-trips charges and the ledger through their compact stored form", () => {
    const c = { tenant: "ml", zone: "az1", arch: "amd64", amounts: { cpu: 2000, memory: 4 * GiB, storage: 1536 * 1024 ** 2, instances: 1 } };
    expect(encodeCharge(c)).toBe("ml az1 amd64 cpu=2000,memory=4Gi,storage=1536Mi,instances=1");
    expect(decodeCharge(encodeCharge(c))).toEqual(c);
    const v = { tenant: "ml", zone: "", amounts: { volumes: 1 } };
    expect(encodeCharge(v)).toBe("ml - - volumes=1");
    expect(decodeCharge(encodeCharge(v))).toEqual(v);
    expect(decodeCharge("garbage")).toBeUndefined();
    // Decoded once per distinct text and shared, so frozen: no caller can change another's charge.
    const once = decodeCharge(encodeCharge(c))!;
    expect(decodeCharge(encodeCharge(c))).toBe(once);
    expect(Object.isFrozen(once) && Object.isFrozen(once.amounts)).toBe(true);
    const long = `${"t".repeat(300)} - - cpu=1000`;
    expect(decodeCharge(long)).toEqual({ tenant: "t".repeat(300), zone: "", amounts: { cpu: 1000 } });
    expect(decodeCharge(long)).not.toBe(decodeCharge(long)); // too long to keep
    const ledger: Ledger = { usage: { "ml az1 amd64": { cpu: 2000 } }, pending: { u1: { to: c, expiresAt: 5 }, u2: { from: v, to: v, expiresAt: 6 } }, released: { u3: 9 } };
    const stored = encodeLedger(ledger);
    expect(stored).toEqual({
      usage: { "ml az1 amd64": "cpu=2000" },
      pending: { u1: "5 ml az1 amd64 cpu=2000,memory=4Gi,storage=1536Mi,instances=1", u2: "6 ml - - volumes=1 ml - - volumes=1" },
      released: { u3: "9" },
    });
    expect(decodeLedger(stored)).toEqual(ledger);
    expect(decodeLedger({ pending: { bad: "nonsense" } })).toEqual(emptyLedger());
  });

  it("writes only what changed: new and changed keys, and null for removed ones", () => {
    const c = { tenant: "ml", zone: "az1", amounts: { cpu: 2000 } };
    const before: Ledger = { usage: { "ml az1 -": { cpu: 2000 } }, pending: { u1: { to: c, expiresAt: 5 } }, released: {} };
    expect(ledgerPatch(before, before)).toBeUndefined();
    expect(ledgerPatch(before, commit(before, "u1"))).toEqual({ usage: { "ml az1 -": "cpu=4000" }, pending: { u1: null } });
  });

  it("parses a Quota's limits and reports its used and reserved amounts within its scope", () => {
    const q = quotaLimit("rnd-arm", { tenant: "rnd", architecture: "arm64", hard: { cpu: "500m", memory: "1Gi", instances: 3 } });
    expect(q.hard).toEqual({ cpu: 500, memory: GiB, instances: 3 });
    const ledger: Ledger = decodeLedger({
      usage: { "ml az1 arm64": "cpu=2000,instances=1", "ml az1 amd64": "cpu=8000", "other az1 arm64": "cpu=64000" },
      pending: { b: "9999999999999 rnd az2 arm64 cpu=1000,instances=1" },
    });
    expect(quotaUsage(ledger, tree, q, 0)).toEqual({ used: { cpu: 2000, instances: 1 }, reserved: { cpu: 1000, instances: 1 } });
    const a = decodeCharge("ml az1 arm64 cpu=2000,instances=1")!;
    expect(sameCharge(a, { ...a, amounts: { instances: 1, cpu: 2000 } })).toBe(true);
    expect(sameCharge(a, { ...a, arch: "amd64" })).toBe(false);
  });
});

describe("ledgerPatch's usage (a recount's correction)", () => {
  it("names usage only when the committed usage differs, whatever order its cells were added in", () => {
    const x: Ledger = { ...emptyLedger(), usage: { "a - -": { cpu: 1000 }, "b az1 arm64": { cpu: 2000, instances: 1 } } };
    const y: Ledger = { usage: { "b az1 arm64": { instances: 1, cpu: 2000 }, "a - -": { cpu: 1000 } }, pending: { u: { to: decodeCharge("a - - cpu=1")!, expiresAt: 1 } }, released: { v: 2 } };
    expect(ledgerPatch(x, y)?.usage).toBeUndefined();
    expect(ledgerPatch(x, { ...x, usage: { "a - -": { cpu: 1000 } } })?.usage).toBeDefined();
    expect(ledgerPatch(x, { ...x, usage: { ...x.usage, "a - -": { cpu: 1001 } } })?.usage).toBeDefined();
  });
});
