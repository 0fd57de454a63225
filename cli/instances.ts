// The instance verbs: each writes one spec field of an Instance with a JSON merge patch (never a
// read-modify-write of the object) and, with --wait, polls status until the controller got there.
import { FIELD_MANAGER, InstanceRef, type InstanceObj, type PowerState } from "./api.ts";
import { ApiError, CliError, type Client } from "./kube.ts";

/** How an object is named in messages: "instance acme-prod/web-1". */
export const instanceId = (namespace: string, name: string) => `instance ${namespace}/${name}`;

/** The apiserver's message as is, after the object and (unless the message names it already) the field written. */
export function failure(what: string, field: string, e: unknown): CliError {
  if (!(e instanceof ApiError)) return e instanceof CliError ? new CliError(e.reason, `${what}: ${e.message}`) : new CliError("Failed", `${what}: ${String(e)}`);
  const named = e.code === 404 || e.message.includes(field);
  return new ApiError(e.code, e.reason, `${what}: ${named ? "" : `${field}: `}${e.message}`);
}

/**
 * The value of a request field (restartRequestedAt, migration.requestedAt): RFC 3339 to the
 * millisecond. Each new value acts once, so two requests within a second (kubectl rollout restart
 * writes seconds) must still differ: the second would otherwise be taken as done already.
 */
export const requestTime = (d: Date) => d.toISOString();

export async function patchInstance(client: Client, namespace: string, name: string, field: string, spec: Record<string, unknown>): Promise<InstanceObj> {
  try {
    return await client.patch<InstanceObj>(InstanceRef, name, namespace, { spec }, FIELD_MANAGER);
  } catch (e) {
    throw failure(instanceId(namespace, name), field, e);
  }
}

/** Done (true), not yet (false), or failed for good (why). */
export type Verdict = true | false | string;
export type Settled = (i: InstanceObj) => Verdict;

const condition = (i: InstanceObj, type: string) => i.status?.conditions?.find((c) => c.type === type);
const current = (i: InstanceObj) => (i.status?.observedGeneration ?? 0) >= (i.metadata.generation ?? 0);

/** A terminal error the controller reported for this generation: waiting longer will not help. */
function stalled(i: InstanceObj): string | undefined {
  const s = condition(i, "Stalled");
  return current(i) && s?.status === "True" ? `${s.reason ?? "Stalled"}: ${s.message ?? ""}` : undefined;
}

export const settledIn = (state: PowerState): Settled => (i) => stalled(i) ?? (current(i) && i.status?.powerState === state);

/** Rebooted: running on a launcher other than the one it had when the reboot was asked for. */
export const rebooted = (before: InstanceObj): Settled => (i) =>
  stalled(i) ?? (current(i) && i.status?.powerState === "Running" && !!i.status.launcherPod && i.status.launcherPod !== before.status?.launcherPod);

export const migrated = (requestedAt: string): Settled => (i) => {
  const m = i.status?.migration;
  if (m?.requestedAt !== requestedAt) return stalled(i) ?? false;
  if (m.state === "Failed") return `migration failed: ${m.message ?? "no reason given"}`;
  return m.state === "Succeeded" && current(i) && i.status?.powerState === "Running";
};

/** Resized: Ready for the new generation; Ready=False with ResizeRequiresStop will not change by itself. */
export const resized: Settled = (i) => {
  const ready = condition(i, "Ready");
  if (current(i) && ready?.status === "False" && ready.reason === "ResizeRequiresStop") return `${ready.reason}: ${ready.message ?? ""}`;
  return stalled(i) ?? (current(i) && ready?.status === "True");
};

/** Where the instance is, for a timeout message. */
function describe(i: InstanceObj): string {
  const ready = condition(i, "Ready");
  return `status.powerState ${i.status?.powerState ?? "(none)"}${ready ? `, Ready=${ready.status}${ready.reason ? ` ${ready.reason}` : ""}${ready.message ? `: ${ready.message}` : ""}` : ""}`;
}

export async function waitFor(client: Client, namespace: string, name: string, what: string, done: Settled, timeoutMs: number, pollMs = 500): Promise<InstanceObj> {
  const deadline = Date.now() + timeoutMs;
  const id = instanceId(namespace, name);
  for (;;) {
    let i: InstanceObj;
    try {
      i = await client.get<InstanceObj>(InstanceRef, name, namespace);
    } catch (e) {
      throw failure(id, "status", e);
    }
    const v = done(i);
    if (v === true) return i;
    if (typeof v === "string") throw new CliError("Failed", `${id}: ${v}`);
    if (Date.now() >= deadline) throw new CliError("Timeout", `${id}: timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what} (now: ${describe(i)})`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
