// RDS as the composition root sees it: the DBInstance and DBBackup controllers; DBInstances charged
// against quota (one in dbinstances, plus every member's vCPUs and memory in the instance's zone;
// their volumes are charged as volumes); and the webhook that refuses a restore nothing can reach.
import { meter } from "../api/billing.ts";
import { bytes } from "../api/quantity.ts";
import { DB_FINALIZER, DBBackupRef, DBInstanceRef, type DBBackupObj, type DBInstanceObj } from "../api/database.ts";
import { allow, deny, type AdmissionRequest, type AdmissionResponse } from "../runtime/admission.ts";
import type { Product } from "../runtime/product.ts";
import { keyOf } from "../runtime/types.ts";
import { BY_INSTANCE, backupInstanceKey, recoverableWindow, setupDBBackupController } from "./rds-backup.ts";
import { setupDBInstanceController } from "./rds-controller.ts";
import { memberCount, memberSize } from "./rds-plan.ts";

const PATH = "/database/validate";

export const database: Product = {
  name: "database",
  controllers: {
    dbinstance: setupDBInstanceController,
    dbbackup: setupDBBackupController,
  },
  charged() {
    return [{
      ref: DBInstanceRef,
      finalizer: DB_FINALIZER,
      price: (obj, ctx) => {
        const db = obj as DBInstanceObj;
        if (db.spec.resources && !ctx.customSizes) return { denied: `spec.resources: tenant "${ctx.tenant}" may not use custom sizes; choose a spec.flavor` };
        const n = memberCount(db);
        const size = memberSize(db);
        return { charge: { tenant: ctx.tenant, zone: db.spec.zone, amounts: { dbinstances: 1, cpu: n * size.cpu * 1000, memory: n * bytes(size.memory) } } };
      },
    }];
  },
  billable() {
    return [{
      ref: DBInstanceRef,
      meters: (obj) => {
        const db = obj as DBInstanceObj;
        const size = memberSize(db);
        return [meter("rds", "db.node-hour", memberCount(db), { zone: db.spec.zone, variant: db.spec.flavor ?? `${size.cpu}C${size.memory.replace("Gi", "G")}` })];
      },
    }];
  },
  webhooks(mgr, server) {
    const dbs = mgr.informer<DBInstanceObj>(DBInstanceRef);
    const backups = mgr.informer<DBBackupObj>(DBBackupRef);
    backups.addIndexer(BY_INSTANCE, backupInstanceKey);
    server.register(PATH, "validating", [{
      name: "restore.database.cellcloud.io", sideEffects: "None",
      rules: [{ apiGroups: [DBInstanceRef.group], apiVersions: ["*"], resources: [DBInstanceRef.plural], operations: ["CREATE"], scope: "Namespaced" }],
    }], (req) => validateRestore(req));

    /** A restore must name what exists and a moment its source can reach: refused at once, with the window. */
    function validateRestore(req: AdmissionRequest): AdmissionResponse {
      const db = req.object as DBInstanceObj | undefined;
      const rf = db?.spec?.restoreFrom;
      if (!rf || !req.namespace) return allow(req);
      const refuse = (message: string) => deny(req, 422, "Invalid", message);
      if (rf.backup) {
        const b = backups.get(`${req.namespace}/${rf.backup}`);
        if (!b) return refuse(`spec.restoreFrom.backup: DBBackup ${rf.backup} not found in ${req.namespace}`);
        if (b.status?.phase !== "Completed") return refuse(`spec.restoreFrom.backup: DBBackup ${rf.backup} is ${b.status?.phase ?? "Pending"}; only a Completed backup can be restored`);
        return allow(req);
      }
      const src = dbs.get(`${req.namespace}/${rf.instance}`);
      if (!src) return refuse(`spec.restoreFrom.instance: DBInstance ${rf.instance} not found in ${req.namespace}`);
      const t = Date.parse(rf.pointInTime ?? "");
      const first = Date.parse(src.status?.firstRecoverabilityPoint ?? "");
      if (!(t <= Date.now()) || !(t >= first)) {
        return refuse(`spec.restoreFrom.pointInTime ${rf.pointInTime} is outside the recoverable window of ${rf.instance}: ${recoverableWindow(backups.byIndex(BY_INSTANCE, keyOf(src)))}`);
      }
      return allow(req);
    }
  },
};
