// bench/webhook: what the tenancy admission webhook adds to a create, at 1000+ objects per tenant
// (issue 8's target: p99 under 10 ms per admission). Baseline, in the same run and on the same
// plane: the same Instance creates in a namespace no tenant owns (the webhook is not called there).
// Both namespaces first hold BENCH_PRELOAD instances; then BENCH_CREATES creates go to each, one at a
// time, alternating in blocks of 50 so load drift hits both alike. Reports client-side p50/p99 for
// both, their ratio, and the webhook's own server-side p50/p99 (validate = price + deduct on the
// ledger, mutate = finalizer/approval patch). See bench/README.md.
//   node bench/webhook/run.ts        (make bench-webhook)
// Environment: BENCH_PRELOAD (1000), BENCH_CREATES (1000), BENCH_KEEP_PLANE=1.
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { KubeConfig } from "@kubernetes/client-node";
import { productContext, registerWebhooks, setupControllers } from "../../operators/products.ts";
import { KubeClient } from "../../operators/runtime/kube.ts";
import { newLogger } from "../../operators/runtime/log.ts";
import { Manager } from "../../operators/runtime/manager.ts";
import type { KubeObject } from "../../operators/runtime/types.ts";
import { LedgerRef, type LedgerObject } from "../../operators/tenancy/ledger-store.ts";
import { WebhookServer } from "../../operators/runtime/webhook.ts";
import { tenancyOf } from "../../operators/tenancy/shared.ts";
import { MUTATE_PATH } from "../../operators/tenancy/webhook.ts";
import { pool } from "../scheduler/client.ts";
import { machine } from "../scheduler/proc.ts";
import { percentile } from "../scheduler/throughput.ts";
import { FlavorRef, ImageRef, InstanceRef, PUBLIC_IMAGE_NAMESPACE } from "../../operators/api/compute.ts";
import { NamespaceRef } from "../../operators/runtime/core.ts";
import { QuotaRef, TenantRef } from "../../operators/api/tenancy.ts";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const env = process.env;
const preload = Number(env.BENCH_PRELOAD ?? 1000);
const creates = Number(env.BENCH_CREATES ?? 1000);
const state = `${repo}/.state/bench-webhook`;
const portBase = 16960;
const webhookPort = portBase + 10;
const planeEnv = { ...env, CELLCLOUD_INSTANCE: "bench-webhook", CELLCLOUD_STATE: state, CELLCLOUD_PORT_BASE: String(portBase) };
const log = (msg: string) => console.error(`bench: ${msg}`);

const TENANT = "bench-tenant";
const TENANT_NS = "bench-tenant-ns";
const PLAIN_NS = "bench-plain";

function summary(ms: number[]): { n: number; p50: number; p90: number; p99: number; max: number } {
  const s = [...ms].sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 100) / 100;
  return { n: s.length, p50: r(percentile(s, 50)), p90: r(percentile(s, 90)), p99: r(percentile(s, 99)), max: r(s.at(-1) ?? NaN) };
}

async function main(): Promise<void> {
  if (env.BENCH_KEEP_PLANE !== "1") {
    // a fresh plane: objects of an earlier run would change the ledger's size
    spawnSync(`${repo}/hack/down`, [], { env: planeEnv, stdio: "ignore" });
    rmSync(state, { recursive: true, force: true });
  }
  log(`bringing up the bench plane (${state}, ports ${portBase + 1}-${portBase + 10})`);
  const up = spawnSync(`${repo}/hack/up`, ["--plane-only", "--quiet"], { env: planeEnv, stdio: ["ignore", "inherit", "inherit"] });
  if (up.status !== 0) throw new Error(`hack/up failed (exit ${up.status})`);
  const kc = new KubeConfig();
  kc.loadFromFile(`${state}/kubeconfig`);
  const client = new KubeClient(kc);

  // The manager under test, in this process: tenancy controllers, the catalog, and the webhook.
  const mgr = new Manager({ kubeConfig: kc, log: newLogger("warn"), leaderElection: false, metricsAddress: "0", healthAddress: "0", processMetrics: false });
  const ctx = productContext();
  setupControllers(mgr, ctx, ["tenancy", "compute-catalog"]);
  const webhook = mgr.addAlways(new WebhookServer(mgr, {
    port: webhookPort, bindAddress: "127.0.0.1", url: `https://127.0.0.1:${webhookPort}`, hosts: ["127.0.0.1"], namespace: "kube-system",
  }));
  registerWebhooks(mgr, webhook, ctx);
  const { view, store } = tenancyOf(mgr, () => ctx.charged(mgr));
  const server: Record<"validate" | "mutate", number[]> = { validate: [], mutate: [] };
  let recording = false;
  webhook.onAdmission = (path, ms) => { if (recording) server[path === MUTATE_PATH ? "mutate" : "validate"].push(ms); };
  // The ledger writes, timed apart (queueing behind another write included): store.run calls that
  // wrote (the ledger controller's checks that change nothing are left out).
  const storeMs: number[] = [];
  const run = store.run.bind(store);
  store.run = async (root, change) => {
    const t0 = performance.now();
    const before = store.writes;
    try { return await run(root, change); } finally { if (recording && store.writes > before) storeMs.push(performance.now() - t0); }
  };
  await mgr.start();

  const ensure = (ref: typeof FlavorRef, obj: KubeObject) => client.create(ref, obj).catch((e: { code?: number }) => { if (e.code !== 409) throw e; });
  await ensure(FlavorRef, { apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Flavor", metadata: { name: "bench-2c4g" }, spec: { vcpus: 2, memory: "4Gi", family: "general", architectures: ["amd64"] } });
  await ensure(ImageRef, { apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Image", metadata: { name: "bench-linux", namespace: PUBLIC_IMAGE_NAMESPACE }, spec: { os: { type: "linux", distribution: "ubuntu", version: "24.04" }, architecture: "amd64", source: { url: "https://images.example.com/u.img" } } });
  await ensure(NamespaceRef, { apiVersion: "v1", kind: "Namespace", metadata: { name: PLAIN_NS } });
  await ensure(TenantRef, { apiVersion: "tenancy.cellcloud.io/v1alpha1", kind: "Tenant", metadata: { name: TENANT }, spec: { namespaces: [TENANT_NS] } });
  for (let i = 0; view.tenantOf(TENANT_NS) !== TENANT || !view.synced(); i++) {
    if (i > 600) throw new Error("the tenant namespace never appeared");
    await new Promise((r) => setTimeout(r, 100));
  }
  const big = (await client.list(InstanceRef, {}, TENANT_NS)).items.length + preload + creates + 10;
  const hard = { cpu: 2 * big, memory: `${4 * big}Gi`, instances: big };
  await ensure(QuotaRef, { apiVersion: "tenancy.cellcloud.io/v1alpha1", kind: "Quota", metadata: { name: TENANT }, spec: { tenant: TENANT, hard } });
  await client.patch(QuotaRef, TENANT, undefined, { spec: { hard } }, "merge");

  const vm = (ns: string, name: string) => ({ apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", metadata: { name, namespace: ns }, spec: { flavor: "bench-2c4g", image: "bench-linux", zone: "az1", powerState: "Stopped" } });
  const existing = async (ns: string) => (await client.list(InstanceRef, {}, ns)).items.length;
  for (const ns of [PLAIN_NS, TENANT_NS]) {
    const have = await existing(ns);
    log(`preloading ${ns}: ${have} exist, creating ${Math.max(0, preload - have)}`);
    await pool(Array.from({ length: Math.max(0, preload - have) }, (_, i) => `pre-${have + i}`), 16, (name) => client.create(InstanceRef, vm(ns, name)).then(() => undefined));
  }

  const clientMs: Record<string, number[]> = { [PLAIN_NS]: [], [TENANT_NS]: [] };
  const stamp = Date.now().toString(36);
  recording = true;
  for (let block = 0; block * 50 < creates; block++) {
    for (const ns of block % 2 ? [TENANT_NS, PLAIN_NS] : [PLAIN_NS, TENANT_NS]) {
      for (let i = block * 50; i < Math.min(creates, (block + 1) * 50); i++) {
        const t0 = performance.now();
        await client.create(InstanceRef, vm(ns, `m-${stamp}-${i}`));
        clientMs[ns]!.push(performance.now() - t0);
      }
    }
  }
  recording = false;
  const ledger = await client.get<LedgerObject>(LedgerRef, TENANT);
  const plain = summary(clientMs[PLAIN_NS]!);
  const tenant = summary(clientMs[TENANT_NS]!);
  const validate = summary(server.validate);
  const mutate = summary(server.mutate);
  const ledgerWrite = summary(storeMs);
  const result = {
    when: new Date().toISOString(), machine: machine(), preload, creates, objects: preload + creates, ledgerBytes: JSON.stringify(ledger.status ?? {}).length,
    clientMs: { plain, tenant }, ratio: { p50: Math.round((tenant.p50 / plain.p50) * 100) / 100, p99: Math.round((tenant.p99 / plain.p99) * 100) / 100 },
    webhookMs: { validate, mutate, ledgerWrite }, ledgerWrites: store.writes, ledgerConflicts: store.conflicts, addedP99Ms: Math.round((tenant.p99 - plain.p99) * 100) / 100, target: "webhook validate p99 < 10 ms",
    met: validate.p99 < 10,
  };
  mkdirSync(`${repo}/.state/bench/results`, { recursive: true });
  const file = `${repo}/.state/bench/results/webhook-${result.when.replace(/[:.]/g, "-")}.json`;
  writeFileSync(file, JSON.stringify(result, null, 2));
  console.log([
    `tenancy webhook with ${preload}..${preload + creates} objects per tenant, ledger ${result.ledgerBytes} bytes (${creates} sequential creates per namespace, blocks of 50 alternating)`,
    `  create, no tenant (baseline): p50 ${plain.p50} ms  p99 ${plain.p99} ms`,
    `  create, tenant namespace:     p50 ${tenant.p50} ms  p99 ${tenant.p99} ms`,
    `  ratio tenant/baseline:        p50 ${result.ratio.p50}x  p99 ${result.ratio.p99}x`,
    `  webhook server-side:          validate p50 ${validate.p50} ms p99 ${validate.p99} ms (n=${validate.n}); mutate p50 ${mutate.p50} ms p99 ${mutate.p99} ms`,
    `  ledger write (compare-and-swap): p50 ${ledgerWrite.p50} ms p90 ${ledgerWrite.p90} ms p99 ${ledgerWrite.p99} ms`,
    `  ledger writes in the whole run ${store.writes}, of which met a newer ledger (conflict, retried): ${store.conflicts}`,
    `  target (validate p99 < 10 ms): ${result.met ? "met" : "NOT met"}   ${file}`,
  ].join("\n"));

  await mgr.stop();
  await client.delete({ group: "admissionregistration.k8s.io", version: "v1", kind: "ValidatingWebhookConfiguration", plural: "validatingwebhookconfigurations", namespaced: false }, "cellcloud-tenancy").catch(() => undefined);
  await client.delete({ group: "admissionregistration.k8s.io", version: "v1", kind: "MutatingWebhookConfiguration", plural: "mutatingwebhookconfigurations", namespaced: false }, "cellcloud-tenancy").catch(() => undefined);
  if (env.BENCH_KEEP_PLANE !== "1") {
    spawnSync(`${repo}/hack/down`, [], { env: planeEnv, stdio: ["ignore", "inherit", "inherit"] });
    rmSync(state, { recursive: true, force: true });
  }
}

await main();
