// Charges as tenancy judges and stores them (pure): who may use an image (visibility over the tenant
// tree), that a per-zone quota needs the zone, and the stored forms of charges, quotas and the
// ledger. What an object costs is its product's to say (the ChargedKind it registers).
import type { QuotaSpec } from "../api/tenancy.ts";
import { bytes, cpuMillis, formatBytes } from "../api/quantity.ts";
import { ancestorsAndSelf, cellKey, dimensions, emptyLedger, parseCellKey, type Amounts, type Charge, type Dimension, type Ledger, type Pending, type QuotaLimit, type Tree } from "./ledger.ts";

/** Who may use an image: every tenant when it is in the public catalog; else its owner's tree and the sharedWith tenants' trees. */
export interface ImageAccess {
  public: boolean;
  /** The tenant of the image's namespace, if it belongs to one. */
  owner?: string;
  sharedWith?: readonly string[];
}

/** Whether `tenant` may use an image (a parent does not see a department's image; a department sees its ancestors'). */
export function imageVisible(image: ImageAccess, tenant: string, tree: Tree): boolean {
  if (image.public) return true;
  const chain = ancestorsAndSelf(tree, tenant);
  if (image.owner && chain.includes(image.owner)) return true;
  return (image.sharedWith ?? []).some((t) => chain.includes(t));
}

/** A per-zone quota can only count what names its zone: an object without one is refused. */
export function zoneRequired(charge: Charge, quotas: readonly QuotaLimit[], tree: Tree): string | undefined {
  if (charge.zone) return undefined;
  const chain = ancestorsAndSelf(tree, charge.tenant);
  const q = quotas.find((x) => x.zone && chain.includes(x.tenant));
  return q ? `spec.zone is required: quota "${q.name}" of tenant "${q.tenant}" limits zone ${q.zone}` : undefined;
}

export const sameCharge = (a: Charge, b: Charge): boolean =>
  a.tenant === b.tenant && a.zone === b.zone && a.arch === b.arch && dimensions.every((d) => (a.amounts[d] ?? 0) === (b.amounts[d] ?? 0));

// ---- quotas and the ledger as stored ----

export function quotaLimit(name: string, spec: QuotaSpec): QuotaLimit {
  const hard: Amounts = {};
  for (const dim of dimensions) {
    const v = spec.hard[dim];
    if (v === undefined) continue;
    hard[dim] = dim === "cpu" ? cpuMillis(v) : dim === "memory" || dim === "storage" ? bytes(v) : Number(v);
  }
  return { name, tenant: spec.tenant, zone: spec.zone, arch: spec.architecture, hard };
}

const isBytes = (d: Dimension) => d === "memory" || d === "storage";
const safeBytes = (v: string) => { try { return bytes(v); } catch { return NaN; } };

/** "cpu=4000,memory=8Gi,instances=1" ("-" for nothing): memory and storage as quantities. */
function encodeAmounts(a: Amounts): string {
  return dimensions.filter((d) => a[d]).map((d) => `${d}=${isBytes(d) ? formatBytes(a[d]!) : a[d]}`).join(",") || "-";
}

function decodeAmounts(s: string): Amounts {
  const a: Amounts = {};
  if (s === "-") return a;
  for (const kv of s.split(",")) {
    const [k, v] = kv.split("=");
    if (!(dimensions as readonly string[]).includes(k ?? "") || !v) continue;
    const n = isBytes(k as Dimension) ? safeBytes(v) : Number(v);
    if (Number.isFinite(n)) a[k as Dimension] = n;
  }
  return a;
}

/** "acme az1 amd64 cpu=4000,memory=8Gi,instances=1"; "-" for no zone or arch. Also an object's charge annotation. */
export function encodeCharge(c: Charge): string {
  return `${cellKey(c)} ${encodeAmounts(c.amounts)}`;
}

/**
 * Decoded charges by their text, frozen and shared: a recount decodes every charged object's
 * annotation (37,500 at the seed's scale, every 3 min), and objects of one flavor in one tenant
 * carry the same text, so few distinct ones exist. Bounded: emptied when full, and a text longer
 * than any charge's (an annotation is the object owner's to write) is decoded but not kept.
 */
const decoded = new Map<string, Charge | undefined>();
const DECODED_MAX = 4096;
const DECODED_MAX_CHARS = 256;

export function decodeCharge(s: string | undefined): Charge | undefined {
  if (s === undefined) return undefined;
  if (decoded.has(s)) return decoded.get(s);
  const t = s.split(" ");
  const c = t.length !== 4 || !t[0] ? undefined : Object.freeze({ ...parseCellKey(t.slice(0, 3).join(" ")), amounts: Object.freeze(decodeAmounts(t[3]!)) });
  if (s.length > DECODED_MAX_CHARS) return c;
  if (decoded.size >= DECODED_MAX) decoded.clear();
  decoded.set(s, c);
  return c;
}

/** What the QuotaLedger's status holds: three maps of strings (see api/tenancy.ts). */
export interface StoredLedger {
  usage?: Record<string, string>;
  pending?: Record<string, string>;
  released?: Record<string, string>;
}

/** A pending change: "<expiresAt ms> <to charge>[ <from charge>]". */
const encodePending = (p: Pending) => `${p.expiresAt} ${encodeCharge(p.to)}${p.from ? ` ${encodeCharge(p.from)}` : ""}${p.key ? ` key=${p.key}` : ""}`;
function decodePending(s: string): Pending | undefined {
  const all = s.split(" ");
  const key = all.at(-1)?.startsWith("key=") ? all.pop()!.slice(4) : undefined;
  const t = all;
  const to = decodeCharge(t.slice(1, 5).join(" "));
  if (!to || !Number.isFinite(Number(t[0]))) return undefined;
  const from = t.length >= 9 ? decodeCharge(t.slice(5, 9).join(" ")) : undefined;
  return { ...(from ? { from } : {}), to, expiresAt: Number(t[0]), ...(key ? { key } : {}) };
}

export function encodeLedger(l: Ledger): Required<StoredLedger> {
  return {
    usage: Object.fromEntries(Object.entries(l.usage).map(([k, a]) => [k, encodeAmounts(a)])),
    pending: Object.fromEntries(Object.entries(l.pending).map(([uid, p]) => [uid, encodePending(p)])),
    released: Object.fromEntries(Object.entries(l.released).map(([uid, until]) => [uid, String(until)])),
  };
}

export function decodeLedger(s: StoredLedger | undefined): Ledger {
  const l = emptyLedger();
  for (const [k, v] of Object.entries(s?.usage ?? {})) l.usage[k] = decodeAmounts(v);
  for (const [uid, v] of Object.entries(s?.pending ?? {})) {
    const p = decodePending(v);
    if (p) l.pending[uid] = p;
  }
  for (const [uid, v] of Object.entries(s?.released ?? {})) if (Number.isFinite(Number(v))) l.released[uid] = Number(v);
  return l;
}

/** A JSON merge patch of the stored maps that turns `from` into `to` (null deletes a key); undefined when equal. */
export function ledgerPatch(from: Ledger, to: Ledger): StoredLedger | undefined {
  const a = encodeLedger(from);
  const b = encodeLedger(to);
  const out: Record<string, Record<string, string | null>> = {};
  for (const field of ["usage", "pending", "released"] as const) {
    const patch: Record<string, string | null> = {};
    for (const k of Object.keys(a[field])) if (!(k in b[field])) patch[k] = null;
    for (const [k, v] of Object.entries(b[field])) if (a[field][k] !== v) patch[k] = v;
    if (Object.keys(patch).length) out[field] = patch;
  }
  return Object.keys(out).length ? (out as StoredLedger) : undefined;
}
