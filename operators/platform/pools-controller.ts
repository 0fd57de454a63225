// StoragePool and ExternalIPPool status, the platform's share of it: physical and allocatable
// totals and Ready (False with CellNotFound while the Cell they name is missing). What is carved
// from a pool is written by the product that carves it (storage: provisioned and available), under
// its own field manager; this controller leaves those fields alone.
import { CellRef, ExternalIPPoolRef, StoragePoolRef, type CellObj, type ExternalIPPoolObj, type StoragePoolObj } from "../api/platform.ts";
import type { ConditionInput } from "../runtime/conditions.ts";
import type { Manager } from "../runtime/manager.ts";
import { generationChanged } from "../runtime/predicates.ts";
import { withCondition, writeStatus } from "../runtime/status.ts";
import type { KubeObject, ResourceRef } from "../runtime/types.ts";
import { ipPoolTotal, storageTotals } from "./pools.ts";

type WithCell = KubeObject & { spec: { cell?: string } };

function cellCondition(cells: { get(name: string): CellObj | undefined }, cell: string | undefined, ready: string): ConditionInput {
  if (cell && !cells.get(cell)) {
    return { type: "Ready", status: "False", reason: "CellNotFound", message: `Cell ${cell} does not exist` };
  }
  return { type: "Ready", status: "True", reason: "Available", message: ready };
}

const byCell = (p: WithCell): string[] => (p.spec.cell ? [p.spec.cell] : []);

/** One status-only controller per pool kind: its share of status = totals(pool), Ready from whether its Cell exists. */
function poolController<T extends WithCell>(mgr: Manager, name: string, ref: ResourceRef, totals: (pool: T) => { fields: Record<string, unknown>; message: string }) {
  const pools = mgr.informer<T>(ref);
  const cells = mgr.informer<CellObj>(CellRef);
  const index = `platform.cellcloud.io/${name}-cell`;
  pools.addIndexer(index, byCell);
  return mgr.controller(name).for(ref)
    .watches(CellRef, (cell) => pools.byIndex(index, cell.metadata.name).map((p) => p.metadata.name), { predicate: generationChanged })
    .complete(async (req) => {
      const pool = pools.get(req.name);
      if (!pool) return;
      const { fields, message } = totals(pool);
      const status = withCondition(pool, cellCondition(cells, pool.spec.cell, message), mgr.clock);
      await writeStatus(mgr.client, ref, pool, { ...status, ...fields });
    });
}

export function setupPoolControllers(mgr: Manager): unknown[] {
  return [
    poolController<StoragePoolObj>(mgr, "storagepool", StoragePoolRef, (p) => {
      const t = storageTotals(p.spec);
      return { fields: { physical: t.physical, allocatable: t.allocatable }, message: `${t.allocatable} allocatable (${t.physical} physical × ${p.spec.oversubscriptionRatio})` };
    }),
    poolController<ExternalIPPoolObj>(mgr, "externalippool", ExternalIPPoolRef, (p) => {
      const total = ipPoolTotal(p.spec);
      return { fields: { total, allocated: 0, free: total }, message: `${total} of ${total} addresses free` };
    }),
  ];
}
