// The cell scheduler: places every pod with `schedulerName: cellcloud-scheduler`, as kube-scheduler
// does — one cycle at a time on a cached snapshot, assume, then bind asynchronously through the
// pods/binding subresource; a failed bind forgets the assumption and retries the pod with backoff.
// Unschedulable pods get PodScheduled=False and a FailedScheduling Event, and wait for the cluster
// to change. A pod that does not fit may preempt strictly lower-priority pods: the victims are
// deleted, the node is reserved for it, and it is placed once they are gone.
import type * as k8s from "@kubernetes/client-node";
import { setImmediate as yieldToIO } from "node:timers/promises";
import { Counter, Gauge, Histogram } from "prom-client";
import type { Logger } from "pino";
import { NamespaceRef, PodRef, NodeRef } from "../../runtime/core.ts";
import { TENANT_LABEL } from "../../api/tenancy.ts";
import type { EventRecorder } from "../../runtime/events.ts";
import type { Informer } from "../../runtime/informer.ts";
import { isConflict, isNotFound, type KubeClient } from "../../runtime/kube.ts";
import type { Manager, Runnable } from "../../runtime/manager.ts";
import { keyOf, type KubeObject } from "../../runtime/types.ts";
import { CellRef, nodeLabels, schedulerName, schedulingAnnotations as annotations } from "../../api/platform.ts";
import { SchedulerCache } from "./cache.ts";
import { placedPod, schedule, scheduleGang, type Strategy } from "./placement.ts";
import { gangOf, InvalidPodError, podRequest, wantsScheduling, type Gang } from "./podrequest.ts";
import { findPreemption, sameTenant } from "./preemption.ts";
import { SchedulingQueue } from "./queue.ts";
import type { NodeState, PlacedPod, PodRequest } from "./snapshot.ts";
import type { Clock } from "../../runtime/clock.ts";

const GANG_INDEX = "platform.cellcloud.io/pod-gang";
const gangIndex = (p: Pod): string[] => {
  try {
    const g = gangOf(p);
    return g ? [g.key] : [];
  } catch {
    return [];
  }
};


type Pod = k8s.V1Pod & KubeObject;
type Node = k8s.V1Node & KubeObject;
type Cell = KubeObject & { spec?: { placementStrategy?: Strategy } };

const reservationKey = (key: string): string => `reserve:${key}`;
/** How long a preemptor keeps its node reserved while its victims terminate. */
const NOMINATION_TTL_MS = 60_000;
/**
 * Binds in flight at once. kube-scheduler has no cap (a goroutine per binding cycle); at 64 the
 * bench saw ours held to ~64 pods/s while a loaded apiserver took ~1 s per Binding. Requests share
 * one HTTP/2 connection (the apiserver allows 1000 streams on it), so a high cap costs no sockets.
 */
const MAX_BINDS_IN_FLIGHT = 256;
/** A cycle yields to I/O after this long, so informer events and bind responses keep flowing. */
const SLICE_MS = 20;

interface Nomination {
  node: string;
  victims: Set<string>;
  until: number;
}

export interface SchedulerOptions {
  client: KubeClient;
  events: EventRecorder;
  log: Logger;
  pods: Informer<Pod>;
  nodes: Informer<Node>;
  cells: Informer<Cell>;
  /** Tenant namespaces, so preemption stays within a tenant. */
  namespaces: Informer;
  metrics: SchedulerMetrics;
  clock: Clock;
}

class SchedulerMetrics {
  readonly attempts: Counter<"result">;
  readonly pending: Gauge<"queue">;
  readonly bindDuration: Histogram;
  readonly preemptionVictims: Counter;

  constructor(registry: import("prom-client").Registry) {
    const registers = [registry];
    this.attempts = new Counter({ name: "cellcloud_scheduler_schedule_attempts_total", help: "Scheduling attempts by result (scheduled, unschedulable, error)", labelNames: ["result"], registers });
    this.pending = new Gauge({ name: "cellcloud_scheduler_pending_pods", help: "Pods waiting in the scheduling queue, by queue (active, backoff, unschedulable)", labelNames: ["queue"], registers });
    this.bindDuration = new Histogram({ name: "cellcloud_scheduler_binding_duration_seconds", help: "Time to write one Binding", buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5], registers });
    this.preemptionVictims = new Counter({ name: "cellcloud_scheduler_preemption_victims_total", help: "Pods deleted to make room for higher-priority pods", registers });
  }
}

class CellScheduler implements Runnable {
  readonly queue: SchedulingQueue;
  readonly cache = new SchedulerCache();
  private readonly o: SchedulerOptions;
  private readonly nominations = new Map<string, Nomination>();
  private readonly binds = new Set<Promise<void>>();
  private loop?: Promise<void>;
  private flusher?: ReturnType<typeof setInterval>;

  constructor(o: SchedulerOptions) {
    this.o = o;
    this.queue = new SchedulingQueue({ clock: o.clock });
    o.pods.addIndexer(GANG_INDEX, gangIndex);
    o.nodes.addHandler((type, node) => this.onNode(type, node));
    o.pods.addHandler((type, pod, old) => this.onPod(type, pod, old));
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
    this.flusher = setInterval(() => {
      this.queue.flushUnschedulable();
      const p = this.queue.pending;
      for (const [queue, n] of Object.entries(p)) this.o.metrics.pending.set({ queue }, n);
    }, 5_000);
  }

  async stop(): Promise<void> {
    this.queue.close();
    if (this.flusher) clearInterval(this.flusher);
    await this.loop;
    await Promise.allSettled([...this.binds]);
  }

  // ---------------- informer events ----------------

  private onNode(type: string, node: Node): void {
    if (type === "delete") this.cache.deleteNode(node.metadata.name);
    else if (!this.cache.setNode(node)) return;
    this.queue.moveAllToActive();
  }

  private onPod(type: string, pod: Pod, old?: Pod): void {
    const key = keyOf(pod);
    if (type === "delete") {
      const freed = this.cache.deletePod(key);
      this.queue.remove(key);
      this.dropNomination(key);
      this.victimGone(key);
      if (freed) this.queue.moveAllToActive();
      return;
    }
    if (this.cache.observePod(pod)) {
      this.victimGone(key);
      this.queue.moveAllToActive();
    }
    if (!wantsScheduling(pod)) {
      this.queue.remove(key);
      if (pod.spec?.nodeName) this.dropNomination(key);
      return;
    }
    // Our own status writes (PodScheduled=False) must not retry the pod; a change to what it asks for must.
    if (old && this.queue.has(key) && !askChanged(old, pod)) return;
    if (!this.cache.isPlaced(key)) this.queue.add(key, pod.spec?.priority ?? 0);
  }

  // ---------------- the scheduling loop ----------------

  private async run(): Promise<void> {
    let slice = performance.now();
    for (;;) {
      const key = await this.queue.pop();
      if (key === undefined) return;
      try {
        await this.scheduleOne(key);
      } catch (err) {
        this.o.metrics.attempts.inc({ result: "error" });
        this.o.log.error({ err, pod: key }, "scheduling attempt failed");
        this.queue.retryLater(key);
      }
      if (performance.now() - slice > SLICE_MS) {
        await yieldToIO();
        slice = performance.now();
      }
    }
  }

  private strategyOf = (n: NodeState): Strategy => {
    const cell = n.info.labels[nodeLabels.cell];
    return (cell && this.o.cells.get(cell)?.spec?.placementStrategy) || "Binpack";
  };

  private async scheduleOne(key: string): Promise<void> {
    const pod = this.o.pods.get(key);
    if (!pod || !wantsScheduling(pod) || this.cache.isPlaced(key)) {
      this.queue.done(key);
      return;
    }
    if (this.waitingForVictims(key)) {
      this.queue.unschedulableNow(key);
      return;
    }
    let req: PodRequest;
    let gang: Gang | undefined;
    try {
      gang = gangOf(pod);
      req = podRequest(pod);
    } catch (err) {
      if (!(err instanceof InvalidPodError)) throw err;
      this.unschedulable(pod, err.reason, err.message);
      return;
    }
    if (gang) return this.scheduleGangOf(pod, gang);
    const snapshot = this.cache.snapshot();
    const d = schedule(req, snapshot, this.strategyOf);
    if ("node" in d) {
      this.o.metrics.attempts.inc({ result: "scheduled" });
      await this.assumeAndBind(pod, req, d.node);
      return;
    }
    // Only pods this scheduler placed are ever victims: others are their own scheduler's business.
    const tenantOk = sameTenant((ns) => this.o.namespaces.get(ns)?.metadata.labels?.[TENANT_LABEL], req);
    const mayEvict = (v: PlacedPod) => this.o.pods.get(v.key)?.spec?.schedulerName === schedulerName && tenantOk(v);
    const p = findPreemption(req, snapshot, this.strategyOf, mayEvict);
    if (p) this.preempt(pod, req, p.node, p.victims);
    this.unschedulable(pod, "Unschedulable", p ? `${d.unschedulable} Preempting ${p.victims.length} lower-priority pod(s) on node ${p.node}.` : d.unschedulable);
  }

  /** All-or-nothing: the gang's pending members are placed together or not at all. */
  private async scheduleGangOf(pod: Pod, gang: Gang): Promise<void> {
    const key = keyOf(pod);
    const members = this.o.pods.byIndex(GANG_INDEX, gang.key);
    const pending = members.filter((m) => wantsScheduling(m) && !this.cache.isPlaced(keyOf(m)));
    const placed = members.length - pending.length;
    const name = pod.metadata.annotations?.[annotations.gang] ?? gang.key;
    const parkAll = (reason: string, message: string) => {
      for (const m of pending) {
        if (keyOf(m) !== key) this.queue.park(keyOf(m));
        this.setUnschedulable(m, reason, message);
      }
      this.queue.unschedulableNow(key);
      this.o.metrics.attempts.inc({ result: "unschedulable" });
    };
    if (members.length < gang.size) {
      return parkAll("WaitingForGang", `gang ${name} needs ${gang.size} pods and ${members.length} exist; none is placed until all are`);
    }
    let requests: PodRequest[];
    try {
      requests = pending.map(podRequest);
    } catch (err) {
      if (!(err instanceof InvalidPodError)) throw err;
      return parkAll(err.reason, `gang ${name}: ${err.message}`);
    }
    const d = scheduleGang(requests, this.cache.snapshot(), this.strategyOf);
    if ("unschedulable" in d) return parkAll("Unschedulable", `gang ${name} (${pending.length} pending, ${placed} placed): ${d.unschedulable}`);
    this.o.metrics.attempts.inc({ result: "scheduled" });
    const byKey = new Map(pending.map((m, i) => [keyOf(m), { pod: m, req: requests[i] as PodRequest }]));
    for (const { pod: member, node } of d.placements) {
      const m = byKey.get(member);
      if (!m) continue;
      if (member !== key) this.queue.remove(member);
      await this.assumeAndBind(m.pod, m.req, node, member === key);
    }
  }

  private async assumeAndBind(pod: Pod, req: PodRequest, node: string, inFlight = true): Promise<void> {
    const key = keyOf(pod);
    this.cache.assume(key, node, placedPod(req));
    this.dropNomination(key);
    while (this.binds.size >= MAX_BINDS_IN_FLIGHT) await Promise.race(this.binds);
    const started = performance.now();
    const bind = this.bind(pod, node)
      .then(() => {
        this.o.metrics.bindDuration.observe((performance.now() - started) / 1000);
        if (inFlight) this.queue.done(key);
        this.o.events.record(pod, "Normal", "Scheduled", `Successfully assigned ${key} to ${node}`);
      })
      .catch((err: unknown) => {
        this.cache.forget(key);
        if (isNotFound(err) || isConflict(err)) {
          // The pod is gone or someone else bound it; the informer tells the rest.
          if (inFlight) this.queue.done(key);
          return;
        }
        this.o.log.warn({ err: String(err), pod: key, node }, "binding failed; retrying");
        if (inFlight) this.queue.retryLater(key);
        else this.queue.add(key, req.priority);
      })
      .finally(() => this.binds.delete(bind));
    this.binds.add(bind);
  }

  private bind(pod: Pod, node: string): Promise<unknown> {
    const { name, namespace, uid } = pod.metadata;
    return this.o.client.request("POST", `/api/v1/namespaces/${namespace}/pods/${name}/binding`, {
      body: { apiVersion: "v1", kind: "Binding", metadata: { name, namespace, uid }, target: { apiVersion: "v1", kind: "Node", name: node } },
    });
  }

  // ---------------- unschedulable pods ----------------

  private unschedulable(pod: Pod, reason: string, message: string): void {
    this.o.metrics.attempts.inc({ result: "unschedulable" });
    this.setUnschedulable(pod, reason, message);
    this.queue.unschedulableNow(keyOf(pod));
  }

  /** PodScheduled=False and a FailedScheduling Event, written only when the message changed. */
  private setUnschedulable(pod: Pod, reason: string, message: string): void {
    const current = pod.status?.conditions?.find((c) => c.type === "PodScheduled");
    if (current?.status === "False" && current.reason === reason && current.message === message) return;
    const condition = { type: "PodScheduled", status: "False", reason, message, lastProbeTime: null, lastTransitionTime: new Date().toISOString() };
    this.o.client
      .patch(PodRef, pod.metadata.name, pod.metadata.namespace, { status: { conditions: [condition] } }, "strategic", { subresource: "status" })
      .catch((err: unknown) => { if (!isNotFound(err)) this.o.log.warn({ err: String(err), pod: keyOf(pod) }, "could not set PodScheduled=False"); });
    this.o.events.record(pod, "Warning", "FailedScheduling", message);
  }

  // ---------------- preemption ----------------

  /** Deletes the victims and reserves the node for the preemptor until they are gone (or the nomination expires). */
  private preempt(pod: Pod, req: PodRequest, node: string, victims: string[]): void {
    const key = keyOf(pod);
    this.nominations.set(key, { node, victims: new Set(victims), until: this.o.clock.now() + NOMINATION_TTL_MS });
    this.cache.assume(reservationKey(key), node, placedPod(req));
    this.o.metrics.preemptionVictims.inc(victims.length);
    this.o.client
      .patch(PodRef, pod.metadata.name, pod.metadata.namespace, { status: { nominatedNodeName: node } }, "merge", { subresource: "status" })
      .catch((err: unknown) => this.o.log.warn({ err: String(err), pod: key }, "could not set nominatedNodeName"));
    for (const v of victims) {
      const victim = this.o.pods.get(v);
      if (!victim) continue;
      // Another namespace's pod is not named: its name is that workload's business.
      const by = victim.metadata.namespace === pod.metadata.namespace ? key : "a higher-priority workload";
      this.o.events.record(victim, "Normal", "Preempted", `Preempted by ${by} (priority ${req.priority}) on node ${node}`);
      this.o.client
        .delete(PodRef, victim.metadata.name, victim.metadata.namespace, { preconditions: { uid: victim.metadata.uid } })
        .catch((err: unknown) => { if (!isNotFound(err) && !isConflict(err)) this.o.log.warn({ err: String(err), victim: v }, "could not delete preemption victim"); });
    }
  }

  private waitingForVictims(key: string): boolean {
    const n = this.nominations.get(key);
    if (!n) return false;
    if (n.victims.size > 0 && this.o.clock.now() < n.until) return true;
    this.dropNomination(key);
    return false;
  }

  private victimGone(victim: string): void {
    for (const [key, n] of this.nominations) {
      if (!n.victims.delete(victim) || n.victims.size > 0) continue;
      // Release the reservation just before the preemptor's own cycle, which its priority puts first.
      this.dropNomination(key);
      const pod = this.o.pods.get(key);
      if (pod && wantsScheduling(pod)) this.queue.add(key, pod.spec?.priority ?? 0);
    }
  }

  private dropNomination(key: string): void {
    if (!this.nominations.delete(key)) return;
    this.cache.forget(reservationKey(key));
  }
}

/** What the scheduler reads from a pod changed (not just its status). */
function askChanged(old: Pod, pod: Pod): boolean {
  return JSON.stringify(old.spec) !== JSON.stringify(pod.spec) ||
    JSON.stringify(old.metadata.labels) !== JSON.stringify(pod.metadata.labels) ||
    JSON.stringify(old.metadata.annotations) !== JSON.stringify(pod.metadata.annotations);
}

export function setupScheduler(mgr: Manager): CellScheduler {
  return mgr.add(new CellScheduler({
    client: mgr.client, events: mgr.events, log: mgr.log.child({ controller: "scheduler" }),
    pods: mgr.informer<Pod>(PodRef), nodes: mgr.informer<Node>(NodeRef), cells: mgr.informer<Cell>(CellRef),
    namespaces: mgr.informer(NamespaceRef, TENANT_LABEL),
    metrics: new SchedulerMetrics(mgr.metrics.registry), clock: mgr.clock,
  }));
}
