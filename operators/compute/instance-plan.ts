// What to do for an ECS Instance, as pure functions of what was observed (Kueue's nominate → admit,
// Cluster API's phases): which launcher pods to delete (fencing those on dead hosts), whether to
// create the current one, pause/resume and resize it in place, what status must be recorded before
// (a migration's source, a failover), the status it all leads to and the Events it is worth. The
// controller only observes and hands the plan to the runtime.
import { launcherName, launcher, type InstanceObj, type InstanceStatus } from "../api/compute.ts";
import { VolumeRef } from "../api/storage.ts";
import { isoSeconds } from "../runtime/clock.ts";
import { PodRef, type Pod } from "../runtime/core.ts";
import type { Action, ConditionSpec, DeletionPolicy, DesiredStatus, EventSpec, Plan } from "../runtime/managed.ts";
import { isProblem, launcherPod, type Problem, type Resolved } from "./instance.ts";
import { nicMetadata, type NicPlan } from "./nics.ts";
import { instanceState, isFinished, isTerminating, planResize, podSize, powerEvent, replacementCause, type InstanceState, type Observation } from "./instance-state.ts";

/** While pods come and go, look again this often even without an event. */
const TRANSITION_RECHECK_MS = 3_000;

export interface HostFacts {
  /** Gone, not Ready, or tainted unreachable: it will never confirm a pod's deletion. */
  down: boolean;
  cell?: string;
  zone?: string;
}

export interface InstanceObservation {
  resolved: Resolved | Problem;
  /** The instance's launcher pods. */
  pods: readonly Pod[];
  /** The hosts of those pods and of status.nodeName. */
  hosts: Readonly<Record<string, HostFacts>>;
  /** Room left on a pod's host for an in-place resize, by pod uid. */
  headroom: Readonly<Record<string, { cpu: number; memory: number }>>;
}

type Leaving = "Stopping" | "Rebooting" | "Rebuilding" | "Migrating";

/** The plan under construction: what status will say, what to record first, what to do and tell. */
interface Draft {
  inst: InstanceObj;
  o: InstanceObservation;
  now: number;
  status: InstanceStatus;
  checkpoint: Partial<InstanceStatus>;
  actions: Action[];
  events: EventSpec[];
  leaving?: Leaving;
  shown?: Pod;
  outgoing?: Pod;
  resizeBlocked?: string;
}

const alive = (p: Pod) => !isFinished(p) && !isTerminating(p);
const downHost = (d: Draft, node: string | undefined) => node !== undefined && (d.o.hosts[node]?.down ?? true);

function record(d: Draft, fields: Partial<InstanceStatus>): void {
  Object.assign(d.checkpoint, fields);
  Object.assign(d.status, fields);
}

/** Deletes a launcher by uid (never a newer one of that name); one on a dead host is force-deleted, as fencing. */
function deletePod(d: Draft, p: Pod, grace = d.inst.spec.terminationGracePeriodSeconds): "deleted" | "fenced" | "waiting" {
  const down = downHost(d, p.spec?.nodeName);
  if (isTerminating(p) && !down) return "waiting";
  const gracePeriodSeconds = down || isFinished(p) ? 0 : grace;
  d.actions.push({ verb: "delete", ref: PodRef, name: p.metadata.name, namespace: p.metadata.namespace, uid: p.metadata.uid, gracePeriodSeconds });
  return down ? "fenced" : "deleted";
}

/** The launcher on `host` is lost without anyone asking: status forgets it first, and a dead host counts as a failover. */
function lostLauncher(d: Draft, host: string, down: boolean): void {
  record(d, { nodeName: undefined, launcherPod: undefined, powerState: "Starting", failovers: (d.status.failovers ?? 0) + (down ? 1 : 0) });
  d.events.push(down
    ? { type: "Warning", reason: "Failover", message: `host ${host} failed; restarting on another host with the same disks` }
    : { type: "Normal", reason: "Restarting", message: `launcher on ${host} was removed (evicted or deleted); restarting` });
}

/** A new migration request: remember where the instance is before anything moves. */
function startMigration(d: Draft, problem: Problem | undefined): void {
  const req = d.inst.spec.migration;
  if (!req || d.status.migration?.requestedAt === req.requestedAt) return;
  const running = d.o.pods.find((p) => alive(p) && p.spec?.nodeName);
  const want = d.inst.spec.powerState !== "Stopped";
  const migration: InstanceStatus["migration"] = running && want && !problem
    ? { requestedAt: req.requestedAt, sourceNode: running.spec?.nodeName, targetNode: req.targetNode, startTime: isoSeconds(d.now), state: "Running" }
    : { requestedAt: req.requestedAt, state: "Failed", message: problem ? problem.message : "only a running instance can be migrated; start it first" };
  record(d, { migration });
  if (migration.state === "Running") {
    d.events.push({ type: "Normal", reason: "Migrating", message: `migrating from ${migration.sourceNode}${migration.targetNode ? ` to ${migration.targetNode}` : ""}` });
  }
}

/**
 * Pods that must go: all of them when stopped; otherwise every pod but the current one. A request
 * that cannot be carried out (a missing image for a rebuild) leaves the running VM alone.
 */
function removeStale(d: Draft, current: Pod | undefined, problem: Problem | undefined): void {
  const want = d.inst.spec.powerState !== "Stopped";
  const remove = !want ? d.o.pods : problem ? d.o.pods.filter(isFinished) : d.o.pods.filter((p) => p !== current);
  for (const p of remove) {
    const cause: Leaving = want ? (isFinished(p) ? "Rebooting" : replacementCause(d.inst, p)) : "Stopping";
    const done = deletePod(d, p);
    if (!isFinished(p)) d.leaving ??= cause;
    if (done === "fenced") d.events.push({ type: "Warning", reason: "HostFailed", message: `host ${p.spec?.nodeName} is down; fenced launcher ${p.metadata.name}` });
    else if (done === "deleted" && !isTerminating(p) && !isFinished(p) && cause !== "Stopping") {
      d.events.push({ type: "Normal", reason: cause, message: `${cause.toLowerCase()}: replacing launcher ${p.metadata.name} on ${p.spec?.nodeName ?? "no host"}` });
    }
  }
}

/**
 * The current pod on its way out without us: its host failed (the node controller evicts it; it is
 * fenced and a failover counted, once), or it is evicted or deleted from a healthy host (status keeps
 * naming it until it is gone, then it is restarted).
 */
function currentLeaving(d: Draft, current: Pod | undefined): void {
  if (!current || !isTerminating(current)) return;
  const host = current.spec?.nodeName;
  if (host && downHost(d, host)) {
    if (d.status.launcherPod === current.metadata.name) lostLauncher(d, host, true);
    deletePod(d, current, 0);
  } else {
    d.outgoing = current;
  }
}

/** No launcher and none on its way out: create the one for this boot (noting a launcher lost unseen). */
function launch(d: Draft, resolved: Resolved): void {
  const name = launcherName(d.inst);
  const lost = d.status.launcherPod === name ? d.status.nodeName : undefined;
  if (lost) lostLauncher(d, lost, downHost(d, lost));
  const m = d.status.migration;
  const placement = m?.state === "Running" ? { sourceNode: m.sourceNode, targetNode: m.targetNode } : undefined;
  d.actions.push({ verb: "create", ref: PodRef, object: launcherPod(d.inst, resolved, placement) });
}

/** A running instance: pause/resume and in-place resize; a migration is done once it runs on another host. */
function adjustRunning(d: Draft, resolved: Resolved): void {
  let pod = d.shown;
  const node = pod?.spec?.nodeName;
  if (!pod || !node) return;
  const spec = d.inst.spec;
  const paused = pod.metadata.annotations?.[launcher.paused] === "true";
  if (paused !== (spec.powerState === "Paused")) {
    const annotations = { [launcher.paused]: paused ? null : "true" };
    d.actions.push({ verb: "update", ref: PodRef, name: pod.metadata.name, namespace: pod.metadata.namespace, patch: { metadata: { annotations } } });
    pod = withAnnotation(pod, launcher.paused, paused ? undefined : "true");
  }
  const size = podSize(pod);
  const resize = size && planResize(size, resolved.size, d.o.headroom[pod.metadata.uid ?? ""] ?? { cpu: 0, memory: 0 });
  if (resize && resize.kind === "needsStop") d.resizeBlocked = resize.message;
  if (resize && resize.kind === "online") {
    const resources = { cpu: String(resolved.size.vcpus), memory: resolved.size.memory };
    const patch = { spec: { containers: [{ name: launcher.container, resources: { requests: resources, limits: resources } }] } };
    d.actions.push({ verb: "update", ref: PodRef, name: pod.metadata.name, namespace: pod.metadata.namespace, patch, patchType: "strategic", subresource: "resize" });
    pod = withResources(pod, resources);
    d.events.push({ type: "Normal", reason: "Resized", message: `resized online to ${resolved.size.vcpus} vCPU/${resolved.size.memory} (${resolved.size.source})` });
  }
  d.shown = pod;
  finishMigration(d, node);
}

function finishMigration(d: Draft, node: string): void {
  const m = d.status.migration;
  if (m?.state !== "Running" || d.shown?.status?.phase !== "Running" || node === m.sourceNode) return;
  const start = m.startTime ? Date.parse(m.startTime) : d.now;
  const durationSeconds = Math.max(0, Math.round((d.now - start) / 1000));
  d.status.migration = { ...m, targetNode: node, completionTime: isoSeconds(d.now), durationSeconds, state: "Succeeded" };
  d.events.push({ type: "Normal", reason: "Migrated", message: `migrated from ${m.sourceNode} to ${node} in ${durationSeconds}s` });
}

const withAnnotation = (p: Pod, key: string, value: string | undefined): Pod => {
  const annotations = { ...p.metadata.annotations };
  if (value === undefined) delete annotations[key];
  else annotations[key] = value;
  return { ...p, metadata: { ...p.metadata, annotations } };
};

const withResources = (p: Pod, resources: Record<string, string>): Pod => ({
  ...p, spec: { ...p.spec!, containers: (p.spec?.containers ?? []).map((c) => (c.name === launcher.container ? { ...c, resources: { requests: resources, limits: resources } } : c)) },
});

/** The plan for an instance that is not being deleted. */
export function planInstance(inst: InstanceObj, o: InstanceObservation, now: number): Plan {
  const d: Draft = { inst, o, now, status: { ...inst.status }, checkpoint: {}, actions: [], events: [] };
  const problem = isProblem(o.resolved) ? o.resolved : undefined;
  const want = inst.spec.powerState !== "Stopped";
  const current = o.pods.find((p) => p.metadata.name === launcherName(inst) && !isFinished(p));
  startMigration(d, problem);
  removeStale(d, current, problem);
  currentLeaving(d, current);
  const othersLeft = o.pods.some((p) => p !== current && !isFinished(p));
  d.shown = current && alive(current) ? current : problem && want ? o.pods.find(alive) : undefined;
  if (want && !isProblem(o.resolved) && !current && !othersLeft) launch(d, o.resolved);
  if (!isProblem(o.resolved)) adjustRunning(d, o.resolved);
  const moving = d.leaving !== undefined || othersLeft || (current !== undefined && isTerminating(current));
  const state = instanceState(inst.spec, observed(d));
  const ev = powerEvent(d.status.powerState, state.powerState, d.shown?.spec?.nodeName);
  return {
    ...(Object.keys(d.checkpoint).length ? { checkpoint: d.checkpoint } : {}),
    actions: d.actions,
    events: [...d.events, ...(ev ? [{ type: "Normal" as const, ...ev }] : [])],
    status: instanceStatus(d, state, problem),
    ...(moving ? { requeueAfterMs: TRANSITION_RECHECK_MS } : problem?.recheckMs && want ? { requeueAfterMs: problem.recheckMs } : {}),
  };
}

/** What instanceState needs to know. */
function observed(d: Draft): Observation {
  const node = d.shown?.spec?.nodeName;
  const host = node ? d.o.hosts[node] : undefined;
  return {
    ...(d.shown ? { pod: d.shown } : {}),
    ...(d.leaving ? { leaving: d.leaving } : {}),
    ...(node ? { node: { name: node, cell: host?.cell, zone: host?.zone } } : {}),
    ...(isProblem(d.o.resolved) ? { problem: d.o.resolved } : {}),
    ...(d.resizeBlocked ? { resizeBlocked: d.resizeBlocked } : {}),
  };
}

/** Status fields and conditions; a problem is announced once (waiting for a volume to attach is routine). */
function instanceStatus(d: Draft, state: InstanceState, problem: Problem | undefined): DesiredStatus {
  const node = d.shown?.spec?.nodeName;
  const host = node ? d.o.hosts[node] : undefined;
  const size = d.shown ? podSize(d.shown) : undefined;
  const warn = problem && problem.reason !== "AttachingVolume" && state.ready.reason === problem.reason;
  const ready: ConditionSpec = { ...state.ready, ...(warn ? { announce: "Warning" as const } : {}) };
  const startTime = d.shown?.status?.startTime;
  return {
    conditions: [state.scheduled, ready, restartRequired(d, host)],
    ...(problem?.stalled && !d.shown ? { stalled: { reason: problem.reason, message: problem.message } } : {}),
    fields: {
      powerState: state.powerState,
      nodeName: node ?? d.outgoing?.spec?.nodeName,
      cell: node ? host?.cell : undefined,
      zone: node ? host?.zone : undefined,
      architecture: isProblem(d.o.resolved) ? d.status.architecture : d.o.resolved.arch,
      vcpus: size?.vcpus,
      memory: size?.memory,
      launcherPod: d.shown?.metadata.name ?? d.outgoing?.metadata.name,
      lastBootTime: startTime ? isoSeconds(Date.parse(String(startTime))) : d.status.lastBootTime,
      migration: d.status.migration,
      failovers: d.status.failovers,
    },
  };
}

/**
 * A placement change a running VM cannot follow (a new zone or cell) waits for the next start:
 * RestartRequired=True says so, instead of the change being deferred in silence.
 */
function restartRequired(d: Draft, host: HostFacts | undefined): ConditionSpec {
  const spec = d.inst.spec;
  const running = d.shown?.spec?.nodeName && host;
  const moved = running && [
    spec.zone && host.zone !== spec.zone ? `spec.zone is ${spec.zone} but the instance runs in ${host.zone}` : undefined,
    spec.cell && host.cell !== spec.cell ? `spec.cell is ${spec.cell} but the instance runs in ${host.cell}` : undefined,
  ].filter(Boolean).join("; ");
  return moved
    ? { type: "RestartRequired", status: "True", reason: "PlacementChanged", message: `${moved}: stop and start it (or migrate it) to move it`, announce: "Normal" }
    : { type: "RestartRequired", status: "False", reason: "AsSpecified", message: "" };
}

/**
 * Deleting: Delete stops every launcher (waiting for them to go), then deletes the data volumes
 * marked deleteWithInstance; Orphan leaves the launchers running, no longer owned, and every volume.
 */
export function finalizeInstance(inst: InstanceObj, o: InstanceObservation, policy: DeletionPolicy): Plan {
  if (policy === "Orphan") {
    const actions: Action[] = o.pods.filter((p) => !isFinished(p)).map((p) => ({
      verb: "update", ref: PodRef, name: p.metadata.name, namespace: p.metadata.namespace,
      patch: { metadata: { ownerReferences: null, labels: { [launcher.instanceLabel]: null } } },
    }));
    return { actions, done: true, events: actions.length ? [{ type: "Normal", reason: "Orphaned", message: `left ${actions.length} launcher(s) running, no longer managed` }] : [] };
  }
  const d: Draft = { inst, o, now: 0, status: { ...inst.status }, checkpoint: {}, actions: [], events: [] };
  let left = 0;
  for (const p of o.pods) if (deletePod(d, p) === "waiting" || !isFinished(p)) left++;
  if (left > 0) return { actions: d.actions, status: { fields: { powerState: "Stopping" } }, requeueAfterMs: TRANSITION_RECHECK_MS };
  const doomed = (inst.spec.dataVolumes ?? []).filter((v) => v.deleteWithInstance).map((v) => v.volume);
  return {
    actions: [...d.actions, ...doomed.map((name): Action => ({ verb: "delete", ref: VolumeRef, name, namespace: inst.metadata.namespace }))],
    events: doomed.length ? [{ type: "Normal", reason: "VolumesDeleted", message: `deleted data volumes ${doomed.join(", ")} with the instance` }] : [],
    done: true,
  };
}

/**
 * An instance with NICs: their allocations are planned first (runtime IPAM), and the instance boots
 * only once every NIC holds an address. The launcher is named by its addresses too (as it is by its
 * image), so one made with other addresses (a racing manager's pick, since released) is replaced. An
 * address is released only once no launcher that still runs was given it, and only after a status
 * write made against the version observed (the runtime's afterStatus).
 */
export function planWithNics(inst: InstanceObj, o: InstanceObservation, nics: NicPlan, now: number): Plan {
  const known = nics.result([]);
  const nicProblem: Problem | undefined = nics.allocating ? { reason: "AllocatingAddress", message: "allocating the NICs' addresses", stalled: false, recheckMs: 1_000 } : known.problem;
  // a spec error of the instance first, then what its NICs wait for, then what else it waits for
  const resolved: Resolved | Problem = isProblem(o.resolved) && (o.resolved.stalled || !nicProblem) ? o.resolved : nicProblem ?? { ...(o.resolved as Resolved), nics: known.addresses };
  const effective = !isProblem(resolved) && known.addresses.length ? withAddresses(inst, known.addresses.map((a) => a.ip)) : inst;
  const base = planInstance(effective, { ...o, resolved }, now);
  // (subnet, address) pairs: VPCs may overlap, so an address alone does not say which allocation it is
  const inUse = new Set(o.pods.filter((p) => !isFinished(p)).flatMap(launcherAddresses));
  const releases = nics.releases.filter((a) => {
    const r = a.verb === "delete" ? nics.releasing.get(a.name) : undefined;
    return !r || !inUse.has(`${r.subnet ?? ""}/${r.address}`);
  });
  const deferred = releases.length < nics.releases.length;
  const mine = [...nics.creates, ...relabel(o.pods.find((p) => p.metadata.name === launcherName(effective) && !isFinished(p)), resolved)];
  const n = mine.length;
  // creates of different addresses do not depend on each other: alone, they go at once
  const alone = !base.actions?.length && mine.length > 1;
  return {
    ...base,
    ...(alone ? { concurrency: mine.length } : {}),
    actions: [...mine, ...(base.actions ?? [])],
    ...(releases.length ? { afterStatus: [...releases, ...(base.afterStatus ?? [])] } : {}),
    status: (outcomes) => {
      const rest = typeof base.status === "function" ? base.status(outcomes.slice(n)) : base.status ?? {};
      return { ...rest, fields: { ...rest.fields, nics: nics.result(outcomes.slice(0, n)).nics } };
    },
    ...(nics.allocating || deferred ? { requeueAfterMs: Math.min(base.requeueAfterMs ?? 1_000, 1_000) } : {}),
  };
}

/** A running launcher whose VPC and security group labels are not its NICs' now gets them (no restart: policies follow labels). */
function relabel(pod: Pod | undefined, resolved: Resolved | Problem): Action[] {
  if (!pod || isProblem(resolved) || !resolved.nics?.length) return [];
  const want = nicMetadata(pod.metadata.namespace ?? "", resolved.nics).labels;
  const have = pod.metadata.labels ?? {};
  const ours = (k: string) => k.startsWith(launcher.vpcLabelPrefix) || k.startsWith(launcher.securityGroupLabelPrefix);
  const labels: Record<string, string | null> = {};
  for (const k of Object.keys(have)) if (ours(k) && !(k in want)) labels[k] = null;
  for (const [k, v] of Object.entries(want)) if (have[k] !== v) labels[k] = v;
  return Object.keys(labels).length ? [{ verb: "update", ref: PodRef, name: pod.metadata.name, namespace: pod.metadata.namespace, patch: { metadata: { labels } } }] : [];
}

/** The instance as its launcher is named: each NIC's address in place of what spec asked. */
const withAddresses = (inst: InstanceObj, ips: readonly string[]): InstanceObj =>
  ({ ...inst, spec: { ...inst.spec, nics: (inst.spec.nics ?? []).map((nic, i) => ({ ...nic, fixedIP: ips[i] ?? nic.fixedIP })) } });

/** The addresses a launcher was given (its networks annotation), as subnet/address. */
function launcherAddresses(p: Pod): string[] {
  try {
    const networks = JSON.parse(p.metadata.annotations?.[launcher.networks] ?? "[]") as Array<{ name?: string; ips?: string[] }>;
    return networks.flatMap((n) => (n.ips ?? []).map((ip) => `${n.name ?? ""}/${ip.split("/")[0]!}`));
  } catch {
    return [];
  }
}

/** Deleting: the launchers go first (finalizeInstance), then every address the instance holds. */
export function finalizeWithNics(inst: InstanceObj, o: InstanceObservation, held: readonly Action[], policy: DeletionPolicy): Plan {
  const base = finalizeInstance(inst, o, policy);
  if (base.done !== true || !held.length) return base;
  const n = base.actions?.length ?? 0;
  return {
    ...base,
    actions: [...(base.actions ?? []), ...held],
    done: (outcomes) => outcomes.slice(n).length === held.length && outcomes.slice(n).every((x) => x.result === "deleted" || x.result === "gone"),
  };
}
