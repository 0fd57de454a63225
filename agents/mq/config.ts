// The MQ broker entrypoints' pure parts: Kafka's server.properties and RabbitMQ's rabbitmq.conf from
// what the controller gave the pod (its env, the instance's ConfigMap and Secrets).
import { KAFKA_PORTS, OPERATOR_USER, RABBIT_PORTS } from "../../operators/api/messaging.ts";

export { rabbitNodeName } from "../../operators/api/messaging.ts";

export interface KafkaNode {
  nodeId: number;
  /** "broker,controller" for the controller quorum, "broker" for the rest. */
  roles: string;
  host: string;
  /** The controller quorum: "0@10.0.0.5:9093,1@…". */
  voters: string;
  dataDir: string;
  operatorPassword: string;
  /** Copies of internal topics: min(3, brokers at creation). */
  replication: number;
  /** The instance's default user, a super user besides the operator. */
  defaultUser: string;
}

/** JAAS options are a tokenizer's words: a password goes in double quotes, with its quotes and backslashes escaped. */
const quoted = (s: string) => `"${s.replace(/\\/g, "\\\\").replace(/"/g, "\\\"")}"`;

/**
 * A KRaft node. Clients use SCRAM-SHA-512 (CLIENT); brokers, controllers and CellCloud's manager use
 * the operator user over PLAIN with a static JAAS user (INTERNAL, CONTROLLER), so no credential is
 * bootstrapped on a command line and the controller port is never open without a password.
 */
export function kafkaProperties(n: KafkaNode): string {
  const jaasPlain = `org.apache.kafka.common.security.plain.PlainLoginModule required username=${quoted(OPERATOR_USER)} password=${quoted(n.operatorPassword)} user_${OPERATOR_USER}=${quoted(n.operatorPassword)};`;
  const controller = n.roles.includes("controller");
  const listeners = [`CLIENT://${n.host}:${KAFKA_PORTS.client}`, `INTERNAL://${n.host}:${KAFKA_PORTS.internal}`, ...(controller ? [`CONTROLLER://${n.host}:${KAFKA_PORTS.controller}`] : [])];
  const minIsr = Math.min(2, n.replication);
  const lines: Record<string, string | number | boolean> = {
    "process.roles": n.roles,
    "node.id": n.nodeId,
    "controller.quorum.voters": n.voters,
    listeners: listeners.join(","),
    "advertised.listeners": `CLIENT://${n.host}:${KAFKA_PORTS.client},INTERNAL://${n.host}:${KAFKA_PORTS.internal}`,
    "listener.security.protocol.map": "CLIENT:SASL_PLAINTEXT,INTERNAL:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT",
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "INTERNAL",
    "sasl.mechanism.inter.broker.protocol": "PLAIN",
    "sasl.mechanism.controller.protocol": "PLAIN",
    "listener.name.client.sasl.enabled.mechanisms": "SCRAM-SHA-512",
    "listener.name.client.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
    "listener.name.internal.sasl.enabled.mechanisms": "PLAIN",
    "listener.name.internal.plain.sasl.jaas.config": jaasPlain,
    "listener.name.controller.sasl.enabled.mechanisms": "PLAIN",
    "listener.name.controller.plain.sasl.jaas.config": jaasPlain,
    "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "super.users": `User:${OPERATOR_USER};User:${n.defaultUser}`,
    "allow.everyone.if.no.acl.found": false,
    "log.dirs": `${n.dataDir}/kafka-logs`,
    "num.partitions": 1,
    "default.replication.factor": n.replication,
    "min.insync.replicas": minIsr,
    "offsets.topic.replication.factor": n.replication,
    "transaction.state.log.replication.factor": n.replication,
    "transaction.state.log.min.isr": minIsr,
    "share.coordinator.state.topic.replication.factor": n.replication,
    "share.coordinator.state.topic.min.isr": minIsr,
    "auto.create.topics.enable": false,
    "group.initial.rebalance.delay.ms": 0,
    "num.network.threads": 2,
    "num.io.threads": 2,
    "num.recovery.threads.per.data.dir": 1,
    "background.threads": 2,
    "log.cleaner.threads": 1,
    "log.cleaner.dedupe.buffer.size": 8_388_608,
    // a dead broker is noticed (and its partitions' leaders moved) in 4 s instead of 9, and a
    // restarted one registers again as soon
    "broker.heartbeat.interval.ms": 1000,
    "broker.session.timeout.ms": 4000,
  };
  return `${Object.entries(lines).map(([k, v]) => `${k}=${v}`).join("\n")}\n`;
}

export const KAFKA_LOG4J2 = `<?xml version="1.0" encoding="UTF-8"?>
<Configuration status="WARN">
  <Appenders><Console name="out" target="SYSTEM_OUT"><PatternLayout pattern="[%d] %p %m (%c)%n"/></Console></Appenders>
  <Loggers>
    <Root level="WARN"><AppenderRef ref="out"/></Root>
    <Logger name="kafka.server.KafkaRaftServer" level="INFO"/>
    <Logger name="kafka.server.BrokerServer" level="INFO"/>
  </Loggers>
</Configuration>
`;

/** The JVM flags of a local broker: a small heap and a quick start on a 2-core machine. */
// (measured here: C1 only starts a node in 7-11 s instead of 19-32; the serial collector and the
// caps keep it at 155-200 MiB RSS)
export const KAFKA_JVM = [
  "-Xms32m", "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:ReservedCodeCacheSize=64m", "-XX:MaxMetaspaceSize=96m",
  "-XX:MaxDirectMemorySize=64m", "-Xss512k", "-Djava.awt.headless=true",
];

export interface RabbitNode {
  host: string;
  /** Every node's Erlang name, this one's included; one: no cluster. */
  peers: string[];
  operatorPassword: string;
}

/**
 * The node's Erlang distribution port, on 127.0.0.1: derived from its own (unique) pod address, so
 * unique on the machine (RabbitMQ first tries the port on 0.0.0.0), and below Linux's ephemeral range.
 */
export function distPort(host: string): number {
  const o = host.split(".").map(Number);
  return 20_000 + (((o[1] ?? 0) * 65_536 + (o[2] ?? 0) * 256 + (o[3] ?? 0)) % 10_000);
}

/**
 * rabbitmq.conf: AMQP and management on the pod's address only; the operator user (an
 * administrator) as the default user, so guest is never created; classic peer discovery.
 */
export function rabbitConf(n: RabbitNode): string {
  const lines = [
    `listeners.tcp.1 = ${n.host}:${RABBIT_PORTS.amqp}`,
    `management.tcp.ip = ${n.host}`,
    `management.tcp.port = ${RABBIT_PORTS.management}`,
    `default_user = ${OPERATOR_USER}`,
    `default_pass = ${n.operatorPassword}`,
    "default_user_tags.administrator = true",
    "default_permissions.configure = .*",
    "default_permissions.read = .*",
    "default_permissions.write = .*",
    "loopback_users.guest = true",
    "log.console = true",
    "log.console.level = warning",
    "log.file = false",
    ...(n.peers.length > 1
      ? ["cluster_formation.peer_discovery_backend = classic_config", ...n.peers.map((p, i) => `cluster_formation.classic_config.nodes.${i + 1} = ${p}`)]
      : []),
  ];
  return `${lines.join("\n")}\n`;
}
