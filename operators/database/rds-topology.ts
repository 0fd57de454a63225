// Who is primary, decided by the controller from what the members report (pure), as CloudNativePG's
// operator decides: a failover promotes the synchronous standby with the most WAL, only after the old
// primary is known not to accept writes (its instance manager fenced it, or it has been silent longer
// than its isolation timeout while no standby streams from it, so it fenced itself). Every decision is
// recorded in status (targetPrimary, lastFailover) before it is carried out, and every step is
// repeatable, so a controller restarted in the middle completes the change exactly once.
import { EDITIONS, lsnBytes, type DBInstanceSpec, type DBInstanceStatus, type DesiredState, type FailoverRecord, type MemberReport } from "../api/database.ts";
import type { EventSpec } from "../runtime/managed.ts";

/** Seconds a primary with standbys waits without a word from the controller before it fences itself. */
export const ISOLATION_SECONDS = 5;
/** The controller's margin over that before it treats a silent primary as fenced. */
export const ISOLATION_MARGIN_MS = 2_000;

export interface MemberView {
  name: string;
  /** The member's pod exists (and is not being deleted). */
  pod: boolean;
  address?: string;
  node?: string;
  /** Its host is down (NotReady, gone). */
  hostDown?: boolean;
  /** What its instance manager answered now; undefined: it did not. */
  report?: MemberReport;
  /** How long it has not answered (0 when it just did). */
  silentMs: number;
}

export type RoleLabel = "primary" | "standby" | "fenced";
export type MemberIntent = Pick<DesiredState, "role" | "primary" | "sync" | "restartAfterCrash" | "liftIsolation">;

/** A member that fenced itself (isolated) is told to serve again only by naming that fence. */
const lift = (m: MemberView | undefined): Pick<MemberIntent, "liftIsolation"> =>
  m?.report?.isolated && m.report.isolatedAt ? { liftIsolation: m.report.isolatedAt } : {};

export interface Topology {
  /** Recorded before anything is told to a member. */
  checkpoint?: Partial<DBInstanceStatus>;
  fields: Partial<DBInstanceStatus>;
  epoch: number;
  /** What each member is told (absent: nothing yet, e.g. no address). */
  intents: Map<string, MemberIntent>;
  labels: Map<string, RoleLabel>;
  events: EventSpec[];
  primaryAvailable: { status: boolean; reason: string; message: string };
  replication: { status: boolean; reason: string; message: string };
}

/** An LSN's byte position, -1 when unknown (below every real one). */
export const lsnOrder = (lsn: string | undefined): bigint => lsnBytes(lsn) ?? -1n;

const runningPrimary = (m: MemberView | undefined) => m?.report?.role === "primary" && m.report.postgres === "running";
const runningStandby = (m: MemberView | undefined) => m?.report?.role === "standby" && m.report.postgres === "running";

/** Why a primary is not serving, in words a human can act on. */
export function unavailability(m: MemberView | undefined): string {
  if (!m?.pod) return "its pod is gone";
  if (m.hostDown) return `its host ${m.node ?? ""} is down`.replace("  ", " ");
  if (!m.report) return `its instance manager has not answered for ${Math.round(m.silentMs / 1000)}s`;
  if (m.report.postgres === "crashed") return "its PostgreSQL stopped unexpectedly";
  if (m.report.role === "fenced") return m.report.isolated ? "it fenced itself (isolated)" : "it is fenced";
  return `its PostgreSQL is ${m.report.postgres} (role ${m.report.role})`;
}

export function decideTopology(name: string, spec: DBInstanceSpec, status: DBInstanceStatus | undefined, members: readonly MemberView[], now: number): Topology {
  const st = status ?? {};
  const view = (n: string | undefined) => members.find((m) => m.name === n);
  const size = EDITIONS[spec.edition];
  const checkpoint: Partial<DBInstanceStatus> = {};
  const fields: Partial<DBInstanceStatus> = {};
  const events: EventSpec[] = [];
  const intents = new Map<string, MemberIntent>();
  const labels = new Map<string, RoleLabel>();
  const nowIso = new Date(now).toISOString();
  let failovers = st.failovers ?? 0;
  let current: string = st.currentPrimary && view(st.currentPrimary) ? st.currentPrimary : members[0]!.name;
  let target: string = st.targetPrimary && view(st.targetPrimary) ? st.targetPrimary : current;
  let lastFailover: FailoverRecord | undefined = st.lastFailover;
  let restartPrimary = false;
  let primaryAvailable = { status: false, reason: "Bootstrapping", message: "" };
  if (current !== st.currentPrimary) {
    target = current;
    checkpoint.currentPrimary = current;
    checkpoint.targetPrimary = target;
  }
  const synced = st.synchronousStandbys ?? [];

  if (current === target) {
    const p = view(current);
    if (runningPrimary(p)) {
      fields.primaryUnavailableSince = undefined;
      primaryAvailable = { status: true, reason: "Serving", message: `${current} accepts writes` };
      const wanted = spec.primary;
      const w = view(wanted);
      if (wanted && wanted !== current && runningStandby(w) && w!.report!.streaming) {
        target = wanted;
        lastFailover = { from: current, to: target, reason: `planned switchover to ${target} (spec.primary)`, switchover: true, startedAt: nowIso };
        Object.assign(checkpoint, { targetPrimary: target, lastFailover });
        events.push({ type: "Normal", reason: "SwitchoverStarted", message: `switching over from ${current} to ${target}` });
      }
    } else {
      const since = st.primaryUnavailableSince ? Date.parse(st.primaryUnavailableSince) : now;
      fields.primaryUnavailableSince = st.primaryUnavailableSince ?? nowIso;
      const why = unavailability(p);
      const booting = !lastFailover && p?.report && (p.report.role === "pending");
      primaryAvailable = booting
        ? { status: false, reason: "Bootstrapping", message: `${current} is starting: ${p.report?.message ?? p.report?.postgres}` }
        : { status: false, reason: "PrimaryUnavailable", message: `primary ${current} is unavailable: ${why}` };
      const delayMs = spec.failoverDelaySeconds * 1000;
      if (size > 1 && !booting && now - since >= delayMs) {
        // only a standby the primary may have been waiting for holds every acknowledged commit; with
        // ANY 1 of k, all k must answer to know which has the most
        const candidates = synced.filter((n) => runningStandby(view(n)));
        if (synced.length && candidates.length === synced.length) {
          const pick = [...candidates].sort((a, b) => {
            const d = lsnOrder(view(b)!.report!.lsn) - lsnOrder(view(a)!.report!.lsn);
            return d > 0n ? 1 : d < 0n ? -1 : a.localeCompare(b);
          })[0]!;
          target = pick;
          lastFailover = { from: current, to: target, reason: `primary ${current} failed: ${why}`, startedAt: nowIso };
          Object.assign(checkpoint, { targetPrimary: target, lastFailover });
          events.push({ type: "Warning", reason: "FailoverStarted", message: `primary ${current} failed (${why}); promoting ${target}` });
        } else {
          primaryAvailable.reason = "FailoverBlocked";
          primaryAvailable.message += synced.length
            ? `; no failover: ${synced.filter((n) => !runningStandby(view(n))).join(", ")} of the synchronous standbys ${synced.join(", ")} cannot be asked for their WAL position`
            : "; no failover: no standby was synchronous, so none is known to hold every acknowledged commit (set spec.primary to a standby to promote it anyway)";
          // an operator's explicit choice of a standby forces it
          const forced = spec.primary && spec.primary !== current && runningStandby(view(spec.primary)) ? spec.primary : undefined;
          if (!forced) restartPrimary = p?.report?.postgres === "crashed" || Boolean(p?.report?.isolated); // nobody to take over: start it again
          else {
            target = forced;
            lastFailover = { from: current, to: target, reason: `primary ${current} failed: ${why}; forced to ${target} by spec.primary`, startedAt: nowIso };
            Object.assign(checkpoint, { targetPrimary: target, lastFailover });
            events.push({ type: "Warning", reason: "FailoverStarted", message: `primary ${current} failed (${why}); promoting ${target} as spec.primary asks` });
          }
        }
      } else if (p?.report?.postgres === "crashed" || p?.report?.isolated) {
        restartPrimary = true; // within the delay (or no standby): start it again
      }
      if (size > 1 && !booting && now - since < delayMs) primaryAvailable.message += `; failover in ${Math.ceil((delayMs - (now - since)) / 1000)}s unless it recovers`;
    }
  }

  if (current !== target) {
    const epoch = failovers + 1;
    const old = view(current);
    const next = view(target);
    intents.set(current, { role: "fenced" });
    labels.set(current, "fenced");
    const standbysCut = members.filter((m) => m.name !== current && m.report).every((m) => !m.report!.streaming);
    const oldSafe = (old?.report && old.report.role === "fenced" && old.report.epoch >= epoch && old.report.postgres !== "running")
      || (!old?.report && (old?.silentMs ?? Infinity) >= ISOLATION_SECONDS * 1000 + ISOLATION_MARGIN_MS && standbysCut);
    primaryAvailable = { status: false, reason: lastFailover?.switchover ? "SwitchingOver" : "FailingOver", message: `${lastFailover?.switchover ? "switchover" : "failover"} from ${current} to ${target}: ` };
    if (!oldSafe) {
      primaryAvailable.message += old?.report ? `fencing ${current}` : `waiting until ${current} has fenced itself (silent ${Math.round((old?.silentMs ?? 0) / 1000)}s of ${ISOLATION_SECONDS + ISOLATION_MARGIN_MS / 1000}s, standbys cut off: ${standbysCut})`;
    } else {
      // a candidate that fenced itself meanwhile (the controller was away longer than its isolation
      // timeout, right after promoting it) is the one holding every commit: it serves again
      intents.set(target, { role: "primary", ...lift(next) });
      primaryAvailable.message += `promoting ${target}`;
      if (runningPrimary(next) && next!.report!.epoch >= epoch) {
        failovers = epoch;
        lastFailover = { ...lastFailover!, completedAt: nowIso };
        events.push({ type: lastFailover.switchover ? "Normal" : "Warning", reason: lastFailover.switchover ? "SwitchoverCompleted" : "FailoverCompleted", message: `${target} is primary (was ${current}): ${lastFailover.reason}` });
        Object.assign(fields, { failovers, lastFailover, primaryUnavailableSince: undefined, synchronousStandbys: [] });
        current = target;
        fields.currentPrimary = current;
        primaryAvailable = { status: true, reason: "Serving", message: `${current} accepts writes` };
      }
    }
  }

  const epoch = current === target ? failovers : failovers + 1;
  if (current === target) {
    const p = view(current)!;
    const recorded = fields.synchronousStandbys ?? synced;
    // a primary that could not be asked (its PostgreSQL may have just died) keeps the set it has
    const sync = p.report?.replicas === undefined
      ? recorded.filter((n) => n !== current && view(n)).slice(0, size - 1)
      : members.filter((m) => m.name !== current && runningStandby(m) && m.report!.streaming
        && p.report!.replicas!.some((r) => r.name === m.name && r.state === "streaming")).map((m) => m.name).slice(0, size - 1);
    const union = [...new Set([...recorded, ...sync])].sort();
    if (union.length !== recorded.length) checkpoint.synchronousStandbys = union;
    // a standby leaves the record only once the primary's own setting no longer names it: until the
    // primary has applied the smaller set, a commit may have waited for it (and a primary that died
    // before applying it never did: that standby still holds every acknowledged commit)
    const inEffect = p.report?.syncNames;
    fields.synchronousStandbys = [...new Set([...sync, ...recorded.filter((n) => inEffect === undefined || inEffect.includes(n))])].sort();
    intents.set(current, {
      role: "primary",
      ...(size > 1 ? { sync: { method: spec.edition === "finance" ? "ANY" : "FIRST", num: sync.length ? 1 : 0, names: sync } } : {}),
      ...(restartPrimary ? { restartAfterCrash: true, ...lift(p) } : {}),
    });
    labels.set(current, "primary");
    const host = p.address;
    for (const m of members) {
      if (m.name === current) continue;
      labels.set(m.name, "standby");
      if (host) intents.set(m.name, { role: "standby", primary: { name: current, host }, restartAfterCrash: true });
    }
  } else {
    for (const m of members) if (m.name !== current && m.name !== target) labels.set(m.name, "standby");
    labels.set(target, "standby");
  }
  if (checkpoint.targetPrimary && !fields.currentPrimary) fields.targetPrimary = checkpoint.targetPrimary;
  fields.targetPrimary = target;
  fields.currentPrimary = current;

  // replication health
  let replication = { status: true, reason: "Single", message: "a single-member instance has no standby" };
  if (size > 1) {
    const primaryLsn = lsnOrder(view(current)?.report?.lsn);
    const lagging = members.filter((m) => m.name !== current).map((m) => {
      if (!runningStandby(m)) return `${m.name} is not a running standby (${unavailability(m)})`;
      if (!m.report!.streaming) return `${m.name} is not streaming`;
      const lag = primaryLsn - lsnOrder(m.report!.replayLSN);
      return lag > 64n * 1024n * 1024n ? `${m.name} is ${lag} bytes behind` : "";
    }).filter(Boolean);
    replication = lagging.length
      ? { status: false, reason: "StandbyNotStreaming", message: lagging.join("; ") }
      : { status: true, reason: "Streaming", message: `every standby streams from ${current}; synchronous: ${(fields.synchronousStandbys ?? []).join(", ") || "none"}` };
  }
  return { ...(Object.keys(checkpoint).length ? { checkpoint } : {}), fields, epoch, intents, labels, events, primaryAvailable, replication };
}
