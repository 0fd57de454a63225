// StoragePool and ExternalIPPool status: their totals and Ready (False with CellNotFound while the
// Cell they name is missing). A StoragePool's provisioned total is the sum of the Volumes carved
// from it (their status.capacity); ElasticIP allocation lands with the network product.
import type { ConditionInput } from "../runtime/conditions.ts";
import type { Manager } from "../runtime/manager.ts";
import { withCondition, writeStatus } from "../runtime/status.ts";
import type { KubeObject, ResourceRef } from "../runtime/types.ts";
import { CellRef, ExternalIPPoolRef, StoragePoolRef, onSpecChange, type CellObj, type ExternalIPPoolObj, type StoragePoolObj } from "./caches.ts";
import { ipPoolTotal, storageTotals } from "./pools.ts";
import { bytes } from "./quantity.ts";
import { storageIndexes, volumeCache } from "../storage/volume-controller.ts";

type WithCell = KubeObject & { spec: { cell?: string } };

function cellCondition(cells: { get(name: string): CellObj | undefined }, cell: string | undefined, ready: string): ConditionInput {
  if (cell && !cells.get(cell)) {
    return { type: "Ready", status: "False", reason: "CellNotFound", message: `Cell ${cell} does not exist` };
  }
  return { type: "Ready", status: "True", reason: "Available", message: ready };
}

/** One status-only controller per pool kind: status = totals(pool), Ready from whether its Cell exists. */
function poolController<T extends WithCell>(mgr: Manager, name: string, ref: ResourceRef, totals: (pool: T) => { fields: Record<string, unknown>; message: string }) {
  const pools = mgr.informer<T>(ref);
  const cells = mgr.informer<CellObj>(CellRef);
  const byCell = `platform.cellcloud.io/${name}-cell`;
  pools.addIndexer(byCell, (p) => (p.spec.cell ? [p.spec.cell] : []));
  const controller = mgr.controller(name).for(ref)
    .complete(async (req) => {
      const pool = pools.get(req.name);
      if (!pool) return;
      const { fields, message } = totals(pool);
      const status = withCondition(pool, cellCondition(cells, pool.spec.cell, message));
      await writeStatus(mgr.client, ref, pool, { ...status, ...fields });
    });
  onSpecChange(cells, (cell) => {
    for (const p of pools.byIndex(byCell, cell.metadata.name)) controller.enqueue(p.metadata.name);
  });
  return controller;
}

export function setupPoolControllers(mgr: Manager): unknown[] {
  const volumes = volumeCache(mgr);
  const provisioned = (pool: string) => volumes.byIndex(storageIndexes.volumesByPool, pool)
    .reduce((a, v) => a + (v.status?.capacity ? bytes(v.status.capacity) : 0), 0);
  const storage = poolController<StoragePoolObj>(mgr, "storagepool", StoragePoolRef, (p) => {
    const t = storageTotals(p.spec, provisioned(p.metadata.name));
    return { fields: { ...t }, message: `${t.available} of ${t.allocatable} available (${t.physical} physical, ${t.provisioned} provisioned)` };
  });
  volumes.addHandler((_t, v, old) => {
    for (const pool of new Set([v.status?.storagePool, old?.status?.storagePool])) if (pool) storage.enqueue(pool);
  });
  return [
    storage,
    poolController<ExternalIPPoolObj>(mgr, "externalippool", ExternalIPPoolRef, (p) => {
      const total = ipPoolTotal(p.spec);
      return { fields: { total, allocated: 0, free: total }, message: `${total} of ${total} addresses free` };
    }),
  ];
}
