// What to do for an EVS Volume, as pure functions of what was observed: which pool to carve it
// from (recorded in status before its PV exists or grows, so pools are never over-provisioned),
// the PV and claim that realize it (created, or grown as a CSI resizer would), and the status and
// Events that follow; on deletion, wait until it is detached, then remove claim and PV (or, with
// deletionPolicy Orphan, leave them unowned).
import { claimName, pvName, type VolumeObj, type VolumeStatus, type VolumeTypeSpec } from "../api/storage.ts";
import { bytes } from "../api/quantity.ts";
import { ClaimRef, PersistentVolumeRef } from "../runtime/core.ts";
import type { Action, DeletionPolicy, DesiredStatus, EventSpec, Plan } from "../runtime/managed.ts";
import { iopsFor, persistentVolume, persistentVolumeClaim, pickPool, type PoolView } from "./volume.ts";

/**
 * While a claim binds or grows, look again this often: a safety net only, as crossplane's poll
 * interval. The claim's and the PV's events wake the volume (the controller owns the claim and
 * watches the PV). A 3 s poll made every unbound volume a reconcile every 3 s: at 3,000 volumes
 * (bench/scale) 19 reconciles per volume, most of them these, with the volume queue 2,000 deep and
 * its 16 workers busy beside the instances'.
 */
const RECHECK_MS = 60_000;
/** A volume no pool has room for is tried again this often (pools grow, volumes go). */
const POOL_RETRY_MS = 30_000;

export interface Problem {
  reason: string;
  message: string;
  /** Only a spec change fixes it (Stalled=True). */
  stalled: boolean;
}

export interface VolumeObservation {
  type?: VolumeTypeSpec;
  /** Instances it is attached to (planAttachments). */
  attached: Array<{ instance: string; node?: string }>;
  pools: readonly PoolView[];
  /** Why its source cannot be used (yet), if it cannot. */
  source?: Problem;
  /** Its PV's capacity in bytes, if the PV exists. */
  pv?: { capacity: number };
  claim?: { requested: number; capacity: number; phase?: string };
}

const notReady = (reason: string, message: string, announce?: "Warning") =>
  ({ type: "Ready", status: "False" as const, reason, message, ...(announce ? { announce } : {}) });

const GiB = 2 ** 30;

/** The pool the volume holds, if it still suits its zone and media (a type change may need another). */
function fittingPool(v: VolumeObj, o: VolumeObservation, type: VolumeTypeSpec): PoolView | undefined {
  const current = v.status?.storagePool ? o.pools.find((p) => p.name === v.status?.storagePool) : undefined;
  return current && current.zone === v.spec.zone && current.mediaType === type.mediaType ? current : undefined;
}

/** Room needed: the growth in the pool it holds, or all of it in a new one (first provisioning, or other media). */
function choosePool(v: VolumeObj, o: VolumeObservation, type: VolumeTypeSpec, current: PoolView | undefined, need: number, holds: number): { pool: string; moved: boolean } | Problem {
  if (current) {
    const room = current.allocatable - current.provisioned;
    if (room >= need - holds) return { pool: current.name, moved: false };
    return { reason: "PoolExhausted", message: `cannot grow to ${v.spec.size}: StoragePool ${current.name} has ${Math.floor(Math.max(0, room) / GiB)}Gi left`, stalled: false };
  }
  const pick = pickPool(o.pools, v.spec.zone, type.mediaType, need);
  return "pool" in pick ? { pool: pick.pool, moved: holds > 0 } : { ...pick, stalled: false };
}

/** The reservation: pool and size, recorded before the PV exists or grows. */
function reserve(v: VolumeObj, pool: string, moved: boolean, holds: number): { checkpoint: Partial<VolumeStatus>; event: EventSpec } {
  const checkpoint = { storagePool: pool, capacity: v.spec.size, state: holds ? "Expanding" as const : "Creating" as const };
  const src = v.spec.source ? ` (from ${Object.entries(v.spec.source).map(([k, n]) => `${k} ${n}`).join("")})` : "";
  const event: EventSpec = moved ? { type: "Normal", reason: "Retyped", message: `moved to StoragePool ${pool} for type ${v.spec.type}` }
    : holds ? { type: "Normal", reason: "Expanding", message: `growing from ${v.status?.capacity} to ${v.spec.size}` }
      : { type: "Normal", reason: "Provisioning", message: `carving ${v.spec.size} from StoragePool ${pool}${src}` };
  return { checkpoint, event };
}

/** PV and claim at the provisioned size: created, or grown as a CSI resizer does. */
function realize(v: VolumeObj, o: VolumeObservation, pool: string, need: number): Action[] {
  const size = v.spec.size;
  const ns = v.metadata.namespace;
  const claim = claimName(v.metadata.name);
  const actions: Action[] = [];
  if (!o.pv) actions.push({ verb: "create", ref: PersistentVolumeRef, object: persistentVolume(v, size, pool) });
  else if (o.pv.capacity < need) actions.push({ verb: "update", ref: PersistentVolumeRef, name: pvName(v), patch: { spec: { capacity: { storage: size } } } });
  if (!o.claim) return [...actions, { verb: "create", ref: ClaimRef, object: persistentVolumeClaim(v, size) }];
  if (o.claim.requested < need) actions.push({ verb: "update", ref: ClaimRef, name: claim, namespace: ns, patch: { spec: { resources: { requests: { storage: size } } } } });
  if (o.claim.phase === "Bound" && o.claim.capacity < need) {
    actions.push({ verb: "update", ref: ClaimRef, name: claim, namespace: ns, patch: { status: { capacity: { storage: size } } }, subresource: "status" });
  }
  return actions;
}

/** The plan for a volume that is not being deleted. */
export function planVolume(v: VolumeObj, o: VolumeObservation): Plan {
  const type = o.type;
  if (!type) return { status: { conditions: [notReady("VolumeTypeNotFound", `spec.type: VolumeType "${v.spec.type}" not found`)], fields: { attachments: o.attached.length ? o.attached : undefined } } };
  const need = bytes(v.spec.size);
  const holds = v.status?.capacity ? bytes(v.status.capacity) : 0;
  const current = fittingPool(v, o, type);
  let pool = current?.name;
  let expanding = v.status?.state === "Expanding";
  const events: EventSpec[] = [];
  let checkpoint: Plan["checkpoint"];
  if (!pool || need > holds) {
    if (!holds && o.source) {
      const stalled = o.source.stalled ? { stalled: { reason: o.source.reason, message: o.source.message } } : {};
      return { status: { conditions: [notReady(o.source.reason, o.source.message)], fields: { state: "Creating" }, ...stalled } };
    }
    const choice = choosePool(v, o, type, current, need, holds);
    if ("reason" in choice) {
      return { status: { conditions: [notReady(choice.reason, choice.message, "Warning")], fields: { state: holds ? v.status?.state : "Creating" } }, requeueAfterMs: POOL_RETRY_MS };
    }
    pool = choice.pool;
    const r = reserve(v, pool, choice.moved, holds);
    checkpoint = r.checkpoint;
    events.push(r.event);
    expanding ||= holds > 0 && !choice.moved;
  }
  const bound = o.claim?.phase === "Bound" && o.claim.capacity >= need;
  if (bound && expanding) events.push({ type: "Normal", reason: "Expanded", message: `now ${v.spec.size}` });
  return {
    ...(checkpoint ? { checkpoint } : {}),
    actions: realize(v, o, pool, need),
    events,
    status: volumeStatus(v, o, type, pool, bound, expanding),
    ...(bound ? {} : { requeueAfterMs: RECHECK_MS }),
  };
}

function volumeStatus(v: VolumeObj, o: VolumeObservation, type: VolumeTypeSpec, pool: string, bound: boolean, expanding: boolean): DesiredStatus {
  const size = v.spec.size;
  const iops = iopsFor(type, bytes(size));
  const attached = o.attached;
  const state = !bound ? (expanding ? "Expanding" : "Creating") : attached.length ? "InUse" : "Available";
  const where = attached.length ? `, attached to ${attached.map((a) => a.instance).join(", ")}` : "";
  const ready = bound
    ? { type: "Ready", status: "True" as const, reason: attached.length ? "InUse" : "Available", message: `${size} ${v.spec.type} (${iops} IOPS) in ${pool}${where}` }
    : notReady("Binding", `waiting for claim ${claimName(v.metadata.name)} to bind at ${size}`);
  return {
    conditions: [ready],
    fields: { storagePool: pool, capacity: size, iops, persistentVolume: pvName(v), claim: claimName(v.metadata.name), attachments: attached.length ? attached : undefined, state },
  };
}

/**
 * Deleting: an attached volume waits (Ready=False InUse) until its instances let go; then Delete
 * removes claim and PV and is done once both are gone; Orphan leaves them, the claim unowned.
 */
export function finalizeVolume(v: VolumeObj, o: Omit<VolumeObservation, "pools">, policy: DeletionPolicy): Plan {
  if (o.attached.length && policy === "Delete") {
    const names = o.attached.map((a) => a.instance).join(", ");
    const message = `cannot be deleted while attached to instance ${names}: remove it from their spec.dataVolumes (or delete them with deleteWithInstance)`;
    const first = v.status?.state !== "Deleting";
    return {
      status: { conditions: [notReady("InUse", message)], fields: { state: "Deleting", attachments: o.attached } },
      events: first ? [{ type: "Warning", reason: "DeleteBlocked", message }] : [],
    };
  }
  const ns = v.metadata.namespace;
  const claim = claimName(v.metadata.name);
  if (policy === "Orphan") {
    const actions: Action[] = o.claim ? [{ verb: "update", ref: ClaimRef, name: claim, namespace: ns, patch: { metadata: { ownerReferences: null } } }] : [];
    return { actions, done: true, events: [{ type: "Normal", reason: "Orphaned", message: `left claim ${claim} and PersistentVolume ${pvName(v)} in place, no longer managed` }] };
  }
  return {
    actions: [{ verb: "delete", ref: ClaimRef, name: claim, namespace: ns }, { verb: "delete", ref: PersistentVolumeRef, name: pvName(v) }],
    done: (out) => out.every((x) => x.result === "gone"),
    requeueAfterMs: 1_000,
  };
}

export interface SourceLookup {
  snapshot(name: string): { status?: { size?: string } } | undefined;
  volume(name: string): { spec: { zone: string }; status?: { capacity?: string } } | undefined;
  /** The minimum disk of the Image a reference (NAME or NAMESPACE/NAME) resolves to. */
  imageMinDiskGiB(ref: string): number | undefined;
}

/** Why the volume's source cannot be used (yet), if it cannot: checked before it is first provisioned. */
export function sourceProblem(v: VolumeObj, lookup: SourceLookup): Problem | undefined {
  const s = v.spec.source;
  const need = bytes(v.spec.size);
  if (s?.snapshot) {
    const snap = lookup.snapshot(s.snapshot);
    if (!snap?.status?.size) return { reason: "SnapshotNotReady", message: `spec.source.snapshot: VolumeSnapshot "${s.snapshot}" ${snap ? "is not taken yet" : "not found"}`, stalled: false };
    if (need < bytes(snap.status.size)) return { reason: "SizeTooSmall", message: `spec.size: ${v.spec.size} is smaller than snapshot "${s.snapshot}" (${snap.status.size})`, stalled: true };
  }
  if (s?.volume) {
    const src = lookup.volume(s.volume);
    if (!src?.status?.capacity) return { reason: "SourceVolumeNotReady", message: `spec.source.volume: Volume "${s.volume}" ${src ? "is not provisioned yet" : "not found"}`, stalled: false };
    if (src.spec.zone !== v.spec.zone) return { reason: "ZoneMismatch", message: `spec.source.volume: Volume "${s.volume}" is in zone ${src.spec.zone}, not ${v.spec.zone}; a clone stays in its source's zone`, stalled: true };
    if (need < bytes(src.status.capacity)) return { reason: "SizeTooSmall", message: `spec.size: ${v.spec.size} is smaller than source volume "${s.volume}" (${src.status.capacity})`, stalled: true };
  }
  if (s?.image) {
    const min = lookup.imageMinDiskGiB(s.image);
    if (min === undefined) return { reason: "ImageNotFound", message: `spec.source.image: Image "${s.image}" not found (a NAME is looked up in this namespace, then in the public catalog)`, stalled: false };
    if (need < min * GiB) return { reason: "SizeTooSmall", message: `spec.size: ${v.spec.size} is smaller than Image "${s.image}" needs (${min}Gi)`, stalled: true };
  }
  return undefined;
}
