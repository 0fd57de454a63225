// Hierarchical quota arithmetic (issue 8), pure: no client, no clock of its own.
//
// One ledger per root tenant holds the usage of its whole tree, one entry per charged object (by
// uid): which tenant (department) it belongs to, its zone and architecture, and what it counts
// (cpu, memory, instances, ...). Because every level's usage is derived from the same entries, one
// compare-and-swap of the ledger object deducts at every level at once. A create is first reserved
// (with an expiry, for creates that fail after admission), then committed once the object exists;
// a delete releases by uid, idempotently; a recount rebuilds the entries from the real objects.
import { formatBytes, formatCpu } from "../platform/quantity.ts";

export const dimensions = [
  "cpu", "memory", "storage", "instances", "volumes", "snapshots", "vpcs", "eips", "securitygroups", "loadbalancers", "dbinstances", "mqinstances",
] as const;
export type Dimension = (typeof dimensions)[number];
/** cpu in millicores, memory and storage in bytes, the rest as counts. */
export type Amounts = Partial<Record<Dimension, number>>;

export interface Charge {
  tenant: string;
  zone: string;
  arch?: string;
  amounts: Amounts;
}

export interface Entry {
  charge: Charge;
  state: "Reserved" | "Committed";
  /** ms since epoch; a reservation whose object never appeared is void after this. */
  expiresAt?: number;
}

export type Ledger = Record<string, Entry>;

export interface QuotaLimit {
  name: string;
  tenant: string;
  zone?: string;
  arch?: string;
  hard: Amounts;
}

/** Tenant → parent (roots have none). */
export type Tree = ReadonlyMap<string, string | undefined>;

/** How long a reservation waits for its object (kube-apiserver may fail a create after admission). */
export const RESERVATION_TTL_MS = Number(process.env.CELLCLOUD_QUOTA_RESERVATION_MS) || 60_000;

export function ancestorsAndSelf(tree: Tree, tenant: string): string[] {
  const out: string[] = [];
  for (let t: string | undefined = tenant; t !== undefined && !out.includes(t); t = tree.get(t)) out.push(t);
  return out;
}

const live = (e: Entry, now: number) => e.state === "Committed" || (e.expiresAt ?? 0) > now;
const inScope = (c: Charge, q: { zone?: string; arch?: string }) => (!q.zone || q.zone === c.zone) && (!q.arch || q.arch === c.arch);

/** Usage of `tenant` and all its descendants within a quota's scope, for one dimension. */
export function used(ledger: Ledger, tree: Tree, tenant: string, scope: { zone?: string; arch?: string }, dim: Dimension, now: number, except?: string): number {
  let sum = 0;
  for (const [uid, e] of Object.entries(ledger)) {
    if (uid === except || !live(e, now) || !inScope(e.charge, scope)) continue;
    if (!ancestorsAndSelf(tree, e.charge.tenant).includes(tenant)) continue;
    sum += e.charge.amounts[dim] ?? 0;
  }
  return sum;
}

export function formatAmount(dim: Dimension, n: number): string {
  if (dim === "cpu") return formatCpu(n);
  if (dim === "memory" || dim === "storage") return formatBytes(n);
  return String(n);
}

export type Admission = { allowed: true; ledger: Ledger } | { allowed: false; message: string };

/**
 * Pre-check and deduct: the object `uid` is charged `charge` (an update is charged the difference
 * to what its entry held). Every quota of the tenant and its ancestors whose scope covers the
 * charge must have room; the first that has not is named in the denial.
 */
export function admit(ledger: Ledger, tree: Tree, quotas: readonly QuotaLimit[], uid: string, charge: Charge, now: number): Admission {
  const before = ledger[uid];
  const chain = ancestorsAndSelf(tree, charge.tenant);
  for (const tenant of chain) {
    for (const q of quotas.filter((x) => x.tenant === tenant && inScope(charge, x))) {
      for (const dim of dimensions) {
        const hard = q.hard[dim];
        if (hard === undefined) continue;
        const want = charge.amounts[dim] ?? 0;
        const had = before && live(before, now) && inScope(before.charge, q) && ancestorsAndSelf(tree, before.charge.tenant).includes(tenant) ? before.charge.amounts[dim] ?? 0 : 0;
        if (want <= had) continue; // shrinking or unchanged never needs room
        const usage = used(ledger, tree, tenant, q, dim, now, uid);
        if (usage + want > hard) {
          const where = `${q.zone ? ` in zone ${q.zone}` : ""}${q.arch ? ` on ${q.arch}` : ""}`;
          return {
            allowed: false,
            message: `quota "${q.name}" exceeded for ${dim}${where}: requested ${formatAmount(dim, want - had)}, used ${formatAmount(dim, usage + had)}, limit ${formatAmount(dim, hard)}`,
          };
        }
      }
    }
  }
  const state = before?.state === "Committed" ? "Committed" : "Reserved";
  const entry: Entry = state === "Committed" ? { charge, state } : { charge, state, expiresAt: now + RESERVATION_TTL_MS };
  return { allowed: true, ledger: { ...ledger, [uid]: entry } };
}

/** The object exists: its reservation becomes a commitment (a missing entry stays missing). */
export function commit(ledger: Ledger, uid: string): Ledger {
  const e = ledger[uid];
  if (!e || e.state === "Committed") return ledger;
  return { ...ledger, [uid]: { charge: e.charge, state: "Committed" } };
}

/** The object is gone: its entry goes. Releasing twice, or something never charged, changes nothing. */
export function release(ledger: Ledger, uid: string): Ledger {
  if (!(uid in ledger)) return ledger;
  const { [uid]: _gone, ...rest } = ledger;
  return rest;
}

/** Drops reservations whose object never appeared in time. */
export function expire(ledger: Ledger, now: number): Ledger {
  const out: Ledger = {};
  for (const [uid, e] of Object.entries(ledger)) if (live(e, now)) out[uid] = e;
  return out;
}

/**
 * Rebuilds the ledger from the objects that exist (uid → charge): each is committed at what it
 * really holds; a live reservation without its object yet is kept (its create may still land).
 */
export function recount(ledger: Ledger, actual: ReadonlyMap<string, Charge>, now: number): Ledger {
  const out: Ledger = {};
  for (const [uid, charge] of actual) out[uid] = { charge, state: "Committed" };
  for (const [uid, e] of Object.entries(ledger)) if (!actual.has(uid) && e.state === "Reserved" && live(e, now)) out[uid] = e;
  return out;
}

/**
 * A quota must fit its tree: no limit above the parent tenant's quota for the same scope, none
 * below what the child tenants' quotas of that scope add up to. Returns why not, or undefined.
 */
export function checkQuota(q: QuotaLimit, all: readonly QuotaLimit[], tree: Tree): string | undefined {
  const sameScope = (x: QuotaLimit) => (x.zone ?? "") === (q.zone ?? "") && (x.arch ?? "") === (q.arch ?? "");
  const parent = tree.get(q.tenant);
  const parentQuota = parent === undefined ? undefined : all.find((x) => x.tenant === parent && sameScope(x));
  const children = all.filter((x) => x.name !== q.name && tree.get(x.tenant) === q.tenant && sameScope(x));
  for (const dim of dimensions) {
    const hard = q.hard[dim];
    if (hard === undefined) continue;
    const cap = parentQuota?.hard[dim];
    if (cap !== undefined && hard > cap) {
      return `quota "${q.name}": ${dim} limit ${formatAmount(dim, hard)} is above its parent's quota "${parentQuota?.name}" (${formatAmount(dim, cap)})`;
    }
    const parts = children.filter((c) => c.hard[dim] !== undefined);
    const sum = parts.reduce((a, c) => a + (c.hard[dim] ?? 0), 0);
    if (parts.length && hard < sum) {
      const list = parts.map((c) => `${c.name}: ${formatAmount(dim, c.hard[dim] ?? 0)}`).join(", ");
      return `quota "${q.name}": ${dim} limit ${formatAmount(dim, hard)} is below what its children's quotas add up to, ${formatAmount(dim, sum)} (${list})`;
    }
  }
  return undefined;
}

/** A quota's view of the ledger: committed and reserved amounts of its tenant's tree within its scope. */
export function quotaUsage(ledger: Ledger, tree: Tree, q: QuotaLimit, now: number): { used: Amounts; reserved: Amounts } {
  const used: Amounts = {};
  const reserved: Amounts = {};
  for (const e of Object.values(ledger)) {
    if (!live(e, now) || !inScope(e.charge, q) || !ancestorsAndSelf(tree, e.charge.tenant).includes(q.tenant)) continue;
    const into = e.state === "Committed" ? used : reserved;
    for (const dim of dimensions) if (e.charge.amounts[dim]) into[dim] = (into[dim] ?? 0) + (e.charge.amounts[dim] ?? 0);
  }
  return { used, reserved };
}
