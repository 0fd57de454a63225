// Reconciles DBInstances on the managed reconciler: observes the members' pods, hosts, volumes,
// Services and EndpointSlices from caches and asks every member's instance manager for its state
// (a second bounded), then carries out dbPlan (objects, then what each member is told). It looks
// again every second while the instance exists: failover is decided from that periodic view and the
// status it recorded, never from a single event.
import { randomBytes } from "node:crypto";
import {
  connectionSecretName, DB_FINALIZER, DB_LABEL, DB_ROLE_LABEL, DBBackupRef, DBInstanceRef, internalSecretName, roServiceName, rwServiceName,
  type DBBackupObj, type DBInstanceObj,
} from "../api/database.ts";
import { hostDown, hosts } from "../platform/placement-api.ts";
import { SubnetRef, type SubnetObj } from "../api/network.ts";
import { VolumeRef, type VolumeObj } from "../api/storage.ts";
import type { Controller } from "../runtime/controller.ts";
import { isPodReady, NetworkPolicyRef, PodRef, SecretRef, ServiceRef, type Pod, type Service } from "../runtime/core.ts";
import { isForbidden, isNotFound } from "../runtime/kube.ts";
import { USER_DATA_READER_ROLE } from "../api/tenancy.ts";
import { completeManaged, type ManagedResource } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import type { ProductContext } from "../runtime/product.ts";
import { keyOf, type KubeObject } from "../runtime/types.ts";
import { InstanceManagers } from "./rds-client.ts";
import { backupInstanceKey, backupPlan, BY_INSTANCE, restoreSource } from "./rds-backup.ts";
import { dbPlan, memberNames, type DBObservation } from "./rds-plan.ts";
import type { MemberView } from "./rds-topology.ts";

const dbKey = (o: KubeObject) => { const n = o.metadata.labels?.[DB_LABEL]; return n ? [`${o.metadata.namespace}/${n}`] : []; };
const secret = () => randomBytes(24).toString("base64url");

export function setupDBInstanceController(mgr: Manager, ctx: ProductContext): Controller {
  const dbs = mgr.informer<DBInstanceObj>(DBInstanceRef);
  const backups = mgr.informer<DBBackupObj>(DBBackupRef);
  backups.addIndexer(BY_INSTANCE, backupInstanceKey);
  const pods = mgr.informer<Pod>(PodRef, DB_LABEL);
  pods.addIndexer(BY_INSTANCE, dbKey);
  const volumes = mgr.informer<VolumeObj>(VolumeRef, DB_LABEL);
  const services = mgr.informer<Service>(ServiceRef, DB_LABEL);
  const policies = mgr.informer<KubeObject & { spec?: unknown }>(NetworkPolicyRef, DB_LABEL);
  const subnets = mgr.informer<SubnetObj>(SubnetRef);
  const { nodes } = hosts(mgr);
  const ims = new InstanceManagers(mgr.client);
  /** When each member's instance manager last answered (by pod uid); a restarted manager starts counting now. */
  const lastAnswer = new Map<string, number>();
  const started = Date.now();
  /** Instances whose two Secrets were seen (by uid): not read again. */
  const secretsSeen = new Set<string>();

  /** Whether a Secret exists; "forbidden" where the manager may not read Secrets (outside tenant namespaces, unless bound). */
  const exists = async (name: string, ns: string): Promise<boolean | "forbidden"> => {
    try { await mgr.client.get(SecretRef, name, ns); return true; } catch (e) {
      if (isNotFound(e)) return false;
      if (isForbidden(e)) return "forbidden";
      throw e;
    }
  };

  const observe = async (db: DBInstanceObj, now: number): Promise<DBObservation> => {
    const ns = db.metadata.namespace ?? "";
    const uid = db.metadata.uid ?? "";
    const own = <T extends KubeObject>(o: T | undefined) => (o && o.metadata.ownerReferences?.some((r) => r.uid === uid) ? o : undefined);
    const mine = pods.byIndex(BY_INSTANCE, keyOf(db)).filter((p) => own(p) && !p.metadata.deletionTimestamp);
    const podMap = new Map(mine.map((p) => [p.metadata.name, p]));
    let connection: boolean | "forbidden" = secretsSeen.has(uid);
    let internal: boolean | "forbidden" = connection;
    if (!connection) {
      [connection, internal] = await Promise.all([exists(connectionSecretName(db.metadata.name), ns), exists(internalSecretName(db.metadata.name), ns)]);
      if (connection === true && internal === true) secretsSeen.add(uid);
    }
    if (connection === "forbidden" || internal === "forbidden") {
      return { forbidden: `the manager may not read or create Secrets in namespace ${ns} (tenant namespaces grant it; elsewhere bind ClusterRole ${USER_DATA_READER_ROLE} to its ServiceAccount)` } as DBObservation;
    }
    const token = internal ? await ims.token(db) : undefined;
    const members = await Promise.all(memberNames(db).map(async (name): Promise<MemberView> => {
      const pod = podMap.get(name);
      const address = pod?.status?.podIP;
      const node = pod?.spec?.nodeName;
      const report = address && token ? await ims.status(address, token) : undefined;
      const podUid = pod?.metadata.uid ?? name;
      if (report) lastAnswer.set(podUid, now);
      const silentMs = report ? 0 : now - (lastAnswer.get(podUid) ?? started);
      return { name, pod: Boolean(pod), ...(address ? { address } : {}), ...(node ? { node, hostDown: hostDown(nodes.get(node)) } : {}), ...(report ? { report } : {}), silentMs };
    }));
    const volumeMap = new Map(volumes.list().filter((v) => v.metadata.namespace === ns && own(v)).map((v) => [v.metadata.name, v]));
    // what each Service selects: ready pods of that role (their EndpointSlices, in a cluster; the
    // apiserver keeps the local plane's loopback addresses out of EndpointSlices)
    const addresses = (role: string) => mine.filter((p) => p.metadata.labels?.[DB_ROLE_LABEL] === role && isPodReady(p) && p.status?.podIP).map((p) => p.status!.podIP!).sort();
    const restore = db.spec.restoreFrom && !db.status?.restoredFrom ? await restoreSource(db, { dbs, backups, ims, pods: (k) => pods.byIndex(BY_INSTANCE, k) }, now) : undefined;
    const fresh = { password: secret(), replication: secret(), token: secret() };
    if (!internal) ims.forget(db);
    return {
      subnet: Boolean(subnets.get(`${ns}/${db.spec.subnet}`)),
      pods: podMap,
      volumes: volumeMap,
      services: new Map([rwServiceName(db.metadata.name), roServiceName(db.metadata.name)].flatMap((n) => { const s = own(services.get(`${ns}/${n}`)); return s ? [[n, s] as const] : []; })),
      connectionSecret: connection,
      internalSecret: internal,
      networkPolicy: own(policies.get(`${ns}/rds-${db.metadata.name}`)),
      members,
      fresh,
      ...(restore ? { restore } : {}),
      endpoints: { rw: addresses("primary"), ro: addresses("standby") },
      backups: backups.byIndex(BY_INSTANCE, keyOf(db)),
      tell: (member, desired) => ims.tell(member, members.find((m) => m.name === member)!.address!, token!, desired),
    };
  };

  const resource: ManagedResource<DBInstanceObj, DBObservation> = {
    finalizer: DB_FINALIZER,
    gates: ctx.gates,
    observe,
    plan: (db, o, now) => {
      const plan = dbPlan(db, o, now);
      if (o.forbidden) return plan;
      const primaryServing = o.members.some((m) => m.name === db.status?.currentPrimary && m.report?.role === "primary" && m.report.postgres === "running");
      const b = backupPlan(db, { backups: o.backups, primaryServing }, now);
      return { ...plan, actions: [...(plan.actions ?? []), ...b.actions], calls: [...(plan.calls ?? []), ...b.calls], status: mergeStatus(plan.status, b.fields, b.condition) };
    },
    finalize: (db) => {
      ims.forget(db);
      secretsSeen.delete(db.metadata.uid ?? "");
      // the pods, volumes, Services and Secrets are owned: the garbage collector removes them
      return { done: true };
    },
  };
  return completeManaged(
    mgr.controller("dbinstance").for(DBInstanceRef).concurrency(4)
      .watches(PodRef, dbKey, { labelSelector: DB_LABEL })
      .watches(VolumeRef, dbKey, { labelSelector: DB_LABEL })
      .watches(ServiceRef, dbKey, { labelSelector: DB_LABEL })
      .watches(DBBackupRef, (b) => [`${b.metadata.namespace}/${(b as DBBackupObj).spec.instance}`])
      // a subnet appearing lets an instance waiting for it go on (few instances per namespace: look at each)
      .watches(SubnetRef, (s) => dbs.list().filter((d) => d.metadata.namespace === s.metadata.namespace && (d as DBInstanceObj).spec.subnet === s.metadata.name).map(keyOf)),
    resource,
  );
}

function mergeStatus(status: ReturnType<typeof dbPlan>["status"], fields: Record<string, unknown>, condition: { type: string; status: "True" | "False"; reason: string; message: string }) {
  if (!status || typeof status === "function") return status;
  return { ...status, fields: { ...status.fields, ...fields }, conditions: [...(status.conditions ?? []), condition] };
}
