// Backups and restores. A DBBackup is a pg_basebackup the primary's instance manager takes into the
// instance's backup store, where the members also archive their WAL; with both, a new instance can
// replay to any moment since the oldest kept backup (PITR). Pure parts: retention, the schedule's
// next run, the status fields; the DBBackup controller drives one copy from Pending to Completed.
import { Cron } from "croner";
import {
  backupVolumeName, DB_BACKUP_FINALIZER, DB_LABEL, DBBackupRef, DBInstanceRef, memberName,
  type BackupReport, type DBBackupObj, type DBBackupStatus, type DBInstanceObj,
} from "../api/database.ts";
import { claimName } from "../api/storage.ts";
import type { Controller } from "../runtime/controller.ts";
import { PodRef, type Pod } from "../runtime/core.ts";
import type { Informer } from "../runtime/informer.ts";
import { completeManaged, type Action, type ExternalCall, type ManagedResource, type Plan } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import type { ProductContext } from "../runtime/product.ts";
import { controllerRef } from "../runtime/objects.ts";
import { keyOf } from "../runtime/types.ts";
import { backupId, InstanceManagers } from "./rds-client.ts";

export const BY_INSTANCE = "database.cellcloud.io/instance";
/** The index of DBBackups by their instance (one function, shared by the controllers and the webhook). */
export const backupInstanceKey = (b: DBBackupObj) => [`${b.metadata.namespace}/${b.spec.instance}`];
const DAY_MS = 86_400_000;
export const SCHEDULED_LABEL = "database.cellcloud.io/scheduled";

const stopped = (b: DBBackupObj) => Date.parse(b.status?.stoppedAt ?? "") || 0;
const completed = (bs: readonly DBBackupObj[]) => bs.filter((b) => b.status?.phase === "Completed" && b.status.stoppedAt && !b.metadata.deletionTimestamp).sort((a, b) => stopped(a) - stopped(b));

/**
 * Backups retention deletes: completed ones older than `days` or beyond the newest `count`, and
 * failed ones older than `days`, never the newest completed backup (it is the only way back).
 */
export function retentionVictims(bs: readonly DBBackupObj[], days: number, count: number, now: number): DBBackupObj[] {
  const done = completed(bs);
  const newest = done.at(-1);
  const keepByCount = new Set(done.slice(-count).map((b) => b.metadata.name));
  const old = (b: DBBackupObj) => now - (stopped(b) || Date.parse(b.metadata.creationTimestamp ?? "") || now) > days * DAY_MS;
  return bs.filter((b) => !b.metadata.deletionTimestamp && b !== newest && (
    (b.status?.phase === "Completed" && (old(b) || !keepByCount.has(b.metadata.name))) || (b.status?.phase === "Failed" && old(b))));
}

/** The schedule's first run after `after`, or why the expression cannot be read. */
export function nextRun(schedule: string, after: Date): Date | undefined | string {
  try {
    return new Cron(schedule, { timezone: "UTC", paused: true }).nextRun(after) ?? undefined;
  } catch (e) {
    return `spec.backup.schedule "${schedule}": ${e instanceof Error ? e.message : String(e)}`;
  }
}

/** A scheduled backup's name: the instance and the scheduled time, so creating it twice is one backup. */
export const scheduledName = (db: string, at: Date) => `${db}-${at.toISOString().replace(/[-:T]/g, "").slice(0, 14)}`;

export interface BackupsView { backups: readonly DBBackupObj[]; primaryServing: boolean }

/** What the instance's reconcile does about backups: schedule, retention and the status they show. */
export function backupPlan(db: DBInstanceObj, o: BackupsView, now: number): { actions: Action[]; calls: ExternalCall[]; fields: Record<string, unknown>; condition: { type: string; status: "True" | "False"; reason: string; message: string } } {
  const actions: Action[] = [];
  const done = completed(o.backups);
  const fields: Record<string, unknown> = {
    firstRecoverabilityPoint: done[0]?.status?.stoppedAt,
    lastSuccessfulBackup: done.at(-1)?.status?.stoppedAt,
  };
  const policy = db.spec.backup;
  for (const v of retentionVictims(o.backups, policy?.retentionDays ?? 7, policy?.retentionCount ?? 7, now)) {
    actions.push({ verb: "delete", ref: DBBackupRef, name: v.metadata.name, namespace: v.metadata.namespace });
  }
  let condition = { type: "BackupHealthy", status: "True" as "True" | "False", reason: done.length ? "Recoverable" : "NoBackup", message: done.length ? `${done.length} completed backup(s); recoverable since ${fields.firstRecoverabilityPoint}` : "no completed backup yet; WAL is archived" };
  if (policy?.schedule) {
    const after = new Date(db.status?.lastScheduledBackup ?? db.metadata.creationTimestamp ?? now);
    const next = nextRun(policy.schedule, after);
    if (typeof next === "string") condition = { type: "BackupHealthy", status: "False", reason: "InvalidSchedule", message: next };
    else if (next && next.getTime() <= now && o.primaryServing) {
      actions.push({
        verb: "create", ref: DBBackupRef,
        object: {
          apiVersion: "database.cellcloud.io/v1alpha1", kind: "DBBackup",
          metadata: { name: scheduledName(db.metadata.name, next), namespace: db.metadata.namespace, labels: { [DB_LABEL]: db.metadata.name, [SCHEDULED_LABEL]: "true" }, ownerReferences: [controllerRef(db, DBInstanceRef, false)] },
          spec: { instance: db.metadata.name, method: "base" },
        },
      });
      fields.lastScheduledBackup = next.toISOString();
    }
  }
  const latest = [...o.backups].sort((a, b) => Date.parse(a.metadata.creationTimestamp ?? "") - Date.parse(b.metadata.creationTimestamp ?? "")).at(-1);
  if (condition.status === "True" && latest?.status?.phase === "Failed") condition = { type: "BackupHealthy", status: "False", reason: "BackupFailed", message: `DBBackup ${latest.metadata.name} failed: ${latest.status.error ?? "see its status"}` };
  return { actions, calls: [], fields, condition };
}

export interface RestoreDeps {
  dbs: Informer<DBInstanceObj>;
  backups: Informer<DBBackupObj>;
  ims: InstanceManagers;
  pods(instanceKey: string): Pod[];
}

export type RestoreSource =
  | { sourceClaim: string; backup: string; targetTime?: string; describe: string }
  | { problem: string }
  | { pending: string; call?: ExternalCall };

/** What a restoring instance starts from, resolved against the source's backups and archived WAL. */
export async function restoreSource(db: DBInstanceObj, d: RestoreDeps, now: number): Promise<RestoreSource> {
  const rf = db.spec.restoreFrom!;
  const ns = db.metadata.namespace ?? "";
  if (rf.backup) {
    const b = d.backups.get(`${ns}/${rf.backup}`);
    if (!b) return { problem: `spec.restoreFrom.backup: DBBackup ${rf.backup} not found` };
    if (b.status?.phase !== "Completed") return { problem: `spec.restoreFrom.backup: DBBackup ${rf.backup} is ${b.status?.phase ?? "Pending"}, not Completed` };
    return { sourceClaim: claimName(backupVolumeName(b.spec.instance)), backup: backupId(b), describe: `DBBackup ${rf.backup}` };
  }
  const src = d.dbs.get(`${ns}/${rf.instance}`);
  if (!src) return { problem: `spec.restoreFrom.instance: DBInstance ${rf.instance} not found` };
  const target = Date.parse(rf.pointInTime!);
  const window = recoverableWindow(d.backups.byIndex(BY_INSTANCE, keyOf(src)));
  if (target > now) return { problem: `spec.restoreFrom.pointInTime ${rf.pointInTime} is in the future` };
  const base = completed(d.backups.byIndex(BY_INSTANCE, keyOf(src))).filter((b) => stopped(b) <= target).at(-1);
  if (!base) return { problem: `spec.restoreFrom.pointInTime ${rf.pointInTime} is outside the recoverable window of ${rf.instance}: ${window}` };
  // the WAL up to the target must be in the archive: ask the source's primary to close its segment
  const primary = d.pods(keyOf(src)).find((p) => p.metadata.name === (src.status?.currentPrimary ?? memberName(src.metadata.name, 1)));
  const token = await d.ims.token(src);
  const address = primary?.status?.podIP;
  const report = address && token ? await d.ims.status(address, token) : undefined;
  if (!report?.lastArchivedAt || Date.parse(report.lastArchivedAt) < target + 1_000) {
    return { pending: `waiting for ${rf.instance} to archive its WAL up to ${rf.pointInTime}`, ...(address && token ? { call: d.ims.switchWal(address, token) } : {}) };
  }
  return { sourceClaim: claimName(backupVolumeName(src.metadata.name)), backup: backupId(base), targetTime: new Date(target).toISOString(), describe: `DBInstance ${rf.instance} at ${rf.pointInTime}` };
}

/** The window a point-in-time restore can reach, in words (for refusals). */
export function recoverableWindow(bs: readonly DBBackupObj[]): string {
  const first = completed(bs)[0]?.status?.stoppedAt;
  return first ? `from ${first} until now` : "none yet: it has no completed backup";
}

// ==================== DBBackup ====================

interface BackupObservation {
  db?: DBInstanceObj;
  /** The primary's address and the token, when the instance serves. */
  primary?: { address: string; token: string };
  /** Any member that answers (deleting a copy only needs the shared store). */
  report?: BackupReport;
}

function backupStatus(r: BackupReport | undefined, member: string | undefined, b: DBBackupObj): Partial<DBBackupStatus> {
  if (!r || r.phase === "Absent") return { phase: "Pending" };
  const { phase, startedAt, stoppedAt, beginLSN, endLSN, sizeBytes, error } = r;
  return { phase, startedAt, stoppedAt, beginLSN, endLSN, sizeBytes, error, member: b.status?.member ?? member, scheduled: b.metadata.labels?.[SCHEDULED_LABEL] === "true" || undefined };
}

export function setupDBBackupController(mgr: Manager, ctx: ProductContext): Controller {
  const dbs = mgr.informer<DBInstanceObj>(DBInstanceRef);
  const pods = mgr.informer<Pod>(PodRef, DB_LABEL);
  const ims = new InstanceManagers(mgr.client);

  const observe = async (b: DBBackupObj): Promise<BackupObservation> => {
    const db = dbs.get(`${b.metadata.namespace}/${b.spec.instance}`);
    if (!db || db.metadata.deletionTimestamp) return db ? { db } : {};
    // a finished copy needs no member until it is deleted
    const finished = b.status?.phase === "Completed" || b.status?.phase === "Failed";
    if (finished && !b.metadata.deletionTimestamp) return { db };
    const pod = pods.get(`${b.metadata.namespace}/${db.status?.currentPrimary ?? ""}`);
    const token = await ims.token(db);
    const address = pod?.status?.podIP;
    if (!address || !token) return { db };
    const report = await ims.backup(address, token, backupId(b));
    return { db, primary: { address, token }, ...(report ? { report } : {}) };
  };

  const plan = (b: DBBackupObj, o: BackupObservation): Plan => {
    const phase = b.status?.phase;
    // done: nothing to do but show the generation observed
    if (phase === "Completed") return { status: { conditions: [{ type: "Ready", status: "True", reason: "Completed", message: `a base backup of ${b.spec.instance} from ${b.status?.beginLSN} to ${b.status?.endLSN}` }] } };
    if (phase === "Failed") return { status: { conditions: [{ type: "Ready", status: "False", reason: "Failed", message: b.status?.error ?? "failed" }] } };
    const ready = { type: "Ready", status: "False" as const };
    if (!o.db) return { status: { fields: { phase: "Pending" }, conditions: [{ ...ready, reason: "InstanceNotFound", message: `DBInstance ${b.spec.instance} not found` }] }, requeueAfterMs: 5_000 };
    if (!o.primary || !o.report) return { status: { fields: { phase: phase ?? "Pending" }, conditions: [{ ...ready, reason: "PrimaryUnavailable", message: `waiting for ${b.spec.instance}'s primary to answer` }] }, requeueAfterMs: 2_000 };
    const fields = backupStatus(o.report, o.db.status?.currentPrimary, b);
    if (o.report.phase === "Absent") {
      // asked to start; Running once the member says so (it takes one copy at a time)
      return { calls: [ims.startBackup(o.primary.address, o.primary.token, backupId(b))], status: { fields: { phase: "Pending" }, conditions: [{ ...ready, reason: "Starting", message: `asking ${o.db.status?.currentPrimary} to start the copy` }] }, requeueAfterMs: 1_000 };
    }
    if (o.report.phase === "Running") return { status: { fields, conditions: [{ ...ready, reason: "Running", message: `copying from ${fields.member}` }] }, requeueAfterMs: 1_000 };
    const ok = o.report.phase === "Completed";
    return {
      status: { fields, conditions: [ok ? { type: "Ready", status: "True", reason: "Completed", message: `a base backup of ${b.spec.instance} from ${fields.beginLSN} to ${fields.endLSN}` } : { ...ready, reason: "Failed", message: o.report.error ?? "failed" }] },
      events: [{ type: ok ? "Normal" : "Warning", reason: ok ? "BackupCompleted" : "BackupFailed", message: ok ? `backup of ${b.spec.instance} completed at ${fields.stoppedAt}` : `backup of ${b.spec.instance} failed: ${o.report.error ?? ""}` }],
    };
  };

  const resource: ManagedResource<DBBackupObj, BackupObservation> = {
    finalizer: DB_BACKUP_FINALIZER,
    gates: ctx.gates,
    observe,
    plan,
    // the copy leaves the store with the object; an instance that is gone took its store with it
    finalize: (b, o) => {
      if (!o.db || o.db.metadata.deletionTimestamp || !b.status?.phase || b.status.phase === "Pending") return { done: true };
      if (!o.primary) return { status: { conditions: [{ type: "Ready", status: "False", reason: "Deleting", message: `waiting for ${b.spec.instance}'s primary to delete the copy` }] }, requeueAfterMs: 5_000 };
      const call = ims.deleteBackup(o.primary.address, o.primary.token, backupId(b));
      let deleted = false;
      return { calls: [{ what: call.what, call: async () => { const r = await call.call(); deleted = r === "done"; return r; } }], done: () => deleted, requeueAfterMs: 2_000 };
    },
  };
  const backups = mgr.informer<DBBackupObj>(DBBackupRef);
  backups.addIndexer(BY_INSTANCE, backupInstanceKey);
  return completeManaged(
    mgr.controller("dbbackup").for(DBBackupRef).concurrency(2)
      // an instance whose primary comes (back) lets its pending backups go on at once
      .watches(DBInstanceRef, (db) => backups.byIndex(BY_INSTANCE, keyOf(db)).map(keyOf)),
    resource,
  );
}
