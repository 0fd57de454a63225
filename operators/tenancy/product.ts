// Tenancy as the composition root sees it: the tenant, quota and applied-quota controllers, the
// approval gate every product's objects pass, and the admission webhooks that charge what the
// products registered.
import type { Product, ProductContext } from "../runtime/product.ts";
import type { Manager } from "../runtime/manager.ts";
import { Admission } from "./admission.ts";
import { setupAppliedQuotaController } from "./applied-quota-controller.ts";
import { approvalGate } from "./approval.ts";
import { setupLedgerController, setupQuotaController, setupUsageControllers } from "./quota-controllers.ts";
import { tenancyOf } from "./shared.ts";
import { setupTenantController } from "./tenant-controller.ts";
import { registerTenancyWebhooks } from "./webhook.ts";

const shared = (mgr: Manager, ctx: ProductContext) => tenancyOf(mgr, () => ctx.charged(mgr));

export const tenancy: Product = {
  name: "tenancy",
  controllers: {
    tenancy: (mgr, ctx) => {
      const t = shared(mgr, ctx);
      return [
        setupTenantController(mgr, t, ctx.settings.serviceAccount), setupQuotaController(mgr, t), setupLedgerController(mgr, t, ctx.settings.quotaRecountMs),
        ...setupUsageControllers(mgr, t), setupAppliedQuotaController(mgr, t),
      ];
    },
  },
  gates: [approvalGate],
  webhooks(mgr, server, ctx) {
    const t = shared(mgr, ctx);
    const admission = new Admission(t.view, t.store, mgr.client, { reservationMs: ctx.settings.quotaReservationMs, now: () => mgr.clock.now(), systemNamespace: server.namespace });
    registerTenancyWebhooks(server, t, admission);
  },
};
