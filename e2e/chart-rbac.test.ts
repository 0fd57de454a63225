// The chart's RBAC is exactly what the manager needs: the smoke suite passes with a manager that
// holds only the chart's ServiceAccount token (nothing is missing), and every verb on every resource
// the chart grants is used in that run, as the manager's own request log shows (nothing is excess).
// Permissions the apiserver checks without a request of their own (blockOwnerDeletion needs update
// on <kind>/finalizers) are proven by taking them away: the smoke suite must then fail.
// CELLCLOUD_RBAC_CUT=1 takes away every verb of every rule in turn (slow: a smoke run each).
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { clients, kubectl, uniqueName, useNamespace } from "./support/kube.ts";
import { spawnManager, stopProcess, type ManagerProcess } from "./support/manager.ts";
import { binDir, repoRoot } from "./support/plane.ts";
import { freePorts } from "./support/tenancy.ts";
import { SMOKE_CONTROLLERS, cleanSmoke, runSmoke, smokeBillingArgs, smokeWebhookArgs, type SmokeSection } from "./support/smoke.ts";
import { scratchLedger } from "./support/billing.ts";

interface Rule { apiGroups: string[]; resources: string[]; verbs: string[] }
interface Doc { kind: string; metadata: { name: string; namespace?: string }; rules?: Rule[] }

const releaseNs = useNamespace("cellcloud-system");
const work = useNamespace("rbac-smoke");
const release = uniqueName("rbac");
let docs: Doc[] = [];
let saKubeconfig = "";
let running: ManagerProcess | undefined;

/** The chart's own ServiceAccount and RBAC, rendered by the pinned helm for this release. */
function renderRbac(): Doc[] {
  const out = execFileSync(`${binDir}/helm`, [
    "template", release, `${repoRoot}/charts/cellcloud`, "--namespace", releaseNs.name, "--kube-version", "1.34.2",
    "--set", "demo.enabled=true", // the smoke suite drives the runtime through the demo Widget
    "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml", "--show-only", "templates/admission-policy.yaml",
  ], { encoding: "utf8" });
  return parseAllDocuments(out).map((d) => d.toJSON() as Doc).filter(Boolean);
}

const roles = () => docs.filter((d) => d.kind === "ClusterRole" || d.kind === "Role");
/** The chart's webhook ClusterRole, which owns the webhook configurations. */
const serviceAccount = () => docs.find((d) => d.kind === "ServiceAccount")?.metadata.name ?? "";
const webhookRole = () => docs.find((d) => d.kind === "ClusterRole" && d.metadata.name.endsWith("-webhook"))?.metadata.name ?? "";
const apply = (objs: Doc[]) => kubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=rbac-test", "-f", "-"], objs.map((o) => stringify(o)).join("---\n"));

function tokenKubeconfig(token: string): string {
  const admin = JSON.parse(kubectl(["config", "view", "--raw", "-o", "json"])) as { clusters: Array<{ cluster: Record<string, string> }> };
  const path = join(mkdtempSync(join(tmpdir(), "cellcloud-rbac-")), "kubeconfig");
  writeFileSync(path, stringify({
    apiVersion: "v1", kind: "Config", "current-context": "sa",
    clusters: [{ name: "local", cluster: admin.clusters[0]!.cluster }],
    users: [{ name: "sa", user: { token } }],
    contexts: [{ name: "sa", context: { cluster: "local", user: "sa" } }],
  }), { mode: 0o600 });
  return path;
}


/** Runs the smoke suite against a manager holding the chart's token; returns the manager's output (trace logs). */
async function smokeAs(prefix: string, timeoutMs: number, sections?: readonly SmokeSection[], stopAtForbidden = false): Promise<string> {
  // free ports each time: a run per rule verb needs more ports than a fixed range can spare
  const [metricsPort, healthPort, webhookPort] = (await freePorts(3)) as [number, number, number];
  const ledger = await scratchLedger("rbac");
  const manager = spawnManager({
    leaseId: `${release}-${prefix}`, metricsPort, healthPort,
    controllers: SMOKE_CONTROLLERS.join(","),
    extraArgs: [
      `--kubeconfig=${saKubeconfig}`, `--leader-election-namespace=${releaseNs.name}`, "--log-level=trace", ...smokeWebhookArgs(webhookPort, releaseNs.name),
      `--webhook-owner-clusterrole=${webhookRole()}`, `--service-account=${releaseNs.name}/${serviceAccount()}`, ...smokeBillingArgs(ledger.url),
    ],
  });
  running = manager;
  // a cut run ends at the manager's first refused request: the cut took something it needs (waiting
  // for the suite to time out on what that request would have done says no more, only later)
  let watch: NodeJS.Timeout | undefined;
  const refused = new Promise<never>((_, reject) => {
    if (!stopAtForbidden) return;
    watch = setInterval(() => {
      const line = manager.output().split("\n").find((l) => l.includes('"msg":"api request"') && /"code":40[13]\b/.test(l));
      if (line) reject(new Error(`the manager was refused a request: ${line}`));
    }, 100);
  });
  refused.catch(() => undefined);
  try {
    await Promise.race([refused, runSmoke({
      namespace: work.name, prefix, timeoutMs, metricsUrl: manager.metricsUrl, ...(sections ? { sections } : {}),
      lease: { namespace: releaseNs.name, name: `${release}-${prefix}` },
      webhook: { namespace: releaseNs.name, rotates: true },
      managerServiceAccount: { namespace: releaseNs.name, name: serviceAccount() }, ledger: ledger.url,
    })]);
    return manager.output();
  } catch (e) {
    // the manager's last words say why (a refused request, a crash): keep them with the failure
    const tail = manager.output().split("\n").filter((l) => !l.includes('"api request"')).slice(-40).join("\n");
    throw new Error(`${e instanceof Error ? e.message : String(e)}\nmanager output (last lines):\n${tail}`, { cause: e });
  } finally {
    clearInterval(watch);
    manager.child.kill("SIGKILL");
    running = undefined;
    await ledger.drop();
  }
}

/** "group resource verb" of every request the manager made that the apiserver authorized. */
function usedPermissions(output: string): Set<string> {
  const used = new Set<string>();
  for (const line of output.split("\n")) {
    if (!line.startsWith("{")) continue;
    const r = JSON.parse(line) as { msg?: string; code?: number; group?: string; resource?: string; verb?: string };
    // Only 401 and 403 mean "not allowed"; anything else (a 409 AlreadyExists included) got past authorization.
    if (r.msg !== "api request" || !r.resource || r.code === undefined || r.code === 401 || r.code === 403) continue;
    used.add(`${r.group} ${r.resource} ${r.verb}`);
    // A server-side apply that creates the object (201) is authorized for create as well as patch.
    if (r.verb === "patch" && r.code === 201) used.add(`${r.group} ${r.resource} create`);
  }
  return used;
}

/** Takes one verb of one rule away and runs the smoke suite; true when the suite failed or the manager was refused a request (the verb is needed). */
async function neededWhenCut(role: Doc, r: number, verb: string, i: number): Promise<boolean> {
  const rules = structuredClone(role.rules!);
  rules[r]!.verbs = rules[r]!.verbs.filter((v) => v !== verb);
  apply([{ ...role, rules: rules.filter((x) => x.verbs.length > 0) }]);
  try {
    return await smokeAs(`cut${i}`, 8_000, sectionsUsing(role.rules![r]!.resources), true).then(() => false, () => true);
  } finally {
    apply([role]);
    await cleanSmoke(work.name);
  }
}

/**
 * The smoke parts that use a permission checked without a request of its own (all parts for any
 * other): a cut run need only run them to fail, so each takes seconds, not a whole smoke run.
 */
function sectionsUsing(resources: readonly string[]): SmokeSection[] | undefined {
  const part: Record<string, SmokeSection> = {
    "widgets/finalizers": "runtime", "instances/finalizers": "platform", "volumes/finalizers": "platform",
    "loadbalancers/finalizers": "network", "dbinstances/finalizers": "database", clusterroles: "tenancy",
    "mqinstances/finalizers": "messaging", "mqusers/finalizers": "messaging",
  };
  const parts = resources.map((r) => part[r]);
  return parts.every((p): p is SmokeSection => p !== undefined) ? [...new Set(parts)] : undefined;
}

// blockOwnerDeletion needs update on <kind>/finalizers, and binding a ClusterRole one does not hold needs bind on it
const invisibleInRequests = (resource: string) => resource.endsWith("/finalizers") || resource === "clusterroles";

beforeAll(async () => {
  docs = renderRbac();
  apply(docs);
  const sa = docs.find((d) => d.kind === "ServiceAccount")!.metadata.name;
  const tr = await clients().core.createNamespacedServiceAccountToken({
    name: sa, namespace: releaseNs.name, body: { spec: { expirationSeconds: 3600 } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error("TokenRequest returned no token");
  saKubeconfig = tokenKubeconfig(token);
});

afterAll(async () => {
  // dead before its webhook configurations are deleted (alive, it registers them again)
  await stopProcess(running);
  await cleanSmoke(work.name);
  kubectl(["delete", "clusterrole,clusterrolebinding,validatingadmissionpolicy,validatingadmissionpolicybinding",
    "-l", `app.kubernetes.io/instance=${release}`, "--ignore-not-found"]);
});

/** A server-side dry-run create of `obj` as the manager's ServiceAccount: "" when admitted, else the refusal. */
function createAsManager(obj: Record<string, unknown>): string {
  try {
    execFileSync(`${binDir}/kubectl`, ["--kubeconfig", saKubeconfig, "create", "--dry-run=server", "-f", "-"],
      { input: JSON.stringify(obj), encoding: "utf8", stdio: ["pipe", "pipe", "pipe"] });
    return "";
  } catch (e) {
    return String((e as { stderr?: string }).stderr ?? e);
  }
}

/** The same for a pod with these labels (and scheduler). */
const podAsManager = (labels: Record<string, string>, schedulerName?: string) => createAsManager({
  apiVersion: "v1", kind: "Pod", metadata: { generateName: "scope-", namespace: work.name, labels },
  spec: { ...(schedulerName ? { schedulerName } : {}), containers: [{ name: "c", image: "registry.k8s.io/pause:3.10" }] },
});

const haproxy = (labels: Record<string, string>, more: { volumes?: unknown[]; image?: string } = {}) => ({
  apiVersion: "apps/v1", kind: "Deployment", metadata: { generateName: "scope-", namespace: work.name, labels },
  spec: {
    selector: { matchLabels: { app: "x" } },
    template: { metadata: { labels: { app: "x" } }, spec: { containers: [{ name: "haproxy", image: more.image ?? "docker.io/library/haproxy:2.6" }], ...(more.volumes ? { volumes: more.volumes } : {}) } },
  },
});

describe("chart RBAC", () => {
  let output = "";

  it("lets a manager holding only the chart's ServiceAccount pass the smoke suite", async () => {
    output = await smokeAs("full", 30_000);
  });

  it("grants nothing the manager does not use: every verb on every resource is exercised", () => {
    expect(output, "the full smoke run must pass first").not.toBe("");
    const used = usedPermissions(output);
    const unused = roles().flatMap((role) => (role.rules ?? []).flatMap((rule) => rule.apiGroups.flatMap((group) => rule.resources
      .filter((resource) => !invisibleInRequests(resource))
      .flatMap((resource) => rule.verbs.map((verb) => `${group} ${resource} ${verb}`)))))
      .filter((p) => !used.has(p));
    // Any entry here is a permission the smoke run never used: remove it from the chart, or add the step that needs it.
    expect(unused).toEqual([]);
  });

  it("fails the smoke suite when a permission checked without a request of its own is removed", async () => {
    const cases = roles().flatMap((role) => (role.rules ?? []).flatMap((rule, r) =>
      rule.resources.every(invisibleInRequests) ? rule.verbs.map((verb) => ({ role, r, verb })) : []));
    expect(cases.length).toBeGreaterThan(0);
    const survivors: string[] = [];
    for (const [i, { role, r, verb }] of cases.entries()) {
      if (!(await neededWhenCut(role, r, verb, i))) survivors.push(`${role.kind} ${role.rules![r]!.resources.join(",")}: -${verb}`);
    }
    expect(survivors).toEqual([]);
  }, 300_000);

  it("keeps the manager's ServiceAccount to CellCloud's own pods, whatever its RBAC allows", async () => {
    // the policy is enforced a moment after it is created: wait for it to refuse before judging
    await expect.poll(() => podAsManager({ app: "someone-elses" }), { timeout: 15_000, interval: 250 })
      .toContain("may only write its own launcher pods");
    expect(podAsManager({ "app.kubernetes.io/managed-by": "cellcloud" })).toBe("");
    expect(podAsManager({}, "cellcloud-scheduler")).toBe("");
  });

  it("keeps its Deployments, Services and EndpointSlices to load balancers' data planes", () => {
    const lb = { "slb.cellcloud.io/loadbalancer": "web" };
    expect(createAsManager(haproxy(lb))).toBe("");
    expect(createAsManager(haproxy({}))).toContain("may only write load balancers' HAProxy Deployments");
    expect(createAsManager(haproxy(lb, { image: "docker.io/library/busybox:1" }))).toContain("may only write load balancers' HAProxy Deployments");
    expect(createAsManager(haproxy(lb, { volumes: [{ name: "root", hostPath: { path: "/" } }] }))).toContain("no host path");
    const svc = (labels: Record<string, string>, cls?: string) => ({
      apiVersion: "v1", kind: "Service", metadata: { generateName: "scope-", namespace: work.name, labels },
      spec: { type: "LoadBalancer", ...(cls ? { loadBalancerClass: cls } : {}), ports: [{ port: 80 }] },
    });
    expect(createAsManager(svc(lb, "slb.cellcloud.io"))).toBe("");
    expect(createAsManager(svc(lb))).toContain("class slb.cellcloud.io");
    const slice = (managedBy: string) => ({
      apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", metadata: { generateName: "scope-", namespace: work.name, labels: { "endpointslice.kubernetes.io/managed-by": managedBy } },
      addressType: "IPv4", endpoints: [],
    });
    expect(createAsManager(slice("slb.cellcloud.io"))).toBe("");
    expect(createAsManager(slice("endpointslice-controller.k8s.io"))).toContain("managed-by slb.cellcloud.io");
  });

  it.runIf(process.env.CELLCLOUD_RBAC_CUT === "1")("fails the smoke suite when any one verb of any rule is removed", async () => {
    const cases = roles().flatMap((role) => (role.rules ?? []).flatMap((rule, r) => rule.verbs.map((verb) => ({ role, r, verb }))));
    const survivors: string[] = [];
    for (const [i, { role, r, verb }] of cases.entries()) {
      if (!(await neededWhenCut(role, r, verb, i))) survivors.push(`${role.kind} ${role.rules![r]!.resources.join(",")}: -${verb}`);
    }
    // Any entry here is a permission the manager does not need: remove it from the chart.
    expect(survivors).toEqual([]);
  }, 1_800_000);
});
