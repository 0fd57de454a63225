// Rating (pure): how much of each meter each resource used in an hour, prorated per second from its
// lifecycle events (each event is the resource's whole metered state from its time on), and the
// rows that hour writes, keyed deterministically so a rerun writes exactly the same rows.
import type { Meter } from "../api/billing.ts";
import { HOUR_MS, type PriceBook } from "./price.ts";

export interface UsageEvent {
  id: string;
  seq: number;
  /** The ledger's id of the resource (0 until recorded). */
  resourceId: number;
  resourceUid: string;
  tenant: string;
  namespace: string;
  kind: string;
  name: string;
  /** ms since the epoch, whole seconds. */
  at: number;
  meters: Meter[];
}

/** One row of the ledger: a resource's use of one meter in one hour, and the price then. */
export interface UsageRow {
  resourceId: number;
  product: string;
  meter: string;
  zone: string;
  arch: string;
  variant: string;
  /** The hour the usage happened in (ms). */
  hour: number;
  /** The hour whose rating wrote the row: the same hour, or a later one for an adjustment. */
  ratedIn: number;
  /** Thousandths of a unit × seconds (negative in an adjustment that takes usage back). */
  milliSeconds: bigint;
  unitPrice: number;
  discountBp: number;
}

export const meterKey = (m: { product: string; meter: string; zone: string; arch: string; variant: string }) => `${m.product}|${m.meter}|${m.zone}|${m.arch}|${m.variant}`;

interface Used { meter: Meter; milliSeconds: bigint }

/**
 * What one resource used in [start, end): `events` are its events in time order, the first of which
 * may be before `start` (its state when the window opens). Returns milli-unit-seconds per meter key.
 */
export function usage(events: readonly UsageEvent[], start: number, end: number): Map<string, Used> {
  const out = new Map<string, Used>();
  for (let i = 0; i < events.length; i++) {
    const from = Math.max(events[i]!.at, start);
    const to = Math.min(events[i + 1]?.at ?? end, end);
    if (to <= from) continue;
    const seconds = BigInt(Math.round((to - from) / 1000));
    for (const m of events[i]!.meters) {
      const k = meterKey(m);
      const u = out.get(k);
      if (u) u.milliSeconds += BigInt(m.milli) * seconds;
      else out.set(k, { meter: m, milliSeconds: BigInt(m.milli) * seconds });
    }
  }
  return out;
}

/** Events of one resource in time order (by time, then by the order they were recorded). */
export const inOrder = (events: readonly UsageEvent[]) => [...events].sort((a, b) => a.at - b.at || a.seq - b.seq);

/** A row's key (the ledger's primary key): the resource, the meter, the hour it is about and the hour that rated it. */
export const rowKey = (r: UsageRow) => `${r.resourceId}|${meterKey(r)}|${r.hour / 1000}|${r.ratedIn / 1000}`;

/**
 * The rows of hour `hour` for the resources whose events are in `byResource` (each list: the last
 * event before the hour, if any, and the events inside it). `book(tenant)` prices them.
 */
export function rateHour(byResource: ReadonlyMap<number, readonly UsageEvent[]>, hour: number, book: (tenant: string) => PriceBook | undefined): UsageRow[] {
  const rows: UsageRow[] = [];
  for (const [id, evs] of byResource) {
    const events = evs.length > 1 ? inOrder(evs) : evs;
    const last = events.at(-1)!;
    for (const u of usage(events, hour, hour + HOUR_MS).values()) {
      if (u.milliSeconds === 0n) continue;
      rows.push(row(id, u, hour, hour, book(last.tenant)));
    }
  }
  return rows;
}

function row(resourceId: number, u: Used, hour: number, ratedIn: number, book: PriceBook | undefined): UsageRow {
  return {
    resourceId, product: u.meter.product, meter: u.meter.meter, zone: u.meter.zone, arch: u.meter.arch, variant: u.meter.variant,
    hour, ratedIn, milliSeconds: u.milliSeconds, unitPrice: book?.price(u.meter) ?? 0, discountBp: book?.discountBp ?? 0,
  };
}

/**
 * Adjustments for events that arrived after their hours were rated: for each hour from `from` up to
 * `ratedIn`, what the resource's full history says it used minus what the rows already written say
 * (`written`: milli-unit-seconds by `${hour}|${meterKey}`), as rows rated in `ratedIn`.
 */
export function adjustments(resourceId: number, history: readonly UsageEvent[], written: ReadonlyMap<string, bigint>, from: number, ratedIn: number, book: (tenant: string, hour: number) => PriceBook | undefined): UsageRow[] {
  const events = inOrder(history);
  if (!events.length) return [];
  const rows: UsageRow[] = [];
  const last = events.at(-1)!;
  for (let hour = Math.floor(from / HOUR_MS) * HOUR_MS; hour < ratedIn; hour += HOUR_MS) {
    const now = usage(events, hour, hour + HOUR_MS);
    const keys = new Set([...now.keys(), ...[...written.keys()].filter((w) => w.startsWith(`${hour}|`)).map((w) => w.slice(w.indexOf("|") + 1))]);
    for (const k of keys) {
      const should = now.get(k)?.milliSeconds ?? 0n;
      const was = written.get(`${hour}|${k}`) ?? 0n;
      if (should === was) continue;
      const m = now.get(k)?.meter ?? meterOfKey(k);
      rows.push(row(resourceId, { meter: m, milliSeconds: should - was }, hour, ratedIn, book(last.tenant, hour)));
    }
  }
  return rows;
}

function meterOfKey(k: string): Meter {
  const [product, meter, zone, arch, variant] = k.split("|") as [Meter["product"], Meter["meter"], string, string, string];
  return { product, meter, milli: 0, zone, arch, variant };
}
