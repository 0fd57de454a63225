// messaging.cellcloud.io: MQ. An MQInstance is a cluster of real brokers: Kafka in KRaft mode (the
// first nodes are combined controller + broker nodes, the controller quorum; later ones are brokers)
// or RabbitMQ (1 or 3 nodes). Each broker is a pod placed by the cell scheduler on its own host, with
// its data on an EVS Volume; clients authenticate (Kafka SASL/SCRAM-SHA-512, RabbitMQ user and
// password). MQTopics (Kafka) and MQUsers are reconciled against the brokers' own admin APIs, with
// the custom resource as the source of truth, as Strimzi's unidirectional topic operator and the
// RabbitMQ messaging-topology operator do.
import { z } from "zod";
import { count, deletionPolicy, immutable, labelValue, nameAtMost, nameIsDNSLabel, observed, refName } from "./common.ts";
import { defineKind, refOf, type CelValidation } from "./crd.ts";
import type { KubeObject } from "./meta.ts";

const GROUP = "messaging.cellcloud.io";
const VERSION = "v1alpha1";

/** Brokers and their pods are named <instance>-<n> (n from 0, the Kafka node id); volumes the same. */
export const MAX_MQ_NAME = 40;
export const MAX_KAFKA_BROKERS = 15;
/** Kafka's controller quorum: the first min(brokers at creation, 3) nodes. */
export const MAX_CONTROLLERS = 3;

/** The seed's flavors: vCPUs and memory of each broker. */
export const MQ_FLAVORS = { "1C2G": { cpu: 1, memory: "2Gi" }, "2C4G": { cpu: 2, memory: "4Gi" }, "4C8G": { cpu: 4, memory: "8Gi" }, "8C16G": { cpu: 8, memory: "16Gi" } } as const;
export type MQFlavor = keyof typeof MQ_FLAVORS;

/** The versions each engine runs (the image tag in a cluster; the local data plane runs what hack/ensure-packages installs). */
export const MQ_VERSIONS = { kafka: "4.1", rabbitmq: "3.10" } as const;

const cidr = (field: string) =>
  z.string().max(18).describe("An IPv4 block clients may connect from, e.g. 10.0.0.0/16 or 203.0.113.7/32.").meta({
    "x-kubernetes-validations": [{ rule: "isCIDR(self) && cidr(self).ip().family() == 4", message: `${field} must be an IPv4 CIDR such as 10.0.0.0/16` }],
  });

const storageSize = z.string().max(16).regex(/^[0-9]+(Gi|Ti)$/).describe("Size of each broker's data volume, in Gi or Ti (at least 1Gi). It can only grow.")
  .meta({
    "x-kubernetes-validations": [
      { rule: "quantity(self).compareTo(quantity('1Gi')) >= 0 && quantity(self).compareTo(quantity('64Ti')) <= 0", message: "spec.storage.size must be between 1Gi and 64Ti" },
      { rule: "quantity(self).compareTo(quantity(oldSelf)) >= 0", message: "spec.storage.size can only grow: a broker's volume cannot be shrunk" },
    ],
  });

/** A user or vhost name as both brokers accept it, safe in URLs and ACL principals. */
const principal = (what: string) => z.string().min(1).max(64).regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/).describe(what);

const mqSpec = z
  .object({
    engine: z.enum(["kafka", "rabbitmq", "rocketmq"]).describe("The broker: kafka (KRaft) or rabbitmq. (rocketmq is refused until it is available.) Immutable.")
      .meta(immutable("spec.engine")),
    version: z.string().max(8).optional().describe("The engine's version: 4.1 for kafka, 3.10 for rabbitmq (the default). Immutable.")
      .meta(immutable("spec.version")),
    brokers: z.int().min(1).max(MAX_KAFKA_BROKERS)
      .describe("How many brokers. Kafka: 1-15; more brokers join online, fewer is refused (ScaleDownBlocked) while the brokers to remove hold partition replicas or belong to the controller quorum. RabbitMQ: 1 or 3, never fewer than before."),
    flavor: z.enum(Object.keys(MQ_FLAVORS) as [MQFlavor, ...MQFlavor[]]).default("1C2G").describe("Each broker's size: 1C2G, 2C4G, 4C8G or 8C16G. Immutable.")
      .meta(immutable("spec.flavor")),
    storage: z.object({
      size: storageSize,
      type: refName("The VolumeType of the brokers' data volumes. Immutable.").meta(immutable("spec.storage.type")),
    }).describe("Each broker's data volume (an EVS Volume)."),
    zone: labelValue("The zone the brokers and their volumes are in. Immutable.").meta(immutable("spec.zone")),
    subnet: refName("The Subnet (in this namespace) clients reach the brokers from. Immutable.").max(63).meta(immutable("spec.subnet")),
    retention: z.object({
      hours: z.int().min(1).max(87_600).optional().describe("Kafka: how long a topic keeps messages unless the topic says otherwise (log.retention.hours; default 168)."),
      bytesPerPartition: z.int().min(1_048_576).optional().describe("Kafka: the most a partition keeps unless the topic says otherwise (log.retention.bytes; default unlimited)."),
    }).optional().describe("Retention defaults for topics (Kafka), applied to the running brokers as cluster-wide dynamic configuration."),
    defaultUser: principal("The user created with the instance, with every right on it (a Kafka super user; a RabbitMQ administrator). Its password is generated into the <name>-mq-credentials Secret. Immutable.")
      .default("admin").meta(immutable("spec.defaultUser")),
    vhosts: z.array(principal("A RabbitMQ virtual host.")).max(64).optional()
      .describe("RabbitMQ: virtual hosts to create besides \"/\" (removing one from the list deletes it, with its queues).")
      .meta({ "x-kubernetes-list-type": "set" }),
    allowedCIDRs: z.array(cidr("spec.allowedCIDRs[*]")).max(32).optional()
      .describe("Where clients may connect from (a NetworkPolicy on the brokers' client ports). Empty: anywhere in the cluster.")
      .meta({ "x-kubernetes-list-type": "set" }),
    suspended: z.boolean().optional()
      .describe("Stop every broker, keeping its volume and the credentials (set by billing when a subscription expires, or by hand); false starts them again."),
    deletionPolicy: deletionPolicy("the brokers, their volumes, the Services and the credentials Secret"),
  })
  .describe("Desired state of the message queue instance.");

const mqValidations: CelValidation[] = [
  { rule: "self.engine != 'rocketmq'", message: "spec.engine: rocketmq is not available yet; CellCloud MQ runs kafka and rabbitmq", fieldPath: ".engine" },
  { rule: "!has(self.version) || (self.engine == 'kafka' ? self.version == '4.1' : self.version == '3.10')", message: "spec.version: kafka runs 4.1 and rabbitmq 3.10", fieldPath: ".version" },
  { rule: "self.engine != 'rabbitmq' || self.brokers == 1 || self.brokers == 3", message: "spec.brokers: a rabbitmq instance has 1 or 3 brokers", fieldPath: ".brokers" },
  { rule: "self.engine != 'rabbitmq' || self.brokers >= oldSelf.brokers", message: "spec.brokers: a rabbitmq instance cannot be scaled in (its queues live on its nodes)", fieldPath: ".brokers" },
  { rule: "!has(self.vhosts) || self.engine == 'rabbitmq'", message: "spec.vhosts: only a rabbitmq instance has virtual hosts", fieldPath: ".vhosts" },
  { rule: "!has(self.retention) || self.engine == 'kafka'", message: "spec.retention: only a kafka instance has retention defaults", fieldPath: ".retention" },
];

const listenerStatus = z.object({
  name: z.string().describe("The listener: client."),
  bootstrapServers: z.string().max(512).optional().describe("Kafka: host:port,host:port of the brokers, as a client's bootstrap.servers takes it."),
  addresses: z.array(z.string().max(64)).max(16).optional().describe("host:port of each ready broker."),
  service: z.string().optional().describe("The Service that selects the brokers."),
  authentication: z.string().optional().describe("How clients authenticate: scram-sha-512 (Kafka) or plain (RabbitMQ user and password)."),
}).describe("Where clients connect.");

const brokerStatus = z.object({
  id: z.int().min(0).describe("The Kafka node id, or the RabbitMQ node's index."),
  name: z.string().describe("Its pod."),
  node: z.string().optional().describe("The host it runs on."),
  address: z.string().optional().describe("Its pod address."),
  controller: z.boolean().optional().describe("Kafka: one of the controller quorum."),
  ready: z.boolean().describe("Whether it serves clients (and, Kafka, is registered and unfenced)."),
  replicas: z.int().min(0).optional().describe("Kafka: partition replicas it holds."),
  message: z.string().max(512).optional().describe("Why it is not ready."),
}).describe("One broker as last observed.");

const mqStatus = z
  .object({
    ...observed,
    version: z.string().optional().describe("The version running."),
    listeners: z.array(listenerStatus).max(4).optional().describe("Where clients connect."),
    brokers: z.array(brokerStatus).max(MAX_KAFKA_BROKERS).optional().describe("Each broker.")
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["id"] }),
    brokerIds: z.array(z.int().min(0)).max(MAX_KAFKA_BROKERS).optional().describe("The ids of the brokers that exist."),
    readyBrokers: count("Brokers ready."),
    controllerQuorum: z.array(z.int().min(0)).max(MAX_CONTROLLERS).optional()
      .describe("Kafka: the node ids of the controller quorum, fixed when the instance was created."),
    clusterId: z.string().max(64).optional().describe("Kafka: the cluster id the brokers were formatted with."),
    credentialsSecret: z.string().optional().describe("The Secret with the default user's username and password (and bootstrap servers or the AMQP URI)."),
    unbalanced: z.boolean().optional().describe("Kafka: brokers hold very different numbers of partition replicas (new brokers get only new partitions; nothing is moved silently)."),
    unbalancedMessage: z.string().max(1024).optional().describe("Replicas per broker, when unbalanced."),
    billingPausedAt: z.iso.datetime({ offset: true }).optional().describe("When the brokers were stopped by spec.suspended."),
  })
  .describe("Observed state of the message queue instance.");

export const MQInstance = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "MQInstance",
  plural: "mqinstances",
  singular: "mqinstance",
  shortNames: ["mq"],
  scope: "Namespaced",
  description:
    "MQInstance is a message queue service: a Kafka cluster in KRaft mode (1-15 brokers, the first up to three also the controller quorum) or RabbitMQ (1 or 3 nodes), each broker a pod running the real broker with its data on an EVS Volume, placed on separate hosts. Clients connect to status.listeners with the default user's credentials in the <name>-mq-credentials Secret (Kafka SASL/SCRAM-SHA-512; RabbitMQ user and password). Topics are MQTopics and further users MQUsers. Kafka scales out online; new brokers receive new partitions only (status.unbalanced says when replicas are uneven). Scale-in is refused (ScaleDownBlocked) while the brokers to remove hold replicas.",
  spec: mqSpec,
  status: mqStatus,
  printerColumns: [
    { name: "Engine", type: "string", jsonPath: ".spec.engine" },
    { name: "Brokers", type: "integer", jsonPath: ".spec.brokers" },
    { name: "Ready-Brokers", type: "integer", jsonPath: ".status.readyBrokers" },
    { name: "Ready", type: "string", jsonPath: ".status.conditions[?(@.type==\"Ready\")].status" },
    { name: "Bootstrap", type: "string", jsonPath: ".status.listeners[0].bootstrapServers", priority: 1 },
    { name: "Flavor", type: "string", jsonPath: ".spec.flavor", priority: 1 },
    { name: "Storage", type: "string", jsonPath: ".spec.storage.size", priority: 1 },
  ],
  validations: mqValidations,
  objectValidations: [nameAtMost(MAX_MQ_NAME, "brokers are <name>-<n> and their volumes evs-<name>-<n>"), nameIsDNSLabel("it names the instance's Services")],
});

// ==================== MQTopic ====================

/** Topic-level settings a user may set (Kafka's names); the rest stay the brokers' defaults. */
export const TOPIC_CONFIG_KEYS = [
  "cleanup.policy", "compression.type", "delete.retention.ms", "max.message.bytes", "message.timestamp.type", "min.compaction.lag.ms",
  "min.insync.replicas", "retention.bytes", "retention.ms", "segment.bytes", "segment.ms",
] as const;

const topicName = z.string().min(1).max(249).regex(/^[A-Za-z0-9._-]+$/);

const topicSpec = z
  .object({
    instance: refName("The Kafka MQInstance (in this namespace) the topic lives on. Immutable.").max(63).meta(immutable("spec.instance")),
    topicName: topicName.optional().describe("The topic's name on the brokers; default: metadata.name. Immutable.").meta(immutable("spec.topicName")),
    partitions: z.int().min(1).max(10_000).describe("How many partitions. It can only grow (Kafka cannot remove partitions).")
      .meta({ "x-kubernetes-validations": [{ rule: "self >= oldSelf", message: "spec.partitions can only grow: Kafka cannot remove a topic's partitions" }] }),
    replicationFactor: z.int().min(1).max(MAX_KAFKA_BROKERS).describe("Copies of each partition, at most the instance's brokers. Immutable.")
      .meta(immutable("spec.replicationFactor")),
    retentionMs: z.int().min(-1).optional().describe("How long messages are kept, in ms (-1: forever); default: the instance's retention."),
    config: z.record(z.string(), z.string().max(256)).optional()
      .describe(`Further topic settings by Kafka's name: ${TOPIC_CONFIG_KEYS.join(", ")}. Settings changed on the brokers by hand are set back.`)
      .meta({
        maxProperties: TOPIC_CONFIG_KEYS.length,
        "x-kubernetes-validations": [{ rule: `self.all(k, k in [${TOPIC_CONFIG_KEYS.map((k) => `'${k}'`).join(", ")}])`, message: `spec.config: only ${TOPIC_CONFIG_KEYS.join(", ")} may be set` }],
      }),
    deletionPolicy: deletionPolicy("the topic on the brokers, with its messages"),
  })
  .describe("Desired state of the topic.");

const topicStatus = z
  .object({
    ...observed,
    topicName: z.string().optional().describe("The topic's name on the brokers."),
    partitions: count("Partitions on the brokers."),
    replicationFactor: count("Replicas of each partition on the brokers."),
    underReplicatedPartitions: count("Partitions whose in-sync replicas are fewer than their replicas."),
    recreated: count("How many times the topic was found missing on the brokers and created again."),
  })
  .describe("Observed state of the topic.");

export const MQTopic = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "MQTopic",
  plural: "mqtopics",
  singular: "mqtopic",
  shortNames: ["mqt"],
  scope: "Namespaced",
  description:
    "MQTopic is a Kafka topic on an MQInstance, created, altered and deleted through the brokers' admin API. The custom resource is the source of truth: a topic deleted or changed by hand on the brokers is set back. Partitions only grow. Two MQTopics naming one topic: the older one owns it, the newer is Ready=False with ResourceConflict.",
  spec: topicSpec,
  status: topicStatus,
  printerColumns: [
    { name: "Instance", type: "string", jsonPath: ".spec.instance" },
    { name: "Topic", type: "string", jsonPath: ".status.topicName" },
    { name: "Partitions", type: "integer", jsonPath: ".status.partitions" },
    { name: "RF", type: "integer", jsonPath: ".status.replicationFactor" },
    { name: "Ready", type: "string", jsonPath: ".status.conditions[?(@.type==\"Ready\")].status" },
  ],
  objectValidations: [nameAtMost(249, "it is the default topic name")],
});

// ==================== MQUser ====================

const aclOperations = ["All", "Read", "Write", "Create", "Delete", "Alter", "Describe", "DescribeConfigs", "AlterConfigs", "IdempotentWrite"] as const;

const acl = z.object({
  resource: z.object({
    type: z.enum(["topic", "group", "cluster", "transactionalId"]).describe("What the rule is about."),
    name: z.string().min(1).max(249).regex(/^([A-Za-z0-9._-]+|\*)$/).default("*").describe("Its name, a prefix (patternType prefixed) or * for all."),
    patternType: z.enum(["literal", "prefixed"]).default("literal").describe("literal: the name exactly (or *); prefixed: every name starting with it."),
  }).describe("The Kafka resource."),
  operations: z.array(z.enum(aclOperations)).min(1).max(aclOperations.length).describe("What the user may do on it.").meta({ "x-kubernetes-list-type": "set" }),
}).describe("An allow rule.");

const permission = z.object({
  vhost: z.string().min(1).max(64).regex(/^(\/|[A-Za-z0-9][A-Za-z0-9._-]*)$/).describe("The virtual host (\"/\" or one of the instance's spec.vhosts)."),
  configure: z.string().max(256).default(".*").describe("A regular expression of the resources the user may configure (declare, delete)."),
  write: z.string().max(256).default(".*").describe("A regular expression of the resources the user may publish to."),
  read: z.string().max(256).default(".*").describe("A regular expression of the resources the user may consume from."),
}).describe("RabbitMQ permissions on one virtual host.");

const userSpec = z
  .object({
    instance: refName("The MQInstance (in this namespace) the user belongs to. Immutable.").max(63).meta(immutable("spec.instance")),
    username: principal("The user's name on the brokers; default: metadata.name. Immutable.").optional().meta(immutable("spec.username")),
    passwordSecret: z.object({
      name: refName("A Secret in this namespace."),
      key: z.string().min(1).max(253).regex(/^[-._a-zA-Z0-9]+$/).default("password").describe("The key holding the password."),
    }).optional().describe("Take the password from this Secret (changes are applied to the brokers). Empty: a password is generated once into the <name>-mquser Secret."),
    acls: z.array(acl).max(64).optional().describe("Kafka: what the user may do (ALLOW rules; anything else is denied)."),
    permissions: z.array(permission).max(64).optional().describe("RabbitMQ: permissions per virtual host (none: the user can log in nowhere).")
      .meta({ "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["vhost"] }),
    tags: z.array(z.enum(["management", "monitoring", "policymaker", "administrator"])).max(4).optional()
      .describe("RabbitMQ: the user's tags (what the management UI lets it do).").meta({ "x-kubernetes-list-type": "set" }),
    deletionPolicy: deletionPolicy("the user (and its ACLs or permissions) on the brokers"),
  })
  .describe("Desired state of the user.");

const userStatus = z
  .object({
    ...observed,
    username: z.string().optional().describe("The user's name on the brokers."),
    secret: z.string().optional().describe("The Secret with username and password."),
    passwordVersion: z.string().max(128).optional().describe("Which version of the password Secret the brokers have (its uid and resourceVersion), so a change is applied once."),
    acls: count("Kafka ACLs in place."),
  })
  .describe("Observed state of the user.");

export const MQUser = defineKind({
  group: GROUP,
  version: VERSION,
  kind: "MQUser",
  plural: "mqusers",
  singular: "mquser",
  shortNames: ["mqu"],
  scope: "Namespaced",
  description:
    "MQUser is a user of an MQInstance: Kafka SCRAM-SHA-512 credentials and ACLs, or a RabbitMQ user with permissions per virtual host, kept on the brokers through their admin APIs. The password is generated once into the <name>-mquser Secret (stable across restarts) or taken from spec.passwordSecret, whose changes are applied.",
  spec: userSpec,
  status: userStatus,
  printerColumns: [
    { name: "Instance", type: "string", jsonPath: ".spec.instance" },
    { name: "User", type: "string", jsonPath: ".status.username" },
    { name: "Secret", type: "string", jsonPath: ".status.secret" },
    { name: "Ready", type: "string", jsonPath: ".status.conditions[?(@.type==\"Ready\")].status" },
  ],
  validations: [
    { rule: "!(has(self.acls) && has(self.permissions))", message: "spec: acls are for kafka users and permissions for rabbitmq users; set one" },
  ],
  objectValidations: [nameAtMost(63, "it names the user's Secret")],
});

export const messagingKinds = [MQInstance, MQTopic, MQUser] as const;

export type MQInstanceSpec = z.output<typeof mqSpec>;
export type MQInstanceStatus = z.output<typeof mqStatus>;
export type MQInstanceObj = KubeObject & { spec: MQInstanceSpec; status?: MQInstanceStatus };
export type MQBrokerStatus = z.output<typeof brokerStatus>;
export type MQTopicSpec = z.output<typeof topicSpec>;
export type MQTopicObj = KubeObject & { spec: MQTopicSpec; status?: z.output<typeof topicStatus> };
export type MQUserSpec = z.output<typeof userSpec>;
export type MQUserObj = KubeObject & { spec: MQUserSpec; status?: z.output<typeof userStatus> };
export type KafkaAcl = z.output<typeof acl>;
export type RabbitPermission = z.output<typeof permission>;

export const MQInstanceRef = refOf(MQInstance);
export const MQTopicRef = refOf(MQTopic);
export const MQUserRef = refOf(MQUser);

export const MQ_FINALIZER = "messaging.cellcloud.io/mqinstance";
export const MQ_TOPIC_FINALIZER = "messaging.cellcloud.io/mqtopic";
export const MQ_USER_FINALIZER = "messaging.cellcloud.io/mquser";

/** Labels on everything an MQInstance owns; brokers also carry their id. */
export const MQ_LABEL = "messaging.cellcloud.io/instance";
export const MQ_BROKER_LABEL = "messaging.cellcloud.io/broker";
/** The official images in a cluster; the local data plane runs the machine's Kafka jars and rabbitmq-server for them. */
export const MQ_IMAGES = { kafka: "docker.io/apache/kafka:4.1.1", rabbitmq: "docker.io/library/rabbitmq:3.10-management" } as const;

export const brokerName = (mq: string, id: number) => `${mq}-${id}`;
export const brokerVolumeName = (mq: string, id: number) => `${mq}-${id}`;
export const clientServiceName = (mq: string) => `${mq}-client`;
export const credentialsSecretName = (mq: string) => `${mq}-mq-credentials`;
/** What only brokers and the controller read: the operator's admin password (and RabbitMQ's Erlang cookie). */
export const internalSecretName = (mq: string) => `${mq}-mq-internal`;
/** Kafka's configuration the controller writes once the brokers' addresses are known (the cluster id, the controller quorum). */
export const configMapName = (mq: string) => `${mq}-mq-config`;
export const userSecretName = (user: string) => `${user}-mquser`;
export const networkPolicyName = (mq: string) => `mq-${mq}`;
/** A RabbitMQ node's Erlang name (unique on a machine: epmd is shared), as its entrypoint names it and the controller reads it back. */
export const rabbitNodeName = (cluster: string, index: number) => `rabbit-${cluster}-${index}@localhost`;
export const rabbitNodeIndex = (node: string): number | undefined => { const m = /^rabbit-[^@]*-(\d+)@/.exec(node); return m ? Number(m[1]) : undefined; };

/** The user the manager administers brokers as (a super user, separate from the tenant's default user). */
export const OPERATOR_USER = "cellcloud";

export const KAFKA_PORTS = { client: 9092, controller: 9093, internal: 9094 } as const;
export const RABBIT_PORTS = { amqp: 5672, management: 15672, dist: 25672 } as const;

/** Where a broker's volumes are mounted. */
export const MQ_MOUNTS = { data: "/var/lib/cellcloud-mq/data", config: "/etc/cellcloud/mq/config", secrets: "/etc/cellcloud/mq/secrets" } as const;

/** Keys of the internal Secret and the config ConfigMap, as the broker entrypoints (agents/mq) read them. */
export const MQ_KEYS = {
  operatorPassword: "operator-password", cookie: "erlang-cookie", defaultPassword: "password",
  /** ConfigMap: Kafka's cluster id, its controller quorum voters ("0@10.0.0.5:9093,...") and the default user (a super user). */
  clusterId: "cluster-id", voters: "voters", defaultUser: "default-user",
} as const;
