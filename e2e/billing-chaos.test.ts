// Exactly-once rating under crashes: the same months of lifecycle events are rated twice, once
// without interruption (in this process) and once by the real manager (`node operators/main.ts
// --controllers=billing`) that is SIGKILLed, or whose database connections are terminated, at
// random points while it rates, 50 times. Every usage row and every bill must come out identical.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { meter, PriceListRef, type Meter, type PriceListObj } from "../operators/api/billing.ts";
import { closeBill, monthRange } from "../operators/billing/bills.ts";
import { billLines, connect, migrate, RatingCache, ratedUntil, rateNextHour, recordEvent, type Sql } from "../operators/billing/ledger.ts";
import { priceBook } from "../operators/billing/price.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import { ledgerUrl, scratchLedger, type ScratchLedger } from "./support/billing.ts";
import { eventually, kubeConfig, uniqueName } from "./support/kube.ts";
import { spawnManager, stopProcess, type ManagerProcess } from "./support/manager.ts";
import { freePorts } from "./support/tenancy.ts";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const H = 3_600_000;
const KILLS = 50;
const LATENESS_S = 60;

/** A small deterministic PRNG (mulberry32), so both ledgers get the same history and a failure replays. */
function rng(seed: number): () => number {
  return () => {
    seed |= 0; seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.skipIf(!ledgerUrl())("billing: exactly once under crashes", () => {
  const client = new KubeClient(kubeConfig());
  const id = uniqueName("c").slice(2);
  const tenants = [`chaos-a-${id}`, `chaos-b-${id}`, `chaos-c-${id}`];
  // two months of history, up to this month's start, rated up to the current hour
  const today = new Date();
  const from = Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 2, 1);
  const until = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), 1);
  const months = [from, Date.UTC(today.getUTCFullYear(), today.getUTCMonth() - 1, 1)].map((t) => new Date(t).toISOString().slice(0, 7));
  let reference: ScratchLedger, crashed: ScratchLedger;
  let manager: ManagerProcess | undefined;
  const list = `chaos-${id}`;

  /** 200 resources, each created in the first month and changed or deleted now and then until the second's end. */
  async function seed(sql: Sql): Promise<void> {
    await migrate(sql);
    const rand = rng(19);
    for (let i = 0; i < 200; i++) {
      const tenant = tenants[i % tenants.length]!;
      const uid = `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`;
      const kind = i % 3 === 0 ? "Volume" : "Instance";
      let t = from + Math.floor(rand() * 20 * 24 * 3600) * 1000;
      let gen = 1;
      const state = (): Meter[] => kind === "Volume"
        ? [meter("evs", "disk.GiB-hour", 10 * (1 + Math.floor(rand() * 50)), { zone: "az1", variant: "ssd" })]
        : [meter("ecs", "cpu.core-hour", 2 ** Math.floor(rand() * 4), { zone: "az1", arch: rand() < 0.5 ? "amd64" : "arm64" }), meter("ecs", "memory.GiB-hour", 2 + Math.floor(rand() * 30), { zone: "az1", arch: "amd64" })];
      await recordEvent(sql, { id: `${uid}/1/create`, resourceUid: uid, tenant, namespace: tenant, kind, name: `r${i}`, at: t, meters: state() });
      for (let c = 0; c < 4; c++) {
        t += Math.floor(rand() * 25 * 24 * 3600) * 1000;
        if (t >= until) break;
        const gone = rand() < 0.15;
        await recordEvent(sql, { id: `${uid}/${++gen}/${gone ? "delete" : "change"}`, resourceUid: uid, tenant, namespace: tenant, kind, name: `r${i}`, at: t, meters: gone ? [] : rand() < 0.2 ? [] : state() });
        if (gone) break;
      }
    }
  }

  /** A digest of every row of the seeded tenants (by name, not by the ledger's ids), and each tenant's bill for each month. */
  async function outcome(sql: Sql, until: number): Promise<{ rows: string; count: number; bills: Record<string, string> }> {
    const [rows] = await sql<{ digest: string; n: bigint }>`
      SELECT md5(string_agg(x.r, E'\n' ORDER BY x.r)) AS digest, count(*)::bigint AS n FROM (
        SELECT concat_ws('|', r.uid, m.product, m.meter, m.zone, m.arch, m.variant, extract(epoch FROM u.hour), extract(epoch FROM u.rated_in), u.milli_seconds, u.unit_price, u.discount_bp) AS r
        FROM usage_rows u JOIN resources r ON r.id = u.resource_id JOIN meters m ON m.id = u.meter_id
        WHERE r.tenant = ANY(${tenants}) AND u.rated_in < ${new Date(until)}) x`;
    const bills: Record<string, string> = {};
    for (const tenant of tenants) {
      for (const month of months) {
        const [f, t] = monthRange(month);
        const b = closeBill(await billLines(sql, tenant, f, t), []);
        bills[`${tenant}/${month}`] = `${b.checksum} ${b.usageAmount}`;
      }
    }
    return { rows: rows!.digest, count: Number(rows!.n), bills };
  }

  beforeAll(async () => {
    // every meter priced, from before the history starts
    await client.create(PriceListRef, {
      apiVersion: "billing.cellcloud.io/v1alpha1", kind: "PriceList", metadata: { name: list },
      spec: { currency: "CNY", scale: 1_000_000, effectiveFrom: new Date(from - 86_400_000).toISOString(), items: [
        { product: "ecs", meter: "cpu.core-hour", unitPrice: 100_000 }, { product: "ecs", meter: "cpu.core-hour", arch: "arm64", unitPrice: 70_000 },
        { product: "ecs", meter: "memory.GiB-hour", unitPrice: 20_000 }, { product: "evs", meter: "disk.GiB-hour", unitPrice: 1_333 },
      ] },
    } as PriceListObj);
    [reference, crashed] = await Promise.all([scratchLedger("chaos_ref"), scratchLedger("chaos_run")]);
    await Promise.all([seed(reference.sql), seed(crashed.sql)]);
  }, 120_000);

  afterAll(async () => {
    await stopProcess(manager);
    await client.delete(PriceListRef, list).catch(() => undefined);
    await reference?.drop();
    await crashed?.drop();
  });

  it("rates every hour exactly once through 50 manager kills and connection kills", async () => {
    // the uninterrupted run, with the prices the manager sees (every PriceList in the cluster), beside
    // the crashed one: both rate every hour that ended a lateness before `now`
    const lists = (await client.list<PriceListObj>(PriceListRef)).items;
    const now = Date.now();
    const target = Math.floor((now - LATENESS_S * 1000) / H) * H;
    const uninterrupted = (async () => {
      const cache = new RatingCache();
      while (await rateNextHour(reference.sql, now, LATENESS_S * 1000, (t, h) => priceBook(lists, [t], h), cache));
      expect(await ratedUntil(reference.sql)).toBe(target);
      return outcome(reference.sql, target);
    })();
    uninterrupted.catch(() => undefined); // awaited below; a failure there is the test's
    expect(target).toBeGreaterThan(until);

    // the manager, killed again and again while it rates
    const dir = mkdtempSync(join(tmpdir(), "cellcloud-chaos-"));
    writeFileSync(join(dir, "url"), crashed.url, { mode: 0o600 });
    const watcher = connect(crashed.url, { max: 1, appName: "cellcloud-test" });
    const rand = rng(7);
    const spawn = async () => {
      const [metricsPort, healthPort] = (await freePorts(2)) as [number, number];
      return spawnManager({ leaseId: `chaos-${id}`, metricsPort, healthPort, controllers: "billing", extraArgs: [
        "--leader-elect=false", `--billing-database-url-file=${join(dir, "url")}`, "--billing-rate-every=0.05", `--billing-lateness=${LATENESS_S}`,
      ] });
    };
    const watermark = async () => (await ratedUntil(watcher)) ?? 0;
    const kinds = { process: 0, connection: 0, midRating: 0 };
    const log: string[] = [];
    let lastWords = "";
    try {
      for (let k = 0; k < KILLS; k++) {
        manager ??= await spawn();
        // rating is under way (the watermark moved since this kill's turn began), then a random moment
        const before = await watermark();
        const m = manager;
        await eventually(async () => (await watermark()) > before || (await watermark()) >= target, { what: `rating progresses (kill ${k})`, timeoutMs: 60_000, intervalMs: 20 })
          .catch((e: unknown) => { throw new Error(`${String(e)}\nkills: ${log.join(", ")}\nmanager output:\n${m.output().split("\n").slice(-30).join("\n")}\nprevious manager:\n${lastWords}`); });
        await new Promise((r) => setTimeout(r, Math.floor(rand() * 150)));
        if ((await watermark()) < target) kinds.midRating++;
        if (rand() < 0.2) {
          await stopProcess(manager);
          lastWords = manager.output().split("\n").slice(-15).join("\n");
          manager = undefined;
          kinds.process++;
          log.push(`process@${new Date(await watermark()).toISOString()}`);
        } else {
          await watcher`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'cellcloud-billing'`;
          kinds.connection++;
          log.push(`connection@${new Date(await watermark()).toISOString()}`);
        }
      }
      manager ??= await spawn();
      await eventually(async () => (await watermark()) >= target, { what: "the crashed run catches up", timeoutMs: 120_000, intervalMs: 100 });
    } finally {
      await watcher.end();
    }
    console.log(`billing chaos: ${kinds.process} manager kills, ${kinds.connection} connection kills, ${kinds.midRating} of them before the rating was done`);
    expect(kinds.process + kinds.connection).toBe(KILLS);
    expect(kinds.midRating).toBe(KILLS);
    const expected = await uninterrupted;
    expect(expected.count).toBeGreaterThan(150_000);
    const got = await outcome(crashed.sql, target);
    expect(got.bills).toEqual(expected.bills);
    expect(got.count).toBe(expected.count);
    expect(got.rows).toBe(expected.rows);
  }, 600_000);
});
