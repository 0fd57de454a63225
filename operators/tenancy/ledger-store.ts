// Writes to a root tenant's QuotaLedger, as kube-apiserver's ResourceQuota admission writes quota
// status: every change is a compare-and-swap (a merge patch carrying the resourceVersion it was
// computed from), changes queued while a write is in flight go out together in the next write, a
// conflict re-reads the ledger and re-decides every queued change, and the store trusts its own last
// successful write over a cache that has not caught up with it.
import { QuotaLedger, QuotaLedgerRef } from "../api/tenancy.ts";
import type { Condition } from "../runtime/conditions.ts";
import type { Informer } from "../runtime/informer.ts";
import { isConflict, isAlreadyExists, type KubeClient } from "../runtime/kube.ts";
import type { KubeObject, OwnerReference } from "../runtime/types.ts";
import { decodeLedger, ledgerPatch, type StoredLedger } from "./charges.ts";
import { emptyLedger, type Ledger } from "./ledger.ts";

export const LedgerRef = QuotaLedgerRef;

/** A new, empty QuotaLedger for `root` (the tenant controller makes it; the store if it finds none). */
export function ledgerObject(root: string, ownerReferences?: OwnerReference[]): LedgerObject {
  return { apiVersion: QuotaLedger.apiVersion, kind: QuotaLedger.kind, metadata: { name: root, ...(ownerReferences ? { ownerReferences } : {}) }, spec: { tenant: root } };
}

export interface LedgerObject extends KubeObject {
  spec: { tenant: string; description?: string };
  status?: StoredLedger & { lastCorrection?: string; conditions?: Condition[]; observedGeneration?: number };
}

/** Decides a change from the current ledger; returns the ledger to store (the same object: no write) and a result. */
export type Change<T> = (ledger: Ledger, now: number) => { ledger: Ledger; result: T };

interface Pending {
  change: Change<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

const MAX_ATTEMPTS = 8;

export class LedgerStore {
  private readonly queues = new Map<string, Pending[]>();
  private readonly deferred = new Map<string, Pending[]>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private decoded?: { root: string; rv: string; ledger: Ledger };
  private readonly flushing = new Set<string>();
  /** The last ledger this store wrote or read, per root, with its resourceVersion. */
  private readonly known = new Map<string, { rv: string; ledger: Ledger }>();
  private readonly client: KubeClient;
  private readonly informer: Informer<LedgerObject>;
  private readonly now: () => number;
  /** Ledger writes made (a batch is one write), and how many of them met a newer ledger. */
  writes = 0;
  conflicts = 0;
  private readonly waiters = new Map<string, Array<() => void>>();

  /** Owner references for a ledger the store has to create (its root Tenant). */
  private readonly owner: (root: string) => OwnerReference[] | undefined;

  constructor(client: KubeClient, informer: Informer<LedgerObject>, owner: (root: string) => OwnerReference[] | undefined, now: () => number = Date.now) {
    this.client = client;
    this.informer = informer;
    informer.addHandler((_t, o) => {
      const waiting = this.waiters.get(o.metadata.name);
      this.waiters.delete(o.metadata.name);
      for (const w of waiting ?? []) w();
    });
    this.owner = owner;
    this.now = now;
  }

  /** The ledger of `root` as last known (own write, else the cache). */
  current(root: string): Ledger {
    return this.latest(root)?.ledger ?? emptyLedger();
  }

  /** The newest version of `root`'s ledger this store knows: its own last write, or the cache's if that is newer. */
  private latest(root: string): { rv: string; ledger: Ledger } | undefined {
    const cached = this.informer.get(root);
    const mine = this.known.get(root);
    if (mine && (!cached || Number(cached.metadata.resourceVersion) <= Number(mine.rv))) return mine;
    return cached ? { rv: cached.metadata.resourceVersion ?? "", ledger: this.decode(root, cached) } : undefined;
  }

  /** The cached ledger decoded, remembered for its resourceVersion (readers ask often, it changes less). */
  private decode(root: string, cached: LedgerObject): Ledger {
    const rv = cached.metadata.resourceVersion ?? "";
    if (this.decoded?.root === root && this.decoded.rv === rv) return this.decoded.ledger;
    const ledger = decodeLedger(cached.status);
    this.decoded = { root, rv, ledger };
    return ledger;
  }

  /** Queues `change` for `root`'s ledger; resolves with its result once the ledger holding it is stored. */
  run<T>(root: string, change: Change<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const q = this.queues.get(root) ?? [];
      q.push({ change, resolve: resolve as (v: unknown) => void, reject });
      this.queues.set(root, q);
      if (!this.flushing.has(root)) void this.flush(root);
    });
  }

  /**
   * As run(), for changes that may wait up to `waitMs` (commits, releases): they ride along with
   * the next admission's write, or go out on their own when the wait is over. A write costs about
   * the same whatever it carries, and an admission queued behind one waits for it.
   */
  defer<T>(root: string, change: Change<T>, waitMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const q = this.deferred.get(root) ?? [];
      q.push({ change, resolve: resolve as (v: unknown) => void, reject });
      this.deferred.set(root, q);
      this.wakeAt(root, this.now() + waitMs);
    });
  }

  /** Flushes `root`'s deferred changes at `at` at the latest (an earlier wake-up stays). */
  private wakeAt(root: string, at: number): void {
    const t = this.timers.get(root);
    if (t && t.at <= at) return;
    if (t) clearTimeout(t.timer);
    const timer = setTimeout(() => {
      this.timers.delete(root);
      if (!this.deferred.get(root)?.length) return;
      if (this.flushing.has(root)) this.wakeAt(root, this.now() + 50);
      else void this.flush(root, true);
    }, Math.max(0, at - this.now())).unref();
    this.timers.set(root, { at, timer });
  }

  /**
   * Writes what is queued for `root` until nothing is: admissions, with whatever deferred changes
   * are waiting riding along. Deferred changes alone go out only when their wait is over (`due`),
   * so an admission never queues behind a write it did not need.
   */
  private async flush(root: string, due = false): Promise<void> {
    this.flushing.add(root);
    try {
      for (;;) {
        const queued = this.queues.get(root) ?? [];
        if (!queued.length && !due) break;
        due = false;
        const batch = [...(this.deferred.get(root) ?? []), ...queued];
        this.queues.delete(root);
        this.deferred.delete(root);
        if (!batch.length) break;
        await this.write(root, batch);
      }
    } finally {
      this.flushing.delete(root);
    }
  }

  private async write(root: string, batch: Pending[]): Promise<void> {
    try {
      const results = await this.decideAndStore(root, batch.map((p) => p.change));
      batch.forEach((p, i) => p.resolve(results[i]));
    } catch (e) {
      for (const p of batch) p.reject(e);
    }
  }

  private async decideAndStore(root: string, changes: Array<Change<unknown>>): Promise<unknown[]> {
    let base = await this.base(root);
    for (let attempt = 1; ; attempt++) {
      const now = this.now();
      let ledger = base.ledger;
      const results: unknown[] = [];
      for (const change of changes) {
        const r = change(ledger, now);
        ledger = r.ledger;
        results.push(r.result);
      }
      const patch = ledgerPatch(base.ledger, ledger);
      if (!patch) return results;
      try {
        const body = { metadata: { resourceVersion: base.rv }, status: patch };
        const stored = await this.client.patch<LedgerObject>(LedgerRef, root, undefined, body, "merge", { subresource: "status" });
        this.writes++;
        this.known.set(root, { rv: stored.metadata.resourceVersion ?? "", ledger });
        return results;
      } catch (e) {
        if (!isConflict(e) || attempt >= MAX_ATTEMPTS) throw e;
        this.conflicts++;
        this.known.delete(root);
        base = await this.base(root, base.rv);
      }
    }
  }

  /**
   * The ledger to decide from: the store's own last write, else the cache. After a conflict, the
   * newer version that caused it arrives through the watch: wait for the cache to show a version
   * other than the stale one (no extra read). A missing ledger is created (the tenant controller
   * normally has).
   */
  private async base(root: string, staleRv?: string): Promise<{ rv: string; ledger: Ledger }> {
    const deadline = this.now() + 5_000;
    for (;;) {
      const latest = this.latest(root); // after a conflict the store's own copy is already forgotten
      if (latest && latest.rv !== staleRv) return latest;
      if (!latest && staleRv === undefined) {
        try {
          const made = await this.client.create<LedgerObject>(LedgerRef, ledgerObject(root, this.owner(root)));
          return { rv: made.metadata.resourceVersion ?? "", ledger: emptyLedger() };
        } catch (e) {
          if (!isAlreadyExists(e)) throw e;
        }
      }
      if (this.now() > deadline) throw new Error(`the QuotaLedger "${root}" changed and the new version has not arrived; retry`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(0, deadline - this.now()));
        const list = this.waiters.get(root) ?? [];
        list.push(() => { clearTimeout(t); r(); });
        this.waiters.set(root, list);
      });
    }
  }
}
