// Reconciles ECS Instances into launcher Pods on the managed reconciler: observe the instance's pods,
// their hosts and the catalog from caches, plan with instance-plan.ts, and let the runtime carry the
// plan out. One pod per running instance, named by what it was booted for (launcherName), so every
// step is safe to repeat after a crash.
import { Gauge } from "prom-client";
import {
  DeploymentSetRef, FlavorRef, imageKeys, ImageRef, INSTANCE_FINALIZER, resolveImage, InstanceRef, KeyPairRef, instancePowerStates, launcher, launcherName,
  type DeploymentSetSpec, type FlavorSpec, type ImageSpec, type InstanceObj, type KeyPairStatus,
} from "../api/compute.ts";
import { IPAllocationRef, SecurityGroupRef, SubnetRef, type IPAllocationObj, type SecurityGroupObj, type SubnetObj } from "../api/network.ts";
import { nodeLabels } from "../api/platform.ts";
import { VolumeRef, type VolumeObj } from "../api/storage.ts";
import type { Controller } from "../runtime/controller.ts";
import { PodRef, PriorityClassRef, SecretRef, type Pod } from "../runtime/core.ts";
import { isForbidden, isNotFound, type KubeClient } from "../runtime/kube.ts";
import { ensureObjects } from "../runtime/ensure.ts";
import type { Informer } from "../runtime/informer.ts";
import { allocationCache, releaseAllocation, type AllocationCache } from "../runtime/ipam.ts";
import type { ManagedResource } from "../runtime/managed.ts";
import { generationChanged } from "../runtime/predicates.ts";
import type { Manager } from "../runtime/manager.ts";
import type { ProductContext } from "../runtime/product.ts";
import { keyOf, type KubeObject } from "../runtime/types.ts";
import { headroom, hostDown, hosts as platformHosts, type Hosts } from "../platform/placement-api.ts";
import { priorityClasses, resolve, type Catalog, type UserDataFacts } from "./instance.ts";
import { finalizeWithNics, planWithNics, type HostFacts, type InstanceObservation } from "./instance-plan.ts";
import { planNics, type NicObservation } from "./nics.ts";
import { isFinished, isTerminating } from "./instance-state.ts";

const idx = {
  podInstance: "compute.cellcloud.io/pod-instance",
  flavor: "compute.cellcloud.io/instance-flavor",
  image: "compute.cellcloud.io/instance-image",
  keyPair: "compute.cellcloud.io/instance-keypair",
  deploymentSet: "compute.cellcloud.io/instance-deploymentset",
  volume: "compute.cellcloud.io/instance-volume",
  subnet: "compute.cellcloud.io/instance-subnet",
} as const;

const nsKey = (o: KubeObject, name: string | undefined): string[] => (name ? [`${o.metadata.namespace}/${name}`] : []);
const podInstance = (p: KubeObject) => nsKey(p, p.metadata.labels?.[launcher.instanceLabel]);
const byFlavor = (i: InstanceObj) => (i.spec.flavor ? [i.spec.flavor] : []);
// every key the reference may resolve to: creating the image in the instance's namespace re-resolves it
const byImage = (i: InstanceObj) => imageKeys(i.spec.image, i.metadata.namespace ?? "");
const byKeyPair = (i: InstanceObj) => nsKey(i, i.spec.keyPair);
const byDeploymentSet = (i: InstanceObj) => nsKey(i, i.spec.deploymentSet);
const byVolume = (i: InstanceObj) => (i.spec.dataVolumes ?? []).flatMap((d) => nsKey(i, d.volume));
const bySubnet = (i: InstanceObj) => (i.spec.nics ?? []).flatMap((n) => nsKey(i, n.subnet));

/** What an instance's NICs are planned from: its subnets and the allocations, from caches. */
function networkOf(mgr: Manager, allocations: AllocationCache) {
  const subnets = mgr.informer<SubnetObj>(SubnetRef);
  const groups = mgr.informer<SecurityGroupObj>(SecurityGroupRef);
  return (inst: InstanceObj): NicObservation => ({
    subnet: (name) => subnets.get(`${inst.metadata.namespace}/${name}`),
    group: (name) => groups.get(`${inst.metadata.namespace}/${name}`),
    held: allocations.ofOwner(inst.metadata.uid ?? ""),
    holderOf: allocations.holderOf,
    count: allocations.cache.size,
  });
}


/** The catalog an instance resolves against, from the shared caches of its namespace. */
function catalogOf(mgr: Manager): (ns: string | undefined) => Catalog {
  const flavors = mgr.informer<KubeObject & { spec: FlavorSpec }>(FlavorRef);
  const images = mgr.informer<KubeObject & { spec: ImageSpec }>(ImageRef);
  const keyPairs = mgr.informer<KubeObject & { status?: KeyPairStatus }>(KeyPairRef);
  const deploymentSets = mgr.informer<KubeObject & { spec: DeploymentSetSpec }>(DeploymentSetRef);
  const volumes = mgr.informer<VolumeObj>(VolumeRef);
  return (ns) => ({
    flavor: (n) => flavors.get(n)?.spec,
    image: (ref) => resolveImage(ref, ns ?? "", (k) => images.get(k)?.spec)?.image,
    keyPair: (n) => keyPairs.get(`${ns}/${n}`),
    deploymentSet: (n) => deploymentSets.get(`${ns}/${n}`)?.spec,
    volume: (n) => volumes.get(`${ns}/${n}`),
  });
}

/** The launcher pods, their hosts and the room left on them: what the plan decides from. */
function observer(mgr: Manager, h: Hosts, pods: Informer<Pod>) {
  const catalog = catalogOf(mgr);
  const facts = (name: string): HostFacts => {
    const node = h.nodes.get(name);
    return { down: hostDown(node), cell: node?.metadata.labels?.[nodeLabels.cell], zone: node?.metadata.labels?.[nodeLabels.zone] };
  };
  return async (inst: InstanceObj): Promise<InstanceObservation> => {
    const owned = pods.byIndex(idx.podInstance, keyOf(inst));
    const booting = inst.spec.powerState !== "Stopped" && !owned.some((p) => p.metadata.name === launcherName(inst) && !isFinished(p));
    const userData = booting ? await userDataFacts(mgr.client, inst) : undefined;
    const names = new Set([...owned.map((p) => p.spec?.nodeName), inst.status?.nodeName].filter((n): n is string => Boolean(n)));
    const room: InstanceObservation["headroom"] = Object.fromEntries(owned.filter((p) => p.spec?.nodeName && !isFinished(p) && !isTerminating(p))
      .map((p) => [p.metadata.uid ?? "", headroom(h.nodes.get(p.spec!.nodeName!), h.podsOn(p.spec!.nodeName!), p.metadata.uid ?? "")]));
    return { resolved: resolve(inst.spec, { ...catalog(inst.metadata.namespace), ...(userData ? { userData } : {}) }, inst.metadata.name), pods: owned, hosts: Object.fromEntries([...names].map((n) => [n, facts(n)])), headroom: room };
  };
}

/**
 * The user data Secret an instance is about to boot with (cloud-init reads it once, at boot, so it
 * is looked at only then): its size, never its content. Where the manager may not read Secrets
 * (outside tenant namespaces, unless an admin granted it) the instance waits and says so.
 */
async function userDataFacts(client: KubeClient, inst: InstanceObj): Promise<UserDataFacts | undefined> {
  const ref = inst.spec.userData;
  if (!ref) return undefined;
  try {
    const secret = await client.get<KubeObject & { data?: Record<string, string> }>(SecretRef, ref.secretName, inst.metadata.namespace);
    const value = secret.data?.[ref.key];
    return { found: true, bytes: value === undefined ? undefined : Buffer.byteLength(value, "base64") };
  } catch (err) {
    if (isNotFound(err)) return { found: false };
    if (isForbidden(err)) return { found: false, forbidden: true };
    throw err;
  }
}

export function setupInstanceController(mgr: Manager, ctx: ProductContext): Controller {
  const instances = mgr.informer<InstanceObj>(InstanceRef);
  instances.addIndexer(idx.flavor, byFlavor);
  instances.addIndexer(idx.image, byImage);
  instances.addIndexer(idx.keyPair, byKeyPair);
  instances.addIndexer(idx.deploymentSet, byDeploymentSet);
  instances.addIndexer(idx.volume, byVolume);
  instances.addIndexer(idx.subnet, bySubnet);
  const allocations = allocationCache(mgr);
  const network = networkOf(mgr, allocations);
  const h = platformHosts(mgr);
  h.pods.addIndexer(idx.podInstance, podInstance);
  instanceGauge(mgr, instances);
  mgr.add(ensureObjects(mgr, PriorityClassRef, Object.entries(priorityClasses).map(([level, pc]) => ({
    apiVersion: "scheduling.k8s.io/v1", kind: "PriorityClass",
    metadata: { name: pc.name, labels: { "app.kubernetes.io/managed-by": "cellcloud" } },
    value: pc.value, globalDefault: false, description: `CellCloud ECS instances with HA priority ${level}.`,
  }))));

  const observe = observer(mgr, h, h.pods);
  const resource: ManagedResource<InstanceObj, InstanceObservation & { network: NicObservation }> = {
    finalizer: INSTANCE_FINALIZER,
    gates: ctx.gates,
    // the NICs' addresses: a reconcile from a stale view (two managers racing) cannot overwrite them
    guardedStatus: ["nics"],
    observe: async (inst) => ({ ...(await observe(inst)), network: network(inst) }),
    plan: (inst, o, now) => planWithNics(inst, o, planNics(inst, o.network, Math.random()), now),
    // the addresses go last, once the launchers are gone (whatever the deletion policy: an orphaned VM is no longer CellCloud's to address)
    finalize: (inst, o, policy) => finalizeWithNics(inst, o, o.network.held.map(releaseAllocation), policy),
  };
  const referrers = (index: string, key: (o: KubeObject) => string) => (o: KubeObject) => instances.byIndex(index, key(o)).map(keyOf);
  // Instances are independent and a reconcile mostly waits on the apiserver (create the launcher,
  // patch status, record an event): at 3,000 instances 2 workers did 8.7 reconciles/s with the
  // manager 78% idle, and 3,000 instances took minutes to start (bench/scale). CloudNativePG and
  // KubeVirt's VMI controller run 10 workers.
  return mgr.controller("instance").for(InstanceRef).concurrency(16)
    .watches(PodRef, podInstance)
    .watches(FlavorRef, referrers(idx.flavor, (f) => f.metadata.name))
    .watches(ImageRef, referrers(idx.image, keyOf))
    .watches(KeyPairRef, referrers(idx.keyPair, keyOf))
    .watches(DeploymentSetRef, referrers(idx.deploymentSet, keyOf))
    .watches(VolumeRef, referrers(idx.volume, keyOf))
    .watches(SubnetRef, referrers(idx.subnet, keyOf))
    // a group's existence and VPC matter here, not its status (its member count changes with every NIC)
    .watches(SecurityGroupRef, (g) => instances.list().filter((i) => i.metadata.namespace === g.metadata.namespace && (i.spec.nics?.length ?? 0) > 0).map(keyOf), { predicate: generationChanged })
    // its own creates come back as events too: a burst of them is one reconcile
    .watches(IPAllocationRef, (a) => { const o = (a as IPAllocationObj).spec.owner; return o.kind === "Instance" ? [`${o.namespace}/${o.name}`] : []; }, { delayMs: 500 })
    .manage(resource);
}

function instanceGauge(mgr: Manager, instances: Informer<InstanceObj>): void {
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
}
