// The billing ledger the test plane runs (hack/up starts PostgreSQL beside etcd): each suite gets a
// scratch database of its own, so rating in one suite never sees another's events.
import { readFileSync } from "node:fs";
import { inject } from "vitest";
import { connect, type Sql } from "../../operators/billing/ledger.ts";
import type { Clock } from "../../operators/runtime/clock.ts";

/** The plane's ledger URL ("" on an installed cluster: billing suites skip). */
export function ledgerUrl(): string {
  const file = inject("billingDatabaseUrl");
  return file ? readFileSync(file, "utf8").trim() : "";
}

export interface ScratchLedger { url: string; sql: Sql; drop(): Promise<void> }

/** A new, empty database on the plane's PostgreSQL (dropped by drop(), or by the next run's setup). */
export async function scratchLedger(prefix: string): Promise<ScratchLedger> {
  const base = ledgerUrl();
  if (!base) throw new Error("no billing database on this plane");
  const name = `t_${prefix.replace(/[^a-z0-9]/g, "_")}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const admin = connect(base, { max: 1 });
  await admin.unsafe(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(base);
  url.pathname = `/${name}`;
  const sql = connect(url.toString(), { max: 2, appName: "cellcloud-test" });
  return {
    url: url.toString(), sql,
    async drop() {
      await sql.end();
      const a = connect(base, { max: 1 });
      await a.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
      await a.end();
    },
  };
}

/** A clock the test sets. */
export class TestClock implements Clock {
  t: number;
  constructor(at: string | number) { this.t = typeof at === "string" ? Date.parse(at) : at; }
  now(): number { return this.t; }
  set(at: string | number): void { this.t = typeof at === "string" ? Date.parse(at) : at; }
}
