// The MQ broker entrypoints' configuration files.
import { describe, expect, it } from "vitest";
import { rabbitNodeIndex } from "../../operators/api/messaging.ts";
import { distPort, kafkaProperties, rabbitConf, rabbitNodeName } from "./config.ts";

describe("broker configuration", () => {
  it("Kafka: SCRAM for clients, PLAIN with the operator for brokers and controllers, passwords quoted", () => {
    const p = kafkaProperties({ nodeId: 3, roles: "broker", host: "127.0.0.9", voters: "0@127.0.0.1:9093", dataDir: "/d", operatorPassword: "a\"b", replication: 3, defaultUser: "admin" });
    expect(p).toContain("listener.name.client.sasl.enabled.mechanisms=SCRAM-SHA-512");
    expect(p).toContain("super.users=User:cellcloud;User:admin");
    expect(p).toContain('password="a\\"b"');
    expect(p).not.toContain("CONTROLLER://127.0.0.9");
    expect(p).toContain("min.insync.replicas=2");
  });
  it("RabbitMQ: the pod's address only, the operator as default user, peers by name", () => {
    const c = rabbitConf({ host: "127.0.0.9", operatorPassword: "pw", peers: [rabbitNodeName("c", 0), rabbitNodeName("c", 1)] });
    expect(c).toContain("listeners.tcp.1 = 127.0.0.9:5672");
    expect(c).toContain("cluster_formation.classic_config.nodes.2 = rabbit-c-1@localhost");
    // the controller reads the index back from the name the broker gives itself
    expect(rabbitNodeIndex(rabbitNodeName("0a1b-2c", 2))).toBe(2);
    expect(rabbitNodeIndex("rabbit@somewhere")).toBeUndefined();
    expect(distPort("127.185.0.9")).not.toBe(distPort("127.195.0.9"));
  });
});
