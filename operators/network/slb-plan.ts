// What the LoadBalancer controller does (pure). The VIP comes from the spec's subnet through the
// runtime's IPAM (an IPAllocation <namespace>.<vpc>.<address>, as a NIC's). The load balancer is
// realized, as Octavia realizes one on an amphora, by:
//   - a selector-less Service (loadBalancerClass slb.cellcloud.io) whose EndpointSlices CellCloud
//     writes from the members (ready: running and not failing their checks), so a plain cluster's
//     kube-proxy can serve it too, and whose status shows the VIP and the ElasticIP bound to it;
//   - the HAProxy data plane: its configuration in a ConfigMap, run by a Deployment whose replicas
//     never share a host; they reload on their own when the configuration changes.
// Member health comes back from the replicas' statistics, in Octavia's vocabulary.
import { isDeepStrictEqual } from "node:util";
import { DATA_PLANE_LABEL, schedulerName, schedulingAnnotations } from "../api/platform.ts";
import { type InstanceObj } from "../api/compute.ts";
import {
  LoadBalancerRef, SLB_CLASS, SLB_LABEL, SLB_MANAGED_BY, slbObjectName, vpcScope,
  type ListenerSpec, type LoadBalancerObj, type LoadBalancerStatus, type MemberStatus, type OperatingStatus, type SubnetObj,
} from "../api/network.ts";
import { isTrue } from "../runtime/conditions.ts";
import { ConfigMapRef, DeploymentRef, EndpointSliceRef, isPodReady, ServiceRef, type ConfigMap, type Deployment, type EndpointSlice, type Pod, type Service } from "../runtime/core.ts";
import { canonicalIP, fixedIPProblem, planAddresses, releaseAllocation, subnetSpace, type AddressObservation } from "../runtime/ipam.ts";
import type { Action, ConditionSpec, Outcome, Plan } from "../runtime/managed.ts";
import { controllerRef } from "../runtime/objects.ts";
import type { KubeObject } from "../runtime/types.ts";
import {
  backendName, certFile, CONFIG_FILE, ENTRYPOINT, ENTRYPOINT_FILE, ENV, memberName, memberStatus, poolStatus, renderConfig,
  digestOf, STATS_PORT, type ReplicaStats, type ResolvedMember,
} from "./slb-haproxy.ts";

/** The data plane's image in a real cluster; the local data plane runs Debian's haproxy for it. */
export const HAPROXY_IMAGE = "docker.io/library/haproxy:2.6";
/** How often member health is read back while the load balancer exists. */
export const HEALTH_POLL_MS = 2_000;
const MOUNT = { config: "/usr/local/etc/haproxy", certs: "/etc/haproxy/certs", run: "/var/run/haproxy" } as const;

/** What a certificate Secret looks like (never its content): absent, of another type, or without a key. */
export interface CertificateFacts {
  found: boolean;
  type?: string;
  /** Whether it has both tls.crt and tls.key. */
  complete?: boolean;
  /** The manager may not read Secrets here: the data plane's mount is the only check. */
  forbidden?: boolean;
}

export interface LBObservation extends Omit<AddressObservation, "shown"> {
  /** The certificate Secrets by name, when looked at (while the load balancer is not Programmed). */
  certificates?: ReadonlyMap<string, CertificateFacts>;
  subnet?: SubnetObj;
  instance(name: string): InstanceObj | undefined;
  service?: Service;
  /** EndpointSlices labelled with this load balancer's Service. */
  slices: readonly EndpointSlice[];
  configMap?: ConfigMap;
  deployment?: Deployment;
  /** The data plane's pods. */
  pods: readonly Pod[];
  /** Each ready replica's statistics, by pod name (undefined: it did not answer). */
  stats: ReadonlyMap<string, ReplicaStats | undefined>;
  /** The address of an ElasticIP bound to this load balancer, if any. */
  publicIP?: string;
}

const running = (i: InstanceObj | undefined): i is InstanceObj =>
  !!i && !i.metadata.deletionTimestamp && i.status?.powerState === "Running" && isTrue(i.status?.conditions, "Ready");

/** Every pool's members with their addresses: an instance member has one only while it runs. */
export function resolveMembers(lb: LoadBalancerObj, o: Pick<LBObservation, "instance">): Map<string, ResolvedMember[]> {
  return new Map(lb.spec.pools.map((p) => [p.name, p.members.map((m) => {
    const inst = m.instance === undefined ? undefined : o.instance(m.instance);
    const address = m.address ?? (running(inst) ? inst.status?.nics?.[m.nic]?.ip : undefined);
    return { name: memberName(m), ...(address ? { address } : {}), port: m.port, weight: m.weight, backup: m.backup };
  })]));
}

export const readyReplicas = (pods: readonly Pod[]) => pods.filter((p) => !p.metadata.deletionTimestamp && isPodReady(p));

/** The protocol a listener's Service port and EndpointSlice port carry. */
const l4 = (l: ListenerSpec) => (l.protocol === "UDP" ? "UDP" : "TCP");

const labels = (lb: LoadBalancerObj) => ({ [SLB_LABEL]: lb.metadata.name, "app.kubernetes.io/managed-by": "cellcloud" });
const owned = (lb: LoadBalancerObj, name: string, extra: Record<string, string> = {}) => ({
  name, namespace: lb.metadata.namespace, labels: { ...labels(lb), ...extra }, ownerReferences: [controllerRef(lb, LoadBalancerRef)],
});

export function configMap(lb: LoadBalancerObj, members: ReadonlyMap<string, readonly ResolvedMember[]>): ConfigMap {
  return {
    apiVersion: "v1", kind: "ConfigMap", metadata: owned(lb, slbObjectName(lb.metadata.name)),
    data: { [CONFIG_FILE]: renderConfig(lb.spec, (p) => members.get(p) ?? []), [ENTRYPOINT_FILE]: ENTRYPOINT },
  };
}

export function deployment(lb: LoadBalancerObj): Deployment {
  const name = slbObjectName(lb.metadata.name);
  const certs = lb.spec.listeners.flatMap((l) => (l.certificateRefs ?? []).map((secret, i) => ({
    secret: { name: secret, items: [{ key: "tls.crt", path: certFile(l.name, i) }, { key: "tls.key", path: `${certFile(l.name, i)}.key` }] },
  })));
  const ports = [...lb.spec.listeners.filter((l) => l.protocol !== "UDP").map((l) => ({ name: l.name, containerPort: l.port, protocol: "TCP" })), { name: "stats", containerPort: STATS_PORT, protocol: "TCP" }];
  return {
    apiVersion: "apps/v1", kind: "Deployment", metadata: owned(lb, name),
    spec: {
      replicas: lb.spec.replicas,
      selector: { matchLabels: { [SLB_LABEL]: lb.metadata.name } },
      strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: {
          labels: { ...labels(lb), [DATA_PLANE_LABEL]: "local", "app.kubernetes.io/name": "haproxy" },
          annotations: { [schedulingAnnotations.antiAffinityGroup]: name },
        },
        spec: {
          schedulerName,
          ...(lb.spec.zone ? { nodeSelector: { "topology.kubernetes.io/zone": lb.spec.zone } } : {}),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          containers: [{
            name: "haproxy",
            image: HAPROXY_IMAGE,
            command: ["/bin/sh", `${MOUNT.config}/${ENTRYPOINT_FILE}`],
            env: [
              { name: ENV.podIP, valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
              { name: ENV.configDir, value: MOUNT.config },
              { name: ENV.certDir, value: MOUNT.certs },
              { name: ENV.runDir, value: MOUNT.run },
            ],
            ports,
            readinessProbe: { tcpSocket: { port: STATS_PORT }, periodSeconds: 2, failureThreshold: 2 },
            resources: { requests: { cpu: "100m", memory: "64Mi" }, limits: { memory: "256Mi" } },
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] } },
            volumeMounts: [
              { name: "config", mountPath: MOUNT.config, readOnly: true },
              { name: "certs", mountPath: MOUNT.certs, readOnly: true },
              { name: "run", mountPath: MOUNT.run },
            ],
          }],
          volumes: [
            { name: "config", configMap: { name } },
            certs.length ? { name: "certs", projected: { sources: certs } } : { name: "certs", emptyDir: {} },
            { name: "run", emptyDir: {} },
          ],
        },
      },
    },
  };
}

export function service(lb: LoadBalancerObj): Service {
  const sp = lb.spec.pools.map((p) => p.sessionPersistence?.type);
  const ranges = lb.spec.listeners.every((l) => l.allowedCIDRs?.length) ? [...new Set(lb.spec.listeners.flatMap((l) => l.allowedCIDRs!))] : [];
  return {
    apiVersion: "v1", kind: "Service", metadata: owned(lb, slbObjectName(lb.metadata.name)),
    spec: {
      type: "LoadBalancer",
      loadBalancerClass: SLB_CLASS,
      allocateLoadBalancerNodePorts: false,
      ports: lb.spec.listeners.map((l) => ({ name: l.name, port: l.port, targetPort: l.port, protocol: l4(l) })),
      ...(ranges.length ? { loadBalancerSourceRanges: ranges } : {}),
      ...(sp.includes("SourceIP") || lb.spec.pools.some((p) => p.algorithm === "SourceIP") ? { sessionAffinity: "ClientIP" } : {}),
    },
  };
}

/** The apiserver refuses these in an EndpointSlice (a member on the local data plane's loopback is one). */
const unroutable = (ip: string) => ip.startsWith("127.") || ip.startsWith("169.254.");

/**
 * One EndpointSlice per listener and member port, from its pool's members; ready: may take new
 * connections: it has an address (an instance runs), weight above 0, and no replica's check fails
 * it. Loopback and link-local members are left out: the apiserver refuses them.
 */
export function endpointSlices(lb: LoadBalancerObj, members: ReadonlyMap<string, readonly ResolvedMember[]>, status: (pool: string, member: string) => OperatingStatus): EndpointSlice[] {
  const svc = slbObjectName(lb.metadata.name);
  const out: EndpointSlice[] = [];
  for (const l of lb.spec.listeners) {
    const byPort = new Map<number, ResolvedMember[]>();
    for (const m of members.get(l.defaultPool) ?? []) if (m.address && !unroutable(m.address)) byPort.set(m.port, [...(byPort.get(m.port) ?? []), m]);
    for (const [port, ms] of [...byPort].sort((a, b) => a[0] - b[0])) {
      out.push({
        apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice",
        metadata: owned(lb, `${svc}-${l.name}-${port}`, { "kubernetes.io/service-name": svc, "endpointslice.kubernetes.io/managed-by": SLB_MANAGED_BY }),
        addressType: "IPv4",
        ports: [{ name: l.name, port, protocol: l4(l) }],
        endpoints: ms.map((m) => {
          const s = status(l.defaultPool, m.name);
          // only a failing check takes a member with an address out (no report yet is not a verdict)
          const serving = s !== "ERROR";
          return { addresses: [m.address!], conditions: { ready: serving && m.weight > 0, serving, terminating: false } };
        }),
      });
    }
  }
  return out;
}

const apply = (ref: Action["ref"], object: KubeObject, cached: KubeObject | undefined): Action => ({ verb: "apply", ref, object, ...(cached ? { cached } : {}) });

/** What the data plane reports: its ready replicas, those that answered, and each pool's, member's and listener's status. */
export interface DataPlaneHealth {
  ready: Pod[];
  answered: ReplicaStats[];
  pools: NonNullable<LoadBalancerStatus["pools"]>;
  listeners: NonNullable<LoadBalancerStatus["listeners"]>;
  memberState(pool: string, member: string): OperatingStatus;
}

export function dataPlaneHealth(lb: LoadBalancerObj, members: ReadonlyMap<string, readonly ResolvedMember[]>, o: Pick<LBObservation, "pods" | "stats">): DataPlaneHealth {
  const ready = readyReplicas(o.pods);
  const answered = ready.map((p) => o.stats.get(p.metadata.name)).filter((r): r is ReplicaStats => r !== undefined);
  const states = new Map<string, OperatingStatus>();
  const pools = lb.spec.pools.map((p) => {
    const backends = lb.spec.listeners.filter((l) => l.defaultPool === p.name && l.protocol !== "UDP").map((l) => backendName(l.name));
    const ms: MemberStatus[] = (members.get(p.name) ?? []).map((m) => {
      // a UDP pool (or one no TCP listener uses) is served by the Service alone: nothing checks its members
      const st: OperatingStatus = p.protocol === "UDP" || backends.length === 0 ? (m.address ? (m.weight === 0 ? "DRAINING" : "NO_MONITOR") : "OFFLINE")
        : memberStatus(m, Boolean(p.healthCheck), answered.flatMap((r) => backends.map((b) => r.servers.find((x) => x.backend === b && x.server === m.name))));
      states.set(`${p.name}/${m.name}`, st);
      return { name: m.name, ...(m.address ? { address: m.address } : {}), weight: m.weight, operatingStatus: st };
    });
    return { name: p.name, operatingStatus: poolStatus(ms.map((m) => m.operatingStatus)), members: ms };
  });
  const listeners = lb.spec.listeners.map((l) => ({
    name: l.name, port: l.port,
    operatingStatus: (l.protocol !== "UDP" && !answered.length ? "OFFLINE" : pools.find((p) => p.name === l.defaultPool)?.operatingStatus ?? "ERROR") as OperatingStatus,
  }));
  return { ready, answered, pools, listeners, memberState: (pool, member) => states.get(`${pool}/${member}`) ?? "OFFLINE" };
}

/** Accepted, Programmed, Degraded and Ready, from what was met. */
function lbConditions(lb: LoadBalancerObj, f: { vip?: string; problem?: { reason: string; message: string }; digest?: string; health: DataPlaneHealth; pods: readonly Pod[]; publicIP?: string }): ConditionSpec[] {
  const { ready, answered, pools } = f.health;
  const accepted: ConditionSpec = f.problem
    ? { type: "Accepted", status: "False", reason: f.problem.reason, message: f.problem.message, ...(f.problem.reason === "AllocatingAddress" ? {} : { announce: "Warning" as const }) }
    : { type: "Accepted", status: "True", reason: "Accepted", message: `VIP ${f.vip} from subnet ${lb.spec.vip.subnet}` };
  const current = answered.filter((r) => r.digest === f.digest).length;
  const programmed: ConditionSpec = !answered.length
    ? { type: "Programmed", status: "False", reason: "DataPlaneNotReady", message: dataPlaneProblem(f.pods, lb.spec.replicas) }
    : current < answered.length
      ? { type: "Programmed", status: "False", reason: "Reloading", message: `${current} of ${answered.length} serving replica(s) run the current configuration; the others are reloading` }
      : { type: "Programmed", status: "True", reason: "Programmed", message: `${ready.length} of ${lb.spec.replicas} HAProxy replica(s) serving` };
  const bad = pools.filter((p) => p.operatingStatus !== "ONLINE");
  const unhealthy = (p: (typeof pools)[number]) => p.members.filter((m) => m.operatingStatus === "ERROR" || m.operatingStatus === "OFFLINE").map((m) => `${m.name} ${m.operatingStatus}`).join(", ") || "no members";
  const degraded: ConditionSpec = !answered.length
    ? { type: "Degraded", status: "False", reason: "NotServing", message: "no data plane replica serves yet" }
    : bad.length
      ? { type: "Degraded", status: "True", reason: "MembersUnhealthy", message: bad.map((p) => `pool ${p.name} ${p.operatingStatus}: ${unhealthy(p)}`).join("; "), announce: "Warning" }
      : ready.length < lb.spec.replicas
        ? { type: "Degraded", status: "True", reason: "ReplicasUnavailable", message: `${ready.length} of ${lb.spec.replicas} data plane replicas ready`, announce: "Warning" }
        : { type: "Degraded", status: "False", reason: "Healthy", message: "" };
  const notReady = accepted.status !== "True" ? accepted : programmed.status !== "True" ? programmed : undefined;
  const readyCond: ConditionSpec = notReady
    ? { type: "Ready", status: "False", reason: notReady.reason, message: notReady.message ?? "" }
    : { type: "Ready", status: "True", reason: "Available", message: `${f.vip}${f.publicIP ? ` (public ${f.publicIP})` : ""}: ${lb.spec.listeners.map((l) => `${l.protocol} ${l.port}`).join(", ")}` };
  return [accepted, programmed, degraded, readyCond];
}

export function lbPlan(lb: LoadBalancerObj, o: LBObservation, random: number): Plan {
  const ns = lb.metadata.namespace ?? "";
  const owner = { kind: "LoadBalancer", namespace: ns, name: lb.metadata.name, uid: lb.metadata.uid ?? "" };
  const fixed = lb.spec.vip.address === undefined ? undefined : canonicalIP(lb.spec.vip.address);
  const s = o.subnet;
  const subnetProblem = vipProblem(lb, s, fixed);
  const certProblem = certificateProblem(lb, o.certificates);

  // ---- the VIP ----
  const scope = s ? vpcScope(ns, s.spec.vpc) : "";
  const shown = lb.status?.vip && s ? { vip: { scope, address: lb.status.vip } } : {};
  const addr = s && !subnetProblem
    ? planAddresses(owner, [{ slot: "vip", scope, space: subnetSpace(s.spec), ...(fixed ? { fixed } : {}), record: { subnet: s.metadata.name }, field: "spec.vip", from: `subnet ${s.metadata.name}` }], { ...o, shown }, random)
    : undefined;
  const actions: Action[] = [...(addr?.creates ?? [])];
  const k = actions.length;

  // ---- the realization ----
  const members = resolveMembers(lb, o);
  const health = dataPlaneHealth(lb, members, o);
  const cm = configMap(lb, members);
  const svc = service(lb);
  const slices = endpointSlices(lb, members, health.memberState);
  actions.push(apply(ConfigMapRef, cm, o.configMap), apply(DeploymentRef, deployment(lb), o.deployment), apply(ServiceRef, svc, o.service));
  for (const sl of slices) actions.push(apply(EndpointSliceRef, sl, o.slices.find((x) => x.metadata.name === sl.metadata.name)));
  const ingress = serviceStatusPatch(o.service, lb.status?.vip, o.publicIP);
  if (ingress) actions.push(ingress);
  for (const old of o.slices) {
    if (!slices.some((x) => x.metadata.name === old.metadata.name)) actions.push({ verb: "delete", ref: EndpointSliceRef, name: old.metadata.name, namespace: ns, uid: old.metadata.uid });
  }

  return {
    actions,
    status: (outcomes: readonly Outcome[]) => {
      const slot = addr?.slots(outcomes.slice(0, k))[0];
      const vip = slot?.state === "held" ? slot.address : slot?.address ?? lb.status?.vip;
      const problem = subnetProblem ?? certProblem ?? (slot?.state === "problem" ? slot : undefined);
      const conditions = lbConditions(lb, { vip, problem, digest: digestOf(cm.data![CONFIG_FILE]!), health, pods: o.pods, publicIP: o.publicIP });
      return {
        conditions,
        fields: {
          vip, publicIP: o.publicIP, readyReplicas: health.ready.length,
          dataPlaneAddresses: health.ready.map((p) => p.status?.podIP).filter((x): x is string => Boolean(x)).sort(),
          listeners: health.listeners, pools: health.pools,
        },
        ...(slot?.state === "problem" && slot.stalled ? { stalled: { reason: slot.reason, message: slot.message } } : {}),
      };
    },
    ...(addr?.releases.length ? { afterStatus: addr.releases } : {}),
    events: (outcomes) => {
      const slot = addr?.slots(outcomes.slice(0, k))[0];
      return slot?.state === "held" && slot.address !== lb.status?.vip ? [{ type: "Normal", reason: "VIPAllocated", message: `VIP ${slot.address} from subnet ${lb.spec.vip.subnet}` }] : [];
    },
    requeueAfterMs: addr?.allocating ? 1_000 : HEALTH_POLL_MS,
  };
}

/** Why the VIP cannot come from the spec's subnet, if it cannot. */
function vipProblem(lb: LoadBalancerObj, s: SubnetObj | undefined, fixed: string | undefined): { reason: string; message: string } | undefined {
  const field = `spec.vip.subnet: Subnet "${lb.spec.vip.subnet}"`;
  if (!s) return { reason: "SubnetNotFound", message: `${field} not found in this namespace` };
  if (s.metadata.deletionTimestamp || !isTrue(s.status?.conditions, "Ready")) return { reason: "SubnetNotReady", message: `${field} is not ready` };
  const bad = fixed === undefined ? undefined : fixedIPProblem(s.spec, fixed, "spec.vip.address");
  return bad ? { reason: "InvalidAddress", message: bad } : undefined;
}

/** The first certificate reference that cannot work, naming its field. */
function certificateProblem(lb: LoadBalancerObj, certs: LBObservation["certificates"]): { reason: string; message: string } | undefined {
  if (!certs) return undefined;
  for (const [li, l] of lb.spec.listeners.entries()) {
    for (const [i, name] of (l.certificateRefs ?? []).entries()) {
      const f = certs.get(name);
      const field = `spec.listeners[${li}].certificateRefs[${i}]`;
      if (!f || f.forbidden) continue;
      if (!f.found) return { reason: "CertificateNotFound", message: `${field}: Secret "${name}" not found in this namespace` };
      if (f.type !== "kubernetes.io/tls") return { reason: "CertificateInvalid", message: `${field}: Secret "${name}" is of type ${f.type ?? "Opaque"}, not kubernetes.io/tls` };
      if (!f.complete) return { reason: "CertificateInvalid", message: `${field}: Secret "${name}" lacks tls.crt or tls.key` };
    }
  }
  return undefined;
}

/** The Service's status: the VIP, then the ElasticIP. Undefined when it already shows them. */
export function serviceStatusPatch(svc: Service | undefined, vip: string | undefined, publicIP: string | undefined): Action | undefined {
  if (!svc) return undefined;
  const ingress = [...(vip ? [{ ip: vip, ipMode: "VIP" }] : []), ...(publicIP ? [{ ip: publicIP, ipMode: "VIP" }] : [])];
  if (isDeepStrictEqual(svc.status?.loadBalancer?.ingress ?? [], ingress)) return undefined;
  return { verb: "update", ref: ServiceRef, name: svc.metadata.name, namespace: svc.metadata.namespace, subresource: "status", patch: { status: { loadBalancer: { ingress } } } };
}

/** Why no replica serves: the pods' own words (a missing certificate Secret shows here). */
function dataPlaneProblem(pods: readonly Pod[], want: number): string {
  const waiting = pods.flatMap((p) => (p.status?.containerStatuses ?? []).flatMap((c) => (c.state?.waiting?.reason && c.state.waiting.reason !== "ContainerCreating" ? [`${p.metadata.name}: ${c.state.waiting.reason}: ${c.state.waiting.message ?? ""}`] : [])));
  if (waiting.length) return waiting.slice(0, 2).join("; ");
  if (!pods.length) return `waiting for ${want} HAProxy replica(s) to be created`;
  const pending = pods.filter((p) => !p.spec?.nodeName).length;
  return pending ? `${pending} replica(s) not yet placed on a host` : "waiting for an HAProxy replica to become ready";
}

/** Deleting: the VIP is released (the Service, slices and data plane are garbage-collected with it). */
export function lbFinalize(_lb: LoadBalancerObj, o: LBObservation): Plan {
  return { actions: o.held.map(releaseAllocation), done: true };
}
