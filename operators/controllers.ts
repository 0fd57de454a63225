// Every controller the manager can run, by the name --controllers uses. A product issue adds its
// controllers here (and its RBAC rules to charts/cellcloud/templates/rbac.yaml).
import { setupCatalogControllers } from "./compute/catalog-controller.ts";
import { setupInstanceController } from "./compute/instance-controller.ts";
import { setupWidgetController } from "./demo/widget-controller.ts";
import { setupCellController } from "./platform/cell-controller.ts";
import { setupNodePoolController } from "./platform/nodepool-controller.ts";
import { setupPoolControllers } from "./platform/pools-controller.ts";
import { setupScheduler } from "./platform/scheduler/scheduler.ts";
import type { Manager } from "./runtime/manager.ts";
import { setupVolumeControllers } from "./storage/volume-controller.ts";
import { setupTenancyControllers } from "./tenancy/tenant-controller.ts";

export const controllers: Record<string, (mgr: Manager) => unknown> = {
  widget: setupWidgetController,
  scheduler: setupScheduler,
  nodepool: setupNodePoolController,
  cell: setupCellController,
  "platform-pools": setupPoolControllers,
  "compute-catalog": setupCatalogControllers,
  instance: setupInstanceController,
  volume: setupVolumeControllers,
  tenancy: setupTenancyControllers,
};
