// What `node operators/main.ts` loads before its informers start (start-up time bounds crash recovery
// and failover): --help nothing but the flags, a partial manager only its controllers' products, and
// no manager the Kafka client (loaded at a kafka MQInstance's first call) or, without --webhook-port,
// the webhook server's certificate library. No cluster: the manager is stopped as it starts.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const main = fileURLToPath(new URL("main.ts", import.meta.url));
const dir = mkdtempSync(path.join(tmpdir(), "cellcloud-main-test-"));
const kubeconfig = path.join(dir, "kubeconfig");
writeFileSync(kubeconfig, JSON.stringify({
  apiVersion: "v1", kind: "Config", "current-context": "x",
  clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
  users: [{ name: "u", user: { token: "t" } }],
  contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
}));
// Records every module Node loads, as it loads it (the manager is killed, so nothing at exit).
const hook = `data:text/javascript,${encodeURIComponent(`
  import { registerHooks } from "node:module";
  import { appendFileSync } from "node:fs";
  registerHooks({ load(url, ctx, next) { appendFileSync(process.env.LOADED_TO, url + "\\n"); return next(url, ctx); } });
`)}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let runs = 0;
/** The modules `main.ts args` loaded: until it exits, or until it logs "starting manager" (then it is killed). */
async function loaded(...args: string[]): Promise<{ modules: string[]; products: string[]; output: string }> {
  const to = path.join(dir, `loaded-${runs++}`);
  writeFileSync(to, "");
  const child = spawn(process.execPath, ["--import", hook, main, `--kubeconfig=${kubeconfig}`, "--leader-elect=false", "--metrics-bind-address=0", "--health-probe-bind-address=127.0.0.1:0", ...args], {
    env: { ...process.env, LOADED_TO: to, LOG_LEVEL: "info" }, stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  await new Promise<void>((resolve) => {
    const on = (d: Buffer) => {
      output += d.toString();
      if (output.includes("starting manager")) child.kill("SIGKILL");
    };
    child.stdout.on("data", on);
    child.stderr.on("data", on);
    child.on("exit", () => resolve());
  });
  const modules = readFileSync(to, "utf8").split("\n").filter(Boolean);
  const products = [...new Set(modules.flatMap((m) => /\/operators\/(\w+)\/(product|widget-controller)\.ts$/.exec(m)?.[1] ?? []))];
  return { modules, products, output };
}
const has = (modules: string[], pkg: string) => modules.some((m) => m.includes(`/node_modules/${pkg}/`));

describe("what the manager loads at start", () => {
  it("--help: the flags and the list of controllers, no product and no package", async () => {
    const { modules, output } = await loaded("--help");
    expect(output).toContain("--controllers a,b");
    expect(modules.filter((m) => m.startsWith("file:")).map((m) => path.basename(m))).toEqual(["main.ts", "registry.ts"]);
  });

  it("an unknown controller: refused before anything loads", async () => {
    const { modules, output } = await loaded("--controllers=nope");
    expect(output).toContain("unknown controller(s): nope");
    expect(modules.some((m) => m.includes("/node_modules/"))).toBe(false);
  });

  it("--controllers=scheduler: the platform product alone", async () => {
    const { modules, products, output } = await loaded("--controllers=scheduler");
    expect(output).toContain("starting manager");
    expect(products).toEqual(["platform"]);
    expect(modules.some((m) => /\/operators\/(compute|storage|network|database|messaging|tenancy|billing|demo)\//.test(m))).toBe(false);
    expect(has(modules, "@platformatic/kafka") || has(modules, "@peculiar/x509") || has(modules, "pg")).toBe(false);
  });

  it("every controller: every product, without the Kafka client or the webhook server", async () => {
    const { modules, products, output } = await loaded();
    expect(output).toContain("starting manager");
    expect(products.sort()).toEqual(["billing", "compute", "database", "demo", "messaging", "network", "platform", "storage", "tenancy"]);
    expect(has(modules, "@platformatic/kafka")).toBe(false);
    expect(has(modules, "@peculiar/x509")).toBe(false);
  });
}, 60_000);
