// Injected time, so tests control it. Production code takes a Clock instead of calling Date.now().
export interface Clock {
  now(): number;
}

export const realClock: Clock = { now: () => Date.now() };

/** Kubernetes Time (RFC 3339 in whole seconds), as metav1.Time serializes: conditions, status timestamps. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Kubernetes MicroTime (RFC 3339 with microseconds), as Lease and Event timestamps require. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace("Z", "000Z");
}

/** Resolves after `ms`, or at once when the signal aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(t); resolve(); }, { once: true });
  });
}
