// bench/billing: how fast the billing ledger rates, against the physical limit of its design (BENCH.md
// "The ceilings": the raw COPY rate of the same rows into the same database), and how big a month
// gets. On a plane of its own (its PostgreSQL; the apiserver for the Bills), in one run:
//   - hour: BENCH_INSTANCES instances (with their volumes and ElasticIPs) seeded into a scratch
//     database; rateNextHour times the month's first hours (the first one cold, then BENCH_HOURS warm
//     ones with the rater's cache, then one cold again as after a restart); after each, the same
//     rows are written with the ledger's copyRows (COPY FROM STDIN) into a table of the same schema
//     and indexes in the same database (the baseline), and with the rater's own writer (insertRows)
//     into a third such table. Ratio = rater rows/s ÷ COPY rows/s, median of the warm hours. Then the
//     parts of one warm hour, reproduced apart: its queries, rateHour, the price lookups.
//   - month: BENCH_MONTH_INSTANCES instances in a second scratch database, all 744 hours of the month
//     rated with one RatingCache; wall time, rows, database and usage_rows sizes; every tenant's Bill
//     closed from the ledger (billLines + closeBill), its JSON size, and the Bills created for real
//     (status through the status subresource) and read back.
// See bench/README.md.
//   node bench/billing/run.ts        (make bench-billing)
// Environment: BENCH_INSTANCES (30000), BENCH_MONTH_INSTANCES (3000; BENCH_SCALE=full: 30000),
// BENCH_TENANTS (100), BENCH_HOURS (3), BENCH_PHASES (hour,month), BENCH_RECORD_EVENTS (1000: events
// seeded through recordEvent itself, the rest by COPY), BENCH_PORT_BASE (17800), BENCH_KEEP_PLANE=1.
import { spawnSync } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { BillRef, billName, type BillObj, type BillStatus } from "../../operators/api/billing.ts";
import { TENANT_LABEL } from "../../operators/api/tenancy.ts";
import { closeBill, type ClosedBill } from "../../operators/billing/bills.ts";
import { billLines, billLinesByTenant, connect, copyRows, insertRows, metersHash, migrate, rateNextHour, RatingCache, recordEvent, subscriptionLines, tenantsBilled, type Sql } from "../../operators/billing/ledger.ts";
import { formatMoney, HOUR_MS, type PriceBook } from "../../operators/billing/price.ts";
import { meterKey, rateHour, usage, type UsageEvent, type UsageRow } from "../../operators/billing/rating.ts";
import { NamespaceRef } from "../../operators/runtime/core.ts";
import { KubeClient } from "../../operators/runtime/kube.ts";
import { withCondition, writeStatus } from "../../operators/runtime/status.ts";
import { machine } from "../scheduler/proc.ts";
import { percentile } from "../scheduler/throughput.ts";
import { bookFor, expectedRows, fleet, priceLists, type Fleet, type SeedEvent } from "./seed.ts";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const env = process.env;
const full = env.BENCH_SCALE === "full";
const hourInstances = Number(env.BENCH_INSTANCES ?? 30000);
const monthInstances = Number(env.BENCH_MONTH_INSTANCES ?? (full ? 30000 : 3000));
const tenantCount = Number(env.BENCH_TENANTS ?? 100);
const warmHours = Number(env.BENCH_HOURS ?? 3);
const phases = new Set((env.BENCH_PHASES ?? "hour,month").split(",").map((p) => p.trim()));
const recordN = Number(env.BENCH_RECORD_EVENTS ?? 1000);
const portBase = Number(env.BENCH_PORT_BASE ?? 17800);
const keepPlane = env.BENCH_KEEP_PLANE === "1";
const MONTH = "2026-10";
const state = `${repo}/.state/bench-billing`;
const planeEnv = { ...env, CELLCLOUD_INSTANCE: "bench-billing", CELLCLOUD_STATE: state, CELLCLOUD_PORT_BASE: String(portBase) };
const log = (msg: string) => console.error(`bench: ${new Date().toISOString().slice(11, 19)} ${msg}`);

/** The rater's lateness here: with now = month end + 2 h, exactly the month's 744 hours are due. */
const LATENESS_MS = 2 * HOUR_MS;
/** On-disk bytes of a usage row with its primary key, to decide whether the month fits (measured: see README). */
const BYTES_PER_ROW_ESTIMATE = 140;
/** WAL (max_wal_size is 1 GB; it overshoots between checkpoints) and what is left for everyone else. */
const HEADROOM_BYTES = 4 * 1024 ** 3;
/** The month aborts when free space falls below this. */
const MIN_FREE_BYTES = 1.5 * 1024 ** 3;

const GB = (b: number) => Math.round((b / 1e9) * 100) / 100;
const MB = (b: number) => Math.round((b / 1e6) * 10) / 10;
const r1 = (x: number) => Math.round(x * 10) / 10;
const r2 = (x: number) => Math.round(x * 100) / 100;
const perSecond = (n: number, ms: number) => Math.round(n / (ms / 1000));
const median = (xs: readonly number[]) => percentile([...xs].sort((a, b) => a - b), 50);
const freeBytes = () => { const s = statfsSync(`${repo}/.state`); return s.bavail * s.bsize; };

// ---------------------------------------------------------------- the plane and scratch databases

function planeDown(): void {
  spawnSync(`${repo}/hack/down`, [], { env: planeEnv, stdio: ["ignore", "inherit", "inherit"] });
  rmSync(state, { recursive: true, force: true });
}

let baseUrl = "";
const scratch = new Set<string>();

async function createDatabase(name: string): Promise<{ sql: Sql; url: string }> {
  const admin = connect(baseUrl, { max: 1, appName: "bench-billing" });
  try { await admin.unsafe(`CREATE DATABASE ${name}`); } finally { await admin.end(); }
  scratch.add(name);
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  const sql = connect(url.toString(), { max: 4, appName: "bench-billing", connectTimeoutS: 30 });
  await migrate(sql);
  return { sql, url: url.toString() };
}

/**
 * Drops a scratch database, retrying. Plain DROP DATABASE first (it cancels an autovacuum worker
 * itself); WITH (FORCE) on the next try, for sessions of ours still open. FORCE alone was seen to
 * fail here ("must be a member of the role whose process is being terminated": a backend of another
 * role on the database, most likely autovacuum's).
 */
async function dropDatabase(name: string, sql?: Sql): Promise<void> {
  await sql?.end().catch(() => undefined);
  const admin = connect(baseUrl, { max: 1, appName: "bench-billing" });
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.unsafe(`DROP DATABASE IF EXISTS ${name}${attempt % 2 === 0 ? " WITH (FORCE)" : ""}`);
        scratch.delete(name);
        return;
      } catch (e) {
        if (attempt >= 6) throw e;
        await new Promise((r) => setTimeout(r, 1000 * attempt));
      }
    }
  } finally {
    await admin.end();
  }
}

// ---------------------------------------------------------------- seeding

/** COPY's text format: a tab, newline or backslash in a value is escaped. */
const esc = (v: string) => v.replace(/\\/g, "\\\\").replace(/\t/g, "\\t").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
const copyText = (sql: Sql, statement: string, rows: ReadonlyArray<readonly (string | number)[]>) =>
  sql.copyIn(statement, rows.map((r) => r.map((v) => esc(String(v))).join("\t") + "\n").join(""));

interface SeedResult { events: number; resources: number; recordEvent: { events: number; ms: number; perSecond: number }; bulk: { events: number; ms: number }; verified: string }

/**
 * The fleet's events into the ledger: the first `recordN` through recordEvent (as metering records
 * them), the rest by COPY into resources and usage_events, which is what recordEvent writes (a
 * resource row once per uid, an event row with its deterministic id; no late_events: nothing is
 * rated yet). Then every stored event is compared with the fleet's, and a sample recorded again
 * through recordEvent must change nothing.
 */
async function seed(sql: Sql, f: Fleet): Promise<SeedResult> {
  const k = Math.min(recordN, f.events.length);
  const t0 = performance.now();
  for (const e of f.events.slice(0, k)) await recordEvent(sql, e);
  const recordMs = performance.now() - t0;

  const t1 = performance.now();
  const rest = f.events.slice(k);
  const known = new Set((await sql<{ uid: string }>`SELECT uid FROM resources`).map((r) => r.uid));
  const resources = new Map<string, SeedEvent>();
  for (const e of rest) if (!known.has(e.resourceUid) && !resources.has(e.resourceUid)) resources.set(e.resourceUid, e);
  await copyText(sql, "COPY resources (uid, tenant, namespace, kind, name) FROM STDIN", [...resources.values()].map((e) => [e.resourceUid, e.tenant, e.namespace, e.kind, e.name]));
  const ids = new Map((await sql<{ id: number; uid: string }>`SELECT id, uid FROM resources`).map((r) => [r.uid, r.id]));
  await copyText(sql, "COPY usage_events (id, resource_id, at, meters) FROM STDIN",
    rest.map((e) => [e.id, ids.get(e.resourceUid)!, new Date(e.at).toISOString(), JSON.stringify(e.meters)]));
  const bulkMs = performance.now() - t1;
  await sql`ANALYZE`;

  // what is stored is exactly the fleet, in the fleet's order
  const stored = await sql<{ id: string; uid: string; tenant: string; namespace: string; kind: string; name: string; at: Date; meters: UsageEvent["meters"] }>`
    SELECT e.id, r.uid, r.tenant, r.namespace, r.kind, r.name, e.at, e.meters FROM usage_events e JOIN resources r ON r.id = e.resource_id ORDER BY e.seq`;
  if (stored.length !== f.events.length) throw new Error(`seed: ${stored.length} events stored, ${f.events.length} meant`);
  stored.forEach((s, i) => {
    const e = f.events[i]!;
    if (s.id !== e.id || s.uid !== e.resourceUid || s.tenant !== e.tenant || s.namespace !== e.namespace || s.kind !== e.kind || s.name !== e.name || s.at.getTime() !== e.at || metersHash(s.meters) !== metersHash(e.meters)) {
      throw new Error(`seed: event ${i} stored as ${JSON.stringify(s)}, meant ${JSON.stringify(e)}`);
    }
  });
  const [before] = await sql<{ n: bigint }>`SELECT count(*) AS n FROM resources`;
  const sample = rest.filter((_, i) => i % Math.max(1, Math.floor(rest.length / 50)) === 0);
  for (const e of sample) if (await recordEvent(sql, e)) throw new Error(`seed: recordEvent recorded ${e.id} again: the bulk rows differ from what it writes`);
  const [after] = await sql<{ n: bigint }>`SELECT count(*) AS n FROM resources`;
  if (before!.n !== after!.n || Number(after!.n) !== f.instances + f.volumes + f.eips) throw new Error(`seed: ${after!.n} resources, meant ${f.instances + f.volumes + f.eips}`);
  return {
    events: f.events.length, resources: Number(after!.n),
    recordEvent: { events: k, ms: r1(recordMs), perSecond: perSecond(k, recordMs) },
    bulk: { events: rest.length, ms: r1(bulkMs) },
    verified: `all ${stored.length} stored events equal the fleet's (id, resource, time, meters, order); ${sample.length} recorded again through recordEvent: none new`,
  };
}

// ---------------------------------------------------------------- phase A: one hour, rater vs COPY

interface HourRun {
  hour: string; kind: "cold, first hour" | "warm" | "cold, rater restarted"; rows: number; raterMs: number; raterRowsPerSecond: number;
  copyMs: number; copyRowsPerSecond: number; ratio: number; insertMs: number; insertRowsPerSecond: number;
}

async function meterIds(sql: Sql): Promise<Map<string, number>> {
  const rows = await sql<{ id: number; product: string; meter: string; zone: string; arch: string; variant: string }>`SELECT * FROM meters`;
  return new Map(rows.map((m) => [meterKey(m), m.id]));
}

/** The rows the rater wrote for `hour`, in the order it wrote them (a fresh table: physical order). */
async function rowsRatedIn(sql: Sql, hour: number): Promise<UsageRow[]> {
  const rows = await sql<{ resource_id: number; product: string; meter: string; zone: string; arch: string; variant: string; hour: Date; rated_in: Date; milli_seconds: bigint; unit_price: bigint; discount_bp: number }>`
    SELECT u.resource_id, m.product, m.meter, m.zone, m.arch, m.variant, u.hour, u.rated_in, u.milli_seconds, u.unit_price, u.discount_bp
    FROM usage_rows u JOIN meters m ON m.id = u.meter_id WHERE u.rated_in = ${new Date(hour)} ORDER BY u.ctid`;
  return rows.map((r) => ({
    resourceId: r.resource_id, product: r.product, meter: r.meter, zone: r.zone, arch: r.arch, variant: r.variant,
    hour: r.hour.getTime(), ratedIn: r.rated_in.getTime(), milliSeconds: r.milli_seconds, unitPrice: Number(r.unit_price), discountBp: r.discount_bp,
  }));
}

const EVENT = "e.id, e.seq, e.resource_id, e.at, e.meters, r.uid, r.tenant, r.namespace, r.kind, r.name";
interface EventRow { id: string; seq: bigint; resource_id: number; uid: string; tenant: string; namespace: string; kind: string; name: string; at: Date; meters: UsageEvent["meters"] }
const toEvent = (r: EventRow): UsageEvent => ({ id: r.id, seq: Number(r.seq), resourceId: r.resource_id, resourceUid: r.uid, tenant: r.tenant, namespace: r.namespace, kind: r.kind, name: r.name, at: r.at.getTime(), meters: r.meters });

/**
 * One hour's work, reproduced apart (read-only; the same SQL and pure functions rateNextHour uses):
 * the open-state query (a cold rater only), the hour's events, rateHour with the manager's price
 * lookup and with one looked up per tenant, and the price-list summary it records per hour.
 */
async function breakdown(sql: Sql, hour: number, book: (t: string, h: number) => PriceBook | undefined, rows: number) {
  const t0 = performance.now();
  const open = await sql.unsafe<EventRow>(`SELECT DISTINCT ON (e.resource_id) ${EVENT} FROM usage_events e JOIN resources r ON r.id = e.resource_id
    WHERE e.at < $1 ORDER BY e.resource_id, e.at DESC, e.seq DESC`, [new Date(hour)]);
  const t1 = performance.now();
  const inside = (await sql.unsafe<EventRow>(`SELECT ${EVENT} FROM usage_events e JOIN resources r ON r.id = e.resource_id
    WHERE e.at >= $1 AND e.at < $2 ORDER BY e.at, e.seq`, [new Date(hour), new Date(hour + HOUR_MS)])).map(toEvent);
  const t2 = performance.now();
  const byResource = new Map<number, UsageEvent[]>();
  for (const r of open) if (r.meters.length) byResource.set(r.resource_id, [toEvent(r)]);
  for (const e of inside) { const l = byResource.get(e.resourceId); if (l) l.push(e); else byResource.set(e.resourceId, [e]); }
  let lookups = 0;
  const t3 = performance.now();
  const rated = rateHour(byResource, hour, (t) => { lookups++; return book(t, hour); });
  const t4 = performance.now();
  const memo = new Map<string, PriceBook | undefined>();
  const once = (t: string) => { let b = memo.get(t); if (!b && !memo.has(t)) memo.set(t, (b = book(t, hour))); return b; };
  const t5 = performance.now();
  rateHour(byResource, hour, once);
  const t6 = performance.now();
  [...new Set([...byResource.values()].map((evs) => book(evs.at(-1)!.tenant, hour)?.list ?? "none"))].sort().join(",");
  const t7 = performance.now();
  if (rated.length !== rows) throw new Error(`breakdown: rateHour gave ${rated.length} rows for ${new Date(hour).toISOString()}, the rater wrote ${rows}`);
  return {
    hour: new Date(hour).toISOString(), resources: byResource.size, eventsInHour: inside.length,
    openStateQueryMs: r1(t1 - t0), openStateRows: open.length, hourEventsQueryMs: r1(t2 - t1),
    rateHourMs: r1(t4 - t3), priceBookLookups: lookups, rateHourOneBookPerTenantMs: r1(t6 - t5), priceListSummaryMs: r1(t7 - t6),
  };
}

async function phaseHour(f: Fleet, book: (t: string, h: number) => PriceBook | undefined) {
  const name = `bench_hour_${Date.now().toString(36)}`;
  log(`hour: scratch database ${name}, seeding ${f.instances} instances, ${f.volumes} volumes, ${f.eips} ElasticIPs (${f.events.length} events)`);
  const { sql } = await createDatabase(name);
  try {
    const seeded = await seed(sql, f);
    log(`hour: seeded (${seeded.recordEvent.events} events through recordEvent at ${seeded.recordEvent.perSecond}/s, ${seeded.bulk.events} by COPY in ${seeded.bulk.ms} ms); ${seeded.verified}`);
    // the baselines' tables: the same schema and indexes, in the same database
    await sql.unsafe(["bench_copy", "bench_insert", "bench_floor"].map((t) => `CREATE SCHEMA ${t}; CREATE TABLE ${t}.usage_rows (LIKE public.usage_rows INCLUDING ALL);`).join(" "));
    /** One transaction writing `rows` with copyRows (COPY FROM STDIN) or insertRows (the rater's writer) into `schema`.usage_rows. */
    const write = async (how: "copy" | "insert", schema: string, rows: readonly UsageRow[], ids: ReadonlyMap<string, number>) => {
      const t = performance.now();
      await sql.begin(async (tx) => {
        if (how === "copy") await copyRows(tx, rows, ids, `${schema}.usage_rows`);
        else {
          await tx.unsafe(`SET LOCAL search_path TO ${schema}`); // insertRows names "usage_rows"
          await insertRows(tx, rows, ids);
        }
      });
      return performance.now() - t;
    };
    let cache = new RatingCache();
    const now = f.end + 2 * HOUR_MS;
    const runs: HourRun[] = [];
    for (let i = 0; i < warmHours + 2; i++) {
      const kind: HourRun["kind"] = i === 0 ? "cold, first hour" : i <= warmHours ? "warm" : "cold, rater restarted";
      if (kind === "cold, rater restarted") cache = new RatingCache();
      const t0 = performance.now();
      const r = await rateNextHour(sql, now, LATENESS_MS, book, cache);
      const raterMs = performance.now() - t0;
      if (r?.hour !== f.start + i * HOUR_MS) throw new Error(`hour: rated ${r ? new Date(r.hour).toISOString() : "nothing"}, expected hour ${i}`);
      const expected = expectedRows(f.events, r.hour, r.hour + HOUR_MS);
      if (r.rows !== expected) throw new Error(`hour: ${r.rows} rows for ${new Date(r.hour).toISOString()}, the events say ${expected}`);
      const rows = await rowsRatedIn(sql, r.hour);
      const ids = await meterIds(sql);
      // the baseline and the rater's writer apart, on the same rows, the order alternating
      let copyMs = 0, insertMs = 0;
      if (i % 2 === 0) { copyMs = await write("copy", "bench_copy", rows, ids); insertMs = await write("insert", "bench_insert", rows, ids); }
      else { insertMs = await write("insert", "bench_insert", rows, ids); copyMs = await write("copy", "bench_copy", rows, ids); }
      const [written] = await sql<{ a: bigint; b: bigint }>`SELECT (SELECT count(*) FROM bench_copy.usage_rows WHERE rated_in = ${new Date(r.hour)}) AS a, (SELECT count(*) FROM bench_insert.usage_rows WHERE rated_in = ${new Date(r.hour)}) AS b`;
      if (Number(written!.a) !== r.rows || Number(written!.b) !== r.rows) throw new Error(`hour: COPY wrote ${written!.a} and insertRows ${written!.b} rows, the rater ${r.rows}`);
      const run: HourRun = {
        hour: new Date(r.hour).toISOString(), kind, rows: r.rows, raterMs: r1(raterMs), raterRowsPerSecond: perSecond(r.rows, raterMs),
        copyMs: r1(copyMs), copyRowsPerSecond: perSecond(r.rows, copyMs), ratio: r2(copyMs / raterMs),
        insertMs: r1(insertMs), insertRowsPerSecond: perSecond(r.rows, insertMs),
      };
      runs.push(run);
      log(`hour ${i} (${kind}): ${run.rows} rows, rater ${run.raterMs} ms (${run.raterRowsPerSecond}/s), COPY ${run.copyMs} ms (${run.copyRowsPerSecond}/s), ratio ${run.ratio}x; insertRows apart ${run.insertMs} ms`);
    }
    // the fixed cost of a write: a 1-row transaction of each kind, alternating
    const floor = { copy: [] as number[], insert: [] as number[] };
    const ids = await meterIds(sql);
    const one = (await rowsRatedIn(sql, f.start))[0]!;
    for (let i = 0; i < 7; i++) {
      floor.copy.push(await write("copy", "bench_floor", [{ ...one, ratedIn: f.end + i * HOUR_MS }], ids));
      floor.insert.push(await write("insert", "bench_floor", [{ ...one, ratedIn: f.end + (i + 0.5) * HOUR_MS }], ids));
    }
    const floorMs = { copy: r1(median(floor.copy)), insert: r1(median(floor.insert)) };
    log(`hour: a 1-row transaction takes ${floorMs.copy} ms with copyRows, ${floorMs.insert} ms with insertRows (medians of 7)`);
    const warm = runs.filter((r) => r.kind === "warm");
    const parts = await breakdown(sql, f.start + HOUR_MS, book, runs[1]!.rows);
    const [size] = await sql<{ total: bigint; heap: bigint; idx: bigint; rows: bigint }>`
      SELECT pg_total_relation_size('public.usage_rows') AS total, pg_relation_size('public.usage_rows') AS heap, pg_indexes_size('public.usage_rows') AS idx, (SELECT count(*) FROM public.usage_rows) AS rows`;
    const med = (pick: (r: HourRun) => number) => median(warm.map(pick));
    return {
      database: name, seeded, runs,
      warm: {
        hours: warm.length, rows: med((r) => r.rows),
        raterMs: r1(med((r) => r.raterMs)), raterRowsPerSecond: Math.round(med((r) => r.raterRowsPerSecond)),
        copyMs: r1(med((r) => r.copyMs)), copyRowsPerSecond: Math.round(med((r) => r.copyRowsPerSecond)),
        ratio: r2(med((r) => r.raterRowsPerSecond) / med((r) => r.copyRowsPerSecond)),
        insertMs: r1(med((r) => r.insertMs)), insertRowsPerSecond: Math.round(med((r) => r.insertRowsPerSecond)),
        insertToCopy: r2(med((r) => r.insertRowsPerSecond) / med((r) => r.copyRowsPerSecond)),
      },
      floorMs,
      breakdown: parts,
      usageRows: { rows: Number(size!.rows), bytes: Number(size!.total), heapBytes: Number(size!.heap), indexBytes: Number(size!.idx), bytesPerRow: r1(Number(size!.total) / Number(size!.rows)) },
    };
  } finally {
    await dropDatabase(name, sql);
  }
}

// ---------------------------------------------------------------- phase B: the month, sizes, bills

/** The Bill the controller would write for a closed month (as Bills.reconcile builds its status). */
function billObject(tenant: string, namespace: string, closed: ClosedBill, end: number, book: PriceBook): BillObj {
  const total = closed.usageAmount + closed.subscriptionAmount;
  const status: BillStatus = {
    phase: "Finalized", currency: book.currency, scale: book.scale, ratedUntil: new Date(end).toISOString(),
    pricing: "Enabled", deduction: "Enabled", totals: closed.totals, usageAmount: Number(closed.usageAmount), subscriptionAmount: Number(closed.subscriptionAmount),
    total: Number(total), deducted: Number(total), lineItems: closed.lines.length, checksum: closed.checksum,
  };
  const obj: BillObj = { apiVersion: `${BillRef.group}/${BillRef.version}`, kind: "Bill", metadata: { name: billName(tenant, MONTH), namespace, generation: 1 }, spec: { tenant, month: MONTH } };
  const message = `Finalized: ${formatMoney(total, book.scale)} ${book.currency} in ${closed.lines.length} line(s)`;
  return { ...obj, status: { ...status, observedGeneration: 1, conditions: withCondition({ ...obj, status } as BillObj, { type: "Ready", status: "True", reason: "Finalized", message }).conditions } as BillStatus };
}

async function phaseMonth(f: Fleet, book: (t: string, h: number) => PriceBook | undefined, kube: KubeClient) {
  const name = `bench_month_${Date.now().toString(36)}`;
  const expected = expectedRows(f.events, f.start, f.end);
  log(`month: scratch database ${name}, seeding ${f.instances} instances, ${f.volumes} volumes, ${f.eips} ElasticIPs (${f.events.length} events); ${expected} rows to come`);
  const { sql } = await createDatabase(name);
  try {
    const seeded = await seed(sql, f);
    log(`month: seeded; ${seeded.verified}`);
    const [db0] = await sql<{ b: bigint }>`SELECT pg_database_size(current_database()) AS b`;
    const cache = new RatingCache();
    const now = f.end + 2 * HOUR_MS;
    const hours: Array<{ ms: number; rows: number }> = [];
    const t0 = performance.now();
    for (;;) {
      const t = performance.now();
      const r = await rateNextHour(sql, now, LATENESS_MS, book, cache);
      if (!r) break;
      if (r.hour !== f.start + hours.length * HOUR_MS) throw new Error(`month: rated ${new Date(r.hour).toISOString()} as hour ${hours.length}`);
      hours.push({ ms: performance.now() - t, rows: r.rows });
      if (freeBytes() < MIN_FREE_BYTES) throw new Error(`month: only ${GB(freeBytes())} GB left on the disk; stopped at hour ${hours.length} (lower BENCH_MONTH_INSTANCES)`);
      if (hours.length % 48 === 0) {
        const done = hours.length / 744, spent = performance.now() - t0;
        log(`month: ${hours.length}/744 hours, ${hours.reduce((a, h) => a + h.rows, 0)} rows, ${r1(spent / 1000)} s (about ${Math.round((spent / done - spent) / 1000)} s to go); ${GB(freeBytes())} GB free`);
      }
    }
    const wallMs = performance.now() - t0;
    const rows = hours.reduce((a, h) => a + h.rows, 0);
    if (hours.length !== 744) throw new Error(`month: ${hours.length} hours rated, not 744`);
    if (rows !== expected) throw new Error(`month: ${rows} rows rated, the events say ${expected}`);
    log(`month: 744 hours, ${rows} rows in ${r1(wallMs / 1000)} s`);

    const [size] = await sql<{ db: bigint; total: bigint; heap: bigint; idx: bigint; events: bigint; n: bigint }>`
      SELECT pg_database_size(current_database()) AS db, pg_total_relation_size('usage_rows') AS total, pg_relation_size('usage_rows') AS heap,
             pg_indexes_size('usage_rows') AS idx, pg_total_relation_size('usage_events') + pg_total_relation_size('resources') AS events, (SELECT count(*) FROM usage_rows) AS n`;
    if (Number(size!.n) !== rows) throw new Error(`month: usage_rows holds ${size!.n} rows, the rater reported ${rows}`);

    // validity: per resource and meter, the month's rows add up to the usage computed from the events in one pass
    const v0 = performance.now();
    const sums = await sql<{ uid: string; product: string; meter: string; zone: string; arch: string; variant: string; ms: bigint }>`
      SELECT r.uid, m.product, m.meter, m.zone, m.arch, m.variant, sum(u.milli_seconds)::bigint AS ms
      FROM usage_rows u JOIN resources r ON r.id = u.resource_id JOIN meters m ON m.id = u.meter_id GROUP BY 1, 2, 3, 4, 5, 6`;
    const got = new Map(sums.map((s) => [`${s.uid}|${meterKey(s)}`, s.ms]));
    let mismatched = 0, checked = 0;
    for (const [uid, evs] of Map.groupBy(f.events, (e) => e.resourceUid)) {
      for (const [k, u] of usage(evs.map((e, i) => ({ ...e, seq: i, resourceId: 0 })), f.start, f.end)) {
        checked++;
        if (got.get(`${uid}|${k}`) !== u.milliSeconds) mismatched++;
        got.delete(`${uid}|${k}`);
      }
    }
    mismatched += got.size;
    if (mismatched) throw new Error(`month: ${mismatched} of ${checked} resource×meter sums differ from the events' usage`);
    const validity = `all ${checked} resource×meter month sums equal the usage computed from the events (${r1((performance.now() - v0) / 1000)} s)`;
    log(`month: ${validity}`);

    // every tenant's bill, as the controller closes it (billLines + subscriptionLines + closeBill);
    // how it reads usage_rows comes from the table's statistics (flushed within a second)
    const scans = async () => {
      await new Promise((r) => setTimeout(r, 1500));
      await sql`SELECT pg_stat_clear_snapshot()`;
      const [t] = await sql<{ seq: bigint; seqRead: bigint; idx: bigint; idxFetch: bigint }>`
        SELECT seq_scan AS seq, seq_tup_read AS "seqRead", coalesce(idx_scan, 0) AS idx, coalesce(idx_tup_fetch, 0) AS "idxFetch" FROM pg_stat_user_tables WHERE relid = 'public.usage_rows'::regclass`;
      return t!;
    };
    const before = await scans();
    const b0 = performance.now();
    const billed = await tenantsBilled(sql, f.start, f.end);
    const tenantsBilledMs = performance.now() - b0;
    const bills: Array<{ tenant: string; instances: number; lines: number; totals: number; ms: number; csvBytes: number; billJsonBytes: number; storedBytes?: number; storedBytesNoManagedFields?: number; total: number }> = [];
    const closedOf = new Map<string, ClosedBill>();
    for (const tenant of billed) {
      const t = performance.now();
      const closed = closeBill(await billLines(sql, tenant, f.start, f.end), await subscriptionLines(sql, tenant, f.start, f.end));
      const ms = performance.now() - t;
      closedOf.set(tenant, closed);
      const obj = billObject(tenant, tenant, closed, f.end, book(tenant, f.end - HOUR_MS)!);
      bills.push({ tenant, instances: f.perTenant.get(tenant) ?? 0, lines: closed.lines.length, totals: closed.totals.length, ms: r1(ms), csvBytes: Buffer.byteLength(closed.csv), billJsonBytes: Buffer.byteLength(JSON.stringify(obj)), total: Number(closed.usageAmount) });
    }
    const allBillsMs = bills.reduce((a, b) => a + b.ms, 0);
    const after = await scans();
    const usageRowsReads = {
      seqScans: Number(after.seq - before.seq), rowsReadBySeqScans: Number(after.seqRead - before.seqRead),
      indexScans: Number(after.idx - before.idx), rowsFetchedByIndexScans: Number(after.idxFetch - before.idxFetch),
    };
    log(`month: ${bills.length} bills closed from the ledger in ${r1(allBillsMs / 1000)} s (tenantsBilled ${r1(tenantsBilledMs)} ms)`);
    // what the controller does at a refresh: every tenant's lines in one pass, then each bill from them
    const p0 = performance.now();
    const byTenant = await billLinesByTenant(sql, f.start, f.end);
    const onePassMs = performance.now() - p0;
    for (const tenant of billed) {
      const same = closeBill(byTenant.get(tenant) ?? [], await subscriptionLines(sql, tenant, f.start, f.end));
      if (same.checksum !== closedOf.get(tenant)!.checksum) throw new Error(`bill ${tenant}: one pass and the tenant's own query disagree`);
    }
    log(`month: every tenant's lines in one pass (what a refresh reads): ${r1(onePassMs / 1000)} s, the same ${billed.length} bills`);

    // the Bills for real: created, status through the status subresource, read back
    for (const b of bills) {
      await kube.create(NamespaceRef, { apiVersion: "v1", kind: "Namespace", metadata: { name: b.tenant, labels: { [TENANT_LABEL]: b.tenant } } }).catch((e: { code?: number }) => { if (e.code !== 409) throw e; });
      const want = billObject(b.tenant, b.tenant, closedOf.get(b.tenant)!, f.end, book(b.tenant, f.end - HOUR_MS)!);
      const created = await kube.create<BillObj>(BillRef, { apiVersion: want.apiVersion, kind: "Bill", metadata: { name: want.metadata.name, namespace: b.tenant }, spec: want.spec });
      await writeStatus(kube, BillRef, created, want.status as never);
      const stored = await kube.get<BillObj>(BillRef, want.metadata.name, b.tenant);
      if (!isDeepStrictEqual(stored.status?.totals, want.status?.totals) || stored.status?.checksum !== want.status?.checksum) throw new Error(`bill ${b.tenant}: the stored status differs from what was written`);
      b.storedBytes = Buffer.byteLength(JSON.stringify(stored));
      const { managedFields: _, ...meta } = stored.metadata as typeof stored.metadata & { managedFields?: unknown };
      b.storedBytesNoManagedFields = Buffer.byteLength(JSON.stringify({ ...stored, metadata: meta }));
    }
    const largest = bills.reduce((a, b) => (b.lines > a.lines ? b : a));
    const ms = hours.map((h) => h.ms).sort((a, b) => a - b);
    const day = (from: number) => hours.slice(from, from + 24);
    const avg = (hs: Array<{ ms: number }>) => r1(hs.reduce((a, h) => a + h.ms, 0) / hs.length);
    return {
      database: name, seeded, expectedRows: expected,
      rating: {
        hours: hours.length, rows, wallSeconds: r1(wallMs / 1000), rowsPerSecond: perSecond(rows, wallMs),
        rowsPerRatedHour: Math.round(rows / hours.length), msPerRatedHour: { mean: r1(wallMs / hours.length), p50: r1(percentile(ms, 50)), p90: r1(percentile(ms, 90)), p99: r1(percentile(ms, 99)), max: r1(ms.at(-1)!) },
        firstHourMs: r1(hours[0]!.ms), firstDayMeanMs: avg(day(0)), lastDayMeanMs: avg(day(720)),
      },
      validity,
      sizes: {
        databaseBytes: Number(size!.db), databaseBytesBeforeRating: Number(db0!.b), usageRowsBytes: Number(size!.total), usageRowsHeapBytes: Number(size!.heap),
        usageRowsIndexBytes: Number(size!.idx), eventsAndResourcesBytes: Number(size!.events), bytesPerRow: r1(Number(size!.total) / rows),
      },
      bills: {
        tenants: bills.length, tenantsBilledMs: r1(tenantsBilledMs), allBillsMs: r1(allBillsMs), onePassMs: r1(onePassMs),
        largest, maxStoredBytes: Math.max(...bills.map((b) => b.storedBytes ?? 0)), medianStoredBytes: median(bills.map((b) => b.storedBytes ?? 0)),
        maxTotals: Math.max(...bills.map((b) => b.totals)), msPerBill: { min: Math.min(...bills.map((b) => b.ms)), p50: median(bills.map((b) => b.ms)), max: Math.max(...bills.map((b) => b.ms)) },
        usageRowsReads, perTenant: bills,
      },
    };
  } finally {
    await dropDatabase(name, sql);
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = performance.now();
  const lists = priceLists();
  const hourFleet = phases.has("hour") ? fleet({ instances: hourInstances, tenants: tenantCount, month: MONTH }) : undefined;
  const monthFleet = phases.has("month") ? fleet({ instances: monthInstances, tenants: tenantCount, month: MONTH }) : undefined;
  // does the month fit on the disk? (the hour phase writes a few hours only)
  const monthRows = monthFleet ? expectedRows(monthFleet.events, monthFleet.start, monthFleet.end) : 0;
  const hourRows = hourFleet ? expectedRows(hourFleet.events, hourFleet.start, hourFleet.start + (warmHours + 2) * HOUR_MS) * 2 : 0;
  const needed = (monthRows + hourRows) * BYTES_PER_ROW_ESTIMATE + HEADROOM_BYTES;
  const free = freeBytes();
  log(`disk: the run writes about ${GB((monthRows + hourRows) * BYTES_PER_ROW_ESTIMATE)} GB (${monthRows + hourRows} rows x ${BYTES_PER_ROW_ESTIMATE} B) plus ${GB(HEADROOM_BYTES)} GB for WAL and headroom; ${GB(free)} GB free`);
  if (needed > free) {
    throw new Error(`not enough disk: the month at ${monthInstances} instances writes ~${monthRows} usage rows, about ${GB(monthRows * BYTES_PER_ROW_ESTIMATE)} GB ` +
      `(${BYTES_PER_ROW_ESTIMATE} B a row with its index), and the run wants ${GB(HEADROOM_BYTES)} GB more for WAL and headroom: ${GB(needed)} GB needed, ` +
      `${GB(free)} GB free under ${repo}/.state. Lower BENCH_MONTH_INSTANCES (or leave BENCH_SCALE unset) or free disk space.`);
  }

  if (!keepPlane) planeDown(); // a fresh plane: nothing of an earlier run
  log(`bringing up the bench plane (${state}, ports ${portBase + 1}-${portBase + 11})`);
  const up = spawnSync(`${repo}/hack/up`, ["--plane-only", "--quiet"], { env: planeEnv, stdio: ["ignore", "inherit", "inherit"] });
  if (up.status !== 0) throw new Error(`hack/up failed (exit ${up.status})`);
  baseUrl = readFileSync(`${state}/pki/billing-db.url`, "utf8").trim();
  const kc = new KubeConfig();
  kc.loadFromFile(`${state}/kubeconfig`);
  const kube = new KubeClient(kc, "bench-billing");

  const [pg] = await (async () => { const a = connect(baseUrl, { max: 1 }); try { return await a<{ v: string; sb: string }>`SELECT version() AS v, current_setting('shared_buffers') AS sb`; } finally { await a.end(); } })();
  const hour = hourFleet ? await phaseHour(hourFleet, bookFor(lists, hourFleet.tenants)) : undefined;
  const month = monthFleet ? await phaseMonth(monthFleet, bookFor(lists, monthFleet.tenants), kube) : undefined;

  // extrapolations to the seed's scale (30,000 instances), from what was measured here
  const fullFleet = hourFleet?.instances === 30000 ? hourFleet : monthFleet?.instances === 30000 ? monthFleet : fleet({ instances: 30000, tenants: tenantCount, month: MONTH });
  const fullRows = expectedRows(fullFleet.events, fullFleet.start, fullFleet.end);
  const growth = month ? month.rating.lastDayMeanMs / month.rating.firstDayMeanMs : undefined;
  const extrapolation = month && {
    note: "EXTRAPOLATED, not measured. Rows: exact for the 30,000-instance fleet's events. Size: the month phase's bytes per row x those rows. " +
      "Rating time: 744 x the hour phase's median warm hour at 30,000 instances, and that x the month phase's last-day/first-day ratio (the index grows). " +
      "Closing every bill at month end: the month phase's time x the row ratio (billLines aggregates every row of the month).",
    instances: 30000, rows: fullRows, bytes: Math.round(fullRows * month.sizes.bytesPerRow),
    ratingSecondsFromHour: hour && hourFleet?.instances === 30000 ? Math.round((744 * hour.warm.raterMs) / 1000) : undefined,
    ratingSecondsWithGrowth: hour && hourFleet?.instances === 30000 && growth ? Math.round((744 * hour.warm.raterMs * growth) / 1000) : undefined,
    allBillsSeconds: Math.round((month.bills.allBillsMs / 1000) * (fullRows / month.rating.rows)),
    largestBillSeconds: Math.round((month.bills.largest.ms / 1000) * (fullRows / month.rating.rows)),
    largestCsvBytes: Math.round(month.bills.largest.csvBytes * (fullRows / month.rating.rows)),
  };

  const result = {
    when: new Date().toISOString(), machine: machine(), commit: spawnSync("git", ["rev-parse", "--short", "HEAD"], { cwd: repo }).stdout.toString().trim(),
    dirty: spawnSync("git", ["status", "--porcelain", "--", "operators/billing"], { cwd: repo }).stdout.toString().trim().split("\n").filter(Boolean),
    postgres: { version: pg!.v.split(" on ")[0], sharedBuffers: pg!.sb },
    config: { month: MONTH, tenants: tenantCount, hourInstances: hourFleet?.instances, monthInstances: monthFleet?.instances, warmHours, latenessMs: LATENESS_MS, recordEvents: recordN, priceLists: lists.map((l) => l.metadata.name) },
    baseline: "the same rows written with the ledger's copyRows (COPY FROM STDIN, text) in a transaction of their own, into a table of the same schema and indexes (CREATE TABLE ... (LIKE usage_rows INCLUDING ALL)) in the same database",
    hour, month, extrapolation, runSeconds: Math.round((performance.now() - started) / 1000),
  };
  mkdirSync(`${repo}/.state/bench/results`, { recursive: true });
  const file = `${repo}/.state/bench/results/billing-${result.when.replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2));

  const out: string[] = [`Billing ledger: ${result.postgres.version}, shared_buffers ${result.postgres.sharedBuffers}, ${result.machine.cpus} CPUs (${result.machine.model}), load ${result.machine.load}`];
  if (hour && hourFleet) {
    const h = hour;
    out.push(``, `Hour: ${hourFleet.instances} instances + ${hourFleet.volumes} volumes + ${hourFleet.eips} ElasticIPs, ${tenantCount} tenants; baseline: copyRows (COPY FROM STDIN) of the same rows into a same-schema table`,
      `  | hour | kind | rows | rater ms | rater rows/s | COPY ms | COPY rows/s | rater / COPY | insertRows apart ms |`, `  |---|---|---|---|---|---|---|---|---|`,
      ...h.runs.map((r) => `  | ${r.hour.slice(11, 16)} | ${r.kind} | ${r.rows} | ${r.raterMs} | ${r.raterRowsPerSecond} | ${r.copyMs} | ${r.copyRowsPerSecond} | ${r.ratio}x | ${r.insertMs} |`),
      `  median of the ${h.warm.hours} warm hours: rater ${h.warm.raterRowsPerSecond} rows/s, COPY ${h.warm.copyRowsPerSecond} rows/s: ratio ${h.warm.ratio}x`,
      `  the rater's writer apart (insertRows, INSERT ... unnest): ${h.warm.insertRowsPerSecond} rows/s, ${h.warm.insertToCopy}x of COPY; a 1-row transaction: insertRows ${h.floorMs.insert} ms, copyRows ${h.floorMs.copy} ms`,
      `  parts of hour 01:00, reproduced apart: open-state query ${h.breakdown.openStateQueryMs} ms (cold rater only), the hour's events ${h.breakdown.hourEventsQueryMs} ms, ` +
        `rateHour ${h.breakdown.rateHourMs} ms (${h.breakdown.priceBookLookups} price-book lookups; ${h.breakdown.rateHourOneBookPerTenantMs} ms with one per tenant), price-list summary ${h.breakdown.priceListSummaryMs} ms`,
      `  seeding: recordEvent ${h.seeded.recordEvent.perSecond} events/s (${h.seeded.recordEvent.events}), the rest by COPY; usage_rows ${h.usageRows.bytesPerRow} B/row so far`);
  }
  if (month && monthFleet) {
    const m = month;
    out.push(``, `Month ${MONTH} (744 h): ${monthFleet.instances} instances + ${monthFleet.volumes} volumes + ${monthFleet.eips} ElasticIPs, ${tenantCount} tenants, one RatingCache`,
      `  rated ${m.rating.rows} rows in ${m.rating.wallSeconds} s: ${m.rating.rowsPerSecond} rows/s, ${m.rating.rowsPerRatedHour} rows per rated hour`,
      `  per rated hour: mean ${m.rating.msPerRatedHour.mean} ms, p50 ${m.rating.msPerRatedHour.p50}, p90 ${m.rating.msPerRatedHour.p90}, p99 ${m.rating.msPerRatedHour.p99}, max ${m.rating.msPerRatedHour.max}; first hour ${m.rating.firstHourMs} ms; first day mean ${m.rating.firstDayMeanMs} ms, last day ${m.rating.lastDayMeanMs} ms`,
      `  database ${MB(m.sizes.databaseBytes)} MB (${MB(m.sizes.databaseBytesBeforeRating)} MB before rating); usage_rows ${MB(m.sizes.usageRowsBytes)} MB = heap ${MB(m.sizes.usageRowsHeapBytes)} + primary key ${MB(m.sizes.usageRowsIndexBytes)}: ${m.sizes.bytesPerRow} B/row`,
      `  ${m.validity}`,
      `  bills: ${m.bills.tenants} tenants closed one by one in ${r1(m.bills.allBillsMs / 1000)} s; in one pass over the month (what a refresh of every bill reads) ${r1(m.bills.onePassMs / 1000)} s; tenantsBilled ${m.bills.tenantsBilledMs} ms`,
      `  per bill: min ${m.bills.msPerBill.min} ms, median ${m.bills.msPerBill.p50} ms, max ${m.bills.msPerBill.max} ms; usage_rows read meanwhile: ${m.bills.usageRowsReads.seqScans} sequential scans ` +
        `(${m.bills.usageRowsReads.rowsReadBySeqScans} rows, ${r1(m.bills.usageRowsReads.rowsReadBySeqScans / Math.max(1, m.rating.rows))}x the table), ${m.bills.usageRowsReads.indexScans} index scans (${m.bills.usageRowsReads.rowsFetchedByIndexScans} rows)`,
      `  largest tenant ${m.bills.largest.tenant} (${m.bills.largest.instances} instances): ${m.bills.largest.lines} lines in ${m.bills.largest.ms} ms, CSV ${r1(m.bills.largest.csvBytes / 1024)} KiB, ` +
        `${m.bills.largest.totals} totals; Bill JSON ${m.bills.largest.billJsonBytes} B, stored ${m.bills.largest.storedBytes} B (${m.bills.largest.storedBytesNoManagedFields} B without managedFields)`,
      `  every tenant's Bill stored: max ${m.bills.maxStoredBytes} B, median ${m.bills.medianStoredBytes} B, at most ${m.bills.maxTotals} totals`);
  }
  if (extrapolation) {
    out.push(``, `EXTRAPOLATED to 30,000 instances (not measured): ${extrapolation.rows} rows a month (exact for that fleet), ~${GB(extrapolation.bytes)} GB of usage_rows` +
      (extrapolation.ratingSecondsFromHour ? `; rating the month ~${extrapolation.ratingSecondsFromHour} s (744 x the warm hour), ~${extrapolation.ratingSecondsWithGrowth} s with the month phase's growth` : "") +
      `; closing every bill at month end ~${extrapolation.allBillsSeconds} s, the largest ~${extrapolation.largestBillSeconds} s with a ~${MB(extrapolation.largestCsvBytes)} MB CSV`);
  }
  out.push(``, `run took ${result.runSeconds} s   ${file}`);
  console.log(out.join("\n"));
}

let cleaning = false;
async function cleanup(): Promise<void> {
  if (cleaning) return;
  cleaning = true;
  for (const name of [...scratch]) await dropDatabase(name).catch((e: unknown) => log(`could not drop ${name}: ${String(e)}`));
  if (!keepPlane) planeDown();
}
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    log(`${sig}: dropping the scratch databases and stopping the bench plane`);
    // if a database call hangs, the databases go with the plane's state directory
    setTimeout(() => { if (!keepPlane) { spawnSync(`${repo}/hack/down`, [], { env: planeEnv, stdio: "ignore" }); rmSync(state, { recursive: true, force: true }); } process.exit(130); }, 20_000).unref();
    void cleanup().finally(() => process.exit(130));
  });
}

try {
  await main();
} catch (e) {
  console.error(`bench: failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
