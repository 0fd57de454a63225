// Runs a CellCloud manager inside the test process (for tests that count its requests or drive
// its queue) or as a child process (for tests that kill it), against the test control plane.
import { spawn, type ChildProcess } from "node:child_process";
import { hostname } from "node:os";
import { KubeConfig } from "@kubernetes/client-node";
import { inject } from "vitest";
import type { Controller } from "../../operators/runtime/controller.ts";
import { newLogger } from "../../operators/runtime/log.ts";
import { Manager } from "../../operators/runtime/manager.ts";
import type { Clock } from "../../operators/runtime/clock.ts";
import type { ProductContext, Settings } from "../../operators/runtime/product.ts";
import { controllers, productContext, setupControllers } from "../../operators/products.ts";
import { ledgerUrl, scratchLedger } from "./billing.ts";
import { repoRoot } from "./plane.ts";

export interface InProcessManager {
  mgr: Manager;
  /** What the products see of each other (gates, charged kinds), as main.ts builds it. */
  ctx: ProductContext;
  controllers: Record<string, Controller>;
  /** Requests the manager made that change state (anything but GET), as "METHOD path". */
  writes: string[];
  reconciles(): Promise<number>;
  /**
   * Failed reconciles of one object, from the manager's own log: when (ms since epoch) and whether
   * terminal. Per object, unlike the error metric, so leftovers of other suites cannot interfere.
   */
  failures(namespace: string, name: string): Array<{ at: number; terminal: boolean }>;
}

interface LogRecord { time: string; msg: string; namespace?: string; name?: string }

/** A manager with every controller (or the named ones), leader election off, /metrics on a free port. */
export async function startManager(names: string[] = Object.keys(controllers), kubeconfig: string = inject("kubeconfig"), opts: { clock?: Clock; settings?: Settings } = {}): Promise<InProcessManager> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const records: LogRecord[] = [];
  const sink = {
    write(line: string) {
      records.push(JSON.parse(line) as LogRecord);
      if (process.env.TEST_LOG_LEVEL) process.stdout.write(line);
    },
  };
  const mgr = new Manager({
    kubeConfig: kc, log: newLogger(process.env.TEST_LOG_LEVEL ?? "warn", sink), leaderElection: false,
    metricsAddress: "127.0.0.1:0", processMetrics: false, ...(opts.clock ? { clock: opts.clock } : {}),
  });
  const writes: string[] = [];
  mgr.client.onRequest((method, path) => { if (method !== "GET") writes.push(`${method} ${path}`); });
  // billing gets a scratch ledger of its own, unless the test brings one (or the plane has none)
  const settings = { ...opts.settings };
  if (names.includes("billing") && !settings.billing?.databaseUrl && ledgerUrl()) settings.billing = { ...settings.billing, databaseUrl: (await scratchLedger("mgr")).url };
  const ctx = productContext(settings);
  const started = setupControllers(mgr, ctx, names);
  await mgr.start();
  const sum = async (name: string) =>
    (await mgr.metrics.registry.getSingleMetric(name)?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;
  return {
    mgr, ctx, controllers: started as Record<string, Controller>, writes,
    reconciles: () => sum("controller_runtime_reconcile_total"),
    failures: (namespace, name) => records
      .filter((r) => r.namespace === namespace && r.name === name && r.msg.startsWith("reconcile failed"))
      .map((r) => ({ at: Date.parse(r.time), terminal: r.msg.includes("terminally") })),
  };
}

export interface ManagerProcess {
  child: ChildProcess;
  pid: number;
  identity: string;
  metricsUrl: string;
  /** Base URL of its health listener: GET /readyz answers 200 once its informer caches synced (503 before), /healthz 200. */
  healthUrl: string;
  output: () => string;
}

/** `node operators/main.ts` as a user runs it, with its own ports and the given lease. */
/** Flags that make a spawned manager serve its admission webhooks on 127.0.0.1:`port`, its certificate in `namespace`. */
export function webhookArgs(port: number, namespace: string): string[] {
  return [
    `--webhook-port=${port}`, "--webhook-bind-address=127.0.0.1", `--webhook-url=https://127.0.0.1:${port}`, `--webhook-namespace=${namespace}`,
    ...(inject("webhookClientCA") ? [`--webhook-client-ca=${inject("webhookClientCA")}`] : []),
  ];
}

export function spawnManager(opts: {
  leaseId: string; metricsPort: number; healthPort: number; controllers?: string; extraArgs?: string[];
}): ManagerProcess {
  // Later flags win in parseArgs, so extraArgs can override the kubeconfig.
  const child = spawn(process.execPath, [
    `${repoRoot}/operators/main.ts`, `--kubeconfig=${inject("kubeconfig")}`,
    `--controllers=${opts.controllers ?? "widget"}`, `--leader-election-id=${opts.leaseId}`,
    `--metrics-bind-address=127.0.0.1:${opts.metricsPort}`, `--health-probe-bind-address=127.0.0.1:${opts.healthPort}`,
    ...(opts.extraArgs ?? []),
  ], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.on("data", (d: Buffer) => { out += d.toString(); });
  child.stderr?.on("data", (d: Buffer) => { out += d.toString(); });
  const pid = child.pid ?? 0;
  const identity = `${hostname()}_${pid}`; // the manager's default leader identity
  return { child, pid, identity, metricsUrl: `http://127.0.0.1:${opts.metricsPort}/metrics`,
    healthUrl: `http://127.0.0.1:${opts.healthPort}`, output: () => out };
}

/** SIGKILLs a spawned manager and waits until it is gone (nothing it sent can land afterwards). */
export async function stopProcess(m: ManagerProcess | undefined): Promise<void> {
  if (!m || m.child.exitCode !== null || m.child.signalCode !== null) return;
  const exited = new Promise((r) => m.child.once("exit", r));
  m.child.kill("SIGKILL");
  await exited;
}

/** The value of one series in a Prometheus text exposition, summed over matching label sets. */
export function metricValue(text: string, name: string, labelFilter = ""): number {
  return text
    .split("\n")
    .filter((l) => l.startsWith(name) && (l[name.length] === "{" || l[name.length] === " ") && l.includes(labelFilter))
    .reduce((a, l) => a + Number(l.slice(l.lastIndexOf(" ") + 1)), 0);
}

/**
 * A manager process a chaos test SIGKILLs and restarts: start() spawns it, kill() waits until it is
 * dead, chaos([min, max]) kills it at random moments and restarts it 0.1-0.6 s later until the
 * returned stop() is awaited (which leaves a manager running).
 *
 * chaos() is progress-aware: after each (re)start it waits until the manager is ready (/readyz 200:
 * its caches synced, so its webhook admits too) and has reconciled at least once more since (or,
 * with nothing to do, PROGRESS_WAIT_MS passed), and only then draws the min..max ms before the
 * next SIGKILL, which also waits until the manager has been ready for as long as its start took.
 * The interval counts from readiness and progress, not from the spawn, so on a cold, loaded machine
 * where a start takes longer than the interval kills come later instead of preventing all progress.
 * readyMs records each start's time from spawn to ready.
 */
export class CrashingManager {
  /** How long chaos() waits for a reconcile after ready before it takes the manager as idle. */
  static readonly PROGRESS_WAIT_MS = 5000;
  kills = 0;
  current?: ManagerProcess;
  /** Per start chaos() saw become ready: ms from the spawn until /readyz answered 200. */
  readonly readyMs: number[] = [];
  private readonly spawnIt: () => ManagerProcess;
  private spawnedAt = 0;
  private chaosMs = 0;

  constructor(spawnIt: () => ManagerProcess) {
    this.spawnIt = spawnIt;
  }

  start(): ManagerProcess {
    this.current = this.spawnIt();
    this.spawnedAt = Date.now();
    return this.current;
  }

  /** A running manager: the current one, or a new one. */
  ensure(): ManagerProcess {
    return this.current ?? this.start();
  }

  async kill(): Promise<void> {
    const m = this.current;
    if (!m) return;
    if (m.child.exitCode === null && m.child.signalCode === null) this.kills++;
    await stopProcess(m);
    this.current = undefined;
  }

  chaos([min, max]: [number, number]): () => Promise<void> {
    const stopping = new AbortController();
    const { signal } = stopping;
    const began = Date.now();
    // Sleeps end early on stop(), so stop() does not wait out an interval.
    const sleep = (ms: number) => new Promise<void>((resolve) => {
      const wake = () => { clearTimeout(timer); signal.removeEventListener("abort", wake); resolve(); };
      const timer = setTimeout(wake, ms);
      signal.addEventListener("abort", wake, { once: true });
    });
    // Polls every 100 ms until `done` (true) or stop() (false); a manager that exits by itself fails the chaos.
    const until = async (m: ManagerProcess, what: string, done: () => Promise<boolean>): Promise<boolean> => {
      while (!signal.aborted) {
        if (m.child.exitCode !== null || m.child.signalCode !== null) {
          throw new Error(`manager ${m.pid} exited by itself (${m.child.exitCode ?? m.child.signalCode}) waiting ${what}:\n${m.output().slice(-4000)}`);
        }
        if (await done()) return true;
        await sleep(100);
      }
      return false;
    };
    const loop = (async () => {
      while (!signal.aborted) {
        const m = this.ensure();
        const spawnedAt = this.spawnedAt;
        let probes = 0;
        const ready = async () => {
          probes++;
          return (await get(`${m.healthUrl}/readyz`))?.status === 200;
        };
        if (!(await until(m, "to be ready", ready))) break;
        const readyAt = Date.now();
        // Not a manager that was ready before chaos() began (its spawn-to-ready time is unknown).
        const known = probes > 1 || spawnedAt >= began;
        if (known) this.readyMs.push(readyAt - spawnedAt);
        const reconciles = async () => {
          const r = await get(m.metricsUrl);
          return r?.status === 200 ? metricValue(r.text, "controller_runtime_reconcile_total") : undefined;
        };
        const atReady = (await reconciles()) ?? 0;
        const progressed = async () => Date.now() - readyAt >= CrashingManager.PROGRESS_WAIT_MS || ((await reconciles()) ?? -1) > atReady;
        if (!(await until(m, "for a reconcile", progressed))) break;
        // The kill comes min..max ms later, and not before the manager has been ready for as long as its
        // start took (so on a slow machine it still works about half the time).
        const startMs = known ? readyAt - spawnedAt : 0;
        await sleep(Math.max(min + Math.random() * (max - min), readyAt + startMs - Date.now()));
        if (signal.aborted) break;
        await this.kill();
        await sleep(100 + Math.random() * 500);
        if (signal.aborted) break;
        this.start();
      }
    })();
    loop.catch((e: unknown) => console.error(`chaos stopped: ${String(e)}`)); // at once; stop() rethrows it
    return async () => {
      if (!signal.aborted) this.chaosMs += Date.now() - began;
      stopping.abort();
      try {
        await loop;
      } finally {
        this.ensure();
      }
    };
  }

  /** One line for a test's log: kills, how long chaos() ran, and time to ready (median, max) over the starts it saw become ready. */
  summary(): string {
    const s = [...this.readyMs].sort((a, b) => a - b);
    const mid = s.length >> 1;
    const median = s.length % 2 ? s[mid] ?? 0 : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
    return `${this.kills} kills in ${(this.chaosMs / 1000).toFixed(1)} s of chaos; time to ready over ${s.length} starts: median ${Math.round(median)} ms, max ${s.at(-1) ?? 0} ms`;
  }
}

/** GET with a 1 s timeout; undefined when nothing answers (a dead or not yet listening process). */
async function get(url: string): Promise<{ status: number; text: string } | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return { status: r.status, text: await r.text() };
  } catch {
    return undefined;
  }
}
