// Prices (pure): which PriceList prices an hour for a tenant, which item prices a meter, and money
// arithmetic on integers only (BigInt), rounded once per bill line, half away from zero (as
// PostgreSQL's round(numeric) does, so the ledger's SQL and this agree to the minor unit).
import type { Meter, PriceItem, PriceListObj } from "../api/billing.ts";

export const HOUR_MS = 3_600_000;
/** milli-units × seconds per unit-hour: 1000 × 3600. */
const PER_UNIT_HOUR = 3_600_000n;
const BASIS = 10_000n;

export interface PriceBook {
  /** The lists that price it, e.g. "standard-2026" or "standard-2026+acme-2026" (recorded on each row). */
  list: string;
  currency: string;
  scale: number;
  discountBp: number;
  /** False when the tenant's pricing switch is off: every price is 0. */
  priced: boolean;
  /** Minor units per unit-hour of the meter (0 when nothing prices it). */
  price(m: Meter): number;
}

const ms = (iso: string) => Date.parse(iso);

/** The latest list (by effectiveFrom, then name) among `lists` in effect at `at`. */
function latest(lists: readonly PriceListObj[], at: number): PriceListObj | undefined {
  let best: PriceListObj | undefined;
  for (const l of lists) {
    const from = ms(l.spec.effectiveFrom);
    if (!(from <= at)) continue;
    if (!best || from > ms(best.spec.effectiveFrom) || (from === ms(best.spec.effectiveFrom) && l.metadata.name > best.metadata.name)) best = l;
  }
  return best;
}

const matches = (i: PriceItem, m: Meter) =>
  i.product === m.product && i.meter === m.meter && (!i.zone || i.zone === m.zone) && (!i.arch || i.arch === m.arch) && (!i.variant || i.variant === m.variant);
const specificity = (i: PriceItem) => (i.zone ? 1 : 0) + (i.arch ? 1 : 0) + (i.variant ? 1 : 0);

/** The most specific item of `items` that prices `m` (the first of equals). */
export function bestItem(items: readonly PriceItem[], m: Meter): PriceItem | undefined {
  let best: PriceItem | undefined;
  for (const i of items) if (matches(i, m) && (!best || specificity(i) > specificity(best))) best = i;
  return best;
}

/**
 * The prices for `chain` (a tenant, then its ancestors up to the root) at `at`: the global list in
 * effect then, overridden by the nearest tenant in the chain with a list of its own in effect.
 * Lists whose currency or scale differ from the global one are ignored (the webhook refuses them).
 */
export function priceBook(lists: readonly PriceListObj[], chain: readonly string[], at: number, priced = true): PriceBook | undefined {
  const global = latest(lists.filter((l) => !l.spec.tenant), at);
  if (!global) return undefined;
  const same = (l: PriceListObj) => l.spec.currency === global.spec.currency && l.spec.scale === global.spec.scale;
  let override: PriceListObj | undefined;
  for (const t of chain) {
    override = latest(lists.filter((l) => l.spec.tenant === t && same(l)), at);
    if (override) break;
  }
  return {
    list: override ? `${global.metadata.name}+${override.metadata.name}` : global.metadata.name,
    currency: global.spec.currency,
    scale: global.spec.scale,
    discountBp: override?.spec.discountBasisPoints ?? 0,
    priced,
    price(m) {
      if (!priced) return 0;
      return (override && bestItem(override.spec.items, m)?.unitPrice) ?? bestItem(global.spec.items, m)?.unitPrice ?? 0;
    },
  };
}

/** round(n / d), half away from zero, for BigInts (d > 0). */
export function roundDiv(n: bigint, d: bigint): bigint {
  const q = n / d, r = n % d;
  if (r === 0n) return q;
  const up = (r < 0n ? -r : r) * 2n >= d;
  return up ? q + (n < 0n ? -1n : 1n) : q;
}

/** A bill line's amount: milli-unit-seconds at a unit-hour price, less a discount, rounded once. */
export function lineAmount(milliSeconds: bigint, unitPrice: number, discountBp: number): bigint {
  return roundDiv(milliSeconds * BigInt(unitPrice) * (BASIS - BigInt(discountBp)), PER_UNIT_HOUR * BASIS);
}

/** What `meters` cost over `seconds` (an estimate, a subscription period): the sum of its lines. */
export function costOf(meters: readonly Meter[], book: PriceBook, seconds: number): bigint {
  return meters.reduce((sum, m) => sum + lineAmount(BigInt(m.milli) * BigInt(seconds), book.price(m), book.discountBp), 0n);
}

/** Minor units as a decimal string of the currency ("12.345678"), for people. */
export function formatMoney(minor: bigint | number, scale: number): string {
  const n = BigInt(minor);
  const digits = Math.max(0, String(scale).length - 1);
  const neg = n < 0n;
  const abs = neg ? -n : n;
  const s = BigInt(scale);
  const frac = digits ? `.${(abs % s).toString().padStart(digits, "0")}` : "";
  return `${neg ? "-" : ""}${abs / s}${frac}`;
}
