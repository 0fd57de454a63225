// metav1.Condition helpers, split by verb as cluster-api does: get, set, and a summary.
// lastTransitionTime moves only when a condition's status changes; observedGeneration is stamped.
import type { Clock } from "./clock.ts";
import { isoSeconds, realClock } from "./clock.ts";

export type ConditionStatus = "True" | "False" | "Unknown";

export interface Condition {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

/** What a reconcile says about a condition; the helpers fill in time and generation. */
export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message?: string;
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === "True";
}

/**
 * Returns a new list with `input` set. An unchanged status keeps the old lastTransitionTime, so
 * re-asserting the same state produces an identical list (and therefore no status write).
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  observedGeneration: number | undefined,
  clock: Clock = realClock,
): Condition[] {
  const old = getCondition(conditions, input.type);
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message ?? "",
    lastTransitionTime:
      old && old.status === input.status ? old.lastTransitionTime : isoSeconds(clock.now()),
    ...(observedGeneration === undefined ? {} : { observedGeneration }),
  };
  const list = conditions ?? [];
  return old ? list.map((c) => (c.type === input.type ? next : c)) : [...list, next];
}

/**
 * A Ready summary over sub-conditions: False (with the first failing condition's reason and message)
 * if any is False, Unknown if any is Unknown or missing, else True with `readyReason`.
 */
export function summarize(
  conditions: readonly Condition[] | undefined,
  types: readonly string[],
  readyReason = "Ready",
): ConditionInput {
  const subs = types.map((t) => getCondition(conditions, t) ?? { type: t, status: "Unknown" as const, reason: "Pending", message: `${t} not reported yet` });
  const bad = subs.find((c) => c.status === "False") ?? subs.find((c) => c.status === "Unknown");
  if (!bad) return { type: "Ready", status: "True", reason: readyReason, message: "" };
  return { type: "Ready", status: bad.status, reason: bad.reason, message: bad.message };
}

/** Up to `max` names, then "and N more": condition and Event messages stay short at any scale. */
export function nameList(names: readonly string[], max = 5): string {
  const shown = names.slice(0, max).join(", ");
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}
