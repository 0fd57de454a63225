// The web console in real Chromium against the real control plane: a tenant user signs in with a
// token, creates an instance and watches it reach Running, stops it, meets a quota denial; another
// tenant sees none of it; a user without `create` gets the apiserver's 403 through the console's
// proxy; an operator sees the cells' capacity charts. Screenshots go to .state/screenshots/console/.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { InstanceRef } from "../operators/api/compute.ts";
import type { KubeObject } from "../operators/runtime/types.ts";
import { clients, eventually, kubectlAsync, uniqueName, useNamespace } from "./support/kube.ts";
import { createCatalog } from "./support/compute.ts";
import { chromiumMissing, launchChromium, screenshot, signIn, startConsole, type ConsoleProcess } from "./support/console.ts";
import { hostsReady } from "./support/nodes.ts";
import { platformIn, poolSpec } from "./support/platform.ts";
import { deleteInstances, quota, startTenancy, tenant, QuotaRef, TenantRef, type Tenancy } from "./support/tenancy.ts";

const { core, kc } = clients();
const sys = useNamespace("console-sys");
const base = uniqueName("con");
const cell = `${base}-cell`;
const pool = `${base}-x86`;
const tenantA = `${base}-a`, tenantB = `${base}-b`;
const nsA = `${base}-a-prod`, nsB = `${base}-b-prod`;
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
    for (const who of ["alice", "carol", "viewer", "ops"]) {
      await core.createNamespacedServiceAccount({ namespace: sys.name, body: { metadata: { name: who } } });
      tokens[who] = (await kubectlAsync(["create", "token", who, "-n", sys.name, "--duration=1h"])).trim();
    }
    await t.client.create(TenantRef, tenant(tenantA, { users: [sa("alice")], viewers: [sa("viewer")], namespaces: [nsA] }));
    await t.client.create(TenantRef, tenant(tenantB, { users: [sa("carol")], namespaces: [nsB] }));
    await t.client.create(QuotaRef, quota(tenantA, { tenant: tenantA, hard: { instances: 1, cpu: "8" } }));
    await kubectlAsync(["create", "clusterrolebinding", `${base}-ops`, "--clusterrole=cellcloud-operator-viewer", `--serviceaccount=${sys.name}:ops`]);
    await hostsReady(core, `cellcloud.io/cell=${cell}`, 2);
    // the tenant controller made the namespaces and bound the users
    for (const [who, ns] of [["alice", nsA], ["carol", nsB]] as const) {
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
      await deleteInstances(t.client, [nsA, nsB]).catch(() => undefined);
      for (const name of [tenantA]) await t.client.delete(QuotaRef, name).catch(() => undefined);
      for (const name of [tenantA, tenantB]) await t.client.delete(TenantRef, name).catch(() => undefined);
      await p.nodePools.delete(pool).catch(() => undefined);
      await eventually(async () => !(await p.nodePools.list()).some((np) => np.metadata.name === pool), { what: "pool gone", timeoutMs: 60_000 }).catch(() => undefined);
      await p.cells.delete(cell).catch(() => undefined);
      await kubectlAsync(["delete", "clusterrolebinding", `${base}-ops`, "--ignore-not-found"]).catch(() => undefined);
      await t.stop();
    }
  }, 300_000);

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
    await createInstance(page, "web-2");
    const alert = page.getByRole("form", { name: "Create instance" }).getByRole("alert");
    await alert.waitFor({ timeout: 30_000 });
    const text = (await alert.textContent()) ?? "";
    expect(text).toContain(`quota`);
    expect(text).toContain(tenantA);
    expect(text).toMatch(/instances/);
    await screenshot(page, "tenant-quota-denied");
    expect(await t.client.get(InstanceRef, "web-2", nsA).then(() => "exists", () => "absent")).toBe("absent");
    await page.context().close();
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
    await createInstance(page, "viewer-vm");
    const alert = page.getByRole("form", { name: "Create instance" }).getByRole("alert");
    await alert.waitFor({ timeout: 30_000 });
    const text = (await alert.textContent()) ?? "";
    expect(text).toContain("403");
    expect(text).toContain(`User "system:serviceaccount:${sys.name}:viewer" cannot create resource "instances"`);
    await screenshot(page, "viewer-create-forbidden");
    await page.context().close();
  });

  it("an operator sees the cells' capacity charts per architecture", async () => {
    const page = await signIn(browser, console_.url, tokens.ops!, []);
    await page.goto(`${console_.url}/#/operator/capacity`);
    const card = page.getByLabel(`Cell ${cell}`, { exact: true });
    await card.waitFor({ timeout: 30_000 });
    const chart = card.getByRole("img", { name: `cpu capacity of cell ${cell} by architecture` });
    await expect.poll(() => chart.locator(".recharts-bar-rectangle").count(), { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await card.getByText("2 ready").count()).toBe(1);
    expect(await card.getByRole("table", { name: `Node pools of cell ${cell}` }).getByText(pool).count()).toBe(1);
    await screenshot(page, "operator-capacity");
    await page.goto(`${console_.url}/#/operator/hosts`);
    await page.getByRole("table", { name: "Hosts not Ready" }).waitFor();
    await screenshot(page, "operator-hosts");
    await page.goto(`${console_.url}/#/operator/scheduler`);
    await page.getByRole("table", { name: "Pending pods" }).waitFor();
    await screenshot(page, "operator-scheduler");
    await page.context().close();
  });
});
