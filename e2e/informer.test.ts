// The informer against a real apiserver: an apiserver restart makes a resumed watch "too old"
// (410 Gone) and the informer relists, then follows new changes; transport
// errors re-watch with backoff; resync re-delivers cached objects.
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { Informer, type InformerEvent } from "../operators/runtime/informer.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import { newLogger } from "../operators/runtime/log.ts";
import type { KubeObject, ResourceRef } from "../operators/runtime/types.ts";
import { clients, eventually, kubeConfig, useNamespace } from "./support/kube.ts";
import { disrupt, isAlive, pidOf } from "./support/plane.ts";

// On the disrupt plane: the 410 test restarts kube-apiserver.
beforeAll(() => { disrupt.up(); });
const ns = useNamespace("informer", () => disrupt.kubeconfig);
const admin = () => clients(kubeConfig(disrupt.kubeconfig));
const ConfigMaps: ResourceRef = { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", namespaced: true };
let informer: Informer | undefined;
afterEach(() => informer?.stop());

function start(opts: { resyncMs?: number } = {}) {
  informer = new Informer(new KubeClient(kubeConfig(disrupt.kubeconfig)), ConfigMaps, newLogger("silent"), {
    namespace: ns.name, backoff: { initialMs: 100, maxMs: 1000 }, ...opts,
  });
  const seen: Array<[InformerEvent, string]> = [];
  informer.addHandler((t, o: KubeObject) => seen.push([t, o.metadata.name]));
  informer.start();
  return { informer, seen };
}

describe("informer", () => {
  it("relists after 410 Gone and restarts the watch after transport errors", async () => {
    const { core } = admin();
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: "a" } } });
    const { informer: inf, seen } = start();
    await inf.waitForSync();
    expect(inf.get(`${ns.name}/a`)).toBeDefined();
    // Move etcd's revision past what this namespace-scoped watch has seen, then restart the apiserver:
    // its new watch cache starts at the current revision, so resuming the watch is "too old".
    await core.createNamespacedConfigMap({ namespace: "default", body: { metadata: { generateName: "rev-" } } });
    const pid = pidOf(disrupt.stateDir, "kube-apiserver");
    process.kill(pid, "SIGKILL");
    await eventually(() => !isAlive(pid), { what: "kube-apiserver to die" });
    disrupt.up();
    await eventually(() => inf.relists > 0, { what: "a relist after 410 Gone" });
    expect(inf.restarts).toBeGreaterThan(0);
    await core.deleteNamespacedConfigMap({ name: "a", namespace: ns.name });
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: "b" } } });
    await eventually(() => inf.get(`${ns.name}/b`) && !inf.get(`${ns.name}/a`), { what: "cache to follow new changes" });
    expect(seen).toContainEqual(["delete", "a"]);
  });

  it("keeps indexes in step with adds, updates and deletes", async () => {
    const { core } = admin();
    const { informer: inf } = start();
    inf.addIndexer("tier", (o) => [o.metadata.labels?.tier ?? "none"]);
    await inf.waitForSync();
    for (const [name, tier] of [["i1", "web"], ["i2", "web"], ["i3", "db"]] as const) {
      await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name, labels: { tier } } } });
    }
    const names = (tier: string) => inf.byIndex("tier", tier).map((o) => o.metadata.name).sort();
    await eventually(() => names("web").length === 2 && names("db").length === 1, { what: "index to fill" });
    await core.patchNamespacedConfigMap({ name: "i2", namespace: ns.name, body: [{ op: "replace", path: "/metadata/labels/tier", value: "db" }] });
    await core.deleteNamespacedConfigMap({ name: "i3", namespace: ns.name });
    await eventually(() => names("web").join() === "i1" && names("db").join() === "i2", { what: "index to follow update and delete" });
  });

  it("re-delivers every cached object on resync", async () => {
    const { core } = admin();
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: "steady" } } });
    const { informer: inf, seen } = start({ resyncMs: 300 });
    await inf.waitForSync();
    await eventually(() => seen.filter(([t, n]) => t === "update" && n === "steady").length >= 3, { what: "3 resyncs" });
  });
});
