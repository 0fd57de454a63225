// The composition root: every product the manager can run, and what each registers for the others
// (charged kinds for tenancy, gates for every product's objects, admission webhooks). Products never
// import each other; they meet here and through the API objects and contracts in api/.
import { billing } from "./billing/product.ts";
import { compute } from "./compute/product.ts";
import { database } from "./database/product.ts";
import { demo } from "./demo/widget-controller.ts";
import { messaging } from "./messaging/product.ts";
import { network } from "./network/product.ts";
import { platform } from "./platform/product.ts";
import type { Manager } from "./runtime/manager.ts";
import type { BillableKind, Product, ProductContext, Settings } from "./runtime/product.ts";
import type { WebhookServer } from "./runtime/webhook.ts";
import { storage } from "./storage/product.ts";
import { tenancy } from "./tenancy/product.ts";
import type { ChargedKind } from "./api/tenancy.ts";

const products: readonly Product[] = [demo, platform, compute, storage, network, database, messaging, tenancy, billing];

/** Every controller by the name --controllers uses. */
export const controllers: Record<string, Product["controllers"][string]> = Object.assign({}, ...products.map((p) => p.controllers));

/** What every product sees of the others: the gates and charged kinds they registered, and the settings. */
export function productContext(settings: Settings = {}): ProductContext {
  const charged = new WeakMap<Manager, ChargedKind[]>();
  const billable = new WeakMap<Manager, BillableKind[]>();
  return {
    gates: products.flatMap((p) => p.gates ?? []),
    charged(mgr) {
      let kinds = charged.get(mgr);
      if (!kinds) charged.set(mgr, (kinds = products.flatMap((p) => p.charged?.(mgr) ?? [])));
      return kinds;
    },
    billable(mgr) {
      let kinds = billable.get(mgr);
      if (!kinds) billable.set(mgr, (kinds = products.flatMap((p) => p.billable?.(mgr) ?? [])));
      return kinds;
    },
    settings,
  };
}

/** Sets up the named controllers (all by default) on `mgr`; returns what each started, by name. */
export function setupControllers(mgr: Manager, ctx: ProductContext, names: readonly string[] = Object.keys(controllers)): Record<string, unknown> {
  const unknown = names.filter((n) => !controllers[n]);
  if (unknown.length) throw new Error(`unknown controller(s): ${unknown.join(", ")}; known: ${Object.keys(controllers).join(", ")}`);
  return Object.fromEntries(names.map((n) => [n, controllers[n]!(mgr, ctx)]));
}

/** Registers every product's admission webhooks on `server`. */
export function registerWebhooks(mgr: Manager, server: WebhookServer, ctx: ProductContext): void {
  for (const p of products) p.webhooks?.(mgr, server, ctx);
}
