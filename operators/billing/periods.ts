// Subscription periods (pure). Period n of a subscription runs from the start plus n periods to the
// start plus n+1 periods, each counted from the start itself (a month clamps to the month's last day:
// Jan 31 → Feb 28 → Mar 31), so renewals never drift and each one starts where the previous ended.
import type { SubscriptionSpec } from "../api/billing.ts";

/** `at` plus `months` calendar months (UTC), the day clamped to the target month's length. */
export function addMonths(at: number, months: number): number {
  const d = new Date(at);
  const y = d.getUTCFullYear(), m = d.getUTCMonth() + months;
  const ty = y + Math.floor(m / 12), tm = ((m % 12) + 12) % 12;
  const days = new Date(Date.UTC(ty, tm + 1, 0)).getUTCDate();
  return Date.UTC(ty, tm, Math.min(d.getUTCDate(), days), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds(), d.getUTCMilliseconds());
}

export const periodMonths = (p: SubscriptionSpec["period"]) => p.count * (p.unit === "Year" ? 12 : 1);

/** Start and end of period `n` (0-based). */
export function period(start: number, spec: SubscriptionSpec["period"], n: number): { start: number; end: number } {
  const months = periodMonths(spec);
  return { start: n === 0 ? start : addMonths(start, n * months), end: addMonths(start, (n + 1) * months) };
}

const HOUR = 3_600_000;
/** Guards against a clock far in the future buying centuries of periods. */
const MAX_PERIODS = 1201;

export interface SubscriptionPlan {
  /** Periods that must be paid (0..paid-1); more than already paid means charge the new ones. */
  paid: number;
  /** Paid periods that had not started when the subscription was cancelled: refunded in full. */
  refund: number[];
  expiresAt: number;
  phase: "Active" | "Expired" | "Deleted" | "Cancelled";
  /** Stop the object (expired, in the grace period). */
  stop: boolean;
  /** Delete the object (the grace period ended). */
  remove: boolean;
  /** When something changes next without a spec change (a renewal, the expiry, the grace end). */
  nextAt?: number;
}

/**
 * What a subscription started at `start` with `alreadyPaid` periods needs at `now`: periods to buy
 * (the first, one per spec.renewals, and automatic renewals due renewBeforeHours before an end),
 * refunds when cancelled, and whether the object runs, is stopped or is deleted.
 */
export function planSubscription(spec: SubscriptionSpec, start: number, alreadyPaid: number, refunded: ReadonlySet<number>, now: number): SubscriptionPlan {
  const end = (n: number) => period(start, spec.period, n).end;
  const begin = (n: number) => period(start, spec.period, n).start;
  let paid = Math.max(alreadyPaid, spec.cancelled ? 1 : 1 + spec.renewals);
  const refund: number[] = [];
  if (spec.cancelled) {
    for (let n = 0; n < paid; n++) if (begin(n) > now && n > 0 && !refunded.has(n)) refund.push(n);
  } else if (spec.autoRenew) {
    while (paid < MAX_PERIODS && end(paid - 1) - spec.renewBeforeHours * HOUR <= now) paid++;
  }
  const gone = new Set([...refunded, ...refund]);
  let last = paid - 1;
  while (last > 0 && gone.has(last)) last--;
  const expiresAt = end(last);
  const grace = expiresAt + spec.gracePeriodHours * HOUR;
  if (now < expiresAt) {
    const renewAt = spec.autoRenew && !spec.cancelled ? end(paid - 1) - spec.renewBeforeHours * HOUR : undefined;
    return { paid, refund, expiresAt, phase: "Active", stop: false, remove: false, nextAt: Math.min(renewAt ?? Infinity, expiresAt) };
  }
  if (spec.cancelled) return { paid, refund, expiresAt, phase: "Cancelled", stop: false, remove: false };
  if (now < grace) return { paid, refund, expiresAt, phase: "Expired", stop: true, remove: false, nextAt: grace };
  return { paid, refund, expiresAt, phase: "Deleted", stop: true, remove: true };
}
