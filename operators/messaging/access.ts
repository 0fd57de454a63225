// How MQTopic and MQUser controllers reach their instance's brokers: the instance from cache, its
// ready brokers' addresses from its pods, the operator's password from its internal Secret.
import { MQ_LABEL, MQInstanceRef, type MQInstanceObj } from "../api/messaging.ts";
import { isPodReady, PodRef, type Pod } from "../runtime/core.ts";
import type { Manager } from "../runtime/manager.ts";
import type { KubeObject } from "../runtime/types.ts";
import type { KafkaClient } from "./kafka-admin.ts";
import { BY_INSTANCE, instanceKey, type BrokerClients } from "./brokers.ts";
import type { RabbitClient } from "./rabbit-admin.ts";

export interface Access {
  instance?: MQInstanceObj;
  kafka?: KafkaClient;
  rabbit?: RabbitClient;
  /** Why the brokers cannot be asked (the instance exists). */
  unavailable?: string;
}

export function instanceAccess(mgr: Manager, clients: BrokerClients): (ns: string, name: string) => Promise<Access> {
  const mqs = mgr.informer<MQInstanceObj>(MQInstanceRef);
  const pods = mgr.informer<Pod>(PodRef, MQ_LABEL);
  pods.addIndexer(BY_INSTANCE, instanceKey);
  return async (ns, name) => {
    const instance = mqs.get(`${ns}/${name}`);
    if (!instance) return {};
    if (instance.spec.suspended) return { instance, unavailable: `MQInstance ${name} is suspended` };
    const hosts = pods.byIndex(BY_INSTANCE, `${ns}/${name}`)
      .filter((p) => p.metadata.ownerReferences?.some((r) => r.uid === instance.metadata.uid) && isPodReady(p) && p.status?.podIP)
      .map((p) => p.status!.podIP!);
    if (!hosts.length) return { instance, unavailable: `no broker of MQInstance ${name} is ready` };
    const s = await clients.secrets(instance);
    if (s === "forbidden" || !s.internal) return { instance, unavailable: `the operator credentials of MQInstance ${name} cannot be read yet` };
    return instance.spec.engine === "kafka"
      ? { instance, kafka: clients.kafka(instance, hosts, s.internal) }
      : { instance, rabbit: clients.rabbit(hosts, s.internal) };
  };
}

/**
 * The older object among those naming the same thing on the brokers, when it is not `obj`: by
 * creation time, then name. Undefined when `obj` owns it.
 */
export function olderOwner(obj: KubeObject, same: readonly KubeObject[]): string | undefined {
  const key = (o: KubeObject) => `${o.metadata.creationTimestamp ?? ""}|${o.metadata.name}`;
  const owner = same.filter((o) => !o.metadata.deletionTimestamp || o.metadata.uid === obj.metadata.uid).sort((a, b) => key(a).localeCompare(key(b)))[0];
  return owner && owner.metadata.uid !== obj.metadata.uid ? owner.metadata.name : undefined;
}
