// The work queue's contract with workers: dedup, one worker per key, FIFO, delays, drain on shutdown.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Clock } from "./clock.ts";
import { type QueueMetrics, WorkQueue } from "./queue.ts";
import { ItemExponentialFailureRateLimiter, type RateLimiter } from "./ratelimit.ts";

/** Observes a promise without awaiting it, so a test can assert it is still pending. */
function track<T>(p: Promise<T>): { settled: boolean; value: T | undefined } {
  const s: { settled: boolean; value: T | undefined } = { settled: false, value: undefined };
  void p.then((v) => {
    s.settled = true;
    s.value = v;
  });
  return s;
}

// Microtasks only, so it works the same under fake timers.
const tick = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

const newQueue = (opts: { rateLimiter?: RateLimiter<string>; clock?: Clock; metrics?: QueueMetrics } = {}) =>
  new WorkQueue<string>({ name: "test", ...opts });

describe("WorkQueue basics", () => {
  it("dedups an item that is already queued", async () => {
    const q = newQueue();
    q.add("a");
    q.add("a");
    q.add("a");
    expect(q.len()).toBe(1);
    expect(await q.get()).toBe("a");
    expect(q.len()).toBe(0);
    const next = track(q.get());
    await tick();
    expect(next.settled).toBe(false);
  });

  it("never hands an item to a second worker while it is processing", async () => {
    const q = newQueue();
    q.add("a");
    expect(await q.get()).toBe("a");
    q.add("a");
    q.add("a");
    expect(q.len()).toBe(0);
    const second = track(q.get());
    await tick();
    expect(second.settled).toBe(false);

    q.done("a");
    await tick();
    expect(second.value).toBe("a");
    const third = track(q.get());
    await tick();
    expect(third.settled).toBe(false);
    q.done("a");
    await tick();
    expect(third.settled).toBe(false);
  });

  it("ignores a done() for an item that is not processing", async () => {
    const q = newQueue();
    q.add("a");
    q.done("a");
    expect(q.len()).toBe(1);
  });

  it("hands items out in FIFO order", async () => {
    const q = newQueue();
    for (const k of ["a", "b", "c"]) q.add(k);
    expect([await q.get(), await q.get(), await q.get()]).toEqual(["a", "b", "c"]);
  });

  it("serves concurrent waiters in the order they called get()", async () => {
    const q = newQueue();
    const waiters = [track(q.get()), track(q.get()), track(q.get())];
    q.add("x");
    q.add("y");
    await tick();
    expect(waiters.map((w) => w.value)).toEqual(["x", "y", undefined]);
    expect(waiters[2]?.settled).toBe(false);
    q.add("z");
    await tick();
    expect(waiters[2]?.value).toBe("z");
  });

  it("keeps FIFO order across 30k interleaved adds and gets", async () => {
    const q = newQueue();
    const out: string[] = [];
    for (let i = 0; i < 30_000; i++) {
      q.add(`k${i}`);
      if (i % 3 === 2) out.push((await q.get()) ?? "");
    }
    while (q.len() > 0) out.push((await q.get()) ?? "");
    expect(out).toHaveLength(30_000);
    expect(out.every((k, i) => k === `k${i}`)).toBe(true);
  });
});

describe("WorkQueue delays", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("adds an item once its delay passes; a delay <= 0 adds it now", () => {
    const q = newQueue();
    q.addAfter("a", 100);
    vi.advanceTimersByTime(99);
    expect(q.len()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.len()).toBe(1);
    q.addAfter("b", 0);
    q.addAfter("c", -5);
    expect(q.len()).toBe(3);
  });

  it("keeps the earliest deadline when an item is delayed several times", async () => {
    const q = newQueue();
    q.addAfter("a", 500);
    q.addAfter("a", 100);
    q.addAfter("a", 300);
    vi.advanceTimersByTime(100);
    expect(q.len()).toBe(1);
    q.done((await q.get()) ?? "");
    vi.advanceTimersByTime(10_000);
    expect(q.len()).toBe(0);
  });

  it("delays addRateLimited by the limiter and resets on forget", async () => {
    const q = newQueue({ rateLimiter: new ItemExponentialFailureRateLimiter<string>(5, 1000) });
    q.addRateLimited("a");
    expect(q.numRequeues("a")).toBe(1);
    vi.advanceTimersByTime(4);
    expect(q.len()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.len()).toBe(1);
    q.done((await q.get()) ?? "");

    q.addRateLimited("a");
    vi.advanceTimersByTime(9);
    expect(q.len()).toBe(0);
    vi.advanceTimersByTime(1);
    expect(q.len()).toBe(1);
    q.forget("a");
    expect(q.numRequeues("a")).toBe(0);
  });

  it("cancels pending delays on shutdown", async () => {
    const q = newQueue();
    q.addAfter("a", 100);
    q.shutdown();
    vi.advanceTimersByTime(1000);
    expect(q.len()).toBe(0);
    expect(await q.get()).toBeUndefined();
  });
});

describe("WorkQueue delay timers", () => {
  it("do not keep the process alive", () => {
    const spy = vi.spyOn(globalThis, "setTimeout");
    try {
      const q = newQueue();
      q.addAfter("a", 60_000);
      const timer = spy.mock.results[0]?.value as NodeJS.Timeout;
      expect(timer.hasRef()).toBe(false);
      q.shutdown();
    } finally {
      spy.mockRestore();
    }
  });
});

describe("WorkQueue shutdown", () => {
  it("wakes a waiting get() with undefined", async () => {
    const q = newQueue();
    const waiter = track(q.get());
    q.shutdown();
    await tick();
    expect(waiter.settled).toBe(true);
    expect(waiter.value).toBeUndefined();
    expect(q.shuttingDown).toBe(true);
  });

  it("drains queued items, then returns undefined, and ignores new adds", async () => {
    const q = newQueue();
    q.add("a");
    q.add("b");
    q.shutdown();
    q.add("c");
    q.addAfter("d", 0);
    q.addRateLimited("e");
    expect(q.len()).toBe(2);
    expect(await q.get()).toBe("a");
    expect(await q.get()).toBe("b");
    expect(await q.get()).toBeUndefined();
    expect(q.numRequeues("e")).toBe(0);
  });

  it("shutdownAndDrain resolves only after in-flight items are done", async () => {
    const q = newQueue();
    q.add("a");
    q.add("b");
    const a = await q.get();
    const b = await q.get();
    const drained = track(q.shutdownAndDrain());
    await tick();
    expect(drained.settled).toBe(false);
    q.done(a ?? "");
    await tick();
    expect(drained.settled).toBe(false);
    q.done(b ?? "");
    await tick();
    expect(drained.settled).toBe(true);
  });

  it("shutdownAndDrain resolves at once when nothing is processing", async () => {
    const q = newQueue();
    await expect(q.shutdownAndDrain()).resolves.toBeUndefined();
  });
});

describe("WorkQueue metrics", () => {
  it("reports depth, adds, retries, queue latency and work duration", async () => {
    const clock = { t: 0, now: () => clock.t };
    const metrics = { depth: vi.fn(), added: vi.fn(), retry: vi.fn(), queueLatency: vi.fn(), workDuration: vi.fn() };
    const q = newQueue({ clock, metrics, rateLimiter: new ItemExponentialFailureRateLimiter<string>(0, 0) });

    q.add("a");
    clock.t = 500;
    q.add("a"); // deduped, still counted as an add
    q.add("b");
    expect(metrics.added).toHaveBeenCalledTimes(3);
    expect(metrics.depth.mock.calls.map(([n]) => n)).toEqual([1, 2]);

    clock.t = 2000;
    expect(await q.get()).toBe("a");
    expect(metrics.queueLatency).toHaveBeenLastCalledWith(2); // measured from the first add
    expect(metrics.depth).toHaveBeenLastCalledWith(1);

    clock.t = 2250;
    q.done("a");
    expect(metrics.workDuration).toHaveBeenCalledWith(0.25);

    q.addRateLimited("a");
    expect(metrics.retry).toHaveBeenCalledTimes(1);
    expect(metrics.depth).toHaveBeenLastCalledWith(2);
  });
});
