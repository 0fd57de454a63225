// The product smoke suite: what every CellCloud install must do, observed from outside with the
// admin client. The chart-RBAC test runs it against a manager that has only the chart's
// permissions, so each step must need (and therefore prove) some of them. Each product issue adds
// its kinds here.
import { EventsV1Api, type KubeConfig } from "@kubernetes/client-node";
import { clients, eventually, eventuallyGone } from "./kube.ts";
import { metricValue } from "./manager.ts";
import { widgetsIn } from "./widgets.ts";


export interface SmokeOptions {
  namespace: string;
  prefix: string;
  timeoutMs?: number;
  /** The Lease the manager under test holds: its renewal must be seen. */
  lease?: { namespace: string; name: string };
  /** The manager's /metrics: its caches must have run without a failed list or watch. */
  metricsUrl?: string;
  /** Another cluster than the harness's (the k3s suite). */
  kubeConfig?: KubeConfig;
}

export async function runSmoke({ namespace, prefix, timeoutMs = 30_000, lease, metricsUrl, kubeConfig }: SmokeOptions): Promise<void> {
  const { kc, core, coordination } = clients(kubeConfig);
  const widgets = widgetsIn(kc, namespace);
  const events = kc.makeApiClient(EventsV1Api);
  const opts = { timeoutMs };
  const ready = async (name: string) => {
    const w = await widgets.read(name);
    return w.status?.conditions?.find((c) => c.type === "Ready")?.status;
  };

  // Leadership: the lease is held and renewed.
  if (lease) {
    const first = await eventually(async () => (await coordination.readNamespacedLease(lease)).spec?.renewTime, { ...opts, what: "lease acquired" });
    await eventually(async () => String((await coordination.readNamespacedLease(lease)).spec?.renewTime) !== String(first), { ...opts, what: "lease renewed" });
  }
  // A widget becomes Ready and gets its owned ConfigMap.
  await widgets.create(`${prefix}-ok`, { size: 2 });
  await eventually(async () => (await ready(`${prefix}-ok`)) === "True", { ...opts, what: "widget Ready" });
  const cm = await core.readNamespacedConfigMap({ name: `${prefix}-ok`, namespace });
  if (cm.metadata?.ownerReferences?.[0]?.kind !== "Widget") throw new Error("ConfigMap is not owned by its Widget");
  // A terminal error shows in Ready=False and as an Event; a repeat adds to the Event's series.
  await widgets.create(`${prefix}-bad`, { size: 1, behavior: "Terminal" });
  await eventually(async () => (await ready(`${prefix}-bad`)) === "False", { ...opts, what: "terminal widget Ready=False" });
  const terminalEvents = async () =>
    (await events.listNamespacedEvent({ namespace })).items.filter((e) => e.regarding?.name === `${prefix}-bad` && e.reason === "BehaviorTerminal");
  await eventually(async () => (await terminalEvents()).length > 0, { ...opts, what: "terminal Event" });
  await widgets.patch(`${prefix}-bad`, [{ op: "replace", path: "/spec/size", value: 3 }]);
  await eventually(async () => (await terminalEvents()).some((e) => (e.series?.count ?? 1) >= 2), { ...opts, what: "Event series count 2" });
  // Drift is repaired: a deleted child comes back (the controller watches what it owns).
  const uid = cm.metadata?.uid;
  await core.deleteNamespacedConfigMap({ name: `${prefix}-ok`, namespace });
  await eventually(async () => (await core.readNamespacedConfigMap({ name: `${prefix}-ok`, namespace })).metadata?.uid !== uid,
    { ...opts, what: "deleted ConfigMap recreated" });
  // Deletion runs the finalizer's cleanup: the ConfigMap goes too.
  await widgets.delete(`${prefix}-ok`);
  await eventuallyGone(() => core.readNamespacedConfigMap({ name: `${prefix}-ok`, namespace }), "ConfigMap cleaned up", timeoutMs);
  if (metricsUrl) {
    const failures = metricValue(await (await fetch(metricsUrl)).text(), "cellcloud_informer_errors_total");
    if (failures > 0) throw new Error(`the manager's informers had ${failures} failed list/watch requests`);
  }
}

/** Removes what a failed smoke run left behind, finalizers included, so namespaces can go. */
export async function cleanSmoke(namespace: string): Promise<void> {
  const widgets = widgetsIn(clients().kc, namespace);
  for (const { metadata: { name } } of await widgets.list()) {
    await widgets.patch(name, [{ op: "remove", path: "/metadata/finalizers" }]).catch(() => undefined);
    await widgets.delete(name).catch(() => undefined);
  }
}
