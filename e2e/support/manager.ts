// Runs a CellCloud manager inside the test process (for tests that count its requests or drive
// its queue) or as a child process (for tests that kill it), against the test control plane.
import { spawn, type ChildProcess } from "node:child_process";
import { hostname } from "node:os";
import { KubeConfig } from "@kubernetes/client-node";
import { inject } from "vitest";
import type { Controller } from "../../operators/runtime/controller.ts";
import { newLogger } from "../../operators/runtime/log.ts";
import { Manager } from "../../operators/runtime/manager.ts";
import { controllers } from "../../operators/controllers.ts";
import { repoRoot } from "./plane.ts";

export interface InProcessManager {
  mgr: Manager;
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
export async function startManager(names: string[] = Object.keys(controllers), kubeconfig: string = inject("kubeconfig")): Promise<InProcessManager> {
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
    metricsAddress: "127.0.0.1:0", processMetrics: false,
  });
  const writes: string[] = [];
  mgr.client.onRequest((method, path) => { if (method !== "GET") writes.push(`${method} ${path}`); });
  const started = Object.fromEntries(names.map((n) => [n, controllers[n]!(mgr)]));
  await mgr.start();
  const sum = async (name: string) =>
    (await mgr.metrics.registry.getSingleMetric(name)?.get())?.values.reduce((a, v) => a + v.value, 0) ?? 0;
  return {
    mgr, controllers: started as Record<string, Controller>, writes,
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
  output: () => string;
}

/** `node operators/main.ts` as a user runs it, with its own ports and the given lease. */
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
  return { child, pid, identity, metricsUrl: `http://127.0.0.1:${opts.metricsPort}/metrics`, output: () => out };
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
 * dead, chaos() kills it every `everyMs` (random within the range) and restarts it 0.1-0.6 s later
 * until the returned stop() is awaited (which leaves a manager running).
 */
export class CrashingManager {
  kills = 0;
  current?: ManagerProcess;
  private readonly spawnIt: () => ManagerProcess;

  constructor(spawnIt: () => ManagerProcess) {
    this.spawnIt = spawnIt;
  }

  start(): ManagerProcess {
    this.current = this.spawnIt();
    return this.current;
  }

  /** A running manager: the current one, or a new one. */
  ensure(): ManagerProcess {
    return this.current ?? this.start();
  }

  async kill(): Promise<void> {
    const m = this.current;
    if (!m) return;
    const exited = new Promise((r) => m.child.once("exit", r));
    m.child.kill("SIGKILL");
    await exited;
    this.kills++;
    this.current = undefined;
  }

  chaos([min, max]: [number, number]): () => Promise<void> {
    let on = true;
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    const loop = (async () => {
      while (on) {
        await sleep(min + Math.random() * (max - min));
        if (!on) break;
        await this.kill();
        await sleep(100 + Math.random() * 500);
        this.start();
      }
    })();
    return async () => {
      on = false;
      await loop;
      this.ensure();
    };
  }
}
