// The composition root's registry: every product the manager can run, in order, with the names of its
// controllers and how to load it. The manager (main.ts) loads only the products the controllers it
// runs need, so --help loads none and a partial manager (--controllers=scheduler) only its own: a
// restarted or failed-over manager starts its informers that much sooner. products.ts loads them all
// at once for in-process harnesses. Products never import each other; they meet here and through
// the API objects and contracts in api/.
import type { ChargedKind } from "./api/tenancy.ts";
import type { Manager } from "./runtime/manager.ts";
import type { BillableKind, Product, ProductContext, Settings } from "./runtime/product.ts";
import type { WebhookServer } from "./runtime/webhook.ts";

export interface Entry {
  name: string;
  /** Its controllers, by the name --controllers uses (checked against the product when it loads). */
  controllers: readonly string[];
  /** It registers gates for every product's objects (checked when it loads). */
  gates?: boolean;
  /**
   * What its controllers read of the other products through ProductContext: "gates" (the products
   * with gates load with it) or "all" (every product's charged or billable kinds: every product loads).
   */
  reads?: "gates" | "all";
  load(): Promise<Product>;
}

export const registry: readonly Entry[] = [
  { name: "demo", controllers: ["widget"], load: async () => (await import("./demo/widget-controller.ts")).demo },
  { name: "platform", controllers: ["scheduler", "nodepool", "cell", "platform-pools"], load: async () => (await import("./platform/product.ts")).platform },
  { name: "compute", controllers: ["compute-catalog", "instance"], reads: "gates", load: async () => (await import("./compute/product.ts")).compute },
  { name: "storage", controllers: ["volume"], reads: "gates", load: async () => (await import("./storage/product.ts")).storage },
  { name: "network", controllers: ["vpc", "subnet", "securitygroup", "elasticip", "loadbalancer"], reads: "gates", load: async () => (await import("./network/product.ts")).network },
  { name: "database", controllers: ["dbinstance", "dbbackup"], reads: "gates", load: async () => (await import("./database/product.ts")).database },
  { name: "messaging", controllers: ["mqinstance", "mqtopic", "mquser"], reads: "gates", load: async () => (await import("./messaging/product.ts")).messaging },
  { name: "tenancy", controllers: ["tenancy"], gates: true, reads: "all", load: async () => (await import("./tenancy/product.ts")).tenancy },
  { name: "billing", controllers: ["billing"], reads: "all", load: async () => (await import("./billing/product.ts")).billing },
];

/** Every controller by the name --controllers uses, in registry order. */
export const controllerNames: readonly string[] = registry.flatMap((e) => e.controllers);

/** The names among `names` that are no controller. */
export const unknownControllers = (names: readonly string[]): string[] => names.filter((n) => !controllerNames.includes(n));

/**
 * The products (in registry order) a manager running `controllers` must load: theirs, the products
 * with gates when one of them passes gates, every product when one of them reads every product's
 * kinds or when the webhooks are served (each product registers its own).
 */
export function productsFor(controllers: readonly string[], opts: { webhooks: boolean }): string[] {
  const unknown = unknownControllers(controllers);
  if (unknown.length) throw new Error(`unknown controller(s): ${unknown.join(", ")}; known: ${controllerNames.join(", ")}`);
  const owners = registry.filter((e) => e.controllers.some((c) => controllers.includes(c)));
  const all = opts.webhooks || owners.some((e) => e.reads === "all");
  const gated = owners.some((e) => e.reads === "gates");
  return registry.filter((e) => all || owners.includes(e) || (gated && e.gates)).map((e) => e.name);
}

/** Loads the named products (all by default), checking each against its registry entry. */
export async function loadProducts(names: readonly string[] = registry.map((e) => e.name)): Promise<Products> {
  const missing = names.filter((n) => !registry.some((e) => e.name === n));
  if (missing.length) throw new Error(`unknown product(s): ${missing.join(", ")}`);
  return Products.of(await Promise.all(registry.filter((e) => names.includes(e.name)).map((e) => e.load())));
}

type Setup = Product["controllers"][string];

/** Loaded products: what each registered for the others, their controllers and webhooks. */
export class Products {
  readonly products: readonly Product[];
  /** Every controller of these products by the name --controllers uses. */
  readonly controllers: Record<string, Setup>;
  /** Every product of the registry is here (the charged and billable kinds and the webhooks are whole). */
  readonly complete: boolean;
  /** Every product with gates is here (the gates are whole). */
  private readonly gated: boolean;

  private constructor(products: readonly Product[]) {
    this.products = products;
    this.controllers = Object.assign({}, ...products.map((p) => p.controllers));
    const have = (e: Entry) => products.some((p) => p.name === e.name);
    this.complete = registry.every(have);
    this.gated = registry.filter((e) => e.gates).every(have);
  }

  /** `products`, checked against the registry: known names in registry order, each with the controllers and gates its entry says. */
  static of(products: readonly Product[]): Products {
    const order = products.map((p) => registry.findIndex((e) => e.name === p.name));
    order.forEach((i, k) => {
      const p = products[k]!;
      const e = registry[i];
      if (!e) throw new Error(`product ${p.name} is not in operators/registry.ts`);
      if (k > 0 && i <= order[k - 1]!) throw new Error(`product ${p.name} out of registry order (operators/registry.ts)`);
      const has = Object.keys(p.controllers);
      if (has.join(",") !== e.controllers.join(",")) throw new Error(`product ${p.name} has controllers ${has.join(",")}; operators/registry.ts says ${e.controllers.join(",")}`);
      if (Boolean(p.gates?.length) !== Boolean(e.gates)) throw new Error(`product ${p.name} ${p.gates?.length ? "registers" : "registers no"} gates; operators/registry.ts says otherwise`);
    });
    return new Products(products);
  }

  /**
   * What every product sees of the others: the gates and charged kinds they registered, and the
   * settings. Of a partial set, what needs products that are not loaded throws rather than answering
   * short (an approval gate or a charged kind silently missing): productsFor decides what loads.
   */
  context(settings: Settings = {}): ProductContext {
    const { products, complete } = this;
    const partial = (what: string) => new Error(`${what} needs products that are not loaded: mark what reads it in operators/registry.ts`);
    const gates = this.gated ? products.flatMap((p) => p.gates ?? []) : undefined;
    const charged = new WeakMap<Manager, ChargedKind[]>();
    const billable = new WeakMap<Manager, BillableKind[]>();
    return {
      get gates() {
        if (!gates) throw partial("ProductContext.gates");
        return gates;
      },
      charged(mgr) {
        if (!complete) throw partial("ProductContext.charged");
        let kinds = charged.get(mgr);
        if (!kinds) charged.set(mgr, (kinds = products.flatMap((p) => p.charged?.(mgr) ?? [])));
        return kinds;
      },
      billable(mgr) {
        if (!complete) throw partial("ProductContext.billable");
        let kinds = billable.get(mgr);
        if (!kinds) billable.set(mgr, (kinds = products.flatMap((p) => p.billable?.(mgr) ?? [])));
        return kinds;
      },
      settings,
    };
  }

  /** Sets up the named controllers (all of these products' by default) on `mgr`; returns what each started, by name. */
  setupControllers(mgr: Manager, ctx: ProductContext, names: readonly string[] = Object.keys(this.controllers)): Record<string, unknown> {
    const unknown = names.filter((n) => !this.controllers[n]);
    if (unknown.length) {
      const notLoaded = unknown.filter((n) => controllerNames.includes(n));
      throw new Error(notLoaded.length
        ? `controller(s) ${notLoaded.join(", ")} not loaded (productsFor decides what loads)`
        : `unknown controller(s): ${unknown.join(", ")}; known: ${controllerNames.join(", ")}`);
    }
    return Object.fromEntries(names.map((n) => [n, this.controllers[n]!(mgr, ctx)]));
  }

  /** Registers every product's admission webhooks on `server`. */
  registerWebhooks(mgr: Manager, server: WebhookServer, ctx: ProductContext): void {
    if (!this.complete) throw new Error("the webhooks need every product loaded");
    for (const p of this.products) p.webhooks?.(mgr, server, ctx);
  }
}
