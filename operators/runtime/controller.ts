// The reconcile loop: a work queue of keys, N workers, and controller-runtime's contract.
// reconcile(req) resolves (done), resolves { requeueAfterMs } or throws. An ordinary error is
// retried with per-item exponential backoff; a TerminalError is not, and is handed to onTerminal
// (which records Ready=False) so the user sees why.
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Clock } from "./clock.ts";
import { isTerminal, type TerminalError } from "./errors.ts";
import type { Metrics } from "./metrics.ts";
import { WorkQueue } from "./queue.ts";
import { parseKey, type Request } from "./types.ts";

export type Result = void | { requeueAfterMs: number };

export interface ReconcileContext {
  log: Logger;
  reconcileID: string;
}

export type ReconcileFn = (req: Request, ctx: ReconcileContext) => Promise<Result>;

export interface ControllerOptions {
  name: string;
  reconcile: ReconcileFn;
  log: Logger;
  metrics: Metrics;
  concurrency?: number;
  clock?: Clock;
  onTerminal?: (req: Request, err: TerminalError, log: Logger) => Promise<void>;
}

export class Controller {
  readonly name: string;
  private readonly opts: ControllerOptions;
  private readonly queue: WorkQueue<string>;
  private workers: Promise<void>[] = [];
  private stopping = false;

  constructor(opts: ControllerOptions) {
    this.name = opts.name;
    this.opts = opts;
    this.queue = new WorkQueue<string>({ name: opts.name, metrics: opts.metrics.queue(opts.name), ...(opts.clock ? { clock: opts.clock } : {}) });
  }

  get onTerminal(): ControllerOptions["onTerminal"] {
    return this.opts.onTerminal;
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  /** Enqueues `key` in `delayMs`; more calls before then do not move it later (a burst is one reconcile). */
  enqueueAfter(key: string, delayMs: number): void {
    this.queue.addAfter(key, delayMs);
  }

  get started(): boolean {
    return this.workers.length > 0;
  }

  start(): void {
    if (this.started) return;
    const n = this.opts.concurrency ?? 1;
    this.opts.metrics.maxConcurrent.set({ controller: this.name }, n);
    this.workers = Array.from({ length: n }, () => this.worker());
    this.opts.log.info({ controller: this.name, workers: n }, "controller started");
  }

  /** Stops at once: queued keys are dropped, in-flight reconciles finish, then it resolves. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.queue.shutdownAndDrain();
    await Promise.all(this.workers);
  }

  /**
   * One worker. It yields to the event loop after each key: a reconcile that settles without I/O
   * (every write refused by the leader fence, or a reconcile served from the cache) resolves in
   * microtasks, and a queue of 25,000 such keys then ran in one macrotask, starving timers and
   * sockets: at 30,000 instances the manager neither renewed its lease nor gave it up for 4 minutes,
   * and its health probe did not answer. Go's scheduler preempts; Node's needs this.
   */
  private async worker(): Promise<void> {
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      try {
        if (!this.stopping) await this.process(key);
      } finally {
        this.queue.done(key);
      }
      await yieldToEventLoop();
    }
  }

  private async process(key: string): Promise<void> {
    const req = parseKey(key);
    const reconcileID = randomUUID();
    const log = this.opts.log.child({ controller: this.name, namespace: req.namespace, name: req.name, reconcileID });
    const labels = { controller: this.name };
    const m = this.opts.metrics;
    m.activeWorkers.inc(labels);
    const end = m.reconcileTime.startTimer(labels);
    try {
      const result = await this.opts.reconcile(req, { log, reconcileID });
      this.queue.forget(key);
      if (result && result.requeueAfterMs > 0) {
        this.queue.addAfter(key, result.requeueAfterMs);
        m.reconcileTotal.inc({ ...labels, result: "requeue_after" });
      } else {
        m.reconcileTotal.inc({ ...labels, result: "success" });
      }
    } catch (err) {
      await this.failed(key, req, err, log);
    } finally {
      end();
      m.activeWorkers.dec(labels);
    }
  }

  private async failed(key: string, req: Request, err: unknown, log: Logger): Promise<void> {
    const labels = { controller: this.name };
    this.opts.metrics.reconcileErrors.inc(labels);
    this.opts.metrics.reconcileTotal.inc({ ...labels, result: "error" });
    if (!isTerminal(err)) {
      log.warn({ err: errText(err), retries: this.queue.numRequeues(key) }, "reconcile failed; will retry");
      this.queue.addRateLimited(key);
      return;
    }
    this.opts.metrics.terminalErrors.inc(labels);
    this.queue.forget(key);
    log.warn({ reason: err.reason, err: err.message }, "reconcile failed terminally; not retrying");
    try {
      await this.opts.onTerminal?.(req, err, log);
    } catch (e) {
      log.warn({ err: errText(e) }, "could not record terminal error; will retry");
      this.queue.addRateLimited(key);
    }
  }
}

/** Resolves after the event loop has run its timers and I/O (a macrotask, not a microtask). */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
