// The scheduling queue, after kube-scheduler's: an active heap (higher priority first, then first
// come), a backoff set for pods whose last attempt failed recently, and an unschedulable set that
// waits for the cluster to change. A pod is in at most one of them, or in flight (popped, not yet
// settled). Uses its clock and setTimeout, so tests drive it with fake timers.
import { backoffDelay } from "../../runtime/backoff.ts";
import { type Clock, realClock } from "../../runtime/clock.ts";

interface Entry {
  key: string;
  priority: number;
  seq: number;
}

const before = (a: Entry, b: Entry): boolean => a.priority > b.priority || (a.priority === b.priority && a.seq < b.seq);

class Heap {
  private items: Entry[] = [];
  private readonly index = new Map<string, number>();

  get size(): number {
    return this.items.length;
  }

  has(key: string): boolean {
    return this.index.has(key);
  }

  push(e: Entry): void {
    this.items.push(e);
    this.index.set(e.key, this.items.length - 1);
    this.up(this.items.length - 1);
  }

  pop(): Entry | undefined {
    const top = this.items[0];
    if (top) this.removeAt(0);
    return top;
  }

  remove(key: string): void {
    const i = this.index.get(key);
    if (i !== undefined) this.removeAt(i);
  }

  private removeAt(i: number): void {
    const last = this.items.pop() as Entry;
    this.index.delete(this.items[i]?.key ?? last.key);
    if (i < this.items.length) {
      this.items[i] = last;
      this.index.set(last.key, i);
      this.down(i);
      this.up(i);
    }
  }

  private swap(i: number, j: number): void {
    const a = this.items[i] as Entry;
    const b = this.items[j] as Entry;
    this.items[i] = b;
    this.items[j] = a;
    this.index.set(b.key, i);
    this.index.set(a.key, j);
  }

  private up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(this.items[i] as Entry, this.items[parent] as Entry)) return;
      this.swap(i, parent);
      i = parent;
    }
  }

  private down(i: number): void {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < this.items.length && before(this.items[l] as Entry, this.items[best] as Entry)) best = l;
      if (r < this.items.length && before(this.items[r] as Entry, this.items[best] as Entry)) best = r;
      if (best === i) return;
      this.swap(i, best);
      i = best;
    }
  }
}

export interface QueueOptions {
  initialBackoffMs?: number; // kube-scheduler: 1 s
  maxBackoffMs?: number; // kube-scheduler: 10 s
  /** Unschedulable pods are retried after this long even if nothing changed (kube-scheduler: 5 min). */
  maxUnschedulableMs?: number;
  clock?: Clock;
}

export class SchedulingQueue {
  private readonly active = new Heap();
  private readonly backoff = new Map<string, { entry: Entry; until: number }>();
  private readonly unschedulable = new Map<string, { entry: Entry; since: number }>();
  private readonly inFlight = new Map<string, { moved: boolean }>();
  private readonly attempts = new Map<string, number>();
  private readonly priorities = new Map<string, number>();
  private seq = 0;
  private waiter?: () => void;
  private timer?: ReturnType<typeof setTimeout>;
  private timerAt = Infinity;
  private closed = false;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxUnschedulableMs: number;
  private readonly clock: Clock;

  constructor(opts: QueueOptions = {}) {
    this.clock = opts.clock ?? realClock;
    this.initialBackoffMs = opts.initialBackoffMs ?? 1000;
    this.maxBackoffMs = opts.maxBackoffMs ?? 10_000;
    this.maxUnschedulableMs = opts.maxUnschedulableMs ?? 5 * 60_000;
  }

  /** Pods waiting in any of the three sets (not in flight). */
  get pending(): { active: number; backoff: number; unschedulable: number } {
    return { active: this.active.size, backoff: this.backoff.size, unschedulable: this.unschedulable.size };
  }

  has(key: string): boolean {
    return this.active.has(key) || this.backoff.has(key) || this.unschedulable.has(key) || this.inFlight.has(key);
  }

  /**
   * A pod that should be scheduled, new or changed: to the active heap at once, since a change may
   * be what it was waiting for. A pod in flight is marked, so a failed attempt retries it soon.
   */
  add(key: string, priority: number): void {
    this.priorities.set(key, priority);
    const flight = this.inFlight.get(key);
    if (flight) {
      flight.moved = true;
      return;
    }
    if (this.active.has(key)) return;
    this.backoff.delete(key);
    this.unschedulable.delete(key);
    this.push(key);
  }

  /** The pod is gone, bound, or no longer ours. */
  remove(key: string): void {
    this.active.remove(key);
    this.backoff.delete(key);
    this.unschedulable.delete(key);
    this.inFlight.delete(key);
    this.attempts.delete(key);
    this.priorities.delete(key);
  }

  /** The next pod to try, highest priority first; undefined once closed. It stays in flight until settled. */
  async pop(): Promise<string | undefined> {
    for (;;) {
      if (this.closed) return undefined;
      this.flushBackoff();
      const e = this.active.pop();
      if (e) {
        this.inFlight.set(e.key, { moved: false });
        return e.key;
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  /** Settles a popped pod that did not fit: it waits for a cluster change (or retries soon if one came in flight). */
  unschedulableNow(key: string): void {
    const flight = this.settle(key);
    if (!flight) return;
    const entry = this.entry(key);
    if (flight.moved) this.toBackoff(entry);
    else this.unschedulable.set(key, { entry, since: this.clock.now() });
  }

  /** Settles a popped pod whose attempt failed for a transient reason (a failed bind): retry after backoff. */
  retryLater(key: string): void {
    if (!this.settle(key)) return;
    this.toBackoff(this.entry(key));
  }

  /** Settles a popped pod that was placed (assumed and bound, or waiting for victims to go). */
  done(key: string): void {
    this.settle(key);
    this.attempts.delete(key);
  }

  /** A queued pod (not in flight) that another pod's attempt showed cannot fit yet: wait for a change. */
  park(key: string): void {
    if (this.inFlight.has(key) || this.unschedulable.has(key)) return;
    if (!this.active.has(key) && !this.backoff.has(key)) return;
    this.active.remove(key);
    this.backoff.delete(key);
    this.unschedulable.set(key, { entry: this.entry(key), since: this.clock.now() });
  }

  /** The cluster changed in a way that may let pods fit: every unschedulable pod goes to backoff or active. */
  moveAllToActive(): void {
    for (const flight of this.inFlight.values()) flight.moved = true;
    if (this.unschedulable.size === 0) return;
    const entries = [...this.unschedulable.values()].map((u) => u.entry);
    this.unschedulable.clear();
    for (const e of entries) this.toBackoff(e);
  }

  /** Retries unschedulable pods that have waited too long (call periodically). */
  flushUnschedulable(): void {
    const now = this.clock.now();
    for (const [key, u] of this.unschedulable) {
      if (now - u.since < this.maxUnschedulableMs) continue;
      this.unschedulable.delete(key);
      this.toBackoff(u.entry);
    }
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.wake();
  }

  private settle(key: string): { moved: boolean } | undefined {
    const flight = this.inFlight.get(key);
    this.inFlight.delete(key);
    return flight;
  }

  private entry(key: string): Entry {
    return { key, priority: this.priorities.get(key) ?? 0, seq: this.seq++ };
  }

  private push(key: string): void {
    this.active.push(this.entry(key));
    this.wake();
  }

  private toBackoff(entry: Entry): void {
    const n = (this.attempts.get(entry.key) ?? 0) + 1;
    this.attempts.set(entry.key, n);
    const delay = backoffDelay({ initialMs: this.initialBackoffMs, maxMs: this.maxBackoffMs }, n - 1);
    const until = this.clock.now() + delay;
    this.backoff.set(entry.key, { entry, until });
    this.armTimer(until);
  }

  private flushBackoff(): void {
    const now = this.clock.now();
    let next = Infinity;
    for (const [key, b] of this.backoff) {
      if (b.until <= now) {
        this.backoff.delete(key);
        this.active.push({ ...b.entry, seq: this.seq++ });
      } else {
        next = Math.min(next, b.until);
      }
    }
    if (next < Infinity) this.armTimer(next);
  }

  private armTimer(at: number): void {
    if (this.closed || at >= this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerAt = Infinity;
      this.flushBackoff();
      if (this.active.size > 0) this.wake();
    }, Math.max(0, at - this.clock.now()));
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
