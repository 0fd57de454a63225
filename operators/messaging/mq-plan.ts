// What the MQInstance controller does (pure). An MQInstance is realized as:
//   - one EVS Volume per broker (its data), so storage is quota-charged, placed and grown as any volume;
//   - a pod per broker (<name>-<id>), owned by the instance, placed by the cell scheduler never two on
//     one host, running the broker (the official image in a cluster; the machine's Kafka jars or
//     rabbitmq-server on the local plane);
//   - a ConfigMap Kafka's brokers wait for: the cluster id and the controller quorum, written once
//     the quorum's pods have addresses (RabbitMQ's nodes find each other by name, from their env);
//   - the credentials Secret (the default user's password, generated once, never rewritten), an
//     internal Secret (the operator user's password, RabbitMQ's Erlang cookie);
//   - a <name>-client Service selecting the brokers, and a NetworkPolicy from spec.allowedCIDRs;
//   - on the brokers (through their admin APIs, once they answer): the default user, Kafka's retention
//     defaults as cluster-wide dynamic configuration, RabbitMQ's virtual hosts.
// Scale-in never loses data: the brokers to remove must hold no partition replica (Kafka) and never
// be the controller quorum; RabbitMQ is never scaled in (its schema refuses it).
import { randomBytes } from "node:crypto";
import {
  brokerName, brokerVolumeName, clientServiceName, configMapName, credentialsSecretName, internalSecretName, KAFKA_PORTS, MAX_CONTROLLERS,
  MQ_FLAVORS, MQ_IMAGES, MQ_KEYS, MQ_BROKER_LABEL, MQ_LABEL, MQ_MOUNTS, MQ_VERSIONS, MQInstanceRef, networkPolicyName, RABBIT_PORTS,
  type MQBrokerStatus, type MQInstanceObj,
} from "../api/messaging.ts";
import { memberPodShape } from "../api/platform.ts";
import { claimName, VolumeRef, type VolumeObj } from "../api/storage.ts";
import { ConfigMapRef, isPodReady, NetworkPolicyRef, PodRef, SecretRef, ServiceRef, type ConfigMap, type Pod, type Service } from "../runtime/core.ts";
import type { Action, ConditionSpec, ExternalCall, Plan } from "../runtime/managed.ts";
import { controllerRef } from "../runtime/objects.ts";
import type { KubeObject } from "../runtime/types.ts";

/** How often a running instance's brokers are looked at. */
export const MQ_POLL_MS = 3_000;

export interface MQFresh { password: string; operatorPassword: string; cookie: string; clusterId: string }

/** What the brokers say, when they answered. */
export interface BrokerSide {
  /** Broker ids (Kafka) or node indexes (RabbitMQ) the cluster lists as running. */
  running: number[];
  /** Kafka: partitions ("topic-3") each broker holds a replica of. */
  replicas?: Map<number, string[]>;
  defaultUser: boolean;
  /** Kafka: cluster-wide retention settings now; RabbitMQ: virtual hosts now. */
  retention?: Map<string, string>;
  vhosts?: string[];
}

export interface MQObservation {
  forbidden?: string;
  subnet: boolean;
  pods: ReadonlyMap<string, Pod>;
  volumes: ReadonlyMap<string, VolumeObj>;
  service?: Service;
  networkPolicy?: KubeObject & { spec?: unknown };
  configMap?: ConfigMap;
  credentialsSecret: boolean;
  internalSecret: boolean;
  fresh: MQFresh;
  /** The brokers' answer, or why there is none. */
  brokers?: BrokerSide | { error: string };
  /** Makes the brokers match: the default user, retention, virtual hosts (the controller binds the clients). */
  sync(what: { defaultUser: boolean; retention?: Map<string, string | undefined>; vhosts?: { add: string[]; remove: string[] } }): ExternalCall;
}

export const isKafka = (mq: MQInstanceObj) => mq.spec.engine === "kafka";

/**
 * A new Kafka cluster id: 16 random bytes, base64url, never starting with "-" (Kafka's own
 * Uuid.randomUuid avoids it too: the storage tool would read "-1xEC…" as an option).
 */
export function kafkaClusterId(random: () => Buffer = () => randomBytes(16)): string {
  for (;;) {
    const id = random().toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}
/** A RabbitMQ cluster's name, part of its nodes' names: unique per instance (by uid). */
export const rabbitCluster = (mq: MQInstanceObj) => (mq.metadata.uid ?? mq.metadata.name).replace(/-/g, "").slice(0, 12);
export const brokerSize = (mq: MQInstanceObj) => MQ_FLAVORS[mq.spec.flavor ?? "1C2G"];
/** Kafka's controller quorum: fixed when the instance is first seen. */
export function quorum(mq: MQInstanceObj): number[] {
  return mq.status?.controllerQuorum ?? Array.from({ length: Math.min(mq.spec.brokers, MAX_CONTROLLERS) }, (_, i) => i);
}

const labels = (mq: MQInstanceObj) => ({ [MQ_LABEL]: mq.metadata.name, "app.kubernetes.io/managed-by": "cellcloud", "app.kubernetes.io/name": mq.spec.engine });
const owned = (mq: MQInstanceObj, name: string, extra: Record<string, string> = {}) =>
  ({ name, namespace: mq.metadata.namespace, labels: { ...labels(mq), ...extra }, ownerReferences: [controllerRef(mq, MQInstanceRef)] });
const b64 = (s: string) => Buffer.from(s).toString("base64");

export function brokerVolume(mq: MQInstanceObj, id: number): VolumeObj {
  return {
    apiVersion: "storage.cellcloud.io/v1alpha1", kind: "Volume", metadata: owned(mq, brokerVolumeName(mq.metadata.name, id)),
    spec: { size: mq.spec.storage.size, type: mq.spec.storage.type, zone: mq.spec.zone, multiAttach: false },
  } as VolumeObj;
}

export function brokerPod(mq: MQInstanceObj, id: number): Pod {
  const name = brokerName(mq.metadata.name, id);
  const size = brokerSize(mq);
  const kafka = isKafka(mq);
  const clientPort = kafka ? KAFKA_PORTS.client : RABBIT_PORTS.amqp;
  const ports = kafka
    ? [{ name: "client", containerPort: KAFKA_PORTS.client }, { name: "internal", containerPort: KAFKA_PORTS.internal }, { name: "controller", containerPort: KAFKA_PORTS.controller }]
    : [{ name: "amqp", containerPort: RABBIT_PORTS.amqp }, { name: "management", containerPort: RABBIT_PORTS.management }, { name: "dist", containerPort: RABBIT_PORTS.dist }];
  const secretItems = kafka ? [MQ_KEYS.operatorPassword] : [MQ_KEYS.operatorPassword, MQ_KEYS.cookie];
  const shape = memberPodShape({ zone: mq.spec.zone, hostname: name, group: `mq-${mq.metadata.name}` });
  return {
    apiVersion: "v1", kind: "Pod",
    metadata: { ...owned(mq, name, { [MQ_BROKER_LABEL]: String(id), ...shape.labels }), annotations: shape.annotations },
    spec: {
      ...shape.spec,
      containers: [{
        name: mq.spec.engine,
        image: MQ_IMAGES[mq.spec.engine as "kafka" | "rabbitmq"],
        env: [
          { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
          { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
          ...(kafka ? [{ name: "KAFKA_NODE_ID", value: String(id) }, { name: "KAFKA_ROLES", value: quorum(mq).includes(id) ? "broker,controller" : "broker" }] : [{ name: "RABBIT_NODE_INDEX", value: String(id) }, { name: "RABBIT_CLUSTER", value: rabbitCluster(mq) }, { name: "RABBIT_NODES", value: String(Math.max(id + 1, mq.spec.brokers)) }]),
          { name: "MQ_DATA", value: MQ_MOUNTS.data },
          { name: "MQ_CONFIG", value: MQ_MOUNTS.config },
          { name: "MQ_SECRETS", value: MQ_MOUNTS.secrets },
        ],
        ports: ports.map((p) => ({ ...p, protocol: "TCP" })),
        readinessProbe: { tcpSocket: { port: clientPort }, periodSeconds: 2, failureThreshold: 1 },
        resources: { requests: { cpu: String(size.cpu), memory: size.memory }, limits: { memory: size.memory } },
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
        volumeMounts: [
          { name: "data", mountPath: MQ_MOUNTS.data },
          { name: "config", mountPath: MQ_MOUNTS.config, readOnly: true },
          { name: "secrets", mountPath: MQ_MOUNTS.secrets, readOnly: true },
        ],
      }],
      volumes: [
        { name: "data", persistentVolumeClaim: { claimName: claimName(brokerVolumeName(mq.metadata.name, id)) } },
        { name: "config", configMap: { name: configMapName(mq.metadata.name) } },
        { name: "secrets", secret: { secretName: internalSecretName(mq.metadata.name), items: secretItems.map((k) => ({ key: k, path: k })) } },
      ],
    },
  } as Pod;
}

export function clientService(mq: MQInstanceObj): Service {
  const ports = isKafka(mq)
    ? [{ name: "client", port: KAFKA_PORTS.client }]
    : [{ name: "amqp", port: RABBIT_PORTS.amqp }, { name: "management", port: RABBIT_PORTS.management }];
  return {
    apiVersion: "v1", kind: "Service", metadata: owned(mq, clientServiceName(mq.metadata.name)),
    spec: { type: "ClusterIP", selector: { [MQ_LABEL]: mq.metadata.name }, ports: ports.map((p) => ({ ...p, targetPort: p.port, protocol: "TCP" })) },
  } as Service;
}

export function credentialsSecret(mq: MQInstanceObj, password: string): KubeObject {
  const host = `${clientServiceName(mq.metadata.name)}.${mq.metadata.namespace}.svc`;
  const user = mq.spec.defaultUser ?? "admin";
  const enc = encodeURIComponent;
  const data: Record<string, string> = isKafka(mq)
    ? { username: user, password, mechanism: "SCRAM-SHA-512", "bootstrap-servers": `${host}:${KAFKA_PORTS.client}` }
    : { username: user, password, host, port: String(RABBIT_PORTS.amqp), uri: `amqp://${enc(user)}:${enc(password)}@${host}:${RABBIT_PORTS.amqp}/` };
  return {
    apiVersion: "v1", kind: "Secret", metadata: owned(mq, credentialsSecretName(mq.metadata.name)), type: "Opaque",
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  } as KubeObject;
}

export function internalSecret(mq: MQInstanceObj, f: MQFresh): KubeObject {
  return {
    apiVersion: "v1", kind: "Secret", metadata: owned(mq, internalSecretName(mq.metadata.name)), type: "Opaque",
    data: { [MQ_KEYS.operatorPassword]: b64(f.operatorPassword), [MQ_KEYS.cookie]: b64(f.cookie) },
  } as KubeObject;
}

/** Brokers reach each other on every port; clients reach the client ports from the allowlist; the manager the admin ports. */
export function networkPolicy(mq: MQInstanceObj): KubeObject & { spec: Record<string, unknown> } {
  const self = { podSelector: { matchLabels: { [MQ_LABEL]: mq.metadata.name } } };
  const clients = mq.spec.allowedCIDRs?.length ? mq.spec.allowedCIDRs.map((cidr) => ({ ipBlock: { cidr } })) : undefined;
  const kafka = isKafka(mq);
  return {
    apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: owned(mq, networkPolicyName(mq.metadata.name)),
    spec: {
      podSelector: { matchLabels: { [MQ_LABEL]: mq.metadata.name } },
      policyTypes: ["Ingress"],
      ingress: [
        { from: [self] },
        { ...(clients ? { from: clients } : {}), ports: [{ protocol: "TCP", port: kafka ? KAFKA_PORTS.client : RABBIT_PORTS.amqp }] },
        // the manager administers the brokers (the operator user's password) from wherever it runs
        { ports: [{ protocol: "TCP", port: kafka ? KAFKA_PORTS.internal : RABBIT_PORTS.management }] },
      ],
    },
  };
}

/** "a, b, c and 12 more". */
function listed(items: readonly string[], max = 12): string {
  return items.length <= max ? items.join(", ") : `${items.slice(0, max).join(", ")} and ${items.length - max} more`;
}

/** Replicas per broker, and whether they are uneven: a broker with less than half the average (new brokers get new partitions only). */
export function balance(replicas: ReadonlyMap<number, readonly string[]>, ids: readonly number[]): { unbalanced: boolean; message?: string } {
  if (ids.length < 2) return { unbalanced: false };
  const counts = ids.map((id) => replicas.get(id)?.length ?? 0);
  const avg = counts.reduce((a, b) => a + b, 0) / ids.length;
  const unbalanced = avg > 0 && counts.some((c) => c < avg / 2);
  return unbalanced ? { unbalanced, message: `replicas per broker: ${ids.map((id, i) => `${id}: ${counts[i]}`).join(", ")}; new brokers receive new partitions only (reassign partitions to move existing ones)` } : { unbalanced };
}

/** Whether the brokers above spec.brokers may go, and why not. */
export function scaleIn(mq: MQInstanceObj, existing: readonly number[], brokers: MQObservation["brokers"]): { remove: number[]; blocked?: string } {
  const extra = existing.filter((id) => id >= mq.spec.brokers);
  if (!extra.length) return { remove: [] };
  const inQuorum = extra.filter((id) => quorum(mq).includes(id));
  if (inQuorum.length) return { remove: [], blocked: `brokers ${inQuorum.join(", ")} belong to the controller quorum (${quorum(mq).join(", ")}) and cannot be removed` };
  if (!brokers || "error" in brokers || !brokers.replicas) return { remove: [], blocked: `cannot tell which partitions brokers ${extra.join(", ")} hold: ${brokers && "error" in brokers ? brokers.error : "the brokers have not answered"}` };
  const held = extra.flatMap((id) => (brokers.replicas!.get(id) ?? []).map((p) => `${p} (broker ${id})`));
  if (held.length) return { remove: [], blocked: `brokers ${extra.join(", ")} hold replicas of ${held.length} partitions: ${listed(held)}; reassign them before scaling in` };
  return { remove: extra };
}

export function mqPlan(mq: MQInstanceObj, o: MQObservation, now: number): Plan {
  const name = mq.metadata.name;
  const ns = mq.metadata.namespace!;
  const kafka = isKafka(mq);
  const actions: Action[] = [];
  if (o.forbidden) return { status: { conditions: [{ type: "Ready", status: "False", reason: "SecretsForbidden", message: o.forbidden }] }, requeueAfterMs: 30_000 };
  if (!o.subnet) {
    return { status: { conditions: [{ type: "Ready", status: "False", reason: "SubnetNotFound", message: `spec.subnet: Subnet "${mq.spec.subnet}" not found in this namespace` }] }, requeueAfterMs: 5_000 };
  }
  const q = quorum(mq);
  const checkpoint = kafka && !mq.status?.controllerQuorum ? { controllerQuorum: q } : undefined;
  if (!o.credentialsSecret) actions.push({ verb: "create", ref: SecretRef, object: credentialsSecret(mq, o.fresh.password) });
  if (!o.internalSecret) actions.push({ verb: "create", ref: SecretRef, object: internalSecret(mq, o.fresh) });

  const existing = [...new Set([...o.pods.values()].map((p) => Number(p.metadata.labels?.[MQ_BROKER_LABEL])).concat(
    [...o.volumes.keys()].map((v) => Number(v.slice(name.length + 1)))))].filter((n) => Number.isInteger(n) && n >= 0).sort((a, b) => a - b);
  const sc = scaleIn(mq, existing, o.brokers);
  const ids = [...new Set([...Array.from({ length: mq.spec.brokers }, (_, i) => i), ...existing.filter((id) => !sc.remove.includes(id))])].sort((a, b) => a - b);

  // the ConfigMap: created with the cluster id, completed once the pods that form the controller
  // quorum have addresses, and rewritten when they come back with others (the instance resumed, a pod
  // recreated): brokers restart on a change (agents/mq/kafka-node.ts). In a cluster, pods' DNS names.
  const addr = (id: number) => o.pods.get(brokerName(name, id))?.status?.podIP;
  const data: Record<string, string> = { ...(o.configMap?.data ?? {}) };
  if (kafka) {
    data[MQ_KEYS.clusterId] ??= o.fresh.clusterId;
    // the default user is a super user, as the instance's owner (its name is immutable)
    data[MQ_KEYS.defaultUser] = mq.spec.defaultUser ?? "admin";
    if (q.every((id) => addr(id))) data[MQ_KEYS.voters] = q.map((id) => `${id}@${addr(id)}:${KAFKA_PORTS.controller}`).join(",");
  }
  const cm = { apiVersion: "v1", kind: "ConfigMap", metadata: owned(mq, configMapName(name)), data } as ConfigMap;
  if (!o.configMap) actions.push({ verb: "create", ref: ConfigMapRef, object: cm });
  else if (JSON.stringify(o.configMap.data ?? {}) !== JSON.stringify(data)) actions.push({ verb: "update", ref: ConfigMapRef, name: configMapName(name), namespace: ns, patch: { data } });

  for (const id of ids) {
    const v = brokerVolume(mq, id);
    const have = o.volumes.get(v.metadata.name);
    if (!have) actions.push({ verb: "create", ref: VolumeRef, object: v });
    else if (have.spec.size !== v.spec.size) actions.push({ verb: "update", ref: VolumeRef, name: v.metadata.name, namespace: ns, patch: { spec: { size: v.spec.size } } });
    const pod = o.pods.get(brokerName(name, id));
    if (mq.spec.suspended) {
      if (pod) actions.push({ verb: "delete", ref: PodRef, name: pod.metadata.name, namespace: ns });
    } else if (!pod && have?.status?.claim && o.configMap && o.internalSecret) {
      actions.push({ verb: "create", ref: PodRef, object: brokerPod(mq, id) });
    }
  }
  for (const id of sc.remove) {
    if (o.pods.get(brokerName(name, id))) actions.push({ verb: "delete", ref: PodRef, name: brokerName(name, id), namespace: ns });
    if (o.volumes.get(brokerVolumeName(name, id))) actions.push({ verb: "delete", ref: VolumeRef, name: brokerVolumeName(name, id), namespace: ns });
  }
  const svc = clientService(mq);
  actions.push({ verb: "apply", ref: ServiceRef, object: svc, ...(o.service ? { cached: o.service } : {}) });
  actions.push({ verb: "apply", ref: NetworkPolicyRef, object: networkPolicy(mq), ...(o.networkPolicy ? { cached: o.networkPolicy } : {}) });

  // the brokers' side
  const side = o.brokers && !("error" in o.brokers) ? o.brokers : undefined;
  const calls: ExternalCall[] = [];
  if (side) {
    const retention = kafka ? retentionDiff(mq, side.retention ?? new Map()) : undefined;
    const want = ["/", ...(mq.spec.vhosts ?? [])];
    const vhosts = !kafka && side.vhosts ? { add: want.filter((v) => !side.vhosts!.includes(v)), remove: side.vhosts.filter((v) => !want.includes(v)) } : undefined;
    const needed = !side.defaultUser || (retention && retention.size) || (vhosts && (vhosts.add.length || vhosts.remove.length));
    if (needed && !mq.spec.suspended) calls.push(o.sync({ defaultUser: !side.defaultUser, ...(retention?.size ? { retention } : {}), ...(vhosts ? { vhosts } : {}) }));
  }

  // status
  const brokers: MQBrokerStatus[] = ids.map((id) => {
    const pod = o.pods.get(brokerName(name, id));
    const running = side?.running.includes(id) ?? false;
    const ready = Boolean(pod && isPodReady(pod) && running);
    const message = ready ? undefined
      : mq.spec.suspended ? "suspended"
      : !pod ? "its pod does not exist yet"
      : !pod.status?.podIP ? "its pod has not started"
      : !isPodReady(pod) ? (kafka && !data[MQ_KEYS.voters] ? "waiting for the controller quorum's addresses" : "its client port does not answer")
      : !side ? "the brokers do not answer the admin API" : "not listed by the cluster as running";
    return {
      id, name: brokerName(name, id), ready,
      ...(pod?.spec?.nodeName ? { node: pod.spec.nodeName } : {}), ...(pod?.status?.podIP ? { address: pod.status.podIP } : {}),
      ...(kafka ? { controller: q.includes(id) } : {}),
      ...(side?.replicas ? { replicas: side.replicas.get(id)?.length ?? 0 } : {}),
      ...(message ? { message } : {}),
    };
  });
  const readyBrokers = brokers.filter((b) => b.ready).length;
  const port = kafka ? KAFKA_PORTS.client : RABBIT_PORTS.amqp;
  const addresses = brokers.filter((b) => b.address).map((b) => `${b.address}:${port}`);
  const listeners = [{
    name: kafka ? "client" : "amqp", service: clientServiceName(name), authentication: kafka ? "scram-sha-512" : "plain",
    ...(addresses.length ? { addresses, ...(kafka ? { bootstrapServers: addresses.join(",") } : {}) } : {}),
  }];
  const bal = kafka && side?.replicas ? balance(side.replicas, ids.filter((id) => side.running.includes(id))) : { unbalanced: false };
  const fields: Record<string, unknown> = {
    version: mq.spec.version ?? MQ_VERSIONS[mq.spec.engine as "kafka" | "rabbitmq"],
    listeners, brokers, brokerIds: ids, readyBrokers, credentialsSecret: credentialsSecretName(name),
    ...(kafka ? { controllerQuorum: q, clusterId: data[MQ_KEYS.clusterId], unbalanced: bal.unbalanced, unbalancedMessage: bal.message } : {}),
    billingPausedAt: mq.spec.suspended ? (mq.status?.billingPausedAt ?? new Date(now).toISOString()) : undefined,
  };
  const all = readyBrokers === mq.spec.brokers && ids.length === mq.spec.brokers;
  const notReady = brokers.filter((b) => !b.ready);
  const ready = Boolean(side && side.defaultUser && readyBrokers > 0 && !mq.spec.suspended);
  const conditions: ConditionSpec[] = [
    all
      ? { type: "AllBrokersReady", status: "True", reason: "AllReady", message: `${readyBrokers}/${mq.spec.brokers} brokers ready` }
      : { type: "AllBrokersReady", status: "False", reason: mq.spec.suspended ? "Suspended" : "BrokersNotReady", message: listed(notReady.map((b) => `${b.name}: ${b.message}`), 5), announce: "Warning" },
    sc.blocked
      ? { type: "ScaleDownBlocked", status: "True", reason: "BrokersHoldData", message: sc.blocked, announce: "Warning" }
      : { type: "ScaleDownBlocked", status: "False", reason: "NoScaleDown", message: "no broker is waiting to be removed" },
    ready
      ? { type: "Ready", status: "True", reason: "Available", message: `${readyBrokers}/${mq.spec.brokers} brokers serve at ${clientServiceName(name)}` }
      : {
        type: "Ready", status: "False",
        reason: mq.spec.suspended ? "Suspended" : !side ? "BrokersUnavailable" : !side.defaultUser ? "DefaultUserPending" : "BrokersUnavailable",
        message: mq.spec.suspended ? "spec.suspended: the brokers are stopped (volumes and credentials kept)"
          : !side ? `the brokers do not answer yet${o.brokers && "error" in o.brokers ? `: ${o.brokers.error}` : ""}`
          : !side.defaultUser ? `creating the default user ${mq.spec.defaultUser ?? "admin"}` : "no broker is ready",
      },
  ];
  return { ...(checkpoint ? { checkpoint } : {}), actions, calls, status: { fields, conditions }, requeueAfterMs: MQ_POLL_MS };
}

/** Kafka's retention defaults to set (a value) or remove (undefined), against what the cluster has. */
export function retentionDiff(mq: MQInstanceObj, have: ReadonlyMap<string, string>): Map<string, string | undefined> {
  const want = new Map<string, string>();
  if (mq.spec.retention?.hours) want.set("log.retention.hours", String(mq.spec.retention.hours));
  if (mq.spec.retention?.bytesPerPartition) want.set("log.retention.bytes", String(mq.spec.retention.bytesPerPartition));
  const diff = new Map<string, string | undefined>();
  for (const [k, v] of want) if (have.get(k) !== v) diff.set(k, v);
  for (const k of have.keys()) if (!want.has(k)) diff.set(k, undefined);
  return diff;
}
