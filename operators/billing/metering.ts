// Metering from lifecycle: each billable object's meters (as its product registered them) are
// compared with the last state recorded for it; a change becomes one event with a deterministic id
// (<uid>/<generation>/<transition>), so two recordings of the same change (a retry, a second
// manager) are one. Times come from the object where Kubernetes keeps them (creation, deletion) and
// from the clock otherwise; an object that vanished while no manager ran is closed when seen gone.
import type { Informer } from "../runtime/informer.ts";
import type { Manager } from "../runtime/manager.ts";
import type { BillableKind } from "../runtime/product.ts";
import { requestKey, type KubeObject } from "../runtime/types.ts";
import type { Books } from "./books.ts";
import { lastStates, metersHash, recordEvent } from "./ledger.ts";
import type { LedgerHandle } from "./handle.ts";
import type { UsageEvent } from "./rating.ts";

interface Known { at: number; hash: string; metered: boolean }
interface Seen { uid: string; generation: number; tenant: string; namespace: string; kind: string; name: string }

export class Metering {
  private readonly mgr: Manager;
  private readonly ledger: LedgerHandle;
  private readonly books: Books;
  private readonly kinds: Array<{ kind: BillableKind; objects: Informer }>;
  /** The last state recorded per resource uid (loaded from the ledger when first needed). */
  private known?: Map<string, Known>;
  /** The last object seen per "<plural>/<namespace>/<name>", so a deletion knows what it deleted. */
  private readonly seen = new Map<string, Seen>();
  /** When a change that could not be recorded yet (ledger down) was first observed. */
  private readonly firstSeenAt = new Map<string, number>();
  /** The one sweep after start, shared by every kind's first reconcile (retried when it failed). */
  private swept?: Promise<void>;

  constructor(mgr: Manager, ledger: LedgerHandle, books: Books, billable: readonly BillableKind[]) {
    this.mgr = mgr;
    this.ledger = ledger;
    this.books = books;
    this.kinds = billable.map((kind) => ({ kind, objects: mgr.informer(kind.ref) }));
    for (const { kind, objects } of this.kinds) {
      mgr.controller(`billing-meter-${kind.ref.plural}`).for(kind.ref).complete(async (req) => {
        await this.sweep();
        await this.observe(kind, objects.get(requestKey(req)), `${kind.ref.plural}/${requestKey(req)}`);
      });
    }
  }

  private async states(): Promise<Map<string, Known>> {
    if (!this.known) this.remember(await lastStates(await this.ledger.sql()));
    return this.known!;
  }

  private remember(last: ReadonlyMap<string, UsageEvent>): Map<string, Known> {
    return (this.known = new Map([...last].map(([uid, e]) => [uid, { at: e.at, hash: metersHash(e.meters), metered: e.meters.length > 0 }])));
  }

  /** Once after start: resources the ledger still meters that no longer exist were deleted while no manager ran. */
  private sweep(): Promise<void> {
    const p = (this.swept ??= this.closeVanished());
    p.catch(() => { if (this.swept === p) this.swept = undefined; });
    return p;
  }

  private async closeVanished(): Promise<void> {
    // the ledger's last states are read once: they are what metering compares with from now on
    const last = await lastStates(await this.ledger.sql());
    const known = this.known ?? this.remember(last);
    const alive = new Set(this.kinds.flatMap(({ objects }) => objects.list().map((o) => o.metadata.uid)));
    for (const [uid, e] of last) {
      if (!e.meters.length || alive.has(uid)) continue;
      const at = Math.max(e.at, this.nowSeconds());
      await this.record(known, { id: `${uid}/gone/delete`, resourceUid: uid, tenant: e.tenant, namespace: e.namespace, kind: e.kind, name: e.name, at, meters: [] });
      this.mgr.log.info({ kind: e.kind, namespace: e.namespace, name: e.name }, "billing: closed the metering of an object deleted while no manager ran");
    }
  }

  private nowSeconds(): number {
    return Math.floor(this.mgr.clock.now() / 1000) * 1000;
  }

  private async observe(kind: BillableKind, obj: KubeObject | undefined, seenKey: string): Promise<void> {
    const known = await this.states();
    if (!obj) {
      const s = this.seen.get(seenKey);
      if (!s) return;
      const prev = known.get(s.uid);
      if (prev?.metered) {
        const at = Math.max(prev.at, this.firstObserved(`${s.uid}/delete`));
        await this.record(known, { id: `${s.uid}/${s.generation}/delete`, resourceUid: s.uid, tenant: s.tenant, namespace: s.namespace, kind: s.kind, name: s.name, at, meters: [] });
      }
      this.seen.delete(seenKey);
      return;
    }
    const uid = obj.metadata.uid;
    const namespace = obj.metadata.namespace ?? "";
    const tenant = this.books.tenantOf(namespace);
    if (!uid || !tenant) return;
    const generation = obj.metadata.generation ?? 0;
    this.seen.set(seenKey, { uid, generation, tenant, namespace, kind: kind.ref.kind, name: obj.metadata.name });
    const deleting = Boolean(obj.metadata.deletionTimestamp);
    const meters = deleting ? [] : kind.meters(obj);
    const hash = metersHash(meters);
    const prev = known.get(uid);
    if (prev ? prev.hash === hash : meters.length === 0) return;
    const transition = !prev ? "create" : deleting ? "delete" : `change-${hash.slice(0, 8)}`;
    let at = this.firstObserved(`${uid}/${transition}`);
    // what Kubernetes recorded is exact even when no manager ran at the time
    if (!prev) at = Math.min(at, Date.parse(obj.metadata.creationTimestamp ?? "") || at);
    if (deleting) at = Math.min(at, Date.parse(obj.metadata.deletionTimestamp ?? "") || at);
    at = Math.max(at, prev?.at ?? 0);
    await this.record(known, { id: `${uid}/${generation}/${transition}`, resourceUid: uid, tenant, namespace, kind: kind.ref.kind, name: obj.metadata.name, at, meters });
  }

  private firstObserved(key: string): number {
    let at = this.firstSeenAt.get(key);
    if (at === undefined) this.firstSeenAt.set(key, (at = this.nowSeconds()));
    return at;
  }

  private async record(known: Map<string, Known>, e: Omit<UsageEvent, "seq" | "resourceId">): Promise<void> {
    await recordEvent(await this.ledger.sql(), e);
    known.set(e.resourceUid, { at: e.at, hash: metersHash(e.meters), metered: e.meters.length > 0 });
    for (const k of this.firstSeenAt.keys()) if (k.startsWith(`${e.resourceUid}/`)) this.firstSeenAt.delete(k);
  }
}
