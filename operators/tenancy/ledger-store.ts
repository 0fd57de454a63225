// Writes to a root tenant's QuotaLedger, as kube-apiserver's ResourceQuota admission writes quota
// status: every change is a compare-and-swap (a merge patch carrying the resourceVersion it was
// computed from), changes queued while a write is in flight go out together in the next write, a
// conflict re-reads the ledger and re-decides every queued change, and the store trusts its own last
// successful write over a cache that has not caught up with it.
import { refOf } from "../api/crd.ts";
import { QuotaLedger } from "../api/tenancy.ts";
import type { Condition } from "../runtime/conditions.ts";
import type { Informer } from "../runtime/informer.ts";
import { isConflict, isNotFound, isAlreadyExists, type KubeClient } from "../runtime/kube.ts";
import type { KubeObject } from "../runtime/types.ts";
import { decodeLedger, entriesPatch } from "./charges.ts";
import type { Ledger } from "./ledger.ts";

export const LedgerRef = refOf(QuotaLedger);

export interface LedgerObject extends KubeObject {
  spec: { tenant: string; description?: string };
  status?: { entries?: Record<string, string>; charged?: number; lastRecount?: string; conditions?: Condition[]; observedGeneration?: number };
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
  private readonly flushing = new Set<string>();
  /** The last ledger this store wrote or read, per root, with its resourceVersion. */
  private readonly known = new Map<string, { rv: string; ledger: Ledger }>();
  private readonly client: KubeClient;
  private readonly informer: Informer<LedgerObject>;
  private readonly now: () => number;
  /** Ledger writes made (a batch is one write). */
  writes = 0;

  constructor(client: KubeClient, informer: Informer<LedgerObject>, now: () => number = Date.now) {
    this.client = client;
    this.informer = informer;
    this.now = now;
  }

  /** The ledger of `root` as last known (own write, else the cache). */
  current(root: string): Ledger {
    const cached = this.informer.get(root);
    const mine = this.known.get(root);
    if (mine && (!cached || Number(cached.metadata.resourceVersion) <= Number(mine.rv))) return mine.ledger;
    return decodeLedger(cached?.status?.entries);
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

  private async flush(root: string): Promise<void> {
    this.flushing.add(root);
    try {
      for (let batch = this.take(root); batch.length; batch = this.take(root)) await this.write(root, batch);
    } finally {
      this.flushing.delete(root);
    }
  }

  private take(root: string): Pending[] {
    const q = this.queues.get(root) ?? [];
    this.queues.delete(root);
    return q;
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
    let base = await this.base(root, false);
    for (let attempt = 1; ; attempt++) {
      const now = this.now();
      let ledger = base.ledger;
      const results: unknown[] = [];
      for (const change of changes) {
        const r = change(ledger, now);
        ledger = r.ledger;
        results.push(r.result);
      }
      const patch = entriesPatch(base.ledger, ledger);
      if (!Object.keys(patch).length) return results;
      try {
        const body = { metadata: { resourceVersion: base.rv }, status: { entries: patch, charged: Object.keys(ledger).length } };
        const stored = await this.client.patch<LedgerObject>(LedgerRef, root, undefined, body, "merge", { subresource: "status" });
        this.writes++;
        this.known.set(root, { rv: stored.metadata.resourceVersion ?? "", ledger });
        return results;
      } catch (e) {
        if (!isConflict(e) || attempt >= MAX_ATTEMPTS) throw e;
        base = await this.base(root, true);
      }
    }
  }

  /** The ledger to decide from: the store's own, or a fresh read after a conflict; created if missing. */
  private async base(root: string, fresh: boolean): Promise<{ rv: string; ledger: Ledger }> {
    if (!fresh) {
      const cached = this.informer.get(root);
      const mine = this.known.get(root);
      if (mine && (!cached || Number(cached.metadata.resourceVersion) <= Number(mine.rv))) return mine;
      if (cached) return { rv: cached.metadata.resourceVersion ?? "", ledger: decodeLedger(cached.status?.entries) };
    }
    let obj: LedgerObject;
    try {
      obj = await this.client.get<LedgerObject>(LedgerRef, root);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      obj = await this.client
        .create<LedgerObject>(LedgerRef, { apiVersion: QuotaLedger.apiVersion, kind: QuotaLedger.kind, metadata: { name: root }, spec: { tenant: root } })
        .catch((err: unknown) => (isAlreadyExists(err) ? this.client.get<LedgerObject>(LedgerRef, root) : Promise.reject(err)));
    }
    const got = { rv: obj.metadata.resourceVersion ?? "", ledger: decodeLedger(obj.status?.entries) };
    this.known.set(root, got);
    return got;
  }
}
