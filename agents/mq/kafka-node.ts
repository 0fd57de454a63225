// A Kafka broker's entrypoint (the kafka image on the local data plane): waits for the instance's
// ConfigMap to name the cluster id and the controller quorum (the controller writes them once the
// quorum's pods have addresses), writes server.properties (0600: it holds the operator password),
// formats the data directory the first time, then runs the broker in the foreground on the machine's
// Java with the jars hack/ensure-kafka fetched. The container ends with the broker, which is stopped
// when the quorum's addresses change.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { MQ_KEYS } from "../../operators/api/messaging.ts";
import { KAFKA_JVM, KAFKA_LOG4J2, kafkaProperties } from "./config.ts";

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) { log(`${name} is not set`); process.exit(2); }
  return v;
};
function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), broker: process.env.POD_NAME, msg, ...extra }));
}

const host = env("POD_IP");
const nodeId = Number(env("KAFKA_NODE_ID"));
const roles = env("KAFKA_ROLES");
const dataDir = env("MQ_DATA");
const configDir = env("MQ_CONFIG");
const secretsDir = env("MQ_SECRETS");
const libs = env("CELLCLOUD_KAFKA_LIBS");
const home = process.env.HOME ?? dataDir;
const read = (dir: string, key: string) => { try { return readFileSync(path.join(dir, key), "utf8").trim(); } catch { return ""; } };

async function configured(): Promise<{ clusterId: string; voters: string; replication: number; defaultUser: string }> {
  for (let waited = 0; ; waited += 500) {
    const clusterId = read(configDir, MQ_KEYS.clusterId);
    const voters = read(configDir, MQ_KEYS.voters);
    const defaultUser = read(configDir, MQ_KEYS.defaultUser);
    if (clusterId && voters && defaultUser) return { clusterId, voters, replication: Math.min(3, voters.split(",").length), defaultUser };
    if (waited % 10_000 === 0) log("waiting for the controller to name the controller quorum");
    await new Promise((r) => setTimeout(r, 500));
  }
}

const { clusterId, voters, replication, defaultUser } = await configured();
const operatorPassword = read(secretsDir, MQ_KEYS.operatorPassword);
if (!operatorPassword) { log("the operator password is missing"); process.exit(2); }
mkdirSync(dataDir, { recursive: true });
const props = path.join(home, "server.properties");
writeFileSync(props, kafkaProperties({ nodeId, roles, host, voters, dataDir, operatorPassword, replication, defaultUser }), { mode: 0o600 });
const log4j = path.join(home, "log4j2.xml");
writeFileSync(log4j, KAFKA_LOG4J2);
const java = (main: string, args: string[]) => [...KAFKA_JVM, `-Dlog4j2.configurationFile=${log4j}`, "-cp", `${libs}/*`, main, ...args];

if (!existsSync(path.join(dataDir, "kafka-logs", "meta.properties"))) {
  log("formatting the data directory", { clusterId });
  const r = spawnSync("java", java("kafka.tools.StorageTool", ["format", `--cluster-id=${clusterId}`, `--config=${props}`, "--ignore-formatted"]), { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) { log("format failed", { out: `${r.stdout}${r.stderr}`.slice(-2000) }); process.exit(1); }
}

log("starting the broker", { nodeId, roles, host });
const child = spawn("java", java("kafka.Kafka", [props]), { stdio: "inherit", env: { ...process.env, KAFKA_OPTS: "" } });
for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => child.kill(sig));
// the quorum's addresses changed (its pods came back elsewhere): start again with the new ones
setInterval(() => {
  const now = read(configDir, MQ_KEYS.voters);
  if (now && now !== voters) { log("the controller quorum moved; restarting", { voters: now }); child.kill("SIGTERM"); }
}, 2_000).unref();
child.on("exit", (code, signal) => {
  log("the broker exited", { code, signal });
  process.exit(code ?? 1);
});
