import { describe, expect, it } from "vitest";
import { encodeLedger } from "./charges.ts";
import { admit, checkQuota, commit, emptyLedger, expire, MAX_TOMBSTONES, recount, release, used, RESERVATION_TTL_MS, TOMBSTONE_TTL_MS, type Charge, type Ledger, type QuotaLimit } from "./ledger.ts";

// tenant → dept → sub, plus a second department.
const tree = new Map<string, string | undefined>([["acme", undefined], ["dept-a", "acme"], ["team-1", "dept-a"], ["dept-b", "acme"]]);
const quotas: QuotaLimit[] = [
  { name: "acme", tenant: "acme", hard: { cpu: 64_000, instances: 100 } },
  { name: "acme-az1", tenant: "acme", zone: "az1", hard: { cpu: 40_000 } },
  { name: "dept-a", tenant: "dept-a", hard: { cpu: 32_000 } },
  { name: "dept-a-arm", tenant: "dept-a", arch: "arm64", hard: { instances: 2 } },
  { name: "team-1", tenant: "team-1", hard: { cpu: 16_000, memory: 64 * 2 ** 30 } },
];
const vm = (tenant: string, cpu: number, zone = "az2", arch = "amd64"): Charge => ({ tenant, zone, arch, amounts: { cpu: cpu * 1000, memory: cpu * 4 * 2 ** 30, instances: 1 } });
const now = 1_000_000;

function admitAll(ledger: Ledger, charges: Array<[string, Charge]>): { ledger: Ledger; denied: string[] } {
  const denied: string[] = [];
  for (const [uid, c] of charges) {
    const r = admit(ledger, tree, quotas, uid, { to: c }, now);
    if (r.allowed) ledger = r.ledger;
    else denied.push(r.message);
  }
  return { ledger, denied };
}

describe("quota ledger", () => {
  it("admits exactly as many as fit, never more (200 creates of 2 vCPU against 64)", () => {
    const flat = new Map<string, string | undefined>([["solo", undefined]]);
    let ledger: Ledger = emptyLedger();
    let admitted = 0;
    for (let i = 0; i < 200; i++) {
      const r = admit(ledger, flat, [{ name: "solo", tenant: "solo", hard: { cpu: 64_000 } }], `u${i}`, { to: vm("solo", 2) }, now);
      if (r.allowed) { ledger = r.ledger; admitted++; }
    }
    expect(admitted).toBe(32);
    expect(used(ledger, flat, { tenant: "solo" }, "cpu", now)).toBe(64_000);
    for (let i = 0; i < 32; i++) ledger = commit(ledger, `u${i}`);
    expect(ledger.usage).toEqual({ "solo az2 amd64": { cpu: 64_000, memory: 256 * 2 ** 30, instances: 32 } }); // one cell, however many objects
    for (let i = 0; i < 200; i++) ledger = release(ledger, `u${i}`, vm("solo", 2), now);
    expect(used(ledger, flat, { tenant: "solo" }, "cpu", now)).toBe(0);
    expect(ledger.usage).toEqual({});
  });

  it("counts a sub-department's use against every ancestor, and names the level that is full", () => {
    const { ledger, denied } = admitAll(emptyLedger(), [["a", vm("team-1", 8)], ["b", vm("team-1", 8)], ["c", vm("team-1", 2)]]);
    expect(denied).toEqual(['quota "team-1" exceeded for cpu: requested 2, used 16, limit 16']);
    expect(used(ledger, tree, { tenant: "acme" }, "cpu", now)).toBe(16_000);
    expect(used(ledger, tree, { tenant: "dept-a" }, "cpu", now)).toBe(16_000);
    const more = admitAll(ledger, [["d", vm("dept-a", 16)], ["e", vm("dept-a", 1)]]);
    expect(more.denied).toEqual(['quota "dept-a" exceeded for cpu: requested 1, used 32, limit 32']);
    const top = admitAll(more.ledger, [["f", vm("dept-b", 32)], ["g", vm("dept-b", 1)]]);
    expect(top.denied).toEqual(['quota "acme" exceeded for cpu: requested 1, used 64, limit 64']);
  });

  it("enforces limits per zone and per architecture", () => {
    const zoned = admitAll(emptyLedger(), [["a", vm("dept-b", 30, "az1")], ["b", vm("dept-b", 10, "az1")], ["c", vm("dept-b", 8, "az1")], ["d", vm("dept-b", 8, "az2")]]);
    expect(zoned.denied).toEqual(['quota "acme-az1" exceeded for cpu in zone az1: requested 8, used 40, limit 40']);
    const arm = admitAll(emptyLedger(), [["a", vm("dept-a", 1, "az2", "arm64")], ["b", vm("team-1", 1, "az2", "arm64")], ["c", vm("team-1", 1, "az2", "arm64")], ["d", vm("team-1", 1, "az2", "amd64")]]);
    expect(arm.denied).toEqual(['quota "dept-a-arm" exceeded for instances on arm64: requested 1, used 2, limit 2']);
  });

  it("charges an update the difference; a shrink always passes", () => {
    let { ledger } = admitAll(emptyLedger(), [["a", vm("team-1", 8)], ["b", vm("team-1", 4)]]);
    ledger = commit(commit(ledger, "a"), "b");
    const grow = admit(ledger, tree, quotas, "a", { from: vm("team-1", 8), to: vm("team-1", 12) }, now);
    expect(grow.allowed).toBe(true);
    const tooMuch = admit(ledger, tree, quotas, "a", { from: vm("team-1", 8), to: vm("team-1", 14) }, now);
    expect(tooMuch).toEqual({ allowed: false, message: 'quota "team-1" exceeded for cpu: requested 6, used 12, limit 16' });
    // a second update before the first is committed keeps the committed `from`
    ledger = (grow as { ledger: Ledger }).ledger;
    expect(admit(ledger, tree, quotas, "a", { from: vm("team-1", 12), to: vm("team-1", 14) }, now)).toMatchObject({ allowed: false, message: expect.stringContaining("requested 6") });
    ledger = (admit(ledger, tree, quotas, "a", { from: vm("team-1", 12), to: vm("team-1", 2) }, now) as { ledger: Ledger }).ledger;
    expect(ledger.pending.a).toMatchObject({ from: vm("team-1", 8), to: vm("team-1", 2) });
    ledger = commit(ledger, "a");
    expect(used(ledger, tree, { tenant: "team-1" }, "cpu", now)).toBe(6_000);
  });

  it("reserves, then commits; a reservation whose object never shows it expires; release is once", () => {
    let { ledger } = admitAll(emptyLedger(), [["a", vm("team-1", 8)], ["b", vm("team-1", 8)], ["c", vm("team-1", 0)]]);
    expect(ledger.pending.a).toMatchObject({ to: vm("team-1", 8), expiresAt: now + RESERVATION_TTL_MS });
    ledger = commit(ledger, "a");
    expect(ledger.pending.a).toBeUndefined();
    const later = now + RESERVATION_TTL_MS + 1;
    expect(used(ledger, tree, { tenant: "team-1" }, "cpu", later)).toBe(8_000); // b's reservation no longer counts...
    expect(used(ledger, tree, { tenant: "team-1" }, "cpu", later, undefined, (uid) => uid === "b")).toBe(16_000); // ...unless b exists
    ledger = expire(ledger, later, (uid) => uid === "c");
    expect(Object.keys(ledger.pending)).toEqual(["c"]);
    ledger = release(ledger, "a", vm("team-1", 8), later);
    expect(release(ledger, "a", vm("team-1", 8), later)).toBe(ledger);
    expect(used(ledger, tree, { tenant: "acme" }, "cpu", later)).toBe(0);
    // a pending create released is dropped, nothing leaves the totals
    const r = release(ledger, "c", vm("team-1", 99), later);
    expect(r.pending.c).toBeUndefined();
    expect(r.usage).toEqual(ledger.usage);
    expect(expire(r, later + TOMBSTONE_TTL_MS).released).toEqual({});
  });

  it("recounts the totals from the objects that exist, keeping changes still pending", () => {
    let { ledger } = admitAll(emptyLedger(), [["gone", vm("team-1", 4)], ["real", vm("team-1", 4)], ["pending", vm("team-1", 2)]]);
    ledger = commit(commit(ledger, "gone"), "real");
    // A crash lost the release of "gone" and the resize of "real" to 6 vCPU.
    const healed = recount(ledger, new Map([["real", vm("team-1", 6)], ["pending", vm("team-1", 2)]]), now);
    expect(healed.usage).toEqual({ "team-1 az2 amd64": { cpu: 6_000, memory: 24 * 2 ** 30, instances: 1 } });
    expect(healed.pending).toEqual(ledger.pending);
    expect(used(healed, tree, { tenant: "team-1" }, "cpu", now)).toBe(8_000);
  });

  it("sums a recount per cell from shared, frozen charges without changing them", () => {
    const small = Object.freeze({ ...vm("team-1", 2), amounts: Object.freeze(vm("team-1", 2).amounts) });
    const arm = Object.freeze({ ...vm("team-2", 4, "az2", "arm64"), amounts: Object.freeze(vm("team-2", 4).amounts) });
    const actual = new Map<string, Charge>([["a", small], ["b", small], ["c", arm], ["d", small]]);
    const r = recount(emptyLedger(), actual, now);
    expect(r.usage).toEqual({
      "team-1 az2 amd64": { cpu: 6_000, memory: 24 * 2 ** 30, instances: 3 },
      "team-2 az2 arm64": { cpu: 4_000, memory: 16 * 2 ** 30, instances: 1 },
    });
    expect(small.amounts).toEqual(vm("team-1", 2).amounts);
  });

  it("rejects a quota above its parent's or below its children's sum", () => {
    expect(checkQuota(quotas[4]!, quotas, tree)).toBeUndefined();
    expect(checkQuota({ name: "team-1", tenant: "team-1", hard: { cpu: 40_000 } }, quotas, tree))
      .toBe('quota "team-1": cpu limit 40 is above its parent\'s quota "dept-a" (32)');
    expect(checkQuota({ name: "dept-a", tenant: "dept-a", hard: { cpu: 8_000 } }, quotas, tree))
      .toBe('quota "dept-a": cpu limit 8 is below what its children\'s quotas add up to, 16 (team-1: 16)');
  });
});

describe("ledger bounds", () => {
  it("reserves only the newest create of a name: a loop of duplicate-name creates cannot hold quota", () => {
    let ledger = emptyLedger();
    for (let i = 0; i < 50; i++) {
      const r = admit(ledger, tree, quotas, `dup-${i}`, { to: vm("team-1", 8), key: "ns/instances/web" }, now);
      expect(r.allowed, `attempt ${i}`).toBe(true);
      if (r.allowed) ledger = r.ledger;
    }
    expect(Object.keys(ledger.pending)).toEqual(["dup-49"]);
    // A sibling department still has room: the parent's 64 vCPU are not starved.
    expect(admit(ledger, tree, quotas, "other", { to: vm("dept-b", 32) }, now).allowed).toBe(true);
    // A create of a name whose object exists (it shows its change) is not dropped.
    const kept = admit(ledger, tree, quotas, "dup-50", { to: vm("team-1", 4), key: "ns/instances/web" }, now, (uid) => uid === "dup-49");
    expect(kept.allowed && Object.keys(kept.ledger.pending).sort()).toEqual(["dup-49", "dup-50"]);
  });

  it("stays small after 50,000 deletes: tombstones are capped, so the ledger never nears etcd's object-size limit", () => {
    let ledger = emptyLedger();
    for (let i = 0; i < 50_000; i++) {
      const uid = `vm-${i}`;
      const r = admit(ledger, tree, quotas, uid, { to: vm("team-1", 0) }, now + i);
      if (r.allowed) ledger = commit(r.ledger, uid);
      ledger = release(ledger, uid, vm("team-1", 0), now + i);
    }
    const stored = JSON.stringify(encodeLedger(ledger)).length;
    expect(Object.keys(ledger.released).length).toBeLessThanOrEqual(MAX_TOMBSTONES);
    expect(stored).toBeLessThan(256 * 1024);
    // The newest releases are the ones remembered: a retry of the last one changes nothing.
    expect(release(ledger, "vm-49999", vm("team-1", 0), now + 50_000)).toBe(ledger);
  }, 60_000);
});
