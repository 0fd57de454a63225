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
