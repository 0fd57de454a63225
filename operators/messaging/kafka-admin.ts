// The manager's side of Kafka's admin protocol (@platformatic/kafka): one authenticated Admin client
// per instance (the operator user over PLAIN on the brokers' INTERNAL listener), every call bounded
// in time. SCRAM credentials go through AlterUserScramCredentials (KIP-554: the client salts and
// hashes the password, so it never crosses the wire), sent on the Admin's own connection because the
// library's Admin has no method for it.
//
// The library is loaded on first use, not at import: it costs ~0.9 s and ~50 MB to load, which every
// manager start paid (a failover too) although only kafka MQInstances use it. require() of the ES
// module is synchronous (Node >= 22.12), so the client stays synchronous to make.
import { pbkdf2Sync, randomBytes } from "node:crypto";
import { subscribe } from "node:diagnostics_channel";
import { createRequire } from "node:module";
import type { Admin, AclOperationValue, Connection, ResourcePatternTypeValue, ResourceTypeValue } from "@platformatic/kafka";
import { KAFKA_PORTS, OPERATOR_USER, type KafkaAcl } from "../api/messaging.ts";

type Kafka = typeof import("@platformatic/kafka");
let loaded: Kafka | undefined;
/** @platformatic/kafka, loaded the first time anything here needs it. */
export const kafkaLib = (): Kafka => {
  if (!loaded) {
    hearConnectionErrors();
    loaded = createRequire(import.meta.url)("@platformatic/kafka") as Kafka;
  }
  return loaded;
};

let hearing = false;
/**
 * @platformatic/kafka 2.12.1 (the newest published): a connection whose broker dies while it
 * authenticates emits "error" twice (the socket's, then the handshake's "Connection to host:port
 * failed."), and its pool listens only `once`: the second, heard by no one, is thrown by the
 * EventEmitter as an uncaught exception, which ends the process (the MQ suite caught one from a
 * killed broker). The failure reaches the caller through the request's callback either way, so each
 * connection gets a listener of its own, from the library's own creation channel, that only keeps
 * the process up. Any process using the library calls this before its first client.
 */
export function hearConnectionErrors(): void {
  if (hearing) return;
  hearing = true;
  subscribe("plt:kafka:instances", (message) => {
    const { type, instance } = message as { type?: string; instance?: { on?: (event: string, fn: () => void) => void } };
    if (type === "connection") instance?.on?.("error", () => {});
  });
}

/** A call to the brokers gives up after this long (a broker down must not hold a reconcile). */
export const KAFKA_CALL_MS = 8_000;
const SCRAM_ITERATIONS = 8192;

export interface TopicView {
  partitions: number;
  replicationFactor: number;
  underReplicated: number;
  /** Replica broker ids of each partition. */
  replicas: number[][];
}

export interface ClusterView {
  /** Brokers the cluster lists (registered and unfenced). */
  brokers: number[];
  topics: Map<string, TopicView>;
}

/** What an ACL rule looks like on the wire, and back. */
export interface WireAcl { resourceType: ResourceTypeValue; resourceName: string; resourcePatternType: ResourcePatternTypeValue; operation: AclOperationValue }

interface WireNames { resource: Record<string, ResourceTypeValue>; pattern: Record<string, ResourcePatternTypeValue>; operation: Record<string, AclOperationValue> }
let wireNames: WireNames | undefined;
function names(): WireNames {
  if (wireNames) return wireNames;
  const { AclOperations, ResourcePatternTypes, ResourceTypes } = kafkaLib();
  return (wireNames = {
    resource: { topic: ResourceTypes.TOPIC, group: ResourceTypes.GROUP, cluster: ResourceTypes.CLUSTER, transactionalId: ResourceTypes.TRANSACTIONAL_ID },
    pattern: { literal: ResourcePatternTypes.LITERAL, prefixed: ResourcePatternTypes.PREFIXED },
    operation: {
      All: AclOperations.ALL, Read: AclOperations.READ, Write: AclOperations.WRITE, Create: AclOperations.CREATE, Delete: AclOperations.DELETE,
      Alter: AclOperations.ALTER, Describe: AclOperations.DESCRIBE, DescribeConfigs: AclOperations.DESCRIBE_CONFIGS, AlterConfigs: AclOperations.ALTER_CONFIGS,
      IdempotentWrite: AclOperations.IDEMPOTENT_WRITE,
    },
  });
}

/** An MQUser's rules as the brokers store them (one per operation); the cluster resource is always named kafka-cluster. */
export function wireAcls(acls: readonly KafkaAcl[]): WireAcl[] {
  if (!acls.length) return [];
  const { resource, pattern, operation } = names();
  return acls.flatMap((a) => a.operations.map((op) => ({
    resourceType: resource[a.resource.type]!,
    resourceName: a.resource.type === "cluster" ? "kafka-cluster" : a.resource.name,
    resourcePatternType: pattern[a.resource.patternType]!,
    operation: operation[op]!,
  })));
}
export const aclKey = (a: WireAcl) => `${a.resourceType}|${a.resourcePatternType}|${a.resourceName}|${a.operation}`;

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer from the brokers in ${KAFKA_CALL_MS / 1000} s`)), KAFKA_CALL_MS); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The innermost reason of the library's nested errors ("TOPIC_AUTHORIZATION_FAILED"), for conditions. */
export function kafkaReason(err: unknown): string {
  const e = err as { message?: string; errors?: unknown[]; cause?: unknown; apiId?: string };
  if (e?.apiId) return String(e.apiId);
  const inner = e?.errors?.[0] ?? e?.cause;
  return inner ? kafkaReason(inner) : String(e?.message ?? err).slice(0, 300);
}

export class KafkaClient {
  readonly admin: Admin;
  constructor(hosts: readonly string[], password: string) {
    this.admin = new (kafkaLib().Admin)({
      clientId: "cellcloud-manager",
      bootstrapBrokers: hosts.map((h) => `${h}:${KAFKA_PORTS.internal}`),
      sasl: { mechanism: "PLAIN", username: OPERATOR_USER, password },
      timeout: KAFKA_CALL_MS, connectTimeout: 3_000, retries: 1, retryDelay: 200,
    });
  }

  close(): void { void this.admin.close().catch(() => {}); }

  async cluster(): Promise<ClusterView> {
    const names = await bounded(this.admin.listTopics(), "list topics");
    const md = await bounded(this.admin.metadata({ topics: names, forceUpdate: true }), "metadata");
    const topics = new Map<string, TopicView>();
    for (const [name, t] of md.topics) {
      if (!t) continue; // an internal topic (the library leaves them out)
      topics.set(name, {
        partitions: t.partitionsCount,
        replicationFactor: t.partitions[0]?.replicas.length ?? 0,
        underReplicated: t.partitions.filter((p) => p.isr.length < p.replicas.length).length,
        replicas: t.partitions.map((p) => [...p.replicas]),
      });
    }
    return { brokers: [...md.brokers.keys()].sort((a, b) => a - b), topics };
  }

  /** Settings made on the topic itself (not broker defaults): `keys`, or all when none are named. */
  async topicConfig(topic: string, keys: readonly string[] = []): Promise<Map<string, string>> {
    const { ConfigResourceTypes } = kafkaLib();
    const [d] = await bounded(this.admin.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: topic, ...(keys.length ? { configurationKeys: [...keys] } : {}) }] }), "describe topic configs");
    // only what is set on the topic itself counts (not a broker default)
    return new Map((d?.configs ?? []).filter((c) => c.configSource === 1 && c.value !== null).map((c) => [c.name, String(c.value)]));
  }

  async clusterConfig(keys: readonly string[]): Promise<Map<string, string>> {
    const { ConfigResourceTypes } = kafkaLib();
    const [d] = await bounded(this.admin.describeConfigs({ resources: [{ resourceType: ConfigResourceTypes.BROKER, resourceName: "", configurationKeys: [...keys] }] }), "describe cluster configs");
    // DYNAMIC_DEFAULT_BROKER_CONFIG (4): set for every broker at run time
    return new Map((d?.configs ?? []).filter((c) => c.configSource === 4 && c.value !== null).map((c) => [c.name, String(c.value)]));
  }

  async alterConfig(kind: "topic" | "cluster", name: string, set: ReadonlyMap<string, string>, remove: readonly string[]): Promise<void> {
    const { ConfigResourceTypes, IncrementalAlterConfigOperationTypes } = kafkaLib();
    const configs = [
      ...[...set].map(([k, value]) => ({ name: k, value, configOperation: IncrementalAlterConfigOperationTypes.SET })),
      ...remove.map((k) => ({ name: k, configOperation: IncrementalAlterConfigOperationTypes.DELETE })),
    ];
    if (!configs.length) return;
    const resourceType = kind === "topic" ? ConfigResourceTypes.TOPIC : ConfigResourceTypes.BROKER;
    await bounded(this.admin.incrementalAlterConfigs({ resources: [{ resourceType, resourceName: name, configs }] }), `alter ${kind} configs`);
  }

  async createTopic(name: string, partitions: number, replicas: number, configs: ReadonlyMap<string, string>): Promise<void> {
    await bounded(this.admin.createTopics({ topics: [name], partitions, replicas, configs: [...configs].map(([k, value]) => ({ name: k, value })) }), "create topic");
  }

  async growPartitions(name: string, count: number): Promise<void> {
    await bounded(this.admin.createPartitions({ topics: [{ name, count }] }), "create partitions");
  }

  async deleteTopic(name: string): Promise<void> {
    await bounded(this.admin.deleteTopics({ topics: [name] }), "delete topic");
  }

  /** The users among `names` that have a SCRAM-SHA-512 credential. */
  async scramUsers(names: readonly string[]): Promise<Set<string>> {
    const { describeUserScramCredentialsV0, ScramMechanisms } = kafkaLib();
    let r: unknown;
    try {
      r = await this.raw(describeUserScramCredentialsV0.api, names.map((name) => ({ name })));
    } catch (e) {
      // the library fails the whole answer when a user has no credential (RESOURCE_NOT_FOUND)
      if (kafkaReason(e) === "RESOURCE_NOT_FOUND") return new Set();
      throw e;
    }
    return new Set((r as { results: Array<{ user: string; errorCode: number; credentialInfos: Array<{ mechanism: number }> }> }).results
      .filter((u) => u.errorCode === 0 && u.credentialInfos.some((c) => c.mechanism === ScramMechanisms.SCRAM_SHA_512)).map((u) => u.user));
  }

  async upsertScram(name: string, password: string): Promise<void> {
    const { alterUserScramCredentialsV0, ScramMechanisms } = kafkaLib();
    const salt = randomBytes(32);
    const saltedPassword = pbkdf2Sync(Buffer.from(password, "utf8"), salt, SCRAM_ITERATIONS, 64, "sha512");
    await this.checked(await this.raw(alterUserScramCredentialsV0.api, [], [{ name, mechanism: ScramMechanisms.SCRAM_SHA_512, iterations: SCRAM_ITERATIONS, salt, saltedPassword }]));
  }

  async deleteScram(name: string): Promise<void> {
    const { alterUserScramCredentialsV0, ScramMechanisms } = kafkaLib();
    const r = await this.raw(alterUserScramCredentialsV0.api, [{ name, mechanism: ScramMechanisms.SCRAM_SHA_512 }], []);
    // RESOURCE_NOT_FOUND (91): already gone
    await this.checked(r, [91]);
  }

  async acls(principal: string): Promise<WireAcl[]> {
    const { AclOperations, AclPermissionTypes, ResourcePatternTypes, ResourceTypes } = kafkaLib();
    const res = await bounded(this.admin.describeAcls({
      filter: { resourceType: ResourceTypes.ANY, resourceName: null, resourcePatternType: ResourcePatternTypes.ANY, principal, host: null, operation: AclOperations.ANY, permissionType: AclPermissionTypes.ALLOW },
    }), "describe ACLs");
    return res.flatMap((r) => r.acls.map((a) => ({ resourceType: r.resourceType, resourceName: r.resourceName, resourcePatternType: r.resourcePatternType, operation: a.operation })));
  }

  async createAcls(principal: string, acls: readonly WireAcl[]): Promise<void> {
    const { AclPermissionTypes } = kafkaLib();
    if (!acls.length) return;
    await bounded(this.admin.createAcls({ creations: acls.map((a) => ({ ...a, principal, host: "*", permissionType: AclPermissionTypes.ALLOW })) }), "create ACLs");
  }

  async deleteAcls(principal: string, acls: readonly WireAcl[] | "all"): Promise<void> {
    const { AclOperations, AclPermissionTypes, ResourcePatternTypes, ResourceTypes } = kafkaLib();
    const filters = acls === "all"
      ? [{ resourceType: ResourceTypes.ANY, resourceName: null, resourcePatternType: ResourcePatternTypes.ANY, principal, host: null, operation: AclOperations.ANY, permissionType: AclPermissionTypes.ANY }]
      : acls.map((a) => ({ ...a, principal, host: "*", permissionType: AclPermissionTypes.ALLOW }));
    if (!filters.length) return;
    await bounded(this.admin.deleteAcls({ filters }), "delete ACLs");
  }

  private raw(api: (c: Connection, ...args: never[]) => unknown, ...args: unknown[]): Promise<unknown> {
    const { kGetBootstrapConnection } = kafkaLib();
    return bounded(new Promise((resolve, reject) => {
      (this.admin as unknown as Record<symbol, (cb: (err: Error | null, c: Connection) => void) => void>)[kGetBootstrapConnection]!((err, connection) => {
        if (err) return reject(err);
        (api as (...a: unknown[]) => void)(connection, ...args, (e: Error | null, res: unknown) => (e ? reject(e) : resolve(res)));
      });
    }), "SCRAM credentials");
  }

  private async checked(r: unknown, ok: number[] = []): Promise<void> {
    const bad = (r as { results: Array<{ user: string; errorCode: number; errorMessage: string | null }> }).results.find((u) => u.errorCode !== 0 && !ok.includes(u.errorCode));
    if (bad) throw new Error(`SCRAM credential of ${bad.user}: error ${bad.errorCode}${bad.errorMessage ? ` (${bad.errorMessage})` : ""}`);
  }
}

/** One client per instance (by uid), made again when its brokers' addresses or the password change. */
export class KafkaClients {
  private readonly clients = new Map<string, { key: string; client: KafkaClient }>();
  get(uid: string, hosts: readonly string[], password: string): KafkaClient {
    const key = `${[...hosts].sort().join(",")}|${password}`;
    const have = this.clients.get(uid);
    if (have?.key === key) return have.client;
    have?.client.close();
    const client = new KafkaClient(hosts, password);
    this.clients.set(uid, { key, client });
    return client;
  }
  forget(uid: string): void {
    this.clients.get(uid)?.client.close();
    this.clients.delete(uid);
  }
}
