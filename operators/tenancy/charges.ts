// What an object costs against quota (pure): an Instance its vCPUs, memory, system disk and one
// instance; a Volume its size and one volume; a VolumeSnapshot one snapshot. Also the rules that
// need other objects to judge: the flavor and image must exist, the image must be visible to the
// tenant, a custom size must be allowed, and a per-zone quota needs the zone.
import type { FlavorSpec, ImageSpec, InstanceSpec } from "../api/compute.ts";
import type { VolumeSpec, VolumeSnapshotSpec } from "../api/storage.ts";
import type { QuotaSpec } from "../api/tenancy.ts";
import { bytes, cpuMillis, formatBytes } from "../platform/quantity.ts";
import { ancestorsAndSelf, cellKey, dimensions, emptyLedger, parseCellKey, type Amounts, type Charge, type Dimension, type Ledger, type Pending, type QuotaLimit, type Tree } from "./ledger.ts";

const GiB = 1024 ** 3;

export interface Lookup {
  tree: Tree;
  flavor(name: string): FlavorSpec | undefined;
  image(name: string): ImageSpec | undefined;
  /** A Volume in the object's namespace. */
  volume(name: string): VolumeSpec | undefined;
  /** Whether the tenant (or an ancestor) may use custom instance sizes. */
  customSizes(tenant: string): boolean;
}

export type Priced = { charge: Charge } | { denied: string };

/** Whether `tenant` may use `image`: Public to all; Private to its owner's tree; Shared also to the sharedWith tenants' trees. */
export function imageVisible(image: ImageSpec, tenant: string, tree: Tree): boolean {
  if (image.visibility === "Public") return true;
  const chain = ancestorsAndSelf(tree, tenant);
  if (image.owner && chain.includes(image.owner)) return true;
  return image.visibility === "Shared" && (image.sharedWith ?? []).some((t) => chain.includes(t));
}

function visibleImage(field: string, name: string, tenant: string, lookup: Lookup): ImageSpec | string {
  const image = lookup.image(name);
  if (!image) return `${field}: Image "${name}" not found`;
  if (!imageVisible(image, tenant, lookup.tree)) {
    return `${field}: Image "${name}" is ${image.visibility} to tenant "${image.owner}" and not shared with tenant "${tenant}"`;
  }
  return image;
}

export function instanceCharge(spec: InstanceSpec, tenant: string, lookup: Lookup): Priced {
  let vcpus: number;
  let memory: string;
  if (spec.flavor) {
    const f = lookup.flavor(spec.flavor);
    if (!f) return { denied: `spec.flavor: Flavor "${spec.flavor}" not found` };
    vcpus = f.vcpus;
    memory = f.memory;
  } else if (spec.resources) {
    if (!lookup.customSizes(tenant)) return { denied: `spec.resources: tenant "${tenant}" may not use custom sizes; choose a spec.flavor` };
    vcpus = spec.resources.vcpus;
    memory = spec.resources.memory;
  } else {
    return { denied: "spec must set exactly one of flavor or resources" };
  }
  const image = visibleImage("spec.image", spec.image, tenant, lookup);
  if (typeof image === "string") return { denied: image };
  const diskGiB = spec.systemDisk?.sizeGiB ?? image.minDiskGiB;
  const first = spec.dataVolumes?.[0];
  const zone = spec.zone ?? (first ? lookup.volume(first.volume)?.zone : undefined) ?? "";
  return {
    charge: {
      tenant, zone, arch: image.architecture,
      amounts: { cpu: vcpus * 1000, memory: bytes(memory), storage: diskGiB * GiB, instances: 1 },
    },
  };
}

export function volumeCharge(spec: VolumeSpec, tenant: string, lookup: Lookup): Priced {
  if (spec.source?.image) {
    const image = visibleImage("spec.source.image", spec.source.image, tenant, lookup);
    if (typeof image === "string") return { denied: image };
  }
  return { charge: { tenant, zone: spec.zone, amounts: { storage: bytes(spec.size), volumes: 1 } } };
}

export function snapshotCharge(spec: VolumeSnapshotSpec, tenant: string, lookup: Lookup): Priced {
  return { charge: { tenant, zone: lookup.volume(spec.volume)?.zone ?? "", amounts: { snapshots: 1 } } };
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
export function encodeAmounts(a: Amounts): string {
  return dimensions.filter((d) => a[d]).map((d) => `${d}=${isBytes(d) ? formatBytes(a[d]!) : a[d]}`).join(",") || "-";
}

export function decodeAmounts(s: string): Amounts {
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

export function decodeCharge(s: string | undefined): Charge | undefined {
  const t = s?.split(" ") ?? [];
  if (t.length !== 4 || !t[0]) return undefined;
  return { ...parseCellKey(t.slice(0, 3).join(" ")), amounts: decodeAmounts(t[3]!) };
}

/** What the QuotaLedger's status holds: three maps of strings (see api/tenancy.ts). */
export interface StoredLedger {
  usage?: Record<string, string>;
  pending?: Record<string, string>;
  released?: Record<string, string>;
}

/** A pending change: "<expiresAt ms> <to charge>[ <from charge>]". */
const encodePending = (p: Pending) => `${p.expiresAt} ${encodeCharge(p.to)}${p.from ? ` ${encodeCharge(p.from)}` : ""}`;
function decodePending(s: string): Pending | undefined {
  const t = s.split(" ");
  const to = decodeCharge(t.slice(1, 5).join(" "));
  if (!to || !Number.isFinite(Number(t[0]))) return undefined;
  const from = t.length >= 9 ? decodeCharge(t.slice(5, 9).join(" ")) : undefined;
  return { ...(from ? { from } : {}), to, expiresAt: Number(t[0]) };
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
