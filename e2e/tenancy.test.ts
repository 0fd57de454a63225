// Tenants and hierarchical quota, enforced at admission by the manager's webhook, against the real
// apiserver: concurrent creates never overshoot, every level of a tree (and per zone, per arch) is
// enforced, deletes release, Quotas must fit their tree, RBAC keeps tenants apart, private images
// stay private, and approvals need an admin.
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { ADOPT_ANNOTATION, APPROVAL_REQUIRED, APPROVED_BY, TENANT_LABEL } from "../operators/api/tenancy.ts";
import type { KubeObject } from "../operators/runtime/types.ts";
import { createCatalog } from "./support/compute.ts";
import { binDir } from "./support/plane.ts";
import { eventually, kubeConfig, kubectlAsync, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { ImageRef, InstanceRef, PUBLIC_IMAGE_NAMESPACE } from "../operators/api/compute.ts";
import { VolumeRef } from "../operators/api/storage.ts";
import { NamespaceRef, RoleBindingRef } from "../operators/runtime/core.ts";
import {
  QuotaRef, TenantRef, deleteInstances, instance, ledgerOf, quota, quotaUsed, startTenancy, tenant, type Tenancy,
} from "./support/tenancy.ts";

const system = useNamespace("tenancy-system");
const base = uniqueName("tq");
const LABEL = { "cellcloud.io/test": "tenancy" };
let t: Tenancy;
let catalog: Awaited<ReturnType<typeof createCatalog>>;
const namespaces: string[] = [];

beforeAll(async () => {
  t = await startTenancy(system.name, ["tenancy", "compute-catalog", "instance", "volume"]);
  catalog = await createCatalog(kubeConfig(), base);
});

afterAll(async () => {
  if (!t) return;
  await deleteInstances(t.client, namespaces).catch(() => undefined);
  const { items } = await t.client.list(QuotaRef, { labelSelector: "cellcloud.io/test=tenancy" });
  for (const q of items) await t.client.delete(QuotaRef, q.metadata.name).catch(() => undefined);
  // departments first: the webhook refuses to delete a tenant that still has some
  for (let round = 0; round < 5; round++) {
    const tenants = (await t.client.list<KubeObject & { spec: { parent?: string } }>(TenantRef, { labelSelector: "cellcloud.io/test=tenancy" })).items;
    const parents = new Set(tenants.map((x) => x.spec.parent));
    for (const x of tenants.filter((x) => !parents.has(x.metadata.name))) await t.client.delete(TenantRef, x.metadata.name).catch(() => undefined);
    if (!tenants.length) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  for (const ns of namespaces) await t.client.delete(NamespaceRef, ns).catch(() => undefined);
  for (const [ref, name, ns] of catalog?.all ?? []) await t.client.delete(ref, name, ns).catch(() => undefined);
  await t.stop();
});

/** A tenant with one namespace (made and labelled by the tenant controller); returns the namespace. */
async function makeTenant(name: string, spec: Record<string, unknown> = {}): Promise<string> {
  const ns = `${name}-ns`;
  namespaces.push(ns);
  await t.client.create(TenantRef, tenant(name, { namespaces: [ns], ...spec }, LABEL));
  await eventually(async () => {
    const got = await t.client.get<KubeObject & { status?: { conditions?: Array<{ type: string; status: string }> } }>(TenantRef, name);
    return got.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") && t.tenancy.view.tenantOf(ns) === name;
  }, { what: `tenant ${name} Ready with namespace ${ns}` });
  return ns;
}

const vm = (name: string, ns: string, spec: Record<string, unknown> = {}) =>
  instance(name, ns, { flavor: catalog.flavor, image: catalog.x86, zone: "az1", ...spec });

describe("tenants", () => {
  it("own labelled namespaces with role bindings for their admins (an ancestor's admins included), users and viewers", async () => {
    await makeTenant(`${base}-org`, { admins: [{ kind: "User", name: `${base}-boss` }] });
    const ns = await makeTenant(`${base}-dept`, {
      parent: `${base}-org`, admins: [{ kind: "User", name: `${base}-lead` }], users: [{ kind: "Group", name: `${base}-devs` }], viewers: [{ kind: "User", name: `${base}-audit` }],
    });
    const nsObj = await t.client.get(NamespaceRef, ns);
    expect(nsObj.metadata.labels?.[TENANT_LABEL]).toBe(`${base}-dept`);
    const admins = await t.client.get<KubeObject & { roleRef: { name: string }; subjects: Array<{ name: string }> }>(RoleBindingRef, "cellcloud-tenant-admins", ns);
    expect(admins.roleRef.name).toBe("cellcloud-tenant-admin");
    expect(admins.subjects.map((s) => s.name).sort()).toEqual([`${base}-boss`, `${base}-lead`]);
    const users = await t.client.get<KubeObject & { subjects: Array<{ name: string }> }>(RoleBindingRef, "cellcloud-tenant-users", ns);
    expect(users.subjects.map((s) => s.name)).toEqual([`${base}-devs`]);
    const dept = await t.client.get<KubeObject & { status?: { root?: string; path?: string } }>(TenantRef, `${base}-dept`);
    expect(dept.status).toMatchObject({ root: `${base}-org`, path: `${base}-org/${base}-dept` });
  });

  it("refuses a missing parent, a namespace another tenant owns and a platform namespace, naming the field", async () => {
    expect(await refusal(t.client.create(TenantRef, tenant(`${base}-orphan`, { parent: `${base}-nobody` }, LABEL))))
      .toContain(`spec.parent: Tenant "${base}-nobody" not found`);
    expect(await refusal(t.client.create(TenantRef, tenant(`${base}-thief`, { namespaces: [`${base}-dept-ns`] }, LABEL))))
      .toContain(`spec.namespaces: namespace "${base}-dept-ns" already belongs to tenant "${base}-dept"`);
    expect(await refusal(t.client.create(TenantRef, tenant(`${base}-sys`, { namespaces: ["kube-system"] }, LABEL))))
      .toContain(`namespace "kube-system" is reserved`);
    // The manager's own namespace (its certificates) is never a tenant's, adopted or not.
    expect(await refusal(t.client.create(TenantRef, tenant(`${base}-sys2`, { namespaces: [system.name] }, LABEL))))
      .toContain(`namespace "${system.name}" is reserved`);
    // (merge patches: an update carrying a resourceVersion races the controllers' own status writes)
    expect(await refusal(t.client.patch(TenantRef, `${base}-org`, undefined, { spec: { parent: `${base}-dept` } }, "merge"))).toContain("spec.parent is immutable");
    expect(await refusal(t.client.delete(TenantRef, `${base}-org`))).toContain(`Tenant "${base}-org" has departments (${base}-dept): delete them first`);
  });

  it("gives a namespace up when it leaves spec.namespaces: label and role bindings go, another tenant may take it", async () => {
    const ns = await makeTenant(`${base}-lender`, { users: [{ kind: "User", name: `${base}-lender-user` }] });
    await t.client.get(RoleBindingRef, "cellcloud-tenant-users", ns);
    await t.client.patch(TenantRef, `${base}-lender`, undefined, { spec: { namespaces: [] } }, "merge");
    await eventually(async () => !(await t.client.get(NamespaceRef, ns)).metadata.labels?.[TENANT_LABEL], { what: `${ns} unlabelled` });
    await eventually(() => t.client.get(RoleBindingRef, "cellcloud-tenant-users", ns).then(() => false, () => true), { what: "the lender's role binding gone" });
    await eventually(() => t.tenancy.view.tenantOf(ns) === undefined, { what: "the webhook sees the namespace released" });
    // An existing namespace is handed over by a cluster admin, never simply taken.
    expect(await refusal(t.client.create(TenantRef, tenant(`${base}-borrower`, { namespaces: [ns] }, LABEL))))
      .toContain(`namespace "${ns}" exists and is not a tenant namespace; a cluster admin may hand it over with: kubectl annotate namespace ${ns} ${ADOPT_ANNOTATION}=${base}-borrower`);
    await t.client.patch(NamespaceRef, ns, undefined, { metadata: { annotations: { [ADOPT_ANNOTATION]: `${base}-borrower` } } }, "merge");
    expect(await refusal(t.client.create(TenantRef, tenant(`${base}-borrower`, { namespaces: [ns] }, LABEL)))).toBe("accepted");
    await eventually(async () => (await t.client.get(NamespaceRef, ns)).metadata.labels?.[TENANT_LABEL] === `${base}-borrower`, { what: `${ns} labelled for the borrower` });
  });
});

describe("quota", () => {
  it("admits exactly as many of 200 concurrent creates as fit in 64 vCPU, and deleting them releases all usage", async () => {
    const root = `${base}-race`;
    const ns = await makeTenant(root);
    await t.client.create(QuotaRef, quota(root, { tenant: root, hard: { cpu: 64, instances: 1000 } }, LABEL));
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => refusal(t.client.create(InstanceRef, vm(`vm-${i}`, ns)))));
    const admitted = results.filter((r) => r === "accepted").length;
    expect(admitted).toBe(32); // 2 vCPU each
    const denied = results.filter((r) => r !== "accepted");
    expect(denied).toHaveLength(168);
    for (const d of denied) expect(d).toMatch(new RegExp(`quota "${root}" exceeded for cpu: requested 2, used 6[2-4], limit 64`));
    expect((await t.client.list(InstanceRef, {}, ns)).items).toHaveLength(32);
    await quotaUsed(t.client, root, { cpu: "64", instances: "32", memory: "128Gi" });
    // one ledger cell for the tenant's zone and arch, whatever the number of objects; nothing pending
    await eventually(async () => Object.keys((await ledgerOf(t.client, root)).pending).length === 0, { what: "every reservation committed" });
    expect((await ledgerOf(t.client, root)).usage).toEqual({ [`${root} az1 amd64`]: "cpu=64000,memory=128Gi,storage=640Gi,instances=32" });

    await deleteInstances(t.client, [ns]);
    await quotaUsed(t.client, root, { cpu: "0", instances: "0", memory: "0" });
    expect(await ledgerOf(t.client, root)).toEqual({ usage: {}, pending: {} });
  });

  it("enforces every level of a three-level tree, each denial naming its quota", async () => {
    const top = `${base}-corp`;
    const mid = `${base}-rnd`;
    const leaf = `${base}-ml`;
    const nsTop = await makeTenant(top);
    const nsMid = await makeTenant(mid, { parent: top });
    const nsLeaf = await makeTenant(leaf, { parent: mid });
    await t.client.create(QuotaRef, quota(top, { tenant: top, hard: { cpu: 16 } }, LABEL));
    await t.client.create(QuotaRef, quota(mid, { tenant: mid, hard: { cpu: 12 } }, LABEL));
    await t.client.create(QuotaRef, quota(leaf, { tenant: leaf, hard: { cpu: 8 } }, LABEL));
    for (let i = 0; i < 4; i++) expect(await refusal(t.client.create(InstanceRef, vm(`leaf-${i}`, nsLeaf)))).toBe("accepted");
    expect(await refusal(t.client.create(InstanceRef, vm("leaf-4", nsLeaf)))).toContain(`quota "${leaf}" exceeded for cpu: requested 2, used 8, limit 8`);
    for (let i = 0; i < 2; i++) expect(await refusal(t.client.create(InstanceRef, vm(`mid-${i}`, nsMid)))).toBe("accepted");
    expect(await refusal(t.client.create(InstanceRef, vm("mid-2", nsMid)))).toContain(`quota "${mid}" exceeded for cpu: requested 2, used 12, limit 12`);
    for (let i = 0; i < 2; i++) expect(await refusal(t.client.create(InstanceRef, vm(`top-${i}`, nsTop)))).toBe("accepted");
    expect(await refusal(t.client.create(InstanceRef, vm("top-2", nsTop)))).toContain(`quota "${top}" exceeded for cpu: requested 2, used 16, limit 16`);
    // a delete in the leaf releases at every level; once the top is full again, the leaf (with room
    // of its own, and its parent too) is refused by the top's quota
    await t.client.delete(InstanceRef, "leaf-0", nsLeaf);
    await quotaUsed(t.client, leaf, { cpu: "6" });
    await quotaUsed(t.client, mid, { cpu: "10" });
    await quotaUsed(t.client, top, { cpu: "14" });
    expect(await refusal(t.client.create(InstanceRef, vm("top-3", nsTop)))).toBe("accepted");
    expect(await refusal(t.client.create(InstanceRef, vm("leaf-5", nsLeaf)))).toContain(`quota "${top}" exceeded for cpu: requested 2, used 16, limit 16`);
    await quotaUsed(t.client, top, { cpu: "16" });
    await quotaUsed(t.client, mid, { cpu: "10" });
  });

  it("refuses a Quota above its parent's, below its children's sum, or a second one for the same scope", async () => {
    const top = `${base}-corp`;
    const mid = `${base}-rnd`;
    expect(await refusal(t.client.create(QuotaRef, quota(`${mid}-more`, { tenant: `${base}-ml`, zone: "az9", hard: { cpu: 4 } }, LABEL)))).toBe("accepted");
    expect(await refusal(t.client.create(QuotaRef, quota(`${mid}-dup`, { tenant: mid, hard: { cpu: 2 } }, LABEL))))
      .toContain(`tenant "${mid}" already has quota "${mid}"`);
    const setCpu = (cpu: number) => t.client.patch(QuotaRef, mid, undefined, { spec: { hard: { cpu } } }, "merge");
    expect(await refusal(setCpu(20)))
      .toContain(`quota "${mid}": cpu limit 20 is above its parent's quota "${top}" (16)`);
    expect(await refusal(setCpu(6)))
      .toContain(`quota "${mid}": cpu limit 6 is below what its children's quotas add up to, 8`);
    expect(await refusal(t.client.create(QuotaRef, quota(`${base}-ghost`, { tenant: `${base}-ghost`, hard: { cpu: 1 } }, LABEL))))
      .toContain(`spec.tenant: Tenant "${base}-ghost" not found`);
  });

  it("enforces limits per zone and per architecture, and needs a zone when one applies", async () => {
    const z = `${base}-zoned`;
    const ns = await makeTenant(z);
    await t.client.create(QuotaRef, quota(z, { tenant: z, hard: { cpu: 100 } }, LABEL));
    await t.client.create(QuotaRef, quota(`${z}-az1`, { tenant: z, zone: "az1", hard: { cpu: 4 } }, LABEL));
    await t.client.create(QuotaRef, quota(`${z}-arm`, { tenant: z, architecture: "arm64", hard: { cpu: 2 } }, LABEL));
    expect(await refusal(t.client.create(InstanceRef, vm("a1", ns)))).toBe("accepted");
    expect(await refusal(t.client.create(InstanceRef, vm("a2", ns)))).toBe("accepted");
    expect(await refusal(t.client.create(InstanceRef, vm("a3", ns)))).toContain(`quota "${z}-az1" exceeded for cpu in zone az1: requested 2, used 4, limit 4`);
    expect(await refusal(t.client.create(InstanceRef, vm("b1", ns, { zone: "az2" })))).toBe("accepted");
    expect(await refusal(t.client.create(InstanceRef, vm("arm1", ns, { zone: "az2", image: catalog.arm })))).toBe("accepted");
    expect(await refusal(t.client.create(InstanceRef, vm("arm2", ns, { zone: "az2", image: catalog.arm })))).toContain(`quota "${z}-arm" exceeded for cpu on arm64: requested 2, used 2, limit 2`);
    expect(await refusal(t.client.create(InstanceRef, instance("nozone", ns, { flavor: catalog.flavor, image: catalog.x86 }))))
      .toContain(`spec.zone is required: quota "${z}-az1" of tenant "${z}" limits zone az1`);
    await quotaUsed(t.client, `${z}-az1`, { cpu: "4" });
    await quotaUsed(t.client, `${z}-arm`, { cpu: "2" });
    await quotaUsed(t.client, z, { cpu: "8", instances: "4" });
  });

  it("charges a resize the difference and a volume its size; a dry run charges nothing", async () => {
    const r = `${base}-grow`;
    const ns = await makeTenant(r);
    await t.client.create(QuotaRef, quota(r, { tenant: r, hard: { cpu: 6, storage: "150Gi" } }, LABEL));
    await t.client.create(InstanceRef, vm("g", ns));
    await t.client.create(InstanceRef, vm("dry", ns, { flavor: catalog.bigFlavor }), { dryRun: "All" });
    // merge patches: an update carrying a resourceVersion races the controller's finalizer and status writes
    const resize = (flavor: string) => refusal(t.client.patch(InstanceRef, "g", ns, { spec: { flavor } }, "merge"));
    expect(await resize(catalog.fixedFlavor)).toContain(`quota "${r}" exceeded for cpu: requested 6, used 2, limit 6`);
    expect(await resize(catalog.bigFlavor)).toBe("accepted");
    await quotaUsed(t.client, r, { cpu: "4", storage: "20Gi" });
    const vol = { apiVersion: "storage.cellcloud.io/v1alpha1", kind: "Volume", metadata: { name: "data", namespace: ns }, spec: { size: "100Gi", type: "ssd", zone: "az1" } };
    expect(await refusal(t.client.create(VolumeRef, vol))).toBe("accepted");
    expect(await refusal(t.client.create(VolumeRef, { ...vol, metadata: { name: "data2", namespace: ns }, spec: { ...vol.spec, size: "40Gi" } })))
      .toContain(`quota "${r}" exceeded for storage: requested 40Gi, used 120Gi, limit 150Gi`);
    await quotaUsed(t.client, r, { cpu: "4", storage: "120Gi", volumes: "1" });
    await t.client.delete(VolumeRef, "data", ns);
    await quotaUsed(t.client, r, { storage: "20Gi", volumes: "0" });
  });
});

describe("isolation", () => {
  it("keeps tenants apart under real RBAC (impersonation) and refuses another tenant's private image", async () => {
    const a = `${base}-ta`;
    const b = `${base}-tb`;
    const nsA = await makeTenant(a, { users: [{ kind: "User", name: `${a}-user` }] });
    const nsB = await makeTenant(b, { users: [{ kind: "User", name: `${b}-user` }], viewers: [{ kind: "User", name: `${b}-viewer` }] });
    const as = (user: string, args: string[]) => kubectlAsync(["--as", user, ...args]).then((o) => o, (e: { stderr?: string }) => `refused: ${e.stderr ?? String(e)}`);
    const manifest = (ns: string, name: string, image = catalog.x86) => JSON.stringify(vm(name, ns, { image }));
    const create = (user: string, ns: string, name: string, image?: string) => new Promise<string>((resolve) => {
      const child = execFile(`${binDir}/kubectl`, ["--kubeconfig", inject("kubeconfig"), "--as", user, "create", "-f", "-"], { encoding: "utf8" },
        (err, stdout, stderr) => resolve(err ? `refused: ${stderr}` : stdout));
      child.stdin?.end(manifest(ns, name, image));
    });
    expect(await create(`${a}-user`, nsA, "mine")).toContain("created");
    expect(await as(`${a}-user`, ["get", "ecs", "-n", nsA, "-o", "name"])).toContain("instance.compute.cellcloud.io/mine");
    expect(await as(`${a}-user`, ["get", "ecs", "-n", nsB])).toContain(`cannot list resource "instances" in API group "compute.cellcloud.io" in the namespace "${nsB}"`);
    expect(await create(`${a}-user`, nsB, "intruder")).toMatch(/refused: .*forbidden.*cannot create resource "instances"/s);
    expect(await as(`${b}-viewer`, ["get", "ecs", "-n", nsB, "-o", "name"])).not.toContain("refused");
    expect(await create(`${b}-viewer`, nsB, "viewer-vm")).toMatch(/refused: .*forbidden/s);
    expect(await as(`${a}-user`, ["get", "flavors", catalog.flavor, "-o", "name"])).toContain(catalog.flavor);

    // A tenant's own image lives in its namespace: the tenant's user makes it, nobody else reads it.
    const image = `${base}-private`;
    const imageManifest = JSON.stringify({
      apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Image", metadata: { name: image, namespace: nsA, labels: LABEL },
      spec: { os: { type: "linux", distribution: "rhel", version: "9" }, architecture: "amd64", source: { url: "https://images.example.com/rhel.img" } },
    });
    expect(await new Promise<string>((resolve) => {
      const child = execFile(`${binDir}/kubectl`, ["--kubeconfig", inject("kubeconfig"), "--as", `${a}-user`, "create", "-f", "-"], { encoding: "utf8" },
        (err, stdout, stderr) => resolve(err ? `refused: ${stderr}` : stdout));
      child.stdin?.end(imageManifest);
    })).toContain("created");
    await eventually(() => t.m.mgr.informer(ImageRef).get(`${nsA}/${image}`), { what: "image in the webhook's cache" });
    expect(await as(`${a}-user`, ["get", "images", "-n", nsA, "-o", "name"])).toContain(image);
    // another tenant can neither list nor get it (its URL and owner stay private), nor list every namespace's images
    expect(await as(`${b}-user`, ["get", "images", "-n", nsA])).toMatch(/refused: .*forbidden/s);
    expect(await as(`${b}-user`, ["get", "image", image, "-n", nsA])).toMatch(/refused: .*forbidden/s);
    expect(await as(`${b}-viewer`, ["get", "images", "-A"])).toMatch(/refused: .*forbidden/s);
    // ...while the public catalog is open to every signed-in user
    expect(await as(`${b}-user`, ["get", "images", "-n", PUBLIC_IMAGE_NAMESPACE, "-o", "name"])).toContain(catalog.x86);
    expect(await create(`${a}-user`, nsA, "private-ok", image)).toContain("created");
    // naming it by namespace does not help another tenant, and does not tell it whether the image exists
    const notShared = (ref: string) => `spec.image: Image "${ref}" not found, or not shared with tenant "${b}"`;
    expect(await create(`${b}-user`, nsB, "private-no", `${nsA}/${image}`)).toContain(notShared(`${nsA}/${image}`));
    expect(await create(`${b}-user`, nsB, "private-no", `${nsA}/no-such-image`)).toContain(notShared(`${nsA}/no-such-image`));
    expect(await create(`${b}-user`, nsB, "private-no", image)).toContain(`spec.image: Image "${image}" not found in namespace ${nsB} or the public catalog`);
    await t.client.patch(ImageRef, image, nsA, { spec: { sharedWith: [b] } }, "merge");
    await eventually(() => t.m.mgr.informer<KubeObject & { spec: { sharedWith?: string[] } }>(ImageRef).get(`${nsA}/${image}`)?.spec.sharedWith?.includes(b), { what: "shared image in the webhook's cache" });
    expect(await create(`${b}-user`, nsB, "shared-ok", `${nsA}/${image}`)).toContain("created");
  });

  it("lets only an admin approve an order of a tenant in Approval mode", async () => {
    const ap = `${base}-appr`;
    const ns = await makeTenant(ap, { orderMode: "Approval", admins: [{ kind: "User", name: `${ap}-admin` }], users: [{ kind: "User", name: `${ap}-user` }] });
    await t.client.create(InstanceRef, vm("order", ns));
    const order = await t.client.get(InstanceRef, "order", ns);
    expect(order.metadata.annotations?.[APPROVAL_REQUIRED]).toBe("true");
    expect(order.metadata.finalizers).toContain("tenancy.cellcloud.io/quota");
    const annotate = (user: string, args: string[]) =>
      kubectlAsync(["--as", user, "annotate", "ecs", "order", "-n", ns, ...args]).then((o) => o, (e: { stderr?: string }) => `refused: ${e.stderr ?? String(e)}`);
    expect(await annotate(`${ap}-user`, [`${APPROVED_BY}=${ap}-user`]))
      .toContain(`user "${ap}-user" may not approve instances in namespace ${ns}`);
    expect(await annotate(`${ap}-user`, [`${APPROVAL_REQUIRED}-`])).toContain("may not approve");
    const approved = (status: string) => eventually(async () => {
      const o = await t.client.get<KubeObject & { status?: { conditions?: Array<{ type: string; status: string; reason: string; message: string }> } }>(InstanceRef, "order", ns);
      const c = o.status?.conditions?.find((x) => x.type === "Approved");
      return c?.status === status && c;
    }, { what: `order Approved=${status}` });
    expect(await approved("False")).toMatchObject({ reason: "AwaitingApproval" });
    expect(await annotate(`${ap}-admin`, [`${APPROVED_BY}=${ap}-admin`])).toContain("annotated");
    expect(await approved("True")).toMatchObject({ reason: "Approved", message: `approved by ${ap}-admin` });
  });
});
