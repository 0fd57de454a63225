// The platform as the composition root sees it: the cell scheduler, cells, node pools and the
// storage and external IP pools' totals.
import type { Product } from "../runtime/product.ts";
import { setupCellController } from "./cell-controller.ts";
import { setupNodePoolController } from "./nodepool-controller.ts";
import { setupPoolControllers } from "./pools-controller.ts";
import { setupScheduler } from "./scheduler/scheduler.ts";

export const platform: Product = {
  name: "platform",
  controllers: {
    scheduler: (mgr) => setupScheduler(mgr),
    nodepool: (mgr) => setupNodePoolController(mgr),
    cell: (mgr) => setupCellController(mgr),
    "platform-pools": (mgr) => setupPoolControllers(mgr),
  },
};
