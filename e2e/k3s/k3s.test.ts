// The same end-to-end path as e2e/kind, on k3s started by testcontainers: build the image, import it
// into k3s's containerd, `helm install` with KWOK, apply examples/, wait for Ready, run the smoke
// suite. Skipped with one line where no container engine runs (as on CellCloud's build machines).
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, it } from "vitest";
import { binDir, repoRoot } from "../support/plane.ts";
import { runSmoke } from "../support/smoke.ts";

const K3S_IMAGE = "rancher/k3s:v1.34.1-k3s1";
const docker = (() => {
  try {
    execFileSync("docker", ["info"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!docker) console.log("e2e-k3s: skipped: no container engine here ('docker info' failed)");

describe.skipIf(!docker)("CellCloud on k3s (testcontainers)", () => {
  const work = mkdtempSync(join(tmpdir(), "cellcloud-k3s-"));
  const kubeconfig = join(work, "kubeconfig");
  const bin = binDir;
  const run = (cmd: string, args: string[]) => execFileSync(cmd, args, { cwd: repoRoot, stdio: "inherit", env: { ...process.env, KUBECONFIG: kubeconfig } });
  let stop: (() => Promise<unknown>) | undefined;

  beforeAll(async () => {
    const { K3sContainer } = await import("@testcontainers/k3s");
    run("docker", ["build", "-t", "cellcloud/manager:e2e", "."]);
    run("docker", ["save", "-o", join(work, "manager.tar"), "cellcloud/manager:e2e"]);
    const k3s = await new K3sContainer(K3S_IMAGE)
      .withCopyFilesToContainer([{ source: join(work, "manager.tar"), target: "/tmp/manager.tar" }])
      .start();
    stop = () => k3s.stop();
    await k3s.exec(["k3s", "ctr", "images", "import", "/tmp/manager.tar"]);
    writeFileSync(kubeconfig, k3s.getKubeConfig(), { mode: 0o600 });
    run(`${bin}/helm`, ["install", "cellcloud", "charts/cellcloud", "--namespace", "cellcloud-system", "--create-namespace",
      "--set", "image.repository=cellcloud/manager", "--set", "image.tag=e2e", "--set", "image.pullPolicy=Never",
      "--set", "kwok.enabled=true", "--wait", "--timeout", "5m"]);
    run(`${bin}/kubectl`, ["apply", "-k", "examples/"]);
    const crds = execFileSync(`${bin}/kubectl`, ["get", "crd", "-o", "name"], { encoding: "utf8", env: { ...process.env, KUBECONFIG: kubeconfig } })
      .split("\n").filter((c) => c.endsWith("cellcloud.io"));
    for (const crd of crds) run(`${bin}/kubectl`, ["wait", "--for=condition=Ready", "--all", "--all-namespaces", "--timeout=300s", crd.split("/")[1]!]);
  }, 900_000);

  afterAll(async () => {
    await stop?.();
  });

  it("passes the product smoke suite", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfig);
    execFileSync(`${bin}/kubectl`, ["create", "namespace", "smoke-k3s"], { env: { ...process.env, KUBECONFIG: kubeconfig } });
    await runSmoke({ namespace: "smoke-k3s", prefix: "k3s", timeoutMs: 120_000, kubeConfig: kc, webhook: { namespace: "cellcloud-system", rotates: false } });
  }, 300_000);
});
