// Reconciles MQInstances on the managed reconciler: observes the brokers' pods, volumes, Service,
// ConfigMap and Secrets from caches and asks the brokers themselves (Kafka's admin protocol,
// RabbitMQ's management API, each bounded in time), then carries out mqPlan. It looks again every few
// seconds while the instance exists: broker health, replicas and drift of the default user come
// from the brokers, not from events.
import { randomBytes } from "node:crypto";
import { clientServiceName, configMapName, MQ_FINALIZER, MQ_LABEL, MQInstanceRef, networkPolicyName, rabbitNodeIndex, type MQInstanceObj } from "../api/messaging.ts";
import { SubnetRef, type SubnetObj } from "../api/network.ts";
import { VolumeRef, type VolumeObj } from "../api/storage.ts";
import { USER_DATA_READER_ROLE } from "../api/tenancy.ts";
import type { Controller } from "../runtime/controller.ts";
import { ConfigMapRef, isPodReady, NetworkPolicyRef, PodRef, SecretRef, ServiceRef, type ConfigMap, type Pod, type Service } from "../runtime/core.ts";
import { completeManaged, type ManagedResource } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import type { ProductContext } from "../runtime/product.ts";
import { keyOf, type KubeObject } from "../runtime/types.ts";
import { kafkaReason } from "./kafka-admin.ts";
import { BrokerClients, BY_INSTANCE, instanceKey } from "./brokers.ts";
import { isKafka, kafkaClusterId, mqPlan, type BrokerSide, type MQObservation } from "./mq-plan.ts";

const secret = () => randomBytes(24).toString("base64url");

export function setupMQInstanceController(mgr: Manager, ctx: ProductContext, clients: BrokerClients): Controller {
  const mqs = mgr.informer<MQInstanceObj>(MQInstanceRef);
  const pods = mgr.informer<Pod>(PodRef, MQ_LABEL);
  pods.addIndexer(BY_INSTANCE, instanceKey);
  const volumes = mgr.informer<VolumeObj>(VolumeRef, MQ_LABEL);
  const services = mgr.informer<Service>(ServiceRef, MQ_LABEL);
  const configMaps = mgr.informer<ConfigMap>(ConfigMapRef, MQ_LABEL);
  const policies = mgr.informer<KubeObject & { spec?: unknown }>(NetworkPolicyRef, MQ_LABEL);
  const subnets = mgr.informer<SubnetObj>(SubnetRef);

  const observe = async (mq: MQInstanceObj): Promise<MQObservation> => {
    const ns = mq.metadata.namespace ?? "";
    const uid = mq.metadata.uid ?? "";
    const own = <T extends KubeObject>(o: T | undefined) => (o && o.metadata.ownerReferences?.some((r) => r.uid === uid) ? o : undefined);
    const mine = pods.byIndex(BY_INSTANCE, keyOf(mq)).filter((p) => own(p) && !p.metadata.deletionTimestamp);
    const creds = await clients.secrets(mq);
    if (creds === "forbidden") {
      return { forbidden: `the manager may not read or create Secrets in namespace ${ns} (tenant namespaces grant it; elsewhere bind ClusterRole ${USER_DATA_READER_ROLE} to its ServiceAccount)` } as MQObservation;
    }
    const defaultUser = mq.spec.defaultUser ?? "admin";
    const hosts = mine.filter((p) => p.status?.podIP && isPodReady(p)).map((p) => p.status!.podIP!);
    let brokers: MQObservation["brokers"];
    if (creds.internal && creds.credentials && hosts.length && !mq.spec.suspended) {
      try {
        brokers = await observeBrokers(mq, hosts, creds.internal, defaultUser, creds.credentials);
      } catch (e) {
        brokers = { error: kafkaReason(e) };
      }
    }
    const fresh = { password: secret(), operatorPassword: secret(), cookie: randomBytes(32).toString("hex").toUpperCase(), clusterId: kafkaClusterId() };
    return {
      subnet: Boolean(subnets.get(`${ns}/${mq.spec.subnet}`)),
      pods: new Map(mine.map((p) => [p.metadata.name, p])),
      volumes: new Map(volumes.list().filter((v) => v.metadata.namespace === ns && own(v)).map((v) => [v.metadata.name, v])),
      service: own(services.get(`${ns}/${clientServiceName(mq.metadata.name)}`)),
      networkPolicy: own(policies.get(`${ns}/${networkPolicyName(mq.metadata.name)}`)),
      configMap: own(configMaps.get(`${ns}/${configMapName(mq.metadata.name)}`)),
      credentialsSecret: Boolean(creds.credentials),
      internalSecret: Boolean(creds.internal),
      fresh,
      ...(brokers ? { brokers } : {}),
      sync: (what) => ({
        what: `sync ${mq.metadata.name}: ${Object.keys(what).filter((k) => (what as Record<string, unknown>)[k]).join(", ")}`,
        call: async () => {
          try {
            if (isKafka(mq)) {
              const k = clients.kafka(mq, hosts, creds.internal!);
              if (what.defaultUser) await k.upsertScram(defaultUser, creds.credentials!);
              if (what.retention) {
                await k.alterConfig("cluster", "", new Map([...what.retention].filter((e): e is [string, string] => e[1] !== undefined)), [...what.retention].filter(([, v]) => v === undefined).map(([k2]) => k2));
              }
            } else {
              const r = clients.rabbit(hosts, creds.internal!);
              for (const v of what.vhosts?.add ?? []) await r.putVhost(v);
              for (const v of what.vhosts?.remove ?? []) await r.deleteVhost(v);
              if (what.defaultUser) {
                await r.putUser(defaultUser, creds.credentials!, ["administrator"]);
                for (const v of ["/", ...(mq.spec.vhosts ?? [])]) await r.putPermission(defaultUser, { vhost: v, configure: ".*", write: ".*", read: ".*" });
              }
            }
            return "done";
          } catch (e) {
            mgr.log.info({ instance: keyOf(mq), err: kafkaReason(e) }, "brokers refused a change; retrying");
            return "refused";
          }
        },
      }),
    };
  };

  async function observeBrokers(mq: MQInstanceObj, hosts: string[], operatorPassword: string, defaultUser: string, password: string): Promise<BrokerSide> {
    if (isKafka(mq)) {
      const k = clients.kafka(mq, hosts, operatorPassword);
      const [cluster, users, retention] = await Promise.all([
        k.cluster(), k.scramUsers([defaultUser]), k.clusterConfig(["log.retention.hours", "log.retention.bytes"]),
      ]);
      const replicas = new Map<number, string[]>();
      for (const [topic, t] of cluster.topics) t.replicas.forEach((rs, p) => { for (const id of rs) replicas.set(id, [...(replicas.get(id) ?? []), `${topic}-${p}`]); });
      return { running: cluster.brokers, replicas, defaultUser: users.has(defaultUser), retention };
    }
    const r = clients.rabbit(hosts, operatorPassword);
    const [nodes, vhosts, user] = await Promise.all([r.nodes(), r.vhosts(), r.user(defaultUser, password)]);
    const running = nodes.filter((n) => n.running).map((n) => rabbitNodeIndex(n.name)).filter((id): id is number => id !== undefined);
    return { running, defaultUser: Boolean(user?.passwordMatches && user.tags.includes("administrator")), vhosts };
  }

  const resource: ManagedResource<MQInstanceObj, MQObservation> = {
    finalizer: MQ_FINALIZER,
    gates: ctx.gates,
    observe,
    plan: (mq, o, now) => mqPlan(mq, o, now),
    finalize: (mq) => {
      clients.forget(mq);
      // the pods, volumes, Service, ConfigMap and Secrets are owned: the garbage collector removes them
      return { done: true };
    },
  };
  return completeManaged(
    mgr.controller("mqinstance").for(MQInstanceRef).concurrency(4)
      .watches(PodRef, instanceKey, { labelSelector: MQ_LABEL })
      .watches(VolumeRef, instanceKey, { labelSelector: MQ_LABEL })
      .watches(ConfigMapRef, instanceKey, { labelSelector: MQ_LABEL })
      .watches(SubnetRef, (s) => mqs.list().filter((m) => m.metadata.namespace === s.metadata.namespace && m.spec.subnet === s.metadata.name).map(keyOf)),
    resource,
  );
}
