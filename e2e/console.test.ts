// The web console in real Chromium against the real control plane: a tenant user signs in with a
// token, creates an instance and watches it reach Running, stops it, meets a quota denial; another
// tenant sees none of it; a user without `create` gets the apiserver's 403 through the console's
// proxy; an operator sees the cells' capacity charts. Screenshots go to .state/screenshots/console/.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { InstanceRef } from "../operators/api/compute.ts";
import type { KubeObject } from "../operators/runtime/types.ts";
import { clients, eventually, kubectlAsync, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { createCatalog } from "./support/compute.ts";
import { chromiumMissing, launchChromium, screenshot, signIn, startConsole, type ConsoleProcess } from "./support/console.ts";
import { hostsReady } from "./support/nodes.ts";
import { testStateDir } from "./support/plane.ts";
import { platformIn, poolSpec } from "./support/platform.ts";
import { deleteInstances, quota, startTenancy, tenant, QuotaRef, TenantRef, type Tenancy } from "./support/tenancy.ts";

const { core, kc } = clients();
const sys = useNamespace("console-sys");
const base = uniqueName("con");
const cell = `${base}-cell`;
const pool = `${base}-x86`;
const tenantA = `${base}-a`, tenantB = `${base}-b`, tenantC = `${base}-c`;
const nsA = `${base}-a-prod`, nsB = `${base}-b-prod`, nsC = `${base}-c-prod`;
const p = platformIn(kc);
let t: Tenancy;
let cat: Awaited<ReturnType<typeof createCatalog>>;
let console_: ConsoleProcess;
let browser: Browser;
const tokens: Record<string, string> = {};
const sa = (name: string) => ({ kind: "ServiceAccount", name, namespace: sys.name });

describe.skipIf(!!chromiumMissing)("console", () => {
  beforeAll(async () => {
    t = await startTenancy(sys.name, ["tenancy", "compute-catalog", "nodepool", "cell", "scheduler", "instance"]);
    cat = await createCatalog(kc, base);
    await p.cells.create(cell, { region: `${base}-region`, zone: `${base}-az` });
    await p.nodePools.create(pool, poolSpec(cell, { architecture: "amd64", cpuVendor: "intel", nodes: 2, capacity: { cpu: "32", memory: "128Gi" } }));
    // people: service accounts, so the test can have tokens the apiserver accepts
    for (const who of ["alice", "carol", "viewer", "ops", "admin", "bob"]) {
      await core.createNamespacedServiceAccount({ namespace: sys.name, body: { metadata: { name: who } } });
      tokens[who] = (await kubectlAsync(["create", "token", who, "-n", sys.name, "--duration=1h"])).trim();
    }
    await t.client.create(TenantRef, tenant(tenantA, { users: [sa("alice")], viewers: [sa("viewer")], namespaces: [nsA] }));
    await t.client.create(TenantRef, tenant(tenantB, { users: [sa("carol")], namespaces: [nsB] }));
    await t.client.create(TenantRef, tenant(tenantC, { orderMode: "Approval", admins: [sa("admin")], users: [sa("bob")], namespaces: [nsC] }));
    await t.client.create(QuotaRef, quota(tenantA, { tenant: tenantA, hard: { instances: 1, cpu: "8" } }));
    await kubectlAsync(["create", "clusterrolebinding", `${base}-ops`, "--clusterrole=cellcloud-operator-viewer", `--serviceaccount=${sys.name}:ops`]);
    await hostsReady(core, `cellcloud.io/cell=${cell}`, 2);
    // the tenant controller made the namespaces and bound the users
    for (const [who, ns] of [["alice", nsA], ["carol", nsB], ["bob", nsC]] as const) {
      await eventually(async () => (await kubectlAsync(["auth", "can-i", "create", "instances.compute.cellcloud.io", "-n", ns, `--as=system:serviceaccount:${sys.name}:${who}`]).catch(() => "no")).trim() === "yes",
        { what: `${who} may create instances in ${ns}`, timeoutMs: 60_000 });
    }
    console_ = await startConsole(kc);
    browser = await launchChromium();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await console_?.stop();
    if (t) {
      await deleteInstances(t.client, [nsA, nsB, nsC]).catch(() => undefined);
      for (const name of [tenantA]) await t.client.delete(QuotaRef, name).catch(() => undefined);
      for (const name of [tenantA, tenantB, tenantC]) await t.client.delete(TenantRef, name).catch(() => undefined);
      await p.nodePools.delete(pool).catch(() => undefined);
      await eventually(async () => !(await p.nodePools.list()).some((np) => np.metadata.name === pool), { what: "pool gone", timeoutMs: 60_000 }).catch(() => undefined);
      await p.cells.delete(cell).catch(() => undefined);
      await kubectlAsync(["delete", "clusterrolebinding", `${base}-ops`, "--ignore-not-found"]).catch(() => undefined);
      await t.stop();
    }
  }, 300_000);

  const instanceBody = (name: string, namespace: string): KubeObject => ({
    apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", metadata: { name, namespace }, spec: { flavor: cat.flavor, image: cat.x86 },
  });
  const row = (page: Page, name: string) => page.getByRole("table", { name: "Instances" }).locator(`tr[data-name="${name}"]`);

  async function createInstance(page: Page, name: string): Promise<void> {
    await page.getByRole("button", { name: "Create instance" }).click();
    const form = page.getByRole("form", { name: "Create instance" });
    await form.getByRole("textbox", { name: "Name" }).fill(name);
    await form.getByRole("combobox", { name: "Flavor" }).click();
    await page.getByRole("option", { name: new RegExp(`^${cat.flavor} `) }).click();
    await form.getByRole("combobox", { name: "Image" }).click();
    await page.getByRole("option", { name: new RegExp(`^${cat.x86} `) }).click();
    await form.getByRole("button", { name: "Create" }).click();
  }

  it("a tenant user creates an instance and sees it reach Running live, stops it, and gets the quota webhook's denial as is", async () => {
    const page = await signIn(browser, console_.url, tokens.alice!, [nsA]);
    await page.goto(`${console_.url}/#/ns/${nsA}/instances`);
    await createInstance(page, "web-1");
    // the list is a watch: Running appears without a reload
    await expect.poll(() => row(page, "web-1").getByText("Running").count(), { timeout: 90_000, interval: 500 }).toBe(1);
    await screenshot(page, "tenant-instances-running");
    const vm = await t.client.get<KubeObject & { spec: { flavor: string; image: string }; status?: { nodeName?: string } }>(InstanceRef, "web-1", nsA);
    expect(vm.spec).toMatchObject({ flavor: cat.flavor, image: cat.x86 });
    expect(await row(page, "web-1").textContent()).toContain(vm.status?.nodeName ?? "no node");

    await row(page, "web-1").getByRole("button", { name: "Actions for web-1" }).click();
    await page.getByRole("menuitem", { name: "Stop" }).click();
    await expect.poll(() => row(page, "web-1").getByText("Stopped").count(), { timeout: 60_000, interval: 500 }).toBe(1);
    expect((await t.client.get<KubeObject & { spec: { powerState: string } }>(InstanceRef, "web-1", nsA)).spec.powerState).toBe("Stopped");
    await screenshot(page, "tenant-instance-stopped");

    // a second instance exceeds the tenant's quota (instances: 1): the webhook's message, verbatim
    const expected = await refusal(t.client.create(InstanceRef, instanceBody("web-2", nsA), { dryRun: "All" }));
    expect(expected).toContain(`quota "${tenantA}" exceeded for instances`);
    await createInstance(page, "web-2");
    const alert = page.getByRole("form", { name: "Create instance" }).getByRole("alert");
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.textContent()).toContain(expected);
    await screenshot(page, "tenant-quota-denied");
    expect(await t.client.get(InstanceRef, "web-2", nsA).then(() => "exists", () => "absent")).toBe("absent");
    await page.context().close();
  });

  it("shows the tenant's quota, its other kinds and an object's events", async () => {
    const page = await signIn(browser, console_.url, tokens.alice!, [nsA]);
    // quota bars from the namespace's AppliedQuota (a tenant user cannot read the cluster-scoped Quota)
    await page.goto(`${console_.url}/#/ns/${nsA}/quota`);
    const card = page.getByLabel(`Quota ${tenantA}`, { exact: true });
    await card.waitFor({ timeout: 60_000 });
    await expect.poll(() => card.getByLabel(/^instances: 1 used, 0 reserved of 1$/).count(), { timeout: 60_000, interval: 500 }).toBe(1);
    await screenshot(page, "tenant-quota");
    for (const view of ["volumes", "snapshots", "vpcs", "subnets", "securitygroups", "elasticips", "loadbalancers", "databases", "queues", "subscriptions", "approvals"]) {
      await page.goto(`${console_.url}/#/ns/${nsA}/${view}`);
      await page.getByRole("heading", { level: 2 }).waitFor();
      await page.waitForTimeout(300);
      expect(await page.getByRole("alert").count(), `no refusal on ${view}`).toBe(0);
      await screenshot(page, `tenant-${view}`);
    }
    // a tenant's user may not read bills (admins and viewers do): no link, and the apiserver's 403 if asked
    expect(await page.getByRole("navigation", { name: "Views" }).getByRole("link", { name: "Subscriptions" }).count()).toBe(1);
    expect(await page.getByRole("navigation", { name: "Views" }).getByRole("link", { name: "Bills" }).count()).toBe(0);
    await page.goto(`${console_.url}/#/ns/${nsA}/bills`);
    await page.getByRole("alert").waitFor();
    expect(await page.getByRole("alert").textContent()).toContain(`cannot list resource "bills"`);
    // an instance's details: its conditions and its Events, live
    await page.goto(`${console_.url}/#/ns/${nsA}/instances/web-1`);
    const drawer = page.getByRole("dialog", { name: `Instance ${nsA}/web-1` });
    await drawer.getByRole("table", { name: "Conditions" }).getByText("Ready").first().waitFor();
    await drawer.getByRole("tab", { name: /^Events/ }).click();
    await expect.poll(() => drawer.getByRole("table", { name: "Events" }).locator("tbody tr").count(), { timeout: 30_000 }).toBeGreaterThan(0);
    await screenshot(page, "tenant-instance-events");
    await page.context().close();
  });

  it("orders of a tenant in Approval mode wait; a user may not approve; an admin's approval starts the instance", async () => {
    const bob = await signIn(browser, console_.url, tokens.bob!, [nsC]);
    await bob.goto(`${console_.url}/#/ns/${nsC}/instances`);
    await createInstance(bob, "ordered");
    await row(bob, "ordered").getByText(/False/).waitFor({ timeout: 30_000 });
    await bob.goto(`${console_.url}/#/ns/${nsC}/approvals`);
    const approve = bob.getByRole("button", { name: "Approve Instance ordered" });
    await approve.click();
    const refused = bob.getByRole("alert");
    await refused.waitFor();
    expect(await refused.textContent()).toContain(`may not approve instances in namespace ${nsC}`);
    await screenshot(bob, "approvals-user-refused");
    await bob.context().close();

    const admin = await signIn(browser, console_.url, tokens.admin!, [nsC]);
    await admin.goto(`${console_.url}/#/ns/${nsC}/approvals`);
    await admin.getByRole("button", { name: "Approve Instance ordered" }).click();
    // approved: it leaves the list, and the instance starts
    await admin.getByRole("button", { name: "Approve Instance ordered" }).waitFor({ state: "detached", timeout: 30_000 });
    await admin.goto(`${console_.url}/#/ns/${nsC}/instances`);
    await expect.poll(() => row(admin, "ordered").getByText("Running").count(), { timeout: 90_000, interval: 500 }).toBe(1);
    const vm = await t.client.get<KubeObject>(InstanceRef, "ordered", nsC);
    expect(vm.metadata.annotations?.["tenancy.cellcloud.io/approved-by"]).toBe(`system:serviceaccount:${sys.name}:admin`);
    await screenshot(admin, "approvals-approved-running");
    await admin.context().close();
  });

  it("signs in with a kubeconfig whose user is a client certificate, and acts as that user", async () => {
    const pki = `${testStateDir}/pki`;
    if (!existsSync(`${pki}/ca.key`)) return; // a plane this suite did not make: no CA key to sign with
    const user = `${base}-kc`;
    const dir = mkdtempSync(join(tmpdir(), "console-kc-"));
    execFileSync("openssl", ["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", `${dir}/u.key`, "-out", `${dir}/u.csr`, "-subj", `/O=${base}-group/CN=${user}`], { stdio: "ignore" });
    execFileSync("openssl", ["x509", "-req", "-in", `${dir}/u.csr`, "-CA", `${pki}/ca.crt`, "-CAkey", `${pki}/ca.key`, "-CAcreateserial", "-CAserial", `${dir}/ca.srl`, "-days", "1", "-out", `${dir}/u.crt`], { stdio: "ignore" });
    const b64 = (f: string) => readFileSync(`${dir}/${f}`).toString("base64");
    const kubeconfig = [
      "apiVersion: v1", "kind: Config", "current-context: me",
      "clusters: [{name: c, cluster: {server: 'https://203.0.113.1:6443'}}]", // never used: the console has its apiserver
      `contexts: [{name: me, context: {cluster: c, user: me, namespace: ${nsB}}}]`,
      `users: [{name: me, user: {client-certificate-data: ${b64("u.crt")}, client-key-data: ${b64("u.key")}}}]`,
    ].join("\n");
    await t.client.patch(TenantRef, tenantB, undefined, { spec: { users: [sa("carol"), { kind: "User", name: user }] } }, "merge");
    await eventually(async () => (await kubectlAsync(["auth", "can-i", "list", "instances.compute.cellcloud.io", "-n", nsB, `--as=${user}`]).catch(() => "no")).trim() === "yes",
      { what: `${user} may list instances in ${nsB}`, timeoutMs: 60_000 });
    const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
    const page = await context.newPage();
    await page.goto(console_.url);
    await page.getByRole("tab", { name: "Kubeconfig" }).click();
    await page.getByRole("textbox", { name: "Kubeconfig" }).fill(kubeconfig);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByLabel("Signed in as").getByText(user, { exact: true }).waitFor();
    // the context's namespace is where it starts; the apiserver lets this user list there, and not in another tenant's
    await page.getByText(`No instances in ${nsB}.`).waitFor();
    await page.goto(`${console_.url}/#/ns/${nsA}/instances`);
    expect(await page.getByRole("alert").textContent()).toContain(`User "${user}" cannot list resource "instances"`);
    await screenshot(page, "sign-in-kubeconfig");
    await context.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("another tenant's user sees none of the first tenant's objects", async () => {
    const page = await signIn(browser, console_.url, tokens.carol!, [nsB]);
    await page.goto(`${console_.url}/#/ns/${nsB}/instances`);
    await page.getByText(`No instances in ${nsB}.`).waitFor();
    expect(await page.getByText("web-1").count()).toBe(0);
    // asking for the other tenant's namespace directly: the apiserver's 403, and no rows
    await page.goto(`${console_.url}/#/ns/${nsA}/instances`);
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toContain("forbidden");
    expect(await page.getByRole("table", { name: "Instances" }).locator("tbody tr").count()).toBe(0);
    await screenshot(page, "other-tenant-forbidden");
    await page.context().close();
  });

  it("forwards the user's identity: a user without create on instances gets the apiserver's 403", async () => {
    const page = await signIn(browser, console_.url, tokens.viewer!, [nsA]);
    await page.goto(`${console_.url}/#/ns/${nsA}/instances`);
    await row(page, "web-1").waitFor(); // a viewer reads
    // keyboard: the dialog opens with Enter, focus lands in its first field, Escape closes it
    await page.getByRole("button", { name: "Create instance" }).focus();
    await page.keyboard.press("Enter");
    const nameField = page.getByRole("form", { name: "Create instance" }).getByRole("textbox", { name: "Name" });
    const nameId = await nameField.getAttribute("id");
    await expect.poll(() => page.evaluate("document.activeElement && document.activeElement.id")).toBe(nameId);
    await page.keyboard.press("Escape");
    await page.getByRole("form", { name: "Create instance" }).waitFor({ state: "detached" });
    await createInstance(page, "viewer-vm");
    const alert = page.getByRole("form", { name: "Create instance" }).getByRole("alert");
    await alert.waitFor({ timeout: 30_000 });
    const text = (await alert.textContent()) ?? "";
    expect(text).toContain("403");
    expect(text).toContain(`User "system:serviceaccount:${sys.name}:viewer" cannot create resource "instances"`);
    await screenshot(page, "viewer-create-forbidden");
    await page.context().close();
  });

  it("an operator sees the cells' capacity charts per architecture, a failed host and why a pod waits", async () => {
    const page = await signIn(browser, console_.url, tokens.ops!, []);
    await page.goto(`${console_.url}/#/operator/capacity`);
    const card = page.getByLabel(`Cell ${cell}`, { exact: true });
    await card.waitFor({ timeout: 30_000 });
    const chart = card.getByRole("img", { name: `cpu capacity of cell ${cell} by architecture` });
    await expect.poll(() => chart.locator(".recharts-bar-rectangle").count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await card.getByText("2 ready").count()).toBe(1);
    expect(await card.getByRole("table", { name: `Node pools of cell ${cell}` }).getByText(pool).count()).toBe(1);
    await screenshot(page, "operator-capacity");

    // a host fails (KWOK's not-ready stage): it shows among the hosts not Ready, live
    const host = (await core.listNode({ labelSelector: `cellcloud.io/cell=${cell}` })).items[0]!.metadata!.name!;
    await page.goto(`${console_.url}/#/operator/hosts`);
    const hosts = page.getByRole("table", { name: "Hosts not Ready" });
    await hosts.waitFor();
    await kubectlAsync(["label", "node", host, "node-not-ready.stage.kwok.x-k8s.io=true"]);
    try {
      await hosts.getByRole("cell", { name: host, exact: true }).waitFor({ timeout: 60_000 });
      await screenshot(page, "operator-hosts");
    } finally {
      await kubectlAsync(["label", "node", host, "node-not-ready.stage.kwok.x-k8s.io-"]);
    }

    // a pod no host can take: pending, with the scheduler's reason
    const pod = `${base}-too-big`;
    await core.createNamespacedPod({ namespace: sys.name, body: {
      metadata: { name: pod },
      spec: { containers: [{ name: "c", image: "none", resources: { requests: { cpu: "100000" } } }], nodeSelector: { "cellcloud.io/cell": cell }, tolerations: [{ operator: "Exists" }] },
    } });
    await page.goto(`${console_.url}/#/operator/scheduler`);
    const pending = page.getByRole("table", { name: "Pending pods" }).getByRole("row").filter({ hasText: `${sys.name}/${pod}` });
    await expect.poll(async () => (await pending.textContent().catch(() => "")) ?? "", { timeout: 60_000, interval: 500 }).toMatch(/Insufficient cpu/);
    await screenshot(page, "operator-scheduler");
    await core.deleteNamespacedPod({ name: pod, namespace: sys.name, gracePeriodSeconds: 0 });
    await page.context().close();
  });
});
