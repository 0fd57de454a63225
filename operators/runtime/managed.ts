// The managed-resource reconciler, after crossplane-runtime's: a product observes its realization
// and plans what to do about it as data (create / update / delete actions, the status they lead
// to, the events they are worth); this runtime carries the plan out and owns everything around it:
// the finalizer, spec.deletionPolicy (Delete|Orphan), gates, Synced/Ready/Stalled, terminal errors,
// Events on condition changes, a status checkpoint written before actions status must remember,
// and one status write at the end.
import type { Logger } from "pino";
import { setCondition, type Condition, type ConditionInput } from "./conditions.ts";
import type { Controller, ReconcileContext, Result } from "./controller.ts";
import { isTerminal } from "./errors.ts";
import type { EventType } from "./events.ts";
import { addFinalizer, hasFinalizer, isDeleting, removeFinalizer } from "./finalizers.ts";
import { isConflict, isNotFound } from "./kube.ts";
import type { ControllerBuilder, Manager } from "./manager.ts";
import { execute, type Action, type Outcome } from "./actions.ts";
import { writeStatus, type StatusWithConditions } from "./status.ts";
import { requestKey, type KubeObject, type Request, type ResourceRef } from "./types.ts";

export type { Action, Outcome };
export type DeletionPolicy = "Delete" | "Orphan";

/** Something an object must pass before it is realized (a tenant's approval): open, or closed with why. */
export interface Gate<T extends KubeObject = KubeObject> {
  check(obj: T): { open: boolean; condition?: ConditionInput };
}

/** A condition to show; `announce` records an Event of that type whenever its status or reason changes. */
export interface ConditionSpec extends ConditionInput {
  announce?: EventType;
}

export interface DesiredStatus {
  /** Conditions to set; others on the object (a gate's) are kept. */
  conditions?: ConditionSpec[];
  /** Status fields to set (undefined removes one); fields not named are kept. */
  fields?: Record<string, unknown>;
  /** Only a spec change can fix what is wrong: Stalled=True (kstatus Failed). */
  stalled?: { reason: string; message: string };
}

export interface EventSpec {
  type: EventType;
  reason: string;
  message: string;
}

/**
 * A call to something outside the apiserver (a member's instance manager), as crossplane's external
 * client makes: `what` names it for logs and tests; `call` never throws: "refused" leaves it to the
 * next reconcile.
 */
export interface ExternalCall {
  what: string;
  call: () => Promise<"done" | "refused">;
}

export interface Plan {
  /** Status fields recorded before any action runs, so a crash in between cannot lose them. */
  checkpoint?: Record<string, unknown>;
  actions?: Action[];
  /**
   * Actions that undo what status may show until it is written (an address released once another is
   * kept): run after the status write, and only if it succeeded, and that write is made against the
   * version this reconcile observed (a check even when nothing changed). A reconcile working from a
   * stale view (a cache behind, a second manager racing) meets a conflict before it can undo what a
   * newer status shows. Converge plans only: a finalize plan that is done at once writes no status,
   * so its releases are plain actions (nothing is kept once the object is gone).
   */
  afterStatus?: Action[];
  /** Calls made after the actions succeeded, all at once (they never throw). */
  calls?: ExternalCall[];
  /**
   * Actions in flight at once. 1 (the default) runs them in order and stops at the first failure;
   * more runs every one, writes status, then throws the first failure.
   */
  concurrency?: number;
  /** Recorded once the actions are done; a function when they depend on what the actions met. */
  events?: EventSpec[] | ((outcomes: readonly Outcome[]) => EventSpec[]);
  /** The status the plan leads to; a function when it depends on what the actions met. */
  status?: DesiredStatus | ((outcomes: readonly Outcome[]) => DesiredStatus);
  requeueAfterMs?: number;
  /** Finalization only: nothing is left to clean up (given what the actions met), the finalizer may go. */
  done?: boolean | ((outcomes: readonly Outcome[]) => boolean);
}

export interface ManagedResource<T extends KubeObject, O> {
  finalizer: string;
  gates?: ReadonlyArray<Gate<T>>;
  /**
   * Status fields written only against the version observed (optimistic concurrency): what the object
   * holds that others must never see change under a stale view (the addresses it shows).
   */
  guardedStatus?: readonly string[];
  /** Reads what exists from caches (no writes). */
  observe(obj: T, now: number): O | Promise<O>;
  /** What to do so the realization matches the spec. Pure. */
  plan(obj: T, observed: O, now: number): Plan;
  /** What to do while the object is being deleted, per its deletion policy. Pure. */
  finalize(obj: T, observed: O, policy: DeletionPolicy, now: number): Plan;
}

/** Completes a controller whose reconcile is `resource`'s plan, carried out by the runtime. */
export function completeManaged<T extends KubeObject, O>(builder: ControllerBuilder, resource: ManagedResource<T, O>): Controller {
  const reconciler = new ManagedReconciler(builder.mgr, builder.ref, resource);
  // Terminal errors are shown by the reconciler itself, so the controller has nothing left to record.
  return builder.complete((req, ctx) => reconciler.reconcile(req, ctx), { onTerminal: async () => {} });
}

function deletionPolicy(obj: KubeObject): DeletionPolicy {
  return (obj as { spec?: { deletionPolicy?: DeletionPolicy } }).spec?.deletionPolicy === "Orphan" ? "Orphan" : "Delete";
}

class ManagedReconciler<T extends KubeObject, O> {
  private readonly mgr: Manager;
  private readonly ref: ResourceRef;
  private readonly resource: ManagedResource<T, O>;

  constructor(mgr: Manager, ref: ResourceRef, resource: ManagedResource<T, O>) {
    this.mgr = mgr;
    this.ref = ref;
    this.resource = resource;
  }

  async reconcile(req: Request, ctx: ReconcileContext): Promise<Result> {
    const cached = this.mgr.informer<T>(this.ref).get(requestKey(req));
    if (!cached) return;
    const scope = new Scope(this.mgr, this.ref, cached, ctx.log, this.resource.guardedStatus);
    try {
      return isDeleting(cached) ? await this.finalize(scope) : await this.converge(scope);
    } catch (err) {
      await scope.failed(err);
      throw err;
    }
  }

  private async converge(scope: Scope<T>): Promise<Result> {
    await scope.ensureFinalizer(this.resource.finalizer);
    const closed = scope.passGates(this.resource.gates ?? []);
    if (closed) {
      await scope.finish({ conditions: [{ ...closed, type: "Ready", status: "False" }] });
      return;
    }
    const now = this.mgr.clock.now();
    const observed = await this.resource.observe(scope.obj, now);
    return scope.carryOut(this.resource.plan(scope.obj, observed, now));
  }

  private async finalize(scope: Scope<T>): Promise<Result> {
    if (!hasFinalizer(scope.obj, this.resource.finalizer)) return;
    const now = this.mgr.clock.now();
    const observed = await this.resource.observe(scope.obj, now);
    const plan = this.resource.finalize(scope.obj, observed, deletionPolicy(scope.obj), now);
    if (!plan.done) return scope.carryOut(plan);
    const { outcomes, failure } = await scope.act(plan);
    if (failure !== undefined) throw failure;
    if (typeof plan.done === "function" && !plan.done(outcomes)) {
      await scope.finish(statusOf(plan, outcomes));
      return { requeueAfterMs: plan.requeueAfterMs ?? 1_000 };
    }
    await removeFinalizer(this.mgr.client, this.ref, scope.obj, this.resource.finalizer);
    return;
  }
}

const statusOf = (plan: Plan, outcomes: readonly Outcome[]): DesiredStatus =>
  (typeof plan.status === "function" ? plan.status(outcomes) : plan.status) ?? {};

/** One reconcile's view of its object: the version last written, and the conditions it began with. */
class Scope<T extends KubeObject> {
  obj: T;
  private readonly before: readonly Condition[];
  private readonly gateConditions: ConditionInput[] = [];
  private readonly mgr: Manager;
  private readonly ref: ResourceRef;
  private readonly log: Logger;
  private readonly guarded: readonly string[];

  constructor(mgr: Manager, ref: ResourceRef, obj: T, log: Logger, guarded: readonly string[] = []) {
    this.mgr = mgr;
    this.ref = ref;
    this.obj = obj;
    this.log = log;
    this.guarded = guarded;
    this.before = (obj.status as StatusWithConditions | undefined)?.conditions ?? [];
  }

  async ensureFinalizer(name: string): Promise<void> {
    this.obj = await addFinalizer(this.mgr.client, this.ref, this.obj, name);
  }

  /** Records each gate's condition; returns the first closed gate's, if any. */
  passGates(gates: ReadonlyArray<Gate<T>>): ConditionInput | undefined {
    for (const gate of gates) {
      const { open, condition } = gate.check(this.obj);
      if (condition) this.gateConditions.push(condition);
      if (!open) return condition ?? { type: "Gated", status: "False", reason: "Gated", message: "waiting for a gate to open" };
    }
    return undefined;
  }

  /** Checkpoint, actions, events; then status (once) and the requeue. */
  async carryOut(plan: Plan): Promise<Result> {
    const { outcomes, failure } = await this.act(plan);
    const after = failure === undefined ? plan.afterStatus ?? [] : [];
    await this.finish(statusOf(plan, outcomes), { checkView: after.length > 0 });
    if (failure !== undefined) throw failure;
    if (after.length) {
      const done = await execute(this.mgr.client, after, { concurrency: after.length, fieldManager: this.mgr.fieldManager });
      if (done.failure !== undefined) throw done.failure;
    }
    return plan.requeueAfterMs ? { requeueAfterMs: plan.requeueAfterMs } : undefined;
  }

  async act(plan: Plan): Promise<{ outcomes: Outcome[]; failure?: unknown }> {
    if (plan.checkpoint) {
      const status = { ...(this.obj.status as StatusWithConditions | undefined), ...plan.checkpoint };
      // guarded whenever the resource guards fields: the final write is checked against what this one returns
      this.obj = (await writeStatus(this.mgr.client, this.ref, this.obj, status, { observed: false, guard: { always: this.guarded.length > 0 } })) ?? this.obj;
    }
    const result = await execute(this.mgr.client, plan.actions ?? [], { concurrency: plan.concurrency ?? 1, fieldManager: this.mgr.fieldManager });
    if (result.failure === undefined && plan.calls?.length) {
      const answers = await Promise.all(plan.calls.map((c) => c.call()));
      const refused = plan.calls.filter((_c, i) => answers[i] === "refused").map((c) => c.what);
      if (refused.length) this.log.debug({ refused }, "external calls refused");
    }
    const events = typeof plan.events === "function" ? plan.events(result.outcomes) : plan.events ?? [];
    for (const e of events) this.mgr.events.record(this.obj, e.type, e.reason, e.message);
    return result;
  }

  /** The one status write: fields over the current status, conditions set, Synced=True. */
  async finish(desired: DesiredStatus, { synced = { type: "Synced", status: "True", reason: "ReconcileSuccess" }, checkView = false }: { synced?: ConditionInput; checkView?: boolean } = {}): Promise<void> {
    const current = (this.obj.status ?? {}) as StatusWithConditions;
    const gen = this.obj.metadata.generation;
    const clock = this.mgr.clock;
    const specs: ConditionSpec[] = [...this.gateConditions, ...(desired.conditions ?? []), synced];
    let conditions = current.conditions ?? [];
    for (const c of specs) conditions = setCondition(conditions, c, gen, clock);
    conditions = desired.stalled
      ? setCondition(conditions, { type: "Stalled", status: "True", ...desired.stalled }, gen, clock)
      : conditions.filter((c) => c.type !== "Stalled");
    const written = await writeStatus(this.mgr.client, this.ref, this.obj, { ...current, ...desired.fields, conditions }, { guard: { fields: this.guarded, always: checkView } });
    if (written) this.obj = written;
    this.announce(specs);
  }

  /** Events for announced conditions whose status or reason changed, or that a new spec led to again. */
  private announce(specs: readonly ConditionSpec[]): void {
    for (const c of specs) {
      if (!c.announce) continue;
      const was = this.before.find((b) => b.type === c.type);
      if (was?.status === c.status && was.reason === c.reason && was.observedGeneration === this.obj.metadata.generation) continue;
      this.mgr.events.record(this.obj, c.announce, c.reason, c.message ?? "");
    }
  }

  /**
   * A failed reconcile shows why: a terminal error as Ready=False and Stalled=True (not retried); any
   * other as Synced=False (retried with backoff). A conflict is routine (a stale cache) and shows nothing.
   */
  async failed(err: unknown): Promise<void> {
    if (isConflict(err) || isNotFound(err)) return;
    const message = err instanceof Error ? err.message : String(err);
    try {
      if (isTerminal(err)) {
        const problem = { reason: err.reason, message: err.message };
        const ready: ConditionSpec = { type: "Ready", status: "False", ...problem, announce: "Warning" };
        await this.finish({ conditions: [ready], stalled: problem }, { synced: { type: "Synced", status: "False", ...problem } });
      } else {
        const current = (this.obj.status ?? {}) as StatusWithConditions;
        const conditions = setCondition(current.conditions, { type: "Synced", status: "False", reason: "ReconcileError", message }, this.obj.metadata.generation, this.mgr.clock);
        await writeStatus(this.mgr.client, this.ref, this.obj, { ...current, conditions }, { observed: false });
      }
    } catch (e) {
      this.log.debug({ err: String(e) }, "could not record the failure in status");
    }
  }
}
