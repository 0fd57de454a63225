// Claim objects (locks named by the value they hold: a VNI, an address, a binding's target) outlive
// their holder when it is deleted without its finalizer, or when a crash falls between a claim and
// the status that would have recorded it. One repair controller per claim kind deletes a claim whose
// holder is gone, or is another object of that name now (another uid), once a grace period has
// passed since the claim was made and since this process first saw the holder missing: the holder
// may be too new for this manager's cache, or gone while what used the value is still stopping. A
// claim is deleted by its own uid.
import type { Controller, Result } from "./controller.ts";
import type { Informer } from "./informer.ts";
import type { Manager } from "./manager.ts";
import { deleteIfPresent } from "./objects.ts";
import { keyOf, requestKey, type KubeObject, type ResourceRef } from "./types.ts";

/** How long a claim whose holder is not in the cache is left alone. */
export const CLAIM_GRACE_MS = 60_000;

/** Whether a claim is an orphan to delete: its holder is gone (or is another object now) and the grace has passed. */
export function orphanClaim(holderUid: string, liveUid: string | undefined, createdAt: number, now: number, graceMs: number): boolean {
  return liveUid !== holderUid && now - createdAt >= graceMs;
}

/** What the repair reads of a holder kind's cache. */
export interface HolderCache {
  readonly ref: ResourceRef;
  get(key: string): KubeObject | undefined;
}

export interface Holder {
  kind: string;
  /** namespace/name (or name) of the holder in its cache. */
  key: string;
  uid: string;
}

export interface OrphanRepair<C extends KubeObject> {
  /** The controller's name. */
  name: string;
  ref: ResourceRef;
  claims: Informer<C>;
  holder(claim: C): Holder;
  /** The caches of the holder kinds this repair knows; a claim of another kind is left alone. */
  holders: Record<string, HolderCache>;
  /** The claims a holder holds (by its uid): a holder's change looks at them. */
  heldBy(uid: string): C[];
  /** For the Event: what the claim holds. */
  describe(claim: C): string;
  graceMs?: number;
}

export function orphanRepair<C extends KubeObject>(mgr: Manager, r: OrphanRepair<C>): Controller {
  const grace = r.graceMs ?? CLAIM_GRACE_MS;
  // when this process first saw each claim's holder missing: the grace counts from then too (a holder
  // whose finalizer was stripped may still have a VM stopping with the address); a restart starts over
  const missingSince = new Map<string, number>();
  let builder = mgr.controller(r.name).for(r.ref);
  for (const inf of Object.values(r.holders)) builder = builder.watches(inf.ref, (o) => r.heldBy(o.metadata.uid ?? "").map(keyOf));
  return builder.complete(async (req): Promise<Result> => {
    const id = requestKey(req);
    const c = r.claims.get(id);
    if (!c || c.metadata.deletionTimestamp) {
      missingSince.delete(id);
      return;
    }
    const h = r.holder(c);
    const cache = r.holders[h.kind];
    if (!cache) return;
    const live = cache.get(h.key)?.metadata.uid;
    if (live === h.uid) {
      missingSince.delete(id);
      return;
    }
    const now = mgr.clock.now();
    if (!missingSince.has(id)) missingSince.set(id, now);
    const since = Math.max(Date.parse(c.metadata.creationTimestamp ?? "") || 0, missingSince.get(id)!);
    if (!orphanClaim(h.uid, live, since, now, grace)) return { requeueAfterMs: since + grace - now + 1_000 };
    missingSince.delete(id);
    await deleteIfPresent(mgr.client, r.ref, c.metadata.name, c.metadata.namespace, { uid: c.metadata.uid ?? "" });
    mgr.events.record(c, "Normal", "OrphanReleased", `${r.describe(c)}: holder ${h.kind} ${h.key} (uid ${h.uid}) is gone`);
    return;
  });
}
