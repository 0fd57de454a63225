// Reconciles ECS Instances into launcher Pods. One pod per running instance, named by what it was
// booted for (launcherName), so every step is safe to repeat after a crash: stale pods are deleted
// (by uid) before a new one is created, a VM never runs twice, and status is written before an
// action that status must remember (a migration's source, a failover).
import { Gauge } from "prom-client";
import { instancePowerStates } from "../api/compute.ts";
import { refOf } from "../api/crd.ts";
import { Volume, type VolumeSpec, type VolumeStatus } from "../api/storage.ts";
import { Instance, type DeploymentSetSpec, type FlavorSpec, type ImageSpec, type KeyPairStatus } from "../api/compute.ts";
import { isoSeconds } from "../runtime/clock.ts";
import type { Controller } from "../runtime/controller.ts";
import { PodRef } from "../runtime/core.ts";
import { ensureObjects } from "../runtime/ensure.ts";
import { addFinalizer, isDeleting, removeFinalizer } from "../runtime/finalizers.ts";
import { approvalGate } from "../tenancy/approval.ts";
import { isAlreadyExists, isNotFound } from "../runtime/kube.ts";
import type { Manager } from "../runtime/manager.ts";
import { setCondition } from "../runtime/conditions.ts";
import { writeStatus } from "../runtime/status.ts";
import { keyOf, requestKey, type KubeObject, type ResourceRef } from "../runtime/types.ts";
import { indexes as platformIndexes, nodeCache, podCache } from "../platform/caches.ts";
import { isReady, nodeLabels, type Node } from "../platform/nodepool.ts";
import { bytes, cpuMillis } from "../platform/quantity.ts";
import { occupiesNode, podResources } from "../platform/scheduler/podrequest.ts";
import { DeploymentSetRef, FlavorRef, ImageRef, KeyPairRef } from "./catalog-controller.ts";
import {
  instanceState, isFinished, isProblem, isTerminating, launcher, launcherName, launcherPod, planResize, podSize, powerEvent,
  priorityClasses, replacementCause, resolve, type Catalog, type InstanceObj, type Observation, type Pod,
} from "./instance.ts";

export const InstanceRef = refOf(Instance);
/** Volumes by their API definition (not the storage controller's module, which imports this one). */
const VolumeRef = refOf(Volume);
const PriorityClassRef: ResourceRef = { group: "scheduling.k8s.io", version: "v1", kind: "PriorityClass", plural: "priorityclasses", namespaced: false };

export const FINALIZER = "compute.cellcloud.io/launcher";
/** While pods come and go, look again this often even without an event. */
const TRANSITION_RECHECK_MS = 3_000;

const idx = {
  podInstance: "compute.cellcloud.io/pod-instance",
  flavor: "compute.cellcloud.io/instance-flavor",
  image: "compute.cellcloud.io/instance-image",
  keyPair: "compute.cellcloud.io/instance-keypair",
  deploymentSet: "compute.cellcloud.io/instance-deploymentset",
  volume: "compute.cellcloud.io/instance-volume",
} as const;

const nsKey = (o: KubeObject, name: string | undefined): string[] => (name ? [`${o.metadata.namespace}/${name}`] : []);

/** A host that will never confirm a pod's deletion: gone, not Ready, or tainted unreachable by the node controller. */
function hostDown(node: Node | undefined): boolean {
  return !node || !isReady(node) || (node.spec?.taints ?? []).some((t) => t.effect === "NoExecute" && t.key.startsWith("node.kubernetes.io/"));
}

export function setupInstanceController(mgr: Manager): Controller {
  const { client, events } = mgr;
  const instances = mgr.informer<InstanceObj>(InstanceRef);
  instances.addIndexer(idx.flavor, (i) => (i.spec.flavor ? [i.spec.flavor] : []));
  instances.addIndexer(idx.image, (i) => [i.spec.image]);
  instances.addIndexer(idx.keyPair, (i) => nsKey(i, i.spec.keyPair));
  instances.addIndexer(idx.deploymentSet, (i) => nsKey(i, i.spec.deploymentSet));
  instances.addIndexer(idx.volume, (i) => (i.spec.dataVolumes ?? []).flatMap((d) => nsKey(i, d.volume)));
  const volumes = mgr.informer<KubeObject & { spec: VolumeSpec; status?: VolumeStatus }>(VolumeRef);
  const pods = podCache(mgr);
  pods.addIndexer(idx.podInstance, (p) => nsKey(p, p.metadata.labels?.[launcher.instanceLabel]));
  const nodes = nodeCache(mgr);
  const flavors = mgr.informer<KubeObject & { spec: FlavorSpec }>(FlavorRef);
  const images = mgr.informer<KubeObject & { spec: ImageSpec }>(ImageRef);
  const keyPairs = mgr.informer<KubeObject & { status?: KeyPairStatus }>(KeyPairRef);
  const deploymentSets = mgr.informer<KubeObject & { spec: DeploymentSetSpec }>(DeploymentSetRef);

  const catalog = (ns: string | undefined): Catalog => ({
    flavor: (n) => flavors.get(n)?.spec,
    image: (n) => images.get(n)?.spec,
    keyPair: (n) => keyPairs.get(`${ns}/${n}`),
    deploymentSet: (n) => deploymentSets.get(`${ns}/${n}`)?.spec,
    volume: (n) => volumes.get(`${ns}/${n}`),
  });

  new Gauge({
    name: "cellcloud_instances",
    help: "ECS instances by observed power state",
    labelNames: ["power_state"] as const,
    registers: [mgr.metrics.registry],
    collect() {
      const counts = new Map<string, number>(instancePowerStates.map((s) => [s, 0]));
      for (const i of instances.list()) {
        const s = i.status?.powerState;
        if (s) counts.set(s, (counts.get(s) ?? 0) + 1);
      }
      for (const [s, n] of counts) this.set({ power_state: s }, n);
    },
  });

  // The three HA priorities' PriorityClasses.
  mgr.add(ensureObjects(mgr, PriorityClassRef, Object.entries(priorityClasses).map(([level, pc]) => ({
    apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass",
    metadata: { name: pc.name, labels: { "app.kubernetes.io/managed-by": "cellcloud" } },
    value: pc.value, globalDefault: false, description: `CellCloud ECS instances with HA priority ${level}.`,
  }))));

  /** Deletes a pod by uid (never a newer one of the same name); a pod on a dead host is force-deleted, as fencing. */
  async function deletePod(p: Pod, graceSeconds: number): Promise<"deleted" | "fenced" | "waiting"> {
    const host = p.spec?.nodeName;
    const down = host !== undefined && hostDown(nodes.get(host));
    if (isTerminating(p) && !down) return "waiting";
    const grace = down || isFinished(p) ? 0 : graceSeconds;
    try {
      await client.delete(PodRef, p.metadata.name, p.metadata.namespace, { gracePeriodSeconds: grace, preconditions: { uid: p.metadata.uid } });
    } catch (e) {
      if (!isNotFound(e) && !(e instanceof Error && /precondition/i.test(e.message))) throw e;
    }
    return down ? "fenced" : "deleted";
  }

  /** Room left on a host for an in-place resize, in millicores and bytes. */
  function headroom(nodeName: string, except: string): { cpu: number; memory: number } {
    const node = nodes.get(nodeName);
    const alloc = node?.status?.allocatable ?? {};
    let cpu = alloc.cpu ? cpuMillis(alloc.cpu) : 0;
    let memory = alloc.memory ? bytes(alloc.memory) : 0;
    for (const p of pods.byIndex(platformIndexes.podsByNode, nodeName)) {
      if (p.metadata.uid === except || !occupiesNode(p)) continue;
      const r = podResources(p);
      cpu -= r.cpu;
      memory -= r.memory;
    }
    return { cpu, memory };
  }

  async function finalize(inst: InstanceObj, owned: Pod[]) {
    let left = 0;
    for (const p of owned) if ((await deletePod(p, inst.spec.terminationGracePeriodSeconds)) === "waiting" || !isFinished(p)) left++;
    if (left > 0) {
      await writeStatus(client, InstanceRef, inst, { ...inst.status, powerState: "Stopping" });
      return { requeueAfterMs: TRANSITION_RECHECK_MS };
    }
    // Data volumes go with the instance only when asked to; the rest are detached and kept.
    const doomed = (inst.spec.dataVolumes ?? []).filter((d) => d.deleteWithInstance).map((d) => d.volume);
    for (const name of doomed) {
      await client.delete(VolumeRef, name, inst.metadata.namespace).catch((e: unknown) => { if (!isNotFound(e)) throw e; });
    }
    if (doomed.length) events.record(inst, "Normal", "VolumesDeleted", `deleted data volumes ${doomed.join(", ")} with the instance`);
    await removeFinalizer(client, InstanceRef, inst, FINALIZER);
  }

  const controller = mgr.controller("instance").for(InstanceRef)
    .watches(PodRef, (p) => nsKey(p, p.metadata.labels?.[launcher.instanceLabel]))
    .watches(FlavorRef, (f) => instances.byIndex(idx.flavor, f.metadata.name).map(keyOf))
    .watches(ImageRef, (i) => instances.byIndex(idx.image, i.metadata.name).map(keyOf))
    .watches(KeyPairRef, (k) => instances.byIndex(idx.keyPair, keyOf(k)).map(keyOf))
    .watches(DeploymentSetRef, (d) => instances.byIndex(idx.deploymentSet, keyOf(d)).map(keyOf))
    .watches(VolumeRef, (v) => instances.byIndex(idx.volume, keyOf(v)).map(keyOf))
    .complete(async (req) => {
      const key = requestKey(req);
      const cached = instances.get(key);
      if (!cached) return;
      const owned = pods.byIndex(idx.podInstance, key);
      if (isDeleting(cached)) return finalize(cached, owned);
      let inst = await addFinalizer(client, InstanceRef, cached, FINALIZER);
      const gated = await approvalGate(client, InstanceRef, inst);
      if (!gated) return;
      inst = gated;
      const spec = inst.spec;
      const now = Date.now();
      const resolved = resolve(spec, catalog(req.namespace), req.name);
      const problem = isProblem(resolved) ? resolved : undefined;
      const want = spec.powerState !== "Stopped";
      const name = launcherName(inst);
      const alive = (p: Pod) => !isFinished(p) && !isTerminating(p);
      const current = owned.find((p) => p.metadata.name === name && !isFinished(p));
      let migration = inst.status?.migration;
      let failovers = inst.status?.failovers;
      /**
       * The launcher on `host` is lost without anyone asking: status forgets it (written first, so a
       * crash cannot count the loss twice), and a dead host counts as a failover.
       */
      const lostLauncher = async (host: string, down: boolean) => {
        if (down) failovers = (failovers ?? 0) + 1;
        inst = (await writeStatus(client, InstanceRef, inst, { ...inst.status, nodeName: undefined, launcherPod: undefined, failovers, powerState: "Starting" })) ?? inst;
        events.record(inst, down ? "Warning" : "Normal", down ? "Failover" : "Restarting",
          down ? `host ${host} failed; restarting on another host with the same disks` : `launcher on ${host} was removed (evicted or deleted); restarting`);
      };

      // A new migration request: remember where the instance is before moving it.
      if (spec.migration && migration?.requestedAt !== spec.migration.requestedAt) {
        const running = owned.find((p) => alive(p) && p.spec?.nodeName);
        migration = running && want && !problem
          ? { requestedAt: spec.migration.requestedAt, sourceNode: running.spec?.nodeName, targetNode: spec.migration.targetNode, startTime: isoSeconds(now), state: "Running" }
          : { requestedAt: spec.migration.requestedAt, state: "Failed", message: problem ? problem.message : "only a running instance can be migrated; start it first" };
        const written = await writeStatus(client, InstanceRef, inst, { ...inst.status, migration });
        if (written) inst = written;
        else migration = inst.status?.migration;
        if (migration?.state === "Running") events.record(inst, "Normal", "Migrating", `migrating from ${migration.sourceNode}${migration.targetNode ? ` to ${migration.targetNode}` : ""}`);
      }

      // Pods that must go: all of them when stopped; otherwise every pod but the current one. A
      // request that cannot be carried out (a missing image for a rebuild) leaves the running VM alone.
      const remove = !want ? owned : problem ? owned.filter(isFinished) : owned.filter((p) => p !== current);
      let leaving: Observation["leaving"];
      for (const p of remove) {
        const cause = want ? (isFinished(p) ? "Rebooting" : replacementCause(inst, p)) : "Stopping";
        const done = await deletePod(p, spec.terminationGracePeriodSeconds);
        if (!isFinished(p)) leaving ??= cause;
        if (done === "fenced") events.record(inst, "Warning", "HostFailed", `host ${p.spec?.nodeName} is down; fenced launcher ${p.metadata.name}`);
        else if (done === "deleted" && !isTerminating(p) && !isFinished(p) && cause !== "Stopping") {
          events.record(inst, "Normal", cause, `${cause.toLowerCase()}: replacing launcher ${p.metadata.name} on ${p.spec?.nodeName ?? "no host"}`);
        }
      }
      // The current pod on its way out without us: its host failed (the node controller evicts it; we
      // fence it and count a failover, once), or it is being evicted or deleted from a healthy host
      // (status keeps naming it until it is gone, then it is restarted).
      let outgoing: Pod | undefined;
      if (current && isTerminating(current)) {
        const host = current.spec?.nodeName;
        if (host && hostDown(nodes.get(host))) {
          if (inst.status?.launcherPod === current.metadata.name) await lostLauncher(host, true);
          await deletePod(current, 0);
        } else {
          outgoing = current;
        }
      }

      const othersLeft = owned.some((p) => p !== current && !isFinished(p));
      let shown = current && alive(current) ? current : undefined;
      if (!shown && problem && want) shown = owned.find(alive);

      if (want && !isProblem(resolved) && !current && !othersLeft) {
        // The launcher we ran is gone though nobody asked (and we did not see it go): its host failed, or it was evicted.
        const lost = inst.status?.launcherPod === name && inst.status.nodeName;
        if (lost) await lostLauncher(lost, hostDown(nodes.get(lost)));
        const placement = migration?.state === "Running" ? { sourceNode: migration.sourceNode, targetNode: migration.targetNode } : undefined;
        try {
          await client.create(PodRef, launcherPod(inst, resolved, placement));
        } catch (e) {
          if (!isAlreadyExists(e)) throw e;
        }
      }

      // A running instance: pause/resume and in-place resize.
      let resizeBlocked: string | undefined;
      const node = shown?.spec?.nodeName;
      if (shown && node && !isProblem(resolved)) {
        const paused = shown.metadata.annotations?.[launcher.paused] === "true";
        if (paused !== (spec.powerState === "Paused")) {
          shown = await client.patch<Pod>(PodRef, shown.metadata.name, shown.metadata.namespace,
            { metadata: { annotations: { [launcher.paused]: paused ? null : "true" } } }, "merge");
        }
        const size = podSize(shown);
        if (size) {
          const plan = planResize(size, resolved.size, headroom(node, shown.metadata.uid ?? ""));
          if (plan.kind === "needsStop") resizeBlocked = plan.message;
          if (plan.kind === "online") {
            const resources = { cpu: String(resolved.size.vcpus), memory: resolved.size.memory };
            shown = await client.patch<Pod>(PodRef, shown.metadata.name, shown.metadata.namespace,
              { spec: { containers: [{ name: launcher.container, resources: { requests: resources, limits: resources } }] } }, "strategic", { subresource: "resize" });
            events.record(inst, "Normal", "Resized", `resized online to ${resolved.size.vcpus} vCPU/${resolved.size.memory} (${resolved.size.source})`);
          }
        }
        if (migration?.state === "Running" && shown.status?.phase === "Running" && node !== migration.sourceNode) {
          const start = migration.startTime ? Date.parse(migration.startTime) : now;
          migration = { ...migration, targetNode: node, completionTime: isoSeconds(now), durationSeconds: Math.max(0, Math.round((now - start) / 1000)), state: "Succeeded" };
          events.record(inst, "Normal", "Migrated", `migrated from ${migration.sourceNode} to ${node} in ${migration.durationSeconds}s`);
        }
      }

      const nodeObj = node ? nodes.get(node) : undefined;
      // An evicted launcher still holds its host until it is gone.
      const held = outgoing?.spec?.nodeName;
      const state = instanceState(spec, {
        ...(shown ? { pod: shown } : {}),
        ...(leaving ? { leaving } : {}),
        ...(node ? { node: { name: node, cell: nodeObj?.metadata.labels?.[nodeLabels.cell], zone: nodeObj?.metadata.labels?.[nodeLabels.zone] } } : {}),
        ...(problem ? { problem } : {}),
        ...(resizeBlocked ? { resizeBlocked } : {}),
      });
      const gen = inst.metadata.generation;
      let conditions = setCondition(inst.status?.conditions, state.scheduled, gen);
      conditions = setCondition(conditions, state.ready, gen);
      conditions = problem?.stalled && !shown
        ? setCondition(conditions, { type: "Stalled", status: "True", reason: problem.reason, message: problem.message }, gen)
        : conditions.filter((c) => c.type !== "Stalled");
      const size = shown ? podSize(shown) : undefined;
      const old = inst.status?.powerState;
      await writeStatus(client, InstanceRef, inst, {
        conditions,
        powerState: state.powerState,
        nodeName: node ?? held,
        cell: node ? nodeObj?.metadata.labels?.[nodeLabels.cell] : undefined,
        zone: node ? nodeObj?.metadata.labels?.[nodeLabels.zone] : undefined,
        architecture: isProblem(resolved) ? inst.status?.architecture : resolved.arch,
        vcpus: size?.vcpus,
        memory: size?.memory,
        launcherPod: shown?.metadata.name ?? outgoing?.metadata.name,
        lastBootTime: shown?.status?.startTime ? isoSeconds(Date.parse(String(shown.status.startTime))) : inst.status?.lastBootTime,
        migration,
        failovers,
      });
      const ev = powerEvent(old, state.powerState, node);
      if (ev) events.record(inst, "Normal", ev.reason, ev.message);
      // A problem is news once (waiting for a volume to attach is routine, not a warning).
      if (problem && problem.reason !== "AttachingVolume" && inst.status?.conditions?.find((c) => c.type === "Ready")?.reason !== problem.reason) {
        events.record(inst, "Warning", problem.reason, problem.message);
      }
      // Pod events wake us for everything else; a replacement also waits on hosts and grace periods.
      const moving = leaving !== undefined || othersLeft || (current !== undefined && isTerminating(current));
      return moving ? { requeueAfterMs: TRANSITION_RECHECK_MS } : undefined;
    });
  return controller;
}
