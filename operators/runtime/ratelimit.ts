// Per-item retry delays for the work queue, ported from client-go's workqueue rate limiters:
// exponential backoff per key, a shared token bucket, and the max of the two as the default.
import { backoffDelay } from "./backoff.ts";
import { type Clock, realClock } from "./clock.ts";

export interface RateLimiter<T> {
  /** Delay in ms before `item` may be retried; also records the attempt. */
  when(item: T): number;
  /** Stops tracking `item` (it succeeded); its next failure starts from the base delay. */
  forget(item: T): void;
  numRequeues(item: T): number;
}

export class ItemExponentialFailureRateLimiter<T> implements RateLimiter<T> {
  private readonly failures = new Map<T, number>();
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;

  constructor(baseDelayMs = 5, maxDelayMs = 1_000_000) {
    this.baseDelayMs = baseDelayMs;
    this.maxDelayMs = maxDelayMs;
  }

  when(item: T): number {
    const exp = this.failures.get(item) ?? 0;
    this.failures.set(item, exp + 1);
    return backoffDelay({ initialMs: this.baseDelayMs, maxMs: this.maxDelayMs }, exp);
  }

  forget(item: T): void {
    this.failures.delete(item);
  }

  numRequeues(item: T): number {
    return this.failures.get(item) ?? 0;
  }
}

/** golang.org/x/time/rate's Limiter.Reserve().Delay(): tokens may go negative, queueing callers. */
export class BucketRateLimiter<T> implements RateLimiter<T> {
  private readonly qps: number;
  private readonly burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private last: number;

  constructor(qps = 10, burst = 100, clock: Clock = realClock) {
    if (!(qps > 0) || !(burst >= 1)) throw new RangeError(`BucketRateLimiter needs qps > 0 and burst >= 1, got ${qps}/${burst}`);
    this.qps = qps;
    this.burst = burst;
    this.clock = clock;
    this.tokens = burst;
    this.last = clock.now();
  }

  when(_item: T): number {
    const now = this.clock.now();
    // A clock that steps backwards must not mint tokens (x/time/rate does the same).
    const elapsedMs = Math.max(0, now - this.last);
    this.tokens = Math.min(this.burst, this.tokens + (elapsedMs * this.qps) / 1000) - 1;
    this.last = now;
    return this.tokens >= 0 ? 0 : (-this.tokens * 1000) / this.qps;
  }

  forget(_item: T): void {}

  numRequeues(_item: T): number {
    return 0;
  }
}

export class MaxOfRateLimiter<T> implements RateLimiter<T> {
  private readonly limiters: RateLimiter<T>[];

  constructor(...limiters: RateLimiter<T>[]) {
    this.limiters = limiters;
  }

  // Every limiter must see every call (the bucket reserves a token), so no short-circuiting.
  when(item: T): number {
    return this.limiters.reduce((max, l) => Math.max(max, l.when(item)), 0);
  }

  forget(item: T): void {
    for (const l of this.limiters) l.forget(item);
  }

  numRequeues(item: T): number {
    return this.limiters.reduce((max, l) => Math.max(max, l.numRequeues(item)), 0);
  }
}

/** client-go's DefaultControllerRateLimiter: per-item 5ms..1000s backoff, overall 10 qps / burst 100. */
export function defaultControllerRateLimiter<T>(clock: Clock = realClock): RateLimiter<T> {
  return new MaxOfRateLimiter<T>(
    new ItemExponentialFailureRateLimiter<T>(5, 1_000_000),
    new BucketRateLimiter<T>(10, 100, clock),
  );
}
