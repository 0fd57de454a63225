// Every product loaded at once, for in-process harnesses (the e2e suites, the benches) that set up
// controllers synchronously. The manager itself (main.ts) loads only the products the controllers it
// runs need, through registry.ts: the list of products, their order and what each registers for the
// others are there, and Products.of checks this list against it.
import { billing } from "./billing/product.ts";
import { compute } from "./compute/product.ts";
import { database } from "./database/product.ts";
import { demo } from "./demo/widget-controller.ts";
import { messaging } from "./messaging/product.ts";
import { network } from "./network/product.ts";
import { platform } from "./platform/product.ts";
import { Products } from "./registry.ts";
import type { Manager } from "./runtime/manager.ts";
import type { ProductContext, Settings } from "./runtime/product.ts";
import type { WebhookServer } from "./runtime/webhook.ts";
import { storage } from "./storage/product.ts";
import { tenancy } from "./tenancy/product.ts";

const all = Products.of([demo, platform, compute, storage, network, database, messaging, tenancy, billing]);

/** Every controller by the name --controllers uses. */
export const controllers = all.controllers;

/** What every product sees of the others: the gates and charged kinds they registered, and the settings. */
export const productContext = (settings: Settings = {}): ProductContext => all.context(settings);

/** Sets up the named controllers (all by default) on `mgr`; returns what each started, by name. */
export const setupControllers = (mgr: Manager, ctx: ProductContext, names?: readonly string[]): Record<string, unknown> => all.setupControllers(mgr, ctx, names);

/** Registers every product's admission webhooks on `server`. */
export const registerWebhooks = (mgr: Manager, server: WebhookServer, ctx: ProductContext): void => all.registerWebhooks(mgr, server, ctx);
