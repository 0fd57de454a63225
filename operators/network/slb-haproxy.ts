// The SLB data plane's configuration (pure): one HAProxy configuration per LoadBalancer, as
// Octavia's amphora driver renders one per load balancer: a frontend per listener (TLS termination,
// the allowed CIDRs, the connection limit and timeouts) and a backend per listener for its pool
// (balance algorithm, weights, backups, health checks, persistence). Addresses and files the pod
// decides (its own IP, where the certificates are mounted) are environment variables HAProxy expands
// in double-quoted strings, so the same text runs in a real pod and under the local data plane.
// Also: the entrypoint that reloads HAProxy without dropping connections when its files change, and
// the parser of HAProxy's CSV statistics the controller reads member health from.
import { createHash } from "node:crypto";
import type { ListenerSpec, LoadBalancerSpec, OperatingStatus, PoolSpec } from "../api/network.ts";

/** Where the pod mounts its configuration, certificates and runtime files (env vars the pod sets). */
export const ENV = { podIP: "POD_IP", configDir: "SLB_CONFIG_DIR", certDir: "SLB_CERT_DIR", runDir: "SLB_RUN_DIR" } as const;
/** The statistics endpoint every replica serves on its own address (read-only). */
export const STATS_PORT = 8404;
export const STATS_PATH = "/stats;csv";
export const CONFIG_FILE = "haproxy.cfg";
export const ENTRYPOINT_FILE = "run.sh";

/** A member as the data plane gets it: its address once known. */
export interface ResolvedMember {
  /** <instance>:<port> or <address>:<port>: the HAProxy server name and the status key. */
  name: string;
  address?: string;
  port: number;
  weight: number;
  backup: boolean;
}

export const memberName = (m: { instance?: string; address?: string; port: number }): string => `${m.instance ?? m.address}:${m.port}`;
export const frontendName = (listener: string) => `fe-${listener}`;
export const backendName = (listener: string) => `be-${listener}`;
/** The file of a listener's i-th certificate (its key beside it, as <file>.key: HAProxy loads it). */
export const certFile = (listener: string, i: number) => `${listener}-${i}.pem`;

const env = (name: string) => `"\${${name}}"`;
const envPath = (dir: string, file: string) => `"\${${dir}}/${file}"`;

/** HAProxy's http-check expect for Octavia's expected codes: 200, 200,202 or 200-204. */
export function expectRule(codes: string): string {
  if (/^\d{3}$/.test(codes)) return `http-check expect status ${codes}`;
  const alternatives = codes.split(",").flatMap((part) => {
    const [from, to] = part.split("-").map(Number) as [number, number | undefined];
    if (to === undefined) return [String(from)];
    const out: string[] = [];
    for (let c = from; c <= to; c++) out.push(String(c));
    return out;
  });
  return `http-check expect rstatus ^(${[...new Set(alternatives)].join("|")})$`;
}

const mode = (l: ListenerSpec) => (l.protocol === "HTTP" || l.protocol === "HTTPS" ? "http" : "tcp");
const balance = { WRR: "roundrobin", WLC: "leastconn", SourceIP: "source" } as const;

function frontend(l: ListenerSpec): string[] {
  const tls = l.protocol === "HTTPS" ? ` ssl ${(l.certificateRefs ?? []).map((_, i) => `crt ${envPath(ENV.certDir, certFile(l.name, i))}`).join(" ")}` : "";
  const lines = [
    `frontend ${frontendName(l.name)}`,
    `  mode ${mode(l)}`,
    `  bind ${env(ENV.podIP)}:${l.port}${tls}`,
    `  timeout client ${l.timeouts.clientDataMs}`,
  ];
  if (l.connectionLimit) lines.push(`  maxconn ${l.connectionLimit}`);
  if (l.allowedCIDRs?.length) lines.push(`  tcp-request connection reject unless { src ${l.allowedCIDRs.join(" ")} }`);
  if (mode(l) === "http") {
    lines.push("  option forwardfor");
    if (l.protocol === "HTTPS") lines.push("  http-request set-header X-Forwarded-Proto https");
  }
  lines.push(`  default_backend ${backendName(l.name)}`);
  return lines;
}

function backend(l: ListenerSpec, p: PoolSpec, members: readonly ResolvedMember[]): string[] {
  const lines = [`backend ${backendName(l.name)}`, `  mode ${mode(l)}`, `  balance ${balance[p.algorithm]}`,
    `  timeout connect ${l.timeouts.memberConnectMs}`, `  timeout server ${l.timeouts.memberDataMs}`];
  const sp = p.sessionPersistence;
  const http = mode(l) === "http";
  if (sp?.type === "SourceIP") {
    lines.push(`  stick-table type ip size 100k expire ${sp.timeoutSeconds}s`, "  stick on src");
  } else if (sp?.type === "HTTPCookie" && http) {
    lines.push(`  cookie ${sp.cookieName ?? "SRV"} insert indirect nocache`);
  } else if (sp?.type === "AppCookie" && http && sp.cookieName) {
    lines.push(`  stick-table type string len 64 size 100k expire ${sp.timeoutSeconds}s`,
      `  stick store-response res.cook(${sp.cookieName})`, `  stick match req.cook(${sp.cookieName})`);
  }
  const hc = p.healthCheck;
  let check = "";
  if (hc && hc.type !== "UDP-CONNECT") {
    lines.push(`  timeout check ${hc.timeoutSeconds}s`);
    if (hc.type === "HTTP" || hc.type === "HTTPS") {
      lines.push("  option httpchk", `  http-check send meth GET uri ${hc.httpPath} ver HTTP/1.1 hdr Host cellcloud-slb`, `  ${expectRule(hc.expectedCodes)}`);
    }
    check = ` check inter ${hc.intervalSeconds}s fall ${hc.unhealthyThreshold} rise ${hc.healthyThreshold}${hc.type === "HTTPS" ? " check-ssl verify none" : ""}`;
  }
  for (const m of members) {
    if (!m.address) continue; // an instance without an address yet: nothing to send to
    const cookie = sp?.type === "HTTPCookie" && http ? ` cookie ${m.name.replace(/[^A-Za-z0-9]/g, "-")}` : "";
    lines.push(`  server ${m.name} ${m.address}:${m.port} weight ${m.weight}${m.backup ? " backup" : ""}${check}${cookie}`);
  }
  return lines;
}

/** The digest a configuration's marker backend is named by (config-<digest>), so statistics show which one runs. */
export const configDigest = (body: string) => createHash("sha256").update(body).digest("hex").slice(0, 16);
const MARKER = /^config-([0-9a-f]{16})$/;

/**
 * The whole configuration, ending in an empty backend named by the digest of what precedes it: a
 * replica's statistics then say which configuration it runs. UDP listeners are left to the Service
 * (HAProxy proxies TCP only).
 */
export function renderConfig(spec: Pick<LoadBalancerSpec, "listeners" | "pools">, members: (pool: string) => readonly ResolvedMember[]): string {
  const sections: string[][] = [
    [
      "# Rendered by CellCloud's LoadBalancer controller; edits are overwritten.",
      "global",
      "  log stdout format raw local0 notice",
      "  maxconn 4096",
      `  stats socket ${envPath(ENV.runDir, "admin.sock")} mode 600 level admin expose-fd listeners`,
      "  ssl-load-extra-files key",
      "  hard-stop-after 60s",
    ],
    // a connection a dead member refuses is retried on another (before the checks have caught up)
    ["defaults", "  log global", "  option dontlognull", "  retries 3", "  option redispatch 1", "  timeout connect 5s", "  timeout client 50s", "  timeout server 50s"],
    ["frontend stats", "  mode http", `  bind ${env(ENV.podIP)}:${STATS_PORT}`, "  stats enable", "  stats uri /stats", "  stats refresh 0", "  no log"],
  ];
  for (const l of spec.listeners) {
    if (l.protocol === "UDP") continue;
    const p = spec.pools.find((x) => x.name === l.defaultPool);
    if (!p) continue;
    sections.push(frontend(l), backend(l, p, members(p.name)));
  }
  const body = sections.map((s) => s.join("\n")).join("\n\n") + "\n";
  return `${body}\n# which configuration runs, as the statistics show it\nbackend config-${configDigest(body)}\n`;
}

/** The digest of a rendered configuration (from its marker). */
export const digestOf = (config: string): string | undefined => /\nbackend config-([0-9a-f]{16})\n$/.exec(config)?.[1];

/**
 * The container's entrypoint: HAProxy in master-worker mode, reloaded (SIGUSR2: new workers take over
 * the listening sockets, old ones finish their connections) when the mounted configuration or
 * certificates change, as the kubelet refreshes them; SIGTERM stops it softly (SIGUSR1).
 */
export const ENTRYPOINT = `#!/bin/sh
# CellCloud SLB data plane: HAProxy, reloaded without dropping connections when its files change.
set -u
cfg="$${ENV.configDir}/${CONFIG_FILE}"
sum() { cat "$cfg" "$${ENV.certDir}"/* 2>/dev/null | cksum; }
haproxy -W -db -f "$cfg" &
pid=$!
trap 'kill -USR1 "$pid" 2>/dev/null; wait "$pid"; exit 0' TERM INT
last=$(sum)
while kill -0 "$pid" 2>/dev/null; do
  sleep 1 & wait $!
  now=$(sum)
  if [ "$now" != "$last" ]; then
    if haproxy -c -q -f "$cfg"; then last=$now; kill -USR2 "$pid"; else echo "configuration invalid, still serving the previous one" >&2; last=$now; fi
  fi
done
wait "$pid"
`;

/** One server's line of HAProxy's CSV statistics. */
export interface ServerState {
  backend: string;
  server: string;
  /** UP, DOWN, MAINT, DRAIN, NOLB, "no check", with a "n/m" suffix while changing. */
  status: string;
  weight: number;
}

/** What a replica's statistics say: the configuration it runs, and each server's state. */
export interface ReplicaStats {
  digest?: string;
  servers: ServerState[];
}

/** The statistics CSV of `/stats;csv` (its header names the columns). */
export function parseStats(csv: string): ReplicaStats {
  const lines = csv.split("\n").filter((l) => l.length);
  const header = lines[0]?.replace(/^# /, "").split(",") ?? [];
  const col = (name: string) => header.indexOf(name);
  const [px, sv, st, wt] = [col("pxname"), col("svname"), col("status"), col("weight")];
  if (px < 0 || sv < 0 || st < 0) return { servers: [] };
  let digest: string | undefined;
  const servers = lines.slice(1).flatMap((l) => {
    const f = l.split(",");
    const server = f[sv] ?? "";
    const m = MARKER.exec(f[px] ?? "");
    if (m) digest = m[1];
    if (server === "FRONTEND" || server === "BACKEND") return [];
    return [{ backend: f[px] ?? "", server, status: f[st] ?? "", weight: Number(f[wt] ?? 0) }];
  });
  return { ...(digest ? { digest } : {}), servers };
}

const RANK: Record<OperatingStatus, number> = { ONLINE: 0, NO_MONITOR: 0, DRAINING: 1, DEGRADED: 2, OFFLINE: 3, ERROR: 4 };
/** The worse of two statuses. */
export const worse = (a: OperatingStatus, b: OperatingStatus): OperatingStatus => (RANK[b] > RANK[a] ? b : a);

/**
 * A member's status from what the data plane replicas report (the worst of them): ERROR while a
 * check fails, DRAINING at weight 0, NO_MONITOR when unchecked, OFFLINE with no address or no report.
 */
export function memberStatus(m: ResolvedMember, checked: boolean, reports: ReadonlyArray<ServerState | undefined>): OperatingStatus {
  if (!m.address) return "OFFLINE";
  const seen = reports.filter((r): r is ServerState => r !== undefined);
  if (!seen.length) return "OFFLINE";
  const each = seen.map((r): OperatingStatus => {
    const st = r.status.split(" ")[0];
    return st === "DOWN" ? "ERROR" : st === "MAINT" ? "OFFLINE" : m.weight === 0 || st === "DRAIN" ? "DRAINING" : checked ? "ONLINE" : "NO_MONITOR";
  });
  return each.reduce(worse);
}

/** A pool's status from its members': ERROR when none can take traffic, DEGRADED when some cannot. */
export function poolStatus(members: readonly OperatingStatus[]): OperatingStatus {
  const usable = members.filter((s) => s === "ONLINE" || s === "NO_MONITOR" || s === "DRAINING").length;
  if (!members.length || usable === 0) return "ERROR";
  return usable < members.length ? "DEGRADED" : "ONLINE";
}
