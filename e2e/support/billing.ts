// The billing ledger the test plane runs (hack/up starts PostgreSQL beside etcd): each suite gets a
// scratch database of its own, so rating in one suite never sees another's events.
import { readFileSync } from "node:fs";
import { inject } from "vitest";
import { connect, type Sql } from "../../operators/billing/ledger.ts";
import type { Clock } from "../../operators/runtime/clock.ts";
import { NamespaceRef } from "../../operators/runtime/core.ts";
import type { KubeClient } from "../../operators/runtime/kube.ts";
import type { KubeObject, ResourceRef } from "../../operators/runtime/types.ts";

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
  // t<creation time, base 36>_<prefix>_<random>: setup drops the ones earlier runs left, not a running one's
  const name = `t${Date.now().toString(36)}_${prefix.replace(/[^a-z0-9]/g, "_")}_${Math.random().toString(36).slice(2, 6)}`;
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

/**
 * Creates objects from their ref and body, and deletes what outlives a namespace afterwards: the
 * cluster-scoped ones (namespaces, tenants, price lists, flavors), newest first.
 */
export function objects(client: KubeClient): { create(ref: ResourceRef, obj: Record<string, unknown>): Promise<KubeObject>; cleanup(): Promise<void> } {
  const made: Array<{ ref: ResourceRef; name: string }> = [];
  return {
    async create(ref, obj) {
      const o = await client.create(ref, { apiVersion: `${ref.group ? `${ref.group}/` : ""}${ref.version}`, kind: ref.kind, ...obj } as KubeObject);
      if (!ref.namespaced) made.push({ ref, name: o.metadata.name });
      return o;
    },
    async cleanup() {
      // namespaces first: their objects go with them
      const order = [...made.filter((m) => m.ref === NamespaceRef), ...made.filter((m) => m.ref !== NamespaceRef).reverse()];
      for (const { ref, name } of order) await client.delete(ref, name).catch(() => undefined);
    },
  };
}
