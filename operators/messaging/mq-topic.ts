// Reconciles MQTopics against the Kafka brokers (unidirectional, as Strimzi's topic operator since it
// dropped the bidirectional one): the custom resource is the source of truth. A topic missing on the
// brokers is created (again), partitions grow to spec, topic-level settings not in the spec are
// removed and those in it set back; every few seconds, so a change by hand does not last. The older
// of two MQTopics naming one topic owns it; the newer is refused with ResourceConflict and never
// touches (or deletes) the topic.
import {
  MQ_TOPIC_FINALIZER, MQInstanceRef, MQTopicRef, type MQInstanceObj, type MQTopicObj,
} from "../api/messaging.ts";
import type { Controller } from "../runtime/controller.ts";
import { completeManaged, type ConditionSpec, type ExternalCall, type ManagedResource, type Plan } from "../runtime/managed.ts";
import type { Manager } from "../runtime/manager.ts";
import type { ProductContext } from "../runtime/product.ts";
import { keyOf } from "../runtime/types.ts";
import { kafkaReason, type KafkaClient, type TopicView } from "./kafka-admin.ts";
import type { BrokerClients } from "./brokers.ts";
import { instanceAccess, olderOwner } from "./access.ts";

/** How often a topic is compared with the brokers (drift is corrected within this). */
export const TOPIC_POLL_MS = 5_000;

export const topicNameOf = (t: MQTopicObj) => t.spec.topicName ?? t.metadata.name;

/** The topic-level settings the spec asks for. */
export function desiredConfig(t: MQTopicObj): Map<string, string> {
  const m = new Map(Object.entries(t.spec.config ?? {}));
  if (t.spec.retentionMs !== undefined) m.set("retention.ms", String(t.spec.retentionMs));
  return m;
}

export interface TopicObservation {
  instance?: MQInstanceObj;
  /** The older MQTopic that owns this topic, if another does. */
  conflict?: string;
  /** Why the brokers cannot be asked. */
  unavailable?: string;
  /** The topic on the brokers (null: absent) and its topic-level settings. */
  topic?: TopicView | null;
  config?: Map<string, string>;
  create: ExternalCall; grow: ExternalCall; alter(set: Map<string, string>, remove: string[]): ExternalCall; remove: ExternalCall;
}

const notReady = (reason: string, message: string, requeueAfterMs = TOPIC_POLL_MS): Plan =>
  ({ status: { conditions: [{ type: "Ready", status: "False", reason, message }] }, requeueAfterMs });

export function topicPlan(t: MQTopicObj, o: TopicObservation): Plan {
  const name = topicNameOf(t);
  if (!o.instance) return notReady("InstanceNotFound", `spec.instance: MQInstance "${t.spec.instance}" not found in this namespace`);
  if (o.instance.spec.engine !== "kafka") return notReady("NotKafka", `spec.instance: MQInstance "${t.spec.instance}" runs ${o.instance.spec.engine}; topics are for kafka instances`, 60_000);
  if (o.conflict) return notReady("ResourceConflict", `topic ${name} on ${t.spec.instance} is already managed by MQTopic ${o.conflict} (the older one owns it)`, 30_000);
  if (t.spec.replicationFactor > o.instance.spec.brokers) {
    return { status: { conditions: [{ type: "Ready", status: "False", reason: "ReplicationFactorTooLarge", message: `spec.replicationFactor ${t.spec.replicationFactor} exceeds the ${o.instance.spec.brokers} brokers of ${t.spec.instance}` }] } };
  }
  if (o.unavailable || o.topic === undefined) return notReady("BrokersUnavailable", o.unavailable ?? "the brokers have not answered");
  const fields = { topicName: name };
  if (o.topic === null) {
    const again = Boolean(t.status?.partitions);
    return {
      calls: [o.create],
      ...(again ? { events: [{ type: "Warning" as const, reason: "TopicRecreated", message: `topic ${name} was missing on the brokers (deleted outside CellCloud); created it again from the MQTopic` }] } : {}),
      status: { fields: { ...fields, ...(again ? { recreated: (t.status?.recreated ?? 0) + 1 } : {}) }, conditions: [{ type: "Ready", status: "False", reason: "Creating", message: `creating topic ${name}` }] },
      requeueAfterMs: 1_000,
    };
  }
  const calls: ExternalCall[] = [];
  const problems: string[] = [];
  if (o.topic.partitions < t.spec.partitions) calls.push(o.grow);
  if (o.topic.partitions > t.spec.partitions) problems.push(`the topic has ${o.topic.partitions} partitions, more than spec.partitions ${t.spec.partitions} (partitions cannot be removed; raise spec.partitions)`);
  if (o.topic.replicationFactor !== t.spec.replicationFactor) problems.push(`the topic has ${o.topic.replicationFactor} replicas per partition, spec.replicationFactor says ${t.spec.replicationFactor} (set it back by reassigning partitions)`);
  const want = desiredConfig(t);
  const have = o.config ?? new Map<string, string>();
  const set = new Map([...want].filter(([k, v]) => have.get(k) !== v));
  const remove = [...have.keys()].filter((k) => !want.has(k));
  if (set.size || remove.length) calls.push(o.alter(set, remove));
  const converged = !calls.length && !problems.length;
  const ready: ConditionSpec = converged
    ? { type: "Ready", status: "True", reason: "Available", message: `topic ${name}: ${o.topic.partitions} partitions, ${o.topic.replicationFactor} replicas each${o.topic.underReplicated ? `, ${o.topic.underReplicated} under-replicated` : ""}` }
    : problems.length
      ? { type: "Ready", status: "False", reason: "DiffersFromSpec", message: problems.join("; "), announce: "Warning" }
      : { type: "Ready", status: "False", reason: "Updating", message: `setting topic ${name} to its spec` };
  return {
    calls,
    status: { fields: { ...fields, partitions: o.topic.partitions, replicationFactor: o.topic.replicationFactor, underReplicatedPartitions: o.topic.underReplicated }, conditions: [ready] },
    requeueAfterMs: calls.length ? 1_000 : TOPIC_POLL_MS,
  };
}

export function setupMQTopicController(mgr: Manager, ctx: ProductContext, clients: BrokerClients): Controller {
  const topics = mgr.informer<MQTopicObj>(MQTopicRef);
  const access = instanceAccess(mgr, clients);
  const call = (what: string, f: () => Promise<void>): ExternalCall => ({
    what,
    call: async () => {
      try { await f(); return "done"; } catch (e) { mgr.log.info({ what, err: kafkaReason(e) }, "brokers refused a topic change; retrying"); return "refused"; }
    },
  });

  const observe = async (t: MQTopicObj): Promise<TopicObservation> => {
    const name = topicNameOf(t);
    const ns = t.metadata.namespace ?? "";
    const a = await access(ns, t.spec.instance);
    const conflict = olderOwner(t, topics.list().filter((o) => o.metadata.namespace === ns && o.spec.instance === t.spec.instance && topicNameOf(o) === name));
    const noop = call("none", async () => {});
    const base = { create: noop, grow: noop, alter: () => noop, remove: noop, ...(a.instance ? { instance: a.instance } : {}), ...(conflict ? { conflict } : {}) };
    if (!a.kafka || conflict) return { ...base, ...(a.unavailable ? { unavailable: a.unavailable } : {}) };
    const k: KafkaClient = a.kafka;
    let topic: TopicView | null | undefined;
    let config: Map<string, string> | undefined;
    try {
      topic = (await k.cluster()).topics.get(name) ?? null;
      config = topic ? await k.topicConfig(name) : undefined;
    } catch (e) {
      return { ...base, unavailable: `the brokers did not answer: ${kafkaReason(e)}` };
    }
    return {
      ...base, topic, ...(config ? { config } : {}),
      create: call(`create topic ${name}`, () => k.createTopic(name, t.spec.partitions, t.spec.replicationFactor, desiredConfig(t))),
      grow: call(`grow topic ${name}`, () => k.growPartitions(name, t.spec.partitions)),
      alter: (set, remove) => call(`alter topic ${name}`, () => k.alterConfig("topic", name, set, remove)),
      remove: call(`delete topic ${name}`, () => k.deleteTopic(name)),
    };
  };

  const resource: ManagedResource<MQTopicObj, TopicObservation> = {
    finalizer: MQ_TOPIC_FINALIZER,
    gates: ctx.gates,
    observe,
    plan: (t, o) => topicPlan(t, o),
    finalize: (t, o, policy) => {
      // nothing to delete: orphaned, not ours (a conflict), or the instance (and its brokers) is gone
      if (policy === "Orphan" || o.conflict || !o.instance || o.instance.metadata.deletionTimestamp || o.topic === null) return { done: true };
      if (o.topic === undefined) return { ...notReady("BrokersUnavailable", `deleting topic ${topicNameOf(t)}: ${o.unavailable ?? "the brokers have not answered"}`), requeueAfterMs: TOPIC_POLL_MS };
      return { calls: [o.remove], requeueAfterMs: 1_000 };
    },
  };
  return completeManaged(
    mgr.controller("mqtopic").for(MQTopicRef).concurrency(4)
      .watches(MQInstanceRef, (mq) => topics.list().filter((t) => t.metadata.namespace === mq.metadata.namespace && t.spec.instance === mq.metadata.name).map(keyOf)),
    resource,
  );
}
