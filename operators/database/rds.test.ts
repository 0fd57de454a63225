// The RDS controller's decisions without a cluster: who is promoted and when, what is recorded before
// a member is told anything, retention, schedules, and the objects a DBInstance becomes.
import { describe, expect, it } from "vitest";
import type { DBBackupObj, DBInstanceObj, DBInstanceStatus, MemberReport } from "../api/database.ts";
import { nextRun, retentionVictims, scheduledName } from "./rds-backup.ts";
import { backupStoreSize, connectionSecret, dbPlan, memberPod, networkPolicy, service, type DBObservation } from "./rds-plan.ts";
import { decideTopology, ISOLATION_MARGIN_MS, ISOLATION_SECONDS, type MemberView } from "./rds-topology.ts";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const spec = (o: Partial<DBInstanceObj["spec"]> = {}): DBInstanceObj["spec"] => ({
  engine: "postgresql", version: "15", edition: "ha", flavor: "2C4G", storage: { size: "10Gi", type: "ssd" }, zone: "az1", subnet: "db",
  databaseName: "app", username: "app", failoverDelaySeconds: 0, ...o,
});
const primary = (lsn = "0/3000000", replicas = ["db-2"]): MemberReport => ({
  role: "primary", postgres: "running", epoch: 0, timeline: 1, lsn, replicas: replicas.map((name) => ({ name, state: "streaming", syncState: "sync" })),
});
const standby = (lsn: string, epoch = 0): MemberReport => ({ role: "standby", postgres: "running", epoch, timeline: 1, lsn, replayLSN: lsn, streaming: true });
const member = (name: string, report?: MemberReport, extra: Partial<MemberView> = {}): MemberView => ({ name, pod: true, address: `127.0.0.${name.slice(-1)}`, node: `n${name.slice(-1)}`, ...(report ? { report } : {}), silentMs: report ? 0 : 60_000, ...extra });
const steady: DBInstanceStatus = { currentPrimary: "db-1", targetPrimary: "db-1", synchronousStandbys: ["db-2"], failovers: 0 };

describe("decideTopology", () => {
  it("bootstraps the first member as primary, recorded before it is told", () => {
    const t = decideTopology("db", spec(), undefined, [member("db-1"), member("db-2")], NOW);
    expect(t.checkpoint).toMatchObject({ currentPrimary: "db-1", targetPrimary: "db-1" });
    expect(t.intents.get("db-1")).toMatchObject({ role: "primary" });
    expect(t.intents.get("db-2")).toMatchObject({ role: "standby", primary: { name: "db-1", host: "127.0.0.1" } });
  });

  it("adds a streaming standby to the synchronous set only after recording it", () => {
    const t = decideTopology("db", spec(), { ...steady, synchronousStandbys: [] }, [member("db-1", primary()), member("db-2", standby("0/3000000"))], NOW);
    expect(t.checkpoint).toEqual({ synchronousStandbys: ["db-2"] });
    expect(t.intents.get("db-1")).toMatchObject({ role: "primary", sync: { method: "FIRST", num: 1, names: ["db-2"] } });
    expect(t.primaryAvailable.status).toBe(true);
    expect(t.replication.status).toBe(true);
  });

  it("finance waits for any one of two standbys (quorum)", () => {
    const t = decideTopology("db", spec({ edition: "finance" }), { ...steady, synchronousStandbys: ["db-2", "db-3"] },
      [member("db-1", primary("0/3000000", ["db-2", "db-3"])), member("db-2", standby("0/3000000")), member("db-3", standby("0/3000000"))], NOW);
    expect(t.intents.get("db-1")?.sync).toEqual({ method: "ANY", num: 1, names: ["db-2", "db-3"] });
  });

  it("fails over at once to the synchronous standby with the most WAL (ties by name), fencing the old primary first", () => {
    const crashed: MemberReport = { role: "primary", postgres: "crashed", epoch: 0 };
    const members = [member("db-1", crashed), member("db-2", standby("0/3000100")), member("db-3", standby("0/3000200"))];
    const t = decideTopology("db", spec({ edition: "finance" }), { ...steady, synchronousStandbys: ["db-2", "db-3"] }, members, NOW);
    expect(t.checkpoint).toMatchObject({ targetPrimary: "db-3", lastFailover: { from: "db-1", to: "db-3", startedAt: new Date(NOW).toISOString() } });
    expect(t.intents.get("db-1")).toEqual({ role: "fenced" });
    expect(t.intents.has("db-3")).toBe(false); // not promoted before the old primary is known fenced
    expect(t.labels.get("db-1")).toBe("fenced");
    expect(t.epoch).toBe(1);
    expect(t.events.map((e) => e.reason)).toEqual(["FailoverStarted"]);
  });

  it("promotes once the old primary reports fenced at the new epoch, and records the end when the new one serves", () => {
    const inFlight: DBInstanceStatus = { ...steady, targetPrimary: "db-2", lastFailover: { from: "db-1", to: "db-2", reason: "r", startedAt: "2026-12-01T11:59:59Z" } };
    const fenced: MemberReport = { role: "fenced", postgres: "stopped", epoch: 1 };
    const promote = decideTopology("db", spec(), inFlight, [member("db-1", fenced), member("db-2", standby("0/3000000"))], NOW);
    expect(promote.intents.get("db-2")).toMatchObject({ role: "primary" });
    expect(promote.fields.currentPrimary).toBe("db-1");
    const done = decideTopology("db", spec(), inFlight, [member("db-1", fenced), member("db-2", { ...primary("0/3000100", []), epoch: 1 })], NOW);
    expect(done.fields).toMatchObject({ currentPrimary: "db-2", targetPrimary: "db-2", failovers: 1, lastFailover: { from: "db-1", to: "db-2", startedAt: "2026-12-01T11:59:59Z", completedAt: new Date(NOW).toISOString() } });
    expect(done.events.map((e) => e.reason)).toEqual(["FailoverCompleted"]);
    // the old primary follows the new one (pg_rewind)
    expect(done.intents.get("db-1")).toMatchObject({ role: "standby", primary: { name: "db-2" } });
    // a manager restarted after that writes nothing new: the same inputs, the same record
    const again = decideTopology("db", spec(), { ...inFlight, ...done.fields } as DBInstanceStatus, [member("db-1", fenced), member("db-2", { ...primary("0/3000100", []), epoch: 1 })], NOW + 5000);
    expect(again.checkpoint).toBeUndefined();
    expect(again.fields).toMatchObject({ currentPrimary: "db-2", targetPrimary: "db-2" });
    expect(again.fields.failovers).toBeUndefined(); // unchanged: the status keeps 1
    expect(again.epoch).toBe(1);
    expect(again.events).toEqual([]);
  });

  it("waits out the isolation window of a silent primary, and only while no standby streams from it", () => {
    const inFlight: DBInstanceStatus = { ...steady, targetPrimary: "db-2", lastFailover: { from: "db-1", to: "db-2", reason: "r", startedAt: "2026-12-01T11:59:59Z" } };
    const window = ISOLATION_SECONDS * 1000 + ISOLATION_MARGIN_MS;
    const cut = { ...standby("0/3000000"), streaming: false };
    expect(decideTopology("db", spec(), inFlight, [member("db-1", undefined, { silentMs: window - 1 }), member("db-2", cut)], NOW).intents.has("db-2")).toBe(false);
    expect(decideTopology("db", spec(), inFlight, [member("db-1", undefined, { silentMs: window }), member("db-2", standby("0/3000000"))], NOW).intents.has("db-2")).toBe(false);
    expect(decideTopology("db", spec(), inFlight, [member("db-1", undefined, { silentMs: window }), member("db-2", cut)], NOW).intents.get("db-2")).toMatchObject({ role: "primary" });
  });

  it("keeps a standby recorded as synchronous until the primary's own setting drops it, so a primary that dies meanwhile still fails over", () => {
    // the primary's PostgreSQL was just killed: its instance manager still says running, but cannot
    // be asked for its replicas; then the walsender is gone while the setting still names db-2
    const unasked: MemberReport = { role: "primary", postgres: "running", epoch: 0, message: "status query failed" };
    const dying: MemberReport = { ...primary("0/3000000", []), syncNames: ["db-2"] };
    const members = (p: MemberReport) => [member("db-1", p), member("db-2", { ...standby("0/3000000"), streaming: false })];
    for (const p of [unasked, dying]) {
      const t = decideTopology("db", spec(), steady, members(p), NOW);
      expect(t.fields.synchronousStandbys).toEqual(["db-2"]);
      if (p === unasked) expect(t.intents.get("db-1")?.sync).toEqual({ method: "FIRST", num: 1, names: ["db-2"] }); // not relaxed on no answer
      const crashed = decideTopology("db", spec(), { ...steady, ...t.fields } as DBInstanceStatus, members({ role: "primary", postgres: "crashed", epoch: 0 }), NOW + 100);
      expect(crashed.fields.targetPrimary).toBe("db-2");
    }
    // a live primary is told the smaller set; the record shrinks once its setting shows it
    const told = decideTopology("db", spec(), steady, members(dying), NOW);
    expect(told.intents.get("db-1")?.sync).toEqual({ method: "FIRST", num: 0, names: [] });
    const applied = decideTopology("db", spec(), { ...steady, ...told.fields } as DBInstanceStatus, members({ ...dying, syncNames: [] }), NOW + 100);
    expect(applied.fields.synchronousStandbys).toEqual([]);
  });

  it("lifts a self-fence only by naming it: a candidate that fenced itself while the manager was away, and a lone primary", () => {
    const inFlight: DBInstanceStatus = { ...steady, targetPrimary: "db-2", lastFailover: { from: "db-1", to: "db-2", reason: "r", startedAt: "2026-12-01T11:59:59Z" } };
    const fenced: MemberReport = { role: "fenced", postgres: "stopped", epoch: 1 };
    const selfFenced: MemberReport = { role: "fenced", postgres: "stopped", epoch: 1, isolated: true, isolatedAt: "2026-12-01T12:00:05.000Z" };
    const t = decideTopology("db", spec(), inFlight, [member("db-1", fenced), member("db-2", selfFenced)], NOW);
    expect(t.intents.get("db-2")).toEqual({ role: "primary", liftIsolation: "2026-12-01T12:00:05.000Z" });
    expect(t.epoch).toBe(1);
    // a primary that fenced itself with no synchronous standby to take over starts again in place
    const alone = decideTopology("db", spec(), { ...steady, synchronousStandbys: [] },
      [member("db-1", { ...selfFenced, epoch: 0 }), member("db-2", { ...standby("0/3000000"), streaming: false })], NOW);
    expect(alone.intents.get("db-1")).toMatchObject({ role: "primary", restartAfterCrash: true, liftIsolation: "2026-12-01T12:00:05.000Z" });
    // a running member is never told to lift anything
    expect(decideTopology("db", spec(), steady, [member("db-1", primary()), member("db-2", standby("0/3000000"))], NOW).intents.get("db-1")).not.toHaveProperty("liftIsolation");
  });

  it("never promotes a standby that was not synchronous; restarts the crashed primary instead", () => {
    const crashed: MemberReport = { role: "primary", postgres: "crashed", epoch: 0 };
    const t = decideTopology("db", spec(), { ...steady, synchronousStandbys: [] }, [member("db-1", crashed), member("db-2", standby("0/3000000"))], NOW);
    expect(t.fields.targetPrimary).toBe("db-1");
    expect(t.primaryAvailable).toMatchObject({ status: false, reason: "FailoverBlocked" });
    expect(t.primaryAvailable.message).toContain("no standby was synchronous");
    expect(t.intents.get("db-1")).toMatchObject({ role: "primary", restartAfterCrash: true });
  });

  it("holds a failover for failoverDelaySeconds, then goes", () => {
    const crashed: MemberReport = { role: "primary", postgres: "crashed", epoch: 0 };
    const members = [member("db-1", crashed), member("db-2", standby("0/3000000"))];
    const first = decideTopology("db", spec({ failoverDelaySeconds: 30 }), steady, members, NOW);
    expect(first.fields.primaryUnavailableSince).toBe(new Date(NOW).toISOString());
    expect(first.fields.targetPrimary).toBe("db-1");
    expect(first.primaryAvailable.message).toContain("failover in 30s unless it recovers");
    expect(first.intents.get("db-1")).toMatchObject({ restartAfterCrash: true });
    const later = decideTopology("db", spec({ failoverDelaySeconds: 30 }), { ...steady, primaryUnavailableSince: new Date(NOW).toISOString() }, members, NOW + 30_000);
    expect(later.fields.targetPrimary).toBe("db-2");
  });

  it("switches over to spec.primary when it is a streaming standby", () => {
    const t = decideTopology("db", spec({ primary: "db-2" }), steady, [member("db-1", primary()), member("db-2", standby("0/3000000"))], NOW);
    expect(t.checkpoint).toMatchObject({ targetPrimary: "db-2", lastFailover: { switchover: true, from: "db-1", to: "db-2" } });
    expect(t.intents.get("db-1")).toEqual({ role: "fenced" });
    expect(t.events.map((e) => e.reason)).toEqual(["SwitchoverStarted"]);
  });
});

describe("backups", () => {
  const bk = (name: string, phase: string, stoppedAt?: string): DBBackupObj => ({
    apiVersion: "database.cellcloud.io/v1alpha1", kind: "DBBackup", metadata: { name, namespace: "ns", creationTimestamp: stoppedAt ?? "2026-12-01T00:00:00Z" },
    spec: { instance: "db", method: "base" }, status: { phase: phase as "Completed", ...(stoppedAt ? { stoppedAt } : {}) },
  });
  it("keeps the newest completed backups by count and age, and always the newest", () => {
    const bs = [bk("a", "Completed", "2026-11-01T00:00:00Z"), bk("b", "Completed", "2026-11-30T00:00:00Z"), bk("c", "Completed", "2026-12-01T00:00:00Z"), bk("f", "Failed", "2026-11-01T00:00:00Z")];
    expect(retentionVictims(bs, 7, 2, NOW).map((b) => b.metadata.name).sort()).toEqual(["a", "f"]);
    expect(retentionVictims(bs, 7, 1, NOW).map((b) => b.metadata.name).sort()).toEqual(["a", "b", "f"]);
    // everything is old: the newest completed one still stays
    expect(retentionVictims(bs, 1, 5, Date.parse("2027-06-01T00:00:00Z")).map((b) => b.metadata.name)).not.toContain("c");
  });
  it("reads schedules (5 or 6 fields) and names scheduled backups by their time", () => {
    expect((nextRun("0 3 * * *", new Date("2026-12-01T04:00:00Z")) as Date).toISOString()).toBe("2026-12-02T03:00:00.000Z");
    expect((nextRun("*/10 * * * * *", new Date("2026-12-01T04:00:01Z")) as Date).toISOString()).toBe("2026-12-01T04:00:10.000Z");
    expect(nextRun("61 * * * *", new Date(NOW))).toMatch(/^spec\.backup\.schedule "61 \* \* \* \*": /);
    expect(scheduledName("db", new Date("2026-12-01T04:00:10Z"))).toBe("db-20261201040010");
  });
});

describe("the objects a DBInstance becomes", () => {
  const db: DBInstanceObj = { apiVersion: "database.cellcloud.io/v1alpha1", kind: "DBInstance", metadata: { name: "db", namespace: "t1", uid: "u1" }, spec: spec({ allowedCIDRs: ["10.0.0.0/8"] }) };
  it("a connection Secret with every key, URIs escaped", () => {
    const s = connectionSecret(db, "p@ss:/w") as unknown as { data: Record<string, string> };
    const d = Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString()]));
    expect(d).toEqual({
      username: "app", password: "p@ss:/w", host: "db-rw.t1.svc", port: "5432", dbname: "app",
      uri: "postgresql://app:p%40ss%3A%2Fw@db-rw.t1.svc:5432/app", "jdbc-uri": "jdbc:postgresql://db-rw.t1.svc:5432/app?user=app&password=p%40ss%3A%2Fw",
    });
  });
  it("member pods on the cell scheduler, never two on one host, with their volumes", () => {
    const p = memberPod(db, 2);
    expect(p.metadata.name).toBe("db-2");
    expect(p.spec?.schedulerName).toBe("cellcloud-scheduler");
    expect(p.metadata.annotations).toMatchObject({ "scheduling.cellcloud.io/anti-affinity-group": "rds-db" });
    expect(p.spec?.containers[0]?.resources?.requests).toEqual({ cpu: "2", memory: "4Gi" });
    expect(p.spec?.volumes?.map((v) => v.persistentVolumeClaim?.claimName ?? v.name)).toEqual(["evs-db-2", "evs-db-backups", "secrets"]);
    expect(backupStoreSize(db)).toBe("20Gi");
  });
  it("shows why it cannot go on, and touches nothing: Secrets it may not keep, a missing subnet", () => {
    const forbidden = dbPlan(db, { forbidden: "the manager may not read or create Secrets in namespace t1 (...)" } as DBObservation, NOW);
    expect(forbidden.actions ?? []).toEqual([]);
    expect(forbidden.status).toMatchObject({ conditions: [{ type: "Ready", status: "False", reason: "SecretsForbidden" }] });
    const noSubnet = dbPlan(db, { subnet: false } as DBObservation, NOW);
    expect(noSubnet.actions ?? []).toEqual([]);
    expect(noSubnet.status).toMatchObject({ conditions: [{ reason: "SubnetNotFound", message: 'spec.subnet: Subnet "db" not found in this namespace' }] });
  });

  it("Services select by role; the allowlist becomes the NetworkPolicy's PostgreSQL rule", () => {
    expect(service(db, "primary").spec?.selector).toEqual({ "database.cellcloud.io/instance": "db", "database.cellcloud.io/role": "primary" });
    expect(service(db, "standby").metadata.name).toBe("db-ro");
    const np = networkPolicy(db).spec as { ingress: Array<{ from?: unknown[]; ports?: unknown[] }> };
    expect(np.ingress[1]).toEqual({ from: [{ ipBlock: { cidr: "10.0.0.0/8" } }], ports: [{ protocol: "TCP", port: 5432 }] });
  });
});
