// The controller work queue: client-go's rate-limited, delaying workqueue.Type for string keys.
// A key is queued at most once and never handed to two workers at once (queue/dirty/processing).
import { type Clock, realClock } from "./clock.ts";
import { defaultControllerRateLimiter, type RateLimiter } from "./ratelimit.ts";

export interface QueueMetrics {
  /** Called whenever the number of queued (not processing) items changes. */
  depth?(n: number): void;
  /** Each add() accepted while not shutting down, deduped ones included. */
  added?(): void;
  /** Time from the first add to get(). */
  queueLatency?(seconds: number): void;
  /** Time from get() to done(). */
  workDuration?(seconds: number): void;
  /** Each addRateLimited(). */
  retry?(): void;
}

export interface WorkQueueOptions<T> {
  name: string;
  rateLimiter?: RateLimiter<T>;
  clock?: Clock;
  metrics?: QueueMetrics;
}

// setTimeout fires at once for delays beyond 2^31-1 ms (~24.8 days); requeueing early is harmless
// for level-triggered reconcilers, firing in a tight loop is not.
const MAX_TIMER_MS = 2 ** 31 - 1;
const COMPACT_AT = 1024;

/** FIFO with O(1) amortised shift: a head index, compacted once the dead prefix dominates. */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined; // let the key be collected
    if (this.head >= COMPACT_AT && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

type Waiter<T> = (item: T | undefined) => void;

interface Delay {
  at: number;
  timer: NodeJS.Timeout;
}

export class WorkQueue<T extends string = string> {
  readonly name: string;
  private readonly rateLimiter: RateLimiter<T>;
  private readonly clock: Clock;
  private readonly metrics: QueueMetrics;
  private readonly queue = new Fifo<T>();
  /** Items that need processing: queued, or re-added while processing. */
  private readonly dirty = new Set<T>();
  private readonly processing = new Set<T>();
  private readonly waiters = new Fifo<Waiter<T>>();
  private readonly delays = new Map<T, Delay>();
  private readonly addedAt = new Map<T, number>();
  private readonly startedAt = new Map<T, number>();
  private drained: (() => void)[] = [];
  private stopping = false;

  constructor(opts: WorkQueueOptions<T>) {
    this.name = opts.name;
    this.clock = opts.clock ?? realClock;
    this.rateLimiter = opts.rateLimiter ?? defaultControllerRateLimiter<T>(this.clock);
    this.metrics = opts.metrics ?? {};
  }

  get shuttingDown(): boolean {
    return this.stopping;
  }

  add(item: T): void {
    if (this.stopping) return;
    this.metrics.added?.();
    if (this.dirty.has(item)) return;
    this.dirty.add(item);
    if (!this.addedAt.has(item)) this.addedAt.set(item, this.clock.now());
    // done() queues it again; queueing it now could hand it to a second worker.
    if (this.processing.has(item)) return;
    this.enqueue(item);
  }

  /** Several pending delays for one item keep the earliest deadline, as client-go's waitingForQueue. */
  addAfter(item: T, delayMs: number): void {
    if (this.stopping) return;
    if (!(delayMs > 0)) return this.add(item);
    const at = this.clock.now() + delayMs;
    const pending = this.delays.get(item);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.delays.delete(item);
      this.add(item);
    }, Math.min(delayMs, MAX_TIMER_MS));
    timer.unref(); // a pending retry must not keep the process alive
    this.delays.set(item, { at, timer });
  }

  addRateLimited(item: T): void {
    if (this.stopping) return;
    this.metrics.retry?.();
    this.addAfter(item, this.rateLimiter.when(item));
  }

  forget(item: T): void {
    this.rateLimiter.forget(item);
  }

  numRequeues(item: T): number {
    return this.rateLimiter.numRequeues(item);
  }

  get(): Promise<T | undefined> {
    if (this.queue.length > 0) return Promise.resolve(this.take());
    if (this.stopping) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  done(item: T): void {
    // A stray done() must not queue a dirty item a second time.
    if (!this.processing.has(item)) return;
    const started = this.startedAt.get(item);
    if (started !== undefined) this.metrics.workDuration?.((this.clock.now() - started) / 1000);
    this.startedAt.delete(item);
    this.processing.delete(item);
    if (this.dirty.has(item)) this.enqueue(item);
    if (this.processing.size === 0) this.resolveDrained();
  }

  len(): number {
    return this.queue.length;
  }

  shutdown(): void {
    this.stopping = true;
    for (const { timer } of this.delays.values()) clearTimeout(timer);
    this.delays.clear();
    // Waiters only exist while the queue is empty, so every one of them is told to stop.
    for (let w = this.waiters.shift(); w; w = this.waiters.shift()) w(undefined);
  }

  shutdownAndDrain(): Promise<void> {
    this.shutdown();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drained.push(resolve));
  }

  private enqueue(item: T): void {
    this.queue.push(item);
    this.metrics.depth?.(this.queue.length);
    const waiter = this.waiters.shift();
    if (waiter) waiter(this.take());
  }

  /** Hands out the head item; the caller guarantees the queue is not empty. */
  private take(): T {
    const item = this.queue.shift() as T;
    this.metrics.depth?.(this.queue.length);
    this.dirty.delete(item);
    this.processing.add(item);
    const now = this.clock.now();
    const added = this.addedAt.get(item);
    if (added !== undefined) this.metrics.queueLatency?.((now - added) / 1000);
    this.addedAt.delete(item);
    this.startedAt.set(item, now);
    return item;
  }

  private resolveDrained(): void {
    const drained = this.drained;
    this.drained = [];
    for (const resolve of drained) resolve();
  }
}
