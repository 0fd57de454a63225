// The local data plane: a minimal virtual-kubelet for the local plane. KWOK simulates hosts, so the
// pods bound to them run nothing; that is right for thousands of simulated VMs and wrong for the few
// pods whose behaviour is the product (an SLB's HAProxy, later an RDS member's PostgreSQL). For pods
// labelled cellcloud.io/data-plane=local (KWOK's stages skip them) this agent does what a kubelet
// does, on this machine:
//   - gives each pod its own loopback address (127.X.y.z, unique per pod) as its pod IP;
//   - writes its configMap, secret, projected and emptyDir volumes to a private directory (0700; 0600
//     for secrets) and refreshes them when their source changes (watched, as the kubelet does); a
//     persistentVolumeClaim is a directory of its PersistentVolume under the state directory, which
//     outlives the pod and the agent (an RDS member's data, a backup store shared by the members);
//   - treats a pod whose node is not Ready as on a failed host: its processes are killed and stay
//     down, and its status is left alone (a dead kubelet writes nothing), until the node is back;
//   - runs each container's process (from an image → command map: only images this machine can run),
//     with its env (fieldRefs resolved), paths under its mounts mapped to those directories, and as
//     its securityContext's user (runAsUser/runAsGroup; fsGroup owns the volumes);
//   - sets phase, Ready (from a tcpSocket readiness probe), restart counts and exit codes from the
//     processes (a container is gone when its main process is: what it started goes with it),
//     restarts exited ones with a backoff, and on deletion stops them gracefully (SIGTERM,
//     then SIGKILL after the grace period) before removing the pod;
//   - keeps each container's log under the state directory.
// In a real cluster the same pods run their official images under the kubelet; this agent is not used.
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import { connect } from "node:net";
import { chmodSync, chownSync, closeSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { DATA_PLANE_SELECTOR } from "../../operators/api/platform.ts";
import { ClaimRef, ConfigMapRef, NodeRef, PersistentVolumeRef, PodRef, SecretRef, type ConfigMap, type Node, type Pod } from "../../operators/runtime/core.ts";
import { Informer } from "../../operators/runtime/informer.ts";
import { isNotFound, KubeClient } from "../../operators/runtime/kube.ts";
import { newLogger } from "../../operators/runtime/log.ts";
import type { KubeObject } from "../../operators/runtime/types.ts";
import { type Container, identityOf, imageCommand, mapPath, podAddress, type Mounts } from "./pods.ts";

const REFRESH_MS = 1_000;
const RESTART_BACKOFF = { initialMs: 1_000, maxMs: 30_000 };

type Secret = KubeObject & { type?: string; data?: Record<string, string> };

interface Running {
  name: string;
  child?: ChildProcess;
  startedAt?: string;
  restarts: number;
  ready: boolean;
  lastExit?: { exitCode: number; finishedAt: string; reason: string };
  waiting?: { reason: string; message: string };
  nextStart: number;
  backoffMs: number;
}

interface PodState {
  uid: string;
  key: string;
  ip: string;
  dir: string;
  containers: Map<string, Running>;
  stopping: boolean;
  /** Its node is not Ready: its processes were killed as a failed host's, and start again when it is back. */
  hostDown?: boolean;
  lastStatus?: string;
  volumeHash: Map<string, string>;
  /** Volumes that live elsewhere than the pod's directory (a claim's PersistentVolume). */
  volumeDirs: Map<string, string>;
  /** Who owns the pod's files: its runAsUser and fsGroup (or runAsGroup), when it names them. */
  owner?: { uid: number; gid: number };
}

const { values: args } = parseArgs({
  options: {
    kubeconfig: { type: "string" },
    "state-dir": { type: "string" },
    "pod-cidr": { type: "string", default: "127.200.0.0/16" },
    "health-port": { type: "string", default: "0" },
  },
});
const log = newLogger(process.env.LOG_LEVEL ?? "info");
if (!args.kubeconfig || !args["state-dir"]) {
  log.error("usage: agent.ts --kubeconfig=F --state-dir=D [--pod-cidr=127.X.0.0/16] [--health-port=N]");
  process.exit(2);
}
const stateDir = path.resolve(args["state-dir"]);
const kc = new KubeConfig();
kc.loadFromFile(args.kubeconfig);
const client = new KubeClient(kc, "cellcloud-dataplane");
const pods = new Informer<Pod>(client, PodRef, log, { labelSelector: DATA_PLANE_SELECTOR, resyncMs: 30_000 });
// the sources of volumes, watched as the kubelet watches them (no request per refresh)
const configMaps = new Informer<ConfigMap>(client, ConfigMapRef, log);
const secrets = new Informer<Secret>(client, SecretRef, log);
const claims = new Informer<KubeObject & { spec?: { volumeName?: string } }>(client, ClaimRef, log);
const volumes = new Informer<KubeObject>(client, PersistentVolumeRef, log);
const nodes = new Informer<Node>(client, NodeRef, log);
/** PersistentVolumes' directories: under the state directory, kept across pods and agent restarts. */
const pvRoot = path.join(stateDir, "pv");
const states = new Map<string, PodState>();
/** Set on SIGTERM: nothing starts any more, whatever a sync in flight finds. */
let shuttingDown = false;
/** Addresses in use, by the uid of the pod holding each. */
const reserved = new Map<string, string>();
const pidDir = path.join(stateDir, "pids");
mkdirSync(pidDir, { recursive: true });
// Pods' volumes live under a short path of their own (a unix socket path in one is limited to 107
// bytes, as HAProxy's stats socket is), private to this agent: 0700, emptied when the agent starts.
const podRoot = path.join(tmpdir(), "cellcloud-dp", createHash("sha256").update(stateDir).digest("hex").slice(0, 8));

/**
 * Processes that left their pod's process group but carry this agent's mark in their environment
 * (an Erlang epmd daemon a RabbitMQ node started): stopped when the agent stops or starts.
 */
function reapStrays(): void {
  const mark = `CELLCLOUD_DATAPLANE=${stateDir}\0`;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p)).map(Number)) {
    if (pid === process.pid) continue;
    try {
      if (readFileSync(`/proc/${pid}/environ`, "utf8").includes(mark)) process.kill(pid, "SIGKILL");
    } catch { /* gone, or not ours to read */ }
  }
}

/** Processes a previous agent left (it was killed): stopped before anything starts. */
function reapLeftovers(): void {
  reapStrays();
  for (const f of readdirSync(pidDir)) {
    const pid = Number(readFileSync(path.join(pidDir, f), "utf8"));
    try {
      if (pid > 0 && readFileSync(`/proc/${pid}/environ`, "utf8").includes(`CELLCLOUD_DATAPLANE=${stateDir}`)) process.kill(-pid, "SIGKILL");
    } catch { /* gone */ }
    rmSync(path.join(pidDir, f), { force: true });
  }
  rmSync(podRoot, { recursive: true, force: true });
  // others may pass through (a pod running as another user reaches its own 0700 directory), not list
  mkdirSync(podRoot, { recursive: true, mode: 0o711 });
  try { chmodSync(path.dirname(podRoot), 0o711); } catch { /* another user's: it decides */ }
  chmodSync(podRoot, 0o711);
}

function writeAtomic(file: string, content: string | Buffer, mode: number, owner?: PodState["owner"]): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  if (owner) chownSync(tmp, owner.uid, owner.gid);
  renameSync(tmp, file);
}

/** Writes a pod's volumes; returns why it cannot (a missing ConfigMap or Secret key), if so. */
function materialize(pod: Pod, st: PodState): string | undefined {
  const ns = pod.metadata.namespace!;
  for (const v of pod.spec?.volumes ?? []) {
    const files = new Map<string, { data: Buffer; mode: number }>();
    const fromSource = (kind: "configMap" | "secret", name: string, items?: Array<{ key: string; path: string }>) => {
      const obj = kind === "configMap" ? configMaps.get(`${ns}/${name}`) : secrets.get(`${ns}/${name}`);
      if (!obj) throw new Error(`${kind === "secret" ? "secret" : "configmap"} "${name}" not found`);
      const entries: Record<string, Buffer> = {};
      for (const [k, val] of Object.entries(obj.data ?? {})) entries[k] = kind === "secret" ? Buffer.from(val, "base64") : Buffer.from(val);
      const wanted = items ?? Object.keys(entries).map((key) => ({ key, path: key }));
      for (const it of wanted) {
        const data = entries[it.key];
        if (!data) throw new Error(`couldn't find key ${it.key} in ${kind === "secret" ? "Secret" : "ConfigMap"} ${ns}/${name}`);
        files.set(it.path, { data, mode: kind === "secret" ? 0o600 : 0o644 });
      }
    };
    try {
      if (v.configMap) fromSource("configMap", v.configMap.name!, v.configMap.items);
      else if (v.secret) fromSource("secret", v.secret.secretName!, v.secret.items);
      else if (v.projected) {
        for (const s of v.projected.sources ?? []) {
          if (s.secret) fromSource("secret", s.secret.name!, s.secret.items);
          else if (s.configMap) fromSource("configMap", s.configMap.name!, s.configMap.items);
        }
      } else if (v.persistentVolumeClaim) {
        const claim = claims.get(`${ns}/${v.persistentVolumeClaim.claimName}`);
        if (!claim?.spec?.volumeName) throw new Error(`persistentvolumeclaim "${v.persistentVolumeClaim.claimName}" is not bound`);
        const dir = path.join(pvRoot, claim.spec.volumeName);
        mkdirSync(dir, { recursive: true, mode: 0o711 });
        st.volumeDirs.set(v.name, dir);
        continue;
      } else if (!v.emptyDir) return `volume ${v.name}: only configMap, secret, projected, emptyDir and persistentVolumeClaim volumes run on the local data plane`;
    } catch (e) {
      return `volume ${v.name}: ${e instanceof Error ? e.message : String(e)}`;
    }
    const dir = path.join(st.dir, "volumes", v.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (st.owner) { chownSync(path.dirname(dir), st.owner.uid, st.owner.gid); chownSync(dir, st.owner.uid, st.owner.gid); }
    if (v.emptyDir) continue;
    const hash = createHash("sha256");
    for (const [p, f] of [...files].sort((a, b) => a[0].localeCompare(b[0]))) hash.update(p).update(f.data);
    const h = hash.digest("hex");
    if (st.volumeHash.get(v.name) === h) continue;
    for (const [p, f] of files) {
      if (p.includes("..") || path.isAbsolute(p)) return `volume ${v.name}: item path ${p} must be relative, without ..`;
      writeAtomic(path.join(dir, p), f.data, f.mode, st.owner);
    }
    st.volumeHash.set(v.name, h);
  }
  return undefined;
}

function mountsOf(c: Container, st: PodState): Mounts {
  return (c.volumeMounts ?? []).map((m) => ({ mountPath: m.mountPath, local: st.volumeDirs.get(m.name) ?? path.join(st.dir, "volumes", m.name) }));
}

function envOf(pod: Pod, c: Container, st: PodState, mounts: Mounts): Record<string, string> {
  const out: Record<string, string> = {};
  const field: Record<string, string | undefined> = {
    "status.podIP": st.ip, "metadata.name": pod.metadata.name, "metadata.namespace": pod.metadata.namespace,
    "spec.nodeName": pod.spec?.nodeName, "metadata.uid": pod.metadata.uid,
  };
  for (const e of c.env ?? []) {
    const raw = e.value ?? (e.valueFrom?.fieldRef ? field[e.valueFrom.fieldRef.fieldPath] : undefined) ?? "";
    out[e.name] = mapPath(raw, mounts);
  }
  return out;
}

function start(pod: Pod, st: PodState, c: Container, r: Running): void {
  const cmd = imageCommand(c);
  if (typeof cmd === "string") {
    r.waiting = { reason: "ImageNotSupported", message: cmd };
    return;
  }
  const mounts = mountsOf(c, st);
  const [file, ...rest] = cmd.map((a) => mapPath(a, mounts));
  const logFile = path.join(stateDir, "logs", `${pod.metadata.namespace}_${pod.metadata.name}_${c.name}.log`);
  mkdirSync(path.dirname(logFile), { recursive: true });
  const fd = openSync(logFile, "a");
  const id = identityOf(pod, c);
  const self = process.getuid?.() ?? 0;
  if (id.uid !== undefined && id.uid !== self && self !== 0) {
    closeSync(fd);
    r.waiting = { reason: "CreateContainerError", message: `securityContext.runAsUser ${id.uid}: the local data plane runs as uid ${self} and cannot switch users` };
    return;
  }
  const child = spawn(file!, rest, {
    cwd: st.dir, detached: true, stdio: ["ignore", fd, fd],
    ...(id.uid !== undefined && id.uid !== self ? { uid: id.uid, gid: id.gid ?? id.uid } : {}),
    env: {
      PATH: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", HOME: st.dir, CELLCLOUD_DATAPLANE: stateDir,
      // where the machine's Kafka jars are (hack/ensure-kafka), for the kafka image's entrypoint
      ...(process.env.CELLCLOUD_KAFKA_LIBS ? { CELLCLOUD_KAFKA_LIBS: process.env.CELLCLOUD_KAFKA_LIBS } : {}),
      ...envOf(pod, c, st, mounts),
    },
  });
  closeSync(fd);
  r.child = child;
  r.startedAt = new Date().toISOString();
  r.waiting = undefined;
  r.ready = false;
  if (child.pid) writeFileSync(path.join(pidDir, `${st.uid}-${c.name}`), String(child.pid));
  log.info({ pod: st.key, container: c.name, pid: child.pid, ip: st.ip }, "started");
  child.on("error", (err) => { r.waiting = { reason: "RunContainerError", message: err.message }; });
  child.on("exit", (code, signal) => {
    // the container ends with its main process: whatever it started (a database server) goes too
    try { process.kill(-child.pid!, "SIGKILL"); } catch { /* none left */ }
    rmSync(path.join(pidDir, `${st.uid}-${c.name}`), { force: true });
    r.child = undefined;
    r.ready = false;
    r.lastExit = { exitCode: code ?? 128 + (signal === "SIGKILL" ? 9 : 15), finishedAt: new Date().toISOString(), reason: code === 0 ? "Completed" : "Error" };
    if (!st.stopping) {
      r.restarts++;
      r.nextStart = Date.now() + r.backoffMs;
      r.waiting = { reason: "CrashLoopBackOff", message: `back-off ${r.backoffMs / 1000}s restarting failed container ${c.name}` };
      r.backoffMs = Math.min(r.backoffMs * 2, RESTART_BACKOFF.maxMs);
    }
    log.info({ pod: st.key, container: c.name, code, signal }, "exited");
    void sync(st.key);
  });
}

function probe(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: ip, port, timeout: 1_000 });
    s.once("connect", () => { s.destroy(); resolve(true); });
    s.once("error", () => resolve(false));
    s.once("timeout", () => { s.destroy(); resolve(false); });
  });
}

async function readiness(pod: Pod, st: PodState): Promise<void> {
  for (const c of pod.spec?.containers ?? []) {
    const r = st.containers.get(c.name);
    if (!r?.child) continue;
    const p = c.readinessProbe?.tcpSocket?.port;
    const port = typeof p === "number" ? p : c.ports?.find((x) => x.name === p)?.containerPort;
    r.ready = port ? await probe(st.ip, port) : true;
  }
}

function podStatus(pod: Pod, st: PodState): Record<string, unknown> {
  const now = new Date().toISOString();
  const cs = (pod.spec?.containers ?? []).map((c) => {
    const r = st.containers.get(c.name)!;
    const state = r.child ? { running: { startedAt: r.startedAt } } : { waiting: r.waiting ?? { reason: "ContainerCreating" } };
    return {
      name: c.name, image: c.image, imageID: "", containerID: r.child ? `dataplane://${r.child.pid}` : "",
      ready: r.ready, started: Boolean(r.child), restartCount: r.restarts, state,
      ...(r.lastExit ? { lastState: { terminated: { ...r.lastExit, startedAt: r.startedAt } } } : {}),
    };
  });
  const allReady = cs.length > 0 && cs.every((c) => c.ready);
  const prev = (type: string, status: string) => {
    const old = pod.status?.conditions?.find((c) => c.type === type);
    return old?.status === status ? old.lastTransitionTime : now;
  };
  const cond = (type: string, ok: boolean) => ({ type, status: ok ? "True" : "False", lastTransitionTime: prev(type, ok ? "True" : "False") });
  return {
    phase: "Running", podIP: st.ip, podIPs: [{ ip: st.ip }], hostIP: st.ip, hostIPs: [{ ip: st.ip }],
    startTime: pod.status?.startTime ?? now,
    conditions: [cond("PodReadyToStartContainers", true), cond("Initialized", true), cond("ContainersReady", allReady), cond("Ready", allReady), cond("PodScheduled", true)],
    containerStatuses: cs,
  };
}

const isNodeReady = (n: Node) => n.status?.conditions?.find((c) => c.type === "Ready")?.status === "True";

async function stopPod(st: PodState, graceSeconds: number): Promise<void> {
  st.stopping = true;
  const children = [...st.containers.values()].flatMap((r) => (r.child?.pid ? [r.child] : []));
  for (const ch of children) { try { process.kill(-ch.pid!, "SIGTERM"); } catch { /* gone */ } }
  const deadline = Date.now() + graceSeconds * 1000;
  while (children.some((ch) => ch.exitCode === null && ch.signalCode === null) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  for (const ch of children) { if (ch.exitCode === null && ch.signalCode === null) { try { process.kill(-ch.pid!, "SIGKILL"); } catch { /* gone */ } } }
}

const syncing = new Map<string, Promise<void>>();
const queued = new Set<string>();
/** Never two syncs of one pod at once, and at most one waiting behind a running one (a long stop does not pile them up). */
function sync(key: string): Promise<void> {
  if (queued.has(key)) return syncing.get(key)!;
  queued.add(key);
  const prev = syncing.get(key) ?? Promise.resolve();
  const next = prev.then(() => { queued.delete(key); return syncOnce(key); }).catch((e) => log.warn({ pod: key, err: String(e) }, "sync failed"));
  syncing.set(key, next);
  void next.finally(() => { if (syncing.get(key) === next) syncing.delete(key); });
  return next;
}

async function syncOnce(key: string): Promise<void> {
  const pod = pods.get(key);
  let st = states.get(key);
  if (st && (!pod || pod.metadata.uid !== st.uid)) {
    // deleted outright (or replaced by a pod of the same name): its processes go
    await stopPod(st, 0);
    reserved.delete(st.ip);
    rmSync(st.dir, { recursive: true, force: true });
    states.delete(key);
    st = undefined;
  }
  if (!pod?.spec?.nodeName) return;
  if (pod.metadata.deletionTimestamp) {
    if (st) {
      await stopPod(st, pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30);
      reserved.delete(st.ip);
      rmSync(st.dir, { recursive: true, force: true });
      states.delete(key);
    }
    await client.delete(PodRef, pod.metadata.name, pod.metadata.namespace, { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } }).catch((e) => { if (!isNotFound(e)) throw e; });
    return;
  }
  if (!st) {
    const ip = podAddress(args["pod-cidr"]!, pod.metadata.uid!, pod.status?.podIP, reserved);
    if (!ip) throw new Error(`no free address in ${args["pod-cidr"]}`);
    reserved.set(ip, pod.metadata.uid!);
    st = { uid: pod.metadata.uid!, key, ip, dir: path.join(podRoot, pod.metadata.uid!.replace(/-/g, "").slice(0, 12)), containers: new Map(), stopping: false, volumeHash: new Map(), volumeDirs: new Map() };
    mkdirSync(st.dir, { recursive: true, mode: 0o700 });
    chmodSync(st.dir, 0o700);
    const id = identityOf(pod, pod.spec.containers[0]);
    if (id.uid !== undefined) {
      st.owner = { uid: id.uid, gid: id.fsGroup ?? id.gid ?? id.uid };
      chownSync(st.dir, st.owner.uid, st.owner.gid);
    }
    // a pod a previous agent ran keeps counting its restarts
    const before = (name: string) => pod.status?.containerStatuses?.find((x) => x.name === name)?.restartCount ?? 0;
    for (const c of pod.spec.containers) st.containers.set(c.name, { name: c.name, restarts: before(c.name), ready: false, nextStart: 0, backoffMs: RESTART_BACKOFF.initialMs });
    states.set(key, st);
  }
  const node = nodes.get(pod.spec.nodeName);
  if (node && !isNodeReady(node)) {
    // a failed host: nothing runs there, and nothing reports
    if ([...st.containers.values()].some((r) => r.child)) {
      log.info({ pod: key, node: node.metadata.name }, "host not Ready: killing the pod's processes");
      st.hostDown = true;
      await stopPod(st, 0);
    }
    return;
  }
  if (st.hostDown && !shuttingDown) {
    // the host is back: its pod runs again (only a host's failure lifts the stop; a deletion's or the agent's does not)
    st.hostDown = false;
    st.stopping = false;
  }
  const problem = materialize(pod, st);
  for (const c of pod.spec.containers) {
    const r = st.containers.get(c.name)!;
    if (problem && !r.child) r.waiting = { reason: "CreateContainerConfigError", message: problem };
    else if (!r.child && Date.now() >= r.nextStart && !st.stopping && !shuttingDown) start(pod, st, c, r);
  }
  await readiness(pod, st);
  const status = podStatus(pod, st);
  const text = JSON.stringify(status, (k, v) => (k === "lastTransitionTime" || k === "startTime" ? undefined : v));
  if (text === st.lastStatus && pod.status?.podIP === st.ip) return;
  await client.patch(PodRef, pod.metadata.name, pod.metadata.namespace, { status }, "merge", { subresource: "status" });
  st.lastStatus = text;
}

/** A PersistentVolume's directory goes when the PersistentVolume does (its Volume was deleted). */
function pruneVolumes(): void {
  if (!volumes.hasSynced()) return;
  let dirs: string[];
  try { dirs = readdirSync(pvRoot); } catch { return; }
  for (const d of dirs) {
    if (volumes.get(d)) continue;
    log.info({ persistentVolume: d }, "PersistentVolume gone: removing its directory");
    rmSync(path.join(pvRoot, d), { recursive: true, force: true });
  }
}

let health: Server | undefined;
async function main(): Promise<void> {
  reapLeftovers();
  for (const i of [configMaps, secrets, claims, volumes, nodes, pods]) i.start();
  await Promise.all([configMaps, secrets, claims, volumes, nodes, pods].map((i) => i.waitForSync()));
  // pods keep the addresses a previous agent gave them
  for (const p of pods.list()) if (p.status?.podIP) reserved.set(p.status.podIP, p.metadata.uid!);
  pods.addHandler((_type, pod) => { void sync(`${pod.metadata.namespace}/${pod.metadata.name}`); });
  const timer = setInterval(() => { for (const key of new Set([...states.keys(), ...pods.list().map((p) => `${p.metadata.namespace}/${p.metadata.name}`)])) void sync(key); }, REFRESH_MS);
  const pruner = setInterval(pruneVolumes, 30_000);
  health = createServer((_req, res) => { res.writeHead(pods.hasSynced() ? 200 : 503).end("ok"); });
  health.listen(Number(args["health-port"]), "127.0.0.1");
  const shutdown = async () => {
    shuttingDown = true;
    clearInterval(timer);
    clearInterval(pruner);
    for (const i of [configMaps, secrets, claims, volumes, nodes, pods]) i.stop();
    await Promise.all([...states.values()].map((st) => stopPod(st, 10)));
    reapStrays();
    health?.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
  log.info({ podCIDR: args["pod-cidr"], stateDir }, "local data plane running");
}

void main();
