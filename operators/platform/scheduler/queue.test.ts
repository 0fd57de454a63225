import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { SchedulingQueue } from "./queue.ts";

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

/** Pops what is ready now, without waiting. */
async function drain(q: SchedulingQueue): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const next = await Promise.race([q.pop(), Promise.resolve("<empty>")]);
    if (next === "<empty>" || next === undefined) return out;
    out.push(next);
  }
}

describe("SchedulingQueue", () => {
  it("pops higher priority first, then in arrival order, each key once", async () => {
    const q = new SchedulingQueue();
    q.add("low-1", 0);
    q.add("high", 100);
    q.add("low-2", 0);
    q.add("low-1", 0); // duplicate
    q.add("mid", 10);
    expect(await drain(q)).toEqual(["high", "mid", "low-1", "low-2"]);
  });

  it("an unschedulable pod waits for a cluster change, then retries after its backoff", async () => {
    const q = new SchedulingQueue({ initialBackoffMs: 1000, maxBackoffMs: 4000 });
    q.add("p", 0);
    expect(await drain(q)).toEqual(["p"]);
    q.unschedulableNow("p");
    vi.advanceTimersByTime(60_000);
    expect(await drain(q)).toEqual([]);
    expect(q.pending.unschedulable).toBe(1);
    q.moveAllToActive();
    expect(await drain(q)).toEqual([]); // backing off
    vi.advanceTimersByTime(1000);
    expect(await drain(q)).toEqual(["p"]);
    // second failure: the backoff doubles
    q.unschedulableNow("p");
    q.moveAllToActive();
    vi.advanceTimersByTime(1999);
    expect(await drain(q)).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(await drain(q)).toEqual(["p"]);
  });

  it("a change that arrives while the pod is in flight is not lost", async () => {
    const q = new SchedulingQueue({ initialBackoffMs: 10 });
    q.add("p", 0);
    await drain(q);
    q.moveAllToActive(); // e.g. a node was added during the attempt
    q.unschedulableNow("p");
    expect(q.pending.unschedulable).toBe(0);
    vi.advanceTimersByTime(10);
    expect(await drain(q)).toEqual(["p"]);
  });

  it("a changed pod skips its backoff; a removed one is gone everywhere", async () => {
    const q = new SchedulingQueue();
    q.add("a", 0);
    q.add("b", 0);
    await drain(q);
    q.retryLater("a");
    q.unschedulableNow("b");
    q.add("a", 0); // its spec changed
    q.remove("b");
    expect(await drain(q)).toEqual(["a"]);
    expect(q.has("b")).toBe(false);
  });

  it("unschedulable pods are retried after the maximum wait even without a change", async () => {
    const q = new SchedulingQueue({ initialBackoffMs: 1, maxUnschedulableMs: 1000 });
    q.add("p", 0);
    await drain(q);
    q.unschedulableNow("p");
    vi.advanceTimersByTime(999);
    q.flushUnschedulable();
    expect(q.pending.unschedulable).toBe(1);
    vi.advanceTimersByTime(1);
    q.flushUnschedulable();
    vi.advanceTimersByTime(1);
    expect(await drain(q)).toEqual(["p"]);
  });

  it("park() moves a queued gang member aside; close() ends pop()", async () => {
    const q = new SchedulingQueue();
    q.add("g-1", 0);
    q.add("g-2", 0);
    q.park("g-2");
    expect(await drain(q)).toEqual(["g-1"]);
    expect(q.pending.unschedulable).toBe(1);
    const waiting = q.pop();
    q.close();
    expect(await waiting).toBeUndefined();
  });
});
