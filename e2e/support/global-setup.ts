// Starts (or reuses) the "test" instance of the local control plane once per `vitest run` and hands
// its kubeconfig to the suites. A plane this setup started is stopped afterwards unless
// CELLCLOUD_KEEP_PLANE=1; a plane that was already running is left as it was. With
// CELLCLOUD_KUBECONFIG set, suites run against that cluster instead (e2e/kind, e2e/k3s).
import { execFileSync } from "node:child_process";
import type { TestProject } from "vitest/node";
import { existsSync } from "node:fs";
import { disrupt, hackEnv, repoRoot, testStateDir } from "./plane.ts";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
    /** The CA of the apiserver's webhook client certificate ("" on an installed cluster): webhooks under test require it. */
    webhookClientCA: string;
  }
}

export default function setup(project: TestProject): () => void {
  // An installed cluster (kind, k3s, a real one): use it as it is, start nothing.
  const external = process.env.CELLCLOUD_KUBECONFIG;
  if (external) {
    project.provide("kubeconfig", external);
    project.provide("webhookClientCA", "");
    return () => {};
  }
  const env = hackEnv();
  const run = (script: string, args: string[] = []) =>
    execFileSync(`${repoRoot}/hack/${script}`, args, { env, stdio: ["ignore", "ignore", "inherit"] });
  let wasRunning = true;
  try {
    run("status", ["-q"]);
  } catch {
    wasRunning = false;
  }
  run("up", ["--plane-only", "--quiet"]);
  project.provide("kubeconfig", `${testStateDir}/kubeconfig`);
  project.provide("webhookClientCA", `${testStateDir}/pki/webhook-client-ca.crt`);
  return () => {
    if (process.env.CELLCLOUD_KEEP_PLANE === "1") return;
    if (!wasRunning) execFileSync(`${repoRoot}/hack/down`, { env, stdio: "ignore" });
    if (existsSync(disrupt.stateDir)) execFileSync(`${repoRoot}/hack/down`, { env: disrupt.env(), stdio: "ignore" });
  };
}
