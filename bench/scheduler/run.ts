// bench/scheduler: our cell scheduler against a real kube-scheduler, on the same local control plane,
// the same nodes and the same pods, one after the other (shared/BENCH.md). See bench/README.md.
//   node bench/scheduler/run.ts                     500 nodes / 5,000 pods
//   BENCH_SCALE=full node bench/scheduler/run.ts    5,000 nodes / 30,000 pods
// Environment: BENCH_NODES, BENCH_PODS (override the scale), BENCH_MODES (drain,live),
// BENCH_SCHEDULERS (kube,ours; also kube-default: kube-scheduler's default configuration, and raw:
// the ceiling, Binding POSTs of pre-decided placements, drain mode only),
// BENCH_WORKLOADS (basic[,spread]), BENCH_GROUP_SIZE (spread group size, 5),
// BENCH_STALL_SECONDS (give up after this long without a bind, 60), BENCH_KEEP_PLANE=1 (leave the
// plane and the nodes up for another run).
import { spawn, spawnSync, execFileSync, type ChildProcess } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { Api, HttpError, pool, type WatchEvent } from "./client.ts";
import { benchPlugins, enabledPlugins, kubeBurst, kubeDefaultSchedulerConfig, kubeQps, kubeSchedulerConfig, nodesToScore, percentageOfNodesToScore } from "./kube-config.ts";
import { cpuOfPidFiles, cpuSecondsOf, gitCommit, machine, memoryOf } from "./proc.ts";
import { bindCapOf, planFirstFit } from "./raw.ts";
import { ratioLines, ratios, schedulerIds, schedulerTitle, table, type Mode, type RunResult, type SchedulerId } from "./report.ts";
import { ScheduledCounter, serverSideBinds, summarizeLatency, summarizeThroughput, type Sample } from "./throughput.ts";
import { describeReport, nodeFacts, podFacts, validatePlacement, type NodeJson as NodeFactsJson, type PodJson as PodFactsJson } from "./validate.ts";
import { benchLabel, benchNode, benchPod, nodeName, topology, archOfNode, type Workload } from "./workload.ts";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const env = process.env;
const full = env.BENCH_SCALE === "full";
const scale = {
  nodes: Number(env.BENCH_NODES ?? (full ? 5000 : 500)),
  pods: Number(env.BENCH_PODS ?? (full ? 30_000 : 5000)),
};
const modes = (env.BENCH_MODES ?? "drain,live").split(",").map((s) => s.trim()).filter(Boolean) as Mode[];
const schedulers = (env.BENCH_SCHEDULERS ?? "kube,ours").split(",").map((s) => s.trim()).filter(Boolean) as SchedulerId[];
for (const s of schedulers) if (!schedulerIds.includes(s)) throw new Error(`BENCH_SCHEDULERS: unknown "${s}"; known: ${schedulerIds.join(", ")}`);
const workloads = (env.BENCH_WORKLOADS ?? "basic").split(",").map((s) => s.trim()).filter(Boolean) as Workload[];
const groupSize = Number(env.BENCH_GROUP_SIZE ?? 5);
const stallMs = Number(env.BENCH_STALL_SECONDS ?? 60) * 1000;
const keepPlane = env.BENCH_KEEP_PLANE === "1";
const createConcurrency = 64;

// The bench's own plane instance (hack/lib.sh: state dir and port base pick it).
const state = `${repo}/.state/bench`;
const portBase = 16900;
const kubeconfig = `${state}/kubeconfig`;
const namespace = "cellcloud-bench";
const apiserverArgs = "--max-requests-inflight=0 --max-mutating-requests-inflight=0 --enable-priority-and-fairness=false";
// kwokctl's heartbeat factor 5 (BENCH.md "KWOK at 5000 nodes"): leases of 200 s and a 200 s grace period.
const kcmArgs = "--node-monitor-grace-period=200s";
// kwok logs every pod it touches at INFO; at WARN it spends its CPU on the pods, not on logging.
// kwok-bench.yaml raises its lease and stage workers from 4 to 16 (see there).
const kwokArgs = `--node-lease-duration-seconds=200 --v=WARN --config=${repo}/bench/scheduler/kwok-bench.yaml`;
const planeEnv = {
  ...env, CELLCLOUD_INSTANCE: "bench", CELLCLOUD_STATE: state, CELLCLOUD_PORT_BASE: String(portBase),
  CELLCLOUD_APISERVER_ARGS: apiserverArgs, CELLCLOUD_KCM_ARGS: kcmArgs, CELLCLOUD_KWOK_ARGS: kwokArgs,
};
// The schedulers under test listen here, outside hack/lib.sh's base+1..12 (base+10..12 are the
// plane's dataplane, billing PostgreSQL and console since those joined hack/up).
const kubePort = portBase + 20;
const oursMetricsPort = portBase + 21;
const oursHealthPort = portBase + 22;
// kube-default's profile has a name of its own: the plane's own kube-scheduler serves
// default-scheduler. raw's pods name a scheduler nobody serves: only the bench binds them.
const schedulerName: Record<SchedulerId, string> = {
  kube: "bench-kube-scheduler", ours: "cellcloud-scheduler", "kube-default": "bench-kube-default", raw: "bench-raw-unserved",
};
const isKube = (which: SchedulerId) => which === "kube" || which === "kube-default";
const kubeConfigFor = (which: SchedulerId) => (which === "kube-default" ? kubeDefaultSchedulerConfig : kubeSchedulerConfig)({ kubeconfig, schedulerName: schedulerName[which] });
// The ceiling's bind concurrency is read from our scheduler's source each run, so it follows it.
const schedulerSource = `${repo}/operators/platform/scheduler/scheduler.ts`;
const rawPlanFile = `${state}/bench-raw-plan.json`;

const log = (msg: string) => console.error(`bench: ${msg}`);
const binDir = execFileSync("bash", ["-c", "source hack/lib.sh && echo $BIN"], { cwd: repo, encoding: "utf8" }).trim();
const insecure = new Agent({ connect: { rejectUnauthorized: false } });
const podsPath = `/api/v1/namespaces/${namespace}/pods`;
const selector = `${benchLabel}=true`;

// --- plane and node set --------------------------------------------------------------------------

function apiserverRunning(): boolean {
  try {
    const pid = Number(readFileSync(`${state}/pids/kube-apiserver.pid`, "utf8").trim());
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function planeUp(): void {
  log(`bringing up the bench plane (${state}, ports ${portBase + 1}-${portBase + 12}, apiserver ${apiserverArgs})`);
  const r = spawnSync(`${repo}/hack/up`, ["--plane-only", "--quiet"], { env: planeEnv, stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error(`hack/up failed (exit ${r.status})`);
}

function planeDown(): void {
  spawnSync(`${repo}/hack/down`, [], { env: planeEnv, stdio: ["ignore", "inherit", "inherit"] });
}

interface NodeStatusJson extends NodeFactsJson {
  metadata: NodeFactsJson["metadata"] & { resourceVersion?: string };
  status?: NodeFactsJson["status"] & { conditions?: Array<{ type: string; status: string }> };
}

async function ensureNamespace(api: Api): Promise<void> {
  await api.post("/api/v1/namespaces", { metadata: { name: namespace } }).catch((e) => {
    if (!(e instanceof HttpError && e.status === 409)) throw e;
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await api.get(`/api/v1/namespaces/${namespace}/serviceaccounts/default`);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await sleep(500);
    }
  }
}

/** Creates the missing bench nodes, deletes extra ones, and waits until all are Ready and untainted. */
async function ensureNodes(api: Api, n: number): Promise<void> {
  const existing = new Set((await api.list<NodeFactsJson>("/api/v1/nodes", { labelSelector: selector })).items.map((o) => o.metadata.name));
  const wanted = Array.from({ length: n }, (_, i) => i);
  const wantedNames = new Set(wanted.map(nodeName));
  const extra = [...existing].filter((name) => !wantedNames.has(name));
  const missing = wanted.filter((i) => !existing.has(nodeName(i)));
  if (extra.length) {
    log(`deleting ${extra.length} bench node(s) beyond ${n}`);
    await pool(extra, createConcurrency, async (name) => void (await api.delete(`/api/v1/nodes/${name}`)));
  }
  if (missing.length) {
    log(`creating ${missing.length} KWOK node(s)`);
    const errors = await pool(missing, createConcurrency, async (i) => void (await api.post("/api/v1/nodes", benchNode(i))));
    if (errors.length) throw new Error(`creating nodes: ${errors.length} failed, first: ${String(errors[0])}`);
  }
  const t0 = Date.now();
  for (let last = -1; ;) {
    const nodes = (await api.list<NodeStatusJson>("/api/v1/nodes", { labelSelector: selector })).items;
    const ready = nodes.filter(healthyNode);
    if (ready.length === n && nodes.length === n) break;
    if (ready.length !== last) log(`${ready.length}/${n} nodes Ready and untainted`);
    last = ready.length;
    if (Date.now() - t0 > 600_000) throw new Error(`only ${ready.length}/${n} nodes became Ready within 10 min`);
    await sleep(n > 1000 ? 5000 : 2000);
  }
  log(`${n} nodes Ready (${((Date.now() - t0) / 1000).toFixed(0)} s after creation)`);
}

/**
 * Deletes every bench pod (grace 0; KWOK finishes the bound ones) and waits until they are gone,
 * deleting again whatever is still there every 30 s.
 */
async function deleteAllPods(api: Api): Promise<void> {
  const t0 = Date.now();
  let lastDelete = 0;
  for (;;) {
    const pods = (await api.list<PodFactsJson>(podsPath)).items;
    if (pods.length === 0) break;
    if (Date.now() - t0 > 600_000) throw new Error(`${pods.length} bench pods still exist after 10 min`);
    if (Date.now() - lastDelete > 30_000) {
      lastDelete = Date.now();
      await pool(pods, createConcurrency, async (p) => {
        await api.delete(`${podsPath}/${p.metadata.name}`, { gracePeriodSeconds: 0 }).catch((e) => {
          if (!(e instanceof HttpError && e.status === 404)) throw e;
        });
      });
    }
    await sleep(1000);
  }
  log(`bench pods deleted (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}

const planeComponents = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"];

/**
 * Waits until the plane is idle again (its processes together below 0.2 cores for 3 s in a row), so
 * work left over from one run (kwok finishing pods, controllers catching up) never overlaps the next.
 */
async function settle(): Promise<number> {
  const total = () => Object.values(cpuOfPidFiles(`${state}/pids`, planeComponents)).reduce((s, v) => s + v, 0);
  const t0 = Date.now();
  let quiet = 0;
  let last = total();
  while (quiet < 3 && Date.now() - t0 < 180_000) {
    await sleep(1000);
    const now = total();
    quiet = now - last < 0.2 ? quiet + 1 : 0;
    last = now;
  }
  return (Date.now() - t0) / 1000;
}

// --- node health during a run ----------------------------------------------------------------------

const healthyNode = (o: NodeStatusJson) =>
  !!o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") &&
  !(o.spec?.taints ?? []).some((t) => t.effect === "NoSchedule" || t.effect === "NoExecute");

/**
 * Watches the bench nodes so a run can say whether its node set stayed whole: on an overloaded
 * machine kwok can miss lease renewals, and the node controller then taints hosts unreachable.
 */
class NodeHealth {
  readonly unhealthy = new Set<string>();
  maxUnhealthy = 0;
  private abort = new AbortController();
  private readonly api: Api;

  constructor(api: Api) {
    this.api = api;
  }

  async start(): Promise<void> {
    const { items, resourceVersion } = await this.api.list<NodeStatusJson>("/api/v1/nodes", { labelSelector: selector });
    for (const o of items) this.observe(o);
    let rv = resourceVersion;
    const signal = this.abort.signal;
    void (async () => {
      while (!signal.aborted) {
        try {
          await this.api.watch<NodeStatusJson>("/api/v1/nodes", { labelSelector: selector, resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 3600 }, (e) => {
            if (e.type === "ERROR") throw new Error("node watch error");
            if (e.object.metadata.resourceVersion) rv = e.object.metadata.resourceVersion;
            if (e.type === "DELETED") this.unhealthy.delete(e.object.metadata.name);
            else if (e.type !== "BOOKMARK") this.observe(e.object);
          }, signal);
        } catch {
          if (signal.aborted) return;
          try {
            const fresh = await this.api.list<NodeStatusJson>("/api/v1/nodes", { labelSelector: selector });
            for (const o of fresh.items) this.observe(o);
            rv = fresh.resourceVersion;
          } catch {
            // the next round retries
          }
          await sleep(1000);
        }
      }
    })();
  }

  stop(): void {
    this.abort.abort();
  }

  private observe(o: NodeStatusJson): void {
    if (healthyNode(o)) this.unhealthy.delete(o.metadata.name);
    else this.unhealthy.add(o.metadata.name);
    this.maxUnhealthy = Math.max(this.maxUnhealthy, this.unhealthy.size);
  }
}

/** Waits (up to 5 min) until every bench node is Ready and untainted again; returns how many are not. */
async function waitNodesHealthy(api: Api): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    const nodes = (await api.list<NodeStatusJson>("/api/v1/nodes", { labelSelector: selector })).items;
    const bad = nodes.filter((o) => !healthyNode(o)).length;
    if (bad === 0 || Date.now() - t0 > 300_000) return bad;
    log(`${bad} bench node(s) not Ready or tainted; waiting for kwok to catch up`);
    await sleep(10_000);
  }
}

// --- the pod watch (the throughput collector's informer) ----------------------------------------

interface PodEventObject {
  metadata: { name: string; resourceVersion?: string };
  spec?: { nodeName?: string };
  code?: number;
}

class PodWatch {
  readonly counter = new ScheduledCounter();
  readonly seen = new Set<string>();
  readonly boundAt = new Map<string, number>();
  lastBindAt = 0;
  /** Times the watch ended (server close, error) and was re-established. */
  restarts = 0;
  private abort = new AbortController();
  private rv = "";
  private readonly api: Api;

  constructor(api: Api) {
    this.api = api;
  }

  async start(): Promise<void> {
    this.rv = (await this.api.get<{ metadata: { resourceVersion: string } }>(podsPath, { labelSelector: selector, limit: 1 })).metadata.resourceVersion;
    void this.loop(this.abort.signal);
  }

  stop(): void {
    this.abort.abort();
  }

  private async loop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.api.watch<PodEventObject>(podsPath, {
          labelSelector: selector, resourceVersion: this.rv, allowWatchBookmarks: true, timeoutSeconds: 3600,
        }, (e) => this.onEvent(e), signal);
        if (!signal.aborted) this.restarts++;
      } catch (err) {
        this.restarts++;
        if (signal.aborted) return;
        try {
          if ((err as { gone?: boolean }).gone || (err instanceof HttpError && err.status === 410)) await this.relist();
          else log(`pod watch failed (${String(err)}); re-watching`);
        } catch (relistErr) {
          log(`pod relist failed (${String(relistErr)}); retrying`);
        }
        await sleep(500);
      }
    }
  }

  private async relist(): Promise<void> {
    log("pod watch expired (410); relisting");
    const { items, resourceVersion } = await this.api.list<PodEventObject>(podsPath, { labelSelector: selector });
    for (const p of items) this.observe(p);
    this.rv = resourceVersion;
  }

  private onEvent(e: WatchEvent<PodEventObject>): void {
    if (e.type === "ERROR") throw Object.assign(new Error(`watch error ${e.object.code}`), { gone: e.object.code === 410 });
    if (e.object.metadata.resourceVersion) this.rv = e.object.metadata.resourceVersion;
    if (e.type === "BOOKMARK") return;
    if (e.type === "DELETED") {
      this.counter.forget(e.object.metadata.name);
      this.seen.delete(e.object.metadata.name);
      return;
    }
    this.observe(e.object);
  }

  private observe(p: PodEventObject): void {
    this.seen.add(p.metadata.name);
    if (this.counter.observe(p.metadata.name, p.spec?.nodeName)) {
      const now = performance.now();
      this.boundAt.set(p.metadata.name, now);
      this.lastBindAt = now;
    }
  }
}

// --- the schedulers under test -------------------------------------------------------------------

interface Running {
  proc: ChildProcess;
  pid: number;
  exited: Promise<number | null>;
  logFile: string;
}

function startScheduler(which: SchedulerId): Running {
  mkdirSync(`${state}/logs`, { recursive: true });
  const logFile = `${state}/logs/bench-${which}-scheduler.log`;
  const fd = openSync(logFile, "a");
  let proc: ChildProcess;
  if (isKube(which)) {
    const cfgFile = `${state}/bench-${which}-scheduler.yaml`;
    writeFileSync(cfgFile, JSON.stringify(kubeConfigFor(which), null, 2));
    proc = spawn(`${binDir}/kube-scheduler`, [
      `--config=${cfgFile}`, "--bind-address=127.0.0.1", `--secure-port=${kubePort}`, `--cert-dir=${state}/pki/bench-kube-scheduler`,
      // Client certificates from the plane's CA authenticate /metrics; skip the requestheader lookup
      // (this apiserver has no front proxy) so it does not log an error every second.
      `--authentication-kubeconfig=${kubeconfig}`, "--authentication-skip-lookup", `--client-ca-file=${state}/pki/ca.crt`,
      `--authorization-kubeconfig=${kubeconfig}`, "--v=1",
    ], { stdio: ["ignore", fd, fd] });
  } else if (which === "raw") {
    proc = spawn(process.execPath, [`${repo}/bench/scheduler/raw-bind.ts`, rawPlanFile], { stdio: ["ignore", fd, fd], cwd: repo });
  } else {
    proc = spawn(process.execPath, [
      `${repo}/operators/main.ts`, "--controllers=scheduler", `--kubeconfig=${kubeconfig}`, "--leader-elect=false",
      `--metrics-bind-address=127.0.0.1:${oursMetricsPort}`, `--health-probe-bind-address=127.0.0.1:${oursHealthPort}`,
    ], { stdio: ["ignore", fd, fd], cwd: repo, env: { ...env, LOG_LEVEL: env.LOG_LEVEL ?? "info" } });
  }
  closeSync(fd);
  const exited = new Promise<number | null>((r) => proc.once("exit", (code) => r(code)));
  children.add(proc);
  void exited.then(() => children.delete(proc));
  return { proc, pid: proc.pid!, exited, logFile };
}

const children = new Set<ChildProcess>();
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    for (const c of children) c.kill("SIGKILL");
    process.exit(130);
  });
}
process.on("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

async function stopScheduler(r: Running): Promise<void> {
  if (r.proc.exitCode !== null || r.proc.signalCode !== null) return;
  r.proc.kill("SIGTERM");
  const done = await Promise.race([r.exited.then(() => true), sleep(15_000).then(() => false)]);
  if (!done) {
    r.proc.kill("SIGKILL");
    await r.exited;
  }
}

function logTail(file: string, lines = 15): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

async function healthy(which: SchedulerId): Promise<boolean> {
  const url = isKube(which) ? `https://127.0.0.1:${kubePort}/healthz` : `http://127.0.0.1:${oursHealthPort}/healthz`;
  try {
    const res = await request(url, { dispatcher: insecure, headersTimeout: 2000, bodyTimeout: 2000 });
    await res.body.text();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

/** Live mode: the scheduler is up when its health endpoint answers and it has bound a warm-up pod. */
async function warmUp(api: Api, which: SchedulerId, r: Running, runTag: string): Promise<void> {
  const name = `bench-warmup-${runTag}`;
  const deadline = Date.now() + 120_000;
  while (!(await healthy(which))) {
    if (r.proc.exitCode !== null) throw new Error(`exited with ${r.proc.exitCode}`);
    if (Date.now() > deadline) throw new Error("not healthy within 120 s");
    await sleep(250);
  }
  const warm = { metadata: { name, namespace }, spec: { ...benchPod(0, { namespace, runTag: "warmup", schedulerName: schedulerName[which], workload: "basic", groupSize, topologySpread: false }).spec } };
  await api.post(podsPath, warm);
  for (;;) {
    const p = await api.get<{ spec: { nodeName?: string } }>(`${podsPath}/${name}`);
    if (p.spec.nodeName) break;
    if (r.proc.exitCode !== null) throw new Error(`exited with ${r.proc.exitCode}`);
    if (Date.now() > deadline) throw new Error("did not bind the warm-up pod within 120 s");
    await sleep(100);
  }
  await api.delete(`${podsPath}/${name}`, { gracePeriodSeconds: 0 });
  while (await api.get(`${podsPath}/${name}`).then(() => true, () => false)) await sleep(100);
}

/** GET from the kube-scheduler under test's secure port, as the plane's admin. */
async function kubeSchedulerGet(path: string): Promise<string> {
  const kc = readFileSync(kubeconfig, "utf8");
  const data = (k: string) => Buffer.from(new RegExp(`${k}: (\\S+)`).exec(kc)?.[1] ?? "", "base64");
  const agent = new Agent({ connect: { rejectUnauthorized: false, cert: data("client-certificate-data"), key: data("client-key-data") } });
  try {
    const res = await request(`https://127.0.0.1:${kubePort}${path}`, { dispatcher: agent });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    return text;
  } finally {
    await agent.close();
  }
}

/** kube-scheduler's own account of which plugins ran where (scheduler_plugin_execution_duration_seconds). */
async function kubePluginsSeen(): Promise<string[]> {
  try {
    const text = await kubeSchedulerGet("/metrics");
    const seen = new Set<string>();
    for (const m of text.matchAll(/^scheduler_plugin_execution_duration_seconds_count\{([^}]*)\}/gm)) {
      const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
      seen.add(`${labels.plugin}@${labels.extension_point}`);
    }
    return [...seen].sort();
  } catch (err) {
    return [`(metrics unavailable: ${String(err)})`];
  }
}

/**
 * percentageOfNodesToScore as the running kube-scheduler holds it (/configz, which serializes its
 * internal config with Go field names): the global value and each profile's (null: unset; 0 and
 * unset both mean adaptive).
 */
async function kubeConfigzPercentage(): Promise<{ global: number | null; profiles: Record<string, number | null> } | string> {
  try {
    const cz = JSON.parse(await kubeSchedulerGet("/configz")) as { componentconfig?: Record<string, unknown> };
    // Either casing: PercentageOfNodesToScore (internal type) or percentageOfNodesToScore (v1).
    const field = (o: unknown, name: string): unknown => {
      if (!o || typeof o !== "object") return undefined;
      const k = Object.keys(o).find((x) => x.toLowerCase() === name.toLowerCase());
      return k === undefined ? undefined : (o as Record<string, unknown>)[k];
    };
    const c = cz.componentconfig;
    if (!c) throw new Error("no componentconfig in /configz");
    const pct = (o: unknown) => {
      const v = field(o, "percentageOfNodesToScore");
      return typeof v === "number" ? v : null;
    };
    const profiles = field(c, "profiles");
    return {
      global: pct(c),
      profiles: Object.fromEntries((Array.isArray(profiles) ? profiles : []).map((p) => [String(field(p, "schedulerName") ?? ""), pct(p)])),
    };
  } catch (err) {
    return `(configz unavailable: ${String(err)})`;
  }
}

// --- one measured run ----------------------------------------------------------------------------

type PodWithConditions = PodFactsJson & { status?: { conditions?: Array<{ type: string; status: string; lastTransitionTime?: string }> } };

/** Which code "ours" ran: it runs from the working tree, which may hold uncommitted work. */
function sourceState(): string {
  const git = (...args: string[]) => execFileSync("git", args, { cwd: repo, encoding: "utf8" }).trim();
  try {
    const dirty = git("status", "--porcelain", "--", "operators").split("\n").filter(Boolean).length;
    const hash = execFileSync("bash", ["-c", "find operators -type f -name '*.ts' ! -name '*.test.ts' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12"], { cwd: repo, encoding: "utf8" }).trim();
    return `${git("rev-parse", "--short", "HEAD")}${dirty ? ` + ${dirty} uncommitted file(s) under operators/` : ""} (operators/*.ts sha256 ${hash})`;
  } catch (err) {
    return `unknown (${String(err)})`;
  }
}

let runCount = 0;

async function runOnce(api: Api, which: SchedulerId, mode: Mode, workload: Workload): Promise<RunResult> {
  const n = scale.pods;
  const runTag = `r${++runCount}${{ kube: "k", ours: "o", "kube-default": "d", raw: "b" }[which]}`;
  const result: RunResult = { scheduler: which, mode, workload, pods: n };
  const start = () => {
    if (which === "ours" || which === "raw") result.source = sourceState(); // the code it loads now
    return startScheduler(which);
  };
  const title = `${workload}/${mode}/${schedulerTitle[which]}`;
  const pods = Array.from({ length: n }, (_, i) => benchPod(i, { namespace, runTag, schedulerName: schedulerName[which], workload, groupSize, topologySpread: isKube(which) }));
  const unhealthyBefore = await waitNodesHealthy(api);
  if (unhealthyBefore) log(`${title}: starting with ${unhealthyBefore} node(s) not Ready or tainted`);
  const health = new NodeHealth(api);
  await health.start();
  const watch = new PodWatch(api);
  await watch.start();
  const createdAt = new Map<string, number>();
  const create = async () => {
    const errors = await pool(pods, createConcurrency, async (p) => {
      await api.post(podsPath, p);
      createdAt.set(p.metadata.name, performance.now());
    });
    if (errors.length) throw new Error(`${errors.length} pod creates failed, first: ${String(errors[0])}`);
  };

  let running: Running | undefined;
  let phaseStart = 0;
  let benchCpu = process.cpuUsage();
  const lag = monitorEventLoopDelay({ resolution: 20 });
  let createSeconds: number | undefined;
  let createError: string | undefined;
  let lastCreate = 0;
  const samples: Sample[] = [];
  let sampler: NodeJS.Timeout | undefined;
  const startSampler = () => {
    sampler = setInterval(() => samples.push({ atMs: performance.now(), scheduled: watch.counter.scheduled }), 1000);
  };
  try {
    if (mode === "drain") {
      log(`${title}: creating ${n} pods with no scheduler running`);
      const c0 = performance.now();
      await create();
      log(`${title}: created in ${((performance.now() - c0) / 1000).toFixed(1)} s; waiting for the watch to see them all`);
      while (watch.seen.size < n) await sleep(100);
      log(`${title}: plane idle after ${(await settle()).toFixed(0)} s`);
      if (which === "raw") result.raw = await planRawBinds(api);
      log(`${title}: starting the scheduler on a backlog of ${n} pods`);
      phaseStart = performance.now();
      benchCpu = process.cpuUsage();
      lag.enable();
      startSampler();
      running = start();
    } else {
      log(`${title}: starting the scheduler and waiting until it binds a warm-up pod`);
      running = start();
      try {
        await warmUp(api, which, running, runTag);
      } catch (err) {
        throw new Error(`${schedulerTitle[which]} ${String((err as Error).message)}`);
      }
      log(`${title}: creating ${n} pods while it runs`);
      phaseStart = performance.now();
      benchCpu = process.cpuUsage();
      lag.enable();
      startSampler();
      void create().then(() => {
        lastCreate = performance.now();
        createSeconds = (lastCreate - phaseStart) / 1000;
      }, (err) => {
        createError = `creating pods: ${String(err)}`;
        createSeconds = NaN;
      });
    }

    let lastProgress = watch.counter.scheduled;
    let lastProgressAt = performance.now();
    let lastLog = performance.now();
    while (watch.counter.scheduled < n) {
      await sleep(100);
      const now = performance.now();
      if (running.proc.exitCode !== null || running.proc.signalCode !== null) {
        const tail = logTail(running.logFile);
        const missing = /unknown controller/.test(tail);
        throw new Error(missing
          ? `MISSING: our scheduler is not registered yet (\`node operators/main.ts --controllers=scheduler\` says: ${tail.split("\n").find((l) => /unknown controller/.test(l))?.trim()})`
          : `${schedulerTitle[which]} exited (${running.proc.exitCode ?? running.proc.signalCode}) after ${watch.counter.scheduled}/${n} binds; log ${running.logFile}:\n${tail}`);
      }
      if (createError) throw new Error(createError);
      if (watch.counter.scheduled !== lastProgress || (mode === "live" && createSeconds === undefined)) {
        lastProgress = watch.counter.scheduled;
        lastProgressAt = now;
      }
      if (now - lastProgressAt > stallMs) throw new Error(`stalled: ${watch.counter.scheduled}/${n} bound, none for ${stallMs / 1000} s`);
      if (now - lastLog > 10_000) {
        log(`${title}: ${watch.counter.scheduled}/${n} bound`);
        lastLog = now;
      }
    }
    clearInterval(sampler);
    while (mode === "live" && createSeconds === undefined) await sleep(50);
    const cpu = cpuSecondsOf(running.pid);
    const peak = memoryOf(running.pid).peakKiB;
    result.throughput = summarizeThroughput(samples);
    result.totalSeconds = (watch.lastBindAt - phaseStart) / 1000;
    result.cpuSeconds = cpu;
    const used = process.cpuUsage(benchCpu);
    lag.disable();
    result.bench = { cpuSeconds: (used.user + used.system) / 1e6, loopDelayP99Ms: lag.percentile(99) / 1e6, loopDelayMaxMs: lag.max / 1e6, watchRestarts: watch.restarts };
    if (mode === "drain") {
      const first = [...watch.boundAt.values()].reduce((a, b) => Math.min(a, b), Infinity);
      result.firstBindSeconds = (first - phaseStart) / 1000;
    } else {
      result.createPerSecond = n / createSeconds!;
      const lat = pods.map((p) => Math.max(0, watch.boundAt.get(p.metadata.name)! - createdAt.get(p.metadata.name)!));
      result.latencyMs = summarizeLatency(lat);
    }
    log(`${title}: all ${n} bound in ${result.totalSeconds.toFixed(1)} s, avg ${Number.isNaN(result.throughput.average) ? "n/a (under 2 samples)" : result.throughput.average.toFixed(0)} pods/s; reading steady RSS in 5 s`);
    await sleep(5000);
    result.memory = { peakMiB: Math.max(peak, memoryOf(running.pid).peakKiB) / 1024, steadyMiB: memoryOf(running.pid).rssKiB / 1024 };
    if (which === "kube") kubePlugins = await kubePluginsSeen();
    if (which === "kube-default") {
      kubeDefaultPlugins = await kubePluginsSeen();
      kubeDefaultConfigz = await kubeConfigzPercentage();
    }
  } catch (err) {
    clearInterval(sampler);
    result.error = (err as Error).message;
    log(`${title}: ${result.error}`);
    if (samples.length > 2 && watch.counter.scheduled > 0) result.throughput = summarizeThroughput(samples);
  } finally {
    if (running) await stopScheduler(running);
  }
  watch.stop();
  health.stop();
  result.nodesUnhealthy = { atStart: unhealthyBefore, maxDuringRun: health.maxUnhealthy, atEnd: health.unhealthy.size };
  if (health.maxUnhealthy) log(`${title}: up to ${health.maxUnhealthy} node(s) were not Ready or tainted during the run`);

  if (watch.counter.scheduled > 0) {
    const [nodes, bound] = await Promise.all([
      api.list<NodeFactsJson>("/api/v1/nodes", { labelSelector: selector }),
      api.list<PodFactsJson>(podsPath, { labelSelector: selector }),
    ]);
    const report = validatePlacement(nodes.items.map(nodeFacts), bound.items.map(podFacts));
    result.serverSide = serverSideBinds((bound.items as PodWithConditions[]).flatMap((p) => {
      const c = p.status?.conditions?.find((x) => x.type === "PodScheduled" && x.status === "True");
      return p.spec?.nodeName && c?.lastTransitionTime ? [c.lastTransitionTime] : [];
    }));
    result.valid = { ok: report.ok, bound: report.bound, unbound: report.unbound.length, problems: describeReport(report) };
    log(`${title}: placement ${report.ok ? "valid" : "INVALID"}: ${report.bound} bound${report.ok ? "" : `; ${result.valid.problems.join("; ")}`}`);
  }
  await deleteAllPods(api);
  log(`plane idle again after ${(await settle()).toFixed(0)} s`);
  return result;
}

let kubePlugins: string[] = [];
let kubeDefaultPlugins: string[] = [];
let kubeDefaultConfigz: Awaited<ReturnType<typeof kubeConfigzPercentage>> | undefined;

/**
 * The ceiling's placements, decided before its clock starts: first fit (raw.ts) of the pods as the
 * apiserver holds them over the bench nodes as they are now; written where raw-bind.ts reads them,
 * with our scheduler's bind cap as the concurrency.
 */
async function planRawBinds(api: Api): Promise<NonNullable<RunResult["raw"]>> {
  const concurrency = bindCapOf(readFileSync(schedulerSource, "utf8"));
  if (!concurrency) throw new Error(`no "const MAX_BINDS_IN_FLIGHT = N;" in ${schedulerSource.slice(repo.length + 1)}: the ceiling's concurrency is unknown`);
  const t0 = performance.now();
  const [nodes, pods] = await Promise.all([
    api.list<NodeFactsJson>("/api/v1/nodes", { labelSelector: selector }),
    api.list<PodFactsJson & { metadata: { uid?: string } }>(podsPath, { labelSelector: selector }),
  ]);
  const plan = planFirstFit(nodes.items.map(nodeFacts), pods.items.map(podFacts));
  if (plan.unplaced.length) throw new Error(`first fit found no node for ${plan.unplaced.length} of ${pods.items.length} pod(s), e.g. ${plan.unplaced.slice(0, 3).join(", ")}`);
  const uid = new Map(pods.items.map((p) => [`${p.metadata.namespace ?? namespace}/${p.metadata.name}`, p.metadata.uid]));
  const binds = plan.placements.map(({ key, node }) => {
    const [ns = namespace, name = ""] = key.split("/");
    return { namespace: ns, name, uid: uid.get(key), node };
  });
  writeFileSync(rawPlanFile, JSON.stringify({ kubeconfig, concurrency, binds }));
  const planMs = performance.now() - t0;
  log(`raw: ${binds.length} placements decided by first fit over ${nodes.items.length} nodes in ${planMs.toFixed(0)} ms (before the clock); ${concurrency} Bindings in flight`);
  return { concurrency, planned: binds.length, nodesUsed: new Set(binds.map((b) => b.node)).size, planMs };
}

// --- main ----------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const startedAt = new Date();
  const commit = gitCommit(repo, ["operators", "bench/scheduler"]);
  const host = machine();
  const reused = apiserverRunning();
  planeUp();
  const api = new Api(kubeconfig);
  const results: RunResult[] = [];
  let fatal: string | undefined;
  try {
    await ensureNamespace(api);
    await deleteAllPods(api);
    await ensureNodes(api, scale.nodes);
    for (const workload of workloads) {
      for (const [mi, mode] of modes.entries()) {
        // Alternate who goes first so neither always runs on the fresher plane.
        const order = mi % 2 === 0 ? schedulers : [...schedulers].reverse();
        for (const which of order) {
          if (which === "raw" && mode !== "drain") {
            log(`${workload}/${mode}: raw binds run in drain mode only (their placements are decided before the clock starts); skipped`);
            continue;
          }
          results.push(await runOnce(api, which, mode, workload));
        }
      }
    }
  } catch (err) {
    // Typically the plane went away under us (`make down` stops every instance under .state/).
    fatal = String(err);
    log(`aborted: ${fatal}`);
  } finally {
    if (!keepPlane) {
      log("deleting the bench nodes");
      const nodes = (await api.list<NodeFactsJson>("/api/v1/nodes", { labelSelector: selector }).catch(() => ({ items: [] }))).items;
      await pool(nodes, createConcurrency, async (o) => void (await api.delete(`/api/v1/nodes/${o.metadata.name}`)));
    }
    await api.close().catch(() => undefined);
    if (!keepPlane && !reused) {
      log("stopping the bench plane (BENCH_KEEP_PLANE=1 keeps it)");
      planeDown();
    }
  }

  const kubeVersion = execFileSync(`${binDir}/kube-scheduler`, ["--version"], { encoding: "utf8" }).trim();
  const amd = Array.from({ length: scale.nodes }, (_, i) => archOfNode(i)).filter((a) => a === "amd64").length;
  const out: string[] = [];
  out.push("", `Scheduler bench, ${startedAt.toISOString()}`);
  out.push(`machine: ${host.cpus} cpus (${host.model}), ${host.memGiB} GiB, load at start ${host.load}; shared with other work`);
  out.push(`scale: ${scale.nodes} KWOK nodes (${amd} amd64 32cpu/128Gi, ${scale.nodes - amd} arm64 48cpu/192Gi, 110 pods each, ` +
    `${topology.hostsPerRack} hosts/rack, ${topology.racksPerSwitch} racks/switch, allocatable = capacity, overcommit 1.0), ${scale.pods} pods per run`);
  out.push(`workloads: ${workloads.map((w) => w === "basic"
    ? "basic (plain pods 100m-1 cpu, arch nodeSelector 3:2 amd64:arm64, every 10th pod any arch)"
    : `spread (strict host spread in groups of ${groupSize}: our annotations; kube-scheduler's pods also carry PodTopologySpread hostname maxSkew 1 DoNotSchedule, which ours refuses)`).join("; ")}`);
  out.push("modes: drain = all pods created first, then the scheduler started on the backlog (measures the scheduler); " +
    "live = scheduler warmed up, then pods created as fast as the bench can (64 in flight)");
  out.push(`apiserver: ${apiserverArgs}; kube-controller-manager ${kcmArgs}; kwok ${kwokArgs}`);
  const adaptive = nodesToScore(scale.nodes);
  if (schedulers.includes("kube")) {
    out.push(`kube-scheduler ${kubeVersion} (equivalent config): clientConnection qps/burst ${kubeQps}/${kubeBurst}, percentageOfNodesToScore ${percentageOfNodesToScore} ` +
      `(ours scores all nodes), leader election off, one profile "${schedulerName.kube}" with only ${enabledPlugins().join(", ")}; ` +
      "NodeResourcesFit MostAllocated cpu:1 memory:1; PodTopologySpread defaultingType List, no default constraints");
  }
  if (schedulers.includes("kube-default")) {
    out.push(`kube-scheduler ${kubeVersion} (default config, what a user would run): default plugins in one profile "${schedulerName["kube-default"]}" ` +
      `(own name: the plane's kube-scheduler serves default-scheduler), percentageOfNodesToScore unset (adaptive: ${adaptive.percentage}% = ${adaptive.nodes} of ${scale.nodes} nodes), ` +
      `leader election off, and clientConnection qps/burst lifted to ${kubeQps}/${kubeBurst} as in the equivalent run ` +
      "(with the defaults 50/100 its client rate limiter, not scheduling, would cap it near 50 binds/s)" +
      (kubeDefaultPlugins.length ? `; plugins seen running: ${kubeDefaultPlugins.join(", ")}` : ""));
  }
  if (schedulers.includes("raw")) {
    const r = results.find((x) => x.raw)?.raw;
    out.push(`raw binds (the ceiling, drain only): pods for a scheduler nobody serves; placements decided by first fit before the clock starts; ` +
      `a process (bench/scheduler/raw-bind.ts) POSTs pods/<name>/binding with our scheduler's client (operators/runtime/kube.ts KubeClient) and its bind cap ` +
      `(${r?.concurrency ?? "MAX_BINDS_IN_FLIGHT"} in flight, read from operators/platform/scheduler/scheduler.ts); it writes no Events and makes no decision, so ours ÷ raw is our fraction of the ceiling`);
  }
  out.push(`cellcloud-scheduler: node operators/main.ts --controllers=scheduler (no client-side QPS limit, scores all nodes, Binpack for nodes without a Cell)`);
  out.push("throughput: scheduler_perf's throughputCollector (watch counts nodeName empty→set, 1 s samples, first dropped); " +
    "total = phase start → last bind; latency (live) = create response → watch sees nodeName; RSS from /proc VmHWM (peak) and VmRSS 5 s after the last bind", "");
  out.push(...table(results), "");
  out.push(...ratioLines(ratios(results), results));
  out.push("apiserver avg/s: binds per second from the pods' PodScheduled timestamps (1 s resolution), a check that the watch did not distort the rate");
  for (const r of results) {
    const w = r.throughput?.average;
    const a = r.serverSide?.avgPerSecond;
    if (w && a && !Number.isNaN(w) && Math.abs(w - a) / a > 0.15) {
      out.push(`${r.workload}/${r.mode}/${schedulerTitle[r.scheduler]}: the watch (${w.toFixed(0)}/s) and the apiserver's timestamps (${a.toFixed(0)}/s) disagree: ` +
        `the bench's watch lagged behind the binds (${r.bench?.watchRestarts ?? 0} restarts) and caught up at the end`);
    }
    if (r.nodesUnhealthy?.maxDuringRun) {
      out.push(`${r.workload}/${r.mode}/${schedulerTitle[r.scheduler]}: up to ${r.nodesUnhealthy.maxDuringRun} of ${scale.nodes} nodes were NotReady or tainted during the run (kwok missed heartbeats), so it had fewer eligible hosts`);
    }
    if (r.source) out.push(`${r.workload}/${r.mode}/${schedulerTitle[r.scheduler]} ran from ${r.source}`);
    if (r.error) out.push(`${r.workload}/${r.mode}/${schedulerTitle[r.scheduler]}: ${r.error.split("\n")[0]}`);
    if (r.valid && !r.valid.ok) out.push(`${r.workload}/${r.mode}/${schedulerTitle[r.scheduler]} placement problems: ${r.valid.problems.join("; ")}`);
    if (r.mode === "live" && r.createPerSecond && r.throughput && r.throughput.average > 0.8 * r.createPerSecond) {
      out.push(`${r.workload}/live/${schedulerTitle[r.scheduler]}: bench created ${r.createPerSecond.toFixed(0)} pods/s, so live throughput is capped by creation; use drain for the ratio`);
    }
  }
  if (fatal) out.push("", `ABORTED before all runs finished: ${fatal}`);
  const oursMissing = results.some((r) => r.scheduler === "ours" && r.error?.startsWith("MISSING"));
  if (oursMissing) out.push("", "cellcloud-scheduler is MISSING: operators/controllers.ts registers no 'scheduler' controller yet, so only kube-scheduler was measured.");
  console.log(out.join("\n"));

  mkdirSync(`${state}/results`, { recursive: true });
  const json = {
    startedAt: startedAt.toISOString(), commit, machine: host, ...(fatal ? { aborted: fatal } : {}), scale, modes, workloads, groupSize,
    plane: { apiserverArgs, kcmArgs, kwokArgs, reused },
    kubeScheduler: {
      version: kubeVersion, qps: kubeQps, burst: kubeBurst, percentageOfNodesToScore, plugins: [...benchPlugins],
      pluginsObservedRunning: kubePlugins, config: kubeSchedulerConfig({ kubeconfig, schedulerName: schedulerName.kube }),
    },
    ...(schedulers.includes("kube-default") ? {
      kubeSchedulerDefault: {
        version: kubeVersion, qps: kubeQps, burst: kubeBurst,
        qpsNote: "lifted from the defaults 50/100 to the equivalent run's: with 50/100 the client rate limiter, not scheduling, caps it near 50 binds/s",
        percentageOfNodesToScore: { configured: null, adaptive: adaptive.percentage, nodesScored: adaptive.nodes, of: scale.nodes, configz: kubeDefaultConfigz ?? null },
        pluginsObservedRunning: kubeDefaultPlugins, config: kubeDefaultSchedulerConfig({ kubeconfig, schedulerName: schedulerName["kube-default"] }),
      },
    } : {}),
    ...(schedulers.includes("raw") ? {
      raw: {
        what: "Binding POSTs for placements decided by first fit before the clock starts, by bench/scheduler/raw-bind.ts",
        client: "operators/runtime/kube.ts KubeClient", concurrency: results.find((x) => x.raw)?.raw?.concurrency ?? null,
        concurrencyFrom: "operators/platform/scheduler/scheduler.ts MAX_BINDS_IN_FLIGHT",
      },
    } : {}),
    results: results.map((r) => ({ ...r, throughput: r.throughput && { ...r.throughput } })),
    ratios: ratios(results),
  };
  const file = `${state}/results/scheduler-${startedAt.toISOString().replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, JSON.stringify(json, null, 2));
  writeFileSync(`${state}/scheduler-latest.json`, JSON.stringify(json, null, 2));
  console.log(`\nresult JSON: ${file.slice(repo.length + 1)}`);
  if (fatal || results.some((r) => r.valid && !r.valid.ok)) process.exitCode = 1;
}

if (!existsSync(`${repo}/hack/up`)) throw new Error("run from the CellCloud repository");
await main();
