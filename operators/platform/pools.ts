// StoragePool and ExternalIPPool arithmetic: what a pool can hand out. Allocation itself lands with
// the Volume and ElasticIP products; until then nothing is provisioned or allocated. Pure.
import { storagePoolAllocatable, type ExternalIPPoolSpec, type StoragePoolSpec } from "../api/platform.ts";
import { bytes, formatBytes } from "../api/quantity.ts";

export interface StorageTotals {
  physical: string;
  allocatable: string;
  provisioned: string;
  available: string;
}

/** Thin provisioning: volumes may add up to physical × oversubscription ratio. */
export function storageTotals(spec: StoragePoolSpec, provisionedBytes = 0): StorageTotals {
  const physical = bytes(spec.capacity);
  const allocatable = storagePoolAllocatable(spec);
  return {
    physical: formatBytes(physical),
    allocatable: formatBytes(allocatable),
    provisioned: formatBytes(provisionedBytes),
    available: formatBytes(Math.max(0, allocatable - provisionedBytes)),
  };
}

/** An IPv4 address as an unsigned 32-bit number, or undefined if it is not one. */
export function ipv4(text: string): number | undefined {
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
  return parts.reduce((a, p) => a * 256 + Number(p), 0);
}

interface Range {
  first: number; // first handed-out address
  last: number;
}

/** The addresses of a CIDR that can be handed out: all of a /31 or /32, else all but network and broadcast. */
export function usableRange(cidr: string): Range | undefined {
  const [addr = "", bits = ""] = cidr.split("/");
  const base = ipv4(addr);
  const prefix = Number(bits);
  if (base === undefined || !/^\d{1,2}$/.test(bits) || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const network = base - (base % size);
  return prefix >= 31 ? { first: network, last: network + size - 1 } : { first: network + 1, last: network + size - 2 };
}

/** Usable addresses in the pool's CIDRs minus the excluded ones that fall inside them. */
export function ipPoolTotal(spec: ExternalIPPoolSpec): number {
  const ranges = spec.cidrs.flatMap((c) => usableRange(c) ?? []);
  const inside = (ip: number) => ranges.some((r) => ip >= r.first && ip <= r.last);
  const excluded = new Set((spec.excludedIPs ?? []).flatMap((t) => ipv4(t) ?? []).filter(inside));
  return ranges.reduce((a, r) => a + r.last - r.first + 1, 0) - excluded.size;
}
