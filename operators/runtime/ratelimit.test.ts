// The retry delays must match client-go's, since operators are tuned by those numbers.
import { describe, expect, it } from "vitest";
import type { Clock } from "./clock.ts";
import {
  BucketRateLimiter,
  defaultControllerRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  type RateLimiter,
} from "./ratelimit.ts";

const fakeClock = (start = 1_000_000): Clock & { t: number } => {
  const c = { t: start, now: () => c.t };
  return c;
};

const whenN = <T>(l: RateLimiter<T>, item: T, n: number): number[] => Array.from({ length: n }, () => l.when(item));

describe("ItemExponentialFailureRateLimiter", () => {
  it("doubles from the base delay per failure and counts requeues per item", () => {
    const l = new ItemExponentialFailureRateLimiter<string>();
    expect(whenN(l, "a", 5)).toEqual([5, 10, 20, 40, 80]);
    expect(l.numRequeues("a")).toBe(5);
    expect(l.when("b")).toBe(5);
    expect(l.numRequeues("b")).toBe(1);
  });

  it("caps at 1000 s", () => {
    const l = new ItemExponentialFailureRateLimiter<string>();
    const delays = whenN(l, "a", 30);
    expect(delays[17]).toBe(5 * 2 ** 17); // 655 s, the last uncapped step
    expect(delays[18]).toBe(1_000_000);
    expect(delays.slice(18).every((d) => d === 1_000_000)).toBe(true);
  });

  it("forget resets the item to the base delay", () => {
    const l = new ItemExponentialFailureRateLimiter<string>();
    whenN(l, "a", 4);
    l.forget("a");
    expect(l.numRequeues("a")).toBe(0);
    expect(l.when("a")).toBe(5);
  });

  it("stays finite after thousands of failures, even with a zero base", () => {
    const l = new ItemExponentialFailureRateLimiter<string>();
    const last = whenN(l, "a", 2000).at(-1);
    expect(last).toBe(1_000_000);
    const zero = new ItemExponentialFailureRateLimiter<string>(0, 1000);
    expect(whenN(zero, "a", 2000).every((d) => d === 0)).toBe(true);
  });
});

describe("BucketRateLimiter", () => {
  it("lets a burst through, then spaces callers 1/qps apart", () => {
    const clock = fakeClock();
    const l = new BucketRateLimiter<string>(10, 100, clock);
    expect(whenN(l, "x", 100).every((d) => d === 0)).toBe(true);
    expect(whenN(l, "x", 3)).toEqual([100, 200, 300]);
    expect(l.numRequeues("x")).toBe(0);
  });

  it("refills at qps up to the burst", () => {
    const clock = fakeClock();
    const l = new BucketRateLimiter<string>(10, 100, clock);
    whenN(l, "x", 101); // one token in debt
    clock.t += 200; // two tokens earned
    expect(l.when("x")).toBe(0);
    expect(l.when("x")).toBeCloseTo(100);
    clock.t += 3_600_000;
    expect(whenN(l, "x", 100).every((d) => d === 0)).toBe(true);
    expect(l.when("x")).toBeCloseTo(100);
  });

  it("rejects a non-positive rate", () => {
    expect(() => new BucketRateLimiter<string>(0, 1)).toThrow(RangeError);
  });
});

describe("MaxOfRateLimiter", () => {
  const fixed = (delay: number, requeues: number, forgotten: string[]): RateLimiter<string> => ({
    when: () => delay,
    numRequeues: () => requeues,
    forget: (item) => forgotten.push(item),
  });

  it("returns the largest delay and requeue count and forgets in every limiter", () => {
    const forgotten: string[] = [];
    const l = new MaxOfRateLimiter(fixed(5, 1, forgotten), fixed(50, 3, forgotten), fixed(20, 2, forgotten));
    expect(l.when("a")).toBe(50);
    expect(l.numRequeues("a")).toBe(3);
    l.forget("a");
    expect(forgotten).toEqual(["a", "a", "a"]);
  });

  it("returns 0 with no limiters", () => {
    expect(new MaxOfRateLimiter<string>().when("a")).toBe(0);
  });
});

describe("defaultControllerRateLimiter", () => {
  it("is per-item exponential until the shared 10 qps / burst 100 bucket runs dry", () => {
    const l = defaultControllerRateLimiter<string>(fakeClock());
    expect(whenN(l, "a", 3)).toEqual([5, 10, 20]);
    expect(l.numRequeues("a")).toBe(3);
    const fresh = Array.from({ length: 97 }, (_, i) => l.when(`k${i}`));
    expect(fresh.every((d) => d === 5)).toBe(true);
    expect(l.when("late")).toBe(100); // 101st token: the bucket, not the 5 ms backoff, decides
    l.forget("a");
    expect(l.numRequeues("a")).toBe(0);
  });
});
