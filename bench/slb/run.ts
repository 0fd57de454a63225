// bench/slb: what the SLB data plane costs, against the same load sent straight to one backend
// (BENCH.md "The ceilings": data planes). In one run, on loopback only:
//   - the backend: a small Node HTTP server (its own process) answering "ok";
//   - the data plane: Debian's haproxy with the configuration the LoadBalancer controller renders
//     (renderConfig: an HTTP listener, one WRR pool holding that backend, HTTP health checks),
//     started as the local data plane starts it (POD_IP and the mount directories in its env);
//   - the load: closed-loop clients in a third process, BENCH_CONNECTIONS at a time, for
//     BENCH_SECONDS per round, rounds alternating direct / through the data plane (BENCH_ROUNDS
//     each), in two modes: keep-alive connections, and a new connection per request.
// Reports requests/s and p50/p99 latency per target (the median round) and the ratios.
//   node bench/slb/run.ts        (make bench-slb)
// Environment: BENCH_SECONDS (5), BENCH_CONNECTIONS (16), BENCH_ROUNDS (3).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { renderConfig } from "../../operators/network/slb-haproxy.ts";
import { machine } from "../scheduler/proc.ts";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const env = process.env;
const seconds = Number(env.BENCH_SECONDS ?? 5);
const connections = Number(env.BENCH_CONNECTIONS ?? 16);
const rounds = Number(env.BENCH_ROUNDS ?? 3);
const BACKEND = { ip: "127.0.0.91", port: 18091 };
const PROXY = { ip: "127.0.0.90", port: 18090 };
const log = (msg: string) => console.error(`bench: ${msg}`);

// The backend and the load generator are tiny programs of their own (node -e), so neither shares a
// thread with the other or with this runner.
const BACKEND_JS = `require("node:http").createServer((q, s) => s.writeHead(200, {"content-type": "text/plain", "content-length": 2}).end("ok")).listen(${BACKEND.port}, "${BACKEND.ip}", () => console.log("ready"));`;
const LOAD_JS = `
const http = require("node:http");
const [url, secs, conns, keep] = process.argv.slice(1);
const agent = keep === "1" ? new http.Agent({ keepAlive: true, maxSockets: Number(conns) }) : false;
const lat = []; let errors = 0; const end = Date.now() + Number(secs) * 1000;
const one = () => new Promise((done) => {
  const t0 = performance.now();
  const req = http.get(url, { agent }, (res) => { res.resume(); res.on("end", () => { lat.push(performance.now() - t0); done(); }); });
  req.on("error", () => { errors++; done(); });
});
(async () => {
  const t0 = Date.now();
  await Promise.all(Array.from({ length: Number(conns) }, async () => { while (Date.now() < end) await one(); }));
  const ms = Date.now() - t0; lat.sort((a, b) => a - b);
  const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? 0;
  console.log(JSON.stringify({ rps: lat.length / (ms / 1000), p50: q(0.5), p99: q(0.99), errors, requests: lat.length }));
  process.exit(0);
})();`;

interface Round { rps: number; p50: number; p99: number; errors: number; requests: number }

function waitForLine(child: ChildProcess, what: string): Promise<void> {
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`${what} did not start`)), 10_000);
    child.stdout?.on("data", (d: Buffer) => { if (d.toString().includes("ready")) { clearTimeout(t); res(); } });
    child.on("exit", (code) => rej(new Error(`${what} exited (${code})`)));
  });
}

async function waitForPort(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(url)).ok) return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} never answered`);
}

function loadRound(url: string, keepAlive: boolean): Round {
  const out = spawnSync(process.execPath, ["-e", LOAD_JS, url, String(seconds), String(connections), keepAlive ? "1" : "0"], { encoding: "utf8" });
  if (out.status !== 0) throw new Error(`load generator failed: ${out.stderr}`);
  return JSON.parse(out.stdout.trim().split("\n").pop()!) as Round;
}

const median = (xs: readonly Round[]): Round => [...xs].sort((a, b) => a.rps - b.rps)[Math.floor(xs.length / 2)]!;
const fmt = (n: number, d = 1) => n.toFixed(d);

async function main(): Promise<void> {
  if (spawnSync("haproxy", ["-v"]).status !== 0) spawnSync(`${repo}/hack/ensure-packages`, { stdio: "inherit" });
  const dir = mkdtempSync(join(tmpdir(), "cellcloud-bench-slb-"));
  const [cfgDir, certDir, runDir] = ["config", "certs", "run"].map((d) => { mkdirSync(join(dir, d)); return join(dir, d); }) as [string, string, string];
  const timeouts = { clientDataMs: 50_000, memberConnectMs: 5_000, memberDataMs: 50_000 };
  writeFileSync(join(cfgDir, "haproxy.cfg"), renderConfig({
    listeners: [{ name: "http", protocol: "HTTP", port: PROXY.port, defaultPool: "web", timeouts }],
    pools: [{ name: "web", protocol: "HTTP", algorithm: "WRR", members: [],
      healthCheck: { type: "HTTP", intervalSeconds: 5, timeoutSeconds: 2, healthyThreshold: 2, unhealthyThreshold: 3, httpPath: "/", expectedCodes: "200" } }],
  }, () => [{ name: `${BACKEND.ip}:${BACKEND.port}`, address: BACKEND.ip, port: BACKEND.port, weight: 1, backup: false }]));
  const children: ChildProcess[] = [];
  try {
    const backend = spawn(process.execPath, ["-e", BACKEND_JS], { stdio: ["ignore", "pipe", "inherit"] });
    children.push(backend);
    await waitForLine(backend, "backend");
    const haproxy = spawn("haproxy", ["-db", "-f", join(cfgDir, "haproxy.cfg")], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...env, POD_IP: PROXY.ip, SLB_CONFIG_DIR: cfgDir, SLB_CERT_DIR: certDir, SLB_RUN_DIR: runDir },
    });
    children.push(haproxy);
    await waitForPort(`http://${PROXY.ip}:${PROXY.port}/`);
    const direct = `http://${BACKEND.ip}:${BACKEND.port}/`;
    const through = `http://${PROXY.ip}:${PROXY.port}/`;
    log(`${connections} connections, ${seconds} s per round, ${rounds} rounds per target, alternating`);
    loadRound(direct, true); // warm up both paths once
    loadRound(through, true);
    const results: Record<string, { direct: Round; slb: Round }> = {};
    for (const [mode, keep] of [["keep-alive", true], ["new connection per request", false]] as const) {
      const d: Round[] = [], s: Round[] = [];
      for (let i = 0; i < rounds; i++) {
        // alternate which goes first, so drift in the machine's load falls on both
        if (i % 2 === 0) { d.push(loadRound(direct, keep)); s.push(loadRound(through, keep)); }
        else { s.push(loadRound(through, keep)); d.push(loadRound(direct, keep)); }
        log(`${mode} round ${i + 1}: direct ${fmt(d.at(-1)!.rps, 0)} req/s, through the data plane ${fmt(s.at(-1)!.rps, 0)} req/s`);
      }
      results[mode] = { direct: median(d), slb: median(s) };
    }
    const m = machine();
    console.log(`\nSLB data plane vs straight to one backend (loopback; ${m.cpus} cpus, ${m.model}, load ${m.load})`);
    console.log(`${connections} closed-loop connections, ${seconds} s rounds, median of ${rounds}; HAProxy 2.6 with the controller's rendered config\n`);
    console.log("| mode | direct req/s | SLB req/s | ratio | direct p50 / p99 ms | SLB p50 / p99 ms | p99 ratio | errors |");
    console.log("|---|---|---|---|---|---|---|---|");
    for (const [mode, r] of Object.entries(results)) {
      console.log(`| ${mode} | ${fmt(r.direct.rps, 0)} | ${fmt(r.slb.rps, 0)} | ${fmt(r.slb.rps / r.direct.rps, 2)}x | ${fmt(r.direct.p50, 2)} / ${fmt(r.direct.p99, 2)} | ${fmt(r.slb.p50, 2)} / ${fmt(r.slb.p99, 2)} | ${fmt(r.slb.p99 / r.direct.p99, 2)}x | ${r.direct.errors + r.slb.errors} |`);
    }
    mkdirSync(`${repo}/.state/bench`, { recursive: true });
    writeFileSync(`${repo}/.state/bench/slb-latest.json`, JSON.stringify({ seconds, connections, rounds, machine: m, results }, null, 2));
  } finally {
    for (const c of children) c.kill("SIGTERM");
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => { console.error(e); process.exit(1); });
