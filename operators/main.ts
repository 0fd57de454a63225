// The CellCloud manager: one process runs every controller (or the subset --controllers names),
// with leader election, metrics and health endpoints, and a graceful SIGTERM.
//
// Start-up time bounds crash recovery and failover, so the flags are read before anything else loads
// (--help and a bad flag load nothing), then only what the selected controllers need: the products
// registry.ts picks, the webhook server only with --webhook-port. Everything loaded after the compile
// cache is enabled is compiled from V8's code cache on the next start.
import { enableCompileCache, flushCompileCache } from "node:module";
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { controllerNames, loadProducts, productsFor, unknownControllers } from "./registry.ts";
import type { WebhookServerOptions } from "./runtime/webhook.ts";

// $NODE_COMPILE_CACHE (the image's, filled when it was built) is already on when set; otherwise the
// cache lives with the project's other caches, not in a /tmp every user can write to.
enableCompileCache(join(process.env.CELLCLOUD_CACHE || join(homedir(), ".cache", "cellcloud"), "node-compile-cache"));

const usage = `Usage: cellcloud-manager [flags]

  --kubeconfig PATH                 kubeconfig (default: $KUBECONFIG, else in-cluster)
  --controllers a,b                 controllers to run (default: all = ${controllerNames.join(",")})
  --skip-controllers a,b            all but these (the chart skips the demo widget)
  --metrics-bind-address ADDR       /metrics listener, "0" disables (default 127.0.0.1:8080)
  --health-probe-bind-address ADDR  /healthz and /readyz listener (default 127.0.0.1:8081)
  --service-account NS/NAME          the manager's own ServiceAccount: tenant namespaces bind it to
                                    cellcloud-user-data-reader, so user data is checked before boot
  --webhook-port PORT               serve the admission webhooks (quota, approvals) over TLS on PORT
  --webhook-bind-address ADDR       address it listens on (default 0.0.0.0)
  --webhook-url URL                 how the apiserver reaches it, e.g. https://127.0.0.1:PORT (local control plane)
  --webhook-service NS/NAME[:PORT]  or through a Service (in cluster)
  --webhook-hosts a,b               DNS names and IPs of its certificate (default: the URL's host, or the Service's names)
  --webhook-client-ca FILE          accept only callers with a client certificate from this CA (the apiserver's admission kubeconfig)
  --webhook-owner-clusterrole NAME  the webhook configurations are owned by this ClusterRole (the chart's), so they go with it
  --webhook-namespace NS            where its certificate Secret lives; excluded from the webhook (default $POD_NAMESPACE, else kube-system)
  --webhook-cert-validity SECONDS   lifetime of its serving certificate, renewed with a third left (default 90 days)
  --webhook-cert-check SECONDS      how often the certificate is checked and re-read (default 3600)
  --concurrency N                   workers per controller (default 2)
  --quota-reservation SECONDS       how long an admitted quota reservation waits for its object (default 60, or $CELLCLOUD_QUOTA_RESERVATION_MS / 1000)
  --quota-recount SECONDS           how often each quota ledger is rebuilt from the objects that exist (default 180, or $CELLCLOUD_QUOTA_RECOUNT_MS / 1000)
  --billing-database-url-file PATH  a file holding the billing ledger's postgres:// URL (or $CELLCLOUD_BILLING_DATABASE_URL);
                                    without either, nothing is metered and Bills report LedgerNotConfigured
  --billing-lateness SECONDS        how long after an hour ends before it is rated (default 60)
  --billing-rate-every SECONDS      how often the rater looks for a due hour (default 15; open bills refresh every 4th time)
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
    "skip-controllers": { type: "string" },
    "metrics-bind-address": { type: "string", default: "127.0.0.1:8080" },
    "health-probe-bind-address": { type: "string", default: "127.0.0.1:8081" },
    "webhook-port": { type: "string" },
    "webhook-bind-address": { type: "string" },
    "webhook-url": { type: "string" },
    "webhook-service": { type: "string" },
    "webhook-hosts": { type: "string" },
    "webhook-client-ca": { type: "string" },
    "webhook-owner-clusterrole": { type: "string" },
    "service-account": { type: "string" },
    "webhook-namespace": { type: "string", default: process.env.POD_NAMESPACE ?? "kube-system" },
    "webhook-cert-validity": { type: "string" },
    "webhook-cert-check": { type: "string" },
    concurrency: { type: "string", default: "2" },
    "quota-reservation": { type: "string" },
    "quota-recount": { type: "string" },
    "billing-database-url-file": { type: "string" },
    "billing-lateness": { type: "string" },
    "billing-rate-every": { type: "string" },
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

const list = (f: string | undefined) => (f ?? "").split(",").map((s) => s.trim()).filter(Boolean);
const skipped = list(flags["skip-controllers"]);
const selected = (flags.controllers ? list(flags.controllers) : [...controllerNames]).filter((c) => !skipped.includes(c));
const unknown = unknownControllers(selected);
if (unknown.length) {
  console.error(`unknown controller(s): ${unknown.join(", ")}; known: ${controllerNames.join(", ")}`);
  process.exit(2);
}

const [{ KubeConfig }, { newLogger }, { Manager }, products] = await Promise.all([
  import("@kubernetes/client-node"), import("./runtime/log.ts"), import("./runtime/manager.ts"),
  loadProducts(productsFor(selected, { webhooks: Boolean(flags["webhook-port"]) })),
]);
const log = newLogger(flags["log-level"]);

// A bug that escapes a promise must not take the webhook (and with it every tenant write) down.
process.on("unhandledRejection", (err) => log.error({ err: err instanceof Error ? err.message : String(err) }, "unhandled promise rejection; still serving"));

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
const msOf = (flag: string | undefined, env: string | undefined) => (flag ? seconds(flag) : Number(env) || undefined);
const ctx = products.context({
  quotaReservationMs: msOf(flags["quota-reservation"], process.env.CELLCLOUD_QUOTA_RESERVATION_MS),
  quotaRecountMs: msOf(flags["quota-recount"], process.env.CELLCLOUD_QUOTA_RECOUNT_MS),
  ...(flags["service-account"] ? { serviceAccount: serviceAccountOf(flags["service-account"]) } : {}),
  billing: {
    databaseUrl: flags["billing-database-url-file"] ? readFileSync(flags["billing-database-url-file"], "utf8").trim() : process.env.CELLCLOUD_BILLING_DATABASE_URL || undefined,
    ...(flags["billing-lateness"] ? { latenessMs: seconds(flags["billing-lateness"]) } : {}),
    ...(flags["billing-rate-every"] ? { rateEveryMs: seconds(flags["billing-rate-every"]) } : {}),
  },
});

function serviceAccountOf(flag: string): { namespace: string; name: string } {
  const m = flag.match(/^([a-z0-9][a-z0-9-]{0,62})\/([a-z0-9][a-z0-9.-]{0,252})$/);
  if (!m) throw new Error("--service-account must be NAMESPACE/NAME");
  return { namespace: m[1]!, name: m[2]! };
}
products.setupControllers(mgr, ctx, selected);
if (flags["webhook-port"]) {
  const { WebhookServer } = await import("./runtime/webhook.ts");
  products.registerWebhooks(mgr, mgr.addAlways(new WebhookServer(mgr, webhookOptions())), ctx);
}

function webhookOptions(): WebhookServerOptions {
  const svc = flags["webhook-service"]?.match(/^([^/]+)\/([^:]+)(?::(\d+))?$/);
  if (flags["webhook-service"] && !svc) throw new Error("--webhook-service must be NAMESPACE/NAME[:PORT]");
  const service = svc ? { namespace: svc[1]!, name: svc[2]!, port: svc[3] ? Number(svc[3]) : undefined } : undefined;
  const url = flags["webhook-url"];
  if (!url && !service) throw new Error("--webhook-port needs --webhook-url or --webhook-service");
  const hosts = flags["webhook-hosts"]?.split(",").map((h) => h.trim()).filter(Boolean)
    ?? (service ? [`${service.name}.${service.namespace}.svc`, `${service.name}.${service.namespace}.svc.cluster.local`] : [new URL(url!).hostname.replace(/^\[|\]$/g, "")]);
  return {
    port: Number(flags["webhook-port"]), bindAddress: flags["webhook-bind-address"], url, service, hosts, namespace: flags["webhook-namespace"],
    ...(flags["webhook-cert-validity"] ? { certValidityMs: seconds(flags["webhook-cert-validity"]) } : {}),
    ...(flags["webhook-cert-check"] ? { checkEveryMs: seconds(flags["webhook-cert-check"]) } : {}),
    ...(flags["webhook-client-ca"] ? { clientCA: readFileSync(flags["webhook-client-ca"], "utf8") } : {}),
    ...(flags["webhook-owner-clusterrole"] ? { ownerClusterRole: flags["webhook-owner-clusterrole"] } : {}),
  };
}

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
// Node writes the compile cache at exit; a manager that is killed never exits, so write it now, with
// the caches synced (a no-op once the cache has every module).
flushCompileCache();
