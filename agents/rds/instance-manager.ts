// The RDS instance manager: the entrypoint of every DBInstance member's pod, as CloudNativePG's
// instance manager is. It runs PostgreSQL (the binaries of PG_BIN) and turns the controller's
// desired state into it: initdb (or a restore from a base backup and archived WAL) on an empty
// primary, pg_basebackup from the primary on an empty standby, pg_rewind when a former primary
// rejoins, promotion, fencing, synchronous standby names, replication slots, pg_hba.conf. It never
// decides a failover: the controller does, from what every member reports here.
//
// HTTP API on POD_IP:8010, every call with the instance's bearer token:
//   GET  /status          the member's role, PostgreSQL state, timeline, LSNs, replicas
//   PUT  /desired         the controller's desired state (a newer epoch wins; an older one is refused)
//   POST /backups         start a base backup {id} into the backup store; GET/DELETE /backups/<id>
//   POST /switch-wal      close the current WAL segment so it is archived now
//
// Safety: PostgreSQL starts only on the controller's word; a primary whose PostgreSQL crashed is not
// restarted until the controller says so (it may be failing over); a primary with standbys that hears
// nothing from the controller for isolationSeconds while no standby streams from it stops PostgreSQL
// (primary isolation): a partitioned primary accepts no writes, so the controller may promote.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { timingSafeEqual, createHash } from "node:crypto";
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import path from "node:path";
import postgres from "postgres";
import type { z } from "zod";
import {
  backupReport, backupRequest, DB_MOUNTS, desiredState, IM_MAX_BODY, lsnBytes, IM_REPLICATION_PASSWORD_KEY, IM_TOKEN_KEY, INSTANCE_MANAGER_PORT, POSTGRES_PORT,
  type BackupReport, type DesiredState, type MemberReport,
} from "../../operators/api/database.ts";
import { readAtMost } from "../../operators/runtime/bounded.ts";
import { connValue, parseSyncStandbyNames, quote, renderConf, renderHba, REPLICATION_USER, slotName } from "./config.ts";

const env = (name: string, fallback?: string): string => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) { console.error(`instance manager: ${name} must be set`); process.exit(2); }
  return v;
};
const MEMBER = env("POD_NAME");
const ADDRESS = env("POD_IP");
const PG_BIN = env("PG_BIN", "/usr/lib/postgresql/15/bin");
const DATA_MOUNT = env("DB_DATA", DB_MOUNTS.data);
const PGDATA = path.join(DATA_MOUNT, "pgdata");
const STORE = env("DB_BACKUPS", DB_MOUNTS.backups);
const RESTORE_STORE = env("DB_RESTORE_SOURCE", DB_MOUNTS.restoreSource);
const SECRETS = env("DB_SECRETS", DB_MOUNTS.secrets);
const WAL = path.join(STORE, "wal");
const BASE = path.join(STORE, "base");
const STATE_FILE = path.join(DATA_MOUNT, "cellcloud-member.json");
// the socket's path is limited to 107 bytes: a short private directory of its own
const SOCKET_DIR = path.join("/tmp", `cellcloud-pg-${createHash("sha256").update(PGDATA).digest("hex").slice(0, 12)}`);

const log = (msg: string, extra: Record<string, unknown> = {}) => console.log(JSON.stringify({ time: new Date().toISOString(), member: MEMBER, msg, ...extra }));
const secret = (key: string) => readFileSync(path.join(SECRETS, key), "utf8").trim();

// PostgreSQL refuses to run as root: as root (the local plane), its binaries run as the machine's
// postgres user; in the official image the manager already runs as that user.
const pgUser = ((): { uid: number; gid: number } | undefined => {
  if (process.getuid?.() !== 0) return undefined;
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.startsWith("postgres:"));
  if (!line) { console.error("instance manager: running as root and the machine has no postgres user (install postgresql)"); process.exit(2); }
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
})();
const own = (p: string) => { if (pgUser) chownSync(p, pgUser.uid, pgUser.gid); };
const asPg = pgUser ? { uid: pgUser.uid, gid: pgUser.gid } : {};

/** Runs a PostgreSQL tool to the end; throws with its output when it fails. */
function run(tool: string, args: string[], extraEnv: Record<string, string> = {}, timeoutMs = 600_000): string {
  const r = spawnSync(path.join(PG_BIN, tool), args, { ...asPg, env: { PATH: process.env.PATH, HOME: DATA_MOUNT, ...extraEnv }, encoding: "utf8", timeout: timeoutMs });
  const out = `${r.stdout ?? ""}${r.stderr ?? ""}`.trim();
  if (r.status !== 0) throw new Error(`${tool} failed (${r.status ?? r.signal}): ${out.slice(-800)}`);
  return out;
}

// ---------- what the member knows across restarts ----------

interface Persisted { epoch: number; lastRole?: "primary" | "standby"; restored?: boolean; needsClone?: boolean }
function loadState(): Persisted {
  try { return JSON.parse(readFileSync(STATE_FILE, "utf8")) as Persisted; } catch { return { epoch: -1 }; }
}
function saveState(s: Persisted): void {
  writeFileSync(`${STATE_FILE}.tmp`, JSON.stringify(s));
  renameSync(`${STATE_FILE}.tmp`, STATE_FILE);
}
const persisted = loadState();

let desired: DesiredState | undefined;
let lastContact = Date.now();
let pg: ChildProcess | undefined;
let pgState: MemberReport["postgres"] = "stopped";
let role: MemberReport["role"] = "pending";
let isolated = false;
/** When it fenced itself: a controller lifts that fence at the same epoch only by naming it (liftIsolation). */
let isolatedAt: string | undefined;
let message: string | undefined;
let sql: postgres.Sql | undefined;

function db(): postgres.Sql {
  sql ??= postgres({ path: path.join(SOCKET_DIR, `.s.PGSQL.${POSTGRES_PORT}`), user: "postgres", database: "postgres", max: 2, idle_timeout: 10, connect_timeout: 2, onnotice: () => {} });
  return sql;
}
async function closeDb(): Promise<void> {
  const s = sql;
  sql = undefined;
  await s?.end({ timeout: 1 }).catch(() => {});
}

// ---------- PostgreSQL's process ----------

/** Writes the files the manager owns; true when one changed (PostgreSQL then reloads). */
function writeConfig(d: DesiredState, opts: { standbyOf?: { host: string }; recoveryTarget?: { time?: string } } = {}): boolean {
  mkdirSync(WAL, { recursive: true });
  own(STORE); own(WAL);
  const conninfo = opts.standbyOf
    ? `host=${connValue(opts.standbyOf.host)} port=${POSTGRES_PORT} user=${REPLICATION_USER} passfile=${connValue(path.join(DATA_MOUNT, "pgpass"))} application_name=${connValue(MEMBER)} connect_timeout=2`
    : undefined;
  const conf = renderConf({
    address: ADDRESS, port: POSTGRES_PORT, socketDir: SOCKET_DIR, walArchive: WAL, member: MEMBER, desired: d,
    ...(existsSync(path.join(RESTORE_STORE, "wal")) && !persisted.restored ? { restoreWal: path.join(RESTORE_STORE, "wal") } : {}),
    ...(conninfo ? { primaryConninfo: conninfo } : {}),
    ...(opts.recoveryTarget ? { recoveryTarget: opts.recoveryTarget } : {}),
  });
  let changed = false;
  for (const [file, content] of [["cellcloud.conf", conf], ["pg_hba.conf", renderHba(d.allowedCIDRs)]] as const) {
    const f = path.join(PGDATA, file);
    if (existsSync(f) && readFileSync(f, "utf8") === content) continue;
    writeFileSync(f, content, { mode: 0o600 });
    own(f);
    changed = true;
  }
  const main = path.join(PGDATA, "postgresql.conf");
  if (!readFileSync(main, "utf8").includes("include 'cellcloud.conf'")) writeFileSync(main, `${readFileSync(main, "utf8")}\ninclude 'cellcloud.conf'\n`);
  writePassfile();
  return changed;
}

function writePassfile(): void {
  const f = path.join(DATA_MOUNT, "pgpass");
  writeFileSync(f, `*:*:*:${REPLICATION_USER}:${secret(IM_REPLICATION_PASSWORD_KEY).replace(/([:\\])/g, "\\$1")}\n`, { mode: 0o600 });
  own(f);
}

/** A postgres a killed manager left running on this data directory (its lock file names it): stopped first. */
async function stopLeftover(): Promise<void> {
  let pid = 0;
  try { pid = Number(readFileSync(path.join(PGDATA, "postmaster.pid"), "utf8").split("\n")[0]); } catch { return; }
  const alive = () => { try { return pid > 0 && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("postgres"); } catch { return false; } };
  if (!alive()) return;
  log("stopping a PostgreSQL left from before", { pid });
  process.kill(pid, "SIGQUIT");
  for (let i = 0; i < 100 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
  if (alive()) process.kill(pid, "SIGKILL");
}

async function startPostgres(): Promise<void> {
  await stopLeftover();
  mkdirSync(SOCKET_DIR, { recursive: true, mode: 0o700 });
  own(SOCKET_DIR);
  pgState = "starting";
  const child = spawn(path.join(PG_BIN, "postgres"), ["-D", PGDATA], { ...asPg, stdio: ["ignore", "inherit", "inherit"], env: { PATH: process.env.PATH, HOME: DATA_MOUNT } });
  pg = child;
  child.on("exit", (code, signal) => {
    if (pg !== child) return;
    pg = undefined;
    void closeDb();
    // a stop the manager asked for is "stopped"; anything else is a crash the controller must see
    pgState = pgState === "stopped" ? "stopped" : "crashed";
    log("postgres exited", { code, signal, state: pgState });
  });
  for (let i = 0; i < 600 && pg === child; i++) {
    try {
      await db()`select 1`;
      pgState = "running";
      log("postgres running");
      return;
    } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  if (pg !== child) throw new Error("postgres exited while starting; see the member's log");
}

async function stopPostgres(): Promise<void> {
  const child = pg;
  pgState = "stopped";
  await closeDb();
  if (!child) return;
  child.kill("SIGINT"); // fast shutdown: clients go, standbys receive all WAL, a clean checkpoint
  const deadline = Date.now() + 30_000;
  while (pg === child && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (pg === child) { child.kill("SIGKILL"); while (pg === child) await new Promise((r) => setTimeout(r, 50)); }
  pg = undefined;
}

const isEmpty = () => !existsSync(path.join(PGDATA, "PG_VERSION"));

/** PGDATA inside the volume, the postgres user's, 0700 (the volume's directories must let it pass: the agent makes them 0711). */
function prepareDataDir(): void {
  mkdirSync(PGDATA, { recursive: true, mode: 0o700 });
  chmodSync(PGDATA, 0o700);
  own(PGDATA); own(DATA_MOUNT);
}

// ---------- bootstraps ----------

async function initPrimary(d: DesiredState): Promise<void> {
  rmSync(PGDATA, { recursive: true, force: true });
  prepareDataDir();
  if (d.restore) {
    const src = path.join(RESTORE_STORE, "base", d.restore.backup, "data");
    if (!existsSync(src)) throw new Error(`backup ${d.restore.backup} is not in the source's backup store`);
    pgState = "bootstrapping";
    cpSync(src, PGDATA, { recursive: true });
    if (pgUser) spawnSync("chown", ["-R", `${pgUser.uid}:${pgUser.gid}`, PGDATA]);
    writeFileSync(path.join(PGDATA, "recovery.signal"), "");
    own(path.join(PGDATA, "recovery.signal"));
    writeConfig(d, { recoveryTarget: d.restore.targetTime ? { time: d.restore.targetTime } : {} });
    await startPostgres();
    // replay until the target (or the end of WAL), then promote
    for (let i = 0; i < 3000; i++) {
      const r = (await db()`select pg_is_in_recovery() as r`)[0]?.r as boolean;
      if (!r) break;
      await new Promise((res) => setTimeout(res, 200));
    }
    persisted.restored = true;
    saveState(persisted);
    writeConfig(d);
    await db()`select pg_reload_conf()`;
    await ensureUsers(d);
    log("restored", { backup: d.restore.backup, targetTime: d.restore.targetTime });
    return;
  }
  pgState = "bootstrapping";
  run("initdb", ["-D", PGDATA, "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "-k", "--wal-segsize=1", "-E", "UTF8", "--locale=C"]);
  writeConfig(d);
  await startPostgres();
  await ensureUsers(d);
  log("initialized");
}

/** Roles and the database; committed locally (a bootstrap or a promotion must not wait for a standby). */
async function ensureUsers(d: DesiredState): Promise<void> {
  const s = await db().reserve();
  try {
    await s`set synchronous_commit = local`;
    // the statements carry passwords: this session logs none of them, whatever the server's log settings
    await s`set log_statement = 'none'`;
    await s`set log_min_duration_statement = -1`;
    await s`set log_min_error_statement = panic`;
    await usersOn(s, d);
  } finally { s.release(); }
}

async function usersOn(s: postgres.ReservedSql, d: DesiredState): Promise<void> {
  const repl = secret(IM_REPLICATION_PASSWORD_KEY);
  const app = secret("password");
  const exists = async (u: string) => (await s`select 1 from pg_roles where rolname = ${u}`).length > 0;
  // passwords go in as literals of a utility statement (no parameters there), quoted by PostgreSQL's rules
  await s.unsafe(`${(await exists(REPLICATION_USER)) ? "alter" : "create"} role ${REPLICATION_USER} with login replication password ${quote(repl)}`);
  for (const f of ["pg_ls_dir(text, boolean, boolean)", "pg_stat_file(text, boolean)", "pg_read_binary_file(text)", "pg_read_binary_file(text, bigint, bigint, boolean)"]) {
    await s.unsafe(`grant execute on function pg_catalog.${f} to ${REPLICATION_USER}`);
  }
  // the Secret's password, set every time: it never changes there, and a restored copy carries its source's
  await s.unsafe(`${(await exists(d.username)) ? "alter" : "create"} role "${d.username}" with login password ${quote(app)}`);
  if ((await s`select 1 from pg_database where datname = ${d.databaseName}`).length === 0) await s.unsafe(`create database "${d.databaseName}" owner "${d.username}"`);
}

/** An empty standby: a copy of the primary, then streaming from it. */
function cloneFrom(primaryHost: string): void {
  rmSync(PGDATA, { recursive: true, force: true });
  prepareDataDir();
  pgState = "bootstrapping";
  writePassfile();
  run("pg_basebackup", ["-h", primaryHost, "-p", String(POSTGRES_PORT), "-U", REPLICATION_USER, "-D", PGDATA, "-X", "stream", "-c", "fast", "--no-password"],
    { PGPASSFILE: path.join(DATA_MOUNT, "pgpass"), PGCONNECT_TIMEOUT: "5" });
}

/** A member that was primary (or on another timeline) rejoins: pg_rewind onto the new primary, or a fresh copy. */
function rewindOnto(primaryHost: string): void {
  try {
    writePassfile();
    const out = run("pg_rewind", ["-D", PGDATA, `--source-server=host=${connValue(primaryHost)} port=${POSTGRES_PORT} user=${REPLICATION_USER} dbname=postgres connect_timeout=5`, "--restore-target-wal"],
      { PGPASSFILE: path.join(DATA_MOUNT, "pgpass") });
    log("rewound", { output: out.slice(-300) });
  } catch (e) {
    log("pg_rewind failed; cloning the primary again", { err: String(e) });
    cloneFrom(primaryHost);
  }
}

// ---------- converging on the desired state ----------

async function converge(d: DesiredState): Promise<void> {
  if (d.role === "fenced") {
    if (pg) await stopPostgres();
    pgState = "stopped"; // a crash the controller has seen and answered
    role = "fenced";
    message = "fenced by the controller";
    return;
  }
  if (isolated) return; // only a newer epoch lifts a self-fence (handled in PUT)
  if (pgState === "crashed" && !d.restartAfterCrash) {
    message = "PostgreSQL stopped unexpectedly; waiting for the controller";
    return;
  }
  if (d.role === "primary") {
    if (isEmpty()) await initPrimary(d);
    else if (!pg) {
      writeConfig(d);
      await startPostgres();
    }
    if (pgState !== "running") return;
    const changed = writeConfig(d);
    const r = (await db()`select pg_is_in_recovery() as r`)[0]?.r as boolean;
    if (changed) await db()`select pg_reload_conf()`;
    if (r) {
      await db()`select pg_promote(true, 60)`;
      // the new timeline reaches the control file only at a checkpoint, and pg_rewind on the old
      // primary compares control files: without it, it finds "no rewind required" and cannot follow
      await db()`checkpoint`;
      log("promoted", { epoch: d.epoch });
    }
    await ensureSlots(d);
    if (role !== "primary" || persisted.lastRole !== "primary" || persisted.epoch !== d.epoch) {
      await ensureUsers(d);
      persisted.lastRole = "primary";
      persisted.epoch = d.epoch;
      saveState(persisted);
    }
    role = "primary";
    message = undefined;
    return;
  }
  // a standby of d.primary
  const primary = d.primary;
  if (!primary) { message = "no primary to follow yet"; return; }
  if (pg && persisted.lastRole === "primary") {
    await stopPostgres(); // a demotion: stop cleanly, then rewind
  }
  if (!pg) {
    if (isEmpty() || persisted.needsClone) cloneFrom(primary.host);
    else if (persisted.lastRole === "primary" || persisted.epoch !== d.epoch) rewindOnto(primary.host);
    persisted.needsClone = false;
    writeFileSync(path.join(PGDATA, "standby.signal"), "");
    own(path.join(PGDATA, "standby.signal"));
    writeConfig(d, { standbyOf: primary });
    persisted.lastRole = "standby";
    persisted.epoch = d.epoch;
    saveState(persisted);
    try {
      await startPostgres();
    } catch (e) {
      // it cannot follow this primary from what it has (a history the rewind could not reconcile): copy it afresh next time
      persisted.needsClone = true;
      saveState(persisted);
      throw e;
    }
  } else if (writeConfig(d, { standbyOf: primary })) {
    await db()`select pg_reload_conf()`; // a new primary_conninfo takes effect on reload (PostgreSQL 13+)
  }
  role = "standby";
  message = undefined;
}

async function ensureSlots(d: DesiredState): Promise<void> {
  const want = new Set(d.members.filter((m) => m.name !== MEMBER).map((m) => slotName(m.name)));
  const have = new Set((await db()`select slot_name from pg_replication_slots where slot_type = 'physical'`).map((r) => r.slot_name as string));
  for (const s of want) if (!have.has(s)) await db()`select pg_create_physical_replication_slot(${s}, true)`;
  for (const s of have) if (!want.has(s)) await db()`select pg_drop_replication_slot(${s}) where not exists (select 1 from pg_replication_slots where slot_name = ${s} and active)`;
}

/** Converges on the newest desired state, one pass at a time (pushes that arrive meanwhile coalesce). */
let converging = false;
async function apply(d: DesiredState): Promise<void> {
  desired = d;
  if (converging) return;
  converging = true;
  try {
    for (let seen: DesiredState | undefined; seen !== desired;) {
      seen = desired;
      try { await converge(seen!); } catch (e) {
        message = String(e instanceof Error ? e.message : e).slice(0, 1000);
        log("converge failed", { err: message });
        break;
      }
    }
  } finally { converging = false; }
}

// ---------- primary isolation ----------

async function streamingStandbys(): Promise<number> {
  const rows = await db()`select count(*)::int as n from pg_stat_replication where state = 'streaming'`;
  return rows[0]!.n as number;
}

async function checkIsolation(): Promise<void> {
  const d = desired;
  if (!d || role !== "primary" || !pg || d.members.length < 2) return;
  if (Date.now() - lastContact < d.isolationSeconds * 1000) return;
  let streaming = 0;
  try { streaming = await streamingStandbys(); } catch { streaming = 0; }
  if (streaming > 0) return;
  log("isolated: no word from the controller and no standby streaming; stopping PostgreSQL", { silentMs: Date.now() - lastContact });
  isolated = true;
  isolatedAt = new Date().toISOString();
  await stopPostgres();
  role = "fenced";
  message = "fenced itself: isolated from the controller and its standbys";
}

// ---------- status ----------

async function report(): Promise<MemberReport> {
  const out: MemberReport = { role, postgres: pgState, epoch: desired?.epoch ?? persisted.epoch, ...(isolated ? { isolated, ...(isolatedAt ? { isolatedAt } : {}) } : {}), ...(message ? { message } : {}) };
  if (pgState !== "running") return out;
  try {
    const s = db();
    const [row] = await s`select pg_is_in_recovery() as rec, (select timeline_id from pg_control_checkpoint()) as tl`;
    if (row!.rec) {
      // received: what streaming brought (it restarts at a segment's start when streaming begins), or replayed if more
      const [w] = await s`select greatest(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::text as recv, pg_last_wal_replay_lsn()::text as replay,
        (select received_tli from pg_stat_wal_receiver) as tli, exists(select 1 from pg_stat_wal_receiver where status = 'streaming') as streaming`;
      Object.assign(out, { timeline: Number(w!.tli ?? row!.tl), lsn: w!.recv ?? w!.replay, replayLSN: w!.replay, streaming: Boolean(w!.streaming) });
    } else {
      // the timeline from the current WAL file's name: the control file's lags a promotion until a checkpoint
      const [w] = await s`select pg_current_wal_lsn()::text as lsn, ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int as tl`;
      const reps = await s`select application_name as name, state, sync_state as sync, flush_lsn::text as flush, replay_lsn::text as replay from pg_stat_replication`;
      const [a] = await s`select last_archived_time, current_setting('synchronous_standby_names') as ssn from pg_stat_archiver`;
      Object.assign(out, {
        timeline: Number(w!.tl), lsn: w!.lsn, replayLSN: w!.lsn,
        syncNames: parseSyncStandbyNames(String(a?.ssn ?? "")).slice(0, 8).map((n) => n.slice(0, 63)),
        replicas: reps.slice(0, 8).map((r) => ({ name: String(r.name).slice(0, 63), state: String(r.state), syncState: String(r.sync), ...(r.flush ? { flushLSN: r.flush } : {}), ...(r.replay ? { replayLSN: r.replay } : {}) })),
        ...(a?.last_archived_time ? { lastArchivedAt: new Date(a.last_archived_time as Date).toISOString() } : {}),
      });
    }
  } catch (e) {
    out.message = `status query failed: ${String(e instanceof Error ? e.message : e).slice(0, 300)}`;
  }
  return out;
}

// ---------- backups ----------

const backups = new Map<string, BackupReport>();
const backupDir = (id: string) => path.join(BASE, id);

function readBackup(id: string): BackupReport {
  const running = backups.get(id);
  if (running) return running;
  try { return backupReport.parse(JSON.parse(readFileSync(path.join(backupDir(id), "backup.json"), "utf8"))); } catch { return { phase: "Absent" }; }
}

async function startBackup(id: string): Promise<BackupReport> {
  const known = readBackup(id);
  if (known.phase !== "Absent" && known.phase !== "Failed") return known;
  if (role !== "primary" || pgState !== "running") return { phase: "Failed", error: `member ${MEMBER} is not a running primary` };
  // one copy at a time: a second one's checkpoint can recycle the WAL the first is about to stream
  // (seen: "requested WAL segment ... has already been removed"); the controller asks again
  const running = [...backups.keys()][0];
  if (running) return { phase: "Absent", error: `backup ${running} is running; one at a time` };
  const dir = backupDir(id);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  own(BASE); own(dir);
  const started: BackupReport = { phase: "Running", startedAt: new Date().toISOString() };
  backups.set(id, started);
  const child = spawn(path.join(PG_BIN, "pg_basebackup"), ["-h", SOCKET_DIR, "-p", String(POSTGRES_PORT), "-U", "postgres", "-D", path.join(dir, "data"), "-X", "stream", "-c", "fast", "--no-password"],
    { ...asPg, stdio: ["ignore", "ignore", "pipe"], env: { PATH: process.env.PATH, HOME: DATA_MOUNT } });
  let errText = "";
  child.stderr!.on("data", (c: Buffer) => { errText = (errText + c.toString()).slice(-2000); });
  child.on("exit", (code) => {
    let result: BackupReport;
    if (code !== 0) result = { ...started, phase: "Failed", error: `pg_basebackup exited ${code}: ${errText.trim().slice(-800)}` };
    else {
      try {
        const manifest = JSON.parse(readFileSync(path.join(dir, "data", "backup_manifest"), "utf8")) as { "WAL-Ranges"?: Array<{ "Start-LSN": string; "End-LSN": string }> };
        const range = manifest["WAL-Ranges"]?.[0];
        const du = spawnSync("du", ["-sb", path.join(dir, "data")], { encoding: "utf8" });
        result = { phase: "Completed", startedAt: started.startedAt, stoppedAt: new Date().toISOString(), ...(range ? { beginLSN: range["Start-LSN"], endLSN: range["End-LSN"] } : {}), sizeBytes: Number(du.stdout.split("\t")[0]) || 0 };
      } catch (e) {
        result = { ...started, phase: "Failed", error: `reading the backup's manifest: ${String(e)}` };
      }
    }
    writeFileSync(path.join(dir, "backup.json"), JSON.stringify(result));
    backups.delete(id);
    log("backup finished", { id, phase: result.phase });
  });
  return started;
}

function deleteBackup(id: string): void {
  rmSync(backupDir(id), { recursive: true, force: true });
  // WAL older than the oldest remaining backup's start is no longer needed for any restore
  const kept = existsSync(BASE) ? readdirSync(BASE).map(readBackup).filter((b) => b.phase === "Completed" && b.beginLSN) : [];
  if (!kept.length || !existsSync(WAL)) return;
  const oldest = kept.map((b) => lsnBytes(b.beginLSN)!).sort((a, b) => (a < b ? -1 : 1))[0]!;
  const walFiles = readdirSync(WAL).filter((f) => /^[0-9A-F]{24}$/.test(f)).sort();
  // the segment holding `oldest` (1 MiB segments): keep it and everything after
  const seg = oldest >> 20n;
  const keepFrom = walFiles.find((f) => BigInt(`0x${f.slice(8, 16)}`) * 4096n + BigInt(`0x${f.slice(16)}`) >= seg);
  if (keepFrom) spawnSync(path.join(PG_BIN, "pg_archivecleanup"), [WAL, keepFrom], { ...asPg });
}

// ---------- HTTP ----------

const token = Buffer.from(secret(IM_TOKEN_KEY));
function authorized(req: IncomingMessage): boolean {
  const h = req.headers.authorization ?? "";
  const given = Buffer.from(h.startsWith("Bearer ") ? h.slice(7) : "");
  return given.length === token.length && timingSafeEqual(given, token);
}

async function body<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T | string> {
  const text = await readAtMost(req, IM_MAX_BODY);
  if (!text) return `body larger than ${IM_MAX_BODY} bytes`;
  let json: unknown;
  try { json = JSON.parse(text.toString("utf8")); } catch { return "body is not JSON"; }
  const r = schema.safeParse(json);
  return r.success ? r.data : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ").slice(0, 500);
}

const send = (res: ServerResponse, code: number, payload: unknown) => { res.writeHead(code, { "content-type": "application/json" }).end(JSON.stringify(payload)); };

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!authorized(req)) return send(res, 401, { error: "unauthorized" });
  lastContact = Date.now();
  const url = new URL(req.url ?? "/", "http://x");
  const m = /^\/backups\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(url.pathname);
  if (req.method === "GET" && url.pathname === "/status") return send(res, 200, await report());
  if (req.method === "PUT" && url.pathname === "/desired") {
    const d = await body(req, desiredState);
    if (typeof d === "string") return send(res, 400, { error: d });
    const current = desired?.epoch ?? persisted.epoch;
    if (d.epoch < current) return send(res, 409, { error: `epoch ${d.epoch} is older than ${current}` });
    // the controller has decided since (a newer epoch), or it has seen this very fence and still wants
    // this member to serve at this epoch (e.g. a candidate that fenced itself while the manager restarted
    // in the middle of promoting it): follow it. A request sent before the fence cannot name it.
    if (isolated && (d.epoch > current || (d.liftIsolation !== undefined && d.liftIsolation === isolatedAt))) isolated = false;
    if (isolated && d.role !== "fenced") return send(res, 409, { error: "fenced after isolation: only a newer epoch, or a controller naming this fence, lifts it" });
    void apply(d);
    return send(res, 202, await report());
  }
  if (req.method === "POST" && url.pathname === "/backups") {
    const b = await body(req, backupRequest);
    if (typeof b === "string") return send(res, 400, { error: b });
    return send(res, 202, await startBackup(b.id));
  }
  if (req.method === "GET" && m) return send(res, 200, readBackup(m[1]!));
  if (req.method === "DELETE" && m) { deleteBackup(m[1]!); return send(res, 200, { phase: "Absent" }); }
  if (req.method === "POST" && url.pathname === "/switch-wal") {
    if (role !== "primary" || pgState !== "running") return send(res, 409, { error: "not a running primary" });
    // a commit stamped now first: a restore to a moment after the last write then finds a record
    // past its target in the archive, instead of ending short of it
    await db()`select txid_current()`;
    await db()`select pg_switch_wal()`;
    return send(res, 200, {});
  }
  send(res, 404, { error: "not found" });
}

const server = createServer((req, res) => {
  handle(req, res).catch((e) => { if (!res.headersSent) send(res, 500, { error: String(e instanceof Error ? e.message : e).slice(0, 500) }); });
});
server.requestTimeout = 10_000;
server.headersTimeout = 5_000;
server.listen(INSTANCE_MANAGER_PORT, ADDRESS, () => log("instance manager listening", { address: ADDRESS, port: INSTANCE_MANAGER_PORT, pgdata: PGDATA }));
setInterval(() => { void checkIsolation(); }, 1000);

const shutdown = async () => {
  server.close();
  await stopPostgres();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
