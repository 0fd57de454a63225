// The CellCloud console server: `node console/server/main.ts --apiserver URL --apiserver-ca FILE`.
// It serves the built web app and forwards the signed-in user's calls to the apiserver.
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { newLogger } from "../../operators/runtime/log.ts";
import { ConsoleServer } from "./app.ts";

const IN_CLUSTER_CA = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";

const usage = `Usage: cellcloud-console [flags]

  --listen ADDR          where to serve the console over HTTP (default 127.0.0.1:8090); put TLS in front
                         (an Ingress) anywhere but loopback, and pass --secure-cookies
  --apiserver URL        the Kubernetes apiserver (default: in cluster, https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT)
  --apiserver-ca FILE    CA of its serving certificate (default ${IN_CLUSTER_CA})
  --static-dir DIR       the built web app (default: console/dist next to this file)
  --secure-cookies       mark the session cookie Secure (served over HTTPS)
  --session-ttl SECONDS  idle time before a session ends (default 28800)
  --max-sessions N       sessions kept at once, the least recently used go first (default 10000)
  --log-level LEVEL      trace|debug|info|warn|error (default info)
  --help

The console holds no credentials of its own: a user signs in with a bearer token or a kubeconfig
(token or embedded client certificate) and every call goes to the apiserver as that user.`;

const { values: flags } = parseArgs({
  options: {
    listen: { type: "string", default: "127.0.0.1:8090" },
    apiserver: { type: "string" },
    "apiserver-ca": { type: "string", default: IN_CLUSTER_CA },
    "static-dir": { type: "string" },
    "secure-cookies": { type: "boolean", default: false },
    "session-ttl": { type: "string", default: "28800" },
    "max-sessions": { type: "string", default: "10000" },
    "log-level": { type: "string" },
    help: { type: "boolean", default: false },
  },
});
if (flags.help) {
  console.log(usage);
  process.exit(0);
}
const log = newLogger(flags["log-level"] ?? process.env.LOG_LEVEL ?? "info", undefined, "cellcloud-console");
const env = process.env;
const apiserver = flags.apiserver ?? (env.KUBERNETES_SERVICE_HOST ? `https://${env.KUBERNETES_SERVICE_HOST.includes(":") ? `[${env.KUBERNETES_SERVICE_HOST}]` : env.KUBERNETES_SERVICE_HOST}:${env.KUBERNETES_SERVICE_PORT ?? "443"}` : undefined);
if (!apiserver) {
  console.error("--apiserver is required outside a cluster\n\n" + usage);
  process.exit(2);
}
const positive = (name: string, v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) {
    console.error(`--${name} must be a positive integer, not ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
};
const [host, port] = ((l: string) => { const i = l.lastIndexOf(":"); return [l.slice(0, i) || "0.0.0.0", l.slice(i + 1)] as const; })(flags.listen);
const here = dirname(fileURLToPath(import.meta.url));
const server = new ConsoleServer({
  apiserver,
  ca: readFileSync(flags["apiserver-ca"], "utf8"),
  staticDir: flags["static-dir"] ?? resolve(here, "../dist"),
  secureCookies: flags["secure-cookies"],
  sessionTtlMs: positive("session-ttl", flags["session-ttl"]) * 1000,
  maxSessions: positive("max-sessions", flags["max-sessions"]),
  log,
});
const http = createServer({ requestTimeout: 0, headersTimeout: 30_000, maxHeaderSize: 16 * 1024 }, server.handle);
http.on("upgrade", server.upgrade);
http.listen(positive("listen port", port), host.replace(/^\[|\]$/g, ""), () => log.info({ listen: flags.listen, apiserver }, "console serving"));
const stop = () => {
  log.info("console stopping");
  http.close();
  http.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
