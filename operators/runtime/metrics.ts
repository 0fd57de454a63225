// Prometheus metrics with controller-runtime's and client-go's names, so existing dashboards and
// alerts work unchanged. One registry per manager (tests run several managers in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { QueueMetrics } from "./queue.ts";

const reconcileBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1, 1.25, 1.5, 1.75, 2, 2.5, 3, 3.5, 4, 4.5, 5, 6, 7, 8, 9, 10, 15, 20, 25, 30, 40, 50, 60];
const queueBuckets = [1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];

export class Metrics {
  readonly registry = new Registry();
  readonly reconcileTotal = new Counter({
    name: "controller_runtime_reconcile_total", help: "Total number of reconciliations per controller",
    labelNames: ["controller", "result"], registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: "controller_runtime_reconcile_errors_total", help: "Total number of reconciliation errors per controller",
    labelNames: ["controller"], registers: [this.registry],
  });
  readonly terminalErrors = new Counter({
    name: "controller_runtime_terminal_reconcile_errors_total", help: "Total number of terminal reconciliation errors per controller",
    labelNames: ["controller"], registers: [this.registry],
  });
  readonly reconcileTime = new Histogram({
    name: "controller_runtime_reconcile_time_seconds", help: "Length of time per reconciliation per controller",
    labelNames: ["controller"], buckets: reconcileBuckets, registers: [this.registry],
  });
  readonly activeWorkers = new Gauge({
    name: "controller_runtime_active_workers", help: "Number of currently used workers per controller",
    labelNames: ["controller"], registers: [this.registry],
  });
  readonly maxConcurrent = new Gauge({
    name: "controller_runtime_max_concurrent_reconciles", help: "Maximum number of concurrent reconciles per controller",
    labelNames: ["controller"], registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: "leader_election_master_status", help: "1 while this manager holds the leader lease, else 0",
    labelNames: ["name"], registers: [this.registry],
  });
  readonly informerErrors = new Counter({
    name: "cellcloud_informer_errors_total", help: "Failed list or watch requests of the manager's informers (403s included)",
    labelNames: ["resource", "op"], registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: "cellcloud_apiserver_requests_total", help: "Requests this manager sent to the apiserver, by verb, resource (resource.group) and HTTP code; a watch counts once when it starts",
    labelNames: ["verb", "resource", "code"], registers: [this.registry],
  });
  /** Set by the manager: its event recorder's writes queued or in flight, and events it dropped. */
  eventStats: () => { pending: number; dropped: number } = () => ({ pending: 0, dropped: 0 });
  private readonly eventsPending: Gauge = new Gauge({
    name: "cellcloud_event_writes_pending", help: "Event writes queued or in flight in the manager's event recorder (best effort, bounded)",
    registers: [this.registry], collect: (): void => this.eventsPending.set(this.eventStats().pending),
  });
  // A Counter (Prometheus' convention for a count that only grows; rate() of it works), set at
  // scrape time from the recorder's own count.
  private readonly eventsDropped: Counter = new Counter({
    name: "cellcloud_events_dropped_total", help: "Events dropped since start because the event recorder's queue was full",
    registers: [this.registry], collect: (): void => { this.eventsDropped.reset(); this.eventsDropped.inc(this.eventStats().dropped); },
  });
  private readonly depth = new Gauge({ name: "workqueue_depth", help: "Current depth of workqueue", labelNames: ["name", "controller"], registers: [this.registry] });
  private readonly adds = new Counter({ name: "workqueue_adds_total", help: "Total number of adds handled by workqueue", labelNames: ["name", "controller"], registers: [this.registry] });
  private readonly retries = new Counter({ name: "workqueue_retries_total", help: "Total number of retries handled by workqueue", labelNames: ["name", "controller"], registers: [this.registry] });
  private readonly latency = new Histogram({
    name: "workqueue_queue_duration_seconds", help: "How long in seconds an item stays in workqueue before being requested",
    labelNames: ["name", "controller"], buckets: queueBuckets, registers: [this.registry],
  });
  private readonly work = new Histogram({
    name: "workqueue_work_duration_seconds", help: "How long in seconds processing an item from workqueue takes",
    labelNames: ["name", "controller"], buckets: queueBuckets, registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Hooks a controller's work queue into the workqueue_* series. */
  queue(controller: string): QueueMetrics {
    const l = { name: controller, controller };
    this.depth.set(l, 0);
    this.adds.inc(l, 0);
    this.retries.inc(l, 0);
    return {
      depth: (n) => this.depth.set(l, n),
      added: () => this.adds.inc(l),
      retry: () => this.retries.inc(l),
      queueLatency: (s) => this.latency.observe(l, s),
      workDuration: (s) => this.work.observe(l, s),
    };
  }
}
