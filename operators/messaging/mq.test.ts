// The MQ controllers' pure decisions: scale-in safety, balance, retention and topic/user plans, the
// RabbitMQ password check (the brokers' configuration files: agents/mq/config.test.ts).
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { MQInstanceObj, MQTopicObj, MQUserObj } from "../api/messaging.ts";
import { balance, kafkaClusterId, mqPlan, retentionDiff, scaleIn, type MQObservation } from "./mq-plan.ts";
import type { Pod } from "../runtime/core.ts";
import { topicPlan, type TopicObservation } from "./mq-topic.ts";
import { userPlan, type UserObservation } from "./mq-user.ts";
import { passwordMatches } from "./rabbit-admin.ts";

const mq = (spec: Partial<MQInstanceObj["spec"]> = {}, status: MQInstanceObj["status"] = {}): MQInstanceObj => ({
  apiVersion: "messaging.cellcloud.io/v1alpha1", kind: "MQInstance", metadata: { name: "kf", namespace: "t", uid: "u1" },
  spec: { engine: "kafka", brokers: 3, flavor: "1C2G", storage: { size: "10Gi", type: "ssd" }, zone: "z", subnet: "s", defaultUser: "admin", ...spec }, status,
});
const call = { what: "x", call: async () => "done" as const };

describe("scale-in", () => {
  const replicas = new Map([[0, ["a-0"]], [1, ["a-1"]], [2, ["a-0", "a-1"]], [3, ["b-0", "b-1"]], [4, []]]);
  it("removes brokers that hold nothing, never the controller quorum", () => {
    expect(scaleIn(mq({ brokers: 4 }, { controllerQuorum: [0, 1, 2] }), [0, 1, 2, 3, 4], { running: [0, 1, 2, 3, 4], replicas, defaultUser: true })).toEqual({ remove: [4] });
    expect(scaleIn(mq({ brokers: 1 }, { controllerQuorum: [0, 1, 2] }), [0, 1, 2], { running: [0, 1, 2], replicas, defaultUser: true }).blocked).toContain("brokers 1, 2 belong to the controller quorum");
  });
  it("is blocked naming the partitions the brokers hold, or when the brokers cannot tell", () => {
    const r = scaleIn(mq({ brokers: 3 }, { controllerQuorum: [0, 1, 2] }), [0, 1, 2, 3, 4], { running: [0, 1, 2, 3, 4], replicas, defaultUser: true });
    expect(r).toEqual({ remove: [], blocked: "brokers 3, 4 hold replicas of 2 partitions: b-0 (broker 3), b-1 (broker 3); reassign them before scaling in" });
    expect(scaleIn(mq({ brokers: 3 }, { controllerQuorum: [0, 1, 2] }), [0, 1, 2, 3], { error: "timeout" }).blocked).toContain("cannot tell which partitions brokers 3 hold: timeout");
  });
});

describe("the controller quorum's addresses", () => {
  const pod = (id: number, ip?: string): [string, Pod] => [`kf-${id}`, { metadata: { name: `kf-${id}`, labels: { "messaging.cellcloud.io/broker": String(id) } }, status: ip ? { podIP: ip } : {} } as Pod];
  const observe = (pods: Array<[string, Pod]>, voters?: string): MQObservation => ({
    subnet: true, pods: new Map(pods), volumes: new Map(), credentialsSecret: true, internalSecret: true,
    configMap: { metadata: { name: "kf-mq-config" }, data: { "cluster-id": "c", "default-user": "admin", ...(voters ? { voters } : {}) } },
    fresh: { password: "p", operatorPassword: "o", cookie: "k", clusterId: "new" }, sync: () => call,
  });
  const cmUpdate = (o: MQObservation) => mqPlan(mq({}, { controllerQuorum: [0, 1, 2] }), o, 0).actions!.find((a) => a.verb === "update" && a.ref.kind === "ConfigMap") as { patch: { data: Record<string, string> } } | undefined;
  it("are written once every quorum pod has one, and rewritten when the pods come back elsewhere; the cluster id never changes", () => {
    expect(cmUpdate(observe([pod(0, "10.0.0.1"), pod(1, "10.0.0.2"), pod(2)]))).toBeUndefined();
    expect(cmUpdate(observe([pod(0, "10.0.0.1"), pod(1, "10.0.0.2"), pod(2, "10.0.0.3")]))!.patch.data.voters).toBe("0@10.0.0.1:9093,1@10.0.0.2:9093,2@10.0.0.3:9093");
    const moved = cmUpdate(observe([pod(0, "10.0.0.7"), pod(1, "10.0.0.2"), pod(2, "10.0.0.3")], "0@10.0.0.1:9093,1@10.0.0.2:9093,2@10.0.0.3:9093"))!;
    expect(moved.patch.data).toMatchObject({ voters: "0@10.0.0.7:9093,1@10.0.0.2:9093,2@10.0.0.3:9093", "cluster-id": "c" });
    // while a recreated pod has no address yet, the old voters stay
    expect(cmUpdate(observe([pod(0), pod(1, "10.0.0.2"), pod(2, "10.0.0.3")], "0@10.0.0.1:9093,1@10.0.0.2:9093,2@10.0.0.3:9093"))).toBeUndefined();
  });
});

describe("Kafka's cluster id", () => {
  it("never starts with '-' (the storage tool would take it for an option)", () => {
    const draws = [Buffer.from("fb5e", "hex"), Buffer.alloc(16, 7)];
    expect(kafkaClusterId(() => draws.shift()!)).toBe(Buffer.alloc(16, 7).toString("base64url"));
    expect(Buffer.from("fb5e", "hex").toString("base64url").startsWith("-")).toBe(true);
  });
});

describe("balance and retention", () => {
  it("calls brokers with less than half the average replicas unbalanced", () => {
    expect(balance(new Map([[0, ["a", "b"]], [1, ["a", "b"]], [2, []]]), [0, 1, 2])).toMatchObject({ unbalanced: true, message: expect.stringContaining("0: 2, 1: 2, 2: 0") });
    expect(balance(new Map([[0, ["a", "b"]], [1, ["a"]]]), [0, 1])).toEqual({ unbalanced: false });
  });
  it("sets what the spec asks and removes what it no longer does", () => {
    expect(retentionDiff(mq({ retention: { hours: 24 } }), new Map([["log.retention.bytes", "9"]]))).toEqual(new Map([["log.retention.hours", "24"], ["log.retention.bytes", undefined]]));
    expect(retentionDiff(mq({ retention: { hours: 24 } }), new Map([["log.retention.hours", "24"]])).size).toBe(0);
  });
});

describe("topics", () => {
  const topic = (spec: Partial<MQTopicObj["spec"]> = {}, status: MQTopicObj["status"] = {}): MQTopicObj => ({
    apiVersion: "messaging.cellcloud.io/v1alpha1", kind: "MQTopic", metadata: { name: "orders", namespace: "t", uid: "t1" },
    spec: { instance: "kf", partitions: 6, replicationFactor: 3, ...spec }, status,
  });
  const obs = (o: Partial<TopicObservation>): TopicObservation => ({ instance: mq(), create: { ...call, what: "create" }, grow: { ...call, what: "grow" }, alter: () => ({ ...call, what: "alter" }), remove: call, ...o });
  it("creates a missing topic again, with an Event when it existed before", () => {
    const p = topicPlan(topic({}, { partitions: 6 }), obs({ topic: null }));
    expect(p.calls!.map((c) => c.what)).toEqual(["create"]);
    expect((p.events as Array<{ reason: string }>)[0]!.reason).toBe("TopicRecreated");
  });
  it("grows partitions, sets settings back, and reports what cannot be changed", () => {
    const view = { partitions: 4, replicationFactor: 3, underReplicated: 0, replicas: [] };
    expect(topicPlan(topic({ retentionMs: 5 }), obs({ topic: view, config: new Map([["segment.ms", "1"]]) })).calls!.map((c) => c.what)).toEqual(["grow", "alter"]);
    const more = topicPlan(topic(), obs({ topic: { ...view, partitions: 8 }, config: new Map() }));
    expect(JSON.stringify(more.status)).toContain("more than spec.partitions 6");
  });
  it("leaves a topic another MQTopic owns alone", () => {
    const p = topicPlan(topic(), obs({ conflict: "older" }));
    expect(p.calls).toBeUndefined();
    expect(JSON.stringify(p.status)).toContain("ResourceConflict");
  });
});

describe("users", () => {
  const user = (spec: Partial<MQUserObj["spec"]> = {}): MQUserObj => ({
    apiVersion: "messaging.cellcloud.io/v1alpha1", kind: "MQUser", metadata: { name: "alice", namespace: "t", uid: "a1" }, spec: { instance: "kf", ...spec },
  });
  const obs = (o: Partial<UserObservation>): UserObservation => ({ instance: mq(), sync: (w) => ({ what: JSON.stringify(w), call: call.call }), remove: call, ...o });
  it("sets a Kafka password once per Secret version, and ACLs by difference", () => {
    const acls = [{ resource: { type: "topic" as const, name: "orders", patternType: "literal" as const }, operations: ["Read" as const] }];
    const first = userPlan(user({ acls }), obs({ password: { value: "pw", version: "s/1" }, broker: { exists: false, acls: [] } }));
    expect(first.calls![0]!.what).toContain('"version":"s/1"');
    const same = userPlan(user({ acls }), obs({ password: { value: "pw", version: "s/1" }, applied: "s/1", broker: { exists: true, acls: [{ resourceType: 2, resourceName: "orders", resourcePatternType: 3, operation: 3 }] } }));
    expect(same.calls).toEqual([]);
  });
  it("refuses the default user's name and a vhost the instance lacks", () => {
    expect(JSON.stringify(userPlan(user({ username: "admin" }), obs({})).status)).toContain("default user");
    const rb = mq({ engine: "rabbitmq", brokers: 1, vhosts: ["a"] });
    expect(JSON.stringify(userPlan(user({ instance: "rb", permissions: [{ vhost: "b", configure: ".*", write: ".*", read: ".*" }] }), obs({ instance: rb, password: { value: "p", version: "v" }, broker: { exists: true, passwordMatches: true, tags: [], permissions: [] } })).status)).toContain("VhostNotFound");
  });
});

describe("RabbitMQ passwords", () => {
  it("checks a password against RabbitMQ's salted SHA-256 hash", () => {
    const salt = Buffer.from([1, 2, 3, 4]);
    const hash = Buffer.concat([salt, createHash("sha256").update(Buffer.concat([salt, Buffer.from("secret")])).digest()]).toString("base64");
    expect(passwordMatches(hash, "secret")).toBe(true);
    expect(passwordMatches(hash, "other")).toBe(false);
  });
});
