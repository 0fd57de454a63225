// Status writes: stamp observedGeneration, compare with what the cache holds, and patch the status
// subresource only when something changed (so an idle controller makes no writes at all).
import type { Clock } from "./clock.ts";
import { realClock } from "./clock.ts";
import { setCondition, type Condition, type ConditionInput } from "./conditions.ts";
import type { KubeClient } from "./kube.ts";
import { mergePatch } from "./mergepatch.ts";
import type { KubeObject, ResourceRef } from "./types.ts";

export interface StatusWithConditions {
  conditions?: Condition[];
  observedGeneration?: number;
  [key: string]: unknown;
}

/**
 * `status` is the complete desired status. Returns the object as the apiserver stored it when a
 * write was made (a reconcile that writes twice must diff its second write against this, not
 * against its cache, which may not show the first yet), or undefined when nothing changed.
 */
export async function writeStatus<T extends KubeObject>(
  client: KubeClient, ref: ResourceRef, obj: T, status: StatusWithConditions, opts: { observed?: boolean; guard?: StatusGuard } = {},
): Promise<T | undefined> {
  // A checkpoint (observed: false) records facts mid-reconcile without claiming the spec is observed.
  const observedGeneration = opts.observed === false ? (obj.status as StatusWithConditions | undefined)?.observedGeneration : obj.metadata.generation;
  const desired = { ...status, observedGeneration };
  const patch = mergePatch(obj.status ?? {}, desired);
  const guarded = opts.guard !== undefined && (opts.guard.always === true || (typeof patch === "object" && patch !== null && (opts.guard.fields ?? []).some((f) => f in patch)));
  if (patch === undefined && !guarded) return undefined;
  // the apiserver refuses (409) a patch whose resourceVersion is not the stored one: a write made
  // from a stale view fails instead of overwriting what a newer one wrote
  const body = guarded ? { metadata: { resourceVersion: obj.metadata.resourceVersion }, status: patch ?? {} } : { status: patch };
  return client.patch<T>(ref, obj.metadata.name, obj.metadata.namespace, body, "merge", { subresource: "status" });
}

/**
 * When a status write must be made against the version the writer observed (optimistic concurrency,
 * as controller-runtime's MergeFromWithOptimisticLock): whenever it changes one of `fields`, and
 * always (even with nothing to change, as a check that the view is current) when `always`.
 */
export interface StatusGuard {
  fields?: readonly string[];
  always?: boolean;
}

/** Ready=True and no Stalled condition: kstatus "Current" (GitOps tools report Healthy). */
export function markReady(obj: KubeObject, reason: string, message = "", clock: Clock = realClock): StatusWithConditions {
  const status = withCondition(obj, { type: "Ready", status: "True", reason, message }, clock);
  return { ...status, conditions: status.conditions?.filter((c) => c.type !== "Stalled") };
}

/** Ready=False and Stalled=True: kstatus "Failed" (Degraded) until the user changes something. */
export function markStalled(obj: KubeObject, reason: string, message: string, clock: Clock = realClock): StatusWithConditions {
  const ready = withCondition(obj, { type: "Ready", status: "False", reason, message }, clock);
  return { ...ready, conditions: setCondition(ready.conditions, { type: "Stalled", status: "True", reason, message }, obj.metadata.generation, clock) };
}

/** The object's current status with one condition set (lastTransitionTime kept if status is unchanged). */
export function withCondition(obj: KubeObject, input: ConditionInput, clock: Clock = realClock): StatusWithConditions {
  const status = (obj.status ?? {}) as StatusWithConditions;
  return { ...status, conditions: setCondition(status.conditions, input, obj.metadata.generation, clock) };
}
