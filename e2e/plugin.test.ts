// `kubectl cellcloud` against the real control plane: every verb runs as a real process (bin/ on PATH,
// so kubectl finds the plugin and its completion helper) and each test asserts what the verb did to
// the cluster. A manager in this process runs the cell scheduler, the instance and tenancy
// controllers and the tenancy webhook (quota and approval admission).
import { execFile } from "node:child_process";
import { dirname } from "node:path";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { APPROVAL_REQUIRED } from "../operators/api/tenancy.ts";
import { isNotFound } from "../operators/runtime/kube.ts";
import type { KubeObject } from "../operators/runtime/types.ts";
import { ConfigMapRef, NamespaceRef } from "../operators/runtime/core.ts";
import { createCatalog, type InstanceView } from "./support/compute.ts";
import { clients, eventually, uniqueName, useNamespace } from "./support/kube.ts";
import { hostsReady } from "./support/nodes.ts";
import { binDir, repoRoot } from "./support/plane.ts";
import { platformIn, poolSpec } from "./support/platform.ts";
import { InstanceRef } from "../operators/api/compute.ts";
import { QuotaRef, TenantRef, deleteInstances, quota, quotaUsed, startTenancy, tenant, type Tenancy } from "./support/tenancy.ts";

const system = useNamespace("plugin-system");
const base = uniqueName("cli");
const LABEL = { "cellcloud.io/test": "plugin" };
const cell = `${base}-cell`;
const zone = `${base}-az`;
const pool = `${base}-x86`;
const org = `${base}-org`; // Direct mode, with a department and a quota
const dept = `${base}-dept`;
const appr = `${base}-appr`; // Approval mode
const nsOrg = `${org}-ns`;
const nsAppr = `${appr}-ns`;
const { core, kc } = clients();
const p = platformIn(kc);
let t: Tenancy;
let catalog: Awaited<ReturnType<typeof createCatalog>>;
/** The console ConfigMap this suite made (undefined: the console had published one already). */
let madeConsoleMap: string | undefined;

interface Run { code: number; stdout: string; stderr: string }

/** A command line as a user types it, as a real process: `kubectl cellcloud ...` or bin/ helpers. */
function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const PATH = [`${repoRoot}/bin`, dirname(process.execPath), binDir, process.env.PATH].join(":");
  return new Promise((resolve) => {
    execFile(cmd, args, { env: { ...process.env, PATH, KUBECONFIG: inject("kubeconfig"), ...env }, encoding: "utf8", timeout: 150_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout, stderr });
    });
  });
}
const cellcloud = (...args: string[]) => run("kubectl", ["cellcloud", ...args]);
const ok = async (...args: string[]) => {
  const r = await cellcloud(...args);
  expect(r, `kubectl cellcloud ${args.join(" ")}`).toMatchObject({ code: 0, stderr: "" });
  return r.stdout;
};
const readVm = (name: string, ns = nsOrg) => t.client.get<InstanceView>(InstanceRef, name, ns);

/** A tenant with one namespace, Ready and known to the webhook. */
async function makeTenant(name: string, ns: string, spec: Record<string, unknown> = {}): Promise<void> {
  await t.client.create(TenantRef, tenant(name, { namespaces: [ns], ...spec }, LABEL));
  await eventually(() => t.tenancy.view.tenantOf(ns) === name, { what: `tenant ${name} owns ${ns}` });
}

beforeAll(async () => {
  t = await startTenancy(system.name, ["tenancy", "compute-catalog", "instance", "nodepool", "cell", "scheduler"]);
  catalog = await createCatalog(kc, base, LABEL);
  await p.cells.create(cell, { region: "r-cli", zone, placementStrategy: "Spread" }, LABEL);
  await p.nodePools.create(pool, poolSpec(cell, { nodes: 3, capacity: { cpu: "32", memory: "128Gi" } }), LABEL);
  await makeTenant(org, nsOrg, { users: [{ kind: "User", name: `${org}-user` }] });
  await t.client.create(TenantRef, tenant(dept, { parent: org }, LABEL));
  await makeTenant(appr, nsAppr, { orderMode: "Approval", admins: [{ kind: "User", name: `${appr}-admin` }], users: [{ kind: "User", name: `${appr}-user` }] });
  await t.client.create(QuotaRef, quota(`${org}-q`, { tenant: org, hard: { cpu: 16, memory: "64Gi", instances: 10 } }, LABEL));
  await hostsReady(core, `cellcloud.io/cell=${cell}`, 3);
  await t.client.create(InstanceRef, {
    apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", metadata: { name: "web", namespace: nsOrg },
    spec: { flavor: catalog.flavor, image: catalog.x86, zone, terminationGracePeriodSeconds: 0 },
  });
  await eventually(async () => (await readVm("web")).status?.powerState === "Running", { what: "web Running" });
});

afterAll(async () => {
  if (!t) return;
  await deleteInstances(t.client, [nsOrg, nsAppr]).catch(() => undefined);
  await t.client.delete(QuotaRef, `${org}-q`).catch(() => undefined);
  for (const name of [dept, org, appr]) await t.client.delete(TenantRef, name).catch(() => undefined);
  for (const ns of [nsOrg, nsAppr]) await t.client.delete(NamespaceRef, ns).catch(() => undefined);
  if (madeConsoleMap) await t.client.delete(ConfigMapRef, madeConsoleMap, "kube-public").catch(() => undefined);
  await p.nodePools.delete(pool).catch(() => undefined);
  await eventually(async () => !(await p.nodePools.list()).some((np) => np.metadata.name === pool), { what: "pool gone", timeoutMs: 60_000 }).catch(() => undefined);
  await p.cells.delete(cell).catch(() => undefined);
  for (const [ref, name, ns] of catalog?.all ?? []) await t.client.delete(ref, name, ns).catch(() => undefined);
  await t.stop();
});

describe("kubectl cellcloud", () => {
  it("is found by kubectl; --help lists every verb and each verb has its own --help", async () => {
    const help = await ok("--help");
    const verbs = ["start", "stop", "pause", "reboot", "migrate", "resize", "console-url", "approve", "orders", "quota", "capacity", "completion"];
    for (const v of verbs) expect(help).toMatch(new RegExp(`^  ${v} `, "m"));
    const helps = await Promise.all(verbs.map((v) => ok(v, "--help")));
    verbs.forEach((v, i) => expect(helps[i]).toContain(`kubectl cellcloud ${v}`));
    const bad = await cellcloud("frobnicate");
    expect(bad).toMatchObject({ code: 1, stderr: 'error: unknown verb "frobnicate"; run kubectl cellcloud --help for the list\n' });
  });

  it("stops, starts, pauses and reboots an instance, waiting until its status gets there", async () => {
    expect(await ok("stop", "web", "-n", nsOrg, "--wait=90s")).toBe("instance/web stop requested (spec.powerState: Stopped)\ninstance/web Stopped\n");
    expect((await readVm("web")).status).toMatchObject({ powerState: "Stopped" });
    expect((await readVm("web")).status?.nodeName).toBeUndefined();
    await ok("start", "web", "-n", nsOrg, "--wait=90s");
    expect((await readVm("web")).status?.powerState).toBe("Running");
    await ok("pause", "web", "-n", nsOrg, "--wait");
    expect((await readVm("web")).status?.powerState).toBe("Paused");
    await ok("start", "web", "-n", nsOrg, "--wait");
    const before = await readVm("web");
    expect(before.status?.powerState).toBe("Running");
    await new Promise((r) => setTimeout(r, 1100)); // lastBootTime counts seconds
    const out = await ok("reboot", "web", "-n", nsOrg, "--wait=90s");
    expect(out).toMatch(/^instance\/web reboot requested \(spec\.restartRequestedAt: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\)\ninstance\/web Running on /);
    const after = await readVm("web");
    expect(Date.parse(after.status?.lastBootTime ?? "")).toBeGreaterThan(Date.parse(before.status?.lastBootTime ?? ""));
    expect(after.status?.launcherPod).not.toBe(before.status?.launcherPod);
    expect(after.metadata.managedFields).toEqual(expect.arrayContaining([expect.objectContaining({ manager: "kubectl-cellcloud", operation: "Update" })]));
  });

  it("migrates an instance to another host, then to a chosen one", async () => {
    const from = (await readVm("web")).status?.nodeName as string;
    await ok("migrate", "web", "-n", nsOrg, "--wait=90s");
    let i = await readVm("web");
    expect(i.status?.nodeName).not.toBe(from);
    expect(i.status?.migration).toMatchObject({ sourceNode: from, targetNode: i.status?.nodeName, state: "Succeeded" });
    const target = [0, 1, 2].map((n) => `${pool}-${n}`).find((n) => n !== i.status?.nodeName) as string;
    expect(await ok("migrate", "web", "--namespace", nsOrg, "--to", target, "--wait=90s")).toContain(`instance/web Running on ${target}\n`);
    i = await readVm("web");
    expect(i.status?.nodeName).toBe(target);
  });

  it("resizes an instance; refusals name the object and field and carry the apiserver's message", async () => {
    expect(await ok("resize", "web", "-n", nsOrg, "--cpus", "4", "--memory", "8Gi", "--wait=90s")).toContain("instance/web resize requested (spec.resources: vcpus=4, memory=8Gi)\n");
    const i = await readVm("web");
    expect(i.status).toMatchObject({ vcpus: 4, memory: "8Gi" });
    expect(i.spec.flavor).toBeUndefined();
    const [odd, big, missing, both] = await Promise.all([
      cellcloud("resize", "web", "-n", nsOrg, "--cpus", "3", "--memory", "8Gi"),
      cellcloud("resize", "web", "-n", nsOrg, "--cpus", "32", "--memory", "64Gi"),
      cellcloud("stop", "nothing-here", "-n", nsOrg),
      cellcloud("resize", "web", "-n", nsOrg, "--flavor", "x", "--cpus", "2"),
    ]);
    // the CRD's validation, as the apiserver words it
    expect(odd.code).toBe(1);
    expect(odd.stderr).toMatch(new RegExp(`^error: instance ${nsOrg}/web: .*spec\\.resources\\.vcpus.*multiple of 2`, "s"));
    // the quota webhook's denial, as is: 16 vCPU is the quota's limit
    expect(big.code).toBe(1);
    expect(big.stderr).toMatch(new RegExp(`^error: instance ${nsOrg}/web: spec\\.resources: admission webhook .* denied the request: .*${org}-q`, "s"));
    expect(missing).toMatchObject({ code: 1, stderr: `error: instance ${nsOrg}/nothing-here: instances.compute.cellcloud.io "nothing-here" not found\n` });
    expect(both).toMatchObject({ code: 1, stderr: expect.stringContaining("--flavor and --cpus/--memory exclude each other") });
  });

  it("lists orders waiting for approval, refuses a user's approval and lets an admin's start the instance", async () => {
    await t.client.create(InstanceRef, {
      apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", metadata: { name: "order", namespace: nsAppr },
      spec: { flavor: catalog.flavor, image: catalog.x86, zone, terminationGracePeriodSeconds: 0 },
    });
    expect((await readVm("order", nsAppr)).metadata.annotations?.[APPROVAL_REQUIRED]).toBe("true");
    const [all, here, refused] = await Promise.all([
      ok("orders", "-A"), ok("approve", "--list", "-n", nsAppr), cellcloud("approve", "instance/order", "-n", nsAppr, "--as", `${appr}-user`),
    ]);
    expect(all).toMatch(new RegExp(`^NAMESPACE\\s+ORDER\\s+AGE\\n(.*\\n)*${nsAppr}\\s+instance/order\\s+\\d+s\\n`));
    expect(here).toMatch(/^ORDER\s+AGE\ninstance\/order\s+\d+s\n$/);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`error: instance ${nsAppr}/order: `);
    expect(refused.stderr).toContain(`metadata.annotations["tenancy.cellcloud.io/approved-by"]: user "${appr}-user" may not approve instances in namespace ${nsAppr}`);
    expect((await readVm("order", nsAppr)).status?.powerState).not.toBe("Running");
    expect(await ok("approve", "ecs/order", "-n", nsAppr, "--as", `${appr}-admin`)).toBe(`instance/order approved by ${appr}-admin\n`);
    await eventually(async () => (await readVm("order", nsAppr)).status?.powerState === "Running", { what: "the approved order Running" });
    expect(await cellcloud("approve", "--list", "-n", nsAppr)).toMatchObject({ code: 0, stdout: "", stderr: `No orders waiting for approval in namespace ${nsAppr}.\n` });
    expect((await cellcloud("approve", "instance/web", "-n", nsOrg)).stderr).toContain(`instance ${nsOrg}/web: metadata.annotations["${APPROVAL_REQUIRED}"] is not "true"`);
  });

  it("quota prints the tenant tree with the quota's used numbers", async () => {
    const q = await quotaUsed(t.client, `${org}-q`, { cpu: "4", memory: "8Gi", instances: "1" });
    const out = await ok("quota", org);
    const lines = out.split("\n");
    expect(lines[0]).toMatch(/^TENANT\s+QUOTA\s+ZONE\s+ARCH\s+RESOURCE\s+USED\s+RESERVED\s+HARD\s+USE$/);
    expect(lines[1]).toMatch(new RegExp(`^${org}\\s+${org}-q\\s+\\*\\s+\\*\\s+cpu\\s+${q.status?.used?.cpu}\\s+0\\s+16\\s+25%$`));
    expect(out).toMatch(/memory\s+8Gi\s+0\s+64Gi\s+13%/);
    expect(out).toMatch(/instances\s+1\s+0\s+10\s+10%/);
    expect(out).toContain(`└─ ${dept}`);
    expect(out).not.toContain(appr);
    expect(await ok("quota")).toContain(appr);
    expect(await cellcloud("quota", "no-such-tenant")).toMatchObject({ code: 1, stderr: expect.stringContaining('tenants.tenancy.cellcloud.io "no-such-tenant" not found') });
    // a tenant's user may not list Tenants or Quotas: the namespace's AppliedQuotas show the same tree
    const user = ["-n", nsOrg, "--as", `${org}-user`];
    await eventually(async () => /instances\s+1\s+0\s+10\s+10%/.test((await cellcloud("quota", ...user)).stdout), { what: "the user's quota tree", timeoutMs: 30_000 });
    const mine = await ok("quota", ...user);
    expect(mine).toMatch(new RegExp(`^${org}\\s+${org}-q\\s+\\*\\s+\\*\\s+cpu\\s+${q.status?.used?.cpu}\\s+0\\s+16\\s+25%$`, "m"));
    expect(mine).not.toContain(appr);
  });

  it("capacity prints the cells, their capacity per architecture and their pools", async () => {
    await eventually(async () => (await p.cells.read(cell)).status?.nodes && true, { what: "the cell's status" });
    const out = await ok("capacity", cell);
    expect(out).toMatch(new RegExp(`^${cell}\\s+r-cli\\s+${zone}\\s+Spread\\s+1\\s+3\\s+3\\s+0\\s+0$`, "m"));
    expect(out).toMatch(new RegExp(`^${cell}\\s+amd64\\s+3\\s+\\S+\\s+96\\s+96\\s+\\d+%`, "m"));
    expect(out).toMatch(new RegExp(`^${pool}\\s+${cell}\\s+amd64\\s+intel\\s+3\\s+3\\s+3\\s+32\\s+128Gi\\s+1/1$`, "m"));
    expect(await ok("capacity")).toContain(cell);
  });

  it("console-url prints the instance's URL under the console's published base", async () => {
    const published = await t.client.get<KubeObject & { data?: { url?: string } }>(ConfigMapRef, "cellcloud-console", "kube-public").catch((e: unknown) => (isNotFound(e) ? undefined : Promise.reject(e)));
    let baseUrl = published?.data?.url?.replace(/\/+$/, "");
    if (!published) {
      // no console on this plane: the error says where the URL comes from, then publish one as the console does
      const none = await cellcloud("console-url", "web", "-n", nsOrg);
      expect(none).toMatchObject({ code: 1, stderr: expect.stringContaining("no console URL: configmap kube-public/cellcloud-console not found") });
      baseUrl = "https://console.cellcloud.test";
      madeConsoleMap = "cellcloud-console";
      await t.client.create(ConfigMapRef, { apiVersion: "v1", kind: "ConfigMap", metadata: { name: madeConsoleMap, namespace: "kube-public", labels: LABEL }, data: { url: `${baseUrl}/` } });
    }
    expect(await ok("console-url", "web", "-n", nsOrg)).toBe(`${baseUrl}/#/ns/${nsOrg}/instances/web\n`);
    expect(await ok("console-url", "web", "-n", nsOrg, "--console-url", "http://localhost:9000")).toBe(`http://localhost:9000/#/ns/${nsOrg}/instances/web\n`);
    expect((await run("kubectl", ["cellcloud", "console-url", "web", "-n", nsOrg], { CELLCLOUD_CONSOLE_URL: "http://env.example" })).stdout).toBe(`http://env.example/#/ns/${nsOrg}/instances/web\n`);
    expect((await cellcloud("console-url", "ghost", "-n", nsOrg)).stderr).toContain(`error: instance ${nsOrg}/ghost: instances.compute.cellcloud.io "ghost" not found`);
  });

  it("completes verbs, instance names from the apiserver and flags, through kubectl's plugin completion too", async () => {
    const names = (r: Run) => r.stdout.trim().split("\n").map((l) => l.split("\t")[0]);
    const direct = await run("kubectl_complete-cellcloud", ["-n", nsOrg, "stop", ""]);
    expect(direct.code).toBe(0);
    expect(names(direct)).toEqual(["web", ":4"]);
    expect(names(await run("kubectl_complete-cellcloud", ["re"]))).toEqual(["reboot", "resize", ":4"]);
    expect(names(await run("kubectl_complete-cellcloud", ["migrate", "web", "--to", `${pool}-`]))).toEqual([`${pool}-0`, `${pool}-1`, `${pool}-2`, ":4"]);
    expect(names(await run("kubectl_complete-cellcloud", ["quota", org.slice(0, -1)]))).toEqual([org, ":4"]);
    // kubectl >= 1.26 runs kubectl_complete-cellcloud for `kubectl cellcloud <TAB>`
    const viaKubectl = await run("kubectl", ["__complete", "cellcloud", "-n", nsOrg, "start", "w"]);
    expect(viaKubectl.stdout.split("\n")).toContain("web");
    expect(await ok("completion", "bash")).toContain("complete -F _kubectl_cellcloud kubectl-cellcloud");
    expect(await ok("completion", "zsh")).toContain("#compdef kubectl-cellcloud");
  });
});
