// Starts (or reuses) the "test" instance of the local control plane once per `vitest run` and hands
// its kubeconfig to the suites. A plane this setup started is stopped afterwards unless
// CELLCLOUD_KEEP_PLANE=1; a plane that was already running is left as it was. With
// CELLCLOUD_KUBECONFIG set, suites run against that cluster instead (e2e/kind, e2e/k3s).
import { execFileSync } from "node:child_process";
import type { TestProject } from "vitest/node";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "../../operators/billing/ledger.ts";
import { disrupt, hackEnv, repoRoot, testStateDir } from "./plane.ts";

declare module "vitest" {
  export interface ProvidedContext {
    kubeconfig: string;
    /** The CA of the apiserver's webhook client certificate ("" on an installed cluster): webhooks under test require it. */
    webhookClientCA: string;
    /** The file with the plane's billing ledger URL ("" on an installed cluster). */
    billingDatabaseUrl: string;
  }
}

export default async function setup(project: TestProject): Promise<() => void> {
  // An installed cluster (kind, k3s, a real one): use it as it is, start nothing.
  const external = process.env.CELLCLOUD_KUBECONFIG;
  if (external) {
    project.provide("kubeconfig", external);
    project.provide("webhookClientCA", "");
    project.provide("billingDatabaseUrl", "");
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
  const ledger = `${testStateDir}/pki/billing-db.url`;
  project.provide("billingDatabaseUrl", ledger);
  await dropScratchLedgers(readFileSync(ledger, "utf8").trim());
  return () => {
    if (process.env.CELLCLOUD_KEEP_PLANE === "1") return;
    if (!wasRunning) execFileSync(`${repoRoot}/hack/down`, { env, stdio: "ignore" });
    if (existsSync(disrupt.stateDir)) execFileSync(`${repoRoot}/hack/down`, { env: disrupt.env(), stdio: "ignore" });
  };
}

/**
 * Drops the scratch ledger databases earlier runs left (e2e/support/billing.ts makes them, named
 * t<creation time in base 36>_…): those over six hours old, so a run beside this one keeps its own.
 */
async function dropScratchLedgers(base: string): Promise<void> {
  const admin = connect(base, { max: 1 });
  try {
    for (const { datname } of await admin<{ datname: string }>`SELECT datname FROM pg_database WHERE datname ~ '^t[0-9a-z]+_'`) {
      if (Date.now() - parseInt(datname.slice(1, datname.indexOf("_")), 36) < 6 * 3_600_000) continue;
      // (refused now and then while autovacuum works in it: the next run drops it)
      await admin.unsafe(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => undefined);
    }
  } finally {
    await admin.end();
  }
}
