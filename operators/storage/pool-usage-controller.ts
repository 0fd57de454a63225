// Storage's share of each StoragePool's status: what the volumes carved from it hold (provisioned)
// and what is left (available), applied under storage's own field manager beside the platform's
// physical and allocatable totals. Only the product that carves a pool knows what it holds.
import { StoragePool, StoragePoolRef, storagePoolAllocatable, type StoragePoolObj } from "../api/platform.ts";
import { formatBytes } from "../api/quantity.ts";
import { VolumeRef, type VolumeObj } from "../api/storage.ts";
import type { Controller } from "../runtime/controller.ts";
import type { Manager } from "../runtime/manager.ts";
import { applyIfChanged } from "../runtime/objects.ts";
import { storageCaches, storageTallies } from "./caches.ts";

const STORAGE_FIELD_MANAGER = "cellcloud-storage";

/** The status fields storage owns on a pool. */
function poolShare(spec: StoragePoolObj["spec"], provisionedBytes: number): { provisioned: string; available: string } {
  return { provisioned: formatBytes(provisionedBytes), available: formatBytes(Math.max(0, storagePoolAllocatable(spec) - provisionedBytes)) };
}

export function setupPoolUsageController(mgr: Manager): Controller {
  const { volumes } = storageCaches(mgr);
  const pools = mgr.informer<StoragePoolObj>(StoragePoolRef);
  const poolsOf = (v: VolumeObj, old?: VolumeObj) => [...new Set([v.status?.storagePool, old?.status?.storagePool])].filter((p): p is string => Boolean(p));
  return mgr.controller("storagepool-usage").for(StoragePoolRef)
    .watches(VolumeRef, (v, old) => poolsOf(v as VolumeObj, old as VolumeObj | undefined))
    .complete(async (req) => {
      const pool = pools.get(req.name);
      if (!pool) return;
      const held = volumes.tally(storageTallies.bytesByPool, pool.metadata.name);
      const desired = { apiVersion: StoragePool.apiVersion, kind: StoragePool.kind, metadata: { name: pool.metadata.name }, status: poolShare(pool.spec, held) };
      await applyIfChanged(mgr.client, StoragePoolRef, desired, pool, STORAGE_FIELD_MANAGER, "status");
    });
}
