// The local data plane agent as a kubelet for pods labelled cellcloud.io/data-plane=local: KWOK
// leaves them alone; the agent runs their process on a loopback address of its own, reports Ready,
// restart counts and exit codes, refuses images it cannot run and volumes it cannot fill with the
// kubelet's reasons, and on deletion stops the process gracefully (SIGTERM first) before the pod goes.
import { readFileSync, readdirSync } from "node:fs";
import type * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clients, eventually, eventuallyGone, uniqueName, useNamespace } from "./support/kube.ts";
import { hostsReady, kwokNode } from "./support/nodes.ts";
import { testStateDir } from "./support/plane.ts";

const { core } = clients();
const ns = useNamespace("dataplane");
const node = uniqueName("dp-host");

const pod = (name: string, container: Partial<k8s.V1Container>, more: Partial<k8s.V1PodSpec> = {}): k8s.V1Pod => ({
  metadata: { name, labels: { "cellcloud.io/data-plane": "local" } },
  spec: { nodeName: node, terminationGracePeriodSeconds: 10, containers: [{ name: "main", image: "docker.io/library/haproxy:2.6", ...container }], ...more },
});
const read = (name: string) => core.readNamespacedPod({ name, namespace: ns.name });
const status = async (name: string) => (await read(name)).status?.containerStatuses?.[0];

beforeAll(async () => {
  await core.createNode({ body: kwokNode(node, { labels: { "cellcloud.io/dataplane-test": "true" } }) });
  await hostsReady(core, `kubernetes.io/hostname=${node}`, 1);
}, 120_000);

afterAll(async () => {
  await core.deleteCollectionNamespacedPod({ namespace: ns.name, gracePeriodSeconds: 0 }).catch(() => undefined);
  await core.deleteNode({ name: node }).catch(() => undefined);
});

describe("the local data plane", () => {
  it("runs a pod's process on its own loopback address and stops it gracefully on deletion", async () => {
    const loop = "trap 'echo stopping gracefully; exit 0' TERM; echo started on $POD_IP; while true; do sleep 0.2; done";
    for (const n of ["a", "b"]) {
      await core.createNamespacedPod({ namespace: ns.name, body: pod(n, { command: ["/bin/sh", "-c", loop], env: [{ name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } }] }) });
    }
    const ready = async (n: string) => { const p = await read(n); return p.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") && p; };
    const [a, b] = [await eventually(() => ready("a"), { what: "pod a Ready" }), await eventually(() => ready("b"), { what: "pod b Ready" })];
    expect(a.status?.phase).toBe("Running");
    expect(a.status?.podIP).toMatch(/^127\./);
    expect(b.status?.podIP).toMatch(/^127\./);
    expect(a.status?.podIP).not.toBe(b.status?.podIP);
    const log = () => readFileSync(`${testStateDir}/dataplane/logs/${ns.name}_a_main.log`, "utf8");
    await eventually(() => log().includes(`started on ${a.status!.podIP}`), { what: "the process saw its pod IP" });
    await core.deleteNamespacedPod({ name: "a", namespace: ns.name });
    await eventuallyGone(() => read("a"), "pod a removed once its process stopped", 30_000);
    expect(log()).toContain("stopping gracefully");
  });

  it("runs a pod as its securityContext's user, owning its volumes (PostgreSQL refuses root)", async () => {
    await core.createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: "conf" }, data: { "a.conf": "x=1" } } });
    const script = 'echo "uid $(id -u) gid $(id -g)"; cat "$CONF/a.conf"; echo ok > "$DATA/written" && echo wrote; sleep 30';
    await core.createNamespacedPod({ namespace: ns.name, body: pod("nobody", {
      command: ["/bin/sh", "-c", script],
      env: [{ name: "CONF", value: "/etc/conf" }, { name: "DATA", value: "/var/lib/data" }],
      volumeMounts: [{ name: "conf", mountPath: "/etc/conf" }, { name: "data", mountPath: "/var/lib/data" }],
    }, { securityContext: { runAsUser: 65534, runAsGroup: 65534 }, volumes: [{ name: "conf", configMap: { name: "conf" } }, { name: "data", emptyDir: {} }] }) });
    const log = () => readFileSync(`${testStateDir}/dataplane/logs/${ns.name}_nobody_main.log`, "utf8");
    await eventually(() => log().includes("wrote"), { what: "the process ran as nobody and wrote to its volume" });
    expect(log()).toContain("uid 65534 gid 65534");
    expect(log()).toContain("x=1");
  });

  it("restarts a process that exits, counting restarts and keeping the exit code", async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: pod("crash", { command: ["/bin/sh", "-c", "exit 3"] }) });
    const s = await eventually(async () => { const c = await status("crash"); return (c?.restartCount ?? 0) >= 2 && c; }, { what: "2 restarts", timeoutMs: 30_000 });
    expect(s.lastState?.terminated?.exitCode).toBe(3);
    expect(s.ready).toBe(false);
  });

  it("refuses images it cannot run and volumes it cannot fill, with the kubelet's reasons", async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: pod("nginx", { image: "docker.io/library/nginx:1.27" }) });
    await core.createNamespacedPod({ namespace: ns.name, body: pod("nosecret", { volumeMounts: [{ name: "tls", mountPath: "/tls" }] }, { volumes: [{ name: "tls", secret: { secretName: "missing" } }] }) });
    const waiting = (n: string) => eventually(async () => { const w = (await status(n))?.state?.waiting; return w?.message ? w : false; }, { what: `${n} waiting with a reason` });
    expect(await waiting("nginx")).toMatchObject({ reason: "ImageNotSupported", message: "image docker.io/library/nginx:1.27: the local data plane runs only haproxy, postgres, kafka, rabbitmq images" });
    const w = await waiting("nosecret");
    expect(w.reason).toBe("CreateContainerConfigError");
    expect(w.message).toContain('"missing" not found');
  });

  it("leaves pods without the label to KWOK", async () => {
    await core.createNamespacedPod({ namespace: ns.name, body: { metadata: { name: "kwok" }, spec: { nodeName: node, containers: [{ name: "c", image: "registry.k8s.io/pause:3.10" }] } } });
    const p = await eventually(async () => { const x = await read("kwok"); return x.status?.phase === "Running" && x; }, { what: "KWOK runs the plain pod" });
    expect(p.status?.podIP).not.toMatch(/^127\./);
    expect(readdirSync(`${testStateDir}/dataplane/logs`).some((f) => f.startsWith(`${ns.name}_kwok_`))).toBe(false);
  });
});
