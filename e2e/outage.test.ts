// The operator runtime through a 20 s kube-apiserver outage, on the disrupt plane: informers
// recover and work pending at the outage completes, without restarting the manager.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clients, eventually, kubeConfig, useNamespace } from "./support/kube.ts";
import { startManager, type InProcessManager } from "./support/manager.ts";
import { disrupt, isAlive, pidOf } from "./support/plane.ts";
import { widgetsIn } from "./support/widgets.ts";

beforeAll(() => { disrupt.up(); });
const ns = useNamespace("outage", () => disrupt.kubeconfig);
let m: InProcessManager;
beforeAll(async () => { m = await startManager(["widget"], disrupt.kubeconfig); });
afterAll(async () => { await m?.mgr.stop(); });

const widgets = () => widgetsIn(kubeConfig(disrupt.kubeconfig), ns.name);
const create = (name: string, size: number) => widgets().create(name, { size });
const configMapSize = async (name: string) =>
  (await clients(kubeConfig(disrupt.kubeconfig)).core.readNamespacedConfigMap({ name, namespace: ns.name })).data?.size;

describe("operator runtime through an apiserver outage", () => {
  it("recovers its informers and completes pending work after 20 s without kube-apiserver", async () => {
    await create("before-outage", 5);
    await eventually(async () => (await configMapSize("before-outage")) === "5", { what: "first reconcile" });
    const pid = pidOf(disrupt.stateDir, "kube-apiserver");
    // Pending work as the apiserver dies.
    await widgets().patch("before-outage", [{ op: "replace", path: "/spec/size", value: 6 }]);
    process.kill(pid, "SIGKILL");
    await eventually(() => !isAlive(pid), { what: "kube-apiserver to die" });
    await new Promise((r) => setTimeout(r, 20_000));
    disrupt.up();
    await create("after-outage", 7);
    await eventually(async () => (await configMapSize("after-outage")) === "7", { timeoutMs: 90_000, what: "a widget created after the outage" });
    await eventually(async () => (await configMapSize("before-outage")) === "6", { timeoutMs: 90_000, what: "the change made at the outage" });
    expect(m.mgr.informerStats().restarts).toBeGreaterThan(0);
  }, 240_000);
});
