// billing.cellcloud.io: what the cloud charges. A PriceList holds unit prices in integer minor units
// (global, or one tenant's override with a discount); metering records every billable change of every
// product object in a PostgreSQL ledger (not etcd); an hourly rater turns them into rows with
// deterministic keys; a Bill per tenant per month carries bounded totals; a Subscription buys periods
// of any billable object, chained exactly, each charged once. See README.md, "Billing".
import { z } from "zod";
import { count, immutable, labelValue, observed, refName } from "./common.ts";
import { defineKind, refOf, type CelValidation } from "./crd.ts";
import type { KubeObject } from "./meta.ts";
import { architectures } from "./platform.ts";

const GROUP = "billing.cellcloud.io";
const VERSION = "v1alpha1";

/** The products a price names (one per product that registers meters). */
export const PRODUCTS = ["ecs", "evs", "eip", "slb", "rds", "mq"] as const;
export type ProductName = (typeof PRODUCTS)[number];

/**
 * Meters, each priced per unit-hour: vCPU-hours, GiB-hours of memory and of disk (by volume type),
 * flavor-hours (an instance priced per flavor instead of per core and GiB), Mbit/s-hours of an
 * ElasticIP's egress bandwidth, data-plane node hours of a load balancer, database members, brokers.
 */
export const METERS = ["cpu.core-hour", "memory.GiB-hour", "disk.GiB-hour", "instance.flavor-hour", "eip.Mbps-hour", "slb.node-hour", "db.node-hour", "mq.node-hour"] as const;
export type MeterName = (typeof METERS)[number];

/** What one object uses now: `quantity` units of `meter` (integer thousandths: 500 = half a unit). */
export interface Meter {
  product: ProductName;
  meter: MeterName;
  /** Thousandths of a unit, so 0.5 GiB is 500: the ledger never holds a float. */
  milli: number;
  zone: string;
  arch: string;
  /** The volume type of a disk, the flavor of a flavor-hour, a DB or MQ flavor; "" when none. */
  variant: string;
}

// ==================== PriceList ====================

const priceItem = z
  .object({
    product: z.enum(PRODUCTS).describe("The product: ecs, evs, eip, slb, rds or mq."),
    meter: z.enum(METERS).describe("What is priced, per unit-hour, e.g. cpu.core-hour or disk.GiB-hour."),
    zone: labelValue("Only in this zone; empty: every zone.").optional(),
    arch: z.enum(architectures).optional().describe("Only on this architecture (amd64 or arm64); empty: both."),
    variant: z.string().max(63).regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/).optional()
      .describe("Only for this volume type (disk.GiB-hour) or flavor (instance.flavor-hour, db/mq node-hour); empty: all."),
    unitPrice: z.int().min(0).max(1_000_000_000_000).describe("Price of one unit for one hour, in minor units (1/spec.scale of the currency). The most specific matching item wins."),
  })
  .describe("One price.");

const priceListSpec = z
  .object({
    currency: z.string().regex(/^[A-Z]{3}$/).describe("ISO 4217 currency, e.g. CNY or EUR. Every PriceList must use the same currency and scale. Immutable.").meta(immutable("spec.currency")),
    scale: z.int().min(1).max(1_000_000_000).default(1_000_000)
      .describe("Minor units per currency unit: 1000000 makes unitPrice millionths (money stays integer). Immutable.").meta(immutable("spec.scale")),
    effectiveFrom: z.iso.datetime().describe("From when these prices apply (RFC 3339). The list with the latest effectiveFrom not after an hour prices that hour. Immutable: publish a new PriceList to change prices.")
      .meta(immutable("spec.effectiveFrom")),
    tenant: refName("A tenant this list overrides prices for (and its departments, unless one has its own); empty: the global list. Immutable.").max(63).optional()
      .meta(immutable("spec.tenant")),
    discountBasisPoints: z.int().min(0).max(10_000).default(0)
      .describe("A tenant list's discount on every line of the tenant's bill, in basis points (250 = 2.5%). Immutable.").meta(immutable("spec.discountBasisPoints")),
    items: z.array(priceItem).max(512).default([])
      .describe("The prices. For a tenant with its own list, a meter its list prices takes that price; any other meter takes the global list's. Immutable.")
      .meta(immutable("spec.items")),
    description: z.string().max(256).optional().describe("Free text for people (the only field that may change)."),
  })
  .describe("Unit prices in integer minor units, effective from a time. Immutable once created: publish a new version instead.");

const priceListValidations: CelValidation[] = [
  { rule: "has(self.tenant) || !has(self.discountBasisPoints) || self.discountBasisPoints == 0", message: "spec.discountBasisPoints applies to a tenant's list only (set spec.tenant)", fieldPath: ".discountBasisPoints" },
  // a change to a missing optional field escapes the per-field rules
  { rule: "has(self.tenant) == has(oldSelf.tenant)", message: "spec.tenant is immutable", fieldPath: ".tenant" },
];

export const PriceList = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "PriceList",
  plural: "pricelists",
  shortNames: ["pl"],
  scope: "Cluster",
  description: "PriceList is a version of the cloud's unit prices (global, or a tenant's override with a discount), in integer minor units, effective from a time and immutable.",
  spec: priceListSpec,
  status: z
    .object({
      ...observed,
      state: z.enum(["Scheduled", "Effective", "Superseded"]).optional().describe("Scheduled: effectiveFrom is in the future; Effective: it prices the current hour; Superseded: a later list does."),
      items: count("Prices in the list."),
    })
    .describe("Observed state of the price list."),
  printerColumns: [
    { name: "Currency", type: "string", jsonPath: ".spec.currency" },
    { name: "Tenant", type: "string", jsonPath: ".spec.tenant" },
    { name: "From", type: "string", jsonPath: ".spec.effectiveFrom" },
    { name: "State", type: "string", jsonPath: ".status.state" },
    { name: "Items", type: "integer", jsonPath: ".status.items", priority: 1 },
  ],
  validations: priceListValidations,
});
export type PriceListSpec = z.output<typeof priceListSpec>;
export type PriceItem = z.output<typeof priceItem>;
export type PriceListObj = KubeObject & { spec: PriceListSpec; status?: { state?: string; items?: number } };

// ==================== Bill ====================

const billTotal = z
  .object({
    product: z.string().max(16).describe("The product."),
    meter: z.string().max(32).describe("The meter."),
    zone: z.string().max(63).describe("The zone; \"-\" when none."),
    arch: z.string().max(16).describe("The architecture; \"-\" when none."),
    quantity: z.string().max(32).describe("Unit-hours used (a decimal, e.g. 1488.5)."),
    amount: z.int().describe("Charged, in minor units, after the tenant's discount (each line rounded once)."),
  })
  .describe("A total per product, meter, zone and architecture.");

const billSpec = z
  .object({
    tenant: refName("The tenant billed. Immutable.").max(63).meta(immutable("spec.tenant")),
    month: z.string().regex(/^[0-9]{4}-(0[1-9]|1[0-2])$/).describe("The month billed, YYYY-MM (UTC). Immutable.").meta(immutable("spec.month")),
    purchaseOrder: z.string().max(128).optional().describe("A reference printed on the bill (the only field that may change)."),
  })
  .describe("The tenant and month (the controller creates one Bill per tenant per month in the tenant's first namespace, named <tenant>-<YYYY-MM>).");

export const Bill = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "Bill",
  plural: "bills",
  shortNames: ["bill"],
  scope: "Namespaced",
  description: "Bill is a tenant's charges for one month: bounded totals per product, meter, zone and architecture (per-resource lines stay in the ledger database and come as CSV from the manager).",
  spec: billSpec,
  status: z
    .object({
      ...observed,
      phase: z.enum(["Open", "Closing", "Finalized"]).optional().describe("Open: the month runs; Closing: it ended and its last hours are being rated; Finalized: rated to its end, totals final."),
      currency: z.string().max(3).optional().describe("The currency."),
      scale: z.int().optional().describe("Minor units per currency unit."),
      ratedUntil: z.string().optional().describe("The rating watermark the totals include (RFC 3339)."),
      pricing: z.enum(["Enabled", "Disabled"]).optional().describe("Disabled: the tenant (or an ancestor) has pricing off; usage is metered, nothing is charged."),
      deduction: z.enum(["Enabled", "Disabled"]).optional().describe("Disabled: the total is not deducted from the tenant's account (invoiced only)."),
      totals: z.array(billTotal).max(1024).optional().describe("Totals per product × meter × zone × arch (bounded by the price catalogue, not by the number of resources)."),
      usageAmount: z.int().optional().describe("Pay-as-you-go charges, minor units."),
      subscriptionAmount: z.int().optional().describe("Subscription periods bought this month, minor units."),
      total: z.int().optional().describe("usageAmount + subscriptionAmount, minor units."),
      deducted: z.int().optional().describe("What was deducted from the tenant's account for this bill, minor units (once, at finalization)."),
      lineItems: count("Per-resource lines in the ledger (GET /billing/v1/bills/<namespace>/<name>.csv on the manager)."),
      checksum: z.string().max(80).optional().describe("sha256 of the bill's lines: closing the month again gives the same value."),
    })
    .describe("Observed state of the bill."),
  printerColumns: [
    { name: "Tenant", type: "string", jsonPath: ".spec.tenant" },
    { name: "Month", type: "string", jsonPath: ".spec.month" },
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Currency", type: "string", jsonPath: ".status.currency" },
    { name: "Total", type: "integer", jsonPath: ".status.total" },
  ],
});
export type BillSpec = z.output<typeof billSpec>;
export type BillStatus = NonNullable<z.output<typeof Bill.status>>;
export type BillTotal = z.output<typeof billTotal>;
export type BillObj = KubeObject & { spec: BillSpec; status?: BillStatus };

// ==================== Subscription ====================

const subscriptionSpec = z
  .object({
    resource: z.object({
      kind: z.enum(["Instance", "Volume", "ElasticIP", "LoadBalancer", "DBInstance", "MQInstance"]).describe("The kind of the billable object (in this namespace)."),
      name: refName("Its name."),
    }).describe("The object this subscription pays for, in this namespace. Immutable.").meta(immutable("spec.resource")),
    period: z.object({
      unit: z.enum(["Month", "Year"]).describe("Month or Year."),
      count: z.int().min(1).max(36).default(1).describe("How many units one period is."),
    }).describe("One period. Periods are chained exactly from the start: period n ends n periods after it (a month clamps to the last day, without drift). Immutable.")
      .meta(immutable("spec.period")),
    autoRenew: z.boolean().default(false).describe("Buy the next period spec.renewBeforeHours before the current one ends."),
    renewBeforeHours: z.int().min(0).max(8760).default(72).describe("How long before the end an automatic renewal is charged."),
    renewals: z.int().min(0).max(1200).default(0)
      .describe("Periods bought by hand beyond the first: raise it by one to renew once (also during the grace period, which restores a stopped object). It can only grow."),
    gracePeriodHours: z.int().min(0).max(8760).default(168)
      .describe("After expiry the object is stopped; after this long unrenewed it is deleted (the recycle bin)."),
    cancelled: z.boolean().default(false)
      .describe("Unsubscribe: no renewal is charged any more; the paid periods run to their end, after which the object stays and is charged pay-as-you-go. Periods paid that have not started are refunded in full; the running one is not."),
  })
  .describe("Which object, the period, and how it renews.");

const subscriptionValidations: CelValidation[] = [
  { rule: "self.renewals >= oldSelf.renewals", message: "spec.renewals can only grow: a bought period is refunded by spec.cancelled", fieldPath: ".renewals" },
];

export const Subscription = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "Subscription",
  plural: "subscriptions",
  shortNames: ["sub"],
  scope: "Namespaced",
  description: "Subscription buys periods (months or years) of a billable object instead of pay-as-you-go: each period charged once, renewed by hand or automatically; an expired object is stopped, then deleted after a grace period unless renewed.",
  spec: subscriptionSpec,
  status: z
    .object({
      ...observed,
      phase: z.enum(["Active", "Expired", "Deleted", "Cancelled"]).optional().describe("Active: a paid period runs; Expired: stopped, within the grace period; Deleted: the object was deleted after the grace period; Cancelled: unsubscribed and the paid periods ended."),
      start: z.string().optional().describe("When period 0 began (RFC 3339): every period is counted from it."),
      paidPeriods: count("Periods charged (0..paidPeriods-1)."),
      periodStart: z.string().optional().describe("Start of the period running now (or the last one)."),
      expiresAt: z.string().optional().describe("End of the last paid period."),
      lastCharge: z.int().optional().describe("What the last period cost, minor units."),
      refunded: z.int().optional().describe("Refunded on cancellation, minor units."),
    })
    .describe("Observed state of the subscription."),
  printerColumns: [
    { name: "Kind", type: "string", jsonPath: ".spec.resource.kind" },
    { name: "Resource", type: "string", jsonPath: ".spec.resource.name" },
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Expires", type: "string", jsonPath: ".status.expiresAt" },
    { name: "Auto", type: "boolean", jsonPath: ".spec.autoRenew" },
  ],
  validations: subscriptionValidations,
});
export type SubscriptionSpec = z.output<typeof subscriptionSpec>;
export type SubscriptionStatus = NonNullable<z.output<typeof Subscription.status>>;
export type SubscriptionObj = KubeObject & { spec: SubscriptionSpec; status?: SubscriptionStatus };

export const billingKinds = [PriceList, Bill, Subscription];
export const PriceListRef = refOf(PriceList);
export const BillRef = refOf(Bill);
export const SubscriptionRef = refOf(Subscription);

/** A Bill's name: "<tenant>-<YYYY-MM>". */
export const billName = (tenant: string, month: string) => `${tenant}-${month}`;
/** The dry-run estimate a webhook writes on a billable object ("hourly=… monthly=… CNY"). */
export const ESTIMATE_ANNOTATION = "billing.cellcloud.io/estimate";
/** Set on an object its subscription stopped at expiry, so a renewal knows to start it again. */
export const EXPIRED_ANNOTATION = "billing.cellcloud.io/expired-at";

/** One meter of a product object: `units` (e.g. 2 vCPUs, 0.5 GiB) as integer thousandths. */
export function meter(product: ProductName, name: MeterName, units: number, dims: { zone?: string; arch?: string; variant?: string } = {}): Meter {
  return { product, meter: name, milli: Math.round(units * 1000), zone: dims.zone ?? "", arch: dims.arch ?? "", variant: dims.variant ?? "" };
}
