// The manager: shared informers, controllers, leader election, metrics/health endpoints and a
// graceful stop. Caches start at once (a standby keeps them warm); controllers run only while
// this manager holds the leader lease, and stop taking work the moment it is lost.
import type { KubeConfig } from "@kubernetes/client-node";
import { hostname } from "node:os";
import type { Server } from "node:http";
import type { Logger } from "pino";
import { Controller, type ReconcileFn } from "./controller.ts";
import { TerminalError } from "./errors.ts";
import { EventRecorder } from "./events.ts";
import { Informer } from "./informer.ts";
import { KubeClient } from "./kube.ts";
import { LeaseRef } from "./core.ts";
import { fenced } from "./fence.ts";
import { LeaderElector, type LeaderElectionConfig } from "./leader.ts";
import { newLogger } from "./log.ts";
import { Metrics } from "./metrics.ts";
import { close, listen, type Route } from "./server.ts";
import { requestAttributes } from "./rbac.ts";
import { markStalled, writeStatus } from "./status.ts";
import { type Clock, realClock } from "./clock.ts";
import { completeManaged, type ManagedResource } from "./managed.ts";
import type { Predicate } from "./predicates.ts";
import { keyOf, requestKey, type KubeObject, type Request, type ResourceRef } from "./types.ts";

export interface ManagerOptions {
  kubeConfig: KubeConfig;
  log?: Logger;
  /** false disables election (one manager, always active). */
  leaderElection?: false | Omit<LeaderElectionConfig, "identity"> & { identity?: string };
  metricsAddress?: string;
  healthAddress?: string;
  resyncMs?: number;
  fieldManager?: string;
  processMetrics?: boolean;
  /** Workers per controller unless the controller sets its own (--concurrency). */
  concurrency?: number;
  /** Called when the lease is lost (after controllers stopped); main.ts exits the process. */
  onLostLeadership?: () => void;
  /** Time for everything the manager runs (tests inject their own). */
  clock?: Clock;
}

const refKey = (r: ResourceRef) => `${r.group}/${r.version}/${r.plural}`;

/**
 * How often an informer re-delivers every cached object: controller-runtime's default SyncPeriod,
 * 10 hours, jittered ±10% per informer. Drift arrives as watch events; the resync is a backstop, and
 * at 30,000 instances one every 10 minutes was a reconcile of every object by every controller
 * watching it, 50 per second per controller, forever (the idle manager's CPU).
 */
export const DEFAULT_RESYNC_MS = 10 * 60 * 60_000;

/** Anything that works only while this manager leads: controllers, and loops such as the scheduler. */
export interface Runnable {
  start(): void;
  /** Stops taking work and resolves once in-flight work is finished. */
  stop(): Promise<void>;
}

export class Manager {
  readonly client: KubeClient;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly events: EventRecorder;
  readonly identity: string;
  readonly fieldManager: string;
  readonly defaultConcurrency: number;
  readonly clock: Clock;
  private readonly opts: ManagerOptions;
  private readonly informers = new Map<string, Informer>();
  private readonly controllers = new Map<string, Controller>();
  private readonly runnables: Runnable[] = [];
  private readonly always: Runnable[] = [];
  private readonly abort = new AbortController();
  private elector?: LeaderElector;
  private servers: Array<Server | undefined> = [];
  private synced = false;
  private readonly readyChecks = new Map<string, () => boolean>();
  private readonly routes = new Map<string, Route>();
  private started = false;
  private leading?: Promise<void>;

  constructor(opts: ManagerOptions) {
    this.opts = opts;
    this.log = opts.log ?? newLogger();
    this.client = new KubeClient(opts.kubeConfig);
    this.metrics = new Metrics({ processMetrics: opts.processMetrics ?? true });
    this.identity = (opts.leaderElection && opts.leaderElection.identity) || `${hostname()}_${process.pid}`;
    this.fieldManager = opts.fieldManager ?? "cellcloud-manager";
    this.defaultConcurrency = opts.concurrency ?? 1;
    this.clock = opts.clock ?? realClock;
    // Every API request at trace level, with the RBAC verb and resource it needs (e2e/chart-rbac reads these).
    if (this.log.isLevelEnabled("trace")) {
      this.client.onRequest((method, path, code, query) => this.log.trace({ method, path, code, ...requestAttributes(method, path, query) }, "api request"));
    }
    // Every request by verb, resource and code: what the manager costs the apiserver (idle should be
    // lease renewals and watches only). apiserver_request_total has no user-agent label to split by.
    this.client.onRequest((method, path, code, query) => {
      const a = requestAttributes(method, path, query);
      this.metrics.apiRequests.inc({ verb: a?.verb ?? method.toLowerCase(), resource: a ? (a.group ? `${a.resource}.${a.group}` : a.resource) : "other", code: String(code) });
    });
    this.events = new EventRecorder(this.client, { controller: "cellcloud.io/manager", instance: this.identity }, this.log, this.clock);
    this.metrics.eventStats = () => ({ pending: this.events.pending, dropped: this.events.dropped });
  }

  /** The shared informer of a resource; created on first use, started by start(). */
  informer<T extends KubeObject = KubeObject>(ref: ResourceRef, labelSelector?: string, scope: { namespace?: string; fieldSelector?: string } = {}): Informer<T> {
    const k = `${refKey(ref)}?${labelSelector ?? ""}&${scope.namespace ?? ""}&${scope.fieldSelector ?? ""}`;
    let inf = this.informers.get(k);
    if (!inf) {
      inf = new Informer(this.client, ref, this.log, {
        resyncMs: this.opts.resyncMs ?? Math.round(DEFAULT_RESYNC_MS * (0.9 + 0.2 * Math.random())), labelSelector, ...scope,
        onError: (op) => this.metrics.informerErrors.inc({ resource: ref.plural, op }),
      });
      this.informers.set(k, inf);
      // at 0 from the start, so a dashboard's rate() sees the first failure
      for (const op of ["list", "watch"] as const) this.metrics.informerErrors.inc({ resource: ref.plural, op }, 0);
      if (this.started) inf.start();
    }
    return inf as unknown as Informer<T>;
  }

  controller(name: string): ControllerBuilder {
    if (this.controllers.has(name)) throw new Error(`a controller named ${name} exists already`);
    return new ControllerBuilder(this, name, (c) => {
      this.controllers.set(name, c);
      this.runnables.push(c);
    });
  }

  /** A controller by name (tests enqueue keys through it). */
  getController(name: string): Controller | undefined {
    return this.controllers.get(name);
  }

  /** Runs `r` while leading, like a controller; caches it reads must be created before start(). */
  add<R extends Runnable>(r: R): R {
    this.runnables.push(r);
    return r;
  }

  /** Runs `r` in every replica, leader or not, from start() to stop() (the admission webhook). */
  addAlways<R extends Runnable>(r: R): R {
    this.always.push(r);
    if (this.started) r.start();
    return r;
  }

  /** Serves `route` for GETs under `prefix` on the metrics listener; add before start(). */
  addRoute(prefix: string, route: Route): void {
    this.routes.set(prefix, route);
  }

  /** A condition /readyz also requires (a webhook server that listens). */
  addReadyCheck(name: string, check: () => boolean): void {
    this.readyChecks.set(name, check);
  }

  /** Caches synced and every ready check passing. */
  ready(): boolean {
    return this.synced && [...this.readyChecks.values()].every((c) => c());
  }

  /** Watch restarts and relists summed over all informers (how often the caches had to recover). */
  informerStats(): { restarts: number; relists: number } {
    const all = [...this.informers.values()];
    return { restarts: all.reduce((a, i) => a + i.restarts, 0), relists: all.reduce((a, i) => a + i.relists, 0) };
  }

  /** Where /metrics is served (useful when started on port 0). */
  get metricsUrl(): string | undefined {
    const a = this.servers[0]?.address();
    return a && typeof a === "object" ? `http://${a.address}:${a.port}/metrics` : undefined;
  }

  /** Starts endpoints and caches, waits for sync, then runs controllers as leader. Resolves once synced. */
  async start(): Promise<void> {
    const endpoints = { registry: this.metrics.registry, ready: () => this.ready() };
    this.servers = await Promise.all([
      listen(this.opts.metricsAddress ?? "0", { registry: this.metrics.registry, routes: this.routes }),
      listen(this.opts.healthAddress ?? "0", endpoints),
    ]);
    this.started = true;
    this.prepareElection();
    for (const inf of this.informers.values()) inf.start();
    for (const r of this.always) r.start();
    await Promise.all([...this.informers.values()].map((i) => i.waitForSync()));
    this.synced = true;
    this.log.info({ informers: this.informers.size }, "caches synced");
    this.leading = this.lead();
  }

  /** The elector watches its Lease like any other cache, so "ready" includes being able to fail over fast. */
  private prepareElection(): void {
    const le = this.opts.leaderElection;
    if (!le) return;
    const elector = new LeaderElector(this.client, { ...le, identity: this.identity }, this.log);
    this.elector = elector;
    this.informer(LeaseRef, undefined, { namespace: le.namespace, fieldSelector: `metadata.name=${le.name}` })
      .addHandler((_t, lease) => elector.observeLease(lease));
  }

  private async lead(): Promise<void> {
    const le = this.opts.leaderElection;
    if (!le || !this.elector) {
      this.metrics.leader.set({ name: "cellcloud-manager" }, 1);
      for (const c of this.runnables) c.start();
      return;
    }
    const gauge = { name: le.name };
    this.metrics.leader.set(gauge, 0);
    if (!(await this.elector.acquire(this.abort.signal))) return;
    this.metrics.leader.set(gauge, 1);
    // Everything started as leader runs behind the lease: its writes stop the moment the lease may be gone.
    const elector = this.elector;
    fenced(elector.fence, () => { for (const c of this.runnables) c.start(); });
    if ((await this.elector.hold(this.abort.signal)) === "lost") {
      this.metrics.leader.set(gauge, 0);
      await Promise.all(this.runnables.map((c) => c.stop()));
      this.opts.onLostLeadership?.();
    }
  }

  /** Stops intake, lets in-flight reconciles finish, releases the lease, closes endpoints. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.runnables.map((c) => c.stop()));
    await this.leading;
    await this.elector?.release();
    await Promise.all(this.always.map((r) => r.stop()));
    for (const inf of this.informers.values()) inf.stop();
    await Promise.all(this.servers.map(close));
    this.log.info("manager stopped");
  }

  /** Default terminal-error handling: Ready=False and Stalled=True with the error's reason and message. */
  async recordTerminal(ref: ResourceRef, req: Request, err: TerminalError): Promise<void> {
    const obj = this.informer(ref).get(requestKey(req));
    if (!obj) return;
    if (await writeStatus(this.client, ref, obj, markStalled(obj, err.reason, err.message, this.clock))) {
      this.events.record(obj, "Warning", err.reason, err.message);
    }
  }
}

export interface WatchOptions<T extends KubeObject = KubeObject> {
  /** Narrows (and names) the shared informer. */
  labelSelector?: string;
  /** Only events it accepts enqueue anything. */
  predicate?: Predicate<T>;
  /** Enqueue this long after the first event of a burst: a burst becomes one reconcile. */
  delayMs?: number;
}

/** Maps an event's object (and, on an update, its previous version) to the primary keys it concerns. */
export type MapFunc = (obj: KubeObject, old?: KubeObject) => string[];

interface Source extends WatchOptions {
  ref: ResourceRef;
  map: MapFunc;
}

/** for(kind) / owns(kind) / watches(kind, map) / concurrency(n) / complete(reconcile), as controller-runtime's builder. */
export class ControllerBuilder {
  readonly mgr: Manager;
  readonly name: string;
  private readonly register: (c: Controller) => void;
  private primary?: ResourceRef;
  private readonly sources: Source[] = [];
  private workers: number;

  constructor(mgr: Manager, name: string, register: (c: Controller) => void) {
    this.mgr = mgr;
    this.workers = mgr.defaultConcurrency;
    this.name = name;
    this.register = register;
  }

  /** The primary kind. `opts.predicate` filters its events (a resync still re-delivers every object). */
  for(ref: ResourceRef, opts: WatchOptions = {}): this {
    this.primary = ref;
    this.sources.push({ ref, map: (o) => [keyOf(o)], ...opts });
    return this;
  }

  get ref(): ResourceRef {
    if (!this.primary) throw new Error(`controller ${this.name}: call for(kind) first`);
    return this.primary;
  }

  /** Children whose controller owner reference points at a primary object map back to it. */
  owns(ref: ResourceRef, opts: WatchOptions = {}): this {
    const map = (o: KubeObject): string[] => {
      const p = this.primary;
      const owner = o.metadata.ownerReferences?.find((r) => r.controller && p && r.kind === p.kind && r.apiVersion.startsWith(p.group ? `${p.group}/` : "v"));
      if (!owner || !p) return [];
      return [p.namespaced && o.metadata.namespace ? `${o.metadata.namespace}/${owner.name}` : owner.name];
    };
    this.sources.push({ ref, map, ...opts });
    return this;
  }

  /** Objects of another kind map to primary keys. */
  watches(ref: ResourceRef, map: MapFunc, opts: WatchOptions = {}): this {
    this.sources.push({ ref, map, ...opts });
    return this;
  }

  concurrency(n: number): this {
    this.workers = n;
    return this;
  }

  /** Completes the controller with a managed reconcile: `resource` observes and plans, the runtime carries out. */
  manage<T extends KubeObject, O>(resource: ManagedResource<T, O>): Controller {
    return completeManaged(this, resource);
  }

  /** `onTerminal` replaces the default handling of a TerminalError (Ready=False, Stalled=True). */
  complete(reconcile: ReconcileFn, opts: { onTerminal?: Controller["onTerminal"] } = {}): Controller {
    const primary = this.ref;
    const c = new Controller({
      name: this.name, reconcile, log: this.mgr.log, metrics: this.mgr.metrics, concurrency: this.workers, clock: this.mgr.clock,
      onTerminal: opts.onTerminal ?? ((req, err) => this.mgr.recordTerminal(primary, req, err)),
    });
    for (const s of this.sources) {
      this.mgr.informer(s.ref, s.labelSelector).addHandler((type, obj, old) => {
        if (s.predicate && !s.predicate(type, obj, old)) return;
        for (const key of s.map(obj, type === "update" ? old : undefined)) {
          if (s.delayMs) c.enqueueAfter(key, s.delayMs);
          else c.enqueue(key);
        }
      });
    }
    this.register(c);
    return c;
  }
}
