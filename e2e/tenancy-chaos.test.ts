// Crash safety of quota: instances are created (and some deleted) concurrently while the manager —
// a real `node operators/main.ts` serving the webhook — is SIGKILLed at random moments, including
// between a deducting admission and the object's creation. A namespace ResourceQuota (evaluated by
// kube-apiserver after the webhooks) also fails creates after they were admitted (kubernetes
// #119593). Afterwards the ledger and the Quota's `used` equal what really exists, nothing stays
// reserved, and deleting everything leaves no finalizer behind and usage at zero.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isNotFound } from "../operators/runtime/kube.ts";
import type { KubeObject } from "../operators/runtime/types.ts";
import { createCatalog } from "./support/compute.ts";
import { eventually, kubeConfig, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { CrashingManager, spawnManager, webhookArgs } from "./support/manager.ts";
import { QuotaRef, TenantRef, deleteInstances, freePorts, instance, ledgerOf, quota, quotaUsed, tenant } from "./support/tenancy.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import { InstanceRef } from "../operators/api/compute.ts";
import { MutatingRef, NamespaceRef, SecretRef, ValidatingRef } from "../operators/runtime/core.ts";
import { WEBHOOK_CONFIG } from "../operators/runtime/webhook.ts";

const system = useNamespace("tenancy-chaos-system");
const base = uniqueName("qc");
const root = `${base}-t`;
const ns = `${root}-ns`;
const LABEL = { "cellcloud.io/test": "tenancy-chaos" };
const client = new KubeClient(kubeConfig());
const ResourceQuotaRef = { group: "", version: "v1", kind: "ResourceQuota", plural: "resourcequotas", namespaced: true };
let cat: Awaited<ReturnType<typeof createCatalog>>;
let ports: number[] = [];

const manager = new CrashingManager(() => {
  const [metricsPort, healthPort, webhookPort] = ports as [number, number, number];
  return spawnManager({
    leaseId: base, metricsPort, healthPort, controllers: "tenancy,compute-catalog,instance",
    extraArgs: ["--leader-elect=false", ...webhookArgs(webhookPort, system.name)],
  });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  ports = await freePorts(3);
  // short reservations and recounts, so the test sees expiry and healing within its time
  process.env.CELLCLOUD_QUOTA_RESERVATION_MS = "8000";
  process.env.CELLCLOUD_QUOTA_RECOUNT_MS = "15000";
  cat = await createCatalog(kubeConfig(), base);
  manager.start();
  await client.create(TenantRef, tenant(root, { namespaces: [ns] }, LABEL));
  await eventually(() => client.get(NamespaceRef, ns).then((n) => n.metadata.labels?.["cellcloud.io/tenant"] === root), { what: "tenant namespace" });
  await eventually(async () => (await refusal(client.create(QuotaRef, quota(root, { tenant: root, hard: { cpu: 1000, instances: 1000 } }, LABEL)))) === "accepted",
    { what: "the webhook admits the Quota", timeoutMs: 60_000 });
  const count = "count/instances.compute.cellcloud.io";
  const rq = { apiVersion: "v1", kind: "ResourceQuota", metadata: { name: "count", namespace: ns }, spec: { hard: { [count]: "30" } } } as KubeObject;
  await client.create(ResourceQuotaRef, rq);
  // kube-controller-manager counts a CRD's objects only once its quota monitor's discovery (every 30 s)
  // has seen the CRD; a quota it synced before that (on a fresh plane) is "status unknown" and refuses
  // every create until its 5-minute resync. Wait until it counts instances, re-creating it every 5 s.
  let polls = 0;
  await eventually(async () => {
    const cur = await client.get<KubeObject & { status?: { used?: Record<string, string> } }>(ResourceQuotaRef, "count", ns);
    if (cur.status?.used?.[count] !== undefined) return true;
    if (++polls % 20 === 0) {
      await client.delete(ResourceQuotaRef, "count", ns);
      await client.create(ResourceQuotaRef, rq);
    }
    return false;
  }, { what: "the ResourceQuota to count instances", timeoutMs: 90_000 });
});

afterAll(async () => {
  manager.ensure();
  await deleteInstances(client, [ns]).catch(() => undefined);
  await client.delete(QuotaRef, root).catch(() => undefined);
  await client.delete(TenantRef, root).catch(() => undefined);
  await client.delete(NamespaceRef, ns).catch(() => undefined);
  await manager.kill();
  await client.delete(ValidatingRef, WEBHOOK_CONFIG).catch(() => undefined);
  await client.delete(MutatingRef, WEBHOOK_CONFIG).catch(() => undefined);
  await client.delete(SecretRef, "cellcloud-webhook-cert", system.name).catch(() => undefined);
  for (const [ref, name, ns] of cat?.all ?? []) await client.delete(ref, name, ns).catch(() => undefined);
  delete process.env.CELLCLOUD_QUOTA_RESERVATION_MS;
  delete process.env.CELLCLOUD_QUOTA_RECOUNT_MS;
});

describe("quota under crashes", () => {
  it("ends with used equal to real usage after the manager is killed between admissions and creates", async () => {
    const calm = manager.chaos([1000, 3000]);
    const outcomes: Record<string, number> = {};
    const tally = (r: string) => {
      const k = r === "accepted" ? "accepted" : r.includes("exceeded quota") ? "resourcequota" : r.includes("failed calling webhook") ? "webhook down" : r.includes("not synced") ? "not synced" : "other";
      outcomes[k] = (outcomes[k] ?? 0) + 1;
    };
    // 30 s of creates and deletes, and on a slow machine (where each start takes longer) on until the
    // manager was killed 5 times, within a bound so one that never gets ready fails the count below.
    const deadline = Date.now() + 30_000;
    const bound = Date.now() + 120_000;
    for (let round = 0; Date.now() < deadline || (manager.kills < 5 && Date.now() < bound); round++) {
      const batch = Array.from({ length: 8 }, (_, i) => refusal(client.create(InstanceRef, instance(`vm-${round}-${i}`, ns, { flavor: cat.flavor, image: cat.x86, zone: "az1" }))));
      (await Promise.all(batch)).forEach(tally);
      // delete a couple, so releases race with the kills too
      const { items } = await client.list(InstanceRef, {}, ns);
      for (const i of items.slice(0, 2)) await client.delete(InstanceRef, i.metadata.name, ns).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
      await sleep(100);
    }
    await calm();
    console.log(`tenancy chaos: ${manager.summary()}; outcomes ${JSON.stringify(outcomes)}`);
    expect(manager.kills).toBeGreaterThanOrEqual(5);
    expect(outcomes.accepted ?? 0).toBeGreaterThan(0);
    expect(outcomes.resourcequota ?? 0).toBeGreaterThan(0); // admitted by us, then refused by kube-apiserver

    // Converged: the committed totals are exactly what the existing instances hold, nothing pending.
    const existing = async () => (await client.list(InstanceRef, {}, ns)).items;
    let n = 0;
    await eventually(async () => {
      const live = await existing();
      const ledger = await ledgerOf(client, root);
      n = live.length;
      const want = n ? { [`${root} az1 amd64`]: `cpu=${2000 * n},memory=${4 * n}Gi,storage=${20 * n}Gi,instances=${n}` } : {};
      return live.every((i) => !i.metadata.deletionTimestamp) && Object.keys(ledger.pending).length === 0 && JSON.stringify(ledger.usage) === JSON.stringify(want);
    }, { what: "ledger totals = the instances that exist, nothing pending", timeoutMs: 120_000 });
    await quotaUsed(client, root, { cpu: String(2 * n), instances: String(n), memory: n ? `${4 * n}Gi` : "0" });

    await deleteInstances(client, [ns]);
    await quotaUsed(client, root, { cpu: "0", instances: "0" });
    expect(await ledgerOf(client, root)).toEqual({ usage: {}, pending: {} });
  }, 300_000); // the chaos phase can last up to 120 s on a slow machine, convergence up to 120 s more
});
