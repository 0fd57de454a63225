// The operator runtime against the real apiserver, through the demo Widget controller: writes only
// on change, retries with growing delays, terminal errors in Ready, finalizers and deletionPolicy,
// CEL validation and metrics. (Surviving an apiserver outage: e2e/outage.test.ts.)
import { ApiException, EventsV1Api } from "@kubernetes/client-node";
import { Widget } from "../operators/api/demo.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clients, eventually, eventuallyGone, kubectl, useNamespace } from "./support/kube.ts";
import { metricValue, startManager, type InProcessManager } from "./support/manager.ts";
import { widgetsIn, type WidgetObject } from "./support/widgets.ts";
import { ServiceRef } from "../operators/runtime/core.ts";
import { isConflict, KubeClient } from "../operators/runtime/kube.ts";
import { writeStatus } from "../operators/runtime/status.ts";
import type { KubeObject } from "../operators/runtime/types.ts";

const ns = useNamespace("runtime");

let m: InProcessManager;
const widgets = () => widgetsIn(clients().kc, ns.name);
const create = (name: string, spec: Record<string, unknown>) => widgets().create(name, spec);
const read = (name: string) => widgets().read(name);
const patchSpec = (name: string, spec: Record<string, unknown>) => widgets().patch(name, [{ op: "add", path: "/spec", value: spec }]);
const ready = (w: WidgetObject) => w.status?.conditions?.find((c) => c.type === "Ready");
const waitReady = (name: string, status = "True") =>
  eventually(async () => {
    const w = await read(name);
    return ready(w)?.status === status && w.status?.observedGeneration === w.metadata.generation && w;
  }, { what: `widget ${name} Ready=${status}` });

beforeAll(async () => {
  m = await startManager(["widget"]);
});
afterAll(async () => {
  await m?.mgr.stop();
});

describe("operator runtime", () => {
  it("writes status only when it changed: 100 reconciles of an unchanged object make zero writes", async () => {
    await create("steady", { size: 2 });
    const before = await waitReady("steady");
    // The test can read Ready before the manager has seen its own status PATCH return: count from there.
    await eventually(() => m.writes.some((w) => w.endsWith("/widgets/steady/status")), { what: "the manager's status write recorded" });
    const writesBefore = m.writes.length;
    for (let i = 0; i < 100; i++) {
      const n = await m.reconciles();
      m.controllers.widget!.enqueue(`${ns.name}/steady`);
      await eventually(async () => (await m.reconciles()) > n, { intervalMs: 2, what: `reconcile ${i}` });
    }
    expect(m.writes.slice(writesBefore)).toEqual([]);
    expect((await read("steady")).metadata.resourceVersion).toBe(before.metadata.resourceVersion);
  });

  it("retries an ordinary error with growing delays, then recovers", async () => {
    await create("flaky", { size: 1, behavior: "Error" });
    const failures = await eventually(() => { const f = m.failures(ns.name, "flaky"); return f.length >= 7 && f; },
      { intervalMs: 5, what: "7 failed reconciles" });
    expect(failures.some((f) => f.terminal)).toBe(false);
    const times = failures.slice(0, 7).map((f) => f.at);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    // 5 ms · 2^n backoff: 5, 10, 20, 40, 80, 160 ms between attempts (plus request time).
    expect(gaps[5]!).toBeGreaterThan(4 * gaps[1]!);
    expect(gaps[5]!).toBeGreaterThanOrEqual(150);
    await patchSpec("flaky", { size: 1, behavior: "Ok" });
    await waitReady("flaky");
  });

  it("does not retry a TerminalError and shows its reason and message in Ready", async () => {
    await create("doomed", { size: 1, behavior: "Terminal" });
    const w = await waitReady("doomed", "False");
    expect(ready(w)).toMatchObject({ reason: "BehaviorTerminal", message: expect.stringContaining("spec.behavior is Terminal") });
    // Stalled=True makes kstatus (Flux, Argo CD) report Failed rather than forever Progressing.
    expect(w.status?.conditions?.find((c) => c.type === "Stalled")).toMatchObject({ status: "True", reason: "BehaviorTerminal" });
    // Its own writes (finalizer, status) each wake one more reconcile, which fails terminally too;
    // let those settle, then no retry may follow (backoff would retry at 5, 10, 20… ms, ~1.3 s, ~2.6 s).
    await new Promise((r) => setTimeout(r, 1000));
    const failures = m.failures(ns.name, "doomed");
    expect(failures.length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 3000));
    expect(m.failures(ns.name, "doomed")).toEqual(failures);
    expect(failures.every((f) => f.terminal)).toBe(true);
    const events = await clients().core.listNamespacedEvent({ namespace: ns.name, fieldSelector: "involvedObject.name=doomed" });
    expect(events.items.map((e) => e.reason)).toContain("BehaviorTerminal");
  });

  it("aggregates a repeated event into one events.k8s.io Event with a series count", async () => {
    await create("noisy", { size: 1 });
    const w = await waitReady("noisy");
    const obj = { apiVersion: Widget.apiVersion, kind: Widget.kind, metadata: { ...w.metadata, namespace: ns.name } };
    for (let i = 0; i < 3; i++) m.mgr.events.record(obj, "Normal", "Repeated", "the same thing happened again");
    const events = clients().kc.makeApiClient(EventsV1Api);
    const list = await eventually(async () => {
      const l = await events.listNamespacedEvent({ namespace: ns.name, fieldSelector: "reason=Repeated" });
      return l.items.length === 1 && l.items[0]?.series?.count === 3 && l;
    }, { what: "one Event with series.count 3" });
    expect(list.items[0]).toMatchObject({ regarding: { kind: "Widget", name: "noisy" }, reportingController: "cellcloud.io/manager", type: "Normal" });
  });

  it("keeps the finalizer while cleanup fails and retries until it succeeds", async () => {
    const { core } = clients();
    await create("sticky", { size: 1, failCleanup: true });
    await waitReady("sticky");
    await widgets().delete("sticky");
    await eventually(() => m.failures(ns.name, "sticky").filter((f) => !f.terminal).length >= 3, { what: "cleanup retries" });
    expect((await read("sticky")).metadata.finalizers).toContain("demo.cellcloud.io/cleanup");
    expect((await core.readNamespacedConfigMap({ name: "sticky", namespace: ns.name })).data?.size).toBe("1");
    await patchSpec("sticky", { size: 1, failCleanup: false });
    await eventuallyGone(() => read("sticky"), "widget gone after cleanup succeeded");
    await eventuallyGone(() => core.readNamespacedConfigMap({ name: "sticky", namespace: ns.name }), "ConfigMap deleted");
  });

  it("leaves the children of a deletionPolicy: Orphan object", async () => {
    const { core } = clients();
    await create("orphaner", { size: 4, deletionPolicy: "Orphan" });
    await waitReady("orphaner");
    await widgets().delete("orphaner");
    await eventuallyGone(() => read("orphaner"), "widget gone");
    await new Promise((r) => setTimeout(r, 3000)); // give the garbage collector its chance
    const cm = await core.readNamespacedConfigMap({ name: "orphaner", namespace: ns.name });
    expect(cm.data?.size).toBe("4");
    expect(cm.metadata?.ownerReferences ?? []).toEqual([]);
  });

  it("rejects a spec that breaks a CEL rule with a message naming the field", async () => {
    const msg = async (p: Promise<unknown>) => p.then(() => "accepted", (e: unknown) => (e instanceof ApiException ? String(e.body) : String(e)));
    expect(await msg(create("too-big", { size: 30, maxSize: 10 }))).toContain("spec.size must not exceed spec.maxSize");
    expect(await msg(create("bad-size", { size: 0 }))).toMatch(/spec\.size.*1/);
    await create("zoned", { size: 1, zone: "az1" });
    expect(await msg(patchSpec("zoned", { size: 1, zone: "az2" }))).toContain("spec.zone is immutable");
  });

  it("`kubectl explain` shows the schema's descriptions", () => {
    const out = kubectl(["explain", "widgets.spec"]);
    expect(out).toContain("Desired state of the widget.");
    expect(out).toMatch(/deletionPolicy\s+<string>/);
    expect(out).toContain("Orphan leaves it");
  });

  it("exposes controller-runtime's metrics with real values on /metrics", async () => {
    const text = await (await fetch(m.mgr.metricsUrl!)).text();
    expect(metricValue(text, "controller_runtime_reconcile_total", 'controller="widget"')).toBeGreaterThan(100);
    expect(metricValue(text, "controller_runtime_reconcile_errors_total", 'controller="widget"')).toBeGreaterThan(5);
    expect(metricValue(text, "controller_runtime_terminal_reconcile_errors_total")).toBeGreaterThanOrEqual(1);
    expect(metricValue(text, "controller_runtime_reconcile_time_seconds_count")).toBeGreaterThan(100);
    expect(metricValue(text, "workqueue_adds_total", 'name="widget"')).toBeGreaterThan(100);
    expect(metricValue(text, "workqueue_retries_total", 'name="widget"')).toBeGreaterThan(5);
    expect(text).toContain("workqueue_depth{");
    expect(metricValue(text, "workqueue_queue_duration_seconds_count")).toBeGreaterThan(0);
    expect(metricValue(text, "leader_election_master_status")).toBe(1);
  });

  it("refuses a guarded status write made from a stale view, and lets one from the current view through", async () => {
    // a Service: nothing writes its status, so only this test's writes race
    const client = new KubeClient(clients().kc);
    await client.create(ServiceRef, { apiVersion: "v1", kind: "Service", metadata: { name: "guarded", namespace: ns.name }, spec: { ports: [{ port: 80 }] } });
    const stale = await client.get<KubeObject>(ServiceRef, "guarded", ns.name);
    const probe = (reason: string) => ({ conditions: [{ type: "Probe", status: "True" as const, reason, message: reason, lastTransitionTime: "2026-12-03T00:00:00Z" }] });
    const guard = { fields: ["conditions"] };
    const current = await writeStatus(client, ServiceRef, stale, probe("First"), { guard });
    expect(current?.metadata.resourceVersion).not.toBe(stale.metadata.resourceVersion);
    // the same stale view again: a change of a guarded field, and a bare check, both meet a conflict
    await expect(writeStatus(client, ServiceRef, stale, probe("Second"), { guard })).rejects.toSatisfy(isConflict);
    await expect(writeStatus(client, ServiceRef, stale, stale.status as never, { guard: { always: true } })).rejects.toSatisfy(isConflict);
    const reasons = async () => ((await client.get<KubeObject>(ServiceRef, "guarded", ns.name)).status as { conditions?: Array<{ reason: string }> }).conditions?.map((c) => c.reason);
    expect(await reasons()).toEqual(["First"]);
    // from the current view the check passes and a change lands
    await writeStatus(client, ServiceRef, current!, current!.status as never, { guard: { always: true } });
    await writeStatus(client, ServiceRef, current!, probe("Second"), { guard });
    expect(await reasons()).toEqual(["Second"]);
  });
});
