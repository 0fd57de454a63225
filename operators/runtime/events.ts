// Records events.k8s.io/v1 Events for state transitions a user cares about. Repeats of the same
// (object, type, reason, note) within the series window update one Event's series count instead
// of creating a new object each time, as client-go's event broadcaster aggregates.
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { Clock } from "./clock.ts";
import { microTime, realClock } from "./clock.ts";
import type { KubeClient } from "./kube.ts";
import type { KubeObject } from "./types.ts";
import { EventRef } from "./core.ts";

const SERIES_WINDOW_MS = 30 * 60_000;
const MAX_IN_FLIGHT = 4;
const MAX_QUEUED = 1000;
const MAX_SERIES = 50_000;

export type EventType = "Normal" | "Warning";

interface Series {
  name: string;
  namespace: string;
  count: number;
  last: number;
  /** Writes of one series run in order, so a repeat never patches an Event still being created. */
  chain: Promise<void>;
}

export class EventRecorder {
  private readonly series = new Map<string, Series>();
  private readonly waiting: Array<() => void> = [];
  private inFlight = 0;
  private lastPrune = 0;
  /** Events dropped because the write queue was full. */
  dropped = 0;
  /** Event writes queued or in flight. */
  get pending(): number {
    return this.inFlight + this.waiting.length;
  }
  private readonly client: KubeClient;
  private readonly controller: string;
  private readonly instance: string;
  private readonly log: Logger;
  private readonly clock: Clock;

  constructor(client: KubeClient, opts: { controller: string; instance: string }, log: Logger, clock: Clock = realClock) {
    this.client = client;
    this.controller = opts.controller;
    this.instance = opts.instance;
    this.log = log;
    this.clock = clock;
  }

  /** Fire-and-forget: an event that cannot be written is logged, never fails a reconcile. */
  record(obj: KubeObject, type: EventType, reason: string, note: string, action = reason): void {
    note = note.slice(0, 1024);
    const key = `${obj.metadata.uid}|${type}|${reason}|${note}`;
    const now = this.clock.now();
    const prev = this.series.get(key);
    const s = prev && now - prev.last < SERIES_WINDOW_MS ? prev : this.newSeries(key, obj, now);
    const write = s === prev ? () => this.bump(s, now) : () => this.create(s, obj, type, reason, note, action, now);
    s.chain = s.chain.then(() => this.limited(write)).catch((err: unknown) => this.log.warn({ err: String(err), reason }, "could not record event"));
  }

  private newSeries(key: string, obj: KubeObject, now: number): Series {
    const name = `${obj.metadata.name}.${now.toString(16)}${randomBytes(2).toString("hex")}`;
    const s = { name, namespace: obj.metadata.namespace || "default", count: 0, last: now, chain: Promise.resolve() };
    this.series.set(key, s);
    this.prune(now);
    return s;
  }

  private async bump(s: Series, now: number): Promise<void> {
    s.count++;
    s.last = now;
    const body = { series: { count: s.count, lastObservedTime: microTime(now) } };
    await this.client.patch(EventRef, s.name, s.namespace, body, "merge");
  }

  private async create(s: Series, obj: KubeObject, type: EventType, reason: string, note: string, action: string, now: number): Promise<void> {
    s.count = 1;
    await this.client.create(EventRef, {
      apiVersion: "events.k8s.io/v1", kind: "Event", metadata: { name: s.name, namespace: s.namespace },
      eventTime: microTime(now), reportingController: this.controller, reportingInstance: this.instance,
      action, reason, note, type,
      regarding: {
        apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name, namespace: obj.metadata.namespace,
        uid: obj.metadata.uid, resourceVersion: obj.metadata.resourceVersion,
      },
    });
  }

  /**
   * Events are best effort and must not crowd out the work they describe (a scheduler's binds): at
   * most MAX_IN_FLIGHT writes at once and MAX_QUEUED waiting, beyond which an event is dropped and
   * counted, as client-go's broadcaster drops when its 1000-event queue is full.
   */
  private async limited(write: () => Promise<void>): Promise<void> {
    if (this.inFlight >= MAX_IN_FLIGHT) {
      if (this.waiting.length >= MAX_QUEUED) {
        if (this.dropped++ % 1000 === 0) this.log.warn({ dropped: this.dropped }, "event queue full: dropping events");
        return;
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.inFlight++;
    try {
      await write();
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }

  // At most once a minute, and bounded: a scan per new series was quadratic at 30,000 pods.
  private prune(now: number): void {
    if (this.series.size < 4096 || now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    for (const [k, s] of this.series) if (now - s.last >= SERIES_WINDOW_MS) this.series.delete(k);
    for (const k of this.series.keys()) {
      if (this.series.size <= MAX_SERIES) break;
      this.series.delete(k); // oldest first (insertion order): a repeat then starts a new Event
    }
  }
}
