// What the DBInstance controller does (pure). A DBInstance is realized as:
//   - one EVS Volume per member (its data) and one multi-attach Volume (the backup store: base
//     backups and archived WAL), so storage is quota-charged, placed and grown as any volume;
//   - a pod per member (<name>-<n>), owned by the instance, placed by the cell scheduler never two
//     on one host, running the instance manager (the official postgres image in a cluster; the
//     machine's PostgreSQL on the local plane), its role in a label;
//   - <name>-rw (role=primary) and <name>-ro (role=standby) Services, whose EndpointSlices the
//     endpoint controller keeps from the pods' addresses and readiness;
//   - the connection Secret (a password generated once, never rewritten) and an internal Secret (the
//     replication password and the instance manager's token);
//   - a NetworkPolicy from spec.allowedCIDRs.
// Who is primary is rds-topology.ts's decision; this file turns it into objects and calls.
import {
  backupVolumeName, connectionSecretName, DB_FLAVORS, DB_IMAGE, DB_LABEL, DB_MEMBER_LABEL, DB_MOUNTS, DB_ROLE_LABEL, DBInstanceRef, dbVolumeName, EDITIONS,
  IM_REPLICATION_PASSWORD_KEY, IM_TOKEN_KEY, INSTANCE_MANAGER_PORT, internalSecretName, memberName, POSTGRES_PORT, roServiceName, rwServiceName,
  type DBBackupObj, type DBInstanceObj, type DBMemberStatus, type DesiredState,
} from "../api/database.ts";
import type { RestoreSource } from "./rds-backup.ts";
import { memberPodShape } from "../api/platform.ts";
import { claimName, VolumeRef, type VolumeObj } from "../api/storage.ts";
import { isPodReady, NetworkPolicyRef, PodRef, SecretRef, ServiceRef, type Pod, type Service } from "../runtime/core.ts";
import type { Action, ConditionSpec, ExternalCall, Plan } from "../runtime/managed.ts";
import { controllerRef } from "../runtime/objects.ts";
import type { KubeObject } from "../runtime/types.ts";
import { decideTopology, ISOLATION_SECONDS, lsnOrder, type MemberView } from "./rds-topology.ts";

/** How often members are asked for their state while the instance exists. */
export const MEMBER_POLL_MS = 1_000;

export interface Credentials { password: string; replication: string; token: string }

export interface DBObservation {
  /** Why the manager cannot keep this instance's Secrets here (nothing else is observed then). */
  forbidden?: string;
  /** Whether spec.subnet names a Subnet in the instance's namespace. */
  subnet: boolean;
  pods: ReadonlyMap<string, Pod>;
  volumes: ReadonlyMap<string, VolumeObj>;
  services: ReadonlyMap<string, Service>;
  /** Which of the instance's Secrets and its NetworkPolicy exist. */
  connectionSecret: boolean;
  internalSecret: boolean;
  networkPolicy?: KubeObject & { spec?: unknown };
  /** Each member as the controller sees it (pod, host, instance manager's answer). */
  members: MemberView[];
  /** New credentials, used only when a Secret is created. */
  fresh: Credentials;
  /** The restore this instance starts from, resolved (the source's backup store claim and backup directory), until restored. */
  restore?: RestoreSource;
  /** The instance's DBBackups. */
  backups: readonly DBBackupObj[];
  /** The ready members each Service selects (role primary, role standby): what its EndpointSlices hold in a cluster. */
  endpoints: { rw: string[]; ro: string[] };
  /** Makes a member's call (the controller binds the token and address). */
  tell(member: string, desired: DesiredState): ExternalCall;
}

export const memberCount = (db: DBInstanceObj) => EDITIONS[db.spec.edition];
export const memberNames = (db: DBInstanceObj) => Array.from({ length: memberCount(db) }, (_, i) => memberName(db.metadata.name, i + 1));

/** Each member's cpu (cores) and memory (a quantity). */
export function memberSize(db: DBInstanceObj): { cpu: number; memory: string } {
  if (db.spec.flavor) return { ...DB_FLAVORS[db.spec.flavor] };
  return { cpu: db.spec.resources?.cpu ?? 1, memory: db.spec.resources?.memory ?? "2Gi" };
}

/** The backup store's size: spec.backup.storageSize, else twice the data volume. */
export function backupStoreSize(db: DBInstanceObj): string {
  if (db.spec.backup?.storageSize) return db.spec.backup.storageSize;
  const m = /^([0-9]+)(Gi|Ti)$/.exec(db.spec.storage.size)!;
  return `${Number(m[1]) * 2}${m[2]}`;
}

const labels = (db: DBInstanceObj) => ({ [DB_LABEL]: db.metadata.name, "app.kubernetes.io/managed-by": "cellcloud", "app.kubernetes.io/name": "postgresql" });
const owned = (db: DBInstanceObj, name: string, extra: Record<string, string> = {}) =>
  ({ name, namespace: db.metadata.namespace, labels: { ...labels(db), ...extra }, ownerReferences: [controllerRef(db, DBInstanceRef)] });

export function dataVolume(db: DBInstanceObj, n: number): VolumeObj {
  return {
    apiVersion: "storage.cellcloud.io/v1alpha1", kind: "Volume", metadata: owned(db, dbVolumeName(db.metadata.name, n)),
    spec: { size: db.spec.storage.size, type: db.spec.storage.type, zone: db.spec.zone, multiAttach: false },
  } as VolumeObj;
}

export function backupVolume(db: DBInstanceObj): VolumeObj {
  return {
    apiVersion: "storage.cellcloud.io/v1alpha1", kind: "Volume", metadata: owned(db, backupVolumeName(db.metadata.name)),
    spec: { size: backupStoreSize(db), type: db.spec.storage.type, zone: db.spec.zone, multiAttach: true },
  } as VolumeObj;
}

export function memberPod(db: DBInstanceObj, n: number, restoreClaim?: string): Pod {
  const name = memberName(db.metadata.name, n);
  const size = memberSize(db);
  const shape = memberPodShape({ zone: db.spec.zone, hostname: name, group: `rds-${db.metadata.name}` });
  return {
    apiVersion: "v1", kind: "Pod",
    metadata: { ...owned(db, name, { [DB_MEMBER_LABEL]: name, [DB_ROLE_LABEL]: "standby", ...shape.labels }), annotations: shape.annotations },
    spec: {
      ...shape.spec,
      containers: [{
        name: "postgres",
        image: DB_IMAGE,
        env: [
          { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
          { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
          { name: "DB_DATA", value: DB_MOUNTS.data },
          { name: "DB_BACKUPS", value: DB_MOUNTS.backups },
          { name: "DB_RESTORE_SOURCE", value: DB_MOUNTS.restoreSource },
          { name: "DB_SECRETS", value: DB_MOUNTS.secrets },
        ],
        ports: [{ name: "postgresql", containerPort: POSTGRES_PORT, protocol: "TCP" }, { name: "manager", containerPort: INSTANCE_MANAGER_PORT, protocol: "TCP" }],
        readinessProbe: { tcpSocket: { port: POSTGRES_PORT }, periodSeconds: 2, failureThreshold: 1 },
        resources: { requests: { cpu: String(size.cpu), memory: size.memory }, limits: { memory: size.memory } },
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        volumeMounts: [
          { name: "data", mountPath: DB_MOUNTS.data },
          { name: "backups", mountPath: DB_MOUNTS.backups },
          { name: "secrets", mountPath: DB_MOUNTS.secrets, readOnly: true },
          ...(restoreClaim ? [{ name: "restore-source", mountPath: DB_MOUNTS.restoreSource, readOnly: true }] : []),
        ],
      }],
      volumes: [
        { name: "data", persistentVolumeClaim: { claimName: claimName(dbVolumeName(db.metadata.name, n)) } },
        { name: "backups", persistentVolumeClaim: { claimName: claimName(backupVolumeName(db.metadata.name)) } },
        {
          name: "secrets", projected: {
            sources: [
              { secret: { name: internalSecretName(db.metadata.name), items: [{ key: IM_TOKEN_KEY, path: IM_TOKEN_KEY }, { key: IM_REPLICATION_PASSWORD_KEY, path: IM_REPLICATION_PASSWORD_KEY }] } },
              { secret: { name: connectionSecretName(db.metadata.name), items: [{ key: "password", path: "password" }] } },
            ],
          },
        },
        ...(restoreClaim ? [{ name: "restore-source", persistentVolumeClaim: { claimName: restoreClaim, readOnly: true } }] : []),
      ],
    },
  } as Pod;
}

export function service(db: DBInstanceObj, role: "primary" | "standby"): Service {
  const name = role === "primary" ? rwServiceName(db.metadata.name) : roServiceName(db.metadata.name);
  return {
    apiVersion: "v1", kind: "Service", metadata: owned(db, name),
    spec: {
      type: "ClusterIP",
      selector: { [DB_LABEL]: db.metadata.name, [DB_ROLE_LABEL]: role },
      ports: [{ name: "postgresql", port: POSTGRES_PORT, targetPort: POSTGRES_PORT, protocol: "TCP" }],
      publishNotReadyAddresses: false,
    },
  } as Service;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

export function connectionSecret(db: DBInstanceObj, password: string): KubeObject {
  const host = `${rwServiceName(db.metadata.name)}.${db.metadata.namespace}.svc`;
  const { username, databaseName } = db.spec;
  const enc = encodeURIComponent;
  return {
    apiVersion: "v1", kind: "Secret", metadata: owned(db, connectionSecretName(db.metadata.name)), type: "Opaque",
    data: {
      username: b64(username), password: b64(password), host: b64(host), port: b64(String(POSTGRES_PORT)), dbname: b64(databaseName),
      uri: b64(`postgresql://${enc(username)}:${enc(password)}@${host}:${POSTGRES_PORT}/${enc(databaseName)}`),
      "jdbc-uri": b64(`jdbc:postgresql://${host}:${POSTGRES_PORT}/${enc(databaseName)}?user=${enc(username)}&password=${enc(password)}`),
    },
  } as KubeObject;
}

export function internalSecret(db: DBInstanceObj, c: Credentials): KubeObject {
  return {
    apiVersion: "v1", kind: "Secret", metadata: owned(db, internalSecretName(db.metadata.name)), type: "Opaque",
    data: { [IM_TOKEN_KEY]: b64(c.token), [IM_REPLICATION_PASSWORD_KEY]: b64(c.replication) },
  } as KubeObject;
}

/** Members may reach each other on every port; clients reach PostgreSQL from the allowlist (anywhere when empty). */
export function networkPolicy(db: DBInstanceObj): KubeObject & { spec: Record<string, unknown> } {
  const self = { podSelector: { matchLabels: { [DB_LABEL]: db.metadata.name } } };
  const clients = db.spec.allowedCIDRs?.length ? db.spec.allowedCIDRs.map((cidr) => ({ ipBlock: { cidr } })) : undefined;
  return {
    apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: owned(db, `rds-${db.metadata.name}`),
    spec: {
      podSelector: { matchLabels: { [DB_LABEL]: db.metadata.name } },
      policyTypes: ["Ingress"],
      ingress: [
        { from: [self] },
        { ...(clients ? { from: clients } : {}), ports: [{ protocol: "TCP", port: POSTGRES_PORT }] },
        // the controller asks every member's instance manager (bearer token) from wherever it runs
        { ports: [{ protocol: "TCP", port: INSTANCE_MANAGER_PORT }] },
      ],
    },
  };
}

/** The parameters the instance manager applies, as given. */
function parameters(db: DBInstanceObj): Record<string, number> | undefined {
  const p = db.spec.parameters;
  if (!p) return undefined;
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as Record<string, number>;
}

export function memberStatuses(o: DBObservation, primary: string | undefined): DBMemberStatus[] {
  const primaryLsn = lsnOrder(o.members.find((m) => m.name === primary)?.report?.lsn);
  return o.members.map((m): DBMemberStatus => {
    const r = m.report;
    const pod = o.pods.get(m.name);
    const role = r ? r.role : m.pod ? "unknown" : "pending";
    const ready = Boolean(pod && isPodReady(pod) && r?.postgres === "running" && (r.role === "primary" || (r.role === "standby" && r.streaming)));
    const lag = r?.role === "standby" && primaryLsn >= 0n && lsnOrder(r.replayLSN) >= 0n ? primaryLsn - lsnOrder(r.replayLSN) : undefined;
    const message = ready ? undefined : !m.pod ? "its pod does not exist yet" : r?.message ?? (r ? `PostgreSQL ${r.postgres}` : `instance manager not answering${m.hostDown ? " (host down)" : ""}`);
    return {
      name: m.name, role, ready,
      ...(m.node ? { node: m.node } : {}), ...(m.address ? { address: m.address } : {}),
      ...(r?.timeline !== undefined ? { timeline: r.timeline } : {}),
      ...(r?.lsn ? { receivedLSN: r.lsn } : {}), ...(r?.replayLSN ? { replayLSN: r.replayLSN } : {}),
      ...(lag !== undefined ? { lagBytes: Number(lag > 0n ? lag : 0n) } : {}),
      ...(message ? { message: message.slice(0, 1000) } : {}),
    };
  });
}

export function dbPlan(db: DBInstanceObj, o: DBObservation, now: number): Plan {
  const name = db.metadata.name;
  const ns = db.metadata.namespace!;
  const actions: Action[] = [];
  const size = memberCount(db);
  if (o.forbidden) return { status: { conditions: [{ type: "Ready", status: "False", reason: "SecretsForbidden", message: o.forbidden }] }, requeueAfterMs: 30_000 };
  if (!o.subnet) {
    return { status: { conditions: [{ type: "Ready", status: "False", reason: "SubnetNotFound", message: `spec.subnet: Subnet "${db.spec.subnet}" not found in this namespace` }] }, requeueAfterMs: 5_000 };
  }
  if (o.restore && "problem" in o.restore) {
    return { status: { conditions: [{ type: "Ready", status: "False", reason: "RestoreSourceInvalid", message: o.restore.problem }] }, requeueAfterMs: 5_000 };
  }
  if (o.restore && "pending" in o.restore) {
    return { calls: o.restore.call ? [o.restore.call] : [], status: { conditions: [{ type: "Ready", status: "False", reason: "WaitingForWAL", message: o.restore.pending }] }, requeueAfterMs: 1_000 };
  }
  const restore = o.restore && "backup" in o.restore ? o.restore : undefined;
  // secrets first: the pods mount them
  if (!o.connectionSecret) actions.push({ verb: "create", ref: SecretRef, object: connectionSecret(db, o.fresh.password) });
  if (!o.internalSecret) actions.push({ verb: "create", ref: SecretRef, object: internalSecret(db, o.fresh) });
  const volumes = [backupVolume(db), ...Array.from({ length: size }, (_, i) => dataVolume(db, i + 1))];
  for (const v of volumes) {
    const have = o.volumes.get(v.metadata.name);
    if (!have) actions.push({ verb: "create", ref: VolumeRef, object: v });
    else if (have.spec.size !== v.spec.size) actions.push({ verb: "update", ref: VolumeRef, name: v.metadata.name, namespace: ns, patch: { spec: { size: v.spec.size } } });
  }
  for (const role of ["primary", "standby"] as const) {
    const svc = service(db, role);
    actions.push({ verb: "apply", ref: ServiceRef, object: svc, ...(o.services.get(svc.metadata.name) ? { cached: o.services.get(svc.metadata.name) } : {}) });
  }
  const np = networkPolicy(db);
  actions.push({ verb: "apply", ref: NetworkPolicyRef, object: np, ...(o.networkPolicy ? { cached: o.networkPolicy } : {}) });

  const t = decideTopology(name, db.spec, db.status, o.members, now);
  const first = memberName(name, 1);
  for (let n = 1; n <= size; n++) {
    const member = memberName(name, n);
    const pod = o.pods.get(member);
    const want = t.labels.get(member) ?? "standby";
    const bound = o.volumes.get(dbVolumeName(name, n))?.status?.claim && o.volumes.get(backupVolumeName(name))?.status?.claim;
    if (!pod) {
      if (bound) actions.push({ verb: "create", ref: PodRef, object: withRole(memberPod(db, n, restore && member === first ? restore.sourceClaim : undefined), want) });
    } else if (pod.metadata.labels?.[DB_ROLE_LABEL] !== want) {
      actions.push({ verb: "update", ref: PodRef, name: member, namespace: ns, patch: { metadata: { labels: { [DB_ROLE_LABEL]: want } } } });
    }
  }

  const common = {
    members: o.members.flatMap((m) => (m.address ? [{ name: m.name, host: m.address }] : [])),
    databaseName: db.spec.databaseName, username: db.spec.username, isolationSeconds: ISOLATION_SECONDS,
    ...(db.spec.allowedCIDRs?.length ? { allowedCIDRs: db.spec.allowedCIDRs } : {}),
    ...(parameters(db) ? { parameters: parameters(db) } : {}),
  };
  const calls = [...t.intents].flatMap(([member, intent]) => {
    const m = o.members.find((x) => x.name === member);
    if (!m?.address || !m.pod) return [];
    const d: DesiredState = { ...common, ...intent, epoch: t.epoch, ...(restore && member === first && intent.role === "primary" ? { restore: { backup: restore.backup, ...(restore.targetTime ? { targetTime: restore.targetTime } : {}) } } : {}) };
    return [o.tell(member, d)];
  });

  const primary = t.fields.currentPrimary;
  const members = memberStatuses(o, primary);
  const readyMembers = members.filter((m) => m.ready).length;
  const restored = restore && primary === first && o.members.find((m) => m.name === first)?.report?.role === "primary" ? restore.describe : undefined;
  const host = (svc: string) => `${svc}.${ns}.svc`;
  const fields: Record<string, unknown> = {
    ...t.fields, members, readyMembers, connectionSecret: connectionSecretName(name),
    endpoints: {
      readWrite: { service: rwServiceName(name), host: host(rwServiceName(name)), port: POSTGRES_PORT, ...(o.endpoints.rw.length ? { addresses: o.endpoints.rw.slice(0, 8) } : {}) },
      ...(size > 1 ? { readOnly: { service: roServiceName(name), host: host(roServiceName(name)), port: POSTGRES_PORT, ...(o.endpoints.ro.length ? { addresses: o.endpoints.ro.slice(0, 8) } : {}) } } : {}),
    },
    ...(restored ? { restoredFrom: restored } : {}),
  };
  const pa = t.primaryAvailable;
  const serving = pa.status && o.endpoints.rw.length > 0;
  const conditions: ConditionSpec[] = [
    { type: "PrimaryAvailable", status: pa.status ? "True" : "False", reason: pa.reason, message: pa.message, announce: pa.status ? "Normal" : "Warning" },
    { type: "ReplicationHealthy", status: t.replication.status ? "True" : "False", reason: t.replication.reason, message: t.replication.message },
    serving
      ? { type: "Ready", status: "True", reason: "Available", message: `${primary} serves at ${rwServiceName(name)}; ${readyMembers}/${size} members ready` }
      : { type: "Ready", status: "False", reason: pa.status ? "EndpointPending" : pa.reason, message: pa.status ? `waiting for ${rwServiceName(name)} to list ${primary}` : pa.message },
  ];
  return { checkpoint: t.checkpoint, actions, calls, events: t.events, status: { fields, conditions }, requeueAfterMs: MEMBER_POLL_MS };
}

function withRole(pod: Pod, role: string): Pod {
  pod.metadata.labels = { ...pod.metadata.labels, [DB_ROLE_LABEL]: role };
  return pod;
}
