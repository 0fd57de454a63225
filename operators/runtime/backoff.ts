// The one exponential backoff every retry loop uses (work queue, informer re-watch, required
// objects, conflict retries, the scheduler's bind retries): initial × 2^attempt, capped, with
// optional jitter so many retrying clients do not hit the apiserver in step.

export interface Backoff {
  initialMs: number;
  maxMs: number;
  /** 0 (none) to 1: the delay is drawn from [d × (1 − jitter), d]. */
  jitter?: number;
}

// 2 ** 1024 is Infinity and 0 * Infinity is NaN, so the exponent is capped well before that.
const MAX_EXPONENT = 1023;

/** The delay before retry number `attempt` (0 for the first retry). */
export function backoffDelay(b: Backoff, attempt: number, random: () => number = Math.random): number {
  const d = Math.min(b.maxMs, b.initialMs * 2 ** Math.min(Math.max(0, attempt), MAX_EXPONENT));
  const jitter = b.jitter ?? 0;
  return jitter > 0 ? Math.round(d * (1 - jitter * random())) : d;
}
