// The product smoke suite as a user sees it. Against the local plane it runs a manager of its own;
// against an installed cluster (CELLCLOUD_KUBECONFIG, as e2e/kind and e2e/k3s set it) it checks the
// manager the chart deployed there.
import { afterAll, beforeAll, describe, it } from "vitest";
import { uniqueName, useNamespace } from "./support/kube.ts";
import { spawnManager, type ManagerProcess } from "./support/manager.ts";
import { SMOKE_CONTROLLERS, cleanSmoke, runSmoke, smokeBillingArgs, smokeWebhookArgs } from "./support/smoke.ts";
import { scratchLedger, type ScratchLedger } from "./support/billing.ts";

const external = Boolean(process.env.CELLCLOUD_KUBECONFIG);
const ns = useNamespace("smoke");
const system = useNamespace("smoke-system");
const leaseId = uniqueName("smoke");
let manager: ManagerProcess | undefined;

let ledger: ScratchLedger | undefined;

beforeAll(async () => {
  if (!external) {
    ledger = await scratchLedger("smoke");
    manager = spawnManager({
      leaseId, metricsPort: 16580, healthPort: 16581, controllers: SMOKE_CONTROLLERS.join(","), extraArgs: [...smokeWebhookArgs(16582, system.name), ...smokeBillingArgs(ledger.url)],
    });
  }
});
afterAll(async () => {
  manager?.child.kill("SIGTERM");
  await cleanSmoke(ns.name);
  await ledger?.drop();
});

describe("product smoke suite", () => {
  it("passes", async () => {
    await runSmoke({
      namespace: ns.name, prefix: "smoke", timeoutMs: 60_000,
      webhook: { namespace: manager ? system.name : process.env.CELLCLOUD_NAMESPACE ?? "cellcloud-system", rotates: Boolean(manager) },
      ...(manager ? { metricsUrl: manager.metricsUrl, lease: { namespace: "kube-system", name: leaseId }, ledger: ledger!.url } : {}),
    });
  });
});
