// Proves the local control plane is a real Kubernetes: the pinned version, KWOK hosts that turn
// Ready, pods that run on them, the garbage collector, and node lifecycle taints with eviction.
import { afterAll, describe, expect, it } from "vitest";
import { clients, eventually, eventuallyGone, uniqueName, useNamespace } from "./support/kube.ts";
import { NODE_NOT_READY_LABEL, condition, kwokNode } from "./support/nodes.ts";

const { core, apps, coordination, version } = clients();
const ns = useNamespace("plane");
const nodeName = uniqueName("host");
// The node lifecycle controller stops evicting when a whole zone is down (it suspects its own
// network), so the host under test gets a healthy sibling in a zone of their own.
const buddyName = uniqueName("host");
const zone = uniqueName("zone");

afterAll(async () => {
  for (const name of [nodeName, buddyName]) await core.deleteNode({ name }).catch(() => undefined);
});

describe("local control plane", () => {
  it("reports the pinned Kubernetes version", async () => {
    const v = await version.getCode();
    expect(v.gitVersion).toMatch(/^v1\.34\.\d+$/);
    expect(v.major).toBe("1");
    expect(v.minor).toBe("34");
  });

  it("turns a KWOK-managed Node Ready and keeps its lease renewed", async () => {
    await core.createNode({ body: kwokNode(nodeName, { zone }) });
    await core.createNode({ body: kwokNode(buddyName, { zone }) });
    const node = await eventually(
      async () => {
        const n = await core.readNode({ name: nodeName });
        return condition(n, "Ready") === "True" && n;
      },
      { what: `node ${nodeName} Ready` },
    );
    expect(node.status?.allocatable?.cpu).toBe("32");
    // kube-controller-manager's node IPAM gives every host a pod CIDR from the cluster CIDR.
    const withCidr = await eventually(async () => (await core.readNode({ name: nodeName })).spec?.podCIDR, {
      what: "podCIDR allocation",
    });
    expect(withCidr).toMatch(/^10\.(1[2-8]\d|19[01])\.\d+\.0\/24$/);
    const lease = await eventually(
      () => coordination.readNamespacedLease({ name: nodeName, namespace: "kube-node-lease" }),
      { what: "node lease" },
    );
    expect(lease.spec?.holderIdentity).toBeTruthy();
  });

  it("runs a pod bound to the node", async () => {
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: "bound" },
        spec: { nodeName, containers: [{ name: "app", image: "registry.local/app:1" }] },
      },
    });
    const pod = await eventually(
      async () => {
        const p = await core.readNamespacedPod({ name: "bound", namespace: ns.name });
        return p.status?.phase === "Running" && condition(p, "Ready") === "True" && p;
      },
      { what: "pod Running" },
    );
    expect(pod.status?.podIP).toMatch(/^10\./);
  });

  it("schedules a Deployment's pods and garbage-collects them when it is deleted", async () => {
    const labels = { app: "gc-demo" };
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: "gc-demo" },
        spec: {
          replicas: 3,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: {
              nodeSelector: { "kubernetes.io/hostname": nodeName },
              containers: [{ name: "app", image: "registry.local/app:1" }],
            },
          },
        },
      },
    });
    const selector = "app=gc-demo";
    await eventually(
      async () => {
        const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: selector });
        return pods.items.length === 3 && pods.items.every((p) => p.spec?.nodeName === nodeName && p.status?.phase === "Running");
      },
      { what: "3 deployment pods Running on the KWOK node" },
    );
    const rs = await apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: selector });
    expect(rs.items).toHaveLength(1);

    await apps.deleteNamespacedDeployment({ name: "gc-demo", namespace: ns.name, propagationPolicy: "Background" });
    await eventually(
      async () => {
        const [r, p] = await Promise.all([
          apps.listNamespacedReplicaSet({ namespace: ns.name, labelSelector: selector }),
          core.listNamespacedPod({ namespace: ns.name, labelSelector: selector }),
        ]);
        return r.items.length === 0 && p.items.length === 0;
      },
      { what: "garbage collector to remove the ReplicaSet and its pods" },
    );
  });

  it("taints a failed node and evicts pods whose toleration has run out", async () => {
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: "evictable" },
        spec: {
          nodeName,
          containers: [{ name: "app", image: "registry.local/app:1" }],
          tolerations: [
            { key: "node.kubernetes.io/not-ready", operator: "Exists", effect: "NoExecute", tolerationSeconds: 2 },
            { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 2 },
          ],
        },
      },
    });
    await eventually(
      async () => (await core.readNamespacedPod({ name: "evictable", namespace: ns.name })).status?.phase === "Running",
      { what: "evictable pod Running" },
    );

    // The host fails: KWOK's chaos stage makes it report Ready=False.
    await core.patchNode(
      { name: nodeName, body: [{ op: "add", path: `/metadata/labels/${NODE_NOT_READY_LABEL.replace("/", "~1")}`, value: "true" }] },
    );
    const tainted = await eventually(
      async () => {
        const n = await core.readNode({ name: nodeName });
        const taints = n.spec?.taints ?? [];
        return taints.some((t) => t.key === "node.kubernetes.io/not-ready" && t.effect === "NoExecute") && n;
      },
      { what: "node lifecycle controller to taint the failed node" },
    );
    expect(condition(tainted, "Ready")).toBe("False");
    await eventuallyGone(() => core.readNamespacedPod({ name: "evictable", namespace: ns.name }), "taint-based eviction of the pod");

    // Recovery: remove the label; KWOK re-initializes the node and the taints go away.
    await core.patchNode(
      { name: nodeName, body: [{ op: "remove", path: `/metadata/labels/${NODE_NOT_READY_LABEL.replace("/", "~1")}` }] },
    );
    await eventually(
      async () => {
        const n = await core.readNode({ name: nodeName });
        return condition(n, "Ready") === "True" && !(n.spec?.taints ?? []).some((t) => t.key.startsWith("node.kubernetes.io/"));
      },
      { what: "node to recover and lose its not-ready taints" },
    );
  });
});
