// Two real manager processes share one Lease: only the leader reconciles; after kill -9 of the
// leader the standby takes over within the lease duration (measured, not assumed).
import { afterAll, describe, expect, it } from "vitest";
import { clients, eventually, uniqueName, useNamespace } from "./support/kube.ts";
import { metricValue, spawnManager, type ManagerProcess } from "./support/manager.ts";
import { widgetsIn } from "./support/widgets.ts";

const ns = useNamespace("leader");
const leaseId = uniqueName("cellcloud-le");
const procs: ManagerProcess[] = [];
const LEASE_MS = 15_000;
const RETRY_MS = 2_000;

afterAll(() => {
  for (const p of procs) p.child.kill("SIGKILL");
});

const createWidget = (name: string) => widgetsIn(clients().kc, ns.name).create(name, { size: 1 });
const configMapExists = (name: string) => async () =>
  (await clients().core.readNamespacedConfigMap({ name, namespace: ns.name })).data?.size === "1";
const reconciles = async (p: ManagerProcess) =>
  metricValue(await (await fetch(p.metricsUrl)).text(), "controller_runtime_reconcile_total", 'controller="widget"');
const lease = async () => (await clients().coordination.readNamespacedLease({ name: leaseId, namespace: "kube-system" })).spec;
const holder = async () => (await lease())?.holderIdentity;
const ms = (t: Date | string | undefined) => (t === undefined ? NaN : new Date(t).getTime());

describe("leader election", () => {
  it("lets only the leader reconcile and fails over to the standby after kill -9", async () => {
    const base = 16590;
    procs.push(spawnManager({ leaseId, metricsPort: base, healthPort: base + 1 }));
    await eventually(holder, { what: "a leader" });
    procs.push(spawnManager({ leaseId, metricsPort: base + 2, healthPort: base + 3 }));
    const [first, second] = procs as [ManagerProcess, ManagerProcess];
    await eventually(async () => (await fetch(second.metricsUrl)).ok, { what: "standby metrics endpoint" });
    expect(await holder()).toBe(first.identity);
    // Both are ready (caches synced), though only one leads.
    for (const port of [base + 1, base + 3]) expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);

    await createWidget("one");
    await eventually(configMapExists("one"), { what: "leader to reconcile widget one" });
    expect(await reconciles(first)).toBeGreaterThan(0);
    expect(await reconciles(second)).toBe(0);
    expect(metricValue(await (await fetch(second.metricsUrl)).text(), "leader_election_master_status")).toBe(0);

    // The leader renews with one PUT of the Lease it last wrote (client-go's fast path), no GET:
    // under a loaded apiserver each round trip counts against the renew deadline.
    const leaseCalls = async (verb: string) =>
      metricValue(await (await fetch(first.metricsUrl)).text(), "cellcloud_apiserver_requests_total", `verb="${verb}",resource="leases.coordination.k8s.io"`);
    const [gets, puts] = [await leaseCalls("get"), await leaseCalls("update")];
    await eventually(async () => (await leaseCalls("update")) >= puts + 2, { timeoutMs: 3 * RETRY_MS + 5_000, what: "two renewals" });
    expect(await leaseCalls("get")).toBe(gets);

    // The kill lands at any point of the leader's renewal cycle, and a renewal already on its way
    // to the apiserver still counts: the lease runs from the last renewal the apiserver recorded,
    // not from the kill (CI saw 17.0 s from the kill). So watch the Lease through the kill, keep
    // the leader's last renewTime, and compare the standby's acquireTime with it: both are written
    // on this machine's clock, by the two managers.
    first.child.kill("SIGKILL");
    const killedAt = performance.now();
    let lastRenewal = NaN;
    let taken: Awaited<ReturnType<typeof lease>>;
    await eventually(async () => {
      const spec = await lease();
      if (spec?.holderIdentity === first.identity) lastRenewal = ms(spec.renewTime);
      if (spec?.holderIdentity !== second.identity) return false;
      taken = spec;
      return true;
    }, { timeoutMs: 60_000, intervalMs: 100, what: "standby to take the lease" });
    const afterKillMs = performance.now() - killedAt;
    const expiryToTakeMs = ms(taken!.acquireTime) - lastRenewal;
    console.log(`leader failover: standby took the lease ${(afterKillMs / 1000).toFixed(1)} s after kill -9, its attempt ${(expiryToTakeMs / 1000).toFixed(2)} s after the leader's last renewal (lease ${LEASE_MS / 1000} s, retry ${RETRY_MS / 1000} s)`);
    // The standby watches the Lease, measures expiry on its own clock from when it saw the last
    // renewal and wakes exactly then: only that renewal's PUT and its watch event may add. Without
    // the watch it would notice the renewal on a poll, up to a retry period late.
    expect(Number.isFinite(expiryToTakeMs)).toBe(true);
    expect(expiryToTakeMs).toBeGreaterThanOrEqual(LEASE_MS);
    expect(expiryToTakeMs).toBeLessThanOrEqual(LEASE_MS + 1_000);
    expect(afterKillMs).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + 2_000);

    await createWidget("two");
    await eventually(configMapExists("two"), { what: "new leader to reconcile widget two" });
    expect(await reconciles(second)).toBeGreaterThan(0);
  }, 120_000);

  it("releases the lease on SIGTERM so a standby takes over at once", async () => {
    const [, second] = procs as [ManagerProcess, ManagerProcess];
    const third = spawnManager({ leaseId, metricsPort: 16594, healthPort: 16595 });
    procs.push(third);
    await eventually(async () => (await fetch(third.metricsUrl)).ok, { what: "third manager up" });
    const exited = new Promise<number | null>((r) => second.child.once("exit", (code) => r(code)));
    second.child.kill("SIGTERM");
    const stoppedAt = performance.now();
    expect(await exited).toBe(0);
    await eventually(async () => (await holder()) === third.identity, { timeoutMs: 30_000, intervalMs: 100, what: "third to take the released lease" });
    expect(performance.now() - stoppedAt).toBeLessThan(LEASE_MS);
  }, 60_000);
});
