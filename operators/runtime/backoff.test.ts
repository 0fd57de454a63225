import { describe, expect, it } from "vitest";
import { backoffDelay } from "./backoff.ts";

describe("backoffDelay", () => {
  it("doubles from the initial delay up to the cap", () => {
    const b = { initialMs: 5, maxMs: 1000 };
    expect([0, 1, 2, 3, 10, 50].map((n) => backoffDelay(b, n))).toEqual([5, 10, 20, 40, 1000, 1000]);
  });

  it("never overflows to Infinity or NaN at huge attempt counts", () => {
    expect(backoffDelay({ initialMs: 5, maxMs: 1_000_000 }, 5000)).toBe(1_000_000);
    expect(backoffDelay({ initialMs: 0, maxMs: 100 }, 5000)).toBe(0);
  });

  it("draws jitter below the delay, never above it", () => {
    const b = { initialMs: 100, maxMs: 10_000, jitter: 0.5 };
    expect(backoffDelay(b, 2, () => 0)).toBe(400);
    expect(backoffDelay(b, 2, () => 1)).toBe(200);
    expect(backoffDelay(b, 2, () => 0.5)).toBe(300);
  });
});
