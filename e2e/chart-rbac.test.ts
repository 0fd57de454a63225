// The chart's RBAC is exactly what the manager needs: the smoke suite passes with a manager that
// holds only the chart's ServiceAccount token, and fails when any single verb of any rule is taken
// away (so no permission is missing, and none is excess).
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify } from "yaml";
import { clients, kubectl, uniqueName, useNamespace } from "./support/kube.ts";
import { spawnManager, type ManagerProcess } from "./support/manager.ts";
import { binDir, repoRoot } from "./support/plane.ts";
import { SMOKE_CONTROLLERS, cleanSmoke, runSmoke } from "./support/smoke.ts";

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
    "--show-only", "templates/serviceaccount.yaml", "--show-only", "templates/rbac.yaml",
  ], { encoding: "utf8" });
  return parseAllDocuments(out).map((d) => d.toJSON() as Doc).filter(Boolean);
}

const roles = () => docs.filter((d) => d.kind === "ClusterRole" || d.kind === "Role");
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

/** Two ports nothing listens on now: a run per rule verb needs more ports than a fixed range can spare. */
async function freePorts(): Promise<[number, number]> {
  const servers = [createServer(), createServer()];
  const ports = await Promise.all(servers.map((s) => new Promise<number>((resolve, reject) => {
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => resolve((s.address() as AddressInfo).port));
  })));
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return [ports[0]!, ports[1]!];
}

async function smokeAs(prefix: string, timeoutMs: number): Promise<void> {
  const [metricsPort, healthPort] = await freePorts();
  running = spawnManager({
    leaseId: `${release}-${prefix}`, metricsPort, healthPort,
    controllers: SMOKE_CONTROLLERS.join(","),
    extraArgs: [`--kubeconfig=${saKubeconfig}`, `--leader-election-namespace=${releaseNs.name}`],
  });
  try {
    await runSmoke({
      namespace: work.name, prefix, timeoutMs, metricsUrl: running.metricsUrl,
      lease: { namespace: releaseNs.name, name: `${release}-${prefix}` },
    });
  } finally {
    running.child.kill("SIGKILL");
    running = undefined;
  }
}

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
  running?.child.kill("SIGKILL");
  await cleanSmoke(work.name);
  kubectl(["delete", "clusterrole,clusterrolebinding", "-l", `app.kubernetes.io/instance=${release}`, "--ignore-not-found"]);
});

describe("chart RBAC", () => {
  it("lets a manager holding only the chart's ServiceAccount pass the smoke suite", async () => {
    await smokeAs("full", 30_000);
  });

  it("fails the smoke suite when any one verb of any rule is removed", async () => {
    const cases = roles().flatMap((role) => (role.rules ?? []).flatMap((rule, r) => rule.verbs.map((verb) => ({ role, r, verb }))));
    expect(cases.length).toBeGreaterThan(10);
    const survivors: string[] = [];
    for (const [i, { role, r, verb }] of cases.entries()) {
      const rules = structuredClone(role.rules!);
      rules[r]!.verbs = rules[r]!.verbs.filter((v) => v !== verb);
      const trimmed = { ...role, rules: rules.filter((x) => x.verbs.length > 0) };
      apply([trimmed]);
      const label = `${role.kind} ${rules[r]!.resources.join(",")}: -${verb}`;
      const failed = await smokeAs(`cut${i}`, 8_000).then(() => false, () => true);
      if (!failed) survivors.push(label);
      apply([role]);
      await cleanSmoke(work.name);
    }
    // Any entry here is a permission the manager does not need: remove it from the chart.
    expect(survivors).toEqual([]);
  }, 1_800_000);
});
