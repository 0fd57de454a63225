// The hourly rater: while the leader, rates every hour that ended at least `latenessMs` ago, one
// transaction per hour (rows + watermark), oldest first. A database outage makes it wait and resume
// where the watermark stands: no hour is skipped and none is rated twice.
import { Counter, Gauge } from "prom-client";
import { sleep } from "../runtime/clock.ts";
import type { Manager, Runnable } from "../runtime/manager.ts";
import type { Books } from "./books.ts";
import type { LedgerHandle } from "./handle.ts";
import { RatingCache, rateNextHour, ratedUntil } from "./ledger.ts";

export interface RaterOptions {
  /** How long after an hour ends before it is rated (events may still arrive). */
  latenessMs: number;
  /** How often it looks for an hour to rate when none is due. */
  everyMs: number;
  /** Called after a run of hours was rated (bills recompute). */
  onRated?: (hours: number[]) => void;
  /** Called with the current hour every `refreshEveryMs` (the month's bills exist from its first usage). */
  onTick?: (hour: number) => void;
  /** How often the current month's bills are refreshed when no hour was rated (default 60 s). */
  refreshEveryMs?: number;
}

export class Rater implements Runnable {
  private readonly mgr: Manager;
  private readonly ledger: LedgerHandle;
  private readonly books: Books;
  private readonly opts: RaterOptions;
  private abort?: AbortController;
  private loop?: Promise<void>;
  private readonly rows: Counter;
  private readonly lag: Gauge;
  private readonly cache = new RatingCache();

  constructor(mgr: Manager, ledger: LedgerHandle, books: Books, opts: RaterOptions) {
    this.mgr = mgr;
    this.ledger = ledger;
    this.books = books;
    this.opts = opts;
    this.rows = new Counter({ name: "cellcloud_billing_rated_rows_total", help: "Usage rows written by the hourly rater (adjustments included)", registers: [mgr.metrics.registry] });
    this.lag = new Gauge({ name: "cellcloud_billing_rating_lag_seconds", help: "How far the rating watermark is behind the clock", registers: [mgr.metrics.registry] });
  }

  start(): void {
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.loop = (async () => {
      let failures = 0;
      let refreshed = 0;
      while (!signal.aborted) {
        try {
          const rated = await this.rateDue(signal);
          failures = 0;
          // the month's open bills (month-to-date), also when no hour came due
          if (!rated.length && Date.now() - refreshed >= (this.opts.refreshEveryMs ?? 60_000)) {
            refreshed = Date.now();
            this.opts.onTick?.(this.mgr.clock.now());
          }
        } catch (e) {
          failures++;
          this.mgr.log.warn({ err: e instanceof Error ? e.message : String(e), failures }, "billing: rating waits for the ledger");
        }
        await sleep(failures ? Math.min(30_000, 100 * 2 ** Math.min(failures, 9)) : this.opts.everyMs, signal);
      }
    })();
  }

  /** Rates every due hour (and reports them to onRated); returns them. */
  async rateDue(signal?: AbortSignal): Promise<number[]> {
    const sql = await this.ledger.sql();
    const rated: number[] = [];
    try {
      for (;;) {
        if (signal?.aborted) break;
        const r = await rateNextHour(sql, this.mgr.clock.now(), this.opts.latenessMs, (t, h) => this.books.book(t, h), this.cache);
        if (!r) break;
        this.rows.inc(r.rows);
        rated.push(r.hour);
      }
    } finally {
      // what was rated before a failure is committed: reported too
      if (rated.length) this.opts.onRated?.(rated);
    }
    const until = await ratedUntil(sql);
    if (until !== undefined) this.lag.set(Math.max(0, (this.mgr.clock.now() - until) / 1000));
    return rated;
  }

  async stop(): Promise<void> {
    this.abort?.abort();
    await this.loop;
  }
}
