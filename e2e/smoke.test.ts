// The product smoke suite as a user sees it. Against the local plane it runs a manager of its own;
// against an installed cluster (CELLCLOUD_KUBECONFIG, as e2e/kind and e2e/k3s set it) it checks the
// manager the chart deployed there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chartDashboards, dashboardMetrics, exposedSeries, missingMetrics } from "./support/dashboards.ts";
import { uniqueName, useNamespace } from "./support/kube.ts";
import { spawnManager, type ManagerProcess } from "./support/manager.ts";
import { SMOKE_CONTROLLERS, cleanSmoke, runSmoke, smokeBillingArgs, smokeWebhookArgs } from "./support/smoke.ts";
import { scratchLedger, type ScratchLedger } from "./support/billing.ts";
import { repoRoot } from "./support/plane.ts";

const external = Boolean(process.env.CELLCLOUD_KUBECONFIG);
const ns = useNamespace("smoke");
const system = useNamespace("smoke-system");
const leaseId = uniqueName("smoke");
let manager: ManagerProcess | undefined;

let ledger: ScratchLedger | undefined;
// Every series a scrape showed while the flow ran: a Cell's or a Quota's series go with it, and the
// flow deletes what it made, so one scrape at the end would miss them.
const seen = new Set<string>();
const scrape = async () => {
  if (!manager) return;
  const text = await fetch(manager.metricsUrl).then((r) => r.text(), () => "");
  for (const s of exposedSeries(text)) seen.add(s);
};
let sampler: ReturnType<typeof setInterval> | undefined;

beforeAll(async () => {
  if (!external) {
    ledger = await scratchLedger("smoke");
    manager = spawnManager({
      leaseId, metricsPort: 16580, healthPort: 16581, controllers: SMOKE_CONTROLLERS.join(","), extraArgs: [...smokeWebhookArgs(16582, system.name), ...smokeBillingArgs(ledger.url)],
    });
    sampler = setInterval(() => void scrape(), 3_000);
  }
});
afterAll(async () => {
  clearInterval(sampler);
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

  // After the whole flow: each chart dashboard's queries read only series this manager exported.
  it.skipIf(external)("exports every metric the chart's Grafana dashboards use", async () => {
    clearInterval(sampler);
    await scrape();
    const used = [...chartDashboards(`${repoRoot}/charts/cellcloud/files/dashboards`)].flatMap(([file, d]) => dashboardMetrics(d, file));
    expect(used.length).toBeGreaterThan(0);
    expect(missingMetrics(used, seen), "series the dashboards use that no scrape of the smoke manager showed").toEqual([]);
  });
});
