// Reconciles LoadBalancers on the managed reconciler: the subnet, member instances, VIP allocation,
// the realization (Service, EndpointSlices, ConfigMap, Deployment and its pods) and the ElasticIP
// bound to it from caches, plus each ready data plane replica's statistics read over HTTP (a second
// bounded) and, while it is not Programmed, its certificate Secrets' type (never their content),
// planned by slb-plan.ts. It looks again every few seconds, so member health reaches status.
import { InstanceRef, type InstanceObj } from "../api/compute.ts";
import { ElasticIPRef, LB_FINALIZER, LoadBalancerRef, SLB_LABEL, SLB_MANAGED_BY, slbObjectName, SubnetRef, type ElasticIPObj, type LoadBalancerObj, type SubnetObj } from "../api/network.ts";
import type { Controller } from "../runtime/controller.ts";
import { ConfigMapRef, DeploymentRef, EndpointSliceRef, PodRef, SecretRef, ServiceRef, type ConfigMap, type Deployment, type EndpointSlice, type Pod, type Service } from "../runtime/core.ts";
import { allocationCache } from "../runtime/ipam.ts";
import { completeManaged, type ManagedResource } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import type { ProductContext } from "../runtime/product.ts";
import { keyOf, type KubeObject } from "../runtime/types.ts";
import { readAtMost } from "../runtime/bounded.ts";
import { getCondition } from "../runtime/conditions.ts";
import { isForbidden, isNotFound, type KubeClient } from "../runtime/kube.ts";
import { parseStats, STATS_PATH, STATS_PORT, type ReplicaStats } from "./slb-haproxy.ts";
import { lbFinalize, lbPlan, readyReplicas, type CertificateFacts, type LBObservation } from "./slb-plan.ts";

const BY_INSTANCE = "network.cellcloud.io/lb-instance";
const BY_SUBNET = "network.cellcloud.io/lb-subnet";
const BY_LB = "network.cellcloud.io/loadbalancer";
const SLICES = `endpointslice.kubernetes.io/managed-by=${SLB_MANAGED_BY}`;
const STATS_TIMEOUT_MS = 1_000;
const STATS_MAX_BYTES = 1 << 20;

const lbKey = (o: KubeObject) => { const n = o.metadata.labels?.[SLB_LABEL]; return n ? [`${o.metadata.namespace}/${n}`] : []; };
/** The load balancer an ElasticIP's status shows it bound to. */
const boundLB = (e: ElasticIPObj | undefined) => (e?.status?.boundTo?.kind === "LoadBalancer" ? [`${e.metadata.namespace}/${e.status.boundTo.name}`] : []);

/** A replica's statistics, or undefined when it does not answer in time (or answers nonsense). */
async function readStats(pod: Pod): Promise<ReplicaStats | undefined> {
  const ip = pod.status?.podIP;
  if (!ip) return undefined;
  try {
    const res = await fetch(`http://${ip}:${STATS_PORT}${STATS_PATH}`, { signal: AbortSignal.timeout(STATS_TIMEOUT_MS) });
    if (!res.ok || !res.body) return undefined;
    const text = await readAtMost(res.body, STATS_MAX_BYTES);
    return text && parseStats(text.toString("utf8"));
  } catch {
    return undefined;
  }
}

/**
 * The certificate Secrets' type and keys (never their content), looked at only while the load
 * balancer is not Programmed at its generation: a bad reference is then named in status, and a
 * serving load balancer costs no Secret reads.
 */
async function certificateFacts(client: KubeClient, lb: LoadBalancerObj): Promise<Map<string, CertificateFacts> | undefined> {
  const names = [...new Set(lb.spec.listeners.flatMap((l) => l.certificateRefs ?? []))];
  const programmed = getCondition(lb.status?.conditions, "Programmed");
  if (!names.length || (programmed?.status === "True" && programmed.observedGeneration === lb.metadata.generation)) return undefined;
  return new Map(await Promise.all(names.map(async (name): Promise<[string, CertificateFacts]> => {
    try {
      const s = await client.get<KubeObject & { type?: string; data?: Record<string, string> }>(SecretRef, name, lb.metadata.namespace);
      return [name, { found: true, ...(s.type ? { type: s.type } : {}), complete: Boolean(s.data?.["tls.crt"] && s.data?.["tls.key"]) }];
    } catch (err) {
      if (isNotFound(err)) return [name, { found: false }];
      if (isForbidden(err)) return [name, { found: false, forbidden: true }];
      throw err;
    }
  })));
}

export function setupLoadBalancerController(mgr: Manager, ctx: ProductContext): Controller {
  const lbs = mgr.informer<LoadBalancerObj>(LoadBalancerRef);
  lbs.addIndexer(BY_INSTANCE, (lb) => [...new Set(lb.spec.pools.flatMap((p) => p.members.flatMap((m) => (m.instance ? [`${lb.metadata.namespace}/${m.instance}`] : []))))]);
  lbs.addIndexer(BY_SUBNET, (lb) => [`${lb.metadata.namespace}/${lb.spec.vip.subnet}`]);
  const subnets = mgr.informer<SubnetObj>(SubnetRef);
  const instances = mgr.informer<InstanceObj>(InstanceRef);
  const allocations = allocationCache(mgr);
  const selector = SLB_LABEL;
  const services = mgr.informer<Service>(ServiceRef, selector);
  const configMaps = mgr.informer<ConfigMap>(ConfigMapRef, selector);
  const deployments = mgr.informer<Deployment>(DeploymentRef, selector);
  const pods = mgr.informer<Pod>(PodRef, selector);
  pods.addIndexer(BY_LB, lbKey);
  const slices = mgr.informer<EndpointSlice>(EndpointSliceRef, SLICES);
  slices.addIndexer(BY_LB, lbKey);
  const eips = mgr.informer<ElasticIPObj>(ElasticIPRef);
  eips.addIndexer(BY_LB, boundLB);

  const observe = async (lb: LoadBalancerObj): Promise<LBObservation> => {
    const ns = lb.metadata.namespace ?? "";
    const key = keyOf(lb);
    const name = slbObjectName(lb.metadata.name);
    const own = <T extends KubeObject>(o: T | undefined) => (o && o.metadata.ownerReferences?.some((r) => r.uid === lb.metadata.uid) ? o : undefined);
    const dataPlane = pods.byIndex(BY_LB, key);
    const ready = readyReplicas(dataPlane);
    const stats = new Map(await Promise.all(ready.map(async (p) => [p.metadata.name, await readStats(p)] as const)));
    const eip = eips.byIndex(BY_LB, key).find((e) => e.status?.address);
    const certificates = await certificateFacts(mgr.client, lb);
    return {
      ...(certificates ? { certificates } : {}),
      subnet: subnets.get(`${ns}/${lb.spec.vip.subnet}`),
      instance: (n) => instances.get(`${ns}/${n}`),
      held: allocations.ofOwner(lb.metadata.uid ?? ""),
      holderOf: allocations.holderOf,
      count: allocations.cache.size,
      service: own(services.get(`${ns}/${name}`)),
      configMap: own(configMaps.get(`${ns}/${name}`)),
      deployment: own(deployments.get(`${ns}/${name}`)),
      slices: slices.byIndex(BY_LB, key).filter((s) => own(s)),
      pods: dataPlane,
      stats,
      ...(eip ? { publicIP: eip.status!.address } : {}),
    };
  };
  const resource: ManagedResource<LoadBalancerObj, LBObservation> = {
    finalizer: LB_FINALIZER,
    guardedStatus: ["vip"],
    gates: ctx.gates,
    observe,
    plan: (lb, o) => lbPlan(lb, o, Math.random()),
    finalize: lbFinalize,
  };
  return completeManaged(
    mgr.controller("loadbalancer").for(LoadBalancerRef).concurrency(4)
      .watches(ServiceRef, lbKey, { labelSelector: selector })
      .watches(ConfigMapRef, lbKey, { labelSelector: selector })
      .watches(DeploymentRef, lbKey, { labelSelector: selector })
      .watches(PodRef, lbKey, { labelSelector: selector })
      .watches(EndpointSliceRef, lbKey, { labelSelector: SLICES })
      // a member instance starting, stopping, failing or going: the ready set changes in this reconcile
      .watches(InstanceRef, (i) => lbs.byIndex(BY_INSTANCE, keyOf(i)).map(keyOf))
      .watches(SubnetRef, (s) => lbs.byIndex(BY_SUBNET, keyOf(s)).map(keyOf))
      .watches(ElasticIPRef, (e, old) => [...new Set([...boundLB(e as ElasticIPObj), ...boundLB(old as ElasticIPObj | undefined)])]),
    resource,
  );
}
