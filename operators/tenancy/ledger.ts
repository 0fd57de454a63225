// Hierarchical quota arithmetic (issue 8), pure: no client, no clock of its own.
//
// One ledger per root tenant holds the usage of its whole tree: committed totals per department ×
// zone × architecture, the pending reservations of admitted changes by object uid ({from, to,
// expiry}), and tombstones of released uids. Every level's usage is derived from the same totals,
// so one compare-and-swap of the ledger object deducts at every level at once, and the object stays
// small however many objects the tree holds (its size grows with departments × zones × arches and
// with changes in flight, not with objects).
//
// A create or a growing update is reserved (with an expiry, for changes that fail after admission);
// it is committed into the totals once the object shows it; a delete releases the object's
// committed charge by uid, once (a tombstone makes a second release harmless); a recount rebuilds
// the totals from the objects that exist.
import { formatBytes, formatCpu } from "../api/quantity.ts";
import { dimensions, type Amounts, type Charge, type Dimension } from "../api/tenancy.ts";

export { dimensions, type Amounts, type Charge, type Dimension };

/** An admitted change not yet seen done: a create (no `from`) or an update from one charge to another. */
export interface Pending {
  from?: Charge;
  to: Charge;
  /** ms since epoch; after this a change whose object does not show it is void. */
  expiresAt: number;
  /** A hash of the object's namespace/resource/name: only one object can hold a name, so only one create of it is reserved. */
  key?: string;
}

export interface Ledger {
  /** Committed totals by cellKey (tenant, zone, arch). */
  usage: Record<string, Amounts>;
  pending: Record<string, Pending>;
  /** uid → until when its release is remembered. */
  released: Record<string, number>;
}

export const emptyLedger = (): Ledger => ({ usage: {}, pending: {}, released: {} });

export interface QuotaLimit {
  name: string;
  tenant: string;
  zone?: string;
  arch?: string;
  hard: Amounts;
}

/** Tenant → parent (roots have none). */
export type Tree = ReadonlyMap<string, string | undefined>;

/** Whether a pending change still stands past its expiry (its object exists and shows it). */
export type Alive = (uid: string, p: Pending) => boolean;
const never: Alive = () => false;

/** How long a reservation waits for its object by default (kube-apiserver may fail a create after admission). */
export const RESERVATION_TTL_MS = 60_000;
/**
 * How long a release is remembered: long enough for a finalizer removal retried after a crash to
 * find it, short enough (with the cap) that mass deletion cannot grow the ledger towards etcd's
 * object-size limit. A tombstone dropped early risks one double release, which the periodic
 * recount heals.
 */
export const TOMBSTONE_TTL_MS = 2 * 60_000;
export const MAX_TOMBSTONES = 1_000;

export function ancestorsAndSelf(tree: Tree, tenant: string): string[] {
  const out: string[] = [];
  for (let t: string | undefined = tenant; t !== undefined && !out.includes(t); t = tree.get(t)) out.push(t);
  return out;
}

export const cellKey = (c: Pick<Charge, "tenant" | "zone" | "arch">) => `${c.tenant} ${c.zone || "-"} ${c.arch || "-"}`;
export function parseCellKey(k: string): Pick<Charge, "tenant" | "zone" | "arch"> {
  const [tenant = "", zone = "-", arch = "-"] = k.split(" ");
  return { tenant, zone: zone === "-" ? "" : zone, ...(arch === "-" ? {} : { arch }) };
}

const inScope = (c: Pick<Charge, "zone" | "arch">, q: { zone?: string; arch?: string }) => (!q.zone || q.zone === c.zone) && (!q.arch || q.arch === c.arch);
const under = (tree: Tree, c: Pick<Charge, "tenant">, tenant: string) => ancestorsAndSelf(tree, c.tenant).includes(tenant);
const live = (uid: string, p: Pending, now: number, alive: Alive) => p.expiresAt > now || alive(uid, p);

/** A charge's share of a quota's scope, for one dimension. */
function share(c: Charge | undefined, tree: Tree, q: { tenant: string; zone?: string; arch?: string }, dim: Dimension): number {
  return c && inScope(c, q) && under(tree, c, q.tenant) ? c.amounts[dim] ?? 0 : 0;
}

/** What a pending change adds within a scope (a shrink adds nothing until it is committed). */
function pendingShare(p: Pending, tree: Tree, q: { tenant: string; zone?: string; arch?: string }, dim: Dimension): number {
  return Math.max(0, share(p.to, tree, q, dim) - share(p.from, tree, q, dim));
}

/** Committed usage of `tenant` and its descendants within a scope, for one dimension. */
export function committed(ledger: Ledger, tree: Tree, q: { tenant: string; zone?: string; arch?: string }, dim: Dimension): number {
  let sum = 0;
  for (const [k, a] of Object.entries(ledger.usage)) {
    const cell = parseCellKey(k);
    if (inScope(cell, q) && under(tree, cell, q.tenant)) sum += a[dim] ?? 0;
  }
  return sum;
}

/** Committed plus reserved usage, leaving out the pending change of `except`. */
export function used(ledger: Ledger, tree: Tree, q: { tenant: string; zone?: string; arch?: string }, dim: Dimension, now: number, except?: string, alive: Alive = never): number {
  let sum = committed(ledger, tree, q, dim);
  for (const [uid, p] of Object.entries(ledger.pending)) if (uid !== except && live(uid, p, now, alive)) sum += pendingShare(p, tree, q, dim);
  return sum;
}

export function formatAmount(dim: Dimension, n: number): string {
  if (dim === "cpu") return formatCpu(n);
  if (dim === "memory" || dim === "storage") return formatBytes(n);
  return String(n);
}

export type Admission = { allowed: true; ledger: Ledger } | { allowed: false; message: string };

/**
 * Pre-check and deduct: object `uid` goes from `from` (its committed charge; none for a create) to
 * `to`. A change still pending for the same object is folded in (it keeps its `from`). Every quota
 * of the tenant and its ancestors whose scope covers `to` must have room for the growth; the first
 * that has not is named in the denial.
 */
export function admit(
  current: Ledger, tree: Tree, quotas: readonly QuotaLimit[], uid: string, change: { from?: Charge; to: Charge; key?: string }, now: number, alive: Alive = never, ttlMs = RESERVATION_TTL_MS,
): Admission {
  const ledger = change.key ? supersede(current, change.key, uid, alive) : current;
  const earlier = ledger.pending[uid];
  const from = earlier && live(uid, earlier, now, alive) ? earlier.from : change.from;
  const to = change.to;
  for (const tenant of ancestorsAndSelf(tree, to.tenant)) {
    for (const q of quotas.filter((x) => x.tenant === tenant && inScope(to, x))) {
      for (const dim of dimensions) {
        const hard = q.hard[dim];
        if (hard === undefined) continue;
        const want = share(to, tree, q, dim) - share(from, tree, q, dim);
        if (want <= 0) continue; // shrinking or unchanged never needs room
        const usage = used(ledger, tree, q, dim, now, uid, alive);
        if (usage + want > hard) {
          const where = `${q.zone ? ` in zone ${q.zone}` : ""}${q.arch ? ` on ${q.arch}` : ""}`;
          return {
            allowed: false,
            message: `quota "${q.name}" exceeded for ${dim}${where}: requested ${formatAmount(dim, want)}, used ${formatAmount(dim, usage)}, limit ${formatAmount(dim, hard)}`,
          };
        }
      }
    }
  }
  const p: Pending = { ...(from ? { from } : {}), to, expiresAt: now + ttlMs, ...(change.key ? { key: change.key } : {}) };
  return { allowed: true, ledger: { ...ledger, pending: { ...ledger.pending, [uid]: p } } };
}

/** Adds `amounts` (times `sign`) into `a` in place; a dimension that is not above 0 is dropped. */
function addInto(a: Amounts, amounts: Amounts, sign: 1 | -1): void {
  for (const dim of dimensions) {
    const v = (a[dim] ?? 0) + sign * (amounts[dim] ?? 0);
    if (v > 0) a[dim] = v;
    else delete a[dim];
  }
}

function add(usage: Record<string, Amounts>, c: Charge | undefined, sign: 1 | -1): Record<string, Amounts> {
  if (!c) return usage;
  const k = cellKey(c);
  const a: Amounts = { ...usage[k] };
  addInto(a, c.amounts, sign);
  const out = { ...usage };
  if (Object.keys(a).length) out[k] = a;
  else delete out[k];
  return out;
}

/**
 * A create of a name whose earlier creates are still reserved but never showed up (refused after
 * admission: AlreadyExists, another webhook): only the newest reservation of a name counts, so a
 * loop of duplicate creates cannot hold a parent's quota.
 */
function supersede(ledger: Ledger, key: string, uid: string, alive: Alive): Ledger {
  const stale = Object.entries(ledger.pending).filter(([u, p]) => u !== uid && p.key === key && !p.from && !alive(u, p)).map(([u]) => u);
  if (!stale.length) return ledger;
  const pending = { ...ledger.pending };
  for (const u of stale) delete pending[u];
  return { ...ledger, pending };
}

/** The object shows its pending change: move it into the totals (a missing change stays missing). */
export function commit(ledger: Ledger, uid: string): Ledger {
  const p = ledger.pending[uid];
  if (!p) return ledger;
  const { [uid]: _done, ...pending } = ledger.pending;
  return { ...ledger, usage: add(add(ledger.usage, p.from, -1), p.to, 1), pending };
}

/**
 * The object is going: its committed charge leaves the totals, once. `charge` is what it holds
 * committed when no change of it is pending; a pending create was never committed, a pending
 * update committed only its `from`. Releasing twice changes nothing.
 */
export function release(ledger: Ledger, uid: string, charge: Charge | undefined, now: number): Ledger {
  if (uid in ledger.released) return ledger;
  const p = ledger.pending[uid];
  const held = p ? p.from : charge;
  const { [uid]: _gone, ...pending } = ledger.pending;
  // Beyond the cap the oldest tombstones go (insertion order is release order). A plain copy loop:
  // Object.fromEntries of a thousand keys was 25x slower.
  const keys = Object.keys(ledger.released);
  const released: Record<string, number> = {};
  for (let i = Math.max(0, keys.length + 1 - MAX_TOMBSTONES); i < keys.length; i++) released[keys[i]!] = ledger.released[keys[i]!]!;
  released[uid] = now + TOMBSTONE_TTL_MS;
  return { usage: add(ledger.usage, held, -1), pending, released };
}

/** Drops changes that expired without their object showing them, and old tombstones. */
export function expire(ledger: Ledger, now: number, alive: Alive = never): Ledger {
  const pending = Object.fromEntries(Object.entries(ledger.pending).filter(([uid, p]) => live(uid, p, now, alive)));
  const released = Object.fromEntries(Object.entries(ledger.released).filter(([, until]) => until > now));
  if (Object.keys(pending).length === Object.keys(ledger.pending).length && Object.keys(released).length === Object.keys(ledger.released).length) return ledger;
  return { ...ledger, pending, released };
}

/**
 * Rebuilds the totals from the objects that exist (uid → the charge it holds committed): an
 * object with a pending create is left out (its commit adds it), one with a pending update counts
 * at its `from`; released objects are left out. Pending changes and tombstones are kept.
 */
export function recount(ledger: Ledger, actual: ReadonlyMap<string, Charge>, now: number, alive: Alive = never): Ledger {
  const kept = expire(ledger, now, alive);
  // Summed into maps of its own, not add()'s copy per object: `actual` is every charged object of
  // the tree, 37,500 at the seed's scale every 3 min.
  const usage: Record<string, Amounts> = {};
  for (const [uid, charge] of actual) {
    if (uid in kept.released) continue;
    const p = kept.pending[uid];
    const c = p ? p.from : charge;
    if (c) addInto(usage[cellKey(c)] ??= {}, c.amounts, 1);
  }
  for (const k of Object.keys(usage)) if (!Object.keys(usage[k]!).length) delete usage[k];
  return { ...kept, usage };
}

/**
 * A quota's view of the ledger: `used` is what the tree holds (committed, plus pending changes
 * their objects already show), `reserved` what was admitted and is not yet seen.
 */
export function quotaUsage(ledger: Ledger, tree: Tree, q: QuotaLimit, now: number, alive: Alive = never): { used: Amounts; reserved: Amounts } {
  const usedOut: Amounts = {};
  const reserved: Amounts = {};
  // Whether each pending change's object shows it, decided once, not once per dimension: at
  // thousands of admitted creates in flight this loop was most of the manager's CPU (bench/scale).
  const shown = Object.entries(ledger.pending).map(([uid, p]) => [p, alive(uid, p)] as const);
  for (const dim of dimensions) {
    let u = committed(ledger, tree, q, dim);
    let r = 0;
    for (const [p, isShown] of shown) {
      if (isShown) u += share(p.to, tree, q, dim) - share(p.from, tree, q, dim);
      else if (p.expiresAt > now) r += pendingShare(p, tree, q, dim);
    }
    if (u) usedOut[dim] = u;
    if (r) reserved[dim] = r;
  }
  return { used: usedOut, reserved };
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
