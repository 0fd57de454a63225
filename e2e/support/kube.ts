// Test helpers over the real apiserver: clients from the harness's kubeconfig, a namespace per
// suite, and polling until an observable condition holds.
import { execFile, execFileSync } from "node:child_process";
import { promisify } from "node:util";
import { randomBytes } from "node:crypto";
import * as k8s from "@kubernetes/client-node";
import { ApiError } from "../../operators/runtime/kube.ts";
import { afterAll, beforeAll, inject } from "vitest";
import { binDir } from "./plane.ts";

/** The harness's cluster, or another plane's kubeconfig file (the disrupt plane). */
export function kubeConfig(path: string = inject("kubeconfig")): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** The pinned kubectl against the harness's cluster; `input` is its stdin (for `-f -`). */
export function kubectl(args: string[], input?: string): string {
  return execFileSync(`${binDir}/kubectl`, ["--kubeconfig", inject("kubeconfig"), ...args], {
    input, encoding: "utf8", stdio: ["pipe", "pipe", "pipe"],
  });
}

/** The same, without blocking the event loop: for suites whose manager runs in the test process. */
export async function kubectlAsync(args: string[]): Promise<string> {
  return (await promisify(execFile)(`${binDir}/kubectl`, ["--kubeconfig", inject("kubeconfig"), ...args], { encoding: "utf8" })).stdout;
}

/** The apiserver's refusal message for a create or update (either client's), or "accepted". */
export function refusal(p: Promise<unknown>): Promise<string> {
  return p.then(() => "accepted", (e: unknown) => (e instanceof ApiError ? e.message : e instanceof k8s.ApiException ? String(e.body) : String(e)));
}

export function clients(kc = kubeConfig()) {
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    coordination: kc.makeApiClient(k8s.CoordinationV1Api),
    version: kc.makeApiClient(k8s.VersionApi),
  };
}

/** Polls until `read` fails with 404 (the object is gone). */
export function eventuallyGone(read: () => Promise<unknown>, what: string, timeoutMs?: number): Promise<true> {
  return eventually(async () => {
    try {
      await read();
      return false;
    } catch (err) {
      return isNotFound(err);
    }
  }, { what, ...(timeoutMs ? { timeoutMs } : {}) });
}

/** True when the error is the apiserver's 404, from client-node or from the runtime's KubeClient. */
function isNotFound(err: unknown): boolean {
  return (err instanceof k8s.ApiException || err instanceof ApiError) && err.code === 404;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(3).toString("hex")}`;
}

/**
 * Creates a fresh namespace for the calling suite before its tests and deletes it after; waits for
 * its `default` ServiceAccount (made by kube-controller-manager) so pods can be created at once.
 */
export function useNamespace(prefix: string, kubeconfig?: () => string): { readonly name: string } {
  const ns = { name: uniqueName(prefix) };
  const kc = () => (kubeconfig ? kubeConfig(kubeconfig()) : kubeConfig());
  beforeAll(async () => {
    const { core } = clients(kc());
    await core.createNamespace({ body: { metadata: { name: ns.name, labels: { "cellcloud.io/test": "true" } } } });
    await eventually(() => core.readNamespacedServiceAccount({ name: "default", namespace: ns.name }), {
      what: `ServiceAccount default in ${ns.name}`,
    });
  });
  afterAll(async () => {
    await clients(kc()).core.deleteNamespace({ name: ns.name }).catch(() => undefined);
  });
  return ns;
}

export interface EventuallyOptions {
  timeoutMs?: number;
  intervalMs?: number;
  what?: string;
}

/**
 * Polls `probe` until it returns a value other than undefined/false without throwing, and returns
 * that value. On timeout the last error (or the description) explains what never happened.
 */
export async function eventually<T>(
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 60_000, intervalMs = 250, what = "condition" }: EventuallyOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const cause = last instanceof Error ? `: last error: ${last.message}` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
