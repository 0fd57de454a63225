// The ledger's database access: node-postgres (`pg`) pools behind a small tagged-template helper
// (sql`… ${value} …` sends each value as a bind parameter, never as SQL text). pg rather than
// postgres.js: postgres.js 3.4.9 throws an uncatchable TypeError from a deferred socket write when a
// connection is terminated under it (porsager/postgres#1154, #1208: the process dies), which the
// billing chaos test hit on its second connection kill. With pg a terminated connection rejects the
// query in flight and the pool drops the client; an idle client's error is logged, not thrown.
import pg from "pg";
import { from as copyFrom } from "pg-copy-streams";

const INT8 = 20;

/** A query's rows, with how many rows the statement affected (INSERT … ON CONFLICT DO NOTHING: 0 or 1). */
export type Rows<T> = T[] & { count: number };

export interface Sql {
  <T = Record<string, unknown>>(strings: TemplateStringsArray, ...values: unknown[]): Promise<Rows<T>>;
  /** A statement as text with $1… parameters (for identifiers that cannot be parameters, e.g. CREATE DATABASE). */
  unsafe<T = Record<string, unknown>>(text: string, params?: readonly unknown[]): Promise<Rows<T>>;
  /** Runs `fn` in a transaction on one connection: COMMIT when it resolves, ROLLBACK when it throws. */
  begin<R>(fn: (tx: Sql) => Promise<R>): Promise<R>;
  /** COPY … FROM STDIN of `text` (tab-separated rows) on this connection. */
  copyIn(statement: string, text: string): Promise<void>;
  end(): Promise<void>;
}

export interface ConnectOptions { max?: number; connectTimeoutS?: number; appName?: string; onError?: (err: Error) => void }

const types = {
  // int8 as BigInt: counts and money never lose precision
  getTypeParser: ((oid: number, format?: "text" | "binary") => (oid === INT8 ? (v: string) => BigInt(v) : pg.types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser,
};

/** $1, $2… for the template's values. */
function text(strings: TemplateStringsArray): string {
  return strings.reduce((q, s, i) => (i === 0 ? s : `${q}$${i}${s}`), "");
}

/** A script of several statements (a migration) answers with one result each: the last one counts. */
const asRows = <T>(r: pg.QueryResult | pg.QueryResult[]): Rows<T> => {
  const last = Array.isArray(r) ? r.at(-1) : r;
  return Object.assign((last?.rows ?? []) as T[], { count: last?.rowCount ?? 0 });
};
/** A BigInt goes as its decimal text (pg does not serialize BigInt). */
const param = (v: unknown): unknown => (typeof v === "bigint" ? v.toString() : Array.isArray(v) ? v.map(param) : v);

type WithClient = <R>(fn: (c: pg.PoolClient) => Promise<R>) => Promise<R>;

function on(run: (text: string, params: unknown[]) => Promise<pg.QueryResult>, withClient: WithClient): Omit<Sql, "begin" | "end"> {
  const sql = (<T>(strings: TemplateStringsArray, ...values: unknown[]) => run(text(strings), values.map(param)).then((r) => asRows<T>(r))) as Sql;
  return Object.assign(sql, {
    unsafe: <T>(q: string, params: readonly unknown[] = []) => run(q, params.map(param)).then((r) => asRows<T>(r)),
    copyIn: (statement: string, data: string) => withClient((c) => new Promise<void>((resolve, reject) => {
      const stream = c.query(copyFrom(statement));
      stream.on("finish", resolve);
      stream.on("error", reject);
      stream.end(data);
    })),
  });
}

export function connect(url: string, opts: ConnectOptions = {}): Sql {
  const pool = new pg.Pool({
    connectionString: url, max: opts.max ?? 4, idleTimeoutMillis: 30_000, connectionTimeoutMillis: (opts.connectTimeoutS ?? 5) * 1000,
    application_name: opts.appName ?? "cellcloud-billing", types,
  });
  // an idle client whose server went away: the pool drops it; without a listener this would crash
  pool.on("error", (err) => opts.onError?.(err));
  const pooled: WithClient = async (fn) => {
    const c = await pool.connect();
    try {
      const out = await fn(c);
      c.release();
      return out;
    } catch (e) {
      c.release(e instanceof Error ? e : new Error(String(e)));
      throw e;
    }
  };
  const base = on((q, p) => pool.query(q, p), pooled);
  return Object.assign(base, {
    async begin<R>(fn: (tx: Sql) => Promise<R>): Promise<R> {
      const client = await pool.connect();
      let broken: unknown;
      const onError = (e: Error) => { broken = e; };
      client.on("error", onError);
      const tx = Object.assign(on((q, p) => client.query(q, p), (fn) => fn(client)), {
        begin: () => Promise.reject(new Error("nested transactions are not supported")),
        end: () => Promise.resolve(),
      }) as unknown as Sql;
      try {
        await client.query("BEGIN");
        const out = await fn(tx);
        await client.query("COMMIT");
        return out;
      } catch (e) {
        broken ??= e;
        await client.query("ROLLBACK").catch(() => undefined);
        throw e;
      } finally {
        // a client that failed is not handed out again (its connection may be gone)
        client.off("error", onError);
        client.release(broken ? (broken instanceof Error ? broken : new Error(String(broken))) : undefined);
      }
    },
    end: () => pool.end(),
  }) as Sql;
}
