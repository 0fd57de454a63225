// StoragePool and ExternalIPPool arithmetic: what a pool can hand out. What is carved from it is
// counted by the products that carve it (volumes; ElasticIPs' IPAllocations). Pure.
import { storagePoolAllocatable, type ExternalIPPoolSpec, type StoragePoolSpec } from "../api/platform.ts";
import { bytes, formatBytes } from "../api/quantity.ts";
import { poolSpace } from "../runtime/ipam.ts";

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

/** Addresses the pool can hand out (CIDR math by the runtime's IPAM, from cidr-tools). */
export function ipPoolTotal(spec: ExternalIPPoolSpec): number {
  return poolSpace(spec).size;
}
