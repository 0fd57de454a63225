// What the instance manager writes for PostgreSQL, as pure functions of the desired state: the
// settings it owns (cellcloud.conf), pg_hba.conf, synchronous_standby_names, a replication slot's
// name, and LSN arithmetic. Unit-tested without a server.
import type { DesiredState } from "../../operators/api/database.ts";

export const REPLICATION_USER = "streaming_replica";

/** A member's physical replication slot on the primary (slot names allow [a-z0-9_]). */
export const slotName = (member: string) => member.replace(/[^a-z0-9_]/g, "_");

/** PostgreSQL's quoting of a string literal in a configuration file or SQL. */
export const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** synchronous_standby_names for the desired sync set: FIRST 1 (a) for ha, ANY 1 (b, c) for finance; "" when none. */
export function syncStandbyNames(sync: DesiredState["sync"]): string {
  if (!sync || sync.num === 0 || sync.names.length === 0) return "";
  return `${sync.method} ${Math.min(sync.num, sync.names.length)} (${sync.names.map((n) => `"${n}"`).join(", ")})`;
}

/** The standbys a synchronous_standby_names value names (what a commit may wait for): FIRST/ANY n (…), n (…), or a bare list. */
export function parseSyncStandbyNames(value: string): string[] {
  const v = value.trim();
  if (!v) return [];
  const open = v.indexOf("(");
  const list = open >= 0 ? v.slice(open + 1, v.lastIndexOf(")") > open ? v.lastIndexOf(")") : undefined) : v;
  return list.split(",").map((n) => n.trim().replace(/^"(.*)"$/, "$1").replace(/""/g, '"')).filter((n) => n && n !== "*");
}

export interface ConfInput {
  address: string;
  port: number;
  socketDir: string;
  /** Where archived WAL goes (this instance's store), and where a restore reads it from (its source's). */
  walArchive: string;
  restoreWal?: string;
  member: string;
  desired: DesiredState;
  /** A standby: how to reach its primary (the password comes from the passfile). */
  primaryConninfo?: string;
  /** A restore: replay to this time, or to the backup's end (`{}`: PostgreSQL's recovery_target = 'immediate'). */
  recoveryTarget?: { time?: string };
}

const USER_PARAMETERS: Record<string, (v: string | number) => string> = {
  maxConnections: (v) => `max_connections = ${Number(v)}`,
  sharedBuffersMiB: (v) => `shared_buffers = '${Number(v)}MB'`,
  workMemMiB: (v) => `work_mem = '${Number(v)}MB'`,
  logMinDurationMs: (v) => `log_min_duration_statement = ${Number(v)}`,
};

/** The settings the instance manager owns, included at the end of postgresql.conf (so they win). */
export function renderConf(c: ConfInput): string {
  const archive = `f=${c.walArchive}/%f; if [ -f "$f" ]; then cmp -s %p "$f"; else cp %p "$f.tmp" && mv "$f.tmp" "$f"; fi`;
  const restoreFrom = c.restoreWal ?? c.walArchive;
  const lines = [
    "# written by the CellCloud instance manager; every change here is overwritten",
    `listen_addresses = ${quote(c.address)}`,
    `port = ${c.port}`,
    `unix_socket_directories = ${quote(c.socketDir)}`,
    "unix_socket_permissions = 0700",
    "wal_level = replica",
    "wal_log_hints = on",
    "max_wal_senders = 10",
    "max_replication_slots = 10",
    "hot_standby = on",
    "hot_standby_feedback = on",
    "wal_sender_timeout = '5s'",
    "wal_receiver_timeout = '5s'",
    "wal_receiver_status_interval = '1s'",
    "wal_retrieve_retry_interval = '1s'",
    // 64 segments of 1 MiB kept past a checkpoint: a standby or a backup starting to stream finds them
    "wal_keep_size = '64MB'",
    "archive_mode = on",
    `archive_command = ${quote(archive)}`,
    "archive_timeout = '60s'",
    `restore_command = ${quote(`cp ${restoreFrom}/%f %p`)}`,
    "recovery_target_timeline = 'latest'",
    "synchronous_commit = on",
    `synchronous_standby_names = ${quote(c.desired.role === "primary" ? syncStandbyNames(c.desired.sync) : "")}`,
    `cluster_name = ${quote(c.member)}`,
    "logging_collector = off",
    "log_line_prefix = '%m [%p] %q%u@%d '",
    "shared_buffers = '64MB'",
    ...Object.entries(c.desired.parameters ?? {}).flatMap(([k, v]) => (USER_PARAMETERS[k] ? [USER_PARAMETERS[k](v)] : [])),
  ];
  if (c.primaryConninfo) lines.push(`primary_conninfo = ${quote(c.primaryConninfo)}`, `primary_slot_name = ${quote(slotName(c.member))}`);
  if (c.recoveryTarget?.time) lines.push(`recovery_target_time = ${quote(pgTime(c.recoveryTarget.time))}`, "recovery_target_inclusive = off", "recovery_target_action = 'promote'");
  else if (c.recoveryTarget) lines.push("recovery_target = 'immediate'", "recovery_target_action = 'promote'");
  return `${lines.join("\n")}\n`;
}

/**
 * pg_hba.conf: the superuser only over the private socket; replication (and pg_rewind's reads) by
 * the replication user with its password from anywhere the members are; the application from the
 * allowlist (everywhere when it is empty), always with a password (SCRAM).
 */
export function renderHba(allowed: readonly string[] | undefined): string {
  const sources = allowed?.length ? allowed : ["0.0.0.0/0"];
  return [
    "# written by the CellCloud instance manager",
    "local all postgres trust",
    "local replication postgres trust",
    `host replication ${REPLICATION_USER} 0.0.0.0/0 scram-sha-256`,
    `host postgres ${REPLICATION_USER} 0.0.0.0/0 scram-sha-256`,
    ...sources.map((s) => `host all all ${s} scram-sha-256`),
    "",
  ].join("\n");
}

/** A libpq connection string's value, quoted when it needs to be. */
export const connValue = (v: string) => (/^[A-Za-z0-9_.\-/]+$/.test(v) ? v : `'${v.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`);

/** An RFC 3339 time as PostgreSQL's timestamptz input reads it ("2026-12-01 19:50:50.265+00"). */
export const pgTime = (t: string) => new Date(t).toISOString().replace("T", " ").replace("Z", "+00");
