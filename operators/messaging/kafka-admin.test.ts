// The library's second "error" of a connection whose peer dies while it authenticates: heard, so it
// fails the request instead of ending the process. The peer is a TCP server that resets the
// connection on its first bytes (a broker killed mid-handshake), not a fake of Kafka.
import { once } from "node:events";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { kafkaLib } from "./kafka-admin.ts";

describe("Kafka connections", () => {
  it("a broker that dies while a client authenticates fails the request and does not end the process", async () => {
    const { Producer, stringSerializers } = kafkaLib(); // loading it hears every connection's errors
    const server = createServer((s) => s.once("data", () => s.resetAndDestroy()));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as { port: number };
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on("uncaughtException", onUncaught);
    const p = new Producer({
      clientId: "t", bootstrapBrokers: [`127.0.0.1:${port}`], sasl: { mechanism: "SCRAM-SHA-512", username: "u", password: "p" },
      serializers: stringSerializers, retries: 1, retryDelay: 50, timeout: 2_000,
    });
    try {
      await expect(p.send({ messages: [{ topic: "t", value: "v" }] })).rejects.toThrow();
      await new Promise((r) => setTimeout(r, 200));
      expect(uncaught.map(String)).toEqual([]);
    } finally {
      process.off("uncaughtException", onUncaught);
      await p.close().catch(() => {});
      server.close();
    }
  });
});
