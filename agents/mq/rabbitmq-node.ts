// A RabbitMQ node's entrypoint (the rabbitmq image on the local data plane): writes rabbitmq.conf
// (0600: it holds the operator user's password), the Erlang cookie and the enabled plugins into the
// pod's own directory, then runs Debian's rabbitmq-server in the foreground (it execs the Erlang VM,
// which stops cleanly on SIGTERM). Nodes are named <cluster>-<index>@localhost and find each other
// through epmd on 127.0.0.1 (classic peer discovery); AMQP and the management API listen on the pod's
// own address only, the Erlang distribution on 127.0.0.1 at a port derived from that address.
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { MQ_KEYS } from "../../operators/api/messaging.ts";
import { distPort, rabbitConf, rabbitNodeName } from "./config.ts";

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), broker: process.env.POD_NAME, msg, ...extra }));
}
const env = (name: string): string => {
  const v = process.env[name];
  if (!v) { log(`${name} is not set`); process.exit(2); }
  return v;
};
const read = (dir: string, key: string) => { try { return readFileSync(path.join(dir, key), "utf8").trim(); } catch { return ""; } };

const host = env("POD_IP");
const index = Number(env("RABBIT_NODE_INDEX"));
const cluster = env("RABBIT_CLUSTER");
const nodes = Number(env("RABBIT_NODES"));
const dataDir = env("MQ_DATA");
const secretsDir = env("MQ_SECRETS");
const home = process.env.HOME ?? dataDir;
const operatorPassword = read(secretsDir, MQ_KEYS.operatorPassword);
const cookie = read(secretsDir, MQ_KEYS.cookie);
if (!operatorPassword || !cookie) { log("the operator password or Erlang cookie is missing"); process.exit(2); }

mkdirSync(path.join(dataDir, "mnesia"), { recursive: true });
mkdirSync(path.join(home, "log"), { recursive: true });
const cookieFile = path.join(home, ".erlang.cookie");
try { writeFileSync(cookieFile, cookie, { mode: 0o400 }); } catch { /* written before: read-only now, and the same */ }
writeFileSync(path.join(home, "rabbitmq.conf"), rabbitConf({
  host, operatorPassword, peers: Array.from({ length: nodes }, (_, i) => rabbitNodeName(cluster, i)),
}), { mode: 0o600 });
writeFileSync(path.join(home, "enabled_plugins"), "[rabbitmq_management].\n");
writeFileSync(path.join(home, "advanced.config"), "[].\n");

const node = rabbitNodeName(cluster, index);
log("starting the node", { node, host });
const child = spawn("/usr/lib/rabbitmq/bin/rabbitmq-server", [], {
  stdio: "inherit",
  env: {
    PATH: process.env.PATH, HOME: home, CELLCLOUD_DATAPLANE: process.env.CELLCLOUD_DATAPLANE ?? "",
    // rabbitmq-server execs the Erlang VM instead of supervising it
    detached: "1",
    RABBITMQ_CONF_ENV_FILE: "/dev/null",
    RABBITMQ_NODENAME: node,
    RABBITMQ_CONFIG_FILE: path.join(home, "rabbitmq"),
    RABBITMQ_ADVANCED_CONFIG_FILE: path.join(home, "advanced.config"),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(home, "enabled_plugins"),
    RABBITMQ_MNESIA_BASE: path.join(dataDir, "mnesia"),
    RABBITMQ_LOG_BASE: path.join(home, "log"),
    RABBITMQ_DIST_PORT: String(distPort(host)),
    ERL_EPMD_ADDRESS: "127.0.0.1",
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: "-kernel inet_dist_use_interface {127,0,0,1}",
  },
});
for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => child.kill("SIGTERM"));
child.on("exit", (code, signal) => {
  log("the node exited", { code, signal });
  process.exit(code ?? 1);
});
