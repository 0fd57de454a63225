// The attacks issue 14 found, tried against the real control plane and a real manager process
// (`node operators/main.ts` serving the admission webhook): each must fail, and the manager must
// keep serving. Webhook attacks post straight to the webhook with the apiserver's own client
// certificate (an attacker who stole it), so they reach the handler instead of the TLS check.
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ADOPT_ANNOTATION, CHARGE_ANNOTATION } from "../operators/api/tenancy.ts";
import { InstanceRef } from "../operators/api/compute.ts";
import { NamespaceRef, SecretRef } from "../operators/runtime/core.ts";
import type { KubeObject } from "../operators/runtime/types.ts";
import { LedgerRef, type LedgerObject } from "../operators/tenancy/ledger-store.ts";
import { createCatalog } from "./support/compute.ts";
import { eventually, kubeConfig, kubectlAsync, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { spawnManager, type ManagerProcess } from "./support/manager.ts";
import { smokeWebhookArgs } from "./support/smoke.ts";
import { QuotaRef, TenantRef, deleteInstances, freePorts, instance, ledgerOf, quota, quotaUsed, tenant } from "./support/tenancy.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import { WEBHOOK_CONFIG } from "../operators/runtime/webhook.ts";
import { MutatingRef, ValidatingRef } from "../operators/runtime/core.ts";

const clientCA = inject("webhookClientCA");
const system = useNamespace("security-system");
const leaderNs = useNamespace("security-leader");
const base = uniqueName("sec");
const LABEL = { "cellcloud.io/test": "security" };
const client = new KubeClient(kubeConfig());
let manager: ManagerProcess;
let port = 0;
let cat: Awaited<ReturnType<typeof createCatalog>>;
const namespaces: string[] = [];

/** The apiserver's webhook client certificate, from the local plane's PKI. */
const pki = () => dirname(clientCA);
const clientCert = () => ({ cert: readFileSync(`${pki()}/webhook-client.crt`), key: readFileSync(`${pki()}/webhook-client.key`) });

/** POSTs `body` to the webhook (with the client certificate unless told otherwise); resolves to the status, or the transport error. */
function post(path: string, body: string | Buffer, withCert = true): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, method: "POST", rejectUnauthorized: false, headers: { "content-type": "application/json" }, ...(withCert ? clientCert() : {}) }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => { if (text.length < 4096) text += d.toString(); });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on("error", (e) => resolve({ error: e.message }));
    });
    req.on("error", (e) => resolve({ error: e.message }));
    req.end(body);
  });
}

const review = (request: Record<string, unknown>) => JSON.stringify({ apiVersion: "admission.k8s.io/v1", kind: "AdmissionReview", request });
const instanceResource = { group: "compute.cellcloud.io", version: "v1alpha1", resource: "instances" };

async function makeTenant(name: string, spec: Record<string, unknown> = {}): Promise<string> {
  const ns = `${name}-ns`;
  namespaces.push(ns);
  await client.create(TenantRef, tenant(name, { namespaces: [ns], ...spec }, LABEL));
  await eventually(async () => (await client.get<KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>(TenantRef, name))
    .status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"), { what: `tenant ${name} Ready` });
  return ns;
}

/** Creates through the apiserver, retrying while the webhook has not seen the namespace yet. */
const create = (obj: KubeObject) => eventually(async () => {
  const r = await refusal(client.create(InstanceRef, obj));
  if (r.includes("retry")) return false;
  return r;
}, { what: `create ${obj.metadata.name}` });

describe.skipIf(!clientCA)("security: the admission webhook and quota", () => {
  beforeAll(async () => {
    const [metricsPort, healthPort, webhookPort] = (await freePorts(3)) as [number, number, number];
    port = webhookPort;
    cat = await createCatalog(kubeConfig(), base);
    manager = spawnManager({
      leaseId: base, metricsPort, healthPort, controllers: "tenancy,compute-catalog,instance",
      // a quick recount: a namespace moved between tenants is recounted for both within seconds
      extraArgs: ["--leader-elect=false", "--quota-recount=2", ...smokeWebhookArgs(webhookPort, system.name)],
    });
    await eventually(async () => (await fetch(`${manager.healthUrl}/readyz`)).status === 200, { what: "manager ready (webhook listening)", timeoutMs: 60_000 });
  });

  afterAll(async () => {
    await deleteInstances(client, namespaces).catch(() => undefined);
    for (const q of (await client.list(QuotaRef, { labelSelector: "cellcloud.io/test=security" })).items) await client.delete(QuotaRef, q.metadata.name).catch(() => undefined);
    for (let round = 0; round < 5; round++) {
      const ts = (await client.list<KubeObject & { spec: { parent?: string } }>(TenantRef, { labelSelector: "cellcloud.io/test=security" })).items;
      const parents = new Set(ts.map((x) => x.spec.parent));
      for (const x of ts.filter((x) => !parents.has(x.metadata.name))) await client.delete(TenantRef, x.metadata.name).catch(() => undefined);
      if (!ts.length) break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    for (const ns of namespaces) await client.delete(NamespaceRef, ns).catch(() => undefined);
    for (const [ref, name, ns] of cat?.all ?? []) await client.delete(ref, name, ns).catch(() => undefined);
    await client.delete(ValidatingRef, WEBHOOK_CONFIG).catch(() => undefined);
    await client.delete(MutatingRef, WEBHOOK_CONFIG).catch(() => undefined);
    manager?.child.kill("SIGKILL");
  });

  it("refuses a caller without the apiserver's client certificate at the TLS handshake", async () => {
    const r = await post("/tenancy/validate", review({}), false);
    expect("error" in r, JSON.stringify(r)).toBe(true);
  });

  it("answers 10,000 malformed, truncated, huge and type-confused reviews without falling over, then still admits", async () => {
    const valid = review({ uid: "u", resource: instanceResource, operation: "CREATE", userInfo: {}, namespace: "x", object: { metadata: { name: "a" }, spec: {} } });
    const bodies: Array<string | Buffer> = [
      "", "null", "[]", "0", "\"x\"", "{", "{}", "{\"request\":null}", "{\"request\":{}}", "{\"request\":[]}", "true",
      review({ uid: 5 }), review({ uid: "u", resource: null }), review({ uid: "u", resource: "instances", operation: "CREATE", userInfo: {} }),
      review({ uid: "u", resource: instanceResource, operation: "EXPLODE", userInfo: {} }),
      review({ uid: "u", resource: instanceResource, operation: "CREATE", userInfo: null }),
      review({ uid: "u", resource: instanceResource, operation: "CREATE", userInfo: {}, object: "x" }),
      review({ uid: "u", resource: instanceResource, operation: "CREATE", userInfo: {}, object: { metadata: [] } }),
      review({ uid: "u", resource: instanceResource, operation: "CREATE", userInfo: {}, namespace: namespaces[0] ?? "x", object: { metadata: { name: "a", uid: "z", finalizers: "x" }, spec: null } }),
      review({ uid: "u", resource: instanceResource, operation: "UPDATE", userInfo: {}, namespace: "x", object: { metadata: { name: "a" }, spec: { flavor: { $ne: 1 } } }, oldObject: { metadata: {} } }),
      valid.slice(0, valid.length / 2), valid.replace("CREATE", "DELETE"), "{".repeat(100_000), Buffer.alloc(5000, 0xff),
    ];
    const paths = ["/tenancy/validate", "/tenancy/mutate", "/nope", "/tenancy/validate?x=1"];
    const statuses = new Map<string, number>();
    let sent = 0;
    const worker = async () => {
      while (sent < 10_000) {
        const i = sent++;
        const r = await post(paths[i % paths.length]!, bodies[i % bodies.length]!);
        const k = "error" in r ? "transport error" : String(r.status);
        statuses.set(k, (statuses.get(k) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    const huge = await post("/tenancy/validate", Buffer.alloc(8 * 1024 * 1024, 0x20));
    console.log(`fuzz: ${JSON.stringify(Object.fromEntries(statuses))}; 8 MiB body: ${"error" in huge ? huge.error : huge.status}`);
    expect(statuses.get("transport error") ?? 0).toBe(0);
    expect([...statuses.keys()].every((k) => ["200", "400", "404"].includes(k))).toBe(true);
    expect("error" in huge ? huge.error : huge.status).toBe(413);
    expect(manager.child.exitCode).toBeNull();
    expect((await fetch(`${manager.healthUrl}/readyz`)).status).toBe(200);
    // Still deciding for real: a tenant's create goes through the webhook and is charged.
    const ns = await makeTenant(`${base}-fz`);
    await client.create(QuotaRef, quota(`${base}-fz`, { tenant: `${base}-fz`, hard: { cpu: 4 } }, LABEL));
    expect(await create(instance("vm", ns, { flavor: cat.flavor, image: cat.x86 }))).toBe("accepted");
    await quotaUsed(client, `${base}-fz`, { cpu: "2" });
  }, 300_000);

  it("takes what an object holds from its own state, not the request: a forged review cannot lower usage or double-charge", async () => {
    const name = `${base}-fg`;
    const ns = await makeTenant(name);
    await client.create(QuotaRef, quota(name, { tenant: name, hard: { cpu: 64 } }, LABEL));
    expect(await create(instance("a", ns, { flavor: cat.bigFlavor, image: cat.x86 }))).toBe("accepted");
    expect(await create(instance("b", ns, { flavor: cat.bigFlavor, image: cat.x86 }))).toBe("accepted");
    await quotaUsed(client, name, { cpu: "8" });
    const b = await client.get<KubeObject & { spec: Record<string, unknown> }>(InstanceRef, "b", ns);
    const charge = b.metadata.annotations?.[CHARGE_ANNOTATION] ?? "";
    const small = charge.replace("cpu=4000", "cpu=2000").replace("memory=8Gi", "memory=4Gi");
    // The forged review: B "was" 64 vCPU and shrinks to 2, so its release would take 62 back.
    const forged = (operation: string, uid: string) => review({
      uid: "forged", resource: instanceResource, operation, userInfo: { username: "mallory" }, name: "b", namespace: ns,
      object: { ...b, metadata: { ...b.metadata, uid, annotations: { ...b.metadata.annotations, [CHARGE_ANNOTATION]: small } }, spec: { ...b.spec, flavor: cat.flavor } },
      oldObject: { ...b, metadata: { ...b.metadata, annotations: { ...b.metadata.annotations, [CHARGE_ANNOTATION]: charge.replace("cpu=4000", "cpu=64000") } } },
    });
    const upd = await post("/tenancy/validate", forged("UPDATE", b.metadata.uid ?? ""));
    expect(upd).toMatchObject({ status: 200 });
    // A create of a uid that exists would count it twice: refused.
    const dup = await post("/tenancy/validate", forged("CREATE", b.metadata.uid ?? ""));
    expect("body" in dup && JSON.parse(dup.body).response).toMatchObject({ allowed: false, status: { message: expect.stringContaining("exists already") } });
    // The real shrink that follows is charged from what B really held: 4 + 2, not 8 − 64 + 2.
    await client.patch(InstanceRef, "b", ns, { spec: { flavor: cat.flavor } }, "merge");
    await quotaUsed(client, name, { cpu: "6" });
  }, 120_000);

  it("refuses spec changes on an object being deleted, and releases exactly what it held", async () => {
    const name = `${base}-dl`;
    const ns = await makeTenant(name);
    await client.create(QuotaRef, quota(name, { tenant: name, hard: { cpu: 8 } }, LABEL));
    expect(await create(instance("held", ns, { flavor: cat.flavor, image: cat.x86 }))).toBe("accepted");
    await client.patch(InstanceRef, "held", ns, { metadata: { finalizers: ["mallory.example/keep", "tenancy.cellcloud.io/quota", "compute.cellcloud.io/launcher"] } }, "merge");
    await client.delete(InstanceRef, "held", ns);
    expect(await refusal(client.patch(InstanceRef, "held", ns, { spec: { flavor: cat.fixedFlavor } }, "merge")))
      .toContain("the object is being deleted; its spec and charge can no longer change");
    // Mallory lets go of her finalizer (compare-and-swap: controllers may be removing theirs meanwhile).
    await eventually(async () => {
      const held = await client.get(InstanceRef, "held", ns);
      const finalizers = (held.metadata.finalizers ?? []).filter((f) => !f.startsWith("mallory"));
      return client.patch(InstanceRef, "held", ns, { metadata: { finalizers, resourceVersion: held.metadata.resourceVersion } }, "merge").then(() => true, () => false);
    }, { what: "mallory's finalizer removed" });
    await eventually(() => client.get(InstanceRef, "held", ns).then(() => false, () => true), { what: "instance gone" });
    await quotaUsed(client, name, { cpu: "0" });
  }, 120_000);

  it("reserves one create per name: a loop of duplicate creates cannot starve a sibling department", async () => {
    const parent = `${base}-pa`;
    await makeTenant(parent);
    await client.create(QuotaRef, quota(parent, { tenant: parent, hard: { cpu: 8 } }, LABEL));
    const a = await makeTenant(`${base}-da`, { parent });
    const b = await makeTenant(`${base}-db`, { parent });
    expect(await create(instance("x", a, { flavor: cat.flavor, image: cat.x86 }))).toBe("accepted");
    // Each duplicate is admitted (the name is checked after admission) and then refused: AlreadyExists.
    for (let i = 0; i < 10; i++) expect(await refusal(client.create(InstanceRef, instance("x", a, { flavor: cat.flavor, image: cat.x86 })))).toContain("already exists");
    const pending = Object.keys((await ledgerOf(client, parent)).pending).length;
    expect(pending).toBeLessThanOrEqual(2); // x's own create, if not committed yet, and the newest duplicate
    // 2 held + at most one 2-vCPU reservation: 4 vCPU are left for the sibling.
    expect(await create(instance("y", b, { flavor: cat.bigFlavor, image: cat.x86 }))).toBe("accepted");
  }, 120_000);

  it("never admits uncharged: a namespace labelled for a tenant that does not exist refuses creates", async () => {
    const ns = `${base}-ghost`;
    namespaces.push(ns);
    await client.create(NamespaceRef, { apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { "cellcloud.io/tenant": `${base}-nobody` } } });
    const r = await eventually(async () => { const x = await refusal(client.create(InstanceRef, instance("vm", ns, { flavor: cat.flavor, image: cat.x86 }))); return !x.includes("retry") && x; }, { what: "a decision" });
    expect(r).toContain(`labelled for tenant "${base}-nobody", which does not exist`);
  });

  it("charges a namespace handed to another tenant to that tenant: its objects leave the old tenant's usage and join the new one's", async () => {
    const [a, b] = [`${base}-mva`, `${base}-mvb`];
    const moved = `${a}-ns2`;
    namespaces.push(moved);
    await makeTenant(a, { namespaces: [`${a}-ns`, moved] });
    await makeTenant(b);
    for (const t of [a, b]) await client.create(QuotaRef, quota(t, { tenant: t, hard: { cpu: 64 } }, LABEL));
    expect(await create(instance("vm", moved, { flavor: cat.bigFlavor, image: cat.x86 }))).toBe("accepted");
    await quotaUsed(client, a, { cpu: "4", instances: "1" });
    // a's admin gives the namespace up; a cluster admin hands it to b, which claims it
    await client.patch(TenantRef, a, undefined, { spec: { namespaces: [`${a}-ns`] } }, "merge");
    await eventually(async () => (await client.get(NamespaceRef, moved)).metadata.labels?.["cellcloud.io/tenant"] === undefined, { what: `${moved} released` });
    await client.patch(NamespaceRef, moved, undefined, { metadata: { annotations: { [ADOPT_ANNOTATION]: b } } }, "merge");
    await client.patch(TenantRef, b, undefined, { spec: { namespaces: [`${b}-ns`, moved] } }, "merge");
    await eventually(async () => (await client.get(NamespaceRef, moved)).metadata.labels?.["cellcloud.io/tenant"] === b, { what: `${moved} labelled for ${b}` });
    // the recount (every 2 s here) moves what the instance holds: it is never free, nor charged twice
    await quotaUsed(client, b, { cpu: "4", instances: "1" });
    await quotaUsed(client, a, { cpu: "0", instances: "0" });
    // what is created there now is b's at once
    expect(await create(instance("vm2", moved, { flavor: cat.flavor, image: cat.x86 }))).toBe("accepted");
    await quotaUsed(client, b, { cpu: "6", instances: "2" });
    await quotaUsed(client, a, { cpu: "0", instances: "0" });
    // b's recount found the moved instance and says when; once nothing is pending, recounts (every
    // 2 s here) that change nothing write nothing: an idle tree's ledger is not rewritten.
    expect((await client.get<LedgerObject>(LedgerRef, b)).status?.lastCorrection).toMatch(/^\d{4}-/);
    await eventually(async () => Object.keys((await ledgerOf(client, b)).pending).length === 0, { what: `${b}'s pending changes committed` });
    const rv = (await client.get<LedgerObject>(LedgerRef, b)).metadata.resourceVersion;
    await new Promise((r) => setTimeout(r, 7_000));
    expect((await client.get<LedgerObject>(LedgerRef, b)).metadata.resourceVersion, "b's ledger after 3 recounts of nothing").toBe(rv);
  }, 150_000);

  it("caps the objects quota does not price: Secrets per tenant namespace", async () => {
    const ns = await makeTenant(`${base}-oc`, { objectLimits: { secrets: 2 } });
    const secret = (n: string) => ({ apiVersion: "v1", kind: "Secret", metadata: { name: n, namespace: ns }, stringData: { userdata: "#cloud-config" } });
    await eventually(async () => (await refusal(client.create(SecretRef, secret("s0")))) === "accepted", { what: "first secret" });
    expect(await refusal(client.create(SecretRef, secret("s1")))).toBe("accepted");
    expect(await refusal(client.create(SecretRef, secret("s2")))).toContain("exceeded quota: cellcloud-object-counts");
  });

  it("lets a tenant user add a Secret but not overwrite or delete one (another user's user data)", async () => {
    const user = `${base}-user`;
    const ns = await makeTenant(`${base}-us`, { users: [{ kind: "User", name: user }] });
    await eventually(() => kubectlAsync(["--as", user, "-n", ns, "auth", "can-i", "create", "secrets"]).then((o) => o.trim() === "yes", () => false), { what: "the user's role binding" });
    await kubectlAsync(["--as", user, "-n", ns, "create", "secret", "generic", "mine", "--from-literal=userdata=#cloud-config"]);
    for (const verb of ["update", "patch", "delete", "get"]) {
      expect((await kubectlAsync(["--as", user, "-n", ns, "auth", "can-i", verb, "secrets"]).catch((e: { stdout?: string }) => e.stdout ?? "no")).trim(), verb).toBe("no");
    }
    expect(await kubectlAsync(["--as", user, "-n", ns, "delete", "secret", "mine"]).then(() => "deleted", (e: Error) => e.message)).toMatch(/forbidden/i);
  });

  it("says before boot that user data is missing, keyless or over 64 KiB, looks again by itself, and boots once it is fixed", async () => {
    const ns = await makeTenant(`${base}-ud`);
    expect(await create(instance("vm", ns, { flavor: cat.flavor, image: cat.x86, powerState: "Running", userData: { secretName: "init" } }))).toBe("accepted");
    type Inst = KubeObject & { status?: { launcherPod?: string; conditions?: Array<{ type: string; reason: string; message: string }> } };
    const ready = async () => (await client.get<Inst>(InstanceRef, "vm", ns)).status?.conditions?.find((c) => c.type === "Ready");
    const reason = (want: string) => eventually(async () => (await ready())?.reason === want, { what: `Ready reason ${want}`, timeoutMs: 30_000 });
    await reason("UserDataNotFound");
    expect((await ready())?.message).toBe('spec.userData.secretName: Secret "init" not found in this namespace');
    const secret = (data: Record<string, string>) => ({ apiVersion: "v1", kind: "Secret", metadata: { name: "init", namespace: ns }, stringData: data });
    await client.create(SecretRef, secret({ other: "#cloud-config" }));
    await reason("UserDataKeyNotFound");
    await client.update(SecretRef, secret({ userdata: "#".repeat(100 * 1024) }));
    await reason("UserDataTooLarge");
    expect((await ready())?.message).toContain("holds 102400 bytes; user data is at most 65536");
    expect((await client.get<Inst>(InstanceRef, "vm", ns)).status?.launcherPod).toBeUndefined();
    await client.update(SecretRef, secret({ userdata: "#cloud-config" }));
    await eventually(async () => Boolean((await client.get<Inst>(InstanceRef, "vm", ns)).status?.launcherPod), { what: "launcher created", timeoutMs: 30_000 });
    expect((await ready())?.reason).not.toMatch(/^UserData/);
    expect(manager.child.exitCode).toBeNull();
  }, 150_000);

  it("heals a corrupt certificate Secret: the next check renews it and the webhook keeps admitting", async () => {
    const name = "cellcloud-webhook-cert";
    await client.patch(SecretRef, name, system.name, { data: { "tls.crt": Buffer.from("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").toString("base64") } }, "merge");
    await eventually(async () => {
      const fresh = await client.get<KubeObject & { data?: Record<string, string> }>(SecretRef, name, system.name);
      return Buffer.from(fresh.data?.["tls.crt"] ?? "", "base64").toString().length > 400;
    }, { what: "certificate renewed", timeoutMs: 30_000 });
    const ns = await makeTenant(`${base}-ct`);
    expect(await create(instance("vm", ns, { flavor: cat.flavor, image: cat.x86 }))).toBe("accepted");
    expect(manager.child.exitCode).toBeNull();
  }, 60_000);

  it("refuses bad input naming the field: spec null, bad addresses and names, autoRenew without a subscription", async () => {
    const ns = await makeTenant(`${base}-in`);
    const vm = (name: string, spec: Record<string, unknown>) => ({ ...instance(name, ns, {}), spec });
    expect(await refusal(client.create(InstanceRef, { ...vm("nul", {}), spec: null } as never))).toMatch(/spec/);
    const ok = { flavor: cat.flavor, image: cat.x86, powerState: "Stopped" };
    expect(await refusal(client.create(InstanceRef, vm("ip", { ...ok, nics: [{ subnet: "s", fixedIP: "300.1.1.1" }] })))).toContain("spec.nics[].fixedIP must be an IPv4 address");
    expect(await refusal(client.create(InstanceRef, vm("dotted.name", ok)))).toContain("metadata.name must be a DNS label");
    expect(await refusal(client.create(InstanceRef, vm("renew", { ...ok, billing: { mode: "PayAsYouGo", autoRenew: true } })))).toContain("spec.billing.autoRenew applies to a Subscription only");
    expect(await refusal(client.create(InstanceRef, vm("vip", { ...ok, priority: "High" })))).toContain(`spec.priority: tenant "${base}-in" may use Low, Normal, not High`);
    const longVolume = { apiVersion: "storage.cellcloud.io/v1alpha1", kind: "Volume", metadata: { name: "v".repeat(64), namespace: ns }, spec: { size: "1Gi", type: "ssd", zone: "az1" } };
    expect(await refusal(client.create({ group: "storage.cellcloud.io", version: "v1alpha1", kind: "Volume", plural: "volumes", namespaced: true }, longVolume))).toContain("metadata.name must be at most 63 characters");
  });
});

describe("security: leader safety", () => {
  const procs: ManagerProcess[] = [];
  afterAll(() => { for (const p of procs) p.child.kill("SIGKILL"); });

  it("a leader frozen past its lease (SIGSTOP) and thawed after a standby took over writes nothing", async () => {
    const leaseId = uniqueName("sec-le");
    const ns = leaderNs.name;
    const [m1, h1, m2, h2] = (await freePorts(4)) as [number, number, number, number];
    const lease = ["--lease-duration=6", "--renew-deadline=4", "--retry-period=1", "--log-level=trace"];
    const a = spawnManager({ leaseId, metricsPort: m1, healthPort: h1, controllers: "widget", extraArgs: lease });
    procs.push(a);
    const holder = async () => (await client.get<KubeObject & { spec?: { holderIdentity?: string } }>({ group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", namespaced: true }, leaseId, "kube-system")).spec?.holderIdentity;
    await eventually(async () => (await holder()) === a.identity, { what: "a leads" });
    const b = spawnManager({ leaseId, metricsPort: m2, healthPort: h2, controllers: "widget", extraArgs: lease });
    procs.push(b);
    await eventually(async () => (await fetch(`${b.healthUrl}/readyz`)).status === 200, { what: "b ready" });
    a.child.kill("SIGSTOP");
    await eventually(async () => (await holder()) === b.identity, { what: "b takes over", timeoutMs: 30_000, intervalMs: 200 });
    // Work for the leader while the old one is frozen: b does it.
    await client.create({ group: "demo.cellcloud.io", version: "v1alpha1", kind: "Widget", plural: "widgets", namespaced: true },
      { apiVersion: "demo.cellcloud.io/v1alpha1", kind: "Widget", metadata: { name: "w", namespace: ns }, spec: { size: 1 } });
    await eventually(() => client.get({ group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true }, "w", ns).then(() => true), { what: "b reconciled" });
    const thawedAt = Date.now();
    a.child.kill("SIGCONT");
    // The thawed leader notices the lease is gone and exits; its queued work must not have written.
    const code = await new Promise<number | null>((r) => { if (a.child.exitCode !== null) r(a.child.exitCode); else a.child.once("exit", (c) => r(c)); });
    expect(code).toBe(1);
    const writes = a.output().split("\n").flatMap((l) => { try { return [JSON.parse(l) as { time: string; msg: string; method?: string; path?: string }]; } catch { return []; } })
      .filter((r) => r.msg === "api request" && r.method !== "GET" && Date.parse(r.time) >= thawedAt && !r.path?.includes("/leases/"));
    expect(writes).toEqual([]);
    expect(a.output()).toMatch(/could not renew the leader lease|NotLeader|lost leadership/);
  }, 120_000);
});

describe.skipIf(!clientCA)("security: no webhook outlives its manager's install", () => {
  it("the configurations are owned by the chart's ClusterRole: deleting it (helm uninstall) takes them along", async () => {
    const role = uniqueName("sec-owner");
    const clusterRole = { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", plural: "clusterroles", namespaced: false };
    await client.create(clusterRole, { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRole", metadata: { name: role }, rules: [] } as KubeObject);
    const [metricsPort, healthPort, webhookPort] = (await freePorts(3)) as [number, number, number];
    const m = spawnManager({
      leaseId: role, metricsPort, healthPort, controllers: "tenancy",
      extraArgs: ["--leader-elect=false", ...smokeWebhookArgs(webhookPort, system.name), `--webhook-owner-clusterrole=${role}`],
    });
    try {
      const owned = await eventually(async () => {
        const v = await client.get(ValidatingRef, WEBHOOK_CONFIG).catch(() => undefined);
        return v?.metadata.ownerReferences?.some((o) => o.kind === "ClusterRole" && o.name === role) && v;
      }, { what: "configurations owned by the ClusterRole", timeoutMs: 60_000 });
      expect(owned).toBeTruthy();
      await client.delete(clusterRole, role);
      await eventually(async () => (await client.get(ValidatingRef, WEBHOOK_CONFIG).then(() => false, () => true))
        && (await client.get(MutatingRef, WEBHOOK_CONFIG).then(() => false, () => true)), { what: "configurations garbage-collected", timeoutMs: 60_000 });
    } finally {
      m.child.kill("SIGKILL");
      await client.delete(ValidatingRef, WEBHOOK_CONFIG).catch(() => undefined);
      await client.delete(MutatingRef, WEBHOOK_CONFIG).catch(() => undefined);
    }
  }, 120_000);
});
