// hack/up and hack/down as a user relies on them: a crashed etcd or kube-apiserver is restored by
// running `up` again with every object kept; `up` is idempotent; `down` leaves no process behind.
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";
import { clients, eventually, kubeConfig, useNamespace } from "./support/kube.ts";
import { disrupt, hack, hackEnv, isAlive, pidOf, repoRoot } from "./support/plane.ts";

// Killing components happens on the disrupt plane, never under the other suites.
beforeAll(() => { disrupt.up(); });
const ns = useNamespace("lifecycle", () => disrupt.kubeconfig);
const admin = () => clients(kubeConfig(disrupt.kubeconfig));

describe.each(["etcd", "kube-apiserver"])("after kill -9 of %s", (component) => {
  it("`hack/up` restores a working plane without losing objects", async () => {
    const { core } = admin();
    const name = `before-${component}`;
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name }, data: { k: "v" } } });
    const stateDir = disrupt.stateDir;
    const pid = pidOf(stateDir, component);
    process.kill(pid, "SIGKILL");
    await eventually(() => !isAlive(pid), { what: `${component} to die` });

    disrupt.up();

    const newPid = pidOf(stateDir, component);
    expect(newPid).not.toBe(pid);
    expect(isAlive(newPid)).toBe(true);
    const fresh = admin().core;
    const cm = await eventually(() => fresh.readNamespacedConfigMap({ name, namespace: ns.name }), { what: "old object" });
    expect(cm.data).toEqual({ k: "v" });
    await fresh.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: `after-${component}` } } });
  });
});

describe("a separate instance through up, up, down", () => {
  const env = hackEnv("lifecycle", { CELLCLOUD_PORT_BASE: "16600" });
  const state = `${repoRoot}/.state/lifecycle`;
  const components = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "dataplane", "billing-db"];
  const ours = () =>
    readdirSync("/proc")
      .filter((d) => /^\d+$/.test(d))
      .filter((d) => {
        try {
          return readFileSync(`/proc/${d}/cmdline`, "utf8").includes(`${state}/`);
        } catch {
          return false;
        }
      })
      .map(Number);

  it("reuses healthy processes on a second up and leaves none after down", () => {
    rmSync(state, { recursive: true, force: true });
    try {
      hack("up", ["--plane-only", "--quiet"], env);
      const first = components.map((c) => pidOf(state, c));
      expect(first.every(isAlive)).toBe(true);
      const version = execFileSync(`${repoRoot}/hack/kubectl`, ["get", "--raw", "/version"], { env, encoding: "utf8" });
      expect(JSON.parse(version).gitVersion).toMatch(/^v1\.34\./);

      const log = hack("up", ["--plane-only"], env);
      expect(components.map((c) => pidOf(state, c))).toEqual(first);
      expect(log).toContain(`export KUBECONFIG=${state}/kubeconfig`);

      hack("down", [], env);
      expect(first.filter(isAlive)).toEqual([]);
      expect(ours()).toEqual([]);
    } finally {
      hack("down", [], env);
      rmSync(state, { recursive: true, force: true });
    }
  });
});
