// The console for e2e suites: its web app built, its server run as a process against the plane,
// and Debian's Chromium driven by playwright-core.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { chromium, type Browser, type Page } from "playwright-core";
import { eventually } from "./kube.ts";
import { repoRoot } from "./plane.ts";
import { freePorts } from "./tenancy.ts";

export const CHROMIUM = "/usr/bin/chromium";
export const chromiumMissing = existsSync(CHROMIUM) ? "" : `console browser tests skipped: ${CHROMIUM} is missing (hack/ensure-packages installs Debian's chromium)`;
export const SCREENSHOTS = join(repoRoot, ".state", "screenshots", "console");

export interface ConsoleProcess { url: string; proc: ChildProcess; log: () => string; stop(): Promise<void> }

/** Builds the web app if stale and starts the console server on a free port, for the kubeconfig's apiserver. */
export async function startConsole(kc: KubeConfig): Promise<ConsoleProcess> {
  execFileSync(join(repoRoot, "hack/console-build"), { stdio: ["ignore", "ignore", "inherit"] });
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no cluster");
  const caFile = join(tmpdir(), `console-ca-${process.pid}.crt`);
  writeFileSync(caFile, cluster.caData ? Buffer.from(cluster.caData, "base64") : readFileSync(cluster.caFile ?? "/dev/null"));
  const [port] = await freePorts(1);
  let out = "";
  const proc = spawn(process.execPath, [join(repoRoot, "console/server/main.ts"), `--listen=127.0.0.1:${port}`, `--apiserver=${cluster.server}`, `--apiserver-ca=${caFile}`], { stdio: ["ignore", "pipe", "pipe"] });
  proc.stdout?.on("data", (d: Buffer) => { out += d.toString(); });
  proc.stderr?.on("data", (d: Buffer) => { out += d.toString(); });
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => (await fetch(`${url}/healthz`)).ok, { what: `console server on ${url}: ${out}`, timeoutMs: 30_000 });
  return {
    url, proc, log: () => out,
    async stop() {
      if (proc.exitCode !== null) return;
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      await exited;
    },
  };
}

/** Headless Debian Chromium, with the flags this closed network needs (no background calls home). */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"],
  });
}

/** A new browser context (its own cookies), signed in to the console with a token. */
export async function signIn(browser: Browser, url: string, token: string, namespaces: string[]): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1366, height: 860 } });
  const page = await context.newPage();
  await page.goto(url);
  await page.getByLabel("Bearer token").fill(token);
  await page.getByRole("textbox", { name: "Namespaces" }).fill(namespaces.join(","));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("button", { name: "Sign out" }).waitFor();
  return page;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
