// StoragePool and ExternalIPPool status, the platform's share of it: physical and allocatable
// totals and Ready (False with CellNotFound while the Cell they name is missing). What is carved
// from a storage pool is written by the product that carves it (storage: provisioned and available),
// under its own field manager; an external pool's allocated and free are counted here from the
// IPAllocations that name it (the allocations are the truth).
import { CellRef, ExternalIPPoolRef, StoragePoolRef, type CellObj, type ExternalIPPoolObj, type StoragePoolObj } from "../api/platform.ts";
import type { ConditionInput } from "../runtime/conditions.ts";
import type { ControllerBuilder, Manager } from "../runtime/manager.ts";
import { IPAllocationRef, type IPAllocationObj } from "../api/network.ts";
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
function poolController<T extends WithCell>(
  mgr: Manager, name: string, ref: ResourceRef, totals: (pool: T) => { fields: Record<string, unknown>; message: string },
  more: (b: ControllerBuilder) => ControllerBuilder = (b) => b,
) {
  const pools = mgr.informer<T>(ref);
  const cells = mgr.informer<CellObj>(CellRef);
  const index = `platform.cellcloud.io/${name}-cell`;
  pools.addIndexer(index, byCell);
  return more(mgr.controller(name).for(ref)
    .watches(CellRef, (cell) => pools.byIndex(index, cell.metadata.name).map((p) => p.metadata.name), { predicate: generationChanged }))
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
    externalIPPools(mgr),
  ];
}

/** ExternalIPPools count the addresses ElasticIPs hold from them (their IPAllocations), a burst of changes a second. */
function externalIPPools(mgr: Manager) {
  const allocations = mgr.informer<IPAllocationObj>(IPAllocationRef);
  allocations.addIndexer(BY_POOL, byPool);
  return poolController<ExternalIPPoolObj>(mgr, "externalippool", ExternalIPPoolRef, (p) => {
    const total = ipPoolTotal(p.spec);
    const allocated = allocations.byIndex(BY_POOL, p.metadata.name).length;
    const free = Math.max(0, total - allocated);
    return { fields: { total, allocated, free }, message: `${free} of ${total} addresses free` };
  }, (b) => b.watches(IPAllocationRef, (a) => byPool(a as IPAllocationObj), { delayMs: 1_000 }));
}
const BY_POOL = "platform.cellcloud.io/allocation-pool";
const byPool = (a: IPAllocationObj) => (a.spec.pool ? [a.spec.pool] : []);
