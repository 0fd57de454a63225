// The contract between a product and the composition root (operators/registry.ts): each product
// registers its controllers and what other parts need from it — the kinds it charges against quota
// and how to price them, gates its objects pass, admission webhooks — so no part lists the products.
import type { Meter } from "../api/billing.ts";
import type { ChargedKind } from "../api/tenancy.ts";
import type { KubeObject, ResourceRef } from "./types.ts";
import type { Gate } from "./managed.ts";
import type { Manager } from "./manager.ts";
import type { WebhookServer } from "./webhook.ts";

/** Tunables a product reads instead of the environment, so tests and flags control them. */
export interface Settings {
  /** How long an admitted quota reservation waits for its object. */
  quotaReservationMs?: number;
  /** How often each quota ledger is rebuilt from the objects that exist. */
  quotaRecountMs?: number;
  /**
   * The manager's own ServiceAccount. When set, each tenant namespace binds it to
   * `cellcloud-user-data-reader` (get Secrets there, and nowhere else), so instances' user data
   * can be checked before boot. Unset: the manager's own rights decide where it can check.
   */
  serviceAccount?: { namespace: string; name: string };
  /** The billing ledger; billing's controllers report LedgerNotConfigured without it. */
  billing?: {
    /** postgres://… of the ledger database (never logged). */
    databaseUrl?: string;
    /** How long after an hour ends before it is rated (default 60 s). */
    latenessMs?: number;
    /** How often the rater looks for a due hour (default 15 s). */
    rateEveryMs?: number;
  };
}

/**
 * A kind billing meters: what an object uses now (none while it is stopped), from the product's own
 * caches, and the merge patches that stop it when its subscription expires and start it again when
 * renewed (none for a kind without a stopped state: it is only deleted after the grace period).
 */
export interface BillableKind {
  ref: ResourceRef;
  meters(obj: KubeObject): Meter[];
  stop?: Record<string, unknown>;
  resume?: Record<string, unknown>;
}

export interface ProductContext {
  /** Gates every product object passes before it is realized (tenancy's approval gate). */
  gates: ReadonlyArray<Gate<KubeObject>>;
  /** What every product charges against quota. */
  charged(mgr: Manager): readonly ChargedKind[];
  /** What billing meters. */
  billable(mgr: Manager): readonly BillableKind[];
  settings: Settings;
}

export interface Product {
  name: string;
  /** Controllers by the name --controllers uses; each returns what it started. */
  controllers: Record<string, (mgr: Manager, ctx: ProductContext) => unknown>;
  /** Kinds whose objects count against quota, priced from the product's own caches. */
  charged?(mgr: Manager): ChargedKind[];
  /** Kinds billing meters, read from the product's own caches, and how to stop and resume them. */
  billable?(mgr: Manager): BillableKind[];
  /** Gates for every product's objects. */
  gates?: ReadonlyArray<Gate<KubeObject>>;
  /** Admission webhooks the product serves through the manager's webhook server. */
  webhooks?(mgr: Manager, server: WebhookServer, ctx: ProductContext): void;
}
