// Tenancy for e2e suites: a manager with the tenancy controllers and its admission webhook served on
// a free port (the apiserver reaches it by URL), tenants and quotas, and instances to charge.
import { readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { inject } from "vitest";
import { Quota, Tenant } from "../../operators/api/tenancy.ts";
import { KubeClient, isNotFound } from "../../operators/runtime/kube.ts";
import type { KubeObject } from "../../operators/runtime/types.ts";
import { LedgerRef, type LedgerObject } from "../../operators/tenancy/ledger-store.ts";
import { registerWebhooks } from "../../operators/products.ts";
import { WebhookServer, type WebhookServerOptions } from "../../operators/runtime/webhook.ts";
import { tenancyOf, type Tenancy as TenancyState } from "../../operators/tenancy/shared.ts";
import { eventually, kubeConfig, refusal, uniqueName } from "./kube.ts";
import { startManager, type InProcessManager } from "./manager.ts";
import { InstanceRef } from "../../operators/api/compute.ts";
import { QuotaRef, TenantRef } from "../../operators/api/tenancy.ts";
import { MutatingRef, SecretRef, ValidatingRef } from "../../operators/runtime/core.ts";
import { WEBHOOK_CONFIG } from "../../operators/runtime/webhook.ts";

export { QuotaRef, TenantRef };

/** Ports nothing listens on right now. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  const ports = await Promise.all(servers.map((s) => new Promise<number>((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port));
  })));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export interface Tenancy {
  m: InProcessManager;
  webhook: WebhookServer;
  /** The caches and ledger store the webhook and the tenancy controllers share. */
  tenancy: TenancyState;
  client: KubeClient;
  stop(): Promise<void>;
}

/** A manager running `controllers` plus the webhook (registered cluster-wide until stop()). */
export async function startTenancy(systemNamespace: string, controllers = ["tenancy", "compute-catalog"], opts: Partial<WebhookServerOptions> = {}): Promise<Tenancy> {
  const m = await startManager(controllers);
  const [port] = await freePorts(1);
  const secretName = uniqueName("webhook-cert");
  const clientCA = inject("webhookClientCA");
  const webhook = m.mgr.addAlways(new WebhookServer(m.mgr, {
    port: port!, bindAddress: "127.0.0.1", url: `https://127.0.0.1:${port}`, hosts: ["127.0.0.1"], namespace: systemNamespace, secretName,
    ...(clientCA ? { clientCA: readFileSync(clientCA, "utf8") } : {}), ...opts,
  }));
  registerWebhooks(m.mgr, webhook, m.ctx);
  const client = new KubeClient(kubeConfig());
  // The apiserver picks a new webhook configuration up within a moment: wait until it calls ours.
  await eventually(async () => {
    const probe = { apiVersion: Tenant.apiVersion, kind: "Tenant", metadata: { name: uniqueName("probe") }, spec: { parent: "no-such-tenant" } };
    return (await refusal(client.create(TenantRef, probe, { dryRun: "All" }))).includes("not found");
  }, { what: "the apiserver calls the tenancy webhook" });
  return {
    m, webhook, client, tenancy: tenancyOf(m.mgr, () => m.ctx.charged(m.mgr)),
    async stop() {
      // stopped first: a running manager registers its webhook configurations again
      await m.mgr.stop();
      await client.delete(ValidatingRef, WEBHOOK_CONFIG).catch(() => undefined);
      await client.delete(MutatingRef, WEBHOOK_CONFIG).catch(() => undefined);
      await client.delete(SecretRef, secretName, systemNamespace).catch(() => undefined);
    },
  };
}

export function tenant(name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: Tenant.apiVersion, kind: "Tenant", metadata: { name, labels }, spec };
}

export function quota(name: string, spec: Record<string, unknown>, labels: Record<string, string> = {}): KubeObject {
  return { apiVersion: Quota.apiVersion, kind: "Quota", metadata: { name, labels }, spec };
}

export function instance(name: string, namespace: string, spec: Record<string, unknown>): KubeObject {
  return { apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", metadata: { name, namespace }, spec: { powerState: "Stopped", ...spec } };
}

export interface QuotaView extends KubeObject { status?: { used?: Record<string, string>; reserved?: Record<string, string> } }

/** Waits until the Quota's status shows `used` (a subset), and nothing reserved. */
export function quotaUsed(client: KubeClient, name: string, used: Record<string, string>, timeoutMs = 90_000): Promise<QuotaView> {
  return eventually(async () => {
    const q = await client.get<QuotaView>(QuotaRef, name);
    const u = q.status?.used ?? {};
    const reserved = Object.values(q.status?.reserved ?? {}).filter((v) => v !== "0");
    return Object.entries(used).every(([k, v]) => (u[k] ?? "0") === v) && reserved.length === 0 && q;
  }, { what: `quota ${name} used ${JSON.stringify(used)}`, timeoutMs });
}

/** The root tenant's ledger as stored: committed usage per tenant × zone × arch, and changes pending. */
export async function ledgerOf(client: KubeClient, root: string): Promise<{ usage: Record<string, string>; pending: Record<string, string> }> {
  const s = (await client.get<LedgerObject>(LedgerRef, root)).status;
  return { usage: s?.usage ?? {}, pending: s?.pending ?? {} };
}

/** Deletes the tenants' instances and waits until they are gone (the quota finalizer needs the manager). */
export async function deleteInstances(client: KubeClient, namespaces: string[]): Promise<void> {
  for (const ns of namespaces) {
    const { items } = await client.list(InstanceRef, {}, ns);
    await Promise.all(items.map((i) => client.delete(InstanceRef, i.metadata.name, ns).catch((e: unknown) => { if (!isNotFound(e)) throw e; })));
  }
  await eventually(async () => {
    for (const ns of namespaces) if ((await client.list(InstanceRef, {}, ns)).items.length) return false;
    return true;
  }, { what: "instances deleted", timeoutMs: 120_000 });
}
