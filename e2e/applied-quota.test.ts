// AppliedQuotas against the real apiserver, acting as tenants' users (impersonation, real RBAC): a
// tenant's user reads its own and its ancestors' quotas in its namespace, a department's admin its
// department's tree and nothing above it, another tenant nothing at all; nobody but the manager
// writes one; the copies follow the Quota's status as instances come and go.
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { AppliedQuota, AppliedQuotaRef, type AppliedQuotaObject } from "../operators/api/tenancy.ts";
import { InstanceRef } from "../operators/api/compute.ts";
import { NamespaceRef } from "../operators/runtime/core.ts";
import type { KubeObject } from "../operators/runtime/types.ts";
import { createCatalog } from "./support/compute.ts";
import { eventually, eventuallyGone, kubectlAsync, kubeConfig, uniqueName, useNamespace } from "./support/kube.ts";
import { binDir } from "./support/plane.ts";
import { QuotaRef, TenantRef, deleteInstances, instance, quota, quotaUsed, startTenancy, tenant, type QuotaView, type Tenancy } from "./support/tenancy.ts";

const system = useNamespace("aq-system");
const base = uniqueName("aq");
const LABEL = { "cellcloud.io/test": "applied-quota" };
let t: Tenancy;
let catalog: Awaited<ReturnType<typeof createCatalog>>;
const [org, dept, team, ops, other] = ["org", "dept", "team", "ops", "other"].map((n) => `${base}-${n}`) as [string, string, string, string, string];
const nsOf = (tenantName: string) => `${tenantName}-ns`;
const user = (tenantName: string, role: "admin" | "user") => `${tenantName}-${role}`;

type Applied = AppliedQuotaObject & { status?: { used?: Record<string, string>; reserved?: Record<string, string> } };

/** What `who` gets listing AppliedQuotas in `ns`: the items, or the refusal. */
async function listAs(who: string, ns: string): Promise<Applied[] | string> {
  return kubectlAsync(["--as", who, "get", "appliedquotas", "-n", ns, "-o", "json"])
    .then((o) => (JSON.parse(o) as { items: Applied[] }).items, (e: { stderr?: string }) => `refused: ${e.stderr ?? String(e)}`);
}

/** `kubectl --as who <args>` with `input` on stdin: its output, or the refusal. */
const kubectlAs = (who: string, args: string[], input = "") => new Promise<string>((resolve) => {
  const child = execFile(`${binDir}/kubectl`, ["--kubeconfig", inject("kubeconfig"), "--as", who, ...args], { encoding: "utf8" },
    (err, stdout, stderr) => resolve(err ? `refused: ${stderr}` : stdout));
  child.stdin?.end(input);
});

const byName = (items: Applied[]) => Object.fromEntries(items.map((a) => [a.metadata.name, a]));

beforeAll(async () => {
  t = await startTenancy(system.name, ["tenancy", "compute-catalog", "instance"]);
  catalog = await createCatalog(kubeConfig(), base);
  // org ─┬─ dept ── team
  //      └─ ops        other (another tree)
  const tree: Array<[string, string | undefined]> = [[org, undefined], [dept, org], [team, dept], [ops, org], [other, undefined]];
  for (const [name, parent] of tree) {
    await t.client.create(TenantRef, tenant(name, {
      ...(parent ? { parent } : {}), namespaces: [nsOf(name)],
      admins: [{ kind: "User", name: user(name, "admin") }], users: [{ kind: "User", name: user(name, "user") }],
    }, LABEL));
    // the webhook finds a department's parent in its cache
    await eventually(() => t.tenancy.view.tenantOf(nsOf(name)) === name, { what: `namespace of ${name} labelled` });
  }
  const hard: Record<string, Record<string, number | string>> = {
    [org]: { cpu: 64, instances: 20 }, [dept]: { cpu: 16, memory: "64Gi", instances: 8 }, [team]: { cpu: 8 }, [ops]: { cpu: 8 }, [other]: { cpu: 4 },
  };
  for (const [name] of tree) await t.client.create(QuotaRef, quota(name, { tenant: name, hard: hard[name] }, LABEL));
});

afterAll(async () => {
  if (!t) return;
  await deleteInstances(t.client, [nsOf(dept)]).catch(() => undefined);
  for (const q of (await t.client.list(QuotaRef, { labelSelector: "cellcloud.io/test=applied-quota" })).items) await t.client.delete(QuotaRef, q.metadata.name).catch(() => undefined);
  for (const name of [team, dept, ops, org, other]) {
    await t.client.delete(TenantRef, name).catch(() => undefined);
    await eventuallyGone(() => t.client.get(TenantRef, name), `tenant ${name} deleted`).catch(() => undefined);
  }
  for (const name of [org, dept, team, ops, other]) await t.client.delete(NamespaceRef, nsOf(name)).catch(() => undefined);
  for (const [ref, name, ns] of catalog?.all ?? []) await t.client.delete(ref, name, ns).catch(() => undefined);
  await t.stop();
});

describe("AppliedQuota", () => {
  it("shows a tenant's user its own and its ancestors' quotas, with their limits and usage", async () => {
    const items = await eventually(async () => {
      const got = await listAs(user(dept, "user"), nsOf(dept));
      // a copy of a Quota not yet counted shows empty maps until the quota controller's first count
      return typeof got !== "string" && got.length === 3 && got.every((a) => Object.keys(a.status?.used ?? {}).length) && got;
    }, { what: `three AppliedQuotas with usage in ${nsOf(dept)}` });
    const aq = byName(items);
    expect(Object.keys(aq).sort()).toEqual([dept, org, team].sort());
    expect(aq[dept]!.spec).toMatchObject({ quota: dept, tenant: dept, relation: "Self", namespaceTenant: dept, path: `${org}/${dept}`, hard: { cpu: 16, memory: "64Gi", instances: 8 } });
    expect(aq[org]!.spec).toMatchObject({ tenant: org, relation: "Ancestor", path: org, hard: { cpu: 64, instances: 20 } });
    // its department's quota too (the tree below it): the console draws the whole subtree
    expect(aq[team]!.spec).toMatchObject({ tenant: team, relation: "Department", path: `${org}/${dept}/${team}` });
    expect(aq[dept]!.status?.used).toMatchObject({ cpu: "0", memory: "0", instances: "0" });
    // a sibling's quota is none of its business
    expect(aq[ops]).toBeUndefined();
    const columns = await kubectlAsync(["--as", user(dept, "user"), "get", "aq", dept, "-n", nsOf(dept)]);
    expect(columns).toMatch(/TENANT\s+RELATION/);
    expect(AppliedQuota.shortNames).toEqual(["aq"]);
  });

  it("shows a department's admin its department's tree and nothing above it; the root's admin everything below", async () => {
    const lead = user(dept, "admin");
    const mine = await listAs(lead, nsOf(team));
    expect(typeof mine === "string" ? mine : Object.keys(byName(mine)).sort()).toEqual([dept, org, team].sort());
    expect(await listAs(lead, nsOf(org))).toMatch(/refused: .*forbidden.*cannot list resource "appliedquotas"/s);
    expect(await listAs(lead, nsOf(ops))).toMatch(/refused: .*forbidden/s);
    const boss = await eventually(async () => {
      const got = await listAs(user(org, "admin"), nsOf(org));
      return typeof got !== "string" && got.length === 4 && got;
    }, { what: `four AppliedQuotas in ${nsOf(org)}` });
    expect(Object.fromEntries(boss.map((a) => [a.metadata.name, a.spec.relation]))).toEqual({ [org]: "Self", [dept]: "Department", [team]: "Department", [ops]: "Department" });
  });

  it("refuses another tenant's user, and every write by a tenant's user or admin", async () => {
    expect(await listAs(user(other, "user"), nsOf(dept))).toMatch(/refused: .*forbidden.*cannot list resource "appliedquotas" in API group "tenancy.cellcloud.io" in the namespace/s);
    expect(await kubectlAs(user(other, "user"), ["get", "aq", dept, "-n", nsOf(dept)])).toMatch(/refused: .*forbidden/s);
    const own = await listAs(user(other, "user"), nsOf(other));
    expect(typeof own === "string" ? own : own.map((a) => a.metadata.name)).toEqual([other]);
    for (const who of [user(dept, "user"), user(dept, "admin")]) {
      const forged = { apiVersion: AppliedQuota.apiVersion, kind: "AppliedQuota", metadata: { name: "forged", namespace: nsOf(dept) }, spec: { quota: "forged", tenant: dept, path: dept, relation: "Self", namespaceTenant: dept, hard: { cpu: 1000 } } };
      expect(await kubectlAs(who, ["create", "-f", "-"], JSON.stringify(forged))).toMatch(/refused: .*forbidden.*cannot create resource "appliedquotas"/s);
      expect(await kubectlAs(who, ["patch", "aq", dept, "-n", nsOf(dept), "--type", "merge", "-p", '{"spec":{"hard":{"cpu":1000}}}'])).toMatch(/refused: .*forbidden.*cannot patch resource "appliedquotas"/s);
      expect(await kubectlAs(who, ["patch", "aq", dept, "-n", nsOf(dept), "--subresource", "status", "--type", "merge", "-p", '{"status":{"used":{"cpu":"0"}}}'])).toMatch(/refused: .*forbidden/s);
      expect(await kubectlAs(who, ["delete", "aq", dept, "-n", nsOf(dept)])).toMatch(/refused: .*forbidden.*cannot delete resource "appliedquotas"/s);
    }
    expect((await t.client.get<Applied>(AppliedQuotaRef, dept, nsOf(dept))).spec.hard).toEqual({ cpu: 16, memory: "64Gi", instances: 8 });
  });

  it("follows the Quota's status: an instance's use shows at every level of the tree, and in the parent's copy", async () => {
    await t.client.create(InstanceRef, instance("vm", nsOf(dept), { flavor: catalog.flavor, image: catalog.x86, zone: "az1" }));
    const q = await quotaUsed(t.client, dept, { cpu: "2", instances: "1" });
    await quotaUsed(t.client, org, { cpu: "2", instances: "1" });
    // read as the namespace's tenant's user: what the console shows them
    const same = (ns: string, name: string, want: QuotaView) => eventually(async () => {
      const got = await listAs(ns === nsOf(org) ? user(org, "user") : user(dept, "user"), ns);
      const a = typeof got === "string" ? undefined : byName(got)[name];
      return a && JSON.stringify(a.status?.used) === JSON.stringify(want.status?.used) && a;
    }, { what: `AppliedQuota ${name} in ${ns} used ${JSON.stringify(want.status?.used)}` });
    expect((await same(nsOf(dept), dept, q)).status?.used).toMatchObject({ cpu: "2", memory: "4Gi", instances: "1" });
    expect((await same(nsOf(dept), org, await t.client.get<QuotaView>(QuotaRef, org))).status?.used).toMatchObject({ cpu: "2", instances: "1" });
    expect((await same(nsOf(org), dept, q)).spec.relation).toBe("Department");
    // the team's quota counts only the team: untouched
    expect((await t.client.get<Applied>(AppliedQuotaRef, team, nsOf(dept))).status?.used).toMatchObject({ cpu: "0" });
    await t.client.delete(InstanceRef, "vm", nsOf(dept));
    const freed = await quotaUsed(t.client, dept, { cpu: "0", instances: "0" });
    await same(nsOf(dept), dept, freed);
    // settled, nothing is written again (a copy is compared before it is written)
    const versions = async () => (await t.client.list<Applied>(AppliedQuotaRef, {}, nsOf(dept))).items.map((a) => `${a.metadata.name}@${a.metadata.resourceVersion}`).sort();
    await quotaUsed(t.client, org, { cpu: "0", instances: "0" });
    await new Promise((r) => setTimeout(r, 2500)); // the last status copies land
    const settled = await versions();
    await new Promise((r) => setTimeout(r, 4000));
    expect(await versions()).toEqual(settled);
  });

  it("goes with its Quota", async () => {
    await t.client.delete(QuotaRef, ops);
    for (const ns of [nsOf(ops), nsOf(org)]) await eventuallyGone(() => t.client.get(AppliedQuotaRef, ops, ns), `AppliedQuota ${ops} in ${ns} deleted`);
    expect((await t.client.list<KubeObject>(AppliedQuotaRef, {}, nsOf(ops))).items.map((a) => a.metadata.name)).toEqual([org]);
  });
});
