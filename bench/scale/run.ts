// bench/scale: the whole manager at the seed's scale (issue 21). On a plane of its own, with the
// manager as `make up` runs it (every controller, leader election, the admission webhook, the chart's
// RBAC), it measures, each against a baseline of the same run:
//   - provisioning: N Instances (x86 and ARM, three flavors, a quarter with a data Volume) applied
//     to all Ready, vs the bare floor: N plain pods with the launcher pods' requests and placement,
//     created directly at the same concurrency and placed by the same scheduler;
//   - the manager's RSS (peak, steady) and CPU per phase (create, idle, restart), its apiserver
//     requests while idle by verb and resource, reconcile p50/p99 per controller, workqueue depth;
//   - start → ready (caches synced) → leading → caught up after a restart at 100, 5,000 and N
//     instances (the provisioning stops at each checkpoint for it; the steps' times add up), and the
//     writes the restarted manager makes in its first minutes;
//   - etcd's size and the largest object of each CellCloud kind (bounded whatever the count);
//   - the ceilings, by running bench/scheduler (ours vs raw Binding POSTs, vs kube-scheduler with its
//     defaults) and bench/webhook (quota admission vs ResourceQuota) after this plane is stopped.
//   node bench/scale/run.ts                     250 hosts / 1,500 instances (a quick run)
//   BENCH_SCALE=full node bench/scale/run.ts    5,000 hosts / 30,000 instances   (make bench-scale)
// Environment: BENCH_HOSTS, BENCH_INSTANCES, BENCH_IDLE_SECONDS, BENCH_RESTART_SECONDS,
// BENCH_CHECKPOINTS (100,5000), BENCH_CEILINGS=0 (skip the scheduler and webhook ceilings) or
// =reuse, BENCH_PROVISIONING=reuse (only the ceilings run; see reusable()), BENCH_COMMIT_RESULTS=1
// (copy the latest results into bench/results/, to commit: they outlive .state/), BENCH_KEEP_PLANE=1.
// Results: .state/bench/results/scale-*.json. See bench/README.md.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { Agent, request } from "undici";
import { Api, HttpError, pool, type WatchEvent } from "../scheduler/client.ts";
import { cpuOfPidFiles, cpuSecondsOf, gitCommit, machine, memoryOf } from "../scheduler/proc.ts";
import { percentile } from "../scheduler/throughput.ts";
import { apiserverWrites, counterDelta, histogramQuantiles, parseProm, ranked, sumOfDeltas, total, writesOf, type Sample } from "./prom.ts";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const env = process.env;
const full = env.BENCH_SCALE === "full";
const hosts = Number(env.BENCH_HOSTS ?? (full ? 5000 : 250));
const count = Number(env.BENCH_INSTANCES ?? (full ? 30_000 : 1500));
const idleSeconds = Number(env.BENCH_IDLE_SECONDS ?? (full ? 120 : 45));
const restartSeconds = Number(env.BENCH_RESTART_SECONDS ?? (full ? 300 : 60));
const checkpoints = (env.BENCH_CHECKPOINTS ?? "100,5000").split(",").map(Number).filter((n) => n > 0 && n < count);
const ceilings = env.BENCH_CEILINGS !== "0"; // "reuse": see reusable()
const keepPlane = env.BENCH_KEEP_PLANE === "1";
const concurrency = 64;

const state = `${repo}/.state/bench-scale`;
const portBase = 17100;
const metricsUrl = `http://127.0.0.1:${portBase + 7}/metrics`;
const readyUrl = `http://127.0.0.1:${portBase + 8}/readyz`;
// As bench/scheduler: the apiserver's inflight limits lifted, kwokctl's heartbeat factor 5, kwok's
// workers raised (bench/scheduler/kwok-bench.yaml), so 5,000 hosts' leases stay fresh on 2 cores.
const planeEnv = {
  ...env, CELLCLOUD_INSTANCE: "bench-scale", CELLCLOUD_STATE: state, CELLCLOUD_PORT_BASE: String(portBase),
  CELLCLOUD_APISERVER_ARGS: "--max-requests-inflight=0 --max-mutating-requests-inflight=0 --enable-priority-and-fairness=false",
  CELLCLOUD_KCM_ARGS: "--node-monitor-grace-period=200s",
  CELLCLOUD_KWOK_ARGS: `--node-lease-duration-seconds=200 --v=WARN --config=${repo}/bench/scheduler/kwok-bench.yaml`,
};
const log = (msg: string) => console.error(`bench: ${new Date().toISOString().slice(11, 19)} ${msg}`);
const round = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
const MiB = (kib: number) => round(kib / 1024, 0);

const TENANT = "bench-scale";
const NS = "bench-scale-vms";
const FLOOR_NS = "bench-scale-floor";
const ZONE = "az1";
const V1 = (group: string) => `/apis/${group}/v1alpha1`;
const paths = {
  cells: `${V1("platform.cellcloud.io")}/cells`,
  pools: `${V1("platform.cellcloud.io")}/nodepools`,
  storagePools: `${V1("platform.cellcloud.io")}/storagepools`,
  flavors: `${V1("compute.cellcloud.io")}/flavors`,
  images: `${V1("compute.cellcloud.io")}/namespaces/cellcloud-images/images`,
  volumeTypes: `${V1("storage.cellcloud.io")}/volumetypes`,
  tenants: `${V1("tenancy.cellcloud.io")}/tenants`,
  quotas: `${V1("tenancy.cellcloud.io")}/quotas`,
  instances: `${V1("compute.cellcloud.io")}/namespaces/${NS}/instances`,
  volumes: `${V1("storage.cellcloud.io")}/namespaces/${NS}/volumes`,
  floorPods: `/api/v1/namespaces/${FLOOR_NS}/pods`,
};

interface Obj { metadata: { name: string; namespace?: string; resourceVersion?: string; creationTimestamp?: string; deletionTimestamp?: string; labels?: Record<string, string> }; spec?: Record<string, unknown>; status?: Record<string, unknown> }
interface Condition { type: string; status: string; reason?: string; message?: string }

// --- the plane and the manager process ----------------------------------------------------------

function planeUp(): void {
  log(`bringing up the bench plane with the manager (${state}, ports ${portBase + 1}-${portBase + 12})`);
  const r = spawnSync(`${repo}/hack/up`, ["--no-examples", "--quiet"], { env: planeEnv, stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error(`hack/up failed (exit ${r.status})`);
}

function planeDown(): void {
  spawnSync(`${repo}/hack/down`, [], { env: planeEnv, stdio: ["ignore", "inherit", "inherit"] });
}

/** The manager hack/up started: restarted by the bench with the very same command line. */
class ManagerProc {
  pid = 0;
  startedAt = 0;
  private readonly cmd: string[];

  constructor() {
    // BENCH_MANAGER_ARGS: extra flags for experiments (e.g. --concurrency=8); the report records them
    this.cmd = [...readFileSync(`${state}/pids/manager.cmd`, "utf8").trim().split(" "), ...(env.BENCH_MANAGER_ARGS ?? "").split(" ").filter(Boolean)];
    this.pid = Number(readFileSync(`${state}/pids/manager.pid`, "utf8").trim());
  }

  /** SIGTERM (a rolling restart: the lease is released), wait for the exit. */
  async stop(): Promise<void> {
    try { process.kill(this.pid, "SIGTERM"); } catch { return; }
    for (let i = 0; i < 300; i++) {
      try { process.kill(this.pid, 0); } catch { return; }
      await sleep(100);
    }
    try { process.kill(this.pid, "SIGKILL"); } catch { /* gone */ }
  }

  start(): void {
    const out = openSync(`${state}/logs/manager.log`, "a");
    this.startedAt = Date.now();
    const child = spawn(this.cmd[0]!, this.cmd.slice(1), { cwd: repo, env: planeEnv, stdio: ["ignore", out, out], detached: true });
    closeSync(out);
    child.unref();
    this.pid = child.pid!;
    writeFileSync(`${state}/pids/manager.pid`, `${this.pid}\n`);
  }
}

const planeComponents = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "manager"];

/** CPU seconds used so far by each plane process (the manager included), from /proc. */
const planeCpu = (): Record<string, number> => cpuOfPidFiles(`${state}/pids`, planeComponents);

/** CPU seconds each plane process used since `before` (what a phase cost the whole plane, not just the manager). */
function planeCpuSince(before: Record<string, number>): Record<string, number> {
  const now = planeCpu();
  return Object.fromEntries(Object.entries(now).map(([c, v]) => [c, round(v >= (before[c] ?? 0) ? v - (before[c] ?? 0) : v)]));
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

async function scrape(): Promise<Sample[]> {
  const r = await request(metricsUrl, { headersTimeout: 10_000, bodyTimeout: 30_000 });
  return parseProm(await r.body.text());
}

/** The apiserver's own request counters (every client's). */
async function apiserverScrape(api: Api): Promise<Sample[]> {
  return parseProm(await api.text("/metrics"), ["apiserver_request_total"]);
}

async function isReady(): Promise<boolean> {
  try {
    const r = await request(readyUrl, { headersTimeout: 2000 });
    await r.body.dump();
    return r.statusCode === 200;
  } catch {
    return false;
  }
}

// --- footprint and queue sampling ------------------------------------------------------------------

interface Point { t: number; rssKiB: number; cpuS: number }
interface DepthPoint { t: number; total: number; top: Record<string, number> }

/** Samples the manager's RSS and CPU every second, its workqueue depths every 5 s. */
class Sampler {
  readonly points: Point[] = [];
  readonly depth: DepthPoint[] = [];
  private timer?: NodeJS.Timeout;
  private readonly t0 = Date.now();
  private readonly mgr: ManagerProc;
  private ticks = 0;

  constructor(mgr: ManagerProc) {
    this.mgr = mgr;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), 1000);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Times the manager process was found gone outside a planned restart (and started again, as a Deployment would). */
  readonly exits: Array<{ t: number; log: string }> = [];
  restarting = false;
  /** No workqueue scrape while set (the idle window): the bench's own load is not the manager's. */
  quiet = false;

  private async tick(): Promise<void> {
    const t = (Date.now() - this.t0) / 1000;
    if (!this.restarting && !alive(this.mgr.pid)) {
      const tail = readFileSync(`${state}/logs/manager.log`, "utf8").split("\n").filter(Boolean).slice(-3).join("\n").slice(-600);
      this.exits.push({ t: round(t), log: tail });
      log(`the manager (pid ${this.mgr.pid}) exited; starting it again as a Deployment would. Its log ends:\n${tail}`);
      this.mgr.start();
    }
    try {
      this.points.push({ t, rssKiB: memoryOf(this.mgr.pid).rssKiB, cpuS: cpuSecondsOf(this.mgr.pid) });
    } catch { /* restarting */ }
    if (this.ticks++ % 5 || this.quiet) return;
    try {
      const s = (await scrape()).filter((x) => x.name === "workqueue_depth");
      const top = Object.fromEntries(s.filter((x) => x.value > 0).sort((a, b) => b.value - a.value).slice(0, 4).map((x) => [x.labels.controller ?? "", x.value]));
      this.depth.push({ t: round(t), total: s.reduce((a, x) => a + x.value, 0), top });
    } catch { /* restarting */ }
  }

  now(): number {
    return (Date.now() - this.t0) / 1000;
  }

  /** RSS peak and last, CPU seconds and share of one core between two sampler times. */
  window(from: number, to: number): { seconds: number; rssPeakMiB: number; rssSteadyMiB: number; cpuSeconds: number; cpuPercent: number; depthMax: number } {
    const ps = this.points.filter((p) => p.t >= from && p.t <= to);
    const ds = this.depth.filter((p) => p.t >= from && p.t <= to);
    // CPU across a restart: sum the per-process deltas (a new process starts again from 0)
    let cpu = 0;
    for (let i = 1; i < ps.length; i++) {
      const d = ps[i]!.cpuS - ps[i - 1]!.cpuS;
      cpu += d >= 0 ? d : ps[i]!.cpuS;
    }
    const seconds = to - from;
    return {
      seconds: round(seconds), rssPeakMiB: MiB(Math.max(0, ...ps.map((p) => p.rssKiB))), rssSteadyMiB: MiB(ps.at(-1)?.rssKiB ?? 0),
      cpuSeconds: round(cpu), cpuPercent: round((cpu / Math.max(1, seconds)) * 100), depthMax: Math.max(0, ...ds.map((d) => d.total)),
    };
  }
}

// --- setup -----------------------------------------------------------------------------------------

/** Creates it unless it exists; a fresh plane's first answers may be 5xx (seen: the webhook's RBAC not yet in effect), so those are retried. */
async function ensure(api: Api, path: string, body: Obj & { apiVersion: string; kind: string }): Promise<void> {
  await retryTransient(() => api.post(path, body));
}

const flavors = [
  { name: "bench-g1", vcpus: 2, memory: "4Gi", architectures: ["amd64", "arm64"] },
  { name: "bench-g2", vcpus: 4, memory: "8Gi", architectures: ["amd64", "arm64"] },
  { name: "bench-c1", vcpus: 8, memory: "16Gi", architectures: ["amd64"] },
];
const images = { amd64: "bench-ubuntu", arm64: "bench-euler" };

/** Instance i: 3 of 5 x86 and 2 of 5 ARM (the hosts' ratio), flavors in turn, every 4th with a data Volume. */
export function instancePlan(i: number): { name: string; arch: "amd64" | "arm64"; flavor: string; volume?: string } {
  const arch = i % 5 < 3 ? "amd64" : "arm64";
  const usable = flavors.filter((f) => f.architectures.includes(arch));
  const flavor = usable[Math.floor(i / 5) % usable.length]!.name;
  return { name: `vm-${i}`, arch, flavor, ...(i % 4 === 0 ? { volume: `disk-${i}` } : {}) };
}

async function setup(api: Api, n: number): Promise<void> {
  const x86 = Math.round((n * 3) / 5);
  const pool = (name: string, arch: string, nodes: number, cpu: number, memory: string) => ensure(api, paths.pools, {
    apiVersion: "platform.cellcloud.io/v1alpha1", kind: "NodePool", metadata: { name },
    spec: { cell: "bench-cell", architecture: arch, cpuVendor: arch === "amd64" ? "intel" : "kunpeng", nodes, capacity: { cpu, memory, pods: 110 }, overcommit: { cpu: 2 }, topology: { racks: Math.max(1, Math.ceil(nodes / 20)), hostsPerRack: 20 } },
  });
  await ensure(api, paths.cells, { apiVersion: "platform.cellcloud.io/v1alpha1", kind: "Cell", metadata: { name: "bench-cell" }, spec: { region: "bench", zone: ZONE, placementStrategy: "Binpack" } });
  await pool("bench-x86", "amd64", x86, 64, "256Gi");
  await pool("bench-arm", "arm64", n - x86, 96, "384Gi");
  await ensure(api, paths.storagePools, { apiVersion: "platform.cellcloud.io/v1alpha1", kind: "StoragePool", metadata: { name: "bench-ssd" }, spec: { cell: "bench-cell", mediaType: "SSD", capacity: "1Pi" } });
  await ensure(api, paths.volumeTypes, { apiVersion: "storage.cellcloud.io/v1alpha1", kind: "VolumeType", metadata: { name: "bench-ssd" }, spec: { mediaType: "SSD", iops: { base: 100, perGiB: 1, max: 1000 } } });
  for (const f of flavors) {
    await ensure(api, paths.flavors, { apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Flavor", metadata: { name: f.name }, spec: { vcpus: f.vcpus, memory: f.memory, family: "general", architectures: f.architectures } });
  }
  for (const [arch, name] of Object.entries(images)) {
    await ensure(api, paths.images, {
      apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Image", metadata: { name, namespace: "cellcloud-images" },
      spec: { os: { type: "linux", distribution: name.slice(6), version: "22.04" }, architecture: arch, minDiskGiB: 20, source: { url: `https://images.example.com/${name}.img` } },
    });
  }
  await ensure(api, "/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: FLOOR_NS } });
  await ensure(api, paths.tenants, { apiVersion: "tenancy.cellcloud.io/v1alpha1", kind: "Tenant", metadata: { name: TENANT }, spec: { namespaces: [NS] } });
  const big = 2 * (count + Math.max(0, ...checkpoints)) + 100;
  await ensure(api, paths.quotas, {
    apiVersion: "tenancy.cellcloud.io/v1alpha1", kind: "Quota", metadata: { name: TENANT },
    spec: { tenant: TENANT, hard: { cpu: 8 * big, memory: `${16 * big}Gi`, storage: `${40 * big}Gi`, instances: big, volumes: big, snapshots: big } },
  });
  // the tenant's namespace exists once the tenant controller made it (and its default ServiceAccount)
  await waitFor(async () => { try { await api.get(`/api/v1/namespaces/${NS}/serviceaccounts/default`); await api.get(`/api/v1/namespaces/${FLOOR_NS}/serviceaccounts/default`); return true; } catch { return false; } }, "the tenant's namespace", 120);
  const t0 = Date.now();
  await waitFor(async () => {
    const nodes = (await api.list<{ status?: { conditions?: Condition[] }; spec?: { taints?: unknown[] } }>("/api/v1/nodes", { labelSelector: "cellcloud.io/pool" })).items;
    const ready = nodes.filter((o) => o.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") && !(o.spec?.taints ?? []).length).length;
    log(`${ready}/${n} hosts Ready`);
    return ready >= n;
  }, `${n} hosts Ready`, 1200, 5000);
  log(`${n} hosts Ready ${round((Date.now() - t0) / 1000)} s after their pools`);
}

async function waitFor(check: () => Promise<boolean>, what: string, seconds: number, everyMs = 1000): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await sleep(everyMs);
  }
}

// --- watching readiness --------------------------------------------------------------------------

/** Watches a collection and records when each object was first seen ready. */
class ReadyWatch<T extends Obj> {
  readonly readyAt = new Map<string, number>();
  readonly present = new Set<string>();
  private readonly abort = new AbortController();
  private readonly api: Api;
  private readonly path: string;
  private readonly isReady: (o: T) => boolean;
  restarts = 0;

  constructor(api: Api, path: string, isReady: (o: T) => boolean) {
    this.api = api;
    this.path = path;
    this.isReady = isReady;
  }

  /** Watches that went silent (no event, not even a bookmark, for STALL_MS) and were opened again. */
  stalls = 0;
  static readonly STALL_MS = 90_000;

  async start(): Promise<void> {
    let { items, resourceVersion: rv } = await this.api.list<T>(this.path);
    for (const o of items) this.observe("ADDED", o);
    void (async () => {
      while (!this.abort.signal.aborted) {
        // A watch the apiserver closed for unresponsiveness under load was once seen to go silent
        // for good (the bench then saw 1,305 of 2,596 Ready instances): the server sends a bookmark
        // about every minute, so a watch silent for longer is dropped and opened again from rv.
        const inner = new AbortController();
        let lastEvent = Date.now();
        const dog = setInterval(() => { if (Date.now() - lastEvent > ReadyWatch.STALL_MS) { this.stalls++; inner.abort(); } }, 5_000);
        try {
          await this.api.watch<T>(this.path, { resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: 3600 }, (e: WatchEvent<T>) => {
            lastEvent = Date.now();
            if (e.type === "ERROR") throw new Error("watch error");
            if (e.object.metadata.resourceVersion) rv = e.object.metadata.resourceVersion;
            if (e.type !== "BOOKMARK") this.observe(e.type, e.object);
          }, AbortSignal.any([this.abort.signal, inner.signal]));
        } catch {
          if (this.abort.signal.aborted) return;
          this.restarts++;
          ({ items, resourceVersion: rv } = await this.api.list<T>(this.path).catch(() => ({ items: [] as T[], resourceVersion: rv })));
          for (const o of items) this.observe("ADDED", o);
          await sleep(500);
        } finally {
          clearInterval(dog);
        }
      }
    })();
  }

  private observe(type: string, o: T): void {
    const name = o.metadata.name;
    if (type === "DELETED") {
      this.present.delete(name);
      return;
    }
    this.present.add(name);
    if (!this.readyAt.has(name) && this.isReady(o)) this.readyAt.set(name, Date.now());
  }

  stop(): void {
    this.abort.abort();
  }
}

const instanceReady = (o: Obj) =>
  (o.status?.conditions as Condition[] | undefined)?.some((c) => c.type === "Ready" && c.status === "True") === true && o.status?.powerState === "Running";
const podRunning = (o: Obj) => (o.status as { phase?: string } | undefined)?.phase === "Running";

interface Provisioning { n: number; seconds: number; createSeconds: number; perObjectMs: { p50: number; p99: number }; createErrors: number; notReady: number }

/** Creates `names` with `create` at the bench's concurrency; returns when every one is ready (or stalls). */
async function provision(watch: ReadyWatch<Obj>, names: string[], create: (name: string) => Promise<void>, what: string): Promise<Provisioning & { latencies: number[] }> {
  const createdAt = new Map<string, number>();
  const t0 = Date.now();
  const progress = setInterval(() => log(`${what}: ${createdAt.size} created, ${names.filter((n) => watch.readyAt.has(n)).length} ready`), 15_000);
  const errors = await pool(names, concurrency, async (name) => {
    await create(name);
    createdAt.set(name, Date.now());
  });
  const createSeconds = (Date.now() - t0) / 1000;
  if (errors.length) log(`${what}: ${errors.length} creates failed, first: ${String(errors[0])}`);
  let last = -1;
  let lastChange = Date.now();
  for (;;) {
    const ready = names.filter((n) => watch.readyAt.has(n)).length;
    if (ready !== last) { last = ready; lastChange = Date.now(); }
    if (ready >= createdAt.size || Date.now() - lastChange > 180_000) break;
    await sleep(500);
  }
  clearInterval(progress);
  const readyTimes = names.flatMap((n) => (watch.readyAt.has(n) ? [watch.readyAt.get(n)!] : []));
  const lat = names.flatMap((n) => (watch.readyAt.has(n) && createdAt.has(n) ? [Math.max(0, watch.readyAt.get(n)! - createdAt.get(n)!)] : [])).sort((a, b) => a - b);
  return {
    n: names.length, seconds: round((Math.max(t0, ...readyTimes) - t0) / 1000), createSeconds: round(createSeconds),
    perObjectMs: perObject(lat), createErrors: errors.length, notReady: createdAt.size - readyTimes.length, latencies: lat,
  };
}

/** p50/p99 of sorted per-object latencies, ms. */
const perObject = (lat: number[]) => ({ p50: round(percentile(lat, 50), 0), p99: round(percentile(lat, 99), 0) });

/** Steps of one provisioning (timed each from its first create to its last Ready) read as one: their times add up. */
export function combineSteps(steps: Array<Provisioning & { latencies: number[] }>): Provisioning {
  const lat = steps.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const sum = (f: (s: Provisioning) => number) => steps.reduce((a, s) => a + f(s), 0);
  return {
    n: sum((s) => s.n), seconds: round(sum((s) => s.seconds)), createSeconds: round(sum((s) => s.createSeconds)),
    perObjectMs: perObject(lat), createErrors: sum((s) => s.createErrors), notReady: sum((s) => s.notReady),
  };
}

function instanceBody(i: number): { instance: Obj & { apiVersion: string; kind: string }; volume?: Obj & { apiVersion: string; kind: string } } {
  const p = instancePlan(i);
  return {
    instance: {
      apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", metadata: { name: p.name, namespace: NS },
      spec: { flavor: p.flavor, image: images[p.arch], zone: ZONE, terminationGracePeriodSeconds: 0, ...(p.volume ? { dataVolumes: [{ volume: p.volume, deleteWithInstance: true }] } : {}) },
    },
    ...(p.volume ? { volume: { apiVersion: "storage.cellcloud.io/v1alpha1", kind: "Volume", metadata: { name: p.volume, namespace: NS }, spec: { size: "10Gi", type: "bench-ssd", zone: ZONE } } } : {}),
  };
}

async function createInstance(api: Api, i: number): Promise<void> {
  const { instance, volume } = instanceBody(i);
  if (volume) await ensure(api, paths.volumes, volume);
  await retryTransient(() => api.post(paths.instances, instance));
}

/** Retries a create the apiserver refused as momentarily unavailable (429/5xx), never a 4xx verdict. */
async function retryTransient(fn: () => Promise<unknown>): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await fn();
      return;
    } catch (e) {
      if (e instanceof HttpError && e.status === 409) return;
      if (!(e instanceof HttpError && (e.status === 429 || e.status >= 500)) || attempt >= 5) throw e;
      await sleep(500 * 2 ** attempt);
    }
  }
}

// --- the launcher pods' shape, for the bare floor ---------------------------------------------------

interface PodShape { schedulerName?: string; nodeSelector?: unknown; affinity?: unknown; tolerations?: unknown; priorityClassName?: string; requests: unknown; limits?: unknown }

/** One launcher pod per flavor × arch, read after the warm-up instances ran: what the floor copies. */
async function launcherShapes(api: Api): Promise<Map<string, PodShape>> {
  const pods = (await api.list<Obj & { spec: { containers: Array<{ resources?: { requests?: unknown; limits?: unknown } }>; schedulerName?: string; nodeSelector?: unknown; affinity?: unknown; tolerations?: unknown; priorityClassName?: string } }>(
    `/api/v1/namespaces/${NS}/pods`, { labelSelector: "compute.cellcloud.io/instance" })).items;
  const shapes = new Map<string, PodShape>();
  for (const p of pods) {
    const i = Number(p.metadata.labels?.["compute.cellcloud.io/instance"]?.replace(/^warm-/, ""));
    if (!Number.isFinite(i)) continue;
    const plan = instancePlan(i);
    const s = p.spec;
    shapes.set(`${plan.flavor}/${plan.arch}`, {
      schedulerName: s.schedulerName, nodeSelector: s.nodeSelector, affinity: s.affinity, tolerations: s.tolerations, priorityClassName: s.priorityClassName,
      requests: s.containers[0]?.resources?.requests, limits: s.containers[0]?.resources?.limits,
    });
  }
  return shapes;
}

function floorPod(i: number, shapes: Map<string, PodShape>): Obj & { apiVersion: string; kind: string } {
  const plan = instancePlan(i);
  const s = shapes.get(`${plan.flavor}/${plan.arch}`);
  if (!s) throw new Error(`no launcher pod seen for ${plan.flavor}/${plan.arch}`);
  return {
    apiVersion: "v1", kind: "Pod", metadata: { name: `floor-${i}`, namespace: FLOOR_NS },
    spec: {
      ...(s.schedulerName ? { schedulerName: s.schedulerName } : {}), ...(s.nodeSelector ? { nodeSelector: s.nodeSelector } : {}),
      ...(s.affinity ? { affinity: s.affinity } : {}), ...(s.tolerations ? { tolerations: s.tolerations } : {}),
      ...(s.priorityClassName ? { priorityClassName: s.priorityClassName } : {}),
      terminationGracePeriodSeconds: 0,
      containers: [{ name: "vm", image: "registry.invalid/floor:1", resources: { requests: s.requests, ...(s.limits ? { limits: s.limits } : {}) } }],
    },
  };
}

async function deleteAll(api: Api, path: string, what: string, keep: (name: string) => boolean = () => false): Promise<number> {
  const t0 = Date.now();
  for (let round = 0; ; round++) {
    const items = (await api.list<Obj>(path)).items.filter((o) => !keep(o.metadata.name));
    if (!items.length) break;
    if (Date.now() - t0 > 1_200_000) throw new Error(`${items.length} ${what} still exist after 20 min`);
    if (round % 30 === 0) {
      await pool(items.filter((o) => !o.metadata.deletionTimestamp || round > 0), concurrency, async (o) => {
        await api.delete(`${path}/${o.metadata.name}`).catch((e) => { if (!(e instanceof HttpError && e.status === 404)) throw e; });
      });
    }
    await sleep(2000);
  }
  return round((Date.now() - t0) / 1000);
}

// --- restart, idle, sizes ----------------------------------------------------------------------------

interface Restart {
  instances: number; readySeconds: number; leadingSeconds: number; firstReconcileSeconds: number; caughtUpSeconds: number;
  writesWindowSeconds: number; writes: { leases: number; other: number; byKind: Array<[string, number]> };
  rssPeakMiB: number; rssSteadyMiB: number; cpuSeconds: number; cpuSecondsToCaughtUp: number;
}

/** Restarts the manager and times start → ready → leading → first reconcile → caught up; counts its writes for `windowS`. */
async function restart(mgr: ManagerProc, sampler: Sampler, instances: number, windowS: number): Promise<Restart> {
  sampler.restarting = true;
  await mgr.stop();
  mgr.start();
  sampler.restarting = false;
  const t0 = mgr.startedAt;
  const from = sampler.now();
  const el = (t: number) => round((t - t0) / 1000, 2);
  let ready = 0, leading = 0, first = 0, caughtUp = 0, quiet = 0;
  let before: Sample[] = [];
  let last: Sample[] = [];
  const deadline = t0 + Math.max(windowS, 60) * 1000 + 600_000;
  while (Date.now() < deadline) {
    if (!ready) {
      if (await isReady()) ready = Date.now();
      else { await sleep(50); continue; }
      before = [];
    }
    try { last = await scrape(); } catch { await sleep(100); continue; }
    if (!leading && total(last, "leader_election_master_status") >= 1) leading = Date.now();
    if (!first && total(last, "controller_runtime_reconcile_total") > 0) first = Date.now();
    const busy = total(last, "workqueue_depth") + total(last, "controller_runtime_active_workers");
    if (first && !caughtUp) {
      quiet = busy === 0 ? quiet + 1 : 0;
      if (quiet >= 3) caughtUp = Date.now();
    }
    if (caughtUp && Date.now() - t0 >= windowS * 1000) break;
    await sleep(caughtUp ? 1000 : 200);
  }
  const requests = counterDelta(before, last, "cellcloud_apiserver_requests_total", ["verb", "resource"]);
  const w = sampler.window(from, sampler.now());
  const toCaughtUp = sampler.window(from, caughtUp ? from + (caughtUp - t0) / 1000 + 1 : sampler.now());
  return {
    cpuSecondsToCaughtUp: toCaughtUp.cpuSeconds,
    instances, readySeconds: el(ready), leadingSeconds: leading ? el(leading) : NaN, firstReconcileSeconds: first ? el(first) : NaN,
    caughtUpSeconds: caughtUp ? el(caughtUp) : NaN, writesWindowSeconds: round((Date.now() - t0) / 1000, 0), writes: writesOf(requests),
    rssPeakMiB: w.rssPeakMiB, rssSteadyMiB: w.rssSteadyMiB, cpuSeconds: w.cpuSeconds,
  };
}

async function idle(sampler: Sampler, seconds: number): Promise<{ seconds: number; cpuPercent: number; rssMiB: number; requestsPerMinute: Array<[string, number]>; writes: ReturnType<typeof writesOf> }> {
  const before = await scrape();
  const from = sampler.now();
  // Only the window's two scrapes: the sampler's every 5 s (a ~180 KB exposition) cost the manager
  // 0.7% of a core on its own (5,000 hosts, 2,000 instances: 102 CPU ticks in 61 s with it, 59 in
  // 60 s without), a third of the goal; Prometheus scrapes every 15 s to 1 min. RSS and CPU are
  // still read from /proc every second.
  sampler.quiet = true;
  await sleep(seconds * 1000);
  sampler.quiet = false;
  const after = await scrape();
  const w = sampler.window(from, sampler.now());
  const req = counterDelta(before, after, "cellcloud_apiserver_requests_total", ["verb", "resource"]);
  const perMin = ranked(req).map(([k, n]) => [k, round((n * 60) / w.seconds, 1)] as [string, number]);
  return { seconds: w.seconds, cpuPercent: w.cpuPercent, rssMiB: w.rssSteadyMiB, requestsPerMinute: perMin, writes: writesOf(req) };
}

/** etcd's db size (its own /metrics, with the plane's etcd client certificate). */
async function etcdSize(): Promise<{ dbMiB: number; inUseMiB: number; keys: number }> {
  const pki = `${state}/pki`;
  const agent = new Agent({ connect: { ca: readFileSync(`${pki}/etcd-ca.crt`), cert: readFileSync(`${pki}/etcd-client.crt`), key: readFileSync(`${pki}/etcd-client.key`) } });
  try {
    const r = await request(`https://127.0.0.1:${portBase + 1}/metrics`, { dispatcher: agent });
    const s = parseProm(await r.body.text());
    return {
      dbMiB: round(total(s, "etcd_mvcc_db_total_size_in_bytes") / 2 ** 20), inUseMiB: round(total(s, "etcd_mvcc_db_total_size_in_use_in_bytes") / 2 ** 20),
      keys: total(s, "etcd_debugging_mvcc_keys_total"),
    };
  } finally {
    await agent.close();
  }
}

/** The largest object of each kind CellCloud writes (its CRDs, and the pods, PVCs, events and leases it makes), as the apiserver serves it. */
async function largestObjects(api: Api): Promise<Array<{ kind: string; name: string; bytes: number; objects: number }>> {
  const crds = (await api.list<Obj & { spec: { group: string; names: { plural: string; kind: string }; scope: string; versions: Array<{ name: string; storage: boolean }> } }>("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")).items
    .filter((c) => c.spec.group.endsWith("cellcloud.io"));
  const lists: Array<[string, string]> = [
    ...crds.map((c) => [c.spec.names.kind, `/apis/${c.spec.group}/${c.spec.versions.find((v) => v.storage)?.name ?? "v1alpha1"}/${c.spec.names.plural}`] as [string, string]),
    ["Pod", `/api/v1/namespaces/${NS}/pods`], ["PersistentVolumeClaim", `/api/v1/namespaces/${NS}/persistentvolumeclaims`],
    ["PersistentVolume", "/api/v1/persistentvolumes"], ["Event", `/api/v1/namespaces/${NS}/events`], ["Lease", "/apis/coordination.k8s.io/v1/namespaces/cellcloud-system/leases"],
  ];
  const out: Array<{ kind: string; name: string; bytes: number; objects: number }> = [];
  for (const [kind, path] of lists) {
    let items: Obj[] = [];
    try { items = (await api.list<Obj>(path)).items; } catch { continue; }
    let best = { name: "", bytes: 0 };
    for (const o of items) {
      const bytes = Buffer.byteLength(JSON.stringify(o));
      if (bytes > best.bytes) best = { name: `${o.metadata.namespace ? `${o.metadata.namespace}/` : ""}${o.metadata.name}`, bytes };
    }
    if (items.length) out.push({ kind, ...best, objects: items.length });
  }
  return out.sort((a, b) => b.bytes - a.bytes);
}

/** Reconcile p50/p99 (ms) and count per controller between two scrapes. */
function reconcileTimes(before: Sample[], after: Sample[]): Array<{ controller: string; reconciles: number; p50Ms: number; p99Ms: number }> {
  return [...histogramQuantiles(before, after, "controller_runtime_reconcile_time_seconds", "controller", [0.5, 0.99])]
    .map(([controller, { count: n, q }]) => ({ controller, reconciles: n, p50Ms: round(q[0]! * 1000, 1), p99Ms: round(q[1]! * 1000, 1) }))
    .sort((a, b) => b.reconciles - a.reconciles);
}

// --- the ceilings: other benches, each on its own plane ---------------------------------------------

function runBench(script: string, extra: Record<string, string>, latest: string): unknown {
  log(`running ${script} ${Object.entries(extra).map(([k, v]) => `${k}=${v}`).join(" ")}`);
  const r = spawnSync(process.execPath, [`${repo}/${script}`], { env: { ...env, ...extra }, stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) return { error: `${script} exited ${r.status}` };
  keepCopy(latest);
  try { return JSON.parse(readFileSync(`${repo}/.state/bench/${latest}`, "utf8")); } catch (e) { return { error: String(e) }; }
}

/** What the ceilings' figures depend on: a commit that changed none of these measures the same. */
export const CEILING_PATHS = { scheduler: ["operators", "bench/scheduler", "hack", "charts", "crds"], quota: ["operators", "bench/webhook", "hack", "charts", "crds"] };

/**
 * BENCH_CEILINGS=reuse: the latest result of a ceiling bench, if it was taken at this scale and from
 * code that has not changed since in `paths` (committed, and no uncommitted change now). A ceiling
 * runs on a plane of its own, never beside this one, so a result of the same code at the same scale
 * is the same measurement; at full scale the ceilings take ~40 of a run's minutes on this machine.
 * Without a recorded commit (results from before they recorded one), no commit to `paths` since
 * it started is required instead. The report names the run reused.
 */
export function reusable(latest: string, paths: readonly string[], fits: (j: any) => boolean): Record<string, unknown> | undefined {
  if (gitCommit(repo, paths).endsWith("+changes")) return undefined;
  const git = (...args: string[]) => spawnSync("git", ["-C", repo, ...args], { encoding: "utf8" });
  const sameCode = (j: any): boolean => {
    if (typeof j.commit === "string") return !j.commit.endsWith("+changes") && git("diff", "--quiet", j.commit, "HEAD", "--", ...paths).status === 0;
    const when: string | undefined = j.when ?? j.startedAt;
    return !!when && !git("log", `--since=${when}`, "--format=%h", "--", ...paths).stdout.trim();
  };
  // .state/bench/ is this machine's; bench/results/ holds the copies committed (BENCH_COMMIT_RESULTS=1),
  // which a fresh clone or a wiped machine still has. The newest that fits is taken.
  for (const from of [`.state/bench/${latest}`, `bench/results/${latest}`]
    .map((file) => { try { return { file, j: JSON.parse(readFileSync(`${repo}/${file}`, "utf8")) }; } catch { return undefined; } })
    .filter((x) => x?.j && !x.j.aborted && fits(x.j))
    .sort((a, b) => String(b!.j.when ?? b!.j.startedAt ?? "").localeCompare(String(a!.j.when ?? a!.j.startedAt ?? "")))) {
    const j = from!.j;
    if (sameCode(j)) return { ...j, reused: { from: from!.file, when: j.when ?? j.startedAt, commit: j.commit ?? "not recorded: no commit to these paths since it started", paths } };
  }
  return undefined;
}

/** What the provisioning's figures depend on (BENCH_PROVISIONING=reuse). */
export const SCALE_PATHS = ["operators", "agents", "bench/scale", "bench/scheduler", "hack", "charts", "crds"];

/** BENCH_COMMIT_RESULTS=1: keep a copy of a latest result in bench/results/, to commit. */
function keepCopy(latest: string): void {
  if (env.BENCH_COMMIT_RESULTS !== "1") return;
  try {
    mkdirSync(`${repo}/bench/results`, { recursive: true });
    writeFileSync(`${repo}/bench/results/${latest}`, readFileSync(`${repo}/.state/bench/${latest}`));
  } catch (err) {
    log(`could not copy ${latest} into bench/results/: ${String(err)}`);
  }
}

// --- main ----------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const started = new Date();
  const result: Record<string, unknown> = {
    when: started.toISOString(), machine: machine(), hosts, instances: count, concurrency, managerArgs: env.BENCH_MANAGER_ARGS ?? "",
    commit: gitCommit(repo, ["operators", "agents", "bench", "hack", "charts", "crds"]),
  };
  const file = `${repo}/.state/bench/results/scale-${started.toISOString().replace(/[:.]/g, "-")}.json`;
  let series: Record<string, unknown> = {};
  const save = (more?: Record<string, unknown>) => {
    if (more) series = more;
    mkdirSync(`${repo}/.state/bench/results`, { recursive: true });
    writeFileSync(file, JSON.stringify({ ...result, ...series }, null, 2));
    writeFileSync(`${repo}/.state/bench/scale-latest.json`, JSON.stringify(result, null, 2));
    keepCopy("scale-latest.json");
    return file;
  };
  // BENCH_PROVISIONING=reuse: the plane's part (provisioning, idle, restarts, sizes) from the latest
  // full result of the same code at this scale, so that only the ceilings run (as BENCH_CEILINGS=reuse
  // takes the ceilings of the same code). The report names the run reused.
  const reused = env.BENCH_PROVISIONING === "reuse"
    ? reusable("scale-latest.json", SCALE_PATHS, (j) => j.hosts === hosts && j.instances === count && !!j.provisioning && !!j.idle && (j.restarts?.length ?? 0) > checkpoints.length)
    : undefined;
  if (reused) {
    const { scheduler: _s, quota: _q, when: _w, machine: _m, commit: _c, reused: from, ...plane } = reused as Record<string, any>;
    Object.assign(result, plane, { provisioningReused: { ...from, machine: reused.machine } });
    log(`the plane's part reused from the run of ${from.when}, commit ${from.commit} (${from.from})`);
  } else {
    if (env.BENCH_PROVISIONING === "reuse") log("BENCH_PROVISIONING=reuse: no result of this code at this scale; measuring");
    await measurePlane(result, save);
  }

  if (ceilings) {
    // One after the other, each on a plane of its own, with this one stopped: nothing else competes.
    const pods = Number(env.BENCH_CEILING_PODS ?? Math.min(count, full ? 10_000 : count));
    const schedulers = "ours,raw,kube,kube-default";
    const quotaObjects = Number(env.BENCH_QUOTA_OBJECTS ?? (full ? 5000 : 1000));
    const reuse = env.BENCH_CEILINGS === "reuse";
    result.scheduler = (reuse && reusable("scheduler-latest.json", CEILING_PATHS.scheduler, (j) => j.scale?.nodes === hosts && j.scale?.pods === pods
      && schedulers.split(",").every((x) => (j.results ?? []).some((r: any) => r.mode === "drain" && r.scheduler === x))))
      || runBench("bench/scheduler/run.ts", { BENCH_NODES: String(hosts), BENCH_PODS: String(pods), BENCH_MODES: "drain", BENCH_SCHEDULERS: schedulers }, "scheduler-latest.json");
    result.quota = (reuse && reusable("webhook-latest.json", CEILING_PATHS.quota, (j) => j.preload === quotaObjects && j.creates === 1000))
      || runBench("bench/webhook/run.ts", { BENCH_PRELOAD: String(quotaObjects), BENCH_CREATES: "1000" }, "webhook-latest.json");
  }
  console.log(report(result, save()));
}

/** The part on the bench's own plane: hosts, the floor, provisioning with restarts, idle, sizes. */
async function measurePlane(result: Record<string, unknown>, save: (series?: Record<string, unknown>) => string): Promise<void> {
  if (!keepPlane) {
    planeDown();
    spawnSync("rm", ["-rf", state]);
  }
  planeUp();
  const api = new Api(`${state}/kubeconfig`, concurrency);
  const mgr = new ManagerProc();
  if (env.BENCH_MANAGER_ARGS) {
    await mgr.stop();
    mgr.start();
    await waitFor(isReady, "the manager with BENCH_MANAGER_ARGS ready", 120, 200);
  }
  const sampler = new Sampler(mgr);
  sampler.start();
  const saveSampled = () => {
    result.managerExits = sampler.exits;
    return save({ depthSeries: sampler.depth, footprintSeries: sampler.points.filter((_, i) => i % 5 === 0) });
  };
  try {
    if (keepPlane) {
      // a kept plane may hold an earlier run's objects: start from none
      await deleteAll(api, paths.instances, "instances");
      await deleteAll(api, paths.volumes, "volumes");
      await deleteAll(api, paths.floorPods, "floor pods");
    }
    await setup(api, hosts);
    const instWatch = new ReadyWatch<Obj>(api, paths.instances, instanceReady);
    await instWatch.start();
    const floorWatch = new ReadyWatch<Obj>(api, paths.floorPods, podRunning);
    await floorWatch.start();

    // Warm-up: one instance per flavor × arch, to learn the launcher pods' shape (and warm caches).
    const warm = [...new Map(Array.from({ length: 15 }, (_, i) => [`${instancePlan(i).flavor}/${instancePlan(i).arch}`, i])).values()];
    await Promise.all(warm.map((i) => {
      const { instance } = instanceBody(i);
      instance.metadata.name = `warm-${i}`;
      delete instance.spec!.dataVolumes;
      return retryTransient(() => api.post(paths.instances, instance));
    }));
    await waitFor(async () => warm.every((i) => instWatch.readyAt.has(`warm-${i}`)), "the warm-up instances Ready", 300);
    const shapes = await launcherShapes(api);
    result.launcherShapes = Object.fromEntries(shapes);

    // The bare floor first: N plain pods shaped as the launchers, same scheduler, same concurrency.
    const restarts: Restart[] = [];
    const sizes: Array<{ instances: number; etcd: Awaited<ReturnType<typeof etcdSize>>; largest: Awaited<ReturnType<typeof largestObjects>> }> = [];
    log(`floor: ${count} plain pods`);
    const fBefore = sampler.now();
    const fCpu = planeCpu();
    const fWrites = await apiserverScrape(api);
    const { latencies: _floorLatencies, ...floor } = await provision(floorWatch, Array.from({ length: count }, (_, i) => `floor-${i}`), async (name) => {
      await retryTransient(() => api.post(paths.floorPods, floorPod(Number(name.slice(6)), shapes)));
    }, "floor");
    result.floor = { ...floor, manager: sampler.window(fBefore, sampler.now()), planeCpuSeconds: planeCpuSince(fCpu), apiserverWrites: apiserverWrites(fWrites, await apiserverScrape(api), floor.n) };
    log(`floor: all ${floor.n} Running in ${floor.seconds} s; deleting them`);
    result.floorDeleteSeconds = await deleteAll(api, paths.floorPods, "floor pods");

    // Provisioning: N instances, a quarter with a data volume, in steps that stop at each checkpoint
    // for a manager restart (start-up measured with that many instances) and go on from there. Each
    // step is timed from its first create to its last Ready; the restarts between are not counted.
    // (Creating the checkpoints' instances apart and deleting them again took ~25 of a full run's
    // ~180 min on this machine.)
    const stops = [...checkpoints, count];
    const parts: Array<{ prov: Provisioning & { latencies: number[] }; window: ReturnType<Sampler["window"]>; cpu: Record<string, number>; before: Sample[]; after: Sample[]; writes: [Sample[], Sample[]] }> = [];
    let have = 0;
    for (const stop of stops) {
      log(`provisioning: instances ${have}..${stop - 1}${stop < count ? ` (then a restart at ${stop})` : ""}`);
      const before = await scrape();
      const from = sampler.now();
      const cpu0 = planeCpu();
      const writes0 = await apiserverScrape(api);
      const names = Array.from({ length: stop - have }, (_, k) => `vm-${have + k}`);
      const prov = await provision(instWatch, names, (name) => createInstance(api, Number(name.slice(3))), stop < count ? `instances to ${stop}` : "instances");
      parts.push({ prov, window: sampler.window(from, sampler.now()), cpu: planeCpuSince(cpu0), before, after: await scrape(), writes: [writes0, await apiserverScrape(api)] });
      have = stop;
      if (stop === count) break;
      sizes.push({ instances: stop, etcd: await etcdSize(), largest: (await largestObjects(api)).slice(0, 8) });
      restarts.push(await restart(mgr, sampler, stop, 30));
      log(`restart at ${stop}: ready ${restarts.at(-1)!.readySeconds} s, caught up ${restarts.at(-1)!.caughtUpSeconds} s`);
      result.restarts = restarts;
      result.sizes = sizes;
    }
    const prov = combineSteps(parts.map((p) => p.prov));
    const spans = parts.map((p) => [p.before, p.after] as const);
    const gained = sumOfDeltas(spans);
    const windows = parts.map((p) => p.window);
    const wSeconds = windows.reduce((a, w) => a + w.seconds, 0);
    const wCpu = windows.reduce((a, w) => a + w.cpuSeconds, 0);
    result.provisioning = {
      ...prov, ratioToFloor: round(floor.seconds / Math.max(0.1, prov.seconds), 2),
      steps: parts.map((p) => ({ n: p.prov.n, seconds: p.prov.seconds, createSeconds: p.prov.createSeconds })),
      manager: {
        seconds: round(wSeconds), rssPeakMiB: Math.max(...windows.map((w) => w.rssPeakMiB)), rssSteadyMiB: windows.at(-1)!.rssSteadyMiB,
        cpuSeconds: round(wCpu), cpuPercent: round((wCpu / Math.max(1, wSeconds)) * 100), depthMax: Math.max(...windows.map((w) => w.depthMax)),
      },
      planeCpuSeconds: Object.fromEntries(Object.keys(parts[0]!.cpu).map((c) => [c, round(parts.reduce((a, p) => a + (p.cpu[c] ?? 0), 0))])),
      apiserverWrites: apiserverWrites([], sumOfDeltas(parts.map((p) => p.writes)), prov.n),
      reconcile: reconcileTimes([], gained), requests: ranked(counterDelta([], gained, "cellcloud_apiserver_requests_total", ["verb", "resource"])).slice(0, 25),
    };
    log(`instances: all ${prov.n} Ready in ${prov.seconds} s over ${parts.length} step(s) (floor ${floor.seconds} s)`);
    saveSampled();

    // Settled, then the idle window. Instances Ready is not the end of the work: a data volume goes
    // on to InUse once kube-controller-manager binds its claim, which lags under load (at 1,000 hosts
    // and 12,000 instances 1,187 volume status writes fell in an idle window that began when the
    // queues were empty), and the event recorder drains its queue (up to 1,000 Events, 4 writes at
    // a time). Both are the tail of provisioning, not idle activity: wait for them, and report how long.
    const settleFrom = Date.now();
    await waitFor(async () => {
      const s = await scrape();
      if (total(s, "workqueue_depth") + total(s, "controller_runtime_active_workers") + total(s, "cellcloud_event_writes_pending") > 0) return false;
      const vols = (await api.list<{ status?: { state?: string } }>(paths.volumes)).items;
      return vols.every((v) => v.status?.state === "InUse" || v.status?.state === "Available");
    }, "the manager's queues, its event writes and every volume to settle", 1200, 5000);
    result.settleSeconds = round((Date.now() - settleFrom) / 1000);
    log(`settled ${result.settleSeconds} s after the last instance was Ready`);
    log(`idle: ${idleSeconds} s`);
    result.idle = await idle(sampler, idleSeconds);
    sizes.push({ instances: count, etcd: await etcdSize(), largest: (await largestObjects(api)).slice(0, 12) });
    result.sizes = sizes;

    log(`restart at ${count} instances (writes counted for ${restartSeconds} s)`);
    restarts.push(await restart(mgr, sampler, count, restartSeconds));
    result.restarts = restarts;
    const rAfter = await scrape();
    result.restartReconcile = reconcileTimes([], rAfter);
    result.watches = { instances: { restarts: instWatch.restarts, stalls: instWatch.stalls }, floor: { restarts: floorWatch.restarts, stalls: floorWatch.stalls } };
    instWatch.stop();
    floorWatch.stop();
    saveSampled();
  } finally {
    sampler.stop();
    await api.close();
    if (!keepPlane) {
      log("stopping the bench plane (BENCH_KEEP_PLANE=1 keeps it)");
      planeDown();
    }
  }
}

// --- the report ------------------------------------------------------------------------------------

export function report(r: Record<string, any>, file: string): string {
  const out: string[] = [];
  const p = r.provisioning;
  const f = r.floor;
  out.push(`seed scale: ${r.hosts} hosts, ${r.instances} instances (commit ${r.commit}; ${r.machine?.cpus} cpus, load ${r.machine?.load})`);
  if (f && p) {
    out.push(`  provisioning: ${p.n} instances all Ready in ${p.seconds} s (created in ${p.createSeconds} s; per object p50 ${p.perObjectMs.p50} ms p99 ${p.perObjectMs.p99} ms)`);
    if (p.steps?.length > 1) out.push(`    in ${p.steps.length} steps with a manager restart between (not counted): ${p.steps.map((x: any) => `${x.n} in ${x.seconds} s`).join(", ")}`);
    out.push(`  bare floor:   ${f.n} plain pods all Running in ${f.seconds} s (per object p50 ${f.perObjectMs.p50} ms p99 ${f.perObjectMs.p99} ms)`);
    const cpu = (x: Record<string, number>) => Object.entries(x ?? {}).map(([c, v]) => `${c} ${v}`).join(", ");
    out.push(`  plane cpu-s, floor: ${cpu(f.planeCpuSeconds)}; instances: ${cpu(p.planeCpuSeconds)}`);
    const w = (x: any) => (x ? `${x.perObject} per object (${x.byKind.slice(0, 8).map(([k, n]: [string, number]) => `${k} ${n}`).join(", ")})` : "not measured");
    out.push(`  apiserver writes, every client, heartbeats left out: floor ${w(f.apiserverWrites)}; instances ${w(p.apiserverWrites)}`);
    out.push(`  ratio floor/instances: ${p.ratioToFloor}x (goal >= 0.8x: ${p.ratioToFloor >= 0.8 ? "met" : "NOT met"})`);
    out.push(`  manager while creating: RSS peak ${p.manager.rssPeakMiB} MiB, ${p.manager.cpuPercent}% of a core, queue depth max ${p.manager.depthMax}`);
    out.push(`  reconcile while creating (controller: n, p50/p99 ms): ${p.reconcile.slice(0, 10).map((c: any) => `${c.controller} ${c.reconciles} ${c.p50Ms}/${c.p99Ms}`).join("; ")}`);
  }
  if (r.settleSeconds !== undefined) out.push(`  settled (queues empty, no event writes pending, every volume InUse or Available) ${r.settleSeconds} s after the last instance was Ready`);
  if (r.idle) {
    out.push(`  idle ${r.idle.seconds} s: ${r.idle.cpuPercent}% of a core (goal < 2%: ${r.idle.cpuPercent < 2 ? "met" : "NOT met"}), RSS ${r.idle.rssMiB} MiB (goal <= 1024: ${r.idle.rssMiB <= 1024 ? "met" : "NOT met"})`);
    out.push(`  idle requests/min: ${r.idle.requestsPerMinute.map(([k, n]: [string, number]) => `${k} ${n}`).join("; ") || "none"}; writes beyond leases: ${r.idle.writes.other}`);
  }
  const w = r.watches as Record<string, { restarts: number; stalls: number }> | undefined;
  if (w && Object.values(w).some((x) => x.restarts || x.stalls)) out.push(`  the bench's own watches were reopened: ${Object.entries(w).map(([k, x]) => `${k} ${x.restarts} relists, ${x.stalls} silent`).join("; ")} (Ready times seen late by up to ${ReadyWatch.STALL_MS / 1000} s each)`);
  if (r.managerExits?.length) out.push(`  the manager exited ${r.managerExits.length} time(s) on its own (restarted by the bench): ${r.managerExits.map((e: any) => `at ${e.t} s: ${e.log.split("\n").at(-1)}`).join("; ").slice(0, 600)}`);
  for (const x of r.restarts ?? []) {
    out.push(`  restart at ${x.instances}: ready ${x.readySeconds} s, leading ${x.leadingSeconds} s, first reconcile ${x.firstReconcileSeconds} s, caught up ${x.caughtUpSeconds} s (${x.cpuSecondsToCaughtUp} cpu-s); writes in ${x.writesWindowSeconds} s: ${x.writes.other} (+${x.writes.leases} lease) ${x.writes.byKind.slice(0, 5).map(([k, n]: [string, number]) => `${k} ${n}`).join(", ")}; RSS peak ${x.rssPeakMiB} MiB`);
  }
  for (const s of r.sizes ?? []) {
    out.push(`  at ${s.instances}: etcd ${s.etcd.dbMiB} MiB (${s.etcd.inUseMiB} in use); largest: ${s.largest.slice(0, 5).map((o: any) => `${o.kind} ${o.name} ${o.bytes} B`).join(", ")}`);
  }
  const pr = r.provisioningReused;
  if (pr) out.push(`  the plane's part reused (BENCH_PROVISIONING=reuse) from the run of ${pr.when}, commit ${pr.commit} (${pr.from}): nothing in ${pr.paths.join(", ")} changed since`);
  const sch = r.scheduler;
  for (const [what, x] of [["scheduler", sch], ["quota", r.quota]] as const) {
    if (x?.reused) out.push(`  ${what} ceilings reused (BENCH_CEILINGS=reuse) from the run of ${x.reused.when}, commit ${x.reused.commit}: nothing in ${x.reused.paths.join(", ")} changed since`);
  }
  if (sch && !sch.error) out.push(`  scheduler ceilings: see ${"scheduler-latest.json"}: ${JSON.stringify(sch.ratios ?? sch.summary ?? {}).slice(0, 400)}`);
  else if (sch) out.push(`  scheduler ceilings: ${sch.error}`);
  const q = r.quota;
  if (q && !q.error) out.push(`  quota admission: ${JSON.stringify(q.ratio ?? {})} ${JSON.stringify(q.clientMs ?? {}).slice(0, 400)}`);
  else if (q) out.push(`  quota admission: ${q.error}`);
  out.push(`  ${file}`);
  out.push("", "README table (copy into \"Performance at seed scale\"):", "", ...readmeTable(r));
  return out.join("\n");
}

const goal = (met: boolean) => (met ? "met" : "**not met**");

/** The README's "Performance at seed scale" table, from one run's result. */
export function readmeTable(r: Record<string, any>): string[] {
  const rows: string[][] = [];
  const p = r.provisioning;
  const f = r.floor;
  if (p && f) {
    rows.push([`${p.n} instances applied → all Ready${p.steps?.length > 1 ? ` (in ${p.steps.length} steps to ${p.steps.map((x: any) => x.n).reduce((a: number[], n: number) => [...a, (a.at(-1) ?? 0) + n], []).join(", ")}, a restart after each but the last, not counted)` : ""}`, `${p.seconds} s (p50 ${p.perObjectMs.p50} ms, p99 ${p.perObjectMs.p99} ms)`, `bare floor, ${f.n} plain pods: ${f.seconds} s (p50 ${f.perObjectMs.p50} ms, p99 ${f.perObjectMs.p99} ms)`, `${p.ratioToFloor}× of the floor; goal ≥ 0.8×: ${goal(p.ratioToFloor >= 0.8)}`]);
    rows.push(["manager while creating", `RSS peak ${p.manager.rssPeakMiB} MiB, ${p.manager.cpuPercent}% of a core, queue depth ≤ ${p.manager.depthMax}`, `plane cpu-s: ${Object.entries(p.planeCpuSeconds ?? {}).map(([c, v]) => `${c} ${v}`).join(", ")}`, `floor's plane cpu-s: ${Object.entries(f.planeCpuSeconds ?? {}).map(([c, v]) => `${c} ${v}`).join(", ")}`]);
    if (p.apiserverWrites && f.apiserverWrites) {
      const top = (x: any) => x.byKind.slice(0, 6).map(([k, n]: [string, number]) => `${k} ${round(n / x.objects, 2)}`).join(", ");
      rows.push(["apiserver writes per object (every client; lease and node heartbeats left out)", `instance ${p.apiserverWrites.perObject}: ${top({ ...p.apiserverWrites, objects: p.n })}`, `floor pod ${f.apiserverWrites.perObject}: ${top({ ...f.apiserverWrites, objects: f.n })}`, `floor/instance ${round(f.apiserverWrites.perObject / p.apiserverWrites.perObject, 2)}×: the ratio an apiserver that is the limit allows`]);
    }
    const inst = p.reconcile.find((c: any) => c.controller === "instance");
    if (inst) rows.push(["reconcile p50/p99 while creating", `instance ${inst.p50Ms}/${inst.p99Ms} ms (${inst.reconciles})`, p.reconcile.filter((c: any) => c !== inst).slice(0, 4).map((c: any) => `${c.controller} ${c.p50Ms}/${c.p99Ms}`).join("; "), "ms"]);
  }
  if (r.idle) {
    rows.push([`manager idle (${r.idle.seconds} s)`, `${r.idle.cpuPercent}% of a core, RSS ${r.idle.rssMiB} MiB`, "goals: < 2% of a core, ≤ 1024 MiB", `${goal(r.idle.cpuPercent < 2)}; ${goal(r.idle.rssMiB <= 1024)}`]);
    rows.push(["manager's apiserver requests while idle", r.idle.requestsPerMinute.map(([k, n]: [string, number]) => `${k} ${n}/min`).join(", ") || "none", "target: lease renewals and watches only", goal(r.idle.writes.other === 0)]);
  }
  for (const x of r.restarts ?? []) {
    rows.push([`restart at ${x.instances} instances`, `ready ${x.readySeconds} s, leading ${x.leadingSeconds} s, caught up ${x.caughtUpSeconds} s`, `writes in the first ${x.writesWindowSeconds} s: ${x.writes.other} (${x.writes.byKind.map(([k, n]: [string, number]) => `${k} ${n}`).join(", ") || "none"}) + ${x.writes.leases} lease`, `RSS peak ${x.rssPeakMiB} MiB, ${x.cpuSecondsToCaughtUp} cpu-s to caught up`]);
  }
  for (const z of r.sizes ?? []) {
    const top = z.largest[0];
    rows.push([`etcd at ${z.instances} instances`, `${z.etcd.dbMiB} MiB (${z.etcd.inUseMiB} in use)`, top ? `largest: ${top.kind} ${top.name} ${top.bytes} B` : "", z.largest.slice(1, 4).map((o: any) => `${o.kind} ${o.bytes} B`).join(", ")]);
  }
  const sch = r.scheduler;
  if (sch?.results) {
    const by = (id: string) => sch.results.find((x: any) => x.scheduler === id);
    const [ours, kube, def, raw] = ["ours", "kube", "kube-default", "raw"].map(by);
    const ps = (x: any) => (x ? `${Math.round(x.throughput.average)} pods/s [${Math.round(x.serverSide?.avgPerSecond ?? 0)}]` : "—");
    const ratio = sch.ratios?.[0] ?? {};
    const pct = (x: number | undefined) => (x === undefined ? "—" : `${Math.round(x * 100)}%`);
    const rt = (x: number | undefined) => (x === undefined ? "—" : `${Math.round(x * 100) / 100}×`);
    rows.push([`scheduler, ${sch.scale?.nodes} nodes / ${sch.scale?.pods} pods (drain)`, `ours ${ps(ours)}`, `raw Binding POSTs ${ps(raw)}; kube-scheduler equivalent ${ps(kube)}, default config ${ps(def)}`, `${pct(ratio.ofCeiling)} of the ceiling; ${rt(ratio.ratio)} kube equivalent, ${rt(ratio.vsDefault)} kube default`]);
    if (ours && kube) rows.push(["scheduler RSS peak, same snapshot", `ours ${Math.round(ours.memory.peakMiB)} MiB`, `kube-scheduler ${Math.round(kube.memory.peakMiB)} MiB (default config ${def ? Math.round(def.memory.peakMiB) : "—"})`, `goal ≤ kube-scheduler: ${goal(ours.memory.peakMiB <= kube.memory.peakMiB)}`]);
  }
  const q = r.quota;
  if (q?.clientMs) {
    rows.push([`quota admission, ${q.objects} objects per namespace`, `tenant create p50 ${q.clientMs.tenant.p50} ms, p99 ${q.clientMs.tenant.p99} ms`, `ResourceQuota create p50 ${q.clientMs.resourceQuota.p50} ms, p99 ${q.clientMs.resourceQuota.p99} ms (no admission: ${q.clientMs.plain.p50}/${q.clientMs.plain.p99})`, `p99 ${q.vsResourceQuota?.p99}× ResourceQuota's; goal ≤ 1.5×: ${goal(q.vsResourceQuota?.p99 <= 1.5)}`]);
  }
  const cell = (x: string) => String(x).replace(/\|/g, "\\|");
  return [
    `Measured ${String(r.when).slice(0, 10)} on ${r.machine?.cpus} cores (${r.machine?.model}, ${r.machine?.memGiB} GiB), ${r.hosts} hosts, commit ${r.commit}.`, "",
    "| what | CellCloud | baseline, same run | ratio / goal |", "|---|---|---|---|",
    ...rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
  ];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
