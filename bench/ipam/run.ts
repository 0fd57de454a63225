// bench/ipam: how fast the IPAM hands out addresses, against the physical limit of its design (one
// create per address, BENCH.md "The ceilings"). On a plane of its own, in one run:
//   - ceiling: BENCH_NICS IPAllocation objects created directly, with the manager's client
//     (KubeClient) and its concurrency (BENCH_CONCURRENCY, the manager's default 2), in a scope no
//     one else uses;
//   - ours: BENCH_NICS / 2 Instances with two NICs each wait for a Subnet that does not exist yet;
//     the clock starts when it is created and stops when the last NIC's allocation exists (and,
//     reported too, when every instance's status shows its addresses). The manager runs the vpc,
//     subnet and instance controllers in this process, with the same concurrency.
// Reports allocations/s for both and their ratio (target ≥ 0.8). See bench/README.md.
//   node bench/ipam/run.ts        (make bench-ipam)
// Environment: BENCH_NICS (5000), BENCH_CONCURRENCY (2), BENCH_KEEP_PLANE=1.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { InstanceRef, type InstanceObj } from "../../operators/api/compute.ts";
import { IPAllocationRef, SubnetRef, VPCRef, type IPAllocationObj, type VPCObj } from "../../operators/api/network.ts";
import { productContext, setupControllers } from "../../operators/products.ts";
import { NamespaceRef } from "../../operators/runtime/core.ts";
import { Informer } from "../../operators/runtime/informer.ts";
import { KubeClient } from "../../operators/runtime/kube.ts";
import { newLogger } from "../../operators/runtime/log.ts";
import { Manager } from "../../operators/runtime/manager.ts";
import { forEachLimit } from "../../operators/runtime/parallel.ts";
import { machine } from "../scheduler/proc.ts";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const env = process.env;
const nics = Number(env.BENCH_NICS ?? 5000);
const concurrency = Number(env.BENCH_CONCURRENCY ?? 2);
const state = `${repo}/.state/bench-ipam`;
const portBase = 16980;
const planeEnv = { ...env, CELLCLOUD_INSTANCE: "bench-ipam", CELLCLOUD_STATE: state, CELLCLOUD_PORT_BASE: String(portBase) };
const log = (msg: string) => console.error(`bench: ${msg}`);
const NS = "bench-ipam";
const API = "network.cellcloud.io/v1alpha1";
const seconds = (ms: number) => Math.round(ms / 10) / 100;

function must(failed: Array<{ error: unknown }>): void {
  if (failed.length) throw new Error(`${failed.length} creates failed, the first: ${String(failed[0]!.error)}`);
}

async function until(what: string, done: () => boolean | Promise<boolean>, timeoutMs = 1_800_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main(): Promise<void> {
  if (env.BENCH_KEEP_PLANE !== "1") {
    spawnSync(`${repo}/hack/down`, [], { env: planeEnv, stdio: "ignore" });
    rmSync(state, { recursive: true, force: true });
  }
  log(`bringing up the bench plane (${state}, ports ${portBase + 1}-${portBase + 9})`);
  const up = spawnSync(`${repo}/hack/up`, ["--plane-only", "--quiet"], { env: planeEnv, stdio: ["ignore", "inherit", "inherit"] });
  if (up.status !== 0) throw new Error(`hack/up failed (exit ${up.status})`);
  const kc = new KubeConfig();
  kc.loadFromFile(`${state}/kubeconfig`);
  const client = new KubeClient(kc);
  const stamp = Date.now().toString(36);
  await client.create(NamespaceRef, { apiVersion: "v1", kind: "Namespace", metadata: { name: NS } }).catch((e: { code?: number }) => { if (e.code !== 409) throw e; });

  // What the bench watches: every allocation (the manager keeps its own caches).
  const allocations = new Informer<IPAllocationObj>(client, IPAllocationRef, newLogger("warn"));
  allocations.start();
  await allocations.waitForSync();
  // counted as events arrive (a scan of every allocation each poll would load this process, where the manager runs)
  const perScope = new Map<string, Set<string>>();
  allocations.addHandler((type, a) => {
    const set = perScope.get(a.spec.scope) ?? new Set<string>();
    perScope.set(a.spec.scope, set);
    if (type === "delete") set.delete(a.metadata.name);
    else set.add(a.metadata.name);
  });
  const inScope = (scope: string) => perScope.get(scope)?.size ?? 0;

  // ---- ceiling: the raw create rate of the same number of allocation objects ----
  const rawScope = `bench-raw-${stamp}.vpc`;
  // an owner kind no repair knows: the orphan repair leaves these alone while the run goes on
  const owner = { kind: "Bench", namespace: NS, name: "raw", uid: "raw" };
  const rawAddresses = Array.from({ length: nics }, (_, i) => `10.${64 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}`);
  log(`ceiling: creating ${nics} IPAllocations directly, ${concurrency} at a time`);
  const r0 = performance.now();
  must(await forEachLimit([...rawAddresses.entries()], concurrency, async ([i, address]) => {
    await client.create(IPAllocationRef, {
      apiVersion: API, kind: "IPAllocation", metadata: { name: `${rawScope}.${address}` },
      spec: { address, scope: rawScope, subnet: "raw", slot: `nic-${i % 2}`, mac: "0a:58:00:00:00:00", owner },
    });
  }));
  const rawMs = performance.now() - r0;

  // ---- ours: instances wait for their subnet; the clock starts when it appears ----
  const vpc = `v${stamp}`;
  const sub = `s${stamp}`;
  const mgr = new Manager({ kubeConfig: kc, log: newLogger("warn"), leaderElection: false, metricsAddress: "0", healthAddress: "0", processMetrics: false, concurrency });
  setupControllers(mgr, productContext(), ["vpc", "subnet", "instance"]);
  // the manager's writes while it allocates, by verb and resource: what each NIC costs
  const writes = new Map<string, number>();
  let counting = false;
  mgr.client.onRequest((method, path) => {
    if (!counting || method === "GET") return;
    const resource = path.split("?")[0]!.split("/").filter((p, i, all) => i > 0 && /^[a-z]+$/.test(p) && !["api", "apis", "v1", "namespaces"].includes(p) && all[i - 1] !== "namespaces").slice(-2).join("/");
    const key = `${method} ${resource}`;
    writes.set(key, (writes.get(key) ?? 0) + 1);
  });
  await mgr.start();
  await client.create(VPCRef, { apiVersion: API, kind: "VPC", metadata: { name: vpc, namespace: NS }, spec: { cidrBlocks: ["10.0.0.0/16"] } });
  await until("the VPC's VNI", async () => Boolean((await client.get<VPCObj>(VPCRef, vpc, NS)).status?.vni));
  const vms = Math.ceil(nics / 2);
  log(`ours: creating ${vms} instances with 2 NICs each, waiting for subnet ${sub}`);
  const spec = { image: "bench-none", resources: { vcpus: 2, memory: "4Gi" }, systemDisk: {}, powerState: "Stopped", nics: [{ subnet: sub }, { subnet: sub }] };
  must(await forEachLimit(Array.from({ length: vms }, (_, i) => `vm-${stamp}-${i}`), 16, async (name) => {
    await client.create(InstanceRef, { apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", metadata: { name, namespace: NS }, spec });
  }));
  const instances = mgr.informer<InstanceObj>(InstanceRef);
  // every instance reconciled once (finalizer added, status observed) before the clock starts
  const waiting = (i: InstanceObj) => i.metadata.finalizers?.length && i.status?.observedGeneration === i.metadata.generation && i.status?.nics?.length === 2;
  await until("every instance to wait for its subnet", () => instances.list().filter((i) => i.metadata.name.startsWith(`vm-${stamp}-`) && waiting(i)).length === vms);
  await new Promise((r) => setTimeout(r, 1000));
  const scope = `${NS}.${vpc}`;
  const t0 = performance.now();
  counting = true;
  await client.create(SubnetRef, { apiVersion: API, kind: "Subnet", metadata: { name: sub, namespace: NS }, spec: { vpc, cidrBlock: "10.0.0.0/18" } });
  await until(`${nics} allocations`, () => inScope(scope) >= vms * 2);
  const oursMs = performance.now() - t0;
  const addressed = () => instances.list().filter((i) => i.metadata.name.startsWith(`vm-${stamp}-`) && i.status?.nics?.length === 2 && i.status.nics.every((n) => n.ip)).length;
  await until("every instance's status to show its addresses", () => addressed() === vms);
  const statusMs = performance.now() - t0;
  counting = false;
  const shown = instances.list().filter((i) => i.metadata.name.startsWith(`vm-${stamp}-`)).flatMap((i) => (i.status?.nics ?? []).map((n) => n.ip));
  const duplicates = shown.length - new Set(shown).size;
  const extra = inScope(scope) - vms * 2;

  const rate = (n: number, ms: number) => Math.round((n / (ms / 1000)) * 10) / 10;
  const result = {
    when: new Date().toISOString(), machine: machine(), nics: vms * 2, instances: vms, concurrency,
    ceiling: { seconds: seconds(rawMs), perSecond: rate(nics, rawMs) },
    ours: { seconds: seconds(oursMs), perSecond: rate(vms * 2, oursMs), statusSeconds: seconds(statusMs), statusPerSecond: rate(vms * 2, statusMs) },
    ratio: Math.round((rate(vms * 2, oursMs) / rate(nics, rawMs)) * 100) / 100,
    ratioToStatus: Math.round((rate(vms * 2, statusMs) / rate(nics, rawMs)) * 100) / 100,
    duplicates, extraAllocations: extra, managerWrites: Object.fromEntries([...writes].sort((a, b) => b[1] - a[1])), target: "≥ 0.8× the raw create rate",
  };
  mkdirSync(`${repo}/.state/bench/results`, { recursive: true });
  const file = `${repo}/.state/bench/results/ipam-${result.when.replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2));
  console.log([
    `IPAM: ${vms * 2} NICs (${vms} instances x 2) in one /18, concurrency ${concurrency} for both, ${result.machine.cpus ?? "?"} CPUs`,
    `  ceiling, raw IPAllocation creates:   ${result.ceiling.perSecond}/s (${result.ceiling.seconds} s)`,
    `  ours, subnet created → allocations:  ${result.ours.perSecond}/s (${result.ours.seconds} s)   ratio ${result.ratio}x`,
    `  ours, → every status shows them:     ${result.ours.statusPerSecond}/s (${result.ours.statusSeconds} s)   ratio ${result.ratioToStatus}x`,
    `  the manager's writes meanwhile: ${[...writes].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(", ")}`,
    `  duplicate addresses: ${duplicates}; allocations beyond one per NIC (races, released later): ${extra}`,
    `  target (≥ 0.8x): ${result.ratio >= 0.8 ? "met" : "NOT met"}   ${file}`,
  ].join("\n"));

  await mgr.stop();
  allocations.stop();
  if (env.BENCH_KEEP_PLANE !== "1") {
    spawnSync(`${repo}/hack/down`, [], { env: planeEnv, stdio: ["ignore", "inherit", "inherit"] });
    rmSync(state, { recursive: true, force: true });
  }
}

await main();
