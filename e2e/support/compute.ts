// ECS instances as a user drives them (create, merge-patch the spec, read status), plus what the
// suites look at around them: launcher pods and the instance's Events.
import type * as k8s from "@kubernetes/client-node";
import { launcher } from "../../operators/api/compute.ts";
import { ApiError, KubeClient } from "../../operators/runtime/kube.ts";
import type { KubeObject } from "../../operators/runtime/types.ts";
import type { Condition } from "./platform.ts";
import { FlavorRef, ImageRef, InstanceRef, PUBLIC_IMAGE_NAMESPACE } from "../../operators/api/compute.ts";

export interface InstanceView extends KubeObject {
  spec: Record<string, unknown>;
  status?: {
    observedGeneration?: number;
    conditions?: Condition[];
    powerState?: string;
    nodeName?: string;
    cell?: string;
    zone?: string;
    architecture?: string;
    vcpus?: number;
    memory?: string;
    launcherPod?: string;
    lastBootTime?: string;
    failovers?: number;
    migration?: { requestedAt: string; sourceNode?: string; targetNode?: string; durationSeconds?: number; state: string; message?: string };
  };
}

export function instancesIn(kc: k8s.KubeConfig, core: k8s.CoreV1Api, namespace: string) {
  const client = new KubeClient(kc);
  const api = {
    create: (name: string, spec: Record<string, unknown>) =>
      client.create<InstanceView>(InstanceRef, { apiVersion: "compute.cellcloud.io/v1alpha1", kind: "Instance", metadata: { name, namespace }, spec }),
    read: (name: string) => client.get<InstanceView>(InstanceRef, name, namespace),
    list: async () => (await client.list<InstanceView>(InstanceRef, {}, namespace)).items,
    patch: (name: string, spec: Record<string, unknown>) => client.patch<InstanceView>(InstanceRef, name, namespace, { spec }, "merge"),
    delete: (name: string) => client.delete(InstanceRef, name, namespace),
    /** Launcher pods of an instance that are not on their way out. */
    launchers: async (name: string) => (await core.listNamespacedPod({ namespace, labelSelector: `${launcher.instanceLabel}=${name}` }))
      .items.filter((p) => !p.metadata?.deletionTimestamp),
    events: async (name: string, reason?: string) => (await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` }))
      .items.filter((e) => !reason || e.reason === reason),
    /** Ready=True for the current generation, in the given power state. */
    settled: async (name: string, power = "Running") => {
      const i = await api.read(name);
      const ready = i.status?.conditions?.find((c) => c.type === "Ready");
      return ready?.status === "True" && i.status?.observedGeneration === i.metadata.generation && i.status?.powerState === power && i;
    },
  };
  return api;
}

/** What a suite made, to delete: a kind, a name and (for namespaced kinds) a namespace. */
export type Made = [typeof FlavorRef, string, string?];

/** A Flavor and an Image of each architecture (in the public catalog), as a catalog for one suite (named by `base`). */
export async function createCatalog(kc: k8s.KubeConfig, base: string, labels: Record<string, string> = {}): Promise<{ flavor: string; bigFlavor: string; fixedFlavor: string; x86: string; arm: string; all: Made[] }> {
  const client = new KubeClient(kc);
  const flavor = `${base}-g1`;
  const bigFlavor = `${base}-g2`;
  const fixedFlavor = `${base}-m1`;
  const x86 = `${base}-ubuntu`;
  const arm = `${base}-euler`;
  const flavorSpec = (vcpus: number, memory: string, onlineResize: boolean, architectures = ["amd64", "arm64"]) => ({ vcpus, memory, family: "general", architectures, onlineResize });
  const imageSpec = (arch: string, distribution: string) => ({ os: { type: "linux", distribution, version: "22.04" }, architecture: arch, minDiskGiB: 20, source: { url: `https://images.example.com/${distribution}-${arch}.img` } });
  const objs: Array<[typeof FlavorRef, string, string | undefined, Record<string, unknown>]> = [
    [FlavorRef, flavor, undefined, flavorSpec(2, "4Gi", true)],
    [FlavorRef, bigFlavor, undefined, flavorSpec(4, "8Gi", true)],
    [FlavorRef, fixedFlavor, undefined, flavorSpec(8, "16Gi", false, ["amd64"])],
    [ImageRef, x86, PUBLIC_IMAGE_NAMESPACE, imageSpec("amd64", "ubuntu")],
    [ImageRef, arm, PUBLIC_IMAGE_NAMESPACE, imageSpec("arm64", "openeuler")],
  ];
  for (const [ref, name, namespace, spec] of objs) {
    try {
      await client.create(ref, { apiVersion: `${ref.group}/${ref.version}`, kind: ref.kind, metadata: { name, ...(namespace ? { namespace } : {}), labels }, spec });
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 409)) throw e;
    }
  }
  return { flavor, bigFlavor, fixedFlavor, x86, arm, all: objs.map(([ref, name, namespace]) => [ref, name, namespace]) };
}
