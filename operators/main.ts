// The CellCloud manager: one process runs every controller (or the subset --controllers names),
// with leader election, metrics and health endpoints, and a graceful SIGTERM.
import { KubeConfig } from "@kubernetes/client-node";
import { parseArgs } from "node:util";
import { controllers } from "./controllers.ts";
import { newLogger } from "./runtime/log.ts";
import { Manager } from "./runtime/manager.ts";

const usage = `Usage: cellcloud-manager [flags]

  --kubeconfig PATH                 kubeconfig (default: $KUBECONFIG, else in-cluster)
  --controllers a,b                 controllers to run (default: all = ${Object.keys(controllers).join(",")})
  --metrics-bind-address ADDR       /metrics listener, "0" disables (default 127.0.0.1:8080)
  --health-probe-bind-address ADDR  /healthz and /readyz listener (default 127.0.0.1:8081)
  --webhook-port PORT               admission webhook port (reserved for the quota webhook)
  --concurrency N                   workers per controller (default 2)
  --leader-elect BOOL               run leader election (default true)
  --leader-election-namespace NS    namespace of the Lease (default $POD_NAMESPACE, else kube-system)
  --leader-election-id NAME         name of the Lease (default cellcloud-manager)
  --lease-duration SECONDS          (default 15)   --renew-deadline SECONDS (default 10)   --retry-period SECONDS (default 2)
  --log-level LEVEL                 trace|debug|info|warn|error (default info, or $LOG_LEVEL)
  --help`;

const { values: flags } = parseArgs({
  options: {
    kubeconfig: { type: "string" },
    controllers: { type: "string" },
    "metrics-bind-address": { type: "string", default: "127.0.0.1:8080" },
    "health-probe-bind-address": { type: "string", default: "127.0.0.1:8081" },
    "webhook-port": { type: "string" },
    concurrency: { type: "string", default: "2" },
    "leader-elect": { type: "string", default: "true" },
    "leader-election-namespace": { type: "string", default: process.env.POD_NAMESPACE ?? "kube-system" },
    "leader-election-id": { type: "string", default: "cellcloud-manager" },
    "lease-duration": { type: "string", default: "15" },
    "renew-deadline": { type: "string", default: "10" },
    "retry-period": { type: "string", default: "2" },
    "log-level": { type: "string", default: process.env.LOG_LEVEL ?? "info" },
    help: { type: "boolean", default: false },
  },
});

if (flags.help) {
  console.log(usage);
  process.exit(0);
}

const log = newLogger(flags["log-level"]);
const selected = flags.controllers ? flags.controllers.split(",").map((s) => s.trim()).filter(Boolean) : Object.keys(controllers);
const unknown = selected.filter((c) => !controllers[c]);
if (unknown.length) {
  console.error(`unknown controller(s): ${unknown.join(", ")}; known: ${Object.keys(controllers).join(", ")}`);
  process.exit(2);
}

const kc = new KubeConfig();
const kubeconfig = flags.kubeconfig ?? process.env.KUBECONFIG;
if (kubeconfig) kc.loadFromFile(kubeconfig);
else kc.loadFromCluster();

const seconds = (f: string | undefined) => Number(f) * 1000;
const mgr = new Manager({
  kubeConfig: kc,
  log,
  metricsAddress: flags["metrics-bind-address"],
  healthAddress: flags["health-probe-bind-address"],
  concurrency: Math.max(1, Number(flags.concurrency) || 1),
  leaderElection: flags["leader-elect"] === "false" ? false : {
    namespace: flags["leader-election-namespace"], name: flags["leader-election-id"],
    leaseDurationMs: seconds(flags["lease-duration"]), renewDeadlineMs: seconds(flags["renew-deadline"]),
    retryPeriodMs: seconds(flags["retry-period"]),
  },
  // controller-runtime exits when leadership is lost; a supervisor restarts the process as a standby.
  onLostLeadership: () => process.exit(1),
});
for (const name of selected) controllers[name]!(mgr);

let stopping = false;
for (const sig of ["SIGTERM", "SIGINT"] as const) {
  process.on(sig, () => {
    if (stopping) return;
    stopping = true;
    log.info({ signal: sig }, "stopping: draining in-flight reconciles and releasing the lease");
    void mgr.stop().then(() => process.exit(0));
  });
}

log.info({ controllers: selected, identity: mgr.identity }, "starting manager");
await mgr.start();
