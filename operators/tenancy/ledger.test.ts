import { describe, expect, it } from "vitest";
import { admit, checkQuota, commit, expire, recount, release, used, RESERVATION_TTL_MS, type Charge, type Ledger, type QuotaLimit } from "./ledger.ts";

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
    const r = admit(ledger, tree, quotas, uid, c, now);
    if (r.allowed) ledger = r.ledger;
    else denied.push(r.message);
  }
  return { ledger, denied };
}

describe("quota ledger", () => {
  it("admits exactly as many as fit, never more (200 creates of 2 vCPU against 64)", () => {
    const flat = new Map<string, string | undefined>([["solo", undefined]]);
    let ledger: Ledger = {};
    let admitted = 0;
    for (let i = 0; i < 200; i++) {
      const r = admit(ledger, flat, [{ name: "solo", tenant: "solo", hard: { cpu: 64_000 } }], `u${i}`, vm("solo", 2), now);
      if (r.allowed) { ledger = r.ledger; admitted++; }
    }
    expect(admitted).toBe(32);
    expect(used(ledger, flat, "solo", {}, "cpu", now)).toBe(64_000);
    for (let i = 0; i < 200; i++) ledger = release(ledger, `u${i}`);
    expect(used(ledger, flat, "solo", {}, "cpu", now)).toBe(0);
  });

  it("counts a sub-department's use against every ancestor, and names the level that is full", () => {
    const { ledger, denied } = admitAll({}, [["a", vm("team-1", 8)], ["b", vm("team-1", 8)], ["c", vm("team-1", 2)]]);
    expect(denied).toEqual(['quota "team-1" exceeded for cpu: requested 2, used 16, limit 16']);
    expect(used(ledger, tree, "acme", {}, "cpu", now)).toBe(16_000);
    expect(used(ledger, tree, "dept-a", {}, "cpu", now)).toBe(16_000);
    const more = admitAll(ledger, [["d", vm("dept-a", 16)], ["e", vm("dept-a", 1)]]);
    expect(more.denied).toEqual(['quota "dept-a" exceeded for cpu: requested 1, used 32, limit 32']);
    const top = admitAll(more.ledger, [["f", vm("dept-b", 32)], ["g", vm("dept-b", 1)]]);
    expect(top.denied).toEqual(['quota "acme" exceeded for cpu: requested 1, used 64, limit 64']);
  });

  it("enforces limits per zone and per architecture", () => {
    const zoned = admitAll({}, [["a", vm("dept-b", 30, "az1")], ["b", vm("dept-b", 10, "az1")], ["c", vm("dept-b", 8, "az1")], ["d", vm("dept-b", 8, "az2")]]);
    expect(zoned.denied).toEqual(['quota "acme-az1" exceeded for cpu in zone az1: requested 8, used 40, limit 40']);
    const arm = admitAll({}, [["a", vm("dept-a", 1, "az2", "arm64")], ["b", vm("team-1", 1, "az2", "arm64")], ["c", vm("team-1", 1, "az2", "arm64")], ["d", vm("team-1", 1, "az2", "amd64")]]);
    expect(arm.denied).toEqual(['quota "dept-a-arm" exceeded for instances on arm64: requested 1, used 2, limit 2']);
  });

  it("charges an update the difference; a shrink always passes", () => {
    let { ledger } = admitAll({}, [["a", vm("team-1", 8)], ["b", vm("team-1", 4)]]);
    const grow = admit(ledger, tree, quotas, "a", vm("team-1", 12), now);
    expect(grow.allowed).toBe(true);
    const tooMuch = admit(ledger, tree, quotas, "a", vm("team-1", 14), now);
    expect(tooMuch).toEqual({ allowed: false, message: 'quota "team-1" exceeded for cpu: requested 6, used 12, limit 16' });
    ledger = (admit(ledger, tree, quotas, "a", vm("team-1", 2), now) as { ledger: Ledger }).ledger;
    expect(used(ledger, tree, "team-1", {}, "cpu", now)).toBe(6_000);
  });

  it("reserves, then commits; a reservation whose object never appears expires; release is idempotent", () => {
    let { ledger } = admitAll({}, [["a", vm("team-1", 8)], ["b", vm("team-1", 8)]]);
    expect(ledger.a).toMatchObject({ state: "Reserved", expiresAt: now + RESERVATION_TTL_MS });
    ledger = commit(ledger, "a");
    expect(ledger.a).toEqual({ charge: vm("team-1", 8), state: "Committed" });
    const later = now + RESERVATION_TTL_MS + 1;
    expect(used(ledger, tree, "team-1", {}, "cpu", later)).toBe(8_000); // b's reservation no longer counts
    ledger = expire(ledger, later);
    expect(Object.keys(ledger)).toEqual(["a"]);
    ledger = release(ledger, "a");
    expect(release(ledger, "a")).toBe(ledger);
    expect(used(ledger, tree, "acme", {}, "cpu", later)).toBe(0);
  });

  it("recounts from the objects that exist, keeping reservations still waiting for theirs", () => {
    let { ledger } = admitAll({}, [["gone", vm("team-1", 4)], ["real", vm("team-1", 4)], ["pending", vm("team-1", 2)]]);
    ledger = commit(commit(ledger, "gone"), "real");
    // A crash lost the release of "gone" and the resize of "real" to 6 vCPU.
    const healed = recount(ledger, new Map([["real", vm("team-1", 6)]]), now);
    expect(healed).toEqual({ real: { charge: vm("team-1", 6), state: "Committed" }, pending: ledger.pending });
    expect(used(healed, tree, "team-1", {}, "cpu", now)).toBe(8_000);
  });

  it("rejects a quota above its parent's or below its children's sum", () => {
    expect(checkQuota(quotas[4]!, quotas, tree)).toBeUndefined();
    expect(checkQuota({ name: "team-1", tenant: "team-1", hard: { cpu: 40_000 } }, quotas, tree))
      .toBe('quota "team-1": cpu limit 40 is above its parent\'s quota "dept-a" (32)');
    expect(checkQuota({ name: "dept-a", tenant: "dept-a", hard: { cpu: 8_000 } }, quotas, tree))
      .toBe('quota "dept-a": cpu limit 8 is below what its children\'s quotas add up to, 16 (team-1: 16)');
  });
});
