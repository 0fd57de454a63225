// Pure renderers: aligned tables, the tenant/quota tree and the cells' capacity, from plain views of
// the objects (so they are unit-tested without a cluster).
import { bytes, cpuMillis } from "../operators/api/quantity.ts";

/** Columns padded to their widest cell, two spaces apart, like kubectl get. */
export function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? "").length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 2))).join("").trimEnd()).join("\n") + "\n";
}

/** The quota dimensions in the order tenancy.cellcloud.io lists them (operators/api/tenancy.ts). */
export const dimensions = ["cpu", "memory", "storage", "instances", "volumes", "snapshots", "vpcs", "eips", "securitygroups", "loadbalancers", "dbinstances", "mqinstances"] as const;

/** A quantity or count as one number: cpu in millicores, memory and storage in bytes. */
function amount(dimension: string, value: string | number): number {
  if (dimension === "cpu") return cpuMillis(value);
  if (dimension === "memory" || dimension === "storage") return bytes(value);
  return Number(value);
}

/** used / hard as a whole percentage, "" where there is no limit or a value does not parse. */
export function percent(dimension: string, used: string | number | undefined, hard: string | number | undefined): string {
  if (hard === undefined || used === undefined) return "";
  try {
    const h = amount(dimension, hard);
    const u = amount(dimension, used);
    if (!Number.isFinite(h) || !Number.isFinite(u)) return "";
    return h === 0 ? (u === 0 ? "0%" : "100%") : `${Math.round((u * 100) / h)}%`;
  } catch {
    return "";
  }
}

export interface TenantView { name: string; parent?: string; orderMode?: string }

export interface QuotaView {
  name: string;
  tenant: string;
  zone?: string;
  architecture?: string;
  hard: Record<string, string | number>;
  used: Record<string, string>;
  reserved: Record<string, string>;
}

/** The dimensions a quota shows: those it limits and those in use, in the canonical order. */
function shownDimensions(q: QuotaView): string[] {
  const inUse = (d: string) => [q.used[d], q.reserved[d]].some((v) => v !== undefined && v !== "0");
  const known: readonly string[] = dimensions;
  const extra = Object.keys(q.hard).filter((d) => !known.includes(d)).sort();
  return [...dimensions, ...extra].filter((d) => q.hard[d] !== undefined || inUse(d));
}

interface TreeNode { tenant: TenantView; children: TreeNode[] }

/** Tenants as a forest: each under its parent (to any depth); one whose parent is gone is a root. */
export function tenantForest(tenants: TenantView[]): TreeNode[] {
  const nodes = new Map(tenants.map((t) => [t.name, { tenant: t, children: [] as TreeNode[] }]));
  const roots: TreeNode[] = [];
  for (const n of [...nodes.values()].sort((a, b) => a.tenant.name.localeCompare(b.tenant.name))) {
    const parent = n.tenant.parent ? nodes.get(n.tenant.parent) : undefined;
    (parent && parent !== n ? parent.children : roots).push(n);
  }
  return roots;
}

export const QUOTA_HEADER = ["TENANT", "QUOTA", "ZONE", "ARCH", "RESOURCE", "USED", "RESERVED", "HARD", "USE"];

/**
 * The tenant tree, one row per quota dimension: departments under their parents with ├─ └─ │, each
 * tenant's quotas with zone and architecture ("*": every one), used / reserved / hard and used/hard.
 * With `root`, only that tenant's subtree; undefined if there is no such tenant.
 */
export function quotaTree(tenants: TenantView[], quotas: QuotaView[], root?: string): string | undefined {
  let forest = tenantForest(tenants);
  if (root) {
    const find = (ns: TreeNode[]): TreeNode | undefined => ns.map((n) => (n.tenant.name === root ? n : find(n.children))).find(Boolean);
    const sub = find(forest);
    if (!sub) return undefined;
    forest = [sub];
  }
  const byTenant = new Map<string, QuotaView[]>();
  for (const q of [...quotas].sort((a, b) => a.name.localeCompare(b.name))) byTenant.set(q.tenant, [...(byTenant.get(q.tenant) ?? []), q]);
  const rows: string[][] = [];
  const seen = new Set<string>();
  const walk = (n: TreeNode, prefix: string, isRoot: boolean, last: boolean) => {
    if (seen.has(n.tenant.name)) return;
    seen.add(n.tenant.name);
    const head = isRoot ? n.tenant.name : `${prefix}${last ? "└─ " : "├─ "}${n.tenant.name}`;
    const childPrefix = isRoot ? prefix : `${prefix}${last ? "   " : "│  "}`;
    const more = `${childPrefix}${n.children.length ? "│" : ""}`;
    const qs = byTenant.get(n.tenant.name) ?? [];
    let first = true;
    const tenantCell = () => { const c = first ? head : more; first = false; return c; };
    if (!qs.length) rows.push([tenantCell(), "-", "", "", "", "", "", "", ""]);
    for (const q of qs) {
      const dims = shownDimensions(q);
      if (!dims.length) rows.push([tenantCell(), q.name, q.zone ?? "*", q.architecture ?? "*", "-", "", "", "", ""]);
      dims.forEach((d, i) => {
        const used = q.used[d] ?? "0";
        const hard = q.hard[d];
        rows.push([
          tenantCell(), i ? "" : q.name, i ? "" : q.zone ?? "*", i ? "" : q.architecture ?? "*",
          d, used, q.reserved[d] ?? "0", hard === undefined ? "-" : String(hard), percent(d, used, hard),
        ]);
      });
    }
    n.children.forEach((c, i) => walk(c, childPrefix, false, i === n.children.length - 1));
  };
  forest.forEach((r) => walk(r, "", true, true));
  return table(QUOTA_HEADER, rows);
}

export interface Resources { cpu?: string; memory?: string; [k: string]: string | undefined }
export interface ArchFigures { nodes?: number; capacity?: Resources; allocatable?: Resources; allocated?: Resources }

export interface CellView {
  name: string;
  region?: string;
  zone?: string;
  strategy?: string;
  pools?: number;
  nodes?: { total?: number; ready?: number; notReady?: number; cordoned?: number };
  architectures?: Record<string, ArchFigures | undefined>;
}

export interface PoolView {
  name: string;
  cell: string;
  architecture: string;
  cpuVendor?: string;
  desired?: number;
  current?: number;
  ready?: number;
  cpu?: string;
  memory?: string;
  overcommit?: { cpu?: number; memory?: number };
}

const n = (x: number | undefined) => String(x ?? 0);

/** Cells (node counts), their capacity per architecture, and their node pools: three aligned tables. */
export function capacityReport(cells: CellView[], pools: PoolView[]): string {
  const sorted = [...cells].sort((a, b) => a.name.localeCompare(b.name));
  const cellRows = sorted.map((c) => [
    c.name, c.region ?? "", c.zone ?? "", c.strategy ?? "", n(c.pools), n(c.nodes?.total), n(c.nodes?.ready), n(c.nodes?.notReady), n(c.nodes?.cordoned),
  ]);
  const archRows = sorted.flatMap((c) => Object.entries(c.architectures ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([arch, f]) => [
    c.name, arch, n(f?.nodes),
    f?.allocated?.cpu ?? "0", f?.allocatable?.cpu ?? "0", f?.capacity?.cpu ?? "0", percent("cpu", f?.allocated?.cpu ?? "0", f?.allocatable?.cpu),
    f?.allocated?.memory ?? "0", f?.allocatable?.memory ?? "0", f?.capacity?.memory ?? "0", percent("memory", f?.allocated?.memory ?? "0", f?.allocatable?.memory),
  ]));
  const names = new Set(sorted.map((c) => c.name));
  const poolRows = pools.filter((p) => names.has(p.cell)).sort((a, b) => a.cell.localeCompare(b.cell) || a.name.localeCompare(b.name)).map((p) => [
    p.name, p.cell, p.architecture, p.cpuVendor ?? "", n(p.desired), n(p.current), n(p.ready), p.cpu ?? "", p.memory ?? "",
    `${p.overcommit?.cpu ?? 1}/${p.overcommit?.memory ?? 1}`,
  ]);
  return [
    table(["CELL", "REGION", "ZONE", "STRATEGY", "POOLS", "NODES", "READY", "NOT-READY", "CORDONED"], cellRows),
    table(["CELL", "ARCH", "NODES", "CPU-ALLOCATED", "CPU-ALLOCATABLE", "CPU-CAPACITY", "CPU-USE", "MEM-ALLOCATED", "MEM-ALLOCATABLE", "MEM-CAPACITY", "MEM-USE"], archRows),
    table(["NODEPOOL", "CELL", "ARCH", "VENDOR", "DESIRED", "CURRENT", "READY", "CPU/HOST", "MEM/HOST", "OVERCOMMIT(CPU/MEM)"], poolRows),
  ].join("\n");
}
