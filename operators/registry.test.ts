import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { controllers as eager } from "./products.ts";
import { controllerNames, loadProducts, Products, productsFor, registry, unknownControllers } from "./registry.ts";
import type { Manager } from "./runtime/manager.ts";
import type { Product } from "./runtime/product.ts";

const all = registry.map((e) => e.name);
const mgr = {} as Manager;

describe("productsFor: what a manager running some controllers loads", () => {
  it("a platform or demo controller: its product alone", () => {
    expect(productsFor(["scheduler"], { webhooks: false })).toEqual(["platform"]);
    expect(productsFor(["nodepool", "cell", "platform-pools"], { webhooks: false })).toEqual(["platform"]);
    expect(productsFor(["widget"], { webhooks: false })).toEqual(["demo"]);
    expect(productsFor(["widget", "scheduler"], { webhooks: false })).toEqual(["demo", "platform"]);
  });

  it("a controller whose objects pass the gates: its product and tenancy's approval gate", () => {
    expect(productsFor(["instance"], { webhooks: false })).toEqual(["compute", "tenancy"]);
    expect(productsFor(["vpc", "subnet", "instance"], { webhooks: false })).toEqual(["compute", "network", "tenancy"]);
    expect(productsFor(["mqinstance", "dbbackup"], { webhooks: false })).toEqual(["database", "messaging", "tenancy"]);
  });

  it("tenancy (every product's charged kinds), billing (every billable kind) or the webhooks: every product", () => {
    expect(productsFor(["tenancy"], { webhooks: false })).toEqual(all);
    expect(productsFor(["billing"], { webhooks: false })).toEqual(all);
    expect(productsFor(["scheduler"], { webhooks: true })).toEqual(all);
    expect(productsFor([], { webhooks: true })).toEqual(all);
    expect(productsFor([...controllerNames], { webhooks: false })).toEqual(all);
  });

  it("no controller: no product; an unknown one: an error naming the known ones", () => {
    expect(productsFor([], { webhooks: false })).toEqual([]);
    expect(() => productsFor(["scheduler", "nope"], { webhooks: false })).toThrow(/unknown controller\(s\): nope; known: widget, scheduler/);
    expect(unknownControllers(["nope", "instance", "x"])).toEqual(["nope", "x"]);
  });
});

describe("the registry against the products", () => {
  it("names every product with its controllers and gates, in the order products.ts runs them", async () => {
    const loaded = await loadProducts();
    expect(loaded.complete).toBe(true);
    expect(loaded.products.map((p) => p.name)).toEqual(all);
    for (const [i, e] of registry.entries()) {
      const p = loaded.products[i]!;
      expect(Object.keys(p.controllers), p.name).toEqual(e.controllers);
      expect(Boolean(p.gates?.length), p.name).toBe(Boolean(e.gates));
    }
    expect(Object.keys(loaded.controllers)).toEqual(controllerNames);
    expect(Object.keys(eager)).toEqual(controllerNames);
  });

  // What a product's sources read through ProductContext decides what loads with it (productsFor).
  it("marks what each product's controllers read of the others", () => {
    const root = fileURLToPath(new URL(".", import.meta.url));
    const sources = (dir: string): string => readdirSync(dir, { withFileTypes: true, recursive: true })
      .filter((f) => f.isFile() && f.name.endsWith(".ts") && !f.name.endsWith(".test.ts"))
      .map((f) => readFileSync(path.join(f.parentPath, f.name), "utf8")).join("\n");
    for (const e of registry) {
      const src = sources(path.join(root, e.name));
      const reads = /ctx\.(charged|billable)\(/.test(src) ? "all" : /ctx\.gates\b/.test(src) ? "gates" : undefined;
      expect(e.reads, `${e.name}: reads`).toBe(reads);
    }
  });

  it("loads only the named products", async () => {
    const p = await loadProducts(["platform"]);
    expect(p.products.map((x) => x.name)).toEqual(["platform"]);
    expect(Object.keys(p.controllers)).toEqual(["scheduler", "nodepool", "cell", "platform-pools"]);
    expect(p.complete).toBe(false);
    await expect(loadProducts(["nope"])).rejects.toThrow(/unknown product\(s\): nope/);
  });

  it("refuses a product list that drifted from the registry", () => {
    const fake = (name: string, controllers: string[], gates?: Product["gates"]): Product =>
      ({ name, controllers: Object.fromEntries(controllers.map((c) => [c, () => undefined])), ...(gates ? { gates } : {}) });
    const platform = fake("platform", ["scheduler", "nodepool", "cell", "platform-pools"]);
    const demo = fake("demo", ["widget"]);
    expect(() => Products.of([demo, platform])).not.toThrow();
    expect(() => Products.of([platform, demo])).toThrow(/demo out of registry order/);
    expect(() => Products.of([fake("extra", [])])).toThrow(/extra is not in operators\/registry.ts/);
    expect(() => Products.of([fake("platform", ["scheduler"])])).toThrow(/platform has controllers scheduler; operators\/registry.ts says scheduler,nodepool,cell,platform-pools/);
    expect(() => Products.of([fake("demo", ["widget"], [{} as never])])).toThrow(/demo registers gates/);
    expect(() => Products.of([fake("tenancy", ["tenancy"])])).toThrow(/tenancy registers no gates/);
  });
});

describe("a partial set of products", () => {
  it("answers what it has, and throws rather than answer short", async () => {
    const scheduler = await loadProducts(["platform"]);
    const ctx = scheduler.context({ quotaRecountMs: 5 });
    expect(ctx.settings).toEqual({ quotaRecountMs: 5 });
    expect(() => ctx.gates).toThrow(/ProductContext.gates needs products that are not loaded/);
    expect(() => ctx.charged(mgr)).toThrow(/ProductContext.charged needs products/);
    expect(() => ctx.billable(mgr)).toThrow(/ProductContext.billable needs products/);
    expect(() => scheduler.registerWebhooks(mgr, {} as never, ctx)).toThrow(/the webhooks need every product loaded/);
    expect(() => scheduler.setupControllers(mgr, ctx, ["instance"])).toThrow(/controller\(s\) instance not loaded/);
    expect(() => scheduler.setupControllers(mgr, ctx, ["nope"])).toThrow(/unknown controller\(s\): nope/);
  });

  it("with tenancy, has the approval gate", async () => {
    const compute = await loadProducts(productsFor(["instance"], { webhooks: false }));
    const ctx = compute.context();
    expect(ctx.gates.length).toBe(1);
    expect(() => ctx.charged(mgr)).toThrow(/charged needs products/);
  });

  it("whole, has every gate", async () => {
    const whole = await loadProducts();
    expect(whole.context().gates.length).toBe(1);
  });
});
