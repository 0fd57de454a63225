// MQ with real brokers, on loopback only: MQInstance brokers are pods the local data plane runs (Kafka
// 4.1 in KRaft mode from the Maven jars on Java 17; Debian's RabbitMQ), each on its own 127.X
// address, their data on EVS volumes. A SCRAM-authenticated client moves 10,000 messages through a
// 6-partition, RF 3 MQTopic; a killed broker shows in AllBrokersReady while acks=all produce goes on
// and it returns; 3 → 5 brokers online with no failed produce, scale-in refused naming the
// partitions held; partitions only grow, RF > brokers is refused, a topic deleted on the brokers comes
// back from its MQTopic; MQUsers' ACLs and RabbitMQ permissions are enforced by the brokers; the
// credentials survive manager restarts and appear in no log, Event or status.
import { readdirSync, readFileSync } from "node:fs";
import amqp from "amqplib";
import { Admin, Consumer, Producer, ProduceAcks, stringDeserializers, stringSerializers } from "@platformatic/kafka";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hearConnectionErrors } from "../operators/messaging/kafka-admin.ts";
import { KAFKA_PORTS, MQInstanceRef, MQTopicRef, MQUserRef, type MQInstanceObj, type MQTopicObj, type MQUserObj } from "../operators/api/messaging.ts";
import { SubnetRef, VPCRef } from "../operators/api/network.ts";
import { VolumeRef } from "../operators/api/storage.ts";
import { MutatingRef, PodRef, SecretRef, ValidatingRef } from "../operators/runtime/core.ts";
import { KubeClient } from "../operators/runtime/kube.ts";
import type { KubeObject } from "../operators/runtime/types.ts";
import { WEBHOOK_CONFIG } from "../operators/runtime/webhook.ts";
import { clients, eventually, refusal, uniqueName, useNamespace } from "./support/kube.ts";
import { CrashingManager, spawnManager, webhookArgs, type ManagerProcess } from "./support/manager.ts";
import { hostsReady } from "./support/nodes.ts";
import { platformIn, poolSpec } from "./support/platform.ts";
import { storageIn } from "./support/storage.ts";
import { testStateDir } from "./support/plane.ts";
import { freePorts } from "./support/tenancy.ts";

const { kc, core } = clients();
const client = new KubeClient(kc);
// this suite's clients meet brokers it kills: a connection's second "error" must not end the worker
hearConnectionErrors();
const ns = useNamespace("mq");
const system = useNamespace("mq-system");
const base = uniqueName("mq");
const zone = base;
const cell = `${base}-cell`;
const pool = `${base}-np`;
const spool = `${base}-sp`;
const vtype = `${base}-ssd`;
const platform = platformIn(kc);
const API = "messaging.cellcloud.io/v1alpha1";
let ports: number[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every manager process the suite ran (their logs are checked for passwords). */
const spawned: ManagerProcess[] = [];
const manager = new CrashingManager(() => {
  const [metricsPort, healthPort, webhookPort] = ports as [number, number, number];
  const m = spawnManager({
    leaseId: base, metricsPort, healthPort, controllers: "nodepool,cell,platform-pools,scheduler,volume,mqinstance,mqtopic,mquser",
    extraArgs: ["--leader-elect=false", ...webhookArgs(webhookPort, system.name)],
  });
  spawned.push(m);
  return m;
});

const read = (name: string) => client.get<MQInstanceObj>(MQInstanceRef, name, ns.name);
const cond = (o: { status?: { conditions?: Array<{ type: string; status: string; reason?: string; message?: string }> } }, type: string) => o.status?.conditions?.find((c) => c.type === type);
const mqObject = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: API, kind: "MQInstance", metadata: { name, namespace: ns.name },
  spec: { storage: { size: "10Gi", type: vtype }, zone, subnet: "mq", ...spec },
});
const topicObject = (name: string, spec: Record<string, unknown>) => ({ apiVersion: API, kind: "MQTopic", metadata: { name, namespace: ns.name }, spec: { instance: "kf", ...spec } });
const userObject = (name: string, spec: Record<string, unknown>) => ({ apiVersion: API, kind: "MQUser", metadata: { name, namespace: ns.name }, spec });

/** Ready with `brokers` ready brokers (and AllBrokersReady). */
function ready(name: string, brokers: number, timeoutMs = 120_000): Promise<MQInstanceObj> {
  return eventually(async () => {
    const o = await read(name);
    if (cond(o, "Ready")?.status === "True" && cond(o, "AllBrokersReady")?.status === "True" && o.status?.readyBrokers === brokers) return o;
    throw new Error(`status: ${JSON.stringify({ conditions: o.status?.conditions?.map((c) => [c.type, c.status, c.message]), brokers: o.status?.brokers })}`);
  }, { what: `${name} Ready with ${brokers} ready broker(s)`, timeoutMs });
}

async function secretData(name: string): Promise<Record<string, string>> {
  const s = await client.get<KubeObject & { data: Record<string, string> }>(SecretRef, name, ns.name);
  return Object.fromEntries(Object.entries(s.data).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
}

async function bootstrap(name = "kf"): Promise<string[]> {
  return (await read(name)).status!.listeners![0]!.addresses!;
}
/** Every reason in the Kafka client's nested errors ("PLT_KFK_PROTOCOL/SASL_AUTHENTICATION_FAILED ..."). */
function reasons(e: unknown): string {
  const x = e as { code?: string; apiId?: string; errors?: unknown[]; cause?: unknown; message?: string };
  return [x?.code, x?.apiId, ...(x?.errors ?? []).map(reasons), x?.cause ? reasons(x.cause) : ""].filter(Boolean).join(" ") || String(x?.message ?? e);
}
const sasl = (username: string, password: string) => ({ mechanism: "SCRAM-SHA-512" as const, username, password });

async function producer(user: string, password: string): Promise<Producer<string, string, string, string>> {
  return new Producer({ clientId: `t-${user}`, bootstrapBrokers: await bootstrap(), sasl: sasl(user, password), serializers: stringSerializers, acks: ProduceAcks.ALL, retries: 30, retryDelay: 500, timeout: 10_000 });
}

/** Consumes `topic` from the start until `count` messages arrived. */
async function consumeAll(user: string, password: string, topic: string, count: number, group: string): Promise<number> {
  const c = new Consumer({ clientId: `c-${user}`, groupId: group, bootstrapBrokers: await bootstrap(), sasl: sasl(user, password), deserializers: stringDeserializers, maxWaitTime: 500, timeout: 10_000 });
  const stream = await c.consume({ topics: [topic], mode: "earliest", autocommit: true });
  let got = 0;
  const deadline = Date.now() + 60_000;
  try {
    for await (const _m of stream) { if (++got >= count || Date.now() > deadline) break; }
  } finally {
    await stream.close().catch(() => {});
    await c.close().catch(() => {});
  }
  return got;
}

/** Produces one message at a time (acks=all) until stopped, counting failures. */
class ProduceLoop {
  sent = 0;
  failures: string[] = [];
  private stop = false;
  private done?: Promise<void>;
  private readonly p: Producer<string, string, string, string>;
  private readonly topic: string;
  constructor(p: Producer<string, string, string, string>, topic: string) { this.p = p; this.topic = topic; }
  start(): this {
    this.done = (async () => {
      while (!this.stop) {
        try {
          await this.p.send({ messages: [{ topic: this.topic, key: String(this.sent), value: `m${this.sent}` }] });
          this.sent++;
        } catch (e) {
          this.failures.push(String((e as Error).message).slice(0, 200));
          await sleep(100);
        }
      }
    })();
    return this;
  }
  async finish(): Promise<void> { this.stop = true; await this.done; }
}

/** The Java process of a Kafka broker (found by its data directory's PV). */
async function brokerJava(volume: string): Promise<number> {
  const v = await storageIn(kc, ns.name).read(volume);
  const pv = (v.status as { persistentVolume?: string }).persistentVolume!;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      if (argv[0]?.endsWith("java") && argv.includes("kafka.Kafka") && readFileSync(`/proc/${pid}/environ`, "utf8").includes(`/pv/${pv}`)) return Number(pid);
    } catch { /* gone */ }
  }
  throw new Error(`no broker process for volume ${volume} (${pv})`);
}

beforeAll(async () => {
  ports = await freePorts(3);
  manager.start();
  await platform.cells.create(cell, { region: "r-mq", zone });
  await platform.nodePools.create(pool, poolSpec(cell, { nodes: 5, capacity: { cpu: "16", memory: "64Gi" } }));
  await platform.storagePools.create(spool, { cell, mediaType: "SSD", capacity: "2Ti" });
  await storageIn(kc, ns.name).createType(vtype, { mediaType: "SSD", iops: { base: 1800, perGiB: 50, max: 10000 } });
  await client.create(VPCRef, { apiVersion: "network.cellcloud.io/v1alpha1", kind: "VPC", metadata: { name: "net", namespace: ns.name }, spec: { cidrBlocks: ["10.0.0.0/16"] } });
  await client.create(SubnetRef, { apiVersion: "network.cellcloud.io/v1alpha1", kind: "Subnet", metadata: { name: "mq", namespace: ns.name }, spec: { vpc: "net", cidrBlock: "10.0.6.0/24" } });
  await hostsReady(core, `cellcloud.io/cell=${cell}`, 5);
  // both engines start at once: their brokers boot in parallel
  await client.create(MQInstanceRef, mqObject("kf", { engine: "kafka", brokers: 3, retention: { hours: 24 } }));
  await client.create(MQInstanceRef, mqObject("rb", { engine: "rabbitmq", brokers: 1, vhosts: ["orders"] }));
}, 120_000);

afterAll(async () => {
  const t0 = Date.now();
  for (const ref of [MQTopicRef, MQUserRef, MQInstanceRef]) {
    for (const o of (await client.list(ref, {}, ns.name).catch(() => ({ items: [] as KubeObject[] }))).items) await client.delete(ref, o.metadata.name, ns.name).catch(() => undefined);
  }
  await eventually(async () => (await client.list(MQInstanceRef, {}, ns.name)).items.length === 0, { what: "instances gone", timeoutMs: 60_000 }).catch(() => undefined);
  // their brokers go at once (a graceful stop, up to 30 s, is not what this suite tests)
  for (const p of (await core.listNamespacedPod({ namespace: ns.name, labelSelector: "messaging.cellcloud.io/instance" }).catch(() => ({ items: [] }))).items) {
    await client.delete(PodRef, p.metadata!.name!, ns.name, { gracePeriodSeconds: 0 }).catch(() => undefined);
  }
  await eventually(async () => (await client.list(VolumeRef, {}, ns.name)).items.length === 0, { what: "volumes gone", timeoutMs: 60_000 }).catch(() => undefined);
  console.log(`mq: brokers and volumes gone ${Date.now() - t0} ms after the suite's objects were deleted`);
  await platform.nodePools.delete(pool).catch(() => undefined);
  await eventually(async () => (await platform.nodePools.list()).every((np) => np.metadata.name !== pool), { what: "pool gone", timeoutMs: 60_000 }).catch(() => undefined);
  await platform.storagePools.delete(spool).catch(() => undefined);
  await platform.cells.delete(cell).catch(() => undefined);
  await storageIn(kc, ns.name).deleteType(vtype).catch(() => undefined);
  await manager.kill();
  await client.delete(ValidatingRef, WEBHOOK_CONFIG).catch(() => undefined);
  await client.delete(MutatingRef, WEBHOOK_CONFIG).catch(() => undefined);
}, 150_000);

describe("MQ: Kafka", () => {
  let admin: Record<string, string>;

  it("a 3-broker instance reaches Ready on separate hosts; the default user's SCRAM credentials move 10,000 messages through a 6-partition, RF 3 topic", async () => {
    const t0 = Date.now();
    const mq = await ready("kf", 3);
    console.log(`kafka: 3 brokers ready ${Date.now() - t0} ms after the test began`);
    expect(new Set(mq.status!.brokers!.map((b) => b.node)).size).toBe(3);
    expect(mq.status!.controllerQuorum).toEqual([0, 1, 2]);
    expect(mq.status!.listeners![0]!.bootstrapServers!.split(",")).toHaveLength(3);
    await client.create(MQTopicRef, topicObject("orders", { partitions: 6, replicationFactor: 3 }));
    await eventually(async () => cond(await client.get<MQTopicObj>(MQTopicRef, "orders", ns.name), "Ready")?.status === "True", { what: "topic orders Ready", timeoutMs: 30_000 });
    admin = await secretData("kf-mq-credentials");
    expect(admin.username).toBe("admin");
    const p = await producer(admin.username!, admin.password!);
    for (let batch = 0; batch < 20; batch++) {
      await p.send({ messages: Array.from({ length: 500 }, (_, i) => ({ topic: "orders", key: `k${batch * 500 + i}`, value: `v${batch * 500 + i}` })) });
    }
    await p.close();
    expect(await consumeAll(admin.username!, admin.password!, "orders", 10_000, "g-all")).toBe(10_000);
    // a wrong password is refused by the brokers
    const bad = new Producer({ clientId: "bad", bootstrapBrokers: await bootstrap(), sasl: sasl("admin", "wrong"), serializers: stringSerializers, retries: 0, timeout: 5_000 });
    expect(await bad.send({ messages: [{ topic: "orders", value: "x" }] }).then(() => "accepted", reasons)).toContain("SASL_AUTHENTICATION_FAILED");
    await bad.close().catch(() => {});
  }, 240_000);

  it("a killed broker shows as AllBrokersReady=False while acks=all produce goes on (min ISR 2), and it returns", async () => {
    const p = await producer(admin.username!, admin.password!);
    const loop = new ProduceLoop(p, "orders").start();
    await sleep(1_000);
    const pid = await brokerJava("kf-2");
    process.kill(pid, "SIGKILL");
    const down = await eventually(async () => {
      const o = await read("kf");
      return cond(o, "AllBrokersReady")?.status === "False" ? o : undefined;
    }, { what: "AllBrokersReady=False", timeoutMs: 20_000 });
    expect(cond(down, "AllBrokersReady")!.message).toContain("kf-2");
    expect(cond(down, "Ready")!.status).toBe("True");
    const sentWhileDown = loop.sent;
    await ready("kf", 3, 90_000);
    await loop.finish();
    await p.close();
    console.log(`kafka: ${loop.sent} messages with acks=all while broker 2 was killed and came back (${loop.sent - sentWhileDown} after it returned), ${loop.failures.length} failed`);
    expect(loop.failures).toEqual([]);
    expect(loop.sent).toBeGreaterThan(10);
  }, 180_000);

  it("scales 3 → 5 online with no failed produce; reports the imbalance; refuses scale-in naming the partitions the brokers hold", async () => {
    const p = await producer(admin.username!, admin.password!);
    const loop = new ProduceLoop(p, "orders").start();
    await client.patch(MQInstanceRef, "kf", ns.name, { spec: { brokers: 5 } }, "merge");
    const mq = await ready("kf", 5, 150_000);
    await sleep(500);
    await loop.finish();
    await p.close();
    console.log(`kafka: ${loop.sent} messages produced during 3 → 5, ${loop.failures.length} failed`);
    expect(loop.failures).toEqual([]);
    expect(new Set(mq.status!.brokers!.map((b) => b.node)).size).toBe(5);
    expect(mq.status!.brokers!.filter((b) => b.controller).map((b) => b.id)).toEqual([0, 1, 2]);
    const bal = await eventually(async () => { const o = await read("kf"); return o.status?.unbalanced ? o : undefined; }, { what: "unbalanced reported", timeoutMs: 20_000 });
    expect(bal.status!.unbalancedMessage).toMatch(/3: 0, 4: 0/);
    // a topic made now may land on the new brokers; then they hold data and cannot go
    await client.create(MQTopicRef, topicObject("spread", { partitions: 10, replicationFactor: 2 }));
    await eventually(async () => cond(await client.get<MQTopicObj>(MQTopicRef, "spread", ns.name), "Ready")?.status === "True", { what: "topic spread Ready", timeoutMs: 30_000 });
    await client.patch(MQInstanceRef, "kf", ns.name, { spec: { brokers: 3 } }, "merge");
    const blocked = await eventually(async () => { const o = await read("kf"); return cond(o, "ScaleDownBlocked")?.status === "True" ? o : undefined; }, { what: "ScaleDownBlocked", timeoutMs: 20_000 });
    expect(cond(blocked, "ScaleDownBlocked")!.message).toMatch(/brokers 3, 4 hold replicas of \d+ partitions: spread-\d+ \(broker [34]\)/);
    expect(blocked.status!.brokerIds).toEqual([0, 1, 2, 3, 4]);
    expect((await client.get<KubeObject>(VolumeRef, "kf-4", ns.name)).metadata.name).toBe("kf-4");
    await client.patch(MQInstanceRef, "kf", ns.name, { spec: { brokers: 5 } }, "merge");
  }, 240_000);

  it("partitions only grow, a replication factor above the brokers is refused, and a topic deleted on the brokers comes back from its MQTopic", async () => {
    expect(await refusal(client.patch(MQTopicRef, "orders", ns.name, { spec: { partitions: 4 } }, "merge"))).toContain("spec.partitions can only grow");
    expect(await refusal(client.create(MQTopicRef, topicObject("wide", { partitions: 1, replicationFactor: 6 })))).toContain("spec.replicationFactor: 6 is more than the 5 brokers");
    expect(await refusal(client.create(MQInstanceRef, mqObject("rq", { engine: "rocketmq", brokers: 2 })))).toContain("spec.engine: rocketmq is not available yet");
    expect(await refusal(client.create(MQInstanceRef, mqObject("rb2", { engine: "rabbitmq", brokers: 2 })))).toContain("spec.brokers: a rabbitmq instance has 1 or 3 brokers");
    await client.patch(MQTopicRef, "orders", ns.name, { spec: { partitions: 8, config: { "cleanup.policy": "delete" } } }, "merge");
    await eventually(async () => (await client.get<MQTopicObj>(MQTopicRef, "orders", ns.name)).status?.partitions === 8, { what: "orders has 8 partitions", timeoutMs: 30_000 });
    // by hand, on the brokers: the operator's view is the CR
    const hosts = (await bootstrap()).map((a) => `${a.split(":")[0]}:${KAFKA_PORTS.client}`);
    const a = new Admin({ clientId: "by-hand", bootstrapBrokers: hosts, sasl: sasl(admin.username!, admin.password!) });
    await a.deleteTopics({ topics: ["spread"] });
    await a.close();
    const back = await eventually(async () => {
      const t = await client.get<MQTopicObj>(MQTopicRef, "spread", ns.name);
      return t.status?.recreated && cond(t, "Ready")?.status === "True" ? t : undefined;
    }, { what: "spread recreated", timeoutMs: 45_000 });
    expect(back.status!.partitions).toBe(10);
    // two MQTopics for one topic: the newer is refused and never touches it
    await client.create(MQTopicRef, topicObject("orders-again", { topicName: "orders", partitions: 8, replicationFactor: 3 }));
    const conflict = await eventually(async () => { const t = await client.get<MQTopicObj>(MQTopicRef, "orders-again", ns.name); return cond(t, "Ready")?.reason === "ResourceConflict" ? t : undefined; }, { what: "ResourceConflict", timeoutMs: 20_000 });
    expect(cond(conflict, "Ready")!.message).toContain("MQTopic orders");
    await client.delete(MQTopicRef, "orders-again", ns.name);
    await sleep(2_000);
    expect((await client.get<MQTopicObj>(MQTopicRef, "orders", ns.name)).status?.partitions).toBe(8);
  }, 180_000);

  it("an MQUser produces and consumes where its ACLs allow and is refused by the brokers elsewhere", async () => {
    await client.create(MQUserRef, userObject("alice", {
      instance: "kf",
      acls: [
        { resource: { type: "topic", name: "orders" }, operations: ["Read", "Write", "Describe"] },
        { resource: { type: "group", name: "alice-", patternType: "prefixed" }, operations: ["Read"] },
      ],
    }));
    await eventually(async () => cond(await client.get<MQUserObj>(MQUserRef, "alice", ns.name), "Ready")?.status === "True", { what: "alice Ready", timeoutMs: 30_000 });
    const creds = await secretData("alice-mquser");
    const p = await producer("alice", creds.password!);
    await p.send({ messages: [{ topic: "orders", value: "from alice" }] });
    expect(await p.send({ messages: [{ topic: "spread", value: "nope" }] }).then(() => "accepted", reasons)).toContain("TOPIC_AUTHORIZATION_FAILED");
    await p.close();
    expect(await consumeAll("alice", creds.password!, "orders", 1, "alice-g")).toBe(1);
  }, 120_000);

  it("an MQUser's password from the user's own Secret follows changes to it: the new one works, the old one no longer does", async () => {
    const secret = (password: string) => ({ apiVersion: "v1", kind: "Secret", metadata: { name: "bob-password", namespace: ns.name }, stringData: { password } });
    await client.create(SecretRef, secret("first-password-0123"));
    await client.create(MQUserRef, userObject("bob", { instance: "kf", passwordSecret: { name: "bob-password" }, acls: [{ resource: { type: "topic", name: "orders" }, operations: ["Write"] }] }));
    await eventually(async () => cond(await client.get<MQUserObj>(MQUserRef, "bob", ns.name), "Ready")?.status === "True", { what: "bob Ready", timeoutMs: 30_000 });
    const send = async (password: string) => {
      const p = new Producer({ clientId: "bob", bootstrapBrokers: await bootstrap(), sasl: sasl("bob", password), serializers: stringSerializers, acks: ProduceAcks.ALL, retries: 0, timeout: 5_000 });
      try { return await p.send({ messages: [{ topic: "orders", value: "from bob" }] }).then(() => "sent", reasons); } finally { await p.close().catch(() => {}); }
    };
    expect(await send("first-password-0123")).toBe("sent");
    await client.update(SecretRef, { ...(await client.get<KubeObject>(SecretRef, "bob-password", ns.name)), data: { password: Buffer.from("second-password-4567").toString("base64") } } as KubeObject);
    await eventually(async () => (await send("second-password-4567")) === "sent", { what: "bob's new password accepted", timeoutMs: 30_000 });
    expect(await send("first-password-0123")).toContain("SASL_AUTHENTICATION_FAILED");
  }, 120_000);
});

describe("MQ: RabbitMQ", () => {
  it("reaches Ready; an MQUser publishes and consumes on its vhost with amqplib; a user without permissions is refused by the broker", async () => {
    const mq = await ready("rb", 1, 120_000);
    const host = mq.status!.listeners![0]!.addresses![0]!;
    await client.create(MQUserRef, userObject("app", { instance: "rb", permissions: [{ vhost: "orders" }] }));
    await client.create(MQUserRef, userObject("nobody", { instance: "rb" }));
    for (const u of ["app", "nobody"]) await eventually(async () => cond(await client.get<MQUserObj>(MQUserRef, u, ns.name), "Ready")?.status === "True", { what: `${u} Ready`, timeoutMs: 30_000 });
    const app = await secretData("app-mquser");
    const conn = await amqp.connect(`amqp://app:${encodeURIComponent(app.password!)}@${host}/orders`);
    const ch = await conn.createChannel();
    await ch.assertQueue("jobs", { durable: true });
    ch.sendToQueue("jobs", Buffer.from("hello"), { persistent: true });
    const got = await eventually(async () => { const m = await ch.get("jobs", { noAck: true }); return m ? m.content.toString() : undefined; }, { what: "message back", timeoutMs: 10_000 });
    expect(got).toBe("hello");
    await conn.close();
    const nobody = await secretData("nobody-mquser");
    // authenticated, then refused the vhost: the broker closes the connection instead of opening it
    expect(await refusal(amqp.connect(`amqp://nobody:${encodeURIComponent(nobody.password!)}@${host}/orders`))).toMatch(/got <ConnectionClose/);
    // given the permission, the same credentials open it
    await client.patch(MQUserRef, "nobody", ns.name, { spec: { permissions: [{ vhost: "orders", configure: "^$", write: "^$", read: "jobs" }] } }, "merge");
    const c3 = await eventually(() => amqp.connect(`amqp://nobody:${encodeURIComponent(nobody.password!)}@${host}/orders`), { what: "nobody may open orders", timeoutMs: 20_000 });
    const ch3 = await c3.createChannel();
    expect((await ch3.checkQueue("jobs")).queue).toBe("jobs");
    await c3.close();
    // the default user (administrator) works too
    const admin = await secretData("rb-mq-credentials");
    const c2 = await amqp.connect(`amqp://${admin.username}:${encodeURIComponent(admin.password!)}@${host}/orders`);
    await c2.close();
  }, 180_000);
});

describe("MQ: credentials", () => {
  it("the Secrets stay the same across manager restarts, and no password appears in the manager's log, Events or status", async () => {
    const names = ["kf-mq-credentials", "rb-mq-credentials", "alice-mquser", "app-mquser"];
    const before = await Promise.all(names.map(secretData));
    await manager.kill();
    manager.start();
    await ready("kf", 5, 60_000);
    await ready("rb", 1, 60_000);
    await sleep(3_000);
    await manager.kill();
    manager.start();
    await eventually(async () => cond(await client.get<MQUserObj>(MQUserRef, "alice", ns.name), "Ready")?.status === "True", { what: "alice Ready after restart", timeoutMs: 30_000 });
    const after = await Promise.all(names.map(secretData));
    expect(after).toEqual(before);
    // alice's password still works on the brokers
    const p = await producer("alice", after[2]!.password!);
    await p.send({ messages: [{ topic: "orders", value: "after restarts" }] });
    await p.close();
    const passwords = [...before.map((d) => d.password!), "first-password-0123", "second-password-4567", (await secretData("kf-mq-internal"))["operator-password"]!, (await secretData("rb-mq-internal"))["operator-password"]!];
    const events = JSON.stringify((await client.list(EventRefV1, {}, ns.name)).items);
    const statuses = JSON.stringify([...(await client.list(MQInstanceRef, {}, ns.name)).items, ...(await client.list(MQUserRef, {}, ns.name)).items, ...(await client.list(MQTopicRef, {}, ns.name)).items].map((o) => (o as { status?: unknown }).status));
    const logs = spawned.map((m) => m.output()).join("\n") + readdirSync(`${testStateDir}/dataplane/logs`).filter((f) => f.startsWith(`${ns.name}_`))
      .map((f) => readFileSync(`${testStateDir}/dataplane/logs/${f}`, "utf8")).join("\n");
    expect(logs.length).toBeGreaterThan(0);
    for (const pw of passwords) {
      expect(logs).not.toContain(pw);
      expect(events).not.toContain(pw);
      expect(statuses).not.toContain(pw);
    }
  }, 180_000);
});

describe("MQ: suspension (billing's stop)", () => {
  it("spec.suspended stops the brokers and keeps volumes and credentials; resumed, a durable message is still there", async () => {
    const before = await secretData("rb-mq-credentials");
    const url = async () => `amqp://${before.username}:${encodeURIComponent(before.password!)}@${(await read("rb")).status!.listeners![0]!.addresses![0]}/orders`;
    const c1 = await amqp.connect(await url());
    const ch1 = await c1.createChannel();
    await ch1.assertQueue("kept", { durable: true });
    ch1.sendToQueue("kept", Buffer.from("across a suspension"), { persistent: true });
    await ch1.close();
    await c1.close();
    await client.patch(MQInstanceRef, "rb", ns.name, { spec: { suspended: true } }, "merge");
    const stopped = await eventually(async () => {
      const o = await read("rb");
      const pods = (await core.listNamespacedPod({ namespace: ns.name, labelSelector: "messaging.cellcloud.io/instance=rb" })).items;
      return cond(o, "Ready")?.reason === "Suspended" && pods.length === 0 ? o : undefined;
    }, { what: "rb suspended, no broker pod", timeoutMs: 60_000 });
    expect(stopped.status!.billingPausedAt).toBeDefined();
    expect((await client.list(VolumeRef, { labelSelector: "messaging.cellcloud.io/instance=rb" }, ns.name)).items).toHaveLength(1);
    await client.patch(MQInstanceRef, "rb", ns.name, { spec: { suspended: false } }, "merge");
    const t0 = Date.now();
    await ready("rb", 1, 120_000);
    console.log(`rabbitmq: back ${Date.now() - t0} ms after resuming`);
    expect(await secretData("rb-mq-credentials")).toEqual(before);
    const c2 = await amqp.connect(await url());
    const ch2 = await c2.createChannel();
    const m = await eventually(async () => (await ch2.get("kept", { noAck: true })) || undefined, { what: "the durable message", timeoutMs: 10_000 });
    expect(m.content.toString()).toBe("across a suspension");
    await c2.close();
  }, 200_000);
});

const EventRefV1 = { group: "events.k8s.io", version: "v1", kind: "Event", plural: "events", namespaced: true };
