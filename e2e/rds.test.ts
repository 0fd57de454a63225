// RDS with real PostgreSQL, on loopback only: DBInstance members are pods the local data plane runs
// (our instance manager over Debian's PostgreSQL 15, each on its own 127.X address), their data on
// EVS volumes. Under a write loop whose every commit the synchronous standby confirmed: SIGKILL the
// primary's PostgreSQL, and separately fail its host, and the standby is promoted with every
// acknowledged row, while a checker sampling every member's pg_is_in_recovery() never sees two
// writable primaries; the old primary rejoins with pg_rewind. A manager killed in the middle of a
// failover completes it exactly once; a planned switchover loses nothing. A base backup plus the
// archived WAL restores to a recorded moment as a new instance; a moment outside the window is
// refused; the allowlist reaches pg_hba.conf and a NetworkPolicy; the connection Secret's password
// survives manager restarts.
import { readdirSync, readFileSync } from "node:fs";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DBBackupRef, DBInstanceRef, type DBBackupObj, type DBInstanceObj } from "../operators/api/database.ts";
import { SubnetRef, VPCRef } from "../operators/api/network.ts";
import { MutatingRef, NamespaceRef, NetworkPolicyRef, NodeRef, SecretRef, ValidatingRef } from "../operators/runtime/core.ts";
import { WEBHOOK_CONFIG } from "../operators/runtime/webhook.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import type { KubeObject } from "../operators/runtime/types.ts";
import { VolumeRef } from "../operators/api/storage.ts";
import { ISOLATION_MARGIN_MS, ISOLATION_SECONDS } from "../operators/database/rds-topology.ts";
import { clients, eventually, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { CrashingManager, spawnManager, webhookArgs } from "./support/manager.ts";
import { hostsReady, NODE_NOT_READY_LABEL } from "./support/nodes.ts";
import { platformIn, poolSpec } from "./support/platform.ts";
import { storageIn } from "./support/storage.ts";
import { freePorts, quota, QuotaRef, quotaUsed, tenant, TenantRef } from "./support/tenancy.ts";

const { kc, core } = clients();
const client = new KubeClient(kc);
const ns = useNamespace("rds");
const system = useNamespace("rds-system");
const base = uniqueName("rds");
const zone = base;
const cell = `${base}-cell`;
const pool = `${base}-np`;
const spool = `${base}-sp`;
const vtype = `${base}-ssd`;
const platform = platformIn(kc);
const API = "database.cellcloud.io/v1alpha1";
let ports: number[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const manager = new CrashingManager(() => {
  const [metricsPort, healthPort, webhookPort] = ports as [number, number, number];
  return spawnManager({
    leaseId: base, metricsPort, healthPort, controllers: "nodepool,cell,platform-pools,scheduler,volume,dbinstance,dbbackup,tenancy",
    extraArgs: ["--leader-elect=false", ...webhookArgs(webhookPort, system.name)],
  });
});

const read = (name: string) => client.get<DBInstanceObj>(DBInstanceRef, name, ns.name);
const cond = (o: DBInstanceObj, type: string) => o.status?.conditions?.find((c) => c.type === type);
const dbObject = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: API, kind: "DBInstance", metadata: { name, namespace: ns.name },
  spec: { flavor: "2C4G", storage: { size: "10Gi", type: vtype }, zone, subnet: "db", ...spec },
});

/** Ready with every member ready (and, with standbys, replication healthy). */
function ready(name: string, members: number, timeoutMs = 90_000): Promise<DBInstanceObj> {
  return eventually(async () => {
    const o = await read(name);
    if (cond(o, "Ready")?.status === "True" && o.status?.readyMembers === members && (members === 1 || cond(o, "ReplicationHealthy")?.status === "True")) return o;
    throw new Error(`status: ${JSON.stringify({ conditions: o.status?.conditions?.map((c) => [c.type, c.status, c.message]), members: o.status?.members })}`);
  }, { what: `${name} Ready with ${members} ready member(s)`, timeoutMs });
}

async function credentials(name: string): Promise<Record<string, string>> {
  const s = await client.get<KubeObject & { data: Record<string, string> }>(SecretRef, `${name}-connection`, ns.name);
  return Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
}

/** A client of one address with the instance's application credentials. */
async function connect(name: string, host: string, opts: { timeoutS?: number } = {}) {
  const c = await credentials(name);
  return postgres({ host, port: Number(c.port), user: c.username, password: c.password, database: c.dbname, max: 1, connect_timeout: opts.timeoutS ?? 2, idle_timeout: 2, onnotice: () => {} });
}

/** The rw Service's address now: the ready primary pod it selects. */
async function rwAddress(name: string): Promise<string | undefined> {
  return (await read(name)).status?.endpoints?.readWrite?.addresses?.[0];
}

/** The postmaster of a member (found by its data directory on the member's volume). */
async function postmasterOf(db: string, member: string): Promise<number> {
  const v = await storageIn(kc, ns.name).read(member);
  const pv = (v.status as { persistentVolume?: string }).persistentVolume!;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (argv[0]?.endsWith("/postgres") && argv[1] === "-D" && argv[2]?.includes(`/pv/${pv}/pgdata`)) return Number(pid);
    } catch { /* gone */ }
  }
  throw new Error(`no postmaster for ${db}'s member ${member} (volume ${pv})`);
}

/** Inserts ids one by one, each awaited (acknowledged only after the synchronous standby confirmed it), following the rw address. */
class Writer {
  acked: number[] = [];
  failures = 0;
  firstOkAfter?: number;
  private stopFlag = false;
  private done?: Promise<void>;
  private killedAt?: number;
  private avoid?: string;
  private readonly db: string;
  private readonly table: string;
  constructor(db: string, table: string) { this.db = db; this.table = table; }
  start(): void {
    this.done = (async () => {
      let sql: postgres.Sql | undefined;
      let host: string | undefined;
      let id = 0;
      while (!this.stopFlag) {
        try {
          if (!sql) {
            host = await rwAddress(this.db);
            if (!host) throw new Error("no rw address");
            sql = await connect(this.db, host, { timeoutS: 1 });
          }
          const next = ++id;
          await sql.unsafe(`insert into ${this.table}(id) values (${next})`);
          this.acked.push(next);
          if (this.killedAt && !this.firstOkAfter && host !== this.avoid) this.firstOkAfter = Date.now() - this.killedAt;
          await sleep(5);
        } catch {
          this.failures++;
          await sql?.end({ timeout: 0 }).catch(() => {});
          sql = undefined;
          await sleep(100);
        }
      }
      await sql?.end({ timeout: 1 }).catch(() => {});
    })();
  }
  /** From now, the first write acknowledged by another host than `oldPrimary` counts. */
  markKill(oldPrimary: string): void { this.killedAt = Date.now(); this.firstOkAfter = undefined; this.avoid = oldPrimary; }
  async stop(): Promise<void> { this.stopFlag = true; await this.done; }
}

/** Samples every member's pg_is_in_recovery() together, every 100 ms; counts rounds with two writable. */
class SplitBrainChecker {
  rounds = 0;
  violations: string[] = [];
  private stopFlag = false;
  private done?: Promise<void>;
  private readonly db: string;
  private readonly addresses: string[];
  constructor(db: string, addresses: string[]) { this.db = db; this.addresses = addresses; }
  start(): void {
    this.done = (async () => {
      const conns = new Map<string, postgres.Sql>();
      while (!this.stopFlag) {
        const answers = await Promise.all(this.addresses.map(async (a) => {
          try {
            let c = conns.get(a);
            if (!c) { c = await connect(this.db, a, { timeoutS: 1 }); conns.set(a, c); }
            const [r] = await Promise.race([c`select pg_is_in_recovery() as r`, sleep(800).then(() => { throw new Error("timeout"); })]) as unknown as Array<{ r: boolean }>;
            return r!.r ? "standby" : "writable";
          } catch {
            await conns.get(a)?.end({ timeout: 0 }).catch(() => {});
            conns.delete(a);
            return "down";
          }
        }));
        this.rounds++;
        if (answers.filter((x) => x === "writable").length > 1) this.violations.push(`${new Date().toISOString()}: ${this.addresses.map((a, i) => `${a}=${answers[i]}`).join(" ")}`);
        await sleep(100);
      }
      for (const c of conns.values()) await c.end({ timeout: 0 }).catch(() => {});
    })();
  }
  async stop(): Promise<void> { this.stopFlag = true; await this.done; }
}

async function rowsOn(db: string, host: string, table: string): Promise<Set<number>> {
  const sql = await connect(db, host);
  try { return new Set((await sql.unsafe(`select id from ${table}`)).map((r) => Number(r.id))); } finally { await sql.end({ timeout: 1 }); }
}

async function failoverDone(name: string, failovers: number): Promise<DBInstanceObj> {
  return eventually(async () => {
    const o = await read(name);
    if ((o.status?.failovers ?? 0) >= failovers && o.status?.lastFailover?.completedAt && o.status.currentPrimary === o.status.targetPrimary && cond(o, "PrimaryAvailable")?.status === "True") return o;
    throw new Error(`status: ${JSON.stringify({ primary: o.status?.currentPrimary, target: o.status?.targetPrimary, last: o.status?.lastFailover, pa: cond(o, "PrimaryAvailable") })}`);
  }, { what: `${name}: failover ${failovers} completed`, timeoutMs: 60_000 });
}

beforeAll(async () => {
  ports = await freePorts(3);
  manager.start();
  await platform.cells.create(cell, { region: "r-rds", zone });
  await platform.nodePools.create(pool, poolSpec(cell, { nodes: 3, capacity: { cpu: "16", memory: "64Gi" } }));
  await platform.storagePools.create(spool, { cell, mediaType: "SSD", capacity: "2Ti" });
  await storageIn(kc, ns.name).createType(vtype, { mediaType: "SSD", iops: { base: 1800, perGiB: 50, max: 10000 } });
  await client.create(VPCRef, { apiVersion: "network.cellcloud.io/v1alpha1", kind: "VPC", metadata: { name: "net", namespace: ns.name }, spec: { cidrBlocks: ["10.0.0.0/16"] } });
  await client.create(SubnetRef, { apiVersion: "network.cellcloud.io/v1alpha1", kind: "Subnet", metadata: { name: "db", namespace: ns.name }, spec: { vpc: "net", cidrBlock: "10.0.5.0/24" } });
  await hostsReady(core, `cellcloud.io/cell=${cell}`, 3);
}, 120_000);

afterAll(async () => {
  for (const db of (await client.list<DBInstanceObj>(DBInstanceRef, {}, ns.name).catch(() => ({ items: [] as DBInstanceObj[] }))).items) {
    await client.delete(DBInstanceRef, db.metadata.name, ns.name).catch(() => undefined);
  }
  await eventually(async () => (await client.list(DBInstanceRef, {}, ns.name)).items.length === 0, { what: "instances gone", timeoutMs: 60_000 }).catch(() => undefined);
  await eventually(async () => (await client.list(VolumeRef, {}, ns.name)).items.length === 0, { what: "volumes gone", timeoutMs: 60_000 }).catch(() => undefined);
  await platform.nodePools.delete(pool).catch(() => undefined);
  await eventually(async () => (await platform.nodePools.list()).every((np) => np.metadata.name !== pool), { what: "pool gone", timeoutMs: 60_000 }).catch(() => undefined);
  await platform.storagePools.delete(spool).catch(() => undefined);
  await platform.cells.delete(cell).catch(() => undefined);
  await storageIn(kc, ns.name).deleteType(vtype).catch(() => undefined);
  await manager.kill();
  // the webhook configurations this manager registered go with it (the next suite's manager makes its own)
  await client.delete(ValidatingRef, WEBHOOK_CONFIG).catch(() => undefined);
  await client.delete(MutatingRef, WEBHOOK_CONFIG).catch(() => undefined);
}, 150_000);

describe("RDS PostgreSQL", () => {
  it("refuses mysql, and a size given twice, naming the field", async () => {
    expect(await refusal(client.create(DBInstanceRef, dbObject("my", { engine: "mysql" })))).toContain("spec.engine: mysql is not available yet");
    expect(await refusal(client.create(DBInstanceRef, dbObject("two", { resources: { cpu: 2, memory: "4Gi" } })))).toContain("spec must set exactly one of flavor or resources");
    expect(await refusal(client.create(DBInstanceRef, dbObject("one", { edition: "single", primary: "one-2" })))).toContain("spec.primary: a single-member instance has no standby");
  });

  let hosts: string[] = [];
  it("ha: a primary and a synchronous standby, reachable with the connection Secret; the allowlist reaches pg_hba.conf and a NetworkPolicy", async () => {
    await client.create(DBInstanceRef, dbObject("pg", { edition: "ha", failoverDelaySeconds: 0 }));
    const o = await ready("pg", 2);
    expect(o.status?.currentPrimary).toBe("pg-1");
    expect(o.status?.synchronousStandbys).toEqual(["pg-2"]);
    hosts = o.status!.members!.map((m) => m.address!);
    expect(hosts.every((h) => h.startsWith("127."))).toBe(true);
    const c = await credentials("pg");
    expect(c).toMatchObject({ username: "app", dbname: "app", host: `pg-rw.${ns.name}.svc`, port: "5432" });
    expect(c.uri).toBe(`postgresql://app:${encodeURIComponent(c.password!)}@pg-rw.${ns.name}.svc:5432/app`);
    expect(c["jdbc-uri"]).toContain(`jdbc:postgresql://pg-rw.${ns.name}.svc:5432/app?user=app&password=`);
    // nothing secret in status
    expect(JSON.stringify(o.status)).not.toContain(c.password);
    const rw = o.status!.endpoints!.readWrite!.addresses![0]!;
    const sql = await connect("pg", rw);
    await sql`create table w (id int primary key)`;
    await sql`insert into w values (0)`;
    await sql.end();
    // the standby (the ro Service's member) has it
    const ro = o.status!.endpoints!.readOnly!.addresses![0]!;
    expect(await eventually(async () => (await rowsOn("pg", ro, "w")).has(0), { what: "row on the standby" })).toBe(true);

    // allowlist: this client (127.0.0.1) is outside 10.0.0.0/8, so PostgreSQL refuses it; back in, it connects
    await client.patch(DBInstanceRef, "pg", ns.name, { spec: { allowedCIDRs: ["10.0.0.0/8"] } }, "merge");
    const np = await eventually(async () => {
      const p = await client.get<KubeObject & { spec: { ingress: Array<{ from?: Array<{ ipBlock?: { cidr: string } }> }> } }>(NetworkPolicyRef, "rds-pg", ns.name);
      return p.spec.ingress.some((r) => r.from?.some((f) => f.ipBlock?.cidr === "10.0.0.0/8")) && p;
    }, { what: "NetworkPolicy with the allowlist" });
    expect(np).toBeTruthy();
    const refused = await eventually(async () => {
      try { await rowsOn("pg", rw, "w"); return false; } catch (e) { return String(e).includes("no pg_hba.conf entry") && String(e); }
    }, { what: "a client outside the allowlist refused by pg_hba.conf" });
    expect(refused).toContain("no pg_hba.conf entry");
    await client.patch(DBInstanceRef, "pg", ns.name, { spec: { allowedCIDRs: ["127.0.0.0/8"] } }, "merge");
    await eventually(async () => (await rowsOn("pg", rw, "w")).has(0), { what: "a client inside the allowlist connects" });
  }, 150_000);

  it("SIGKILL of the primary's PostgreSQL: the standby takes over with every acknowledged row, never two writable, and the old primary rejoins", async () => {
    // Only a standby recorded as synchronous is known to hold every acknowledged commit: until the
    // status names one, the controller rightly restarts a crashed primary in place instead of failing
    // over (a CI run killed it 3 s after the instance was ready, before that, and waited in vain).
    const before = await eventually(async () => { const o = await read("pg"); return (o.status?.synchronousStandbys?.length ?? 0) > 0 && o; },
      { what: "pg: a synchronous standby recorded" });
    const password = (await credentials("pg")).password;
    const writer = new Writer("pg", "w");
    const checker = new SplitBrainChecker("pg", hosts);
    writer.start();
    checker.start();
    await eventually(() => writer.acked.length > 50, { what: "writes flowing" });
    const old = before.status!.currentPrimary!;
    process.kill(await postmasterOf("pg", old), "SIGKILL");
    writer.markKill(before.status!.members!.find((m) => m.name === old)!.address!);
    const after = await failoverDone("pg", (before.status?.failovers ?? 0) + 1);
    await eventually(() => writer.firstOkAfter !== undefined, { what: "a write on the new primary", timeoutMs: 30_000 });
    const failoverMs = writer.firstOkAfter!;
    const mark = writer.acked.length;
    await eventually(() => writer.acked.length > mark + 20, { what: "more writes on the new primary" });
    await writer.stop();
    await checker.stop();
    console.log(`RDS failover (SIGKILL of the primary's PostgreSQL): first write on the new primary ${failoverMs} ms after the kill; ${writer.acked.length} acknowledged writes; ${checker.rounds} split-brain samples`);
    expect(after.status?.currentPrimary).not.toBe(old);
    expect(after.status?.lastFailover).toMatchObject({ from: old, to: after.status?.currentPrimary, reason: expect.stringContaining("PostgreSQL stopped unexpectedly") });
    expect(checker.violations).toEqual([]);
    expect(checker.rounds).toBeGreaterThan(10);
    expect(failoverMs).toBeLessThan(10_000);
    const rw = (await rwAddress("pg"))!;
    const rows = await rowsOn("pg", rw, "w");
    const lost = writer.acked.filter((id) => !rows.has(id));
    expect(lost).toEqual([]);
    // the old primary rejoins as a standby (pg_rewind) and catches up
    const rejoined = await ready("pg", 2, 60_000);
    const oldAddr = rejoined.status!.members!.find((m) => m.name === old)!.address!;
    expect(rejoined.status!.members!.find((m) => m.name === old)!.role).toBe("standby");
    const maxId = writer.acked.at(-1)!;
    await eventually(async () => (await rowsOn("pg", oldAddr, "w")).has(maxId), { what: `${old} caught up` });
    expect((await credentials("pg")).password).toBe(password);
  }, 180_000);

  it("a manager killed in the middle of a failover completes it exactly once", async () => {
    const password = (await credentials("pg")).password;
    for (const point of ["decided", "promoted"] as const) {
      const before = await ready("pg", 2, 60_000);
      const from = before.status!.currentPrimary!;
      const n = before.status?.failovers ?? 0;
      const timeline = before.status!.members!.find((m) => m.name === from)!.timeline!;
      process.kill(await postmasterOf("pg", from), "SIGKILL");
      if (point === "decided") {
        await eventually(async () => { const o = await read("pg"); return o.status?.targetPrimary !== o.status?.currentPrimary; }, { what: "failover decided", intervalMs: 20 });
        process.kill(manager.current!.child.pid!, "SIGSTOP");
      } else {
        // the candidate answers as primary (asked directly, every 10 ms) before the controller has
        // recorded the end: the manager is frozen at once, then killed
        const token = await imToken("pg");
        const hit = await eventually(async () => {
          const o = await read("pg");
          const to = o.status?.targetPrimary;
          if (!to || to === from) return false;
          const addr = o.status?.members?.find((m) => m.name === to)?.address;
          for (let i = 0; addr && i < 200; i++) {
            const r = await fetch(`http://${addr}:8010/status`, { headers: { authorization: `Bearer ${token}` } }).then((x) => x.json() as Promise<{ role: string }>).catch(() => undefined);
            if (r?.role === "primary") { process.kill(manager.current!.child.pid!, "SIGSTOP"); return true; }
            await sleep(10);
          }
          return false;
        }, { what: "the candidate promoted", intervalMs: 10, timeoutMs: 30_000 });
        expect(hit).toBe(true);
        const frozen = await read("pg");
        expect(frozen.status?.failovers ?? 0, "the end is not recorded yet when the manager stops").toBe(n);
      }
      const startedAt = (await read("pg")).status?.lastFailover?.startedAt;
      await manager.kill();
      await sleep(1500);
      manager.start();
      const after = await failoverDone("pg", n + 1);
      expect(after.status?.failovers).toBe(n + 1);
      expect(after.status?.lastFailover?.startedAt).toBe(startedAt);
      expect(after.status?.lastFailover?.from).toBe(from);
      const now = await ready("pg", 2, 60_000);
      // promoted once: one new timeline
      expect(now.status!.members!.find((m) => m.name === now.status!.currentPrimary)!.timeline).toBe(timeline + 1);
      console.log(`RDS failover with the manager killed at "${point}": completed once (${after.status?.lastFailover?.from} → ${after.status?.lastFailover?.to})`);
    }
    expect((await credentials("pg")).password).toBe(password);
  }, 300_000);

  it("a planned switchover (spec.primary) loses nothing", async () => {
    const before = await ready("pg", 2, 60_000);
    const to = before.status!.members!.find((m) => m.name !== before.status!.currentPrimary)!.name;
    const writer = new Writer("pg", "w");
    const checker = new SplitBrainChecker("pg", hosts);
    await rowsOn("pg", (await rwAddress("pg"))!, "w").then(async () => {
      const sql = await connect("pg", (await rwAddress("pg"))!);
      await sql`create table s (id int primary key)`;
      await sql.end();
    });
    const ws = new Writer("pg", "s");
    void writer;
    ws.start();
    checker.start();
    await eventually(() => ws.acked.length > 50, { what: "writes flowing" });
    await client.patch(DBInstanceRef, "pg", ns.name, { spec: { primary: to } }, "merge");
    const after = await failoverDone("pg", (before.status?.failovers ?? 0) + 1);
    expect(after.status?.currentPrimary).toBe(to);
    expect(after.status?.lastFailover).toMatchObject({ switchover: true, from: before.status!.currentPrimary, to });
    const mark = ws.acked.length;
    await eventually(() => ws.acked.length > mark + 20, { what: "writes on the new primary" });
    await ws.stop();
    await checker.stop();
    expect(checker.violations).toEqual([]);
    const rows = await rowsOn("pg", (await rwAddress("pg"))!, "s");
    expect(ws.acked.filter((id) => !rows.has(id))).toEqual([]);
    await ready("pg", 2, 60_000);
  }, 180_000);

  it("host failure: the standby takes over once the silent primary must have fenced itself", async () => {
    const before = await ready("pg", 2, 60_000);
    const old = before.status!.currentPrimary!;
    const node = before.status!.members!.find((m) => m.name === old)!.node!;
    const writer = new Writer("pg", "w2");
    const sql = await connect("pg", (await rwAddress("pg"))!);
    await sql`create table w2 (id int primary key)`;
    await sql.end();
    const checker = new SplitBrainChecker("pg", hosts);
    writer.start();
    checker.start();
    await eventually(() => writer.acked.length > 50, { what: "writes flowing" });
    const label = `/metadata/labels/${NODE_NOT_READY_LABEL.replace("/", "~1")}`;
    await client.patch(NodeRef, node, undefined, [{ op: "add", path: label, value: "true" }], "json");
    writer.markKill(before.status!.members!.find((m) => m.name === old)!.address!);
    const failedAt = Date.now();
    const detected = await eventually(async () => { const o = await read("pg"); return o.status?.targetPrimary !== old && Date.now() - failedAt; }, { what: "failover decided", intervalMs: 50, timeoutMs: 60_000 });
    await failoverDone("pg", (before.status?.failovers ?? 0) + 1);
    await eventually(() => writer.firstOkAfter !== undefined, { what: "a write on the new primary", timeoutMs: 30_000 });
    await writer.stop();
    await checker.stop();
    console.log(`RDS failover (host ${node} failed): primary seen unavailable and failover decided ${detected} ms after the host was marked down (node detection); first write on the new primary ${writer.firstOkAfter} ms after (the promotion waits out the silent primary's isolation window, ${ISOLATION_SECONDS} s + ${ISOLATION_MARGIN_MS / 1000} s)`);
    expect(writer.firstOkAfter!).toBeGreaterThanOrEqual(ISOLATION_SECONDS * 1000);
    expect(checker.violations).toEqual([]);
    const rows = await rowsOn("pg", (await rwAddress("pg"))!, "w2");
    expect(writer.acked.filter((id) => !rows.has(id))).toEqual([]);
    await client.patch(NodeRef, node, undefined, [{ op: "remove", path: label }], "json");
    await ready("pg", 2, 90_000);
  }, 240_000);

  it("backs up, restores to a point in time as a new instance, and refuses a time outside the window", async () => {
    await client.create(DBBackupRef, { apiVersion: API, kind: "DBBackup", metadata: { name: "pg-manual", namespace: ns.name }, spec: { instance: "pg" } });
    const bk = await eventually(async () => {
      const b = await client.get<DBBackupObj>(DBBackupRef, "pg-manual", ns.name);
      return b.status?.phase === "Completed" && b;
    }, { what: "backup Completed", timeoutMs: 60_000 });
    expect(bk.status).toMatchObject({ beginLSN: expect.stringMatching(/\//), endLSN: expect.stringMatching(/\//) });
    const first = await eventually(async () => (await read("pg")).status?.firstRecoverabilityPoint, { what: "firstRecoverabilityPoint" });
    const rw = (await rwAddress("pg"))!;
    const sql = await connect("pg", rw);
    await sql`create table p (id int primary key)`;
    await sql`insert into p select generate_series(1, 100)`;
    await sleep(1200);
    const t = new Date().toISOString();
    await sleep(1200);
    await sql`insert into p select generate_series(101, 200)`;
    await sql.end();

    const early = new Date(Date.parse(first) - 3_600_000).toISOString();
    expect(await refusal(client.create(DBInstanceRef, dbObject("tooearly", { restoreFrom: { instance: "pg", pointInTime: early } }))))
      .toContain(`spec.restoreFrom.pointInTime ${early} is outside the recoverable window of pg: from ${first} until now`);

    await client.create(DBInstanceRef, dbObject("pitr", { restoreFrom: { instance: "pg", pointInTime: t } }));
    const r = await ready("pitr", 1, 120_000);
    expect(r.status?.restoredFrom).toBe(`DBInstance pg at ${t}`);
    const rows = await rowsOn("pitr", r.status!.endpoints!.readWrite!.addresses![0]!, "p");
    expect(rows.size).toBe(100);
    expect(Math.max(...rows)).toBe(100);
  }, 240_000);

  it("finance: three members on three hosts, a commit waits for either standby (quorum)", async () => {
    await client.create(DBInstanceRef, dbObject("fin", { edition: "finance" }));
    const o = await ready("fin", 3, 120_000);
    expect(o.status?.synchronousStandbys).toEqual(["fin-2", "fin-3"]);
    expect(new Set(o.status!.members!.map((m) => m.node)).size).toBe(3);
    const sql = await connect("fin", o.status!.endpoints!.readWrite!.addresses![0]!);
    await sql`create table f (id int primary key)`;
    await sql`insert into f values (1)`;
    await sql.end();
    for (const a of o.status!.endpoints!.readOnly!.addresses!) await eventually(async () => (await rowsOn("fin", a, "f")).has(1), { what: `row on standby ${a}` });
    await client.delete(DBInstanceRef, "fin", ns.name);
  }, 150_000);

  it("charges a tenant's quota: one dbinstance and the members' vCPUs and memory; refuses one more, naming the dimension", async () => {
    const t = `${base}-t`;
    const tns = `${t}-ns`;
    await client.create(TenantRef, tenant(t, { namespaces: [tns] }));
    await eventually(() => client.get(NamespaceRef, tns).then((n) => n.metadata.labels?.["cellcloud.io/tenant"] === t, () => false), { what: "tenant namespace" });
    await eventually(async () => (await refusal(client.create(QuotaRef, quota(t, { tenant: t, hard: { dbinstances: 1, cpu: 64, memory: "256Gi" } })))) === "accepted", { what: "the webhook admits the Quota", timeoutMs: 60_000 });
    // a zone without storage: admitted and charged, never realized (no PostgreSQL needed here)
    const body = (name: string) => ({ ...dbObject(name, { edition: "ha", zone: "nowhere" }), metadata: { name, namespace: tns } });
    await eventually(async () => (await refusal(client.create(DBInstanceRef, body("q1")))) === "accepted", { what: "q1 admitted" });
    const used = await quotaUsed(client, t, { dbinstances: "1", cpu: "4", memory: "8Gi" });
    expect(used.status?.used).toMatchObject({ dbinstances: "1" });
    const denied = await refusal(client.create(DBInstanceRef, body("q2")));
    expect(denied).toMatch(/dbinstances/);
    expect(denied).toMatch(/limit 1|hard 1|1 allowed|exceed/i);
    await client.delete(DBInstanceRef, "q1", tns);
    await quotaUsed(client, t, { dbinstances: "0" });
    await client.delete(QuotaRef, t).catch(() => undefined);
    await client.delete(TenantRef, t).catch(() => undefined);
  }, 120_000);

  it("takes scheduled backups and keeps the newest per the retention", async () => {
    await client.patch(DBInstanceRef, "pg", ns.name, { spec: { backup: { schedule: "*/4 * * * * *", retentionCount: 2, retentionDays: 7 } } }, "merge");
    await eventually(async () => {
      const bs = (await client.list<DBBackupObj>(DBBackupRef, {}, ns.name)).items.filter((b) => b.metadata.labels?.["database.cellcloud.io/scheduled"] === "true");
      return bs.filter((b) => b.status?.phase === "Completed").length >= 2 && bs.length >= 2;
    }, { what: "two scheduled backups completed", timeoutMs: 60_000 });
    await sleep(6000);
    await client.patch(DBInstanceRef, "pg", ns.name, { spec: { backup: { schedule: null } } }, "merge");
    const done = await eventually(async () => {
      const bs = (await client.list<DBBackupObj>(DBBackupRef, {}, ns.name)).items.filter((b) => b.spec.instance === "pg" && !b.metadata.deletionTimestamp && b.status?.phase === "Completed");
      return bs.length <= 2 && bs;
    }, { what: "retention keeps at most 2 completed backups", timeoutMs: 30_000 });
    expect(done.length).toBe(2);
    expect(cond(await read("pg"), "BackupHealthy")?.status).toBe("True");
  }, 120_000);
});

/** The instance manager's token, as the controller reads it. */
async function imToken(name: string): Promise<string> {
  const s = await client.get<KubeObject & { data: Record<string, string> }>(SecretRef, `${name}-internal`, ns.name);
  return Buffer.from(s.data.token!, "base64").toString("utf8");
}
