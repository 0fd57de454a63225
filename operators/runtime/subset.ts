// Does `actual` already contain everything `desired` says? Lets a controller skip an apply whose
// outcome is already in its cache, so an idle reconcile makes no API writes at all.
import { isDeepStrictEqual } from "node:util";

export function containsSubset(actual: unknown, desired: unknown): boolean {
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && actual.length === desired.length && desired.every((d, i) => containsSubset(actual[i], d));
  }
  if (typeof desired === "object" && desired !== null) {
    if (typeof actual !== "object" || actual === null || Array.isArray(actual)) return false;
    const a = actual as Record<string, unknown>;
    return Object.entries(desired).every(([k, v]) => v === undefined || containsSubset(a[k], v));
  }
  return isDeepStrictEqual(actual, desired);
}
