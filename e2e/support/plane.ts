// Where the test instance of the local control plane lives, and how to drive its hack/ scripts.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const testStateDir = process.env.CELLCLOUD_STATE ?? `${repoRoot}/.state/test`;

/** Environment for hack/ scripts acting on the test instance (or on `instance` with its own ports). */
export function hackEnv(instance = "test", extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, CELLCLOUD_INSTANCE: instance, ...extra };
  if (instance !== "test") delete env.CELLCLOUD_STATE;
  return env;
}

/** Runs hack/<script> for an instance and returns its stdout. */
export function hack(script: string, args: string[] = [], env = hackEnv()): string {
  return execFileSync(`${repoRoot}/hack/${script}`, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** The pinned kubectl/helm directory (~/.cache/cellcloud/<versions>/bin). */
export const binDir = execFileSync("bash", ["-c", "source hack/lib.sh && echo $BIN"], { cwd: repoRoot, encoding: "utf8" }).trim();

/**
 * The "disrupt" plane: suites that kill etcd or kube-apiserver run against this plane of their own,
 * so the shared test plane is never restarted under the other suites (client-go informers in
 * kube-controller-manager, kube-scheduler and kwok back off for up to a minute after an outage).
 * global-setup stops it at the end.
 */
export const disrupt = {
  env: () => hackEnv("disrupt", { CELLCLOUD_PORT_BASE: "16700" }),
  stateDir: `${repoRoot}/.state/disrupt`,
  kubeconfig: `${repoRoot}/.state/disrupt/kubeconfig`,
  up: () => hack("up", ["--plane-only", "--quiet"], disrupt.env()),
};

/** The pid hack/up recorded for a component of the instance whose state dir is given. */
export function pidOf(stateDir: string, component: string): number {
  return Number(readFileSync(`${stateDir}/pids/${component}.pid`, "utf8").trim());
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
