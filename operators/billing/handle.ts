// The manager's connection to the ledger: opened and migrated on first use, retried after a failure
// (a database outage makes billing wait, never skip), closed at stop.
import type { Logger } from "pino";
import { connect, migrate, type Sql } from "./ledger.ts";

export class LedgerHandle {
  private readonly url: string;
  private readonly log: Logger;
  private ready?: Promise<Sql>;
  private conn?: Sql;

  constructor(url: string, log: Logger) {
    this.url = url;
    this.log = log;
  }

  /** The migrated connection pool; rejects while the database cannot be reached (callers retry). */
  sql(): Promise<Sql> {
    this.ready ??= (async () => {
      const sql = connect(this.url, { max: 4, onError: (err) => this.log.warn({ err: err.message }, "billing ledger connection lost; the next query reconnects") });
      try {
        const applied = await migrate(sql);
        if (applied.length) this.log.info({ applied }, "billing ledger migrated");
        this.conn = sql;
        return sql;
      } catch (e) {
        await sql.end().catch(() => undefined);
        throw e;
      }
    })();
    const p = this.ready;
    p.catch(() => { if (this.ready === p) this.ready = undefined; });
    return p;
  }

  async close(): Promise<void> {
    await this.conn?.end().catch(() => undefined);
  }
}
