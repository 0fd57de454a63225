// The billing ledger in PostgreSQL: versioned migrations (applied under an advisory lock, so two
// managers starting together apply each once), lifecycle events, hourly rating in one transaction
// with its watermark, subscription periods, bill lines and deductions. See migrations/.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import type { Meter } from "../api/billing.ts";
import { HOUR_MS, type PriceBook } from "./price.ts";
import { adjustments, meterKey, rateHour, type UsageEvent, type UsageRow } from "./rating.ts";
import type { Sql } from "./sql.ts";

export { connect, type Sql } from "./sql.ts";

const MIGRATIONS = new URL("./migrations/", import.meta.url);
/** pg_advisory_lock key of the migrations ("cellcloud-billing" as an int8). */
const MIGRATION_LOCK = 0x63656c6c636c6f75n;

/** Applies every migrations/NNN_*.sql not yet applied, in order, in one transaction (all or none). */
export async function migrate(sql: Sql): Promise<string[]> {
  const files = readdirSync(MIGRATIONS).filter((f) => /^\d{3}_.*\.sql$/.test(f)).sort();
  return sql.begin(async (tx) => {
    // held to the end of this transaction: a second manager starting at once waits, then finds them applied
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;
    const done = new Set((await tx<{ version: string }>`SELECT version FROM schema_migrations`).map((r) => r.version));
    const applied: string[] = [];
    for (const f of files) {
      if (done.has(f)) continue;
      await tx.unsafe(readFileSync(new URL(f, MIGRATIONS), "utf8"));
      await tx`INSERT INTO schema_migrations (version) VALUES (${f})`;
      applied.push(f);
    }
    return applied;
  });
}

/** The canonical form of a metered state, compared to decide whether a change is billable. */
export function metersHash(meters: readonly Meter[]): string {
  const canon = [...meters].map((m) => `${meterKey(m)}=${m.milli}`).sort().join(";");
  return createHash("sha256").update(canon).digest("hex").slice(0, 16);
}

interface EventRow { id: string; seq: bigint; resource_id: number; uid: string; tenant: string; namespace: string; kind: string; name: string; at: Date; meters: Meter[] }
const toEvent = (r: EventRow): UsageEvent => ({
  id: r.id, seq: Number(r.seq), resourceId: r.resource_id, resourceUid: r.uid, tenant: r.tenant, namespace: r.namespace, kind: r.kind, name: r.name, at: r.at.getTime(), meters: r.meters,
});
const EVENT = "e.id, e.seq, e.resource_id, e.at, e.meters, r.uid, r.tenant, r.namespace, r.kind, r.name";

/** The last recorded state of every resource (what metering compares new observations with), by uid. */
export async function lastStates(sql: Sql): Promise<Map<string, UsageEvent>> {
  const rows = await sql.unsafe<EventRow>(`SELECT DISTINCT ON (e.resource_id) ${EVENT} FROM usage_events e JOIN resources r ON r.id = e.resource_id ORDER BY e.resource_id, e.at DESC, e.seq DESC`);
  return new Map(rows.map((r) => [r.uid, toEvent(r)]));
}

/**
 * Records an event once (its id is deterministic). An event for an hour already rated is marked
 * late in the same transaction; the row lock it shares with the rater orders the two, so an event
 * is either inside a rating or seen as late by the next one, never lost between.
 */
export async function recordEvent(sql: Sql, e: Omit<UsageEvent, "seq" | "resourceId">): Promise<boolean> {
  return sql.begin(async (tx) => {
    const [state] = await tx<{ rated_until: Date | null }>`SELECT rated_until FROM rating_state WHERE id = 1 FOR SHARE`;
    const [res] = await tx<{ id: number }>`
      INSERT INTO resources (uid, tenant, namespace, kind, name) VALUES (${e.resourceUid}, ${e.tenant}, ${e.namespace}, ${e.kind}, ${e.name})
      ON CONFLICT (uid) DO UPDATE SET uid = EXCLUDED.uid RETURNING id`;
    const inserted = await tx`
      INSERT INTO usage_events (id, resource_id, at, meters) VALUES (${e.id}, ${res!.id}, ${new Date(e.at)}, ${JSON.stringify(e.meters)})
      ON CONFLICT (id) DO NOTHING`;
    if (inserted.count && state?.rated_until && e.at < state.rated_until.getTime()) await tx`INSERT INTO late_events (event_id) VALUES (${e.id}) ON CONFLICT DO NOTHING`;
    return inserted.count > 0;
  });
}

export async function ratedUntil(sql: Sql): Promise<number | undefined> {
  const [s] = await sql<{ rated_until: Date | null }>`SELECT rated_until FROM rating_state WHERE id = 1`;
  return s?.rated_until?.getTime();
}

export type BookFor = (tenant: string, hour: number) => PriceBook | undefined;

/**
 * What a rater keeps between hours: each metered resource's state when the next hour opens (so an
 * hour reads only its own events), and the meters' ids. Trusted only for the hour it was made for;
 * a late event, a failure or another rater's hour makes the next rating read the ledger again.
 */
export class RatingCache {
  hour?: number;
  open = new Map<number, UsageEvent>();
  meterIds = new Map<string, number>();
}

/**
 * Rates the next hour if it ended at least `latenessMs` before `now`: its rows, adjustments for
 * late events, and the watermark, in one transaction. Returns the hour rated, or undefined.
 * The first hour rated is that of the first event.
 */
export async function rateNextHour(sql: Sql, now: number, latenessMs: number, book: BookFor, cache: RatingCache = new RatingCache()): Promise<{ hour: number; rows: number } | undefined> {
  const newMeters = new Map<string, number>();
  const result = await sql.begin(async (tx) => {
    const [state] = await tx<{ rated_until: Date | null }>`SELECT rated_until FROM rating_state WHERE id = 1 FOR UPDATE`;
    let hour = state?.rated_until?.getTime();
    if (hour === undefined) {
      const [first] = await tx<{ at: Date | null }>`SELECT min(at) AS at FROM usage_events`;
      if (!first?.at) return undefined;
      hour = Math.floor(first.at.getTime() / HOUR_MS) * HOUR_MS;
    }
    const end = hour + HOUR_MS;
    if (end + latenessMs > now) return undefined;
    const late = await tx<{ resource_id: number; at: Date }>`
      SELECT e.resource_id, min(e.at) AS at FROM late_events l JOIN usage_events e ON e.id = l.event_id GROUP BY e.resource_id`;
    let open = cache.hour === hour && !late.length ? cache.open : undefined;
    if (!open) {
      open = new Map();
      const rows = await tx.unsafe<EventRow>(`SELECT DISTINCT ON (e.resource_id) ${EVENT} FROM usage_events e JOIN resources r ON r.id = e.resource_id
        WHERE e.at < $1 ORDER BY e.resource_id, e.at DESC, e.seq DESC`, [new Date(hour)]);
      for (const r of rows) if (r.meters.length) open.set(r.resource_id, toEvent(r));
    }
    const inside = (await tx.unsafe<EventRow>(`SELECT ${EVENT} FROM usage_events e JOIN resources r ON r.id = e.resource_id
      WHERE e.at >= $1 AND e.at < $2 ORDER BY e.at, e.seq`, [new Date(hour), new Date(end)])).map(toEvent);
    const byResource = new Map<number, UsageEvent[]>();
    for (const [id, e] of open) byResource.set(id, [e]);
    for (const e of inside) {
      const list = byResource.get(e.resourceId);
      if (list) list.push(e);
      else byResource.set(e.resourceId, [e]);
    }
    // one price book per tenant for the hour (not one per row)
    const books = new Map<string, PriceBook | undefined>();
    const bookOf = (t: string) => { if (!books.has(t)) books.set(t, book(t, hour)); return books.get(t); };
    const rows = rateHour(byResource, hour, bookOf);
    const adjusted = late.length ? await lateAdjustments(tx, late, hour, book) : [];
    rows.push(...adjusted);
    await copyRows(tx, rows, await meterIdsFor(tx, rows, cache.meterIds, newMeters));
    const lists = [...new Set([...byResource.values()].map((evs) => bookOf(evs.at(-1)!.tenant)?.list ?? "none"))].sort().join(",");
    await tx`INSERT INTO rated_hours (hour, rows, adjustments, price_lists) VALUES (${new Date(hour)}, ${rows.length}, ${adjusted.length}, ${lists})`;
    await tx`UPDATE rating_state SET rated_until = ${new Date(end)} WHERE id = 1`;
    // the state when the next hour opens
    const next = new Map(open);
    for (const e of inside) {
      if (e.meters.length) next.set(e.resourceId, e);
      else next.delete(e.resourceId);
    }
    return { hour, rows: rows.length, next };
  }).catch((e: unknown) => { cache.hour = undefined; throw e; });
  if (!result) return undefined;
  // committed: what the transaction made is now true
  for (const [k, id] of newMeters) cache.meterIds.set(k, id);
  cache.hour = result.hour + HOUR_MS;
  cache.open = result.next;
  return { hour: result.hour, rows: result.rows };
}

/** The ids of the rows' meters, made inside the transaction for meters not seen before. */
async function meterIdsFor(tx: Sql, rows: readonly UsageRow[], known: ReadonlyMap<string, number>, made: Map<string, number>): Promise<Map<string, number>> {
  const ids = new Map(known);
  if (!known.size) for (const m of await tx<{ id: number } & Pick<Meter, "product" | "meter" | "zone" | "arch" | "variant">>`SELECT * FROM meters`) ids.set(meterKey(m), m.id);
  for (const r of rows) {
    const k = meterKey(r);
    if (ids.has(k)) continue;
    await tx`INSERT INTO meters (product, meter, zone, arch, variant) VALUES (${r.product}, ${r.meter}, ${r.zone}, ${r.arch}, ${r.variant}) ON CONFLICT DO NOTHING`;
    const [m] = await tx<{ id: number }>`SELECT id FROM meters WHERE product = ${r.product} AND meter = ${r.meter} AND zone = ${r.zone} AND arch = ${r.arch} AND variant = ${r.variant}`;
    ids.set(k, m!.id);
    made.set(k, m!.id);
  }
  if (!known.size) for (const [k, id] of ids) made.set(k, id);
  return ids;
}

/** Adjustments, rated in `hour`, for the late events recorded since the last rating. */
async function lateAdjustments(tx: Sql, late: ReadonlyArray<{ resource_id: number; at: Date }>, hour: number, book: BookFor): Promise<UsageRow[]> {
  const rows: UsageRow[] = [];
  for (const l of late) {
    const from = Math.floor(l.at.getTime() / HOUR_MS) * HOUR_MS;
    if (from >= hour) continue;
    const history = (await tx.unsafe<EventRow>(`SELECT ${EVENT} FROM usage_events e JOIN resources r ON r.id = e.resource_id
      WHERE e.resource_id = $1 ORDER BY e.at, e.seq`, [l.resource_id])).map(toEvent);
    const written = new Map<string, bigint>();
    const sums = await tx<{ hour: Date; ms: bigint } & Pick<Meter, "product" | "meter" | "zone" | "arch" | "variant">>`
      SELECT u.hour, m.product, m.meter, m.zone, m.arch, m.variant, sum(u.milli_seconds)::bigint AS ms FROM usage_rows u JOIN meters m ON m.id = u.meter_id
      WHERE u.resource_id = ${l.resource_id} AND u.hour >= ${new Date(from)} AND u.hour < ${new Date(hour)}
      GROUP BY u.hour, m.product, m.meter, m.zone, m.arch, m.variant`;
    for (const s of sums) written.set(`${s.hour.getTime()}|${meterKey(s)}`, s.ms);
    rows.push(...adjustments(l.resource_id, history, written, from, hour, book));
  }
  await tx`DELETE FROM late_events`;
  return rows;
}

/** RFC 3339 of a time, each distinct time formatted once (a batch's rows share one or two hours). */
function isoTimes(): (ms: number) => string {
  const iso = new Map<number, string>();
  return (ms) => { let t = iso.get(ms); if (!t) iso.set(ms, (t = new Date(ms).toISOString())); return t; };
}

const COLUMNS = ["resource_id", "meter_id", "hour", "rated_in", "milli_seconds", "unit_price", "discount_bp"] as const;

/**
 * Writes rows inside the caller's transaction with one INSERT of seven arrays (unnest): the other
 * way in, which bench/billing measures beside COPY (the rater uses copyRows: 0.7× of its rate here).
 */
export async function insertRows(tx: Sql, rows: readonly UsageRow[], meterIds: ReadonlyMap<string, number>): Promise<void> {
  if (!rows.length) return;
  const res: number[] = [], met: number[] = [], hour: string[] = [], rated: string[] = [], ms: string[] = [], price: string[] = [], disc: number[] = [];
  const time = isoTimes();
  for (const r of rows) {
    res.push(r.resourceId); met.push(meterIds.get(meterKey(r))!); hour.push(time(r.hour)); rated.push(time(r.ratedIn));
    ms.push(r.milliSeconds.toString()); price.push(String(r.unitPrice)); disc.push(r.discountBp);
  }
  await tx.unsafe(`INSERT INTO usage_rows (${COLUMNS.join(", ")})
    SELECT * FROM unnest($1::int[], $2::smallint[], $3::timestamptz[], $4::timestamptz[], $5::bigint[], $6::bigint[], $7::smallint[])`,
  [res, met, hour, rated, ms, price, disc] as never[]);
}

/** Writes rows with COPY FROM STDIN inside the caller's transaction (the rater's writer; bench/billing's raw baseline). */
export async function copyRows(tx: Sql, rows: readonly UsageRow[], meterIds: ReadonlyMap<string, number>, table = "usage_rows"): Promise<void> {
  if (!rows.length) return;
  const time = isoTimes();
  let data = "";
  for (const r of rows) data += `${r.resourceId}\t${meterIds.get(meterKey(r))}\t${time(r.hour)}\t${time(r.ratedIn)}\t${r.milliSeconds}\t${r.unitPrice}\t${r.discountBp}\n`;
  await tx.copyIn(`COPY ${table} (${COLUMNS.join(", ")}) FROM STDIN`, data);
}

// ==================== bills ====================

export interface BillLine {
  resourceUid: string; kind: string; namespace: string; name: string;
  product: string; meter: string; zone: string; arch: string; variant: string;
  unitPrice: number; discountBp: number; milliSeconds: bigint; amount: bigint;
}
export interface SubscriptionLine { key: string; namespace: string; name: string; resourceKind: string; resourceName: string; starts: number; ends: number; amount: bigint; refund: boolean }

/**
 * Pay-as-you-go lines for the rows rated in [from, to), by tenant (one tenant's, or every tenant's
 * in one pass over the month: what a month's bills cost to close together): per resource, meter and
 * price, each rounded once; hours a paid subscription period covers are left out.
 */
export async function billLines(sql: Sql, tenant: string, from: number, to: number): Promise<BillLine[]> {
  return (await linesBy(sql, tenant, from, to)).get(tenant) ?? [];
}

export async function billLinesByTenant(sql: Sql, from: number, to: number): Promise<Map<string, BillLine[]>> {
  return linesBy(sql, undefined, from, to);
}

async function linesBy(sql: Sql, tenant: string | undefined, from: number, to: number): Promise<Map<string, BillLine[]>> {
  // summed by small ids first (a hash aggregate over the month's rows), named afterwards
  const forTenant = tenant === undefined ? "" : "AND u.resource_id IN (SELECT id FROM resources WHERE tenant = $3)";
  const rows = await sql.unsafe<{ tenant: string; resource_uid: string; kind: string; namespace: string; name: string; product: string; meter: string; zone: string; arch: string; variant: string; unit_price: bigint; discount_bp: number; ms: bigint; amount: bigint }>(`
    WITH covered AS (
      SELECT r.id AS resource_id, p.starts, p.ends FROM subscription_periods p JOIN resources r ON r.uid = p.resource_uid WHERE p.refunded_at IS NULL
    ), agg AS (
      SELECT u.resource_id, u.meter_id, u.unit_price, u.discount_bp, sum(u.milli_seconds)::bigint AS ms
      FROM usage_rows u
      WHERE u.rated_in >= $1 AND u.rated_in < $2 ${forTenant}
        AND NOT EXISTS (SELECT 1 FROM covered c WHERE c.resource_id = u.resource_id AND u.hour >= c.starts AND u.hour < c.ends)
      GROUP BY u.resource_id, u.meter_id, u.unit_price, u.discount_bp
    )
    SELECT r.tenant, r.uid AS resource_uid, r.kind, r.namespace, r.name, m.product, m.meter, m.zone, m.arch, m.variant, a.unit_price, a.discount_bp, a.ms,
           round(a.ms::numeric * a.unit_price * (10000 - a.discount_bp) / 36000000000)::bigint AS amount
    FROM agg a JOIN resources r ON r.id = a.resource_id JOIN meters m ON m.id = a.meter_id
    ORDER BY r.tenant, r.namespace, r.kind, r.name, r.uid, m.product, m.meter, m.zone, m.arch, m.variant, a.unit_price, a.discount_bp`,
  [new Date(from), new Date(to), ...(tenant === undefined ? [] : [tenant])]);
  const out = new Map<string, BillLine[]>();
  for (const r of rows) {
    let list = out.get(r.tenant);
    if (!list) out.set(r.tenant, (list = []));
    list.push({
      resourceUid: r.resource_uid, kind: r.kind, namespace: r.namespace, name: r.name, product: r.product, meter: r.meter, zone: r.zone, arch: r.arch, variant: r.variant,
      unitPrice: Number(r.unit_price), discountBp: r.discount_bp, milliSeconds: r.ms, amount: r.amount,
    });
  }
  return out;
}

/** Subscription periods charged, and refunds made, in [from, to). */
export async function subscriptionLines(sql: Sql, tenant: string, from: number, to: number): Promise<SubscriptionLine[]> {
  const rows = await sql<{ key: string; namespace: string; name: string; resource_kind: string; resource_name: string; starts: Date; ends: Date; amount: bigint; refund: boolean }>`
    SELECT key, namespace, name, resource_kind, resource_name, starts, ends, amount, false AS refund FROM subscription_periods
      WHERE tenant = ${tenant} AND charged_at >= ${new Date(from)} AND charged_at < ${new Date(to)}
    UNION ALL
    SELECT key, namespace, name, resource_kind, resource_name, starts, ends, -amount, true FROM subscription_periods
      WHERE tenant = ${tenant} AND refunded_at >= ${new Date(from)} AND refunded_at < ${new Date(to)}
    ORDER BY key, refund`;
  return rows.map((r) => ({ key: r.key, namespace: r.namespace, name: r.name, resourceKind: r.resource_kind, resourceName: r.resource_name, starts: r.starts.getTime(), ends: r.ends.getTime(), amount: r.amount, refund: r.refund }));
}

/** Tenants with rows rated, events recorded or subscription charges in [from, to): each gets a bill. */
export async function tenantsBilled(sql: Sql, from: number, to: number): Promise<string[]> {
  // metered at some time in the month: a change in it, or a metered state when it began (the
  // events, not the bulk of rows, answer this); plus adjustments recorded in it, and subscriptions
  const [f, t] = [new Date(from), new Date(to)];
  const rows = await sql<{ tenant: string }>`
    SELECT r.tenant FROM usage_events e JOIN resources r ON r.id = e.resource_id WHERE (e.at >= ${f} AND e.at < ${t}) OR (e.recorded_at >= ${f} AND e.recorded_at < ${t})
    UNION SELECT r.tenant FROM (SELECT DISTINCT ON (resource_id) resource_id, meters FROM usage_events WHERE at < ${f} ORDER BY resource_id, at DESC, seq DESC) o
      JOIN resources r ON r.id = o.resource_id WHERE jsonb_array_length(o.meters) > 0
    UNION SELECT tenant FROM subscription_periods WHERE (charged_at >= ${f} AND charged_at < ${t}) OR (refunded_at >= ${f} AND refunded_at < ${t})`;
  return rows.map((r) => r.tenant).sort();
}

/** Deducts a finalized bill once; returns what was deducted (the first call's amount wins). */
export async function deduct(sql: Sql, tenant: string, month: string, amount: bigint, checksum: string): Promise<bigint> {
  await sql`INSERT INTO deductions (tenant, month, amount, checksum) VALUES (${tenant}, ${month}, ${amount.toString()}::bigint, ${checksum}) ON CONFLICT DO NOTHING`;
  const [d] = await sql<{ amount: bigint }>`SELECT amount FROM deductions WHERE tenant = ${tenant} AND month = ${month}`;
  return d?.amount ?? 0n;
}

// ==================== subscriptions ====================

export interface PeriodCharge {
  subscriptionUid: string; period: number; tenant: string; namespace: string; name: string;
  resourceUid: string; resourceKind: string; resourceName: string; starts: number; ends: number; amount: bigint; priceList: string; chargedAt: number;
}

/** Periods already charged for a subscription, and which were refunded. */
export async function periodsOf(sql: Sql, subscriptionUid: string): Promise<{ paid: number; start?: number; refunded: Set<number>; lastAmount?: bigint; refundedAmount: bigint }> {
  const rows = await sql<{ period: number; amount: bigint; starts: Date; refunded_at: Date | null }>`
    SELECT period, amount, starts, refunded_at FROM subscription_periods WHERE subscription_uid = ${subscriptionUid} ORDER BY period`;
  return {
    paid: rows.length, start: rows[0]?.starts.getTime(), refunded: new Set(rows.filter((r) => r.refunded_at).map((r) => r.period)),
    lastAmount: rows.at(-1)?.amount, refundedAmount: rows.filter((r) => r.refunded_at).reduce((a, r) => a + r.amount, 0n),
  };
}

/** Charges a period once: the key is the subscription's uid and the period's index. */
export async function chargePeriod(sql: Sql, c: PeriodCharge): Promise<void> {
  await sql`
    INSERT INTO subscription_periods (key, subscription_uid, period, tenant, namespace, name, resource_uid, resource_kind, resource_name, starts, ends, amount, price_list, charged_at)
    VALUES (${`${c.subscriptionUid}/${c.period}`}, ${c.subscriptionUid}, ${c.period}, ${c.tenant}, ${c.namespace}, ${c.name}, ${c.resourceUid}, ${c.resourceKind}, ${c.resourceName},
            ${new Date(c.starts)}, ${new Date(c.ends)}, ${c.amount.toString()}::bigint, ${c.priceList}, ${new Date(c.chargedAt)})
    ON CONFLICT (key) DO NOTHING`;
}

export async function refundPeriod(sql: Sql, subscriptionUid: string, period: number, at: number): Promise<void> {
  await sql`UPDATE subscription_periods SET refunded_at = ${new Date(at)} WHERE key = ${`${subscriptionUid}/${period}`} AND refunded_at IS NULL`;
}
