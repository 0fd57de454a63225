// database.cellcloud.io: RDS. A DBInstance is a PostgreSQL cluster of one to three members (single,
// ha: primary + a synchronous standby, finance: primary + two standbys in quorum), each a pod running
// our instance manager (agents/rds) over real PostgreSQL, with its data on an EVS Volume. The
// controller decides failover from the members' reported WAL positions, as CloudNativePG's operator
// does; a read-write Service follows the primary by a role label. DBBackups are real base backups
// plus archived WAL in the instance's backup store (an EVS Volume), so a point-in-time restore, always
// into a new instance, replays to the second.
import { z } from "zod";
import { count, deletionPolicy, immutable, labelValue, nameAtMost, nameIsDNSLabel, observed, refName } from "./common.ts";
import { defineKind, refOf, type CelValidation } from "./crd.ts";
import type { KubeObject } from "./meta.ts";

const GROUP = "database.cellcloud.io";
const VERSION = "v1alpha1";

/** Members and their pods are named <instance>-<n>; their volumes evs-<instance>-<n>; the Services <instance>-rw/-ro. */
export const MAX_DB_NAME = 40;

/** The seed's editions: members per edition. */
export const EDITIONS = { single: 1, ha: 2, finance: 3 } as const;
export type Edition = keyof typeof EDITIONS;

/** The seed's flavors: vCPUs and memory of each member. */
export const DB_FLAVORS = { "2C4G": { cpu: 2, memory: "4Gi" }, "4C8G": { cpu: 4, memory: "8Gi" }, "8C32G": { cpu: 8, memory: "32Gi" }, "32C128G": { cpu: 32, memory: "128Gi" } } as const;
export type DBFlavor = keyof typeof DB_FLAVORS;

/** Engines the schema names; only those in ENGINES_AVAILABLE are accepted (MySQL arrives in a later release). */
export const ENGINES_AVAILABLE = ["postgresql"] as const;

const cidr = (field: string) =>
  z.string().max(18).describe("An IPv4 block clients may connect from, e.g. 10.0.0.0/16 or 203.0.113.7/32.").meta({
    "x-kubernetes-validations": [{ rule: "isCIDR(self) && cidr(self).ip().family() == 4", message: `${field} must be an IPv4 CIDR such as 10.0.0.0/16` }],
  });

// The recoverable window and schedules are checked against time; RFC 3339 in UTC or with an offset.
const time = (what: string) => z.iso.datetime({ offset: true }).describe(what);

const storageSize = z.string().max(16).regex(/^[0-9]+(Gi|Ti)$/).describe("Size of each member's data volume, in Gi or Ti (at least 1Gi). It can only grow.")
  .meta({
    "x-kubernetes-validations": [
      { rule: "quantity(self).compareTo(quantity('1Gi')) >= 0 && quantity(self).compareTo(quantity('64Ti')) <= 0", message: "spec.storage.size must be between 1Gi and 64Ti" },
      { rule: "quantity(self).compareTo(quantity(oldSelf)) >= 0", message: "spec.storage.size can only grow: a database volume cannot be shrunk" },
    ],
  });

// A cron expression with 5 fields (minute hour day month weekday) or 6 (seconds first); checked
// loosely here and fully by the controller, which names the field when it cannot read it.
const cron = z.string().min(9).max(100).regex(/^(\S+\s+){4,5}\S+$/).describe("When to take a backup: a cron expression in UTC, 5 fields (\"0 3 * * *\": daily at 03:00) or 6 with seconds first.");

const dbSpec = z
  .object({
    engine: z.enum(["postgresql", "mysql"]).default("postgresql").describe("The database engine: postgresql. (mysql is refused until it is available.) Immutable.")
      .meta(immutable("spec.engine")),
    version: z.enum(["15"]).default("15").describe("The engine's major version. Immutable.").meta(immutable("spec.version")),
    edition: z.enum(["single", "ha", "finance"]).default("single")
      .describe("single: one member; ha: a primary and one synchronous standby; finance: a primary and two standbys, a commit waits for either (quorum). Immutable.")
      .meta(immutable("spec.edition")),
    flavor: z.enum(Object.keys(DB_FLAVORS) as [DBFlavor, ...DBFlavor[]]).optional().describe("Each member's size: 2C4G, 4C8G, 8C32G or 32C128G. Set this or spec.resources. Immutable.")
      .meta(immutable("spec.flavor")),
    resources: z.object({
      cpu: z.int().min(1).max(64).describe("vCPUs of each member."),
      memory: z.string().max(8).regex(/^[0-9]+Gi$/).describe("Memory of each member, in Gi (\"6Gi\")."),
    }).optional().describe("A custom size of each member, instead of spec.flavor. Immutable.").meta(immutable("spec.resources")),
    storage: z.object({
      size: storageSize,
      type: refName("The VolumeType of the members' data volumes. Immutable.").meta(immutable("spec.storage.type")),
    }).describe("Each member's data volume (an EVS Volume)."),
    zone: labelValue("The zone the members and their volumes are in. Immutable.").meta(immutable("spec.zone")),
    subnet: refName("The Subnet (in this namespace) clients reach the database from. Immutable.").max(63).meta(immutable("spec.subnet")),
    databaseName: z.string().min(1).max(63).regex(/^[a-z_][a-z0-9_]*$/).default("app").describe("The database created for the application. Immutable.")
      .meta(immutable("spec.databaseName")),
    username: z.string().min(1).max(63).regex(/^[a-z_][a-z0-9_]*$/).default("app").describe("The application's user, owner of the database. Immutable.")
      .meta(immutable("spec.username")),
    failoverDelaySeconds: z.int().min(0).max(3600).default(0)
      .describe("How long the primary may be unavailable before a standby is promoted. 0: at once."),
    primary: z.string().max(63).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/).optional()
      .describe("The member that should be primary (<name>-1, <name>-2, ...). Setting it to a healthy standby makes a planned switchover; empty: the controller chooses."),
    allowedCIDRs: z.array(cidr("spec.allowedCIDRs[*]")).max(32).optional()
      .describe("Where clients may connect from (a NetworkPolicy on the members, and the members' pg_hba.conf). Empty: anywhere in the cluster.")
      .meta({ "x-kubernetes-list-type": "set" }),
    parameters: z.object({
      maxConnections: z.int().min(10).max(5000).optional().describe("max_connections."),
      sharedBuffersMiB: z.int().min(16).max(65_536).optional().describe("shared_buffers, in MiB."),
      workMemMiB: z.int().min(1).max(2048).optional().describe("work_mem, in MiB."),
      logMinDurationMs: z.int().min(-1).max(3_600_000).optional().describe("log_min_duration_statement, in ms (-1: off)."),
    }).optional().describe("PostgreSQL settings a user may tune; the rest the instance manager owns."),
    backup: z.object({
      schedule: cron.optional(),
      retentionDays: z.int().min(1).max(3650).default(7).describe("Completed backups older than this are deleted (the newest completed one is always kept)."),
      retentionCount: z.int().min(1).max(100).default(7).describe("At most this many completed backups are kept."),
      storageSize: storageSize.optional().describe("Size of the backup store (base backups and archived WAL); default: twice spec.storage.size."),
    }).optional().describe("Automatic backups and retention. WAL is always archived, so any time since the oldest kept backup can be restored."),
    restoreFrom: z.object({
      backup: refName("A DBBackup in this namespace to restore (its end is the point restored to).").optional(),
      instance: refName("A DBInstance in this namespace whose backups and WAL to restore from, to spec.restoreFrom.pointInTime.").optional(),
      pointInTime: time("The moment to restore to (RFC 3339): every transaction committed before it, none after. With spec.restoreFrom.instance.").optional(),
    }).optional().describe("Start as a copy of another instance's data instead of empty: a backup, or an instance at a point in time. Always a new instance. Immutable.")
      .meta(immutable("spec.restoreFrom")),
    deletionPolicy: deletionPolicy("the members, their volumes, the backup store, the Services and the connection Secret"),
  })
  .describe("Desired state of the database instance.");

const dbValidations: CelValidation[] = [
  { rule: "self.engine != 'mysql'", message: "spec.engine: mysql is not available yet; CellCloud RDS runs postgresql", fieldPath: ".engine" },
  { rule: "has(self.flavor) != has(self.resources)", message: "spec must set exactly one of flavor or resources" },
  { rule: "has(self.restoreFrom) == has(oldSelf.restoreFrom)", message: "spec.restoreFrom is immutable: a restore always creates a new instance" },
  {
    rule: "!has(self.restoreFrom) || (has(self.restoreFrom.backup) ? !has(self.restoreFrom.instance) && !has(self.restoreFrom.pointInTime) : has(self.restoreFrom.instance) && has(self.restoreFrom.pointInTime))",
    message: "spec.restoreFrom must set either backup, or instance and pointInTime", fieldPath: ".restoreFrom",
  },
  { rule: "!has(self.primary) || self.edition != 'single'", message: "spec.primary: a single-member instance has no standby to switch over to", fieldPath: ".primary" },
];

const lsn = (what: string) => z.string().max(20).optional().describe(`${what}, as PostgreSQL writes an LSN (0/3000060).`);

const memberStatus = z.object({
  name: z.string().describe("The member (and its pod): <instance>-<n>."),
  node: z.string().optional().describe("The host it runs on."),
  address: z.string().optional().describe("Its pod address."),
  role: z.enum(["primary", "standby", "fenced", "pending", "unknown"]).describe("What its instance manager reports: primary, standby, fenced (stopped until it rejoins), pending (not started), unknown (not answering)."),
  ready: z.boolean().describe("Whether it serves (the primary accepts writes; a standby streams)."),
  timeline: z.int().min(0).optional().describe("Its PostgreSQL timeline."),
  receivedLSN: lsn("WAL received (a standby) or written (the primary)"),
  replayLSN: lsn("WAL replayed"),
  lagBytes: z.int().min(0).optional().describe("How far its replay is behind the primary, in bytes."),
  message: z.string().max(1024).optional().describe("Why it is not ready."),
}).describe("One member as last observed.");

const failoverRecord = z.object({
  from: z.string().describe("The primary before."),
  to: z.string().describe("The member promoted."),
  reason: z.string().max(1024).describe("Why: the primary's pod or host failed, its PostgreSQL stopped, or a planned switchover."),
  switchover: z.boolean().optional().describe("A planned switchover (spec.primary), not a failover."),
  startedAt: time("When the controller decided it."),
  completedAt: time("When the new primary accepted writes.").optional(),
}).describe("A change of primary.");

const endpoint = z.object({
  service: z.string().describe("The Service."),
  host: z.string().describe("Its DNS name in the cluster."),
  port: z.int().describe("Its port."),
  addresses: z.array(z.string()).max(8).optional().describe("The member addresses behind it now (its EndpointSlice)."),
}).describe("A Service clients connect to.");

const dbStatus = z
  .object({
    ...observed,
    currentPrimary: z.string().optional().describe("The member accepting writes."),
    targetPrimary: z.string().optional().describe("The member that is to be primary; differs from currentPrimary while a failover or switchover runs."),
    primaryUnavailableSince: time("Since when the primary has been seen unavailable (the failover delay counts from here).").optional(),
    members: z.array(memberStatus).max(3).optional().describe("Each member as its instance manager reports it.")
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"] }),
    readyMembers: count("Members ready."),
    synchronousStandbys: z.array(z.string().max(63)).max(2).optional()
      .describe("The standbys the primary may be waiting for (recorded before it is told, so every acknowledged commit is on one of them): only these can be promoted by a failover."),
    endpoints: z.object({ readWrite: endpoint.optional(), readOnly: endpoint.optional() }).optional().describe("Where clients connect: the primary (read-write) and the standbys (read-only)."),
    connectionSecret: z.string().optional().describe("The Secret with username, password, host, port, dbname, uri and jdbc-uri."),
    lastFailover: failoverRecord.optional(),
    failovers: count("How many times the primary changed."),
    firstRecoverabilityPoint: time("The earliest moment a point-in-time restore can reach (the end of the oldest kept backup).").optional(),
    lastSuccessfulBackup: time("When the newest completed backup ended.").optional(),
    lastScheduledBackup: time("When the schedule last started a backup.").optional(),
    restoredFrom: z.string().max(300).optional().describe("What the instance was restored from, once restored."),
  })
  .describe("Observed state of the database instance.");

export const DBInstance = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "DBInstance",
  plural: "dbinstances",
  singular: "dbinstance",
  shortNames: ["rds"],
  scope: "Namespaced",
  description:
    "DBInstance is an RDS PostgreSQL database: single, ha (primary + synchronous standby) or finance (primary + two standbys, quorum commit), each member a pod running real PostgreSQL under CellCloud's instance manager with its data on an EVS Volume, placed on separate hosts. Clients connect through the <name>-rw Service (the primary, followed by a role label) or <name>-ro (the standbys) with the credentials in the <name>-connection Secret. The controller promotes the most advanced standby when the primary fails (after spec.failoverDelaySeconds), fencing the old one, and records it in status.lastFailover. Backups are DBBackups; spec.restoreFrom makes a new instance from a backup or a point in time.",
  spec: dbSpec,
  status: dbStatus,
  printerColumns: [
    { name: "Edition", type: "string", jsonPath: ".spec.edition" },
    { name: "Primary", type: "string", jsonPath: ".status.currentPrimary" },
    { name: "Ready-Members", type: "integer", jsonPath: ".status.readyMembers" },
    { name: "Ready", type: "string", jsonPath: ".status.conditions[?(@.type==\"Ready\")].status" },
    { name: "Last-Backup", type: "date", jsonPath: ".status.lastSuccessfulBackup", priority: 1 },
    { name: "Flavor", type: "string", jsonPath: ".spec.flavor", priority: 1 },
    { name: "Storage", type: "string", jsonPath: ".spec.storage.size", priority: 1 },
  ],
  validations: dbValidations,
  objectValidations: [nameAtMost(MAX_DB_NAME, "members are <name>-<n> and their volumes evs-<name>-<n>"), nameIsDNSLabel("it names the instance's Services")],
});

// ==================== DBBackup ====================

const backupSpec = z
  .object({
    instance: refName("The DBInstance (in this namespace) to back up. Immutable.").max(63).meta(immutable("spec.instance")),
    method: z.enum(["base"]).default("base").describe("base: a full physical copy (pg_basebackup); with the archived WAL it restores to any later moment. Immutable.")
      .meta(immutable("spec.method")),
    description: z.string().max(256).optional().describe("A note for humans (why it was taken)."),
  })
  .describe("Desired state of the backup.");

const backupStatus = z
  .object({
    ...observed,
    phase: z.enum(["Pending", "Running", "Completed", "Failed"]).optional().describe("Pending, Running, Completed or Failed."),
    member: z.string().optional().describe("The member the backup was taken from."),
    startedAt: time("When the copy began.").optional(),
    stoppedAt: time("When the copy ended: the earliest moment it restores to.").optional(),
    beginLSN: lsn("Where the backup's WAL begins"),
    endLSN: lsn("Where it ends (consistent from here)"),
    sizeBytes: z.int().min(0).optional().describe("Size of the copy."),
    scheduled: z.boolean().optional().describe("Taken by the instance's schedule."),
    error: z.string().max(1024).optional().describe("Why it failed."),
  })
  .describe("Observed state of the backup.");

export const DBBackup = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "DBBackup",
  plural: "dbbackups",
  singular: "dbbackup",
  shortNames: ["dbbk"],
  scope: "Namespaced",
  description:
    "DBBackup is a base backup of a DBInstance (pg_basebackup into the instance's backup store), taken by hand or by its spec.backup.schedule. With the WAL the instance archives continuously it restores to any moment after it (spec.restoreFrom of a new DBInstance). Retention (spec.backup of the instance) deletes old ones, always keeping the newest completed backup.",
  spec: backupSpec,
  status: backupStatus,
  printerColumns: [
    { name: "Instance", type: "string", jsonPath: ".spec.instance" },
    { name: "Phase", type: "string", jsonPath: ".status.phase" },
    { name: "Stopped", type: "date", jsonPath: ".status.stoppedAt" },
    { name: "End-LSN", type: "string", jsonPath: ".status.endLSN", priority: 1 },
    { name: "Member", type: "string", jsonPath: ".status.member", priority: 1 },
  ],
  objectValidations: [nameAtMost(63, "it names the backup's directory and labels")],
});

export const databaseKinds = [DBInstance, DBBackup] as const;

export type DBInstanceSpec = z.output<typeof dbSpec>;
export type DBInstanceStatus = z.output<typeof dbStatus>;
export type DBInstanceObj = KubeObject & { spec: DBInstanceSpec; status?: DBInstanceStatus };
export type DBMemberStatus = z.output<typeof memberStatus>;
export type FailoverRecord = z.output<typeof failoverRecord>;
export type DBBackupSpec = z.output<typeof backupSpec>;
export type DBBackupStatus = z.output<typeof backupStatus>;
export type DBBackupObj = KubeObject & { spec: DBBackupSpec; status?: DBBackupStatus };

export const DBInstanceRef = refOf(DBInstance);
export const DBBackupRef = refOf(DBBackup);

/** The DBInstance controller's finalizer: members, volumes and Services go before it does. */
export const DB_FINALIZER = "database.cellcloud.io/dbinstance";
/** The DBBackup controller's finalizer: the copy leaves the backup store before the object goes. */
export const DB_BACKUP_FINALIZER = "database.cellcloud.io/dbbackup";

/** Labels on everything a DBInstance owns: its name, and on member pods their role (the Services select by it). */
export const DB_LABEL = "database.cellcloud.io/instance";
export const DB_MEMBER_LABEL = "database.cellcloud.io/member";
export const DB_ROLE_LABEL = "database.cellcloud.io/role";
/** The instance manager's image: the official postgres image in a cluster, the machine's binaries on the local plane. */
export const DB_IMAGE = "docker.io/library/postgres:15";

export const memberName = (db: string, n: number) => `${db}-${n}`;
export const dbVolumeName = (db: string, n: number) => `${db}-${n}`;
export const backupVolumeName = (db: string) => `${db}-backups`;
export const rwServiceName = (db: string) => `${db}-rw`;
export const roServiceName = (db: string) => `${db}-ro`;
export const connectionSecretName = (db: string) => `${db}-connection`;
/** Credentials only members and the controller read: the replication password and the instance manager's token. */
export const internalSecretName = (db: string) => `${db}-internal`;
export const POSTGRES_PORT = 5432;
/** The instance manager's HTTP API, on every member. */
export const INSTANCE_MANAGER_PORT = 8010;

// ==================== the instance manager's HTTP API (agents/rds) ====================
// The controller and every member's instance manager speak this over HTTP, authenticated by a bearer
// token from the instance's internal Secret. Both sides parse with these schemas.

export const IM_TOKEN_KEY = "token";
export const IM_REPLICATION_PASSWORD_KEY = "replication-password";
/** The largest request or answer body either side reads. */
export const IM_MAX_BODY = 64 * 1024;

const lsnText = z.string().max(20).regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/);
const peer = z.object({ name: z.string().max(63), host: z.string().max(64) });

/** What the controller wants of a member; `epoch` only grows (a member ignores an older one). */
export const desiredState = z.object({
  epoch: z.int().min(0),
  role: z.enum(["primary", "standby", "fenced"]),
  /** For a standby: whom to stream from. */
  primary: peer.optional(),
  /** Every member (pg_hba lets them replicate). */
  members: z.array(peer).max(3),
  /** For the primary: synchronous_standby_names as method, count and names ("" when none). */
  sync: z.object({ method: z.enum(["FIRST", "ANY"]), num: z.int().min(0).max(2), names: z.array(z.string().max(63)).max(2) }).optional(),
  /** Start PostgreSQL again after it crashed (the controller saw it and chose not to fail over). */
  restartAfterCrash: z.boolean().optional(),
  /** Lift the self-fence the member reported with this isolatedAt: the controller saw that fence and still wants the member to serve at this epoch. */
  liftIsolation: z.string().max(40).optional(),
  databaseName: z.string().max(63),
  username: z.string().max(63),
  allowedCIDRs: z.array(z.string().max(18)).max(32).optional(),
  parameters: z.record(z.string().max(64), z.union([z.string().max(64), z.number()])).optional(),
  /** An empty member that is to be primary starts from this instead of initdb. */
  restore: z.object({
    /** The backup's directory (name) in the source store, and its end. */
    backup: z.string().max(253),
    /** Replay archived WAL to here (RFC 3339); absent: to the backup's end. */
    targetTime: z.string().max(40).optional(),
  }).optional(),
  /** Seconds without a word from the controller, and no standby streaming, before a primary fences itself. */
  isolationSeconds: z.int().min(1).max(600),
});
export type DesiredState = z.output<typeof desiredState>;

export const replicaInfo = z.object({
  name: z.string().max(63), state: z.string().max(32), syncState: z.string().max(16),
  flushLSN: lsnText.optional(), replayLSN: lsnText.optional(),
});

export const memberReport = z.object({
  role: z.enum(["primary", "standby", "fenced", "pending"]),
  postgres: z.enum(["stopped", "starting", "running", "crashed", "bootstrapping"]),
  epoch: z.int().min(-1),
  timeline: z.int().min(0).optional(),
  /** The primary: current WAL write position; a standby: WAL received. */
  lsn: lsnText.optional(),
  replayLSN: lsnText.optional(),
  /** A standby's WAL receiver is connected to its primary. */
  streaming: z.boolean().optional(),
  /** The primary's connected standbys (absent: it could not be asked). */
  replicas: z.array(replicaInfo).max(8).optional(),
  /** The primary's synchronous_standby_names in effect: the standbys a commit may be waiting for (absent: it could not be asked). */
  syncNames: z.array(z.string().max(63)).max(8).optional(),
  /** Fenced by itself: no word from the controller and no standby streaming. */
  isolated: z.boolean().optional(),
  /** When it fenced itself (its own clock): names that fence, so only a controller that has seen it can lift it. */
  isolatedAt: z.string().max(40).optional(),
  lastArchivedAt: z.string().max(40).optional(),
  message: z.string().max(1024).optional(),
});
export type MemberReport = z.output<typeof memberReport>;

/** An LSN ("16/B374D848") as a byte position; undefined when it is not one. */
export function lsnBytes(lsn: string | undefined): bigint | undefined {
  const m = lsn ? /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(lsn) : null;
  return m ? (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`) : undefined;
}

export const backupRequest = z.object({ id: z.string().max(253).regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/) });
export const backupReport = z.object({
  phase: z.enum(["Running", "Completed", "Failed", "Absent"]),
  startedAt: z.string().max(40).optional(), stoppedAt: z.string().max(40).optional(),
  beginLSN: lsnText.optional(), endLSN: lsnText.optional(), sizeBytes: z.int().min(0).optional(),
  error: z.string().max(1024).optional(),
});
export type BackupReport = z.output<typeof backupReport>;

/** Where a member's volumes are mounted: its data, its instance's backup store, and a restore's source store. */
export const DB_MOUNTS = { data: "/var/lib/postgresql/data", backups: "/backups", restoreSource: "/restore-source", secrets: "/etc/cellcloud/db" } as const;
